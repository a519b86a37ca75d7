"""A full disk under the running service: nothing is lost, and once space returns every item is
stored without a restart. The database lives on a real tmpfs of 1 MB that the test grows."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

import pytest

from tests.support.server import LocalServer, Reply

FEEDS, ITEMS = 40, 50
RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}
HANG_GUARD_SECONDS = 120


def _feed(number: int) -> bytes:
    """A feed of ITEMS distinct items of about 1 KB each (off topic: the index still groups them)."""
    start = datetime(2026, 11, 20, tzinfo=timezone.utc)
    items = []
    for n in range(ITEMS):
        words = " ".join(f"word{number}x{n}x{k} harbour council budget" for k in range(40))
        items.append(f"<item><title>Council budget {number}-{n}</title>"
                     f"<link>https://news{number}.example/{n}</link>"
                     f"<pubDate>{format_datetime(start + timedelta(minutes=n))}</pubDate>"
                     f"<description>{words}</description></item>")
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Feed {number}</title>'
            f'{"".join(items)}</channel></rss>').encode()


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1M", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _counts(database) -> tuple[int, int]:
    """(items stored, sources failing), read as another process would."""
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as conn:
            items = conn.execute("SELECT count(*) FROM items").fetchone()[0]
            failing = conn.execute("SELECT count(*) FROM sources WHERE last_status = 'failing'").fetchone()[0]
            return items, failing
    except sqlite3.Error:
        return -1, -1


def _wait(condition, what: str, proc) -> None:
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the service exited ({proc.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"hang guard: {what} did not happen within {HANG_GUARD_SECONDS} s")
        time.sleep(0.5)


def test_service_stores_everything_once_a_full_disk_is_grown(small_disk, tmp_path):
    database = small_disk / "monitor.db"
    with LocalServer() as server:
        urls = [server.route(f"/feed{n}", Reply(body=_feed(n), headers=RSS)) for n in range(FEEDS)]
        lines = ["settings:", f"  database: {database}", "  fetch:", "    retries: 0", "sources:"]
        for n, url in enumerate(urls):
            lines += [f"  - name: Feed {n}", "    type: rss", f"    url: {url}", "    interval: 2s",
                      "    fetch_article: never", "    allow_private: true"]
        config = tmp_path / "sources.yaml"
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        log = open(tmp_path / "service.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "run"],
                                stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
        try:
            _wait(lambda: b"full" in (tmp_path / "service.log").read_bytes(), "a 'disk is full' failure", proc)
            stored_while_full, failing = _counts(database)
            assert stored_while_full < FEEDS * ITEMS
            assert failing > 0  # a failed write is visible, not "healthy"

            subprocess.run(["mount", "-o", "remount,size=64M", str(small_disk)], check=True)
            _wait(lambda: _counts(database) == (FEEDS * ITEMS, 0),
                  f"all {FEEDS * ITEMS} items stored and no source failing", proc)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
    output = (tmp_path / "service.log").read_text(errors="replace")
    assert "already exists" not in output, output[-3000:]
