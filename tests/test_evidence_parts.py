"""The parts of evidence capture: WARC records of a gzip'd response, Telegram pages, settings,
claims, the "gone" test, export filters and cells, the upgrade of an older database, the job."""

from __future__ import annotations

import asyncio
import csv
import gzip
import hashlib
import io
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from warcio.archiveiterator import ArchiveIterator

from monitor.config import ConfigError, parse_config
from monitor.dbfile import Database
from monitor.evidence.capture import Evidence, capture_url
from monitor.evidence.export import Selection, render_csv, stories
from monitor.options.evidence import EvidenceSettings
from monitor.evidence.recheck import still_there
from monitor.evidence.verify import verify
from monitor.items import Item, Match
from monitor.migrations import MIGRATIONS
from monitor.store import Store
from tests.conftest import fixture_bytes, rss_source
from tests.support.server import Reply

HTML = {"Content-Type": "text/html; charset=utf-8"}
DAY = datetime(2026, 11, 25, 6, 0, tzinfo=timezone.utc)


def matched(store: Store, source: str, url: str, title: str = "A story", topic: str = "deported-children",
            at: datetime = DAY, content: str = "") -> int:
    item = Item(url=url, title=title, content=content)
    [stored] = store.add_items(source, [item], at, {item.key(source): [Match(topic, ["deport"], "**deport**")]})
    return stored.id


def capture(store, folder, make_fetcher, ids, server, settings: EvidenceSettings | None = None, now=lambda: DAY):
    async def go():
        async with make_fetcher() as fetcher:
            keeper = Evidence(settings or EvidenceSettings(dir=str(folder)), folder, store, fetcher,
                              sources={"Site": rss_source("Site", server.url("/feed"), allow_private=True)}, now=now)
            return await keeper.capture(ids)
    return asyncio.run(go())


def test_a_gzip_response_is_stored_decoded_with_headers_that_say_so(tmp_path, server, store, make_fetcher):
    page = fixture_bytes("articles/en-children-returned.html")
    server.route("/a", Reply(body=gzip.compress(page), headers={**HTML, "Content-Encoding": "gzip", "X-Site": "1"}))
    server.route("/old", Reply(301, headers={"Location": "/a"}))
    item_id = matched(store, "Site", server.url("/old"))
    report = capture(store, tmp_path, make_fetcher, [item_id], server)
    assert report.captured == 1
    [warc] = tmp_path.glob("*.warc.gz")
    with open(warc, "rb") as handle:
        records = [(r.rec_type, r.rec_headers, r.http_headers, r.content_stream().read())
                   for r in ArchiveIterator(handle, check_digests=True)]
    assert [r[0] for r in records] == ["warcinfo", "response", "request"]
    _, warc_headers, http, body = records[1]
    assert body == page
    assert warc_headers.get_header("WARC-Target-URI") == server.url("/a")
    assert warc_headers.get_header("Monitor-Requested-URL") == server.url("/old")  # the item's link, redirected
    assert warc_headers.get_header("Monitor-Payload") == "decoded"
    assert warc_headers.get_header("Monitor-Original-Content-Encoding") == "gzip"
    assert warc_headers.get_header("Monitor-Original-Content-Length") == str(len(gzip.compress(page)))
    assert warc_headers.get_header("Monitor-Item-Id") == str(item_id)
    assert warc_headers.get_header("WARC-Payload-Digest").startswith("sha256:")
    assert http.get_header("Content-Encoding") is None and http.get_header("Content-Length") == str(len(page))
    assert http.get_header("X-Site") == "1" and http.get_statuscode() == "200"
    _, request_headers, request_http, _ = records[2]
    assert request_headers.get_header("WARC-Concurrent-To") == warc_headers.get_header("WARC-Record-ID")
    assert request_http.get_header("User-Agent") == "monitor-tests/0.1"
    [[row]] = store.captures([item_id]).values()
    assert row.sha256 == hashlib.sha256(page).hexdigest() and row.requested_url == server.url("/old")
    assert verify(store, tmp_path).ok


def test_telegram_posts_are_captured_by_their_web_preview():
    assert capture_url("https://t.me/somechannel/1234") == "https://t.me/s/somechannel/1234"
    assert capture_url("https://telegram.me/s/somechannel/1234/") == "https://t.me/s/somechannel/1234"
    assert capture_url("https://t.me/somechannel") == "https://t.me/somechannel"
    assert capture_url("https://example.org/somechannel/1234") == "https://example.org/somechannel/1234"


def test_two_captures_of_one_item_never_run_at_once(store):
    item_id = matched(store, "Site", "https://example.org/a")
    assert store.claim_captures([item_id], DAY) == [item_id]
    assert store.claim_captures([item_id], DAY + timedelta(seconds=5)) == []  # another process: not yet
    assert store.claim_captures([item_id], DAY + timedelta(minutes=11)) == [item_id]  # that one died


def _steps(store: Store, query) -> int:
    """SQLite virtual-machine steps a query takes: work done, whatever the machine's speed."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    store.db.conn.set_progress_handler(count, 1)
    try:
        query()
    finally:
        store.db.conn.set_progress_handler(None, 1)
    return steps[0]


def test_a_polls_due_retries_cost_the_same_with_more_matched_history(store):
    # Each poll that matched something asks for its source's due retries: that must not read
    # every match ever stored (it did: a join over all matches).
    def history(count: int, start: int) -> None:
        ids = [matched(store, "Site", f"https://example.org/old-{n}") for n in range(start, start + count)]
        store.claim_captures(ids, DAY)
        with store.transaction():
            store.db.conn.executemany("UPDATE evidence SET state = 'captured' WHERE item_id = ?", [(i,) for i in ids])

    due = lambda: store.pending_captures(DAY, source="Site", unclaimed=False)  # noqa: E731
    history(20, 0)
    few = _steps(store, due)
    history(2000, 20)
    many = _steps(store, due)
    assert due() == [] and many < few * 2, (few, many)


def test_a_blocked_address_is_a_failed_capture_not_retried(tmp_path, server, store, make_fetcher):
    item_id = matched(store, "Other", server.url("/a"))  # a source not configured: the guard applies
    report = capture(store, tmp_path, make_fetcher, [item_id], server)
    assert report.captured == 0 and "refused" in report.failed[0][2]
    state = store.evidence_state(item_id)
    assert state.state == "failed" and state.describe().startswith("failed: refused")
    assert store.pending_captures(None) == []


def test_settings_evidence_is_validated_with_its_line(tmp_path):
    base = "settings:\n  evidence:\n    {}\nsources:\n  - {{name: A, type: rss, url: 'http://example.org/'}}\n"
    config = parse_config(base.format("recheck: [2h, 3d]"), tmp_path / "sources.yaml")
    assert config.settings.evidence.recheck == [timedelta(hours=2), timedelta(days=3)]
    assert config.settings.evidence.folder(tmp_path) == tmp_path / "data" / "evidence"
    for wrong, said in (("recheck: [7d, 1d]", "ascending"), ("recheck: [soon]", "duration"),
                        ("timestamp_url: tsa.example", "RFC 3161"), ("directory: x", "directory")):
        with pytest.raises(ConfigError) as caught:
            parse_config(base.format(wrong), tmp_path / "sources.yaml")
        assert said in str(caught.value) and ":3:" in str(caught.value), str(caught.value)


def test_still_there_looks_for_the_article_text_on_the_page():
    text = " ".join(f"word{n}" for n in range(200))
    page = f"<html><body><nav>Menu</nav><article><p>{text}</p></article></body></html>".encode()
    assert still_there(text, page, "text/html")
    assert still_there(text, page.replace(b"word150", b"edited"), "text/html")  # an edit is not a removal
    assert not still_there(text, b"<html><body><h1>Page not found</h1></body></html>", "text/html")
    assert not still_there(text, f"<p>{text[:300]}</p>".encode(), "text/html")  # a teaser is left
    assert still_there("Short title", b"<h1>Short title</h1>", "text/html")


def test_export_selects_by_source_topic_and_time_and_neutralises_formulas(tmp_path, store):
    first = matched(store, "A", "https://a.example/1", title="=HYPERLINK(\"http://evil\")", at=DAY)
    matched(store, "B", "https://b.example/2", title="Second", topic="other", at=DAY + timedelta(days=2))
    every, _ = stories(store, Selection())
    assert [s["id"] for s in every] == [first, first + 1]
    assert [s["source"] for s in stories(store, Selection(source="B"))[0]] == ["B"]
    assert [s["source"] for s in stories(store, Selection(topic="deported-children"))[0]] == ["A"]
    assert [s["source"] for s in stories(store, Selection(since=DAY + timedelta(days=1)))[0]] == ["B"]
    assert [s["source"] for s in stories(store, Selection(until=DAY + timedelta(days=1)))[0]] == ["A"]
    assert every[0]["evidence"] == [] and every[0]["evidence_status"] == "pending (not captured yet)"
    rows = list(csv.DictReader(io.StringIO(render_csv(every))))
    assert rows[0]["title"].startswith("'=HYPERLINK") and rows[1]["title"] == "Second"


def test_items_matched_before_the_upgrade_are_not_all_fetched_at_once(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    db = Database(conn)
    for migration in MIGRATIONS[:6]:
        migration(db)
    db.execute("PRAGMA user_version = 6")
    db.execute("""INSERT INTO items (id, key, url, source, title, first_seen, content_hash, url_key, story_id)
                  VALUES (1, 'k', 'https://a.example/1', 'A', 'Old', '2026-01-01T00:00:00+00:00', 'h', 'k', 1)""")
    db.execute("INSERT INTO matches VALUES (1, 'deported-children', '[]', 's', '2026-01-01T00:00:00+00:00')")
    conn.close()
    store = Store(path)
    try:
        assert store.schema_version == len(MIGRATIONS)
        assert store.evidence_state(1).state == "not_captured"
        assert store.pending_captures(None) == []
        [story], _ = stories(store, Selection())
        assert story["evidence_status"] == "not captured (matched before evidence capture began)"
    finally:
        store.close()


def test_the_service_schedules_the_evidence_job(tmp_path, store):
    from monitor.config import load_config
    from monitor.fetch import Fetcher
    from monitor.pipeline import build_pipeline
    from monitor.service import Service

    path = tmp_path / "sources.yaml"
    path.write_text(f"settings:\n  database: {tmp_path / 'monitor.db'}\nsources:\n"
                    "  - {name: A, type: rss, url: 'http://127.0.0.1:9/feed'}\n", encoding="utf-8")
    config = load_config(path)

    async def jobs(enabled: bool):
        settings = config.settings.model_copy(update={"evidence": EvidenceSettings(enabled=enabled)})
        configured = type(config)(**{**config.__dict__, "settings": settings})
        async with Fetcher() as fetcher:
            pipeline = build_pipeline(configured, fetcher=fetcher, store=store)
            service = Service(configured, pipeline)
            service.schedule()
            return {job.id for job in service.scheduler.get_jobs()}, pipeline.capture

    ids, keeper = asyncio.run(jobs(True))
    assert "evidence" in ids and isinstance(keeper, Evidence) and keeper.folder == tmp_path / "data" / "evidence"
    ids, keeper = asyncio.run(jobs(False))
    assert "evidence" not in ids and keeper is None


def test_a_recheck_that_cannot_reach_the_page_changes_nothing_and_is_tried_again(tmp_path, server, store,
                                                                                make_fetcher):
    server.route("/a", Reply(body=fixture_bytes("articles/en-children-returned.html"), headers=HTML))
    item_id = matched(store, "Site", server.url("/a"))
    capture(store, tmp_path, make_fetcher, [item_id], server)
    assert store.evidence_state(item_id).next_check_at == DAY + timedelta(days=1)
    server.route("/a", Reply(503, b"down"))
    later = DAY + timedelta(days=1, minutes=1)

    async def recheck(at: datetime):
        async with make_fetcher() as fetcher:
            keeper = Evidence(EvidenceSettings(dir=str(tmp_path)), tmp_path, store, fetcher,
                              sources={"Site": rss_source("Site", server.url("/feed"), allow_private=True)},
                              now=lambda: at)
            return await keeper.recheck()

    report = asyncio.run(recheck(later))
    assert report.checked == {"unreachable": 1}
    state = store.evidence_state(item_id)
    assert "503" in state.check_error and state.gone_at is None
    assert state.checks_done == 0 and state.next_check_at == later + timedelta(hours=1)  # tried again in an hour
    [[only]] = store.captures([item_id]).values()
    assert only.status == "captured"
    assert asyncio.run(recheck(later + timedelta(minutes=30))).checked == {}
    server.route("/a", Reply(body=fixture_bytes("articles/en-children-returned.html"), headers=HTML))
    assert asyncio.run(recheck(later + timedelta(hours=1))).checked == {"live": 1}
    state = store.evidence_state(item_id)
    assert state.checks_done == 1 and state.next_check_at == DAY + timedelta(days=7) and state.check_error is None


def test_a_response_without_a_length_is_stored_with_the_length_of_its_body(tmp_path, server, store, make_fetcher):
    page = fixture_bytes("articles/uk-children-returned.html")
    server.route("/a", lambda request: Reply(body=iter([page[:1000], page[1000:]]), headers=HTML))
    item_id = matched(store, "Site", server.url("/a"))
    assert capture(store, tmp_path, make_fetcher, [item_id], server).captured == 1
    [warc] = tmp_path.glob("*.warc.gz")
    with open(warc, "rb") as handle:
        [response] = [(r.rec_headers, r.http_headers, r.content_stream().read(), r)
                      for r in ArchiveIterator(handle, check_digests=True) if r.rec_type == "response"]
    warc_headers, http, body, record = response
    assert body == page and http.get_header("Content-Length") == str(len(page))
    assert warc_headers.get_header("Monitor-Original-Content-Length") is None
    assert warc_headers.get_header("Monitor-Payload") is None  # nothing was decoded
    assert record.digest_checker.passed is True


def test_a_run_of_refused_captures_is_recorded_in_one_commit_and_logged_in_a_few_lines(
        tmp_path, server, store, make_fetcher, caplog):
    from monitor.evidence.capture import LOGGED_FAILURES

    # A source whose every link the guard refuses: each failure is kept, but the poll neither
    # commits once per link nor floods its log with one warning per link.
    ids = [matched(store, "Other", server.url(f"/a{n}")) for n in range(40)]
    commits = []
    store.db.conn.set_trace_callback(lambda sql: commits.append(sql) if sql.strip().upper() == "COMMIT" else None)
    with caplog.at_level("WARNING", logger="monitor.evidence.capture"):
        report = capture(store, tmp_path, make_fetcher, ids, server)
    store.db.conn.set_trace_callback(None)
    assert len(report.failed) == 40 and report.captured == 0
    assert all(store.evidence_state(i).state == "failed" for i in ids)
    assert len(commits) <= 2, commits  # the claims, then the failures
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == LOGGED_FAILURES + 1 and "35 more capture(s) failed" in warnings[-1]
