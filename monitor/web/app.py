"""The web interface as a Starlette application: server-rendered pages (no JavaScript), a JSON
API and an Atom feed over the configured database.

Pages: `/` stories (filters, search, pages), `/stories/ID` one story with its copies, evidence
and triage, `/sources` source health and adding a source, `/digests` the next digest and past
deliveries. API: `/api/stories`, `/api/stories/ID`, `/api/sources`; feed: `/feed.atom`.

The application has its own connection to the database (the service's polls keep theirs): its
queries run in worker threads, one at a time, so a search never holds up the event loop it may
share with the service. sources.yaml is read again whenever it changes, so a source added here
(or by hand) shows at once; the service picks it up on its own (monitor/service.py).
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from monitor import __version__
from monitor.clock import Clock, utc_iso, utc_now
from monitor.config import Config, ConfigError, cron_trigger, load_config
from monitor.digest import LANGUAGE_NAMES
from monitor.items import SourceHealth, Story
from monitor.notify.markup import http_url, one_line
from monitor.secrets import install as install_redactor
from monitor.secrets import redact
from monitor.store import Store
from monitor.web import queries
from monitor.web.queries import BadQuery, Filters
from monitor.web.security import (CSRF_COOKIE, CSRF_FIELD, FAILED_LOGIN_DELAY, HEADERS, SESSION_COOKIE,
                                  SESSION_SECONDS, Keys, host_of, is_loopback)
from monitor.web.triage import LABELS, Triage

log = logging.getLogger(__name__)

T = TypeVar("T")
_HIT = re.compile(r"\*\*(.+?)\*\*")
API_LIMIT = 200
FEED_ENTRIES = 50
DISCOVERY_SECONDS = 60
FACETS_SECONDS = 30
READ_CACHE_MB = 64      # the web connection's page cache, at most
READ_MMAP_MB = 1024     # how much of the database file it maps
_PUBLIC = ("/login", "/static/", "/healthz")
_MACHINE = ("/api/", "/feed.atom")
ATOM = "http://www.w3.org/2005/Atom"


# --- the state every request shares ------------------------------------------------------------

class Web:
    """The configuration (read again when sources.yaml changes), the database, the keys."""

    def __init__(self, config: Config, *, password: str | None, store: Store | None = None,
                 open_store: Callable[[str], Store] = Store, now: Clock = utc_now, page_size: int | None = None):
        self._config = config
        self._config_mtime = _mtime(config.path)
        self.config_error: str | None = None
        # Without a store, one of its own, opened as the caller says (PostgreSQL: the worker
        # passes its opener; the web does not know the backends).
        self.store = store if store is not None else open_store(config.database)
        self._owns_store = store is None
        self.store.tune_for_reads(READ_CACHE_MB, READ_MMAP_MB)  # this connection reads far more than it writes
        self.keys = Keys(password)
        self.now = now
        self.page_size = page_size or config.settings.web.page_size
        self.triage = Triage(self.store, now)
        self._lock = threading.Lock()
        self._facets: tuple[float, dict] | None = None
        self.env = _environment(self)

    @property
    def config(self) -> Config:
        """sources.yaml as it is now; when it no longer validates, the last good one (with a note)."""
        mtime = _mtime(self._config.path)
        if mtime != self._config_mtime:
            self._config_mtime = mtime
            try:
                fresh = load_config(self._config.path)
            except ConfigError as exc:
                self.config_error = redact(str(exc))
                log.warning("web: %s changed and does not validate; still showing the last good one: %s",
                            self._config.path, self.config_error)
            else:
                self.config_error = None
                install_redactor(fresh.redactor)  # a ${VAR} a new source brought is hidden too
                self._config = fresh
        return self._config

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.config.settings.timezone)

    async def db(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a store query in a worker thread (one at a time: the connection is not shared)."""
        def locked() -> T:
            with self._lock:
                return function(*args, **kwargs)
        return await run_in_threadpool(locked)

    def facets(self) -> dict:
        """The filters' choices (cached for FACETS_SECONDS: they cost a pass over the matches)."""
        now = time.monotonic()
        if self._facets is None or now - self._facets[0] > FACETS_SECONDS:
            self._facets = (now, queries.facets(self.store))
        return self._facets[1]

    def forget_facets(self) -> None:
        self._facets = None

    def close(self) -> None:
        if self._owns_store:
            self.store.close()


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


# --- templates ---------------------------------------------------------------------------------

def _environment(web: Web) -> Environment:
    env = Environment(loader=PackageLoader("monitor.web", "templates"), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)

    def local(moment: datetime | None, with_time: bool = True) -> str:
        if moment is None:
            return ""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        moment = moment.astimezone(web.tz)
        return moment.strftime("%d %b %Y, %H:%M %Z" if with_time else "%d %b %Y")

    env.filters["local"] = local
    env.filters["href"] = http_url   # "" for anything but http(s): the template renders no link
    env.filters["line"] = one_line
    env.filters["hits"] = hits_html
    env.filters["paragraphs"] = paragraphs
    env.globals["languages"] = LANGUAGE_NAMES
    env.globals["label_names"] = LABELS
    env.globals["version"] = __version__
    return env


def hits_html(text: str) -> Markup:
    """A snippet, escaped, its **hits** as <mark>."""
    return Markup(_HIT.sub(lambda m: f"<mark>{m.group(1)}</mark>", str(escape(one_line(text or "")))))


def paragraphs(text: str) -> Markup:
    """Plain text as escaped paragraphs (a line break starts one)."""
    blocks = [" ".join(block.split()) for block in re.split(r"\n\s*\n|\n", text or "")]
    return Markup("".join(f"<p>{escape(block)}</p>" for block in blocks if block))


# --- responses ---------------------------------------------------------------------------------

def _csrf_cookie(request: Request) -> tuple[str, bool]:
    """The CSRF cookie the request carried, or a new one (True: it must be set)."""
    cookie = request.cookies.get(CSRF_COOKIE)
    if cookie and re.fullmatch(r"[A-Za-z0-9_-]{16,64}", cookie):
        return cookie, False
    return Keys.new_csrf_cookie(), True


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def page(web: Web, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    cookie, new = _csrf_cookie(request)
    html = web.env.get_template(template).render(
        request=request, csrf_field=CSRF_FIELD, csrf_token=web.keys.csrf_token(cookie),
        login=web.keys.login_required, logged_in=bool(request.scope.get("state", {}).get("logged_in")),
        config_error=web.config_error, **context)
    response = HTMLResponse(html, status_code=status)
    if new:
        response.set_cookie(CSRF_COOKIE, cookie, httponly=True, samesite="strict", secure=_secure(request),
                            path="/")
    return response


async def checked_form(web: Web, request: Request) -> dict[str, str] | Response:
    """The POSTed form when its CSRF token matches the request's cookie, else a 403 response."""
    form = await request.form()
    fields = {key: str(value) for key, value in form.items() if isinstance(value, str)}
    if not web.keys.csrf_valid(request.cookies.get(CSRF_COOKIE), fields.get(CSRF_FIELD)):
        return PlainTextResponse("403 Forbidden: this form's CSRF token is missing or does not match its cookie; "
                                 "reload the page and submit it again", status_code=403)
    return fields


def bad_request(web: Web, request: Request, message: str, machine: bool = False) -> Response:
    if machine:
        return JSONResponse({"error": message}, status_code=400)
    return page(web, request, "error.html", status=400, title="Bad request", message=message)


def not_found(web: Web, request: Request, what: str, machine: bool = False) -> Response:
    if machine:
        return JSONResponse({"error": f"{what} not found"}, status_code=404)
    return page(web, request, "error.html", status=404, title="Not found", message=f"{what} not found")


def local_path(value: str | None, default: str = "/") -> str:
    """A redirect target from a form: a path of this site only."""
    value = (value or "").strip()
    if not value.startswith("/") or value.startswith("//") or "\\" in value or any(ord(c) < 32 for c in value):
        return default
    return value


# --- stories -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Listed:
    """A story as the list and the API show it."""

    id: int
    story: Story
    label: dict | None
    evidence: str | None


def _evidence(store: Store, ids: list[int]) -> dict[int, str]:
    if not ids or not hasattr(store, "evidence_states"):
        return {}
    return {item_id: _evidence_word(state) for item_id, state in store.evidence_states(ids).items()}


def _evidence_word(state) -> str:
    if state.state == "captured" and getattr(state, "gone_at", None) is not None:
        return "gone"
    return {"not_captured": "not captured"}.get(state.state, state.state)


def _listed(web: Web, listing: queries.Listing) -> list[Listed]:
    leads = [listing.lead_ids[story_id] for story_id in listing.story_ids]
    by_lead = {story.item_id: story for story in web.store.stories(leads)}
    labels = web.triage.labels(listing.story_ids)
    evidence = _evidence(web.store, leads)
    return [Listed(story_id, by_lead[listing.lead_ids[story_id]], labels.get(story_id),
                   evidence.get(listing.lead_ids[story_id]))
            for story_id in listing.story_ids if listing.lead_ids[story_id] in by_lead]


def story_json(listed: Listed) -> dict:
    story = listed.story
    return {
        "id": listed.id, "title": one_line(story.title), "url": story.url, "source": story.source,
        "published": story.published.isoformat(timespec="seconds") if story.published else None,
        "lang": story.lang, "topics": story.topics, "snippet": story.snippet, "also": story.also,
        "label": listed.label["label"] if listed.label else None,
        "evidence": listed.evidence,
    }


def _search(web: Web, filters: Filters, page_number: int) -> tuple[list[Listed], queries.Listing, dict]:
    listing = queries.list_stories(web.store, filters, web.triage.labelled(), limit=web.page_size,
                                   offset=(page_number - 1) * web.page_size)
    return _listed(web, listing), listing, web.facets()


async def stories_page(request: Request) -> Response:
    web: Web = request.app.state.web
    try:
        filters = Filters.parse(request.query_params)
        page_number = max(1, int(request.query_params.get("page") or 1))
    except (BadQuery, ValueError) as exc:
        return bad_request(web, request, str(exc) if isinstance(exc, BadQuery) else "page must be a number")
    listed, listing, facets = await web.db(_search, web, filters, page_number)
    pages = max(1, -(-(listing.total or 0) // web.page_size))
    config = web.config
    sources = sorted(set(facets["sources"]) | {s.name for s in config.sources})
    return page(web, request, "stories.html", title="Stories", nav="stories", stories=listed, filters=filters,
                total=listing.total, page=page_number, pages=pages, facets=facets, sources=sources,
                label_filters=queries.LABEL_FILTERS, query=lambda **changes: urlencode(filters.params(**changes)),
                here=request.url.path + (f"?{request.url.query}" if request.url.query else ""))


def _api_stories(web: Web, filters: Filters, limit: int, cursor: str | None) -> dict:
    listing = queries.list_stories(web.store, filters, web.triage.labelled(), limit=limit, cursor=cursor, count=False)
    return {"stories": [story_json(listed) for listed in _listed(web, listing)], "next": listing.next_cursor}


async def api_stories(request: Request) -> Response:
    web: Web = request.app.state.web
    params = request.query_params
    try:
        filters = Filters.parse(params)  # until too, as the page takes it
        limit = int(params.get("limit") or 50)
        if not 1 <= limit <= API_LIMIT:
            raise BadQuery(f"limit must be from 1 to {API_LIMIT}")
        cursor = params.get("cursor") or None
        if cursor is not None:
            queries.decode_cursor(cursor)
    except ValueError as exc:
        return bad_request(web, request, str(exc) if isinstance(exc, BadQuery) else "limit must be a number",
                           machine=True)
    return JSONResponse(await web.db(_api_stories, web, filters, limit, cursor))


def _story(web: Web, story_id: int) -> dict | None:
    detail = queries.story_detail(web.store, story_id)
    if detail is None:
        return None
    ids = [copy.id for copy in detail.copies]
    evidence, captures = {}, {}
    if hasattr(web.store, "evidence_states"):
        evidence = web.store.evidence_states(ids)
        captures = web.store.captures(ids)
    [summary] = web.store.stories([detail.lead.id]) or [None]
    return {"detail": detail, "story": summary, "label": web.triage.labels([story_id]).get(story_id),
            "evidence": evidence, "captures": captures}


def _resolve(web: Web, item_id: int) -> tuple[int | None, dict | None]:
    story_id = queries.story_of(web.store, item_id)
    if story_id is None or story_id != item_id:
        return story_id, None
    return story_id, _story(web, story_id)


async def story_page(request: Request) -> Response:
    web: Web = request.app.state.web
    item_id = request.path_params["id"]
    story_id, found = await web.db(_resolve, web, item_id)
    if story_id is None or (found is None and story_id == item_id):
        return not_found(web, request, f"story {item_id}")
    if found is None:  # a copy's id: its story's page
        return RedirectResponse(f"/stories/{story_id}", status_code=301)
    return page(web, request, "story.html", title=one_line(found["detail"].lead.title), nav="stories",
                saved=request.query_params.get("saved"), evidence_available=hasattr(web.store, "evidence_states"),
                triage_available=web.triage.available, **found)


def _detail_json(found: dict, story_id: int) -> dict:
    detail = found["detail"]
    story = found["story"]
    label = found["label"]
    result = story_json(Listed(story_id, story, label, None)) if story else {"id": story_id}
    result.update({
        "label_note": label.get("note") if label else None,
        "text": detail.text,
        "matches": [{"item_id": copy.id, "topic": m["topic"], "terms": m["terms"], "snippet": m["snippet"]}
                    for copy in detail.copies for m in copy.matches],
        "copies": [{"id": copy.id, "url": copy.url, "source": copy.source, "title": one_line(copy.title),
                    "published": utc_iso(copy.published), "first_seen": utc_iso(copy.first_seen),
                    "lang": copy.lang, "matched": bool(copy.matches),
                    "evidence": _evidence_word(found["evidence"][copy.id]) if copy.id in found["evidence"] else None,
                    "captures": [{"id": c.id, "captured_at": utc_iso(c.captured_at), "url": c.url,
                                  "http_status": c.http_status, "sha256": c.sha256, "status": c.status}
                                 for c in found["captures"].get(copy.id, [])]}
                   for copy in detail.copies],
    })
    return result


async def api_story(request: Request) -> Response:
    web: Web = request.app.state.web
    item_id = request.path_params["id"]
    story_id, found = await web.db(_resolve, web, item_id)
    if story_id is None:
        return not_found(web, request, f"story {item_id}", machine=True)
    if found is None:
        return RedirectResponse(f"/api/stories/{story_id}", status_code=301)
    return JSONResponse(_detail_json(found, story_id))


async def label_story(request: Request) -> Response:
    web: Web = request.app.state.web
    fields = await checked_form(web, request)
    if isinstance(fields, Response):
        return fields
    story_id = request.path_params["id"]
    value = fields.get("label", "")
    note = fields.get("note", "").strip()[:2000]
    if value not in LABELS and value != "clear":
        return bad_request(web, request, f"label must be one of {', '.join(LABELS)} or clear, got {value!r}")
    if not web.triage.available:
        return bad_request(web, request, "labels cannot be stored yet: this monitor has no label store")
    if await web.db(queries.story_of, web.store, story_id) != story_id:
        return not_found(web, request, f"story {story_id}")
    if value == "clear":
        await web.db(web.triage.clear, story_id)
    else:
        await web.db(web.triage.set, story_id, value, note)
    target = local_path(fields.get("next"), f"/stories/{story_id}?saved=1")
    return RedirectResponse(target, status_code=303)


def _capture(web: Web, capture_id: int):
    return web.store.capture(capture_id)


async def capture_download(request: Request) -> Response:
    """A capture's WARC records (response and request), as stored: `application/warc`, gzip'd."""
    web: Web = request.app.state.web
    if not hasattr(web.store, "captures"):
        return not_found(web, request, "capture")
    capture = await web.db(_capture, web, request.path_params["id"])
    if capture is None:
        return not_found(web, request, f"capture {request.path_params['id']}")
    folder = web.config.settings.evidence.folder(web.config.path.parent)
    name = Path(capture.warc_file).name  # a name in the evidence folder, never a path out of it
    try:
        with open(folder / name, "rb") as handle:
            handle.seek(capture.warc_offset)
            data = handle.read(capture.warc_length)
    except OSError as exc:
        return page(web, request, "error.html", status=410, title="Capture file missing",
                    message=f"the WARC file of capture {capture.id} cannot be read: {redact(str(exc))}")
    filename = f"monitor-capture-{capture.id}.warc.gz"
    return Response(data, media_type="application/warc", headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "X-Capture-SHA256": capture.record_sha256})


# --- sources -----------------------------------------------------------------------------------

def _sources(web: Web) -> list[dict]:
    config = web.config
    health = {h.source: h for h in web.store.source_health()}
    matched = queries.matched_per_source(web.store)
    stored = queries.items_per_source(web.store)
    rows = []
    for source in config.sources:
        h = health.get(source.name) or SourceHealth(source.name, "new", None, None)
        rows.append({
            "name": source.name, "type": source.type, "url": source.url, "tags": list(source.tags),
            "interval": source.interval.total_seconds(), "enabled": source.enabled,
            "status": h.status if source.enabled else "disabled", "last_ok": h.last_ok,
            "failing_since": h.failing_since, "error": redact(h.error), "note": redact(h.note),
            "stored": stored.get(source.name, 0), "matched": matched.get(source.name, 0)})
    return rows


def _source_json(row: dict) -> dict:
    return {"name": row["name"], "type": row["type"], "url": redact(row["url"]), "tags": row["tags"],
            "interval_seconds": row["interval"], "enabled": row["enabled"], "status": row["status"],
            "last_ok": utc_iso(row["last_ok"]), "failing_since": utc_iso(row["failing_since"]),
            "error": row["error"], "items": row["stored"], "matches": row["matched"]}


async def sources_page(request: Request, **context: Any) -> Response:
    web: Web = request.app.state.web
    rows = await web.db(_sources, web)
    return page(web, request, "sources.html", title="Sources", nav="sources", sources=rows,
                added=request.query_params.get("added"), interval=_interval, **context)


def _interval(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


async def api_sources(request: Request) -> Response:
    web: Web = request.app.state.web
    rows = await web.db(_sources, web)
    return JSONResponse({"sources": [_source_json(row) for row in rows]})


async def add_source(request: Request) -> Response:
    """Discover how to watch a URL (as `monitor sources add` does); preview the entry, or append it
    to sources.yaml (comments kept) and show the sources page."""
    from monitor.discover import DiscoveryError, append_source, configured_as, discover, render, unique_name
    from monitor.fetch import FetchError
    from monitor.sources import SourceError
    from monitor.text import HTTP_URL

    web: Web = request.app.state.web
    fields = await checked_form(web, request)
    if isinstance(fields, Response):
        return fields
    url, name, action = fields.get("url", "").strip(), " ".join(fields.get("name", "").split()), fields.get("action")
    form = {"url": url, "name": name}

    async def refused(message: str, status: int = 400) -> Response:
        response = await sources_page(request, form=form, add_error=message)
        response.status_code = status
        return response

    if not HTTP_URL.match(url):
        return await refused("the URL must start with http:// or https:// and name a host")
    config = web.config
    if (taken := configured_as(url, config)) is not None:
        return await refused(f"{url} is already configured as source {taken.name!r}; nothing added", 409)
    try:
        async with config.fetcher() as fetcher:
            proposal = await asyncio.wait_for(discover(url, fetcher), DISCOVERY_SECONDS)
    except (FetchError, SourceError, DiscoveryError) as exc:
        return await refused(f"cannot propose a source for {url}: {redact(str(exc))}", 422)
    except asyncio.TimeoutError:
        return await refused(f"cannot propose a source for {url}: no answer within {DISCOVERY_SECONDS} s", 422)
    if (taken := configured_as(proposal.url, config)) is not None:
        return await refused(f"{url} leads to {proposal.url}, which is already configured as source "
                             f"{taken.name!r}; nothing added", 409)
    proposal.name = unique_name(name or proposal.name, {s.name for s in config.sources})
    entry = render(proposal)
    if action != "add":
        return await sources_page(request, form={"url": url, "name": proposal.name}, proposal=proposal,
                                  proposal_yaml=entry)
    try:
        await run_in_threadpool(append_source, config.path, proposal)
    except ConfigError as exc:
        return await refused(f"not written, the result would not validate: {redact(str(exc))}", 422)
    except DiscoveryError as exc:
        return await refused(redact(str(exc)), 422)
    log.info("web: source %r (%s) appended to %s", proposal.name, proposal.type, config.path)
    web.forget_facets()
    return RedirectResponse("/sources?" + urlencode({"added": proposal.name}), status_code=303)


# --- digests -----------------------------------------------------------------------------------

def _digests(web: Web) -> dict:
    config = web.config
    now = web.now()
    digests = []
    for entry in config.digests:
        channels = list(entry.channels) if entry.channels is not None else list(config.channels)
        sources = None
        if entry.tags is not None:
            wanted = set(entry.tags)
            sources = [s.name for s in config.sources if wanted & set(s.tags)]
        previews = []
        for channel in channels:
            ids = web.store.unclaimed_item_ids(entry.name, channel, sources=sources, topics=entry.topics)
            shown = sorted(web.store.stories(ids[-20:]), key=lambda s: s.published or now, reverse=True)
            previews.append({"channel": channel, "count": len(ids), "stories": shown})
        try:
            next_run = cron_trigger(entry.schedule, config.settings.timezone).get_next_fire_time(None, now)
        except ValueError:
            next_run = None
        digests.append({"name": entry.name, "schedule": entry.schedule, "next_run": next_run, "topics": entry.topics,
                        "tags": entry.tags, "previews": previews,
                        "last": web.store.last_digest_time(entry.name)})
    batches = queries.recent_batches(web.store)
    for batch in batches:
        batch["last_error"] = redact(batch["last_error"])
        for key in ("scheduled_for", "created_at", "delivered_at", "next_attempt_at"):
            batch[key] = datetime.fromisoformat(batch[key]) if batch[key] else None
    return {"digests": digests, "batches": batches}


async def digests_page(request: Request) -> Response:
    web: Web = request.app.state.web
    found = await web.db(_digests, web)
    return page(web, request, "digests.html", title="Digests", nav="digests", **found)


# --- feed --------------------------------------------------------------------------------------

def _feed(web: Web, topic: str) -> list[Listed]:
    listing = queries.list_stories(web.store, Filters(topic=topic), web.triage.labelled(), limit=FEED_ENTRIES,
                                   count=False)
    return _listed(web, listing)


async def atom_feed(request: Request) -> Response:
    web: Web = request.app.state.web
    topic = " ".join((request.query_params.get("topic") or "").split())
    listed = await web.db(_feed, web, topic)
    base = str(request.base_url).rstrip("/")
    ET.register_namespace("", ATOM)

    def sub(parent, tag, text=None, **attrs):
        element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", {k: str(v) for k, v in attrs.items()})
        if text is not None:
            element.text = text
        return element

    feed = ET.Element(f"{{{ATOM}}}feed")
    sub(feed, "title", "monitor: matched stories" + (f" ({topic})" if topic else ""))
    sub(feed, "id", base + "/feed.atom" + (f"?{urlencode({'topic': topic})}" if topic else ""))
    sub(feed, "link", rel="self", href=str(request.url))
    sub(feed, "link", rel="alternate", type="text/html", href=base + "/")
    newest = max((entry.story.published for entry in listed if entry.story.published), default=web.now())
    sub(feed, "updated", _atom_time(newest))
    sub(feed, "generator", "monitor", version=__version__)
    for entry in listed:
        story = entry.story
        item = sub(feed, "entry")
        sub(item, "id", f"{base}/stories/{entry.id}")
        sub(item, "title", one_line(story.title), type="text")
        link = http_url(story.url)
        if link:
            sub(item, "link", rel="alternate", href=link)
        sub(item, "link", rel="related", type="text/html", href=f"{base}/stories/{entry.id}")
        moment = _atom_time(story.published or web.now())
        sub(item, "published", moment)
        sub(item, "updated", moment)
        sub(sub(item, "author"), "name", story.source)
        for name in story.topics:
            sub(item, "category", term=name)
        sub(item, "summary", _HIT.sub(r"\1", one_line(story.snippet)), type="text")
    body = b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="utf-8", xml_declaration=False)
    return Response(body, media_type="application/atom+xml; charset=utf-8")


def _atom_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


# --- login -------------------------------------------------------------------------------------

async def login_page(request: Request) -> Response:
    web: Web = request.app.state.web
    if not web.keys.login_required:
        return RedirectResponse("/", status_code=303)
    return page(web, request, "login.html", title="Log in", next=local_path(request.query_params.get("next")))


async def login(request: Request) -> Response:
    web: Web = request.app.state.web
    fields = await checked_form(web, request)
    if isinstance(fields, Response):
        return fields
    target = local_path(fields.get("next"))
    if not web.keys.login_required:
        return RedirectResponse(target, status_code=303)
    if not web.keys.password_matches(fields.get("password", "")):
        await asyncio.sleep(FAILED_LOGIN_DELAY)  # guessing costs time
        log.warning("web: a wrong password from %s", request.client.host if request.client else "?")
        return page(web, request, "login.html", status=401, title="Log in", next=target, failed=True)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, web.keys.new_session(), max_age=SESSION_SECONDS, httponly=True,
                        samesite="lax", secure=_secure(request), path="/")
    return response


async def logout(request: Request) -> Response:
    web: Web = request.app.state.web
    fields = await checked_form(web, request)
    if isinstance(fields, Response):
        return fields
    response = RedirectResponse("/login" if web.keys.login_required else "/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


# --- the guard in front of every route -----------------------------------------------------------

class Guard:
    """Adds the security headers to every response; refuses a foreign Host header when no password
    protects the interface (DNS rebinding); with a password, sends whoever has no session to the
    login form (the API and the feed also take HTTP Basic with the password, for GETs)."""

    def __init__(self, app, keys: Keys):
        self.app = app
        self.keys = keys

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        static = path.startswith("/static/")

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", [])) + HEADERS
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        headers = Headers(scope=scope)
        refusal = self._refusal(scope, path, headers)
        if refusal is not None:
            await refusal(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)

    def _refusal(self, scope, path: str, headers: Headers) -> Response | None:
        if not self.keys.login_required:
            host = host_of(headers.get("host", ""))
            if not is_loopback(host):
                return PlainTextResponse(f"400 Bad Request: this interface answers only to a loopback host name, "
                                         f"not {host!r} (set a password to serve it under other names)",
                                         status_code=400)
            return None
        if path.startswith(_PUBLIC) and path != "/logout":
            return None
        cookie = _cookie(headers, SESSION_COOKIE)
        if self.keys.session_valid(cookie):
            scope.setdefault("state", {})["logged_in"] = True
            return None
        machine = path.startswith(_MACHINE)
        if machine and scope["method"] in ("GET", "HEAD") and self.keys.basic_auth_valid(headers.get("authorization")):
            return None
        if machine:
            return JSONResponse({"error": "log in first: a session cookie from /login, or HTTP Basic with the "
                                          "password"}, status_code=401,
                                headers={"WWW-Authenticate": 'Basic realm="monitor", charset="UTF-8"'})
        if scope["method"] not in ("GET", "HEAD"):
            return PlainTextResponse("403 Forbidden: log in first", status_code=403)
        query = scope.get("query_string", b"").decode("latin-1")
        target = path + (f"?{query}" if query else "")
        return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)


def _cookie(headers: Headers, name: str) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


# --- the application ---------------------------------------------------------------------------

def create_app(config: Config, *, password: str | None, store: Store | None = None,
               open_store: Callable[[str], Store] = Store, now: Clock = utc_now,
               page_size: int | None = None) -> Starlette:
    """The ASGI application for `config`'s database (`store`, or one `open_store` opens).
    `password`: None serves loopback hosts without a login (the caller checked the address); else
    every page asks for it once per session."""
    web = Web(config, password=password, store=store, open_store=open_store, now=now, page_size=page_size)
    routes = [
        Route("/", stories_page),
        Route("/stories/{id:int}", story_page),
        Route("/stories/{id:int}/label", label_story, methods=["POST"]),
        Route("/captures/{id:int}", capture_download),
        Route("/sources", sources_page),
        Route("/sources", add_source, methods=["POST"]),
        Route("/digests", digests_page),
        Route("/api/stories", api_stories),
        Route("/api/stories/{id:int}", api_story),
        Route("/api/sources", api_sources),
        Route("/feed.atom", atom_feed),
        Route("/login", login_page),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/healthz", healthz),
        Mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={404: _not_found, 405: _not_allowed})
    app.state.web = web
    app.add_middleware(Guard, keys=web.keys)
    return app


async def _not_found(request: Request, exc) -> Response:
    if request.url.path.startswith(_MACHINE):
        return JSONResponse({"error": "not found"}, status_code=404)
    return PlainTextResponse("404 Not Found", status_code=404)


async def _not_allowed(request: Request, exc) -> Response:
    return PlainTextResponse("405 Method Not Allowed", status_code=405)
