"""The scheduled service: start-up catch-up, one poll per source at a time, clean shutdown."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

from monitor.config import load_config
from monitor.sources import SourceConfig
from monitor.fetch import Fetcher
from monitor.pipeline import Pipeline
from monitor.service import Service, first_run_time
from monitor.store import Store
from tests.conftest import FAST, fixture_bytes
from tests.support.server import Reply, free_port

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=timezone.utc)
RSS = {"Content-Type": "application/rss+xml"}


def test_first_run_time_polls_overdue_and_new_sources_at_start():
    source = SourceConfig(name="A", type="rss", url="http://example.org/", interval="30m")
    assert first_run_time(source, None, NOW) == NOW
    assert first_run_time(source, NOW - timedelta(hours=2), NOW) == NOW
    assert first_run_time(source, NOW - timedelta(minutes=10), NOW) == NOW + timedelta(minutes=20)


def write_config(tmp_path, sources: list[tuple[str, str, str]]) -> str:
    lines = ["settings:", f"  database: {tmp_path / 'monitor.db'}", "  fetch:", "    retries: 0",
             "    read_timeout: 2s", "sources:"]
    for name, url, interval in sources:
        lines += [f"  - name: {name}", "    type: rss", f"    url: {url}", f"    interval: {interval}"]
    path = tmp_path / "sources.yaml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_service_never_runs_two_polls_of_one_source_at_once(server, tmp_path):
    in_flight, peak, hits = [0], [0], [0]
    lock = threading.Lock()

    def slow(request):
        with lock:
            in_flight[0] += 1
            hits[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(1.2)  # longer than the 1 s interval
        with lock:
            in_flight[0] -= 1
        return Reply(body=fixture_bytes("feeds/en-rss2.xml"), headers=RSS)

    server.route("/slow", slow)
    config = load_config(write_config(tmp_path, [("Slow", server.url("/slow"), "1s")]))

    async def go():
        store = Store(config.database_path)
        async with Fetcher(FAST.model_copy(update={"read_timeout": timedelta(seconds=5)}), "t") as fetcher:
            service = Service(config, Pipeline(fetcher=fetcher, store=store))
            asyncio.get_running_loop().call_later(4, service.stop)
            await service.run()
        return store

    store = asyncio.run(go())
    assert peak[0] == 1 and hits[0] >= 2
    assert store.count_items() == 3
    store.close()


def test_service_keeps_running_with_unreachable_sources_and_exits_0_on_sigterm(server, tmp_path):
    server.route("/feed", Reply(body=fixture_bytes("feeds/uk-atom.xml"), headers=RSS))
    config_path = write_config(tmp_path, [
        ("Down", f"http://127.0.0.1:{free_port()}/feed", "1s"),
        ("Broken", server.url("/missing"), "1s"),
        ("Up", server.url("/feed"), "1h"),
    ])
    process = subprocess.Popen([sys.executable, "-m", "monitor", "--config", config_path, "run"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 20
        store = None
        while time.monotonic() < deadline:
            time.sleep(0.3)
            assert process.poll() is None, process.communicate()
            if (tmp_path / "monitor.db").exists():
                store = store or Store(tmp_path / "monitor.db")
                states = {name: store.source_state(name) for name in ("Down", "Broken", "Up")}
                if states["Down"].consecutive_failures >= 2 and states["Up"].status == "ok":
                    break
        else:
            raise AssertionError("service did not poll as expected within 20 s")
        assert states["Broken"].status == "failing" and "HTTP 404" in states["Broken"].last_error
        assert "connection refused" in states["Down"].last_error
        assert store.count_items("Up") == 2
        store.close()
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "monitor stopped" in err and "Traceback" not in err


def _start_service(tmp_path, sources: list[tuple[str, str, str]]):
    log = open(tmp_path / "service.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "--config", write_config(tmp_path, sources), "run"],
                            stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    return proc, log


def test_sigterm_lets_a_poll_in_progress_finish_and_store_its_items(server, tmp_path):
    started = threading.Event()

    def slow(request):
        started.set()
        time.sleep(1.5)  # under the 2 s read timeout: a slow answer, not a failing source
        return Reply(body=fixture_bytes("feeds/en-rss2.xml"), headers=RSS)

    server.route("/slow", slow)
    proc, log = _start_service(tmp_path, [("Slow", server.url("/slow"), "1h")])
    try:
        assert started.wait(60), "hang guard: the service never polled"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    output = (tmp_path / "service.log").read_text(errors="replace")
    assert "Traceback" not in output and "ERROR" not in output, output
    assert "waiting up to 30 s for 1 job(s): poll Slow" in output
    store = Store(tmp_path / "monitor.db")
    assert store.count_items("Slow") == 3 and store.source_state("Slow").status == "ok"
    store.close()


def test_after_the_grace_a_job_is_cancelled_with_one_line(server, tmp_path, caplog):
    def stuck(request):
        time.sleep(8)
        return Reply(body=fixture_bytes("feeds/en-rss2.xml"), headers=RSS)

    server.route("/stuck", stuck)
    config = load_config(write_config(tmp_path, [("Stuck", server.url("/stuck"), "1h")]))

    async def go():
        store = Store(config.database_path)
        async with Fetcher(FAST.model_copy(update={"read_timeout": timedelta(seconds=20)}), "t") as fetcher:
            service = Service(config, Pipeline(fetcher=fetcher, store=store), shutdown_grace=0.5)
            asyncio.get_running_loop().call_later(1.5, service.stop)
            await asyncio.wait_for(service.run(), 30)
        store.close()

    with caplog.at_level(logging.INFO):
        asyncio.run(go())
    lines = [r for r in caplog.records if "did not finish" in r.getMessage()]
    assert [r.getMessage() for r in lines] == ["stopping: poll Stuck did not finish within 0.5 s; cancelled"]
    assert not any(r.exc_info for r in caplog.records)
