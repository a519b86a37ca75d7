"""Evidence: every matched article kept as a verifiable capture, rechecked, exported for case files.

warc.py      WARC/1.1 records of captured HTTP exchanges (warcio), in daily gzip'd files
queries.py   the database side, a mixin of Store: captures, evidence states, custody log, seals
capture.py   the capture step of a poll, retries, rechecks, seals and timestamps (Evidence)
recheck.py   what a recheck found: live, changed or gone
timestamp.py RFC 3161 trusted timestamps of each finished day's WARC file
export.py    JSON, CSV, Atom and WACZ (py-wacz) exports of stories with their evidence
verify.py    every capture re-hashed against the database, every WARC file read whole
options.py   settings.evidence

Nothing is imported here: monitor/config.py imports options.py alone.
"""
