"""Evidence, as a user runs it: a local site of two on-topic articles and one off-topic →
`monitor poll` captures the two → `monitor export json|csv|atom|wacz` → `monitor evidence
recheck` finds a removed article gone → `monitor evidence verify` finds overwritten bytes.
Each test runs on a SQLite file and on a PostgreSQL database (tests/support/backends.py): the
rows go to the database, the WARC files to settings.evidence.dir either way.

The WARC files are checked with warcio's own `warcio check`, the WACZ with py-wacz's `wacz validate`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from warcio.archiveiterator import ArchiveIterator

from monitor.cli import cli
from tests.conftest import fixture_bytes
from tests.support.backends import Backend, backend  # noqa: F401  (fixture)
from tests.support.postgres import postgres_server  # noqa: F401  (fixture)
from tests.support.server import Reply

HTML = {"Content-Type": "text/html; charset=utf-8"}
RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}
BIN = Path(sys.executable).parent
ON_TOPIC = {"/en/children-returned": "en-children-returned.html", "/uk/children-returned": "uk-children-returned.html"}
OFF_TOPIC = {"/en/bridge": "en-bridge-reopens.html"}
ATOM = "{http://www.w3.org/2005/Atom}"


ON_TOPIC_SUMMARY = ("Russia deported 40 Ukrainian children from occupied Kherson to camps in Crimea, "
                    "the ombudsman said; eleven of the deported children were returned to Ukraine.")


def feed(server, paths, summary: str = "Officials gave an update on Tuesday.") -> bytes:
    entries = "".join(f"<item><title>Story {n}</title><link>{server.url(path)}</link><guid>{path}</guid>"
                      f"<description>{summary}</description></item>"
                      for n, path in enumerate(paths))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Site</title>{entries}</channel></rss>'.encode()


def site(server) -> None:
    pages = {**ON_TOPIC, **OFF_TOPIC}
    for path, name in pages.items():
        server.route(path, Reply(body=fixture_bytes(f"articles/{name}"), headers=HTML))
    server.route("/feed.xml", Reply(body=feed(server, list(pages)), headers=RSS))


def write_config(backend: Backend, server, evidence: str = "{dir: evidence}", fetch_article: str = "auto") -> str:
    path = backend.folder / "sources.yaml"
    path.write_text(f"""
settings:
  database: {backend.database}
  fetch: {{retries: 0}}
  evidence: {evidence}
sources:
  - {{name: Site, type: rss, url: "{server.url('/feed.xml')}", fetch_article: {fetch_article}, allow_private: true}}
""", encoding="utf-8")
    return str(path)


def invoke(*args: str, code: int = 0):
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, result.output
    return result


def warc_payloads(folder: Path) -> dict[str, list[str]]:
    """WARC-Target-URI → sha256 of each response record's payload, read from the WARC files."""
    found: dict[str, list[str]] = {}
    for path in sorted(folder.glob("*.warc.gz")):
        with open(path, "rb") as handle:
            for record in ArchiveIterator(handle):
                if record.rec_type == "response":
                    found.setdefault(record.rec_headers.get_header("WARC-Target-URI"), []).append(
                        hashlib.sha256(record.content_stream().read()).hexdigest())
    return found


def warcio_check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "warcio"), "check", "-v", str(path)], capture_output=True, text=True)


def polled(backend: Backend, server, **config) -> str:
    site(server)
    path = write_config(backend, server, **config)
    invoke("--config", path, "poll")
    return path


def test_poll_captures_each_matched_article_and_exports_them_in_four_formats(backend, server):
    tmp_path = backend.folder
    config = polled(backend, server)
    evidence = tmp_path / "evidence"
    captures = backend.rows("SELECT * FROM captures ORDER BY id")
    matched = {row["url"] for row in backend.rows("SELECT i.url FROM items i JOIN matches m ON m.item_id = i.id")}
    items = backend.value("SELECT count(*) FROM items")
    on_topic = {server.url(path) for path in ON_TOPIC}
    assert items == 3 and matched == on_topic
    assert backend.url is None or not (tmp_path / "data" / "monitor.db").exists()  # rows in PostgreSQL only
    assert len(captures) == 2 and {c["url"] for c in captures} == on_topic  # none of the off-topic page
    assert all(c["http_status"] == 200 and c["reason"] == "match" for c in captures)
    assert len(server.requests_for("/en/bridge")) == 1  # read once, for the match; never captured
    warcs = sorted(evidence.glob("*.warc.gz"))
    assert warcs
    for path in warcs:
        checked = warcio_check(path)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert checked.stdout.count("digest pass") == 5  # warcinfo, and a response and a request per capture
    payloads = warc_payloads(evidence)
    for capture in captures:
        assert payloads[capture["url"]] == [capture["sha256"]]
        page = fixture_bytes(f"articles/{ON_TOPIC['/' + capture['url'].split('/', 3)[3]]}")
        assert capture["sha256"] == hashlib.sha256(page).hexdigest()  # the body as the site sent it

    out = {kind: tmp_path / f"case.{kind}" for kind in ("json", "csv", "atom", "wacz")}
    for kind, path in out.items():
        result = invoke("--config", config, "export", kind, "--out", str(path))
        assert "2 stories, 2 captures exported" in result.output

    document = json.loads(out["json"].read_text("utf-8"))
    assert len(document["stories"]) == 2
    for story in document["stories"]:
        assert set(story) >= {"id", "title", "url", "source", "published", "first_seen", "lang", "topics", "snippet",
                              "also", "evidence"}
        [entry] = story["evidence"]
        assert set(entry) >= {"url", "captured_at", "sha256", "warc_file", "warc_record_id", "http_status", "status",
                              "last_checked"}
        assert entry["sha256"] == payloads[entry["url"]][0] and entry["status"] == "captured"
        assert (evidence / entry["warc_file"]).is_file()
    # The custody log as it stood: this export is its next event (with the file's sha256, below).
    assert [event["event"] for event in document["custody"]] == ["capture", "capture"]
    assert {e["sha256"] for e in document["custody"]} == {c["sha256"] for c in captures}

    rows = list(csv.DictReader(io.StringIO(out["csv"].read_text("utf-8"))))
    assert len(rows) == 2
    assert {row["sha256"] for row in rows} == {c["sha256"] for c in captures}
    assert all(payloads[row["capture_url"]] == [row["sha256"]] for row in rows)
    assert {row["url"] for row in rows} == on_topic

    entries = ET.parse(out["atom"]).getroot().findall(f"{ATOM}entry")
    assert len(entries) == 2
    for entry in entries:
        [capture] = entry.findall("{https://github.com/monitor-project/monitor/ns/evidence}capture")
        assert payloads[capture.get("url")] == [capture.get("sha256")]

    validated = subprocess.run([str(BIN / "wacz"), "validate", "-f", str(out["wacz"])], capture_output=True, text=True)
    assert validated.returncode == 0 and "is valid" in validated.stdout, validated.stdout + validated.stderr
    with zipfile.ZipFile(out["wacz"]) as wacz:
        names = set(wacz.namelist())
        assert {"pages/pages.jsonl", "logs/custody.jsonl", "logs/manifest-sha256.txt", "logs/stories.json",
                "archive/monitor-export.warc.gz", "datapackage.json"} <= names
        pages = [json.loads(line) for line in wacz.read("pages/pages.jsonl").decode().splitlines()[1:]]
        assert {page["url"] for page in pages} == on_topic
        inner = tmp_path / "inner.warc.gz"
        inner.write_bytes(wacz.read("archive/monitor-export.warc.gz"))
        manifest = wacz.read("logs/manifest-sha256.txt").decode()
        assert f"{hashlib.sha256(inner.read_bytes()).hexdigest()}  archive/monitor-export.warc.gz" in manifest
    assert warcio_check(inner).returncode == 0
    with open(inner, "rb") as handle:
        inside = {r.rec_headers.get_header("WARC-Target-URI"): hashlib.sha256(r.content_stream().read()).hexdigest()
                  for r in ArchiveIterator(handle) if r.rec_type == "response"}
    assert inside == {c["url"]: c["sha256"] for c in captures}
    exports = [row["sha256"] for row in backend.rows("SELECT sha256 FROM custody WHERE event = 'export' ORDER BY id")]
    assert exports == [hashlib.sha256(path.read_bytes()).hexdigest() for path in out.values()]


def test_a_removed_article_is_gone_after_recheck_all(backend, server):
    tmp_path = backend.folder
    config = polled(backend, server)
    del server.routes["/uk/children-returned"]  # the publisher removed it: 404 from now on
    result = invoke("--config", config, "evidence", "recheck", "--all")
    assert "1 gone" in result.output and "1 live" in result.output
    invoke("--config", config, "export", "json", "--out", str(tmp_path / "after.json"))
    stories = {s["url"]: s for s in json.loads((tmp_path / "after.json").read_text("utf-8"))["stories"]}
    gone, live = stories[server.url("/uk/children-returned")], stories[server.url("/en/children-returned")]
    assert [e["status"] for e in gone["evidence"]] == ["gone"] and gone["evidence"][0]["last_checked"]
    assert gone["evidence_status"].startswith("gone")
    assert [e["status"] for e in live["evidence"]] == ["live"]
    assert backend.value("SELECT count(*) FROM captures") == 2  # a 404 has nothing to capture
    details = [row["detail"] for row in backend.rows("SELECT detail FROM custody WHERE event = 'recheck'")]
    assert sorted(details) == ["gone: HTTP 404", "live: same payload"]


def test_a_page_whose_article_text_vanished_is_gone_and_a_changed_one_is_kept_beside(backend, server):
    tmp_path = backend.folder
    config = polled(backend, server)
    en, uk = server.url("/en/children-returned"), server.url("/uk/children-returned")
    # The English article now redirects to a home page; the Ukrainian one got a new footer.
    server.route("/home", Reply(body=b"<html><body><h1>Home</h1><p>Latest news.</p></body></html>", headers=HTML))
    server.route("/en/children-returned", Reply(302, headers={"Location": "/home"}))
    edited = fixture_bytes("articles/uk-children-returned.html").replace(b"</body>", b"<p>Updated.</p></body>")
    server.route("/uk/children-returned", Reply(body=edited, headers=HTML))
    result = invoke("--config", config, "evidence", "recheck", "--all")
    assert "1 changed" in result.output and "1 gone" in result.output
    invoke("--config", config, "export", "json", "--out", str(tmp_path / "after.json"))
    stories = {s["url"]: s for s in json.loads((tmp_path / "after.json").read_text("utf-8"))["stories"]}
    assert [(e["status"], e["reason"]) for e in stories[uk]["evidence"]] == [("changed", "match"), ("live", "changed")]
    assert stories[uk]["evidence"][1]["sha256"] == hashlib.sha256(edited).hexdigest()
    # The page as the recheck found it is kept too: what the link showed once the article was gone.
    assert [(e["status"], e["url"]) for e in stories[en]["evidence"]] == [("gone", en), ("gone", server.url("/home"))]
    for path in (tmp_path / "evidence").glob("*.warc.gz"):
        assert warcio_check(path).returncode == 0
    invoke("--config", config, "evidence", "verify")


def test_verify_passes_and_names_the_file_after_four_bytes_are_overwritten(backend, server):
    tmp_path = backend.folder
    config = polled(backend, server)
    result = invoke("--config", config, "evidence", "verify")
    assert "2 captures in 1 WARC files checked: all hold" in result.output
    [warc] = (tmp_path / "evidence").glob("*.warc.gz")
    data = bytearray(warc.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 4] = bytes(b ^ 0xFF for b in data[middle:middle + 4])
    warc.write_bytes(bytes(data))
    failed = invoke("--config", config, "evidence", "verify", code=1)
    assert str(warc) in failed.output and "FAILED" in failed.output
    outcomes = [row["detail"] for row in backend.rows("SELECT detail FROM custody WHERE event = 'verify' ORDER BY id")]
    assert outcomes[0].endswith(": ok") and warc.name in outcomes[1]


def test_the_custody_log_is_append_only(backend, server):
    polled(backend, server)
    events = backend.rows("SELECT id, event, monitor_version, sha256 FROM custody ORDER BY id")
    assert [e["event"] for e in events] == ["capture", "capture"] and all(e["monitor_version"] for e in events)
    assert [e["id"] for e in events] == [1, 2]  # without a gap: verify reads one as an event deleted
    for statement in ("UPDATE custody SET detail = 'x'", "DELETE FROM custody"):
        with pytest.raises(Exception, match="append-only"):  # sqlite3's IntegrityError, psycopg's RaiseException
            backend.execute(statement)
    assert backend.value("SELECT count(*) FROM custody") == 2


def test_capture_off_fetches_no_page_twice(backend, server):
    tmp_path = backend.folder
    polled(backend, server, evidence="{enabled: false}")
    assert backend.value("SELECT count(*) FROM captures") == 0
    assert all(len(server.requests_for(path)) == 1 for path in ON_TOPIC)
    assert not (tmp_path / "data" / "evidence").exists()


def test_a_failed_capture_is_visible_and_made_on_a_later_run(backend, server):
    """An item matched on its feed text alone; its page answers the capture with a 503: the item is
    kept, its evidence says why it has none yet, and the next run captures it."""
    site(server)
    server.route("/feed.xml", Reply(body=feed(server, ["/en/children-returned"], ON_TOPIC_SUMMARY), headers=RSS))
    server.route("/en/children-returned", Reply(503, b"busy", {"Content-Type": "text/plain"}))
    tmp_path = backend.folder
    config = write_config(backend, server, evidence="{dir: evidence, retry: 1s}", fetch_article="never")
    invoke("--config", config, "poll")
    invoke("--config", config, "export", "json", "--out", str(tmp_path / "before.json"))
    stories = {s["url"]: s for s in json.loads((tmp_path / "before.json").read_text("utf-8"))["stories"]}
    story = stories[server.url("/en/children-returned")]
    assert story["evidence"] == [] and "503" in story["evidence_status"] and "retried later" in story["evidence_status"]
    listed = invoke("--config", config, "sources", "list").output
    assert "1 evidence capture failing" in listed  # visible where sources are watched, never silent
    server.route("/en/children-returned", Reply(body=fixture_bytes("articles/en-children-returned.html"), headers=HTML))
    time.sleep(1.1)
    result = invoke("--config", config, "evidence", "recheck")
    assert "captures: 1 made" in result.output
    assert set(warc_payloads(tmp_path / "evidence")) == {server.url("/en/children-returned")}


def test_a_page_the_article_stage_read_is_captured_from_that_read(backend, server):
    """The evidence of a matched article is the response the article stage received (one
    request for the page, not a second one a moment later that may differ)."""
    site(server)
    invoke("--config", write_config(backend, server), "poll")
    assert set(warc_payloads(backend.folder / "evidence")) == {server.url(p) for p in ON_TOPIC}
    for path in ON_TOPIC:
        assert len(server.requests_for(path)) == 1, path


@pytest.fixture
def small_disk(backend):
    mount = backend.folder / "evidence"
    mount.mkdir()
    if shutil.which("mount") is None or __import__("os").geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_full_disk_during_capture_keeps_the_item_and_captures_it_later(backend, server, small_disk):
    filler = small_disk / "filler"
    with open(filler, "wb", buffering=0) as handle:  # fill the disk, then free a page: a record starts, cannot end
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError:
            pass
    with open(filler, "r+b") as handle:
        handle.truncate(max(0, filler.stat().st_size - 4096))
    site(server)
    config = write_config(backend, server, evidence="{dir: evidence, retry: 1s}")
    invoke("--config", config, "poll")
    assert backend.value("SELECT count(*) FROM items") == 3  # the items are kept
    assert backend.value("SELECT count(*) FROM captures") == 0
    states = backend.rows("SELECT state, last_error FROM evidence")
    assert len(states) == 2 and all(s["state"] == "pending" and "No space left" in s["last_error"] for s in states)
    # The records began to be written into the free page and were cut off again: no half record left.
    leftovers = list(small_disk.glob("*.warc.gz"))
    assert leftovers and all(path.stat().st_size == 0 for path in leftovers)

    filler.unlink()
    time.sleep(1.1)
    result = invoke("--config", config, "evidence", "recheck")
    assert "captures: 2 made" in result.output
    [warc] = small_disk.glob("*.warc.gz")
    assert warc.stat().st_size > 2 * 4096  # more than the page that was free: the first write was partial
    assert warcio_check(warc).returncode == 0
    assert set(warc_payloads(small_disk)) == {server.url(p) for p in ON_TOPIC}
    invoke("--config", config, "evidence", "verify")


def test_the_digest_marks_a_story_whose_page_the_publisher_removed(backend, server):
    tmp_path = backend.folder
    config = polled(backend, server)
    del server.routes["/uk/children-returned"]  # the publisher removed it: 404 from now on
    invoke("--config", config, "evidence", "recheck", "--all")
    markdown = invoke("--config", config, "digest", "--preview").output
    out = tmp_path / "preview.json"
    invoke("--config", config, "digest", "--preview", "--out", str(out))
    stories = {s["url"]: s for s in json.loads(out.read_text("utf-8"))["stories"]}
    assert stories[server.url("/uk/children-returned")]["removed_at"]
    assert "removed_at" not in stories[server.url("/en/children-returned")]
    assert markdown.count("removed by the publisher on") == 1
