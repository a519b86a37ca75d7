"""`monitor poll` (issue 15): the titles of the new matched items (with -v, of every new item), a
progress line on a terminal during a long poll, and --json."""

from __future__ import annotations

import json
import logging
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from tests.conftest import fixture_bytes
from tests.support.server import Reply, free_port

ROOT = Path(__file__).resolve().parent.parent
RSS = {"Content-Type": "application/rss+xml"}
HOSTILE = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Wire</title><link>https://wire.example/</link><description>w</description>
<item><title>Children deported to Russia from occupied Kherson \x1b[31mRED\x1b[0m</title>
<link>https://wire.example/2026/11/kherson</link><pubDate>Tue, 24 Nov 2026 08:30:00 +0000</pubDate>
<description>Twelve Ukrainian children were deported to Russia from occupied Kherson, officials said.</description></item>
</channel></rss>
""".replace(b"\x1b", b"&#27;")


@pytest.fixture(autouse=True)
def _restore_logging(monkeypatch):
    monkeypatch.delenv("MONITOR_CONFIG", raising=False)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def config_file(tmp_path, server, extra: str = "") -> str:
    server.route("/en", Reply(body=fixture_bytes("feeds/en-rss2.xml"), headers=RSS))
    server.route("/ru", Reply(body=fixture_bytes("feeds/ru-rss1.xml"), headers=RSS))
    path = tmp_path / "sources.yaml"
    path.write_text(f"""
settings:
  database: data/test.db
  fetch: {{retries: 0}}
sources:
  - {{name: Ledger, type: rss, url: "{server.url('/en')}", tags: [en]}}
  - {{name: Pravo, type: rss, url: "{server.url('/ru')}"}}
  - {{name: Down, type: rss, url: "http://127.0.0.1:{free_port()}/feed"}}
{extra}""", encoding="utf-8")
    return str(path)


def matched_titles(tmp_path) -> dict[str, str]:
    import sqlite3

    with sqlite3.connect(tmp_path / "data" / "test.db") as conn:
        rows = conn.execute("SELECT i.title, i.url, i.source, count(m.item_id) FROM items i "
                            "LEFT JOIN matches m ON m.item_id = i.id GROUP BY i.id").fetchall()
    conn.close()
    return {title: (url, source, matched) for title, url, source, matched in rows}


def test_poll_lists_the_titles_and_links_of_new_matched_items(tmp_path, server):
    path = config_file(tmp_path, server)
    result = CliRunner().invoke(cli, ["--config", path, "poll"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    items = matched_titles(tmp_path)
    matched = {title: value for title, value in items.items() if value[2]}
    assert len(matched) == 2 and len(items) == 5
    start = lines.index("New on topic (2):")
    assert start > 4  # after the table
    listed = lines[start + 1:start + 1 + 2 * len(matched)]
    for title, (url, source, _) in matched.items():
        at = listed.index(f"  {title}")
        assert listed[at + 1] == f"    {source} · {url}"
    for title in set(items) - set(matched):
        assert title not in result.stdout  # off-topic titles only with -v
    assert lines[-1] == "3 sources polled, 5 new items, 2 matched, 1 failing"


def test_poll_verbose_lists_every_new_title_marking_the_matched(tmp_path, server):
    path = config_file(tmp_path, server)
    result = CliRunner().invoke(cli, ["--config", path, "-v", "poll"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    start = lines.index("New items (5; * matched a topic, 2):")
    listed = lines[start + 1:start + 11]
    for title, (url, source, matched) in matched_titles(tmp_path).items():
        at = listed.index(f"  {'* ' if matched else '  '}{title}")
        assert listed[at + 1] == f"      {source} · {url}"
    # A second poll brings nothing new: no list at all.
    again = CliRunner().invoke(cli, ["--config", path, "-v", "poll"])
    assert "New items" not in again.stdout and "New on topic" not in again.stdout


def test_feed_text_reaches_the_terminal_without_control_characters(tmp_path, server):
    server.route("/wire", Reply(body=HOSTILE, headers=RSS))
    path = config_file(tmp_path, server, f'  - {{name: Wire, type: rss, url: "{server.url("/wire")}"}}\n')
    result = CliRunner().invoke(cli, ["--config", path, "poll"])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "[31mRED" in result.stdout
    # Whatever a feed's parser lets through, the listing folds control characters to spaces.
    from datetime import datetime, timezone

    from monitor.commands.poll import _titles
    from monitor.items import PollReport, Story
    story = Story(7, "Title \x1b[2J\x1b]0;owned\x07 \r\nnext", "https://x.example/\x1b[1m", "Out\x1blet",
                  datetime(2026, 11, 24, tzinfo=timezone.utc), "en", ["deported-children"], "")
    listing = _titles([PollReport("Outlet", "ok", 1, matched_ids=(7,), new_ids=(7,))], {7: story}, every=False)
    assert not any(ch in listing for ch in "\x1b\x07\r") and listing.count("\n") == 2


def test_poll_json_is_one_document_with_each_source_and_its_new_items(tmp_path, server):
    path = config_file(tmp_path, server)
    result = CliRunner().invoke(cli, ["--config", path, "poll", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)  # nothing but the document on stdout
    assert {k: document[k] for k in ("polled", "new", "matched", "failing", "skipped")} == \
        {"polled": 3, "new": 5, "matched": 2, "failing": 1, "skipped": 0}
    by_name = {s["source"]: s for s in document["sources"]}
    assert list(by_name) == ["Ledger", "Pravo", "Down"]
    assert by_name["Down"]["status"] == "failing" and "connection refused" in by_name["Down"]["error"]
    assert by_name["Down"]["items"] == []
    ledger = by_name["Ledger"]
    assert set(ledger) == {"source", "status", "new", "seen", "matched", "seconds", "error", "warning", "items"}
    assert ledger["status"] == "ok" and ledger["new"] == len(ledger["items"]) == 3
    assert sum(item["matched"] for s in document["sources"] for item in s["items"]) == 2
    for item in ledger["items"]:
        assert set(item) == {"id", "title", "url", "published", "lang", "matched", "topics"}
        assert item["topics"] == (["deported-children"] if item["matched"] else [])
    assert "polled" not in result.stderr  # the table's summary is not printed


def _read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            if needle in seen:
                break
    return seen


def test_a_long_poll_shows_its_progress_on_a_terminal(tmp_path, server):
    server.route("/slow", Reply(body=fixture_bytes("feeds/en-rss2.xml"), headers=RSS, delay=2.5))
    path = config_file(tmp_path, server, f'  - {{name: Slow Outlet, type: rss, url: "{server.url("/slow")}"}}\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "--config", path, "poll"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    try:
        terminal = _read_until(master, b"Slow Outlet", 60)
        out, _ = proc.communicate(timeout=60)
        terminal += _read_until(master, b"\x00", 1)
    finally:
        os.close(master)
    shown = terminal.decode("utf-8", "replace")
    assert re.search(r"polling: [0-3]/4 sources done, \d+ new matched, \d+ failing, \d+s · waiting for [^\r]*Slow Outlet",
                     shown), shown
    assert "\r\x1b[K" in shown
    assert b"polling:" not in out and out.decode().splitlines()[-1].startswith("4 sources polled")


def test_no_progress_line_when_stderr_is_not_a_terminal(tmp_path, server):
    server.route("/slow", Reply(body=fixture_bytes("feeds/en-rss2.xml"), headers=RSS, delay=1.5))
    path = config_file(tmp_path, server, f'  - {{name: Slow Outlet, type: rss, url: "{server.url("/slow")}"}}\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "monitor", "--config", path, "poll"], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 0 and "polling:" not in done.stderr and "\x1b" not in done.stderr


def test_the_polls_own_process_does_not_load_the_matcher(tmp_path, server):
    # Its document workers match the items; the poll's own process only reads their answers, so
    # it need not import the topics' parser and screen (monitor.offload.Named, topics/result.py).
    path = config_file(tmp_path, server)
    code = ("import sys\nfrom monitor.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "loaded = [m for m in ('monitor.topics.match', 'monitor.judge', 'luqum', 'ahocorasick_rs') if m in sys.modules]\n"
            "print('loaded:', ' '.join(loaded) or '-')\n")
    done = subprocess.run([sys.executable, "-c", code, "--config", path, "poll"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert re.search(r", [1-9]\d* matched, ", done.stdout.splitlines()[-2])  # the workers matched some
    assert done.stdout.splitlines()[-1] == "loaded: -"
