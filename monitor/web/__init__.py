"""The web interface (`monitor web`, or `settings.web.listen` in `monitor run`): browse, search and
triage stories, see source health and add a source, look at digests; a JSON API and an Atom feed.

options.py   settings.web (monitor/config.py imports it alone)
app.py       the Starlette application: pages, API, feed
queries.py   what the pages read from the store: stories with filters, FTS5 search, pages
triage.py    labels (relevant / not relevant) through the label store of `monitor label`
security.py  loopback or password, sessions, CSRF tokens, security headers
server.py    uvicorn: standalone, or inside the service's event loop
templates/   Jinja2 pages; static/ the stylesheet

Nothing is imported here: config.py must be able to read options.py without Starlette.
"""
