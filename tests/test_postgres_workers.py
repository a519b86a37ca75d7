"""`monitor worker` on PostgreSQL, end to end: three worker processes on one database (a real
local server, tests/support/postgres.py) poll a local site of four outlets, send a digest every
minute to a local webhook receiver, and one of them is killed with SIGKILL while it polls. Every
on-topic story reaches the digests once, every delivery id is received once, the killed poll is
run again by another worker (nothing lost), and the password never shows in their logs."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.postgres.worker import interval_cron, stalled_recovery_cron
from tests.support.postgres import a_source_was_polled, start_monitor, stop_monitors
from tests.support.postgres import pg_url, postgres_server  # noqa: F401  (fixtures)
from tests.support.receiver import Receiver
from tests.support.server import LocalServer, Reply
from tests.support.waiting import wait_until
from tests.test_end_to_end import EXPECTED, FEED, OUTLETS, SITE, expected_on_topic, which
from tests.test_postgres_commands import SECRET, with_password

pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'monitor[postgresql]')")
pytest.importorskip("procrastinate", reason="procrastinate is not installed (pip install 'monitor[postgresql]')")
psutil = pytest.importorskip("psutil", reason="psutil is not installed (pip install 'monitor[test]')")

ROOT = Path(__file__).resolve().parent.parent
PATIENCE = 180  # seconds: digests go out at each minute's start; a guard, not a measurement


def test_interval_cron_rounds_down_to_a_step_cron_can_say_and_spreads_sources():
    from datetime import timedelta

    assert interval_cron("a", timedelta(seconds=10)).endswith("-59/10")
    assert interval_cron("a", timedelta(seconds=10)).startswith("* * * * * ")
    assert interval_cron("a", timedelta(minutes=7)).split()[0].endswith("-59/6")   # 7 minutes: every 6
    assert interval_cron("a", timedelta(minutes=30)).split()[0].endswith("-59/30")
    assert interval_cron("a", timedelta(hours=5)).split()[1].endswith("-23/4")
    assert len(interval_cron("a", timedelta(days=2)).split()) == 5
    assert len({interval_cron(name, timedelta(minutes=30)) for name in "abcdefgh"}) > 1  # not all at :00
    assert interval_cron("Вісник", timedelta(minutes=30)) == interval_cron("Вісник", timedelta(minutes=30))
    assert stalled_recovery_cron(6) == "* * * * * */2"


def test_worker_needs_postgresql(tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_text("settings:\n  database: data/monitor.db\nsources:\n"
                    "  - {name: Ledger, type: rss, url: 'http://127.0.0.1:9/feed'}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(path), "worker"])
    assert result.exit_code == 2 and "monitor worker needs a PostgreSQL database" in result.output


class Gate:
    """The first request for the Ledger's feed waits (a poll in progress) until released."""

    def __init__(self, body: bytes):
        self.body = body
        self.held = threading.Event()
        self.release = threading.Event()
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self, request) -> Reply:
        with self.lock:
            self.calls += 1
            first = self.calls == 1
        if first:
            self.held.set()
            self.release.wait(PATIENCE)
        return Reply(body=self.body, headers=FEED)


def wait_for(condition, what: str, timeout: float = PATIENCE) -> None:
    wait_until(condition, what, timeout, every=0.2)


def polling_from(processes: list[subprocess.Popen], port: int) -> subprocess.Popen | None:
    """The worker holding a connection to the local site's port (its poll is waiting for the feed)."""
    for process in processes:
        try:
            connections = psutil.Process(process.pid).net_connections(kind="tcp")
        except psutil.Error:
            continue
        if any(c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED for c in connections):
            return process
    return None


def test_three_workers_every_story_once_every_delivery_once_and_a_killed_poll_loses_nothing(
        tmp_path, server, pg_url, monkeypatch):  # noqa: F811
    monkeypatch.setenv("PGPASSWORD", SECRET)
    ledger = Gate((SITE / "ledger-rss2.xml").read_bytes())
    on_topic = expected_on_topic([f for _, f, _ in OUTLETS])
    off_topic = {s for _, f, _ in OUTLETS for s in EXPECTED[f]["off_topic"]}
    # The Ledger on a server of its own: the one worker connected to it is the one polling it.
    with Receiver() as hook, LocalServer() as ledger_site:
        urls = {}
        for name, fixture, _ in OUTLETS:
            path = f"/feeds/{fixture.split('-')[0]}.xml"
            urls[name] = ledger_site.route(path, ledger) if fixture == "ledger-rss2.xml" else \
                server.route(path, Reply(body=(SITE / fixture).read_bytes(), headers=FEED))
        port = int(ledger_site.url().rsplit(":", 1)[1].strip("/"))
        sources = "\n".join(f'  - {{name: "{name}", type: rss, url: "{urls[name]}", tags: [{lang}], interval: 10s}}'
                            for name, _, lang in OUTLETS)
        config = tmp_path / "sources.yaml"
        config.write_text(f"""
settings:
  database: {with_password(pg_url)}
  timezone: Europe/Kyiv
  fetch: {{retries: 0}}
channels:
  hook: {{type: webhook, url: "{hook.url()}", timeout: 5}}
digests:
  - {{name: daily, schedule: "* * * * *", channels: [hook]}}
sources:
{sources}
""", encoding="utf-8")
        logs = [tmp_path / f"worker-{n}.log" for n in range(3)]
        workers = [start_monitor(config, "worker", log, "--stalled-after", "6", "--concurrency", "2") for log in logs]
        try:
            assert ledger.held.wait(PATIENCE), "no worker polled the Ledger"
            wait_for(lambda: polling_from(workers, port) is not None, "the Ledger's poller to be found", 20)
            victim = polling_from(workers, port)
            victim.send_signal(signal.SIGKILL)  # mid-poll: its request is still waiting for the feed
            victim.wait(10)
            ledger.release.set()
            survivors = [w for w in workers if w is not victim]

            def stories() -> list[str]:
                return [story["url"] for post in hook.accepted for story in post.json().get("stories", [])]

            def every_story_arrived() -> bool:
                assert all(w.poll() is None for w in survivors), "a worker stopped: " + \
                    "".join(log.read_text(errors="replace")[-3000:] for log in logs)
                found = {s for url in stories() for s in which(url, on_topic)}
                return found == on_topic

            wait_for(every_story_arrived, "every on-topic story in the digests")
            time.sleep(2)  # anything sent twice would be on its way by now
        finally:
            stop_monitors(workers)  # the killed one's document readers too, if any

        found: dict[str, int] = {}
        for url in stories():
            assert not which(url, off_topic), f"off-topic story in a digest: {url}"
            [suffix] = which(url, on_topic) or [None]
            assert suffix, f"unexpected story: {url}"
            found[suffix] = found.get(suffix, 0) + 1
        assert found == {suffix: 1 for suffix in on_topic}  # every on-topic story, once
        deliveries = [post.headers["x-monitor-delivery"] for post in hook.accepted]
        assert len(deliveries) == len(set(deliveries)) >= 1  # every delivery id received once
        assert ledger.calls >= 2  # the killed poll was run again
        assert all(w.returncode == 0 for w in survivors), [w.returncode for w in survivors]
        for log in logs:
            assert SECRET not in log.read_text(errors="replace")


def _daily_source(tmp_path, server, database: str, settings: str = "") -> Path:
    """A sources.yaml with one daily source (its feed served by `server`), on `database`; `settings`
    adds lines under settings:."""
    feed = server.route("/feeds/ledger.xml", Reply(body=(SITE / "ledger-rss2.xml").read_bytes(), headers=FEED))
    config = tmp_path / "sources.yaml"
    config.write_text(f"settings:\n  database: {database}\n  fetch: {{retries: 0}}\n{settings}sources:\n"
                      f"  - {{name: Ledger, type: rss, url: '{feed}', interval: 1d}}\n", encoding="utf-8")
    return config


def test_a_worker_polls_overdue_sources_at_start_and_stops_cleanly_on_sigterm(tmp_path, server, pg_url):  # noqa: F811
    """A daily source's last period began hours ago, past what Procrastinate's periodic deferrer
    catches up (10 minutes): the worker's start polls it anyway, once, and SIGTERM ends it with 0."""
    config = _daily_source(tmp_path, server, pg_url)
    log = tmp_path / "worker.log"
    process = start_monitor(config, "worker", log)
    try:
        wait_for(lambda: a_source_was_polled(pg_url, process, log), "the overdue source's poll", 60)
        process.send_signal(signal.SIGTERM)
        assert process.wait(40) == 0, log.read_text(errors="replace")
    finally:
        stop_monitors([process])
    assert len(server.requests_for("/feeds/ledger.xml")) == 1


def test_a_poll_whose_write_fails_records_the_failure_and_the_job_ends(tmp_path, pg_url):  # noqa: F811
    """The pipeline catches SQLite's errors around its write, not PostgreSQL's: the worker's poll
    task turns the store's error into the source's failure, as the pipeline does for SQLite."""
    import asyncio

    import psycopg

    from monitor.config import parse_config
    from monitor.postgres.store import PostgresQueryError, PostgresStore
    from monitor.postgres.worker import POLL_TASK, Worker

    config = parse_config(f"settings:\n  database: {pg_url}\nsources:\n"
                          "  - {name: Ledger, type: rss, url: 'http://127.0.0.1:9/feed'}\n", tmp_path / "sources.yaml")
    worker = Worker(config)

    class Broken:
        async def poll(self, source):
            raise PostgresQueryError("postgresql://monitor:***@db/monitor", psycopg.OperationalError("server closed"))

    worker.store, worker.pipeline = PostgresStore(pg_url), Broken()
    try:
        asyncio.run(worker.app.tasks[POLL_TASK].func(timestamp=0, source="Ledger"))
        [health] = worker.store.source_health()
        assert health.source == "Ledger" and health.status == "failing"
        assert "cannot store what it sent" in health.error and "server closed" in health.error
    finally:
        worker.store.close()


def test_monitor_run_on_postgresql_is_one_worker_with_the_web_interface(tmp_path, server, pg_url):  # noqa: F811
    """`monitor run` on a postgresql:// database runs as `monitor worker` does (an overdue source is
    polled at its start, SIGTERM ends it with 0), serving settings.web.listen beside it."""
    import urllib.request

    from tests.support.server import free_port

    port = free_port()
    config = _daily_source(tmp_path, server, pg_url, f"  web: {{listen: '127.0.0.1:{port}'}}\n")
    log = tmp_path / "run.log"
    process = start_monitor(config, "run", log)
    try:
        wait_for(lambda: a_source_was_polled(pg_url, process, log), "the overdue source's poll", 60)
        wait_for(lambda: "web interface at" in log.read_text(errors="replace"), "the web interface", 30)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as page:
            assert page.status == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(40) == 0, log.read_text(errors="replace")
    finally:
        stop_monitors([process])
    text = log.read_text(errors="replace")
    assert "monitor worker running" in text and "Traceback" not in text, text
    assert len(server.requests_for("/feeds/ledger.xml")) == 1


def test_a_worker_captures_its_polls_matched_pages_and_monitor_evidence_verify_finds_them(tmp_path, server, pg_url):  # noqa: F811
    """A worker's poll captures its matched items as `monitor poll` does: the capture rows are in
    PostgreSQL, the WARC file in settings.evidence.dir, and `monitor evidence verify` says they hold."""
    import psycopg

    from tests.test_evidence import ON_TOPIC
    from tests.test_evidence import site as evidence_site

    evidence_site(server)  # /feed.xml: two on-topic articles and an off-topic one, served locally
    on_topic = {server.url(path) for path in ON_TOPIC}
    config = tmp_path / "sources.yaml"
    config.write_text(f"settings:\n  database: {pg_url}\n  fetch: {{retries: 0}}\n  evidence: {{dir: evidence}}\n"
                      f"sources:\n  - {{name: Site, type: rss, url: '{server.url('/feed.xml')}', interval: 1d, "
                      f"allow_private: true}}\n", encoding="utf-8")
    log = tmp_path / "worker.log"
    process = start_monitor(config, "worker", log)

    def captures() -> list[tuple]:
        with psycopg.connect(pg_url) as conn:
            if conn.execute("SELECT to_regclass('captures')").fetchone()[0] is None:
                return []
            return conn.execute("SELECT url, http_status, warc_file, warc_offset, warc_length FROM captures "
                                "ORDER BY id").fetchall()

    try:
        def captured() -> bool:
            assert process.poll() is None, log.read_text(errors="replace")
            return len(captures()) >= len(on_topic)

        wait_for(captured, "the worker's captures of the matched pages", 120)
        process.send_signal(signal.SIGTERM)
        assert process.wait(40) == 0, log.read_text(errors="replace")
    finally:
        stop_monitors([process])
    rows = captures()
    assert {row[0] for row in rows} == on_topic and len(rows) == len(on_topic)  # each matched page once
    assert all(row[1] == 200 for row in rows)
    for _, _, warc_file, offset, length in rows:
        path = tmp_path / "evidence" / warc_file
        assert path.is_file() and path.stat().st_size >= offset + length, path
    text = log.read_text(errors="replace")
    assert "evidence capture is not available" not in text and "Traceback" not in text, text
    verified = subprocess.run([sys.executable, "-m", "monitor", "--config", str(config), "evidence", "verify"],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert re.search(rf"^{len(on_topic)} captures in \d+ WARC files checked: all hold$", verified.stdout, re.M), \
        verified.stdout


def test_the_evidence_job_runs_every_five_minutes_one_worker_at_a_time(tmp_path):
    """`monitor.evidence` (captures due again, rechecks, seals) is a periodic task whose lock keeps
    it to one worker at a time; it runs the pipeline's Evidence.maintain, as `monitor run` does."""
    import asyncio

    from monitor.config import parse_config
    from monitor.postgres.worker import EVIDENCE_TASK, Worker

    text = ("settings:\n  database: postgresql://monitor@127.0.0.1:9/monitor\nsources:\n"
            "  - {name: Ledger, type: rss, url: 'http://127.0.0.1:9/feed'}\n")  # never connected to
    worker = Worker(parse_config(text, tmp_path / "sources.yaml"))
    periodic = worker.app.periodic_registry.periodic_tasks[(EVIDENCE_TASK, "")]
    assert periodic.cron.split()[0] == "*/5"
    assert periodic.configure_kwargs["lock"] == "evidence" == periodic.configure_kwargs["queueing_lock"]

    class Capture:
        runs = 0

        async def maintain(self):
            Capture.runs += 1

    class Pipeline:
        capture = Capture()

    worker.pipeline = Pipeline()
    asyncio.run(worker.app.tasks[EVIDENCE_TASK].func(timestamp=0))
    assert Capture.runs == 1

    off = Worker(parse_config(text.replace("settings:\n", "settings:\n  evidence: {enabled: false}\n"),
                              tmp_path / "sources.yaml"))
    assert (EVIDENCE_TASK, "") not in off.app.periodic_registry.periodic_tasks
