"""Per-host politeness across processes on PostgreSQL (monitor/postgres/hosts.py): request slots
as advisory locks on a real server (tests/support/postgres.py), two gates standing for two
processes; then the Fetcher with gates against a real local HTTP server that counts the requests
it is answering at once; then three real `monitor worker` processes polling sixteen sources of one
host: never more than per_host_concurrency requests in flight to it, whichever worker sends them."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'monitor[postgresql]')")

from monitor.fetch import FetchSettings, Fetcher
from monitor.postgres.hosts import PostgresHostGate, slot_key, take_statement
from tests.support.postgres import start_monitor, stop_monitors
from tests.support.postgres import pg_url, postgres_server  # noqa: F401  (fixtures)
from tests.support.server import LocalServer, Reply, Request, free_port

PATIENCE = 120  # seconds: a guard against a hang, not a measurement
HOST = "http://example.org"
RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>http://example.org/</link>
<description>d</description></channel></rss>"""


def advisory_locks(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone()[0]


async def until(condition, what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.005)


def test_keys_differ_by_host_and_slot_and_the_statement_offers_each_slot():
    keys = {slot_key(host, s) for host in ("http://a.org", "https://a.org", "http://b.org") for s in range(3)}
    assert len(keys) == 9 and all(-2**63 <= k < 2**63 for k in keys)
    assert slot_key("http://a.org", 1) == slot_key("http://a.org", 1)
    assert take_statement(3).count("pg_try_advisory_lock(%s) THEN %s") == 3


def test_two_processes_share_a_hosts_slots_and_a_freed_slot_goes_to_the_waiter(pg_url):  # noqa: F811
    async def scenario() -> None:
        async with PostgresHostGate(pg_url, 2) as first, PostgresHostGate(pg_url, 2) as second:
            a, b = first.slot(HOST), first.slot(HOST)
            assert {await a.__aenter__(), await b.__aenter__()} == {0, 1}
            waiting = asyncio.create_task(second.slot(HOST).__aenter__())
            await until(lambda: second.waits == 1, "the second process to find both slots taken")
            assert not waiting.done()
            async with second.slot("http://other.example") as other:  # another host: not held up
                assert other == 0
            await a.__aexit__(None, None, None)
            got = await asyncio.wait_for(waiting, PATIENCE)
            assert got in (0, 1)
            assert advisory_locks(pg_url) == 2
            await b.__aexit__(None, None, None)
        assert advisory_locks(pg_url) == 0

    asyncio.run(scenario())


def test_slots_are_reentrant_per_session_so_the_process_counts_its_own(pg_url):  # noqa: F811
    """Advisory locks nest within one session: a third request of the same process must wait for
    one of its own two, not take slot 0 again."""
    async def scenario() -> None:
        async with PostgresHostGate(pg_url, 2) as gate:
            held = [gate.slot(HOST), gate.slot(HOST)]
            for slot in held:
                await slot.__aenter__()
            third = asyncio.create_task(gate.slot(HOST).__aenter__())
            await until(lambda: gate.waits == 1, "the third request to wait")
            await held[0].__aexit__(None, None, None)
            assert await asyncio.wait_for(third, PATIENCE) in (0, 1)  # woken by the release, not a pause

    asyncio.run(scenario())


def test_a_killed_process_frees_its_slots_with_its_session(pg_url, postgres_server):  # noqa: F811
    async def scenario() -> None:
        async with PostgresHostGate(pg_url, 1) as doomed, PostgresHostGate(pg_url, 1) as survivor:
            async with doomed.slot(HOST):
                pid = doomed._conn.info.backend_pid
                waiting = asyncio.create_task(survivor.slot(HOST).__aenter__())
                await until(lambda: survivor.waits == 1, "the survivor to wait")
                with psycopg.connect(postgres_server, autocommit=True) as admin:  # its machine gone
                    admin.execute("SELECT pg_terminate_backend(%s)", [pid])
                assert await asyncio.wait_for(waiting, PATIENCE) == 0
            # The cut session, once noticed, is replaced at once: not a fall back to ungated requests.
            await survivor._release(HOST, 0)
            async with doomed.slot(HOST) as again:
                assert again == 0 and doomed._conn.info.backend_pid != pid

    asyncio.run(scenario())


def test_a_cancelled_request_gives_its_slot_back(pg_url):  # noqa: F811
    async def hold(gate: PostgresHostGate, entered: asyncio.Event) -> None:
        async with gate.slot(HOST):
            entered.set()
            await asyncio.Event().wait()  # until cancelled, as a fetch past its timeout

    async def scenario() -> None:
        async with PostgresHostGate(pg_url, 1) as gate:
            entered = asyncio.Event()
            task = asyncio.create_task(hold(gate, entered))
            await entered.wait()
            assert advisory_locks(pg_url) == 1
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert advisory_locks(pg_url) == 0
            # Cancelled while asking: whatever it got is given back.
            for _ in range(20):
                asking = asyncio.create_task(gate.slot(HOST).__aenter__())
                await asyncio.sleep(0)
                asking.cancel()
                try:
                    await asking
                except asyncio.CancelledError:
                    pass
                else:
                    await gate._release(HOST, asking.result())
            await until(lambda: not gate._held[HOST], "every slot given back")
            async with gate.slot(HOST) as slot:
                assert slot == 0

    asyncio.run(scenario())
    assert advisory_locks(pg_url) == 0


def test_without_the_database_requests_go_on_gated_by_their_process_alone(caplog):
    async def scenario() -> list:
        async with PostgresHostGate(f"postgresql://nobody@127.0.0.1:{free_port()}/none", 1) as gate:
            got = []
            for _ in range(2):
                async with gate.slot(HOST) as slot:
                    got.append(slot)
            return got

    with caplog.at_level(logging.WARNING, logger="monitor.postgres.hosts"):
        assert asyncio.run(scenario()) == [None, None]
    warnings = [r for r in caplog.records if "per-host politeness" in r.getMessage()]
    assert len(warnings) == 1  # said once, not per request


class InFlight:
    """One host's routes: counts the requests it is answering at once (the most ever in `most`),
    holds them until `opened`, then answers each after `delay` seconds (robots.txt: 404); notes
    how many each User-Agent sent."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.opened = threading.Event()
        self.lock = threading.Lock()
        self.now = self.most = self.feeds = 0
        self.agents: dict[str, int] = {}

    def __call__(self, request: Request) -> Reply:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            self.opened.wait(PATIENCE)
            if self.delay:
                time.sleep(self.delay)
        finally:
            with self.lock:
                self.now -= 1
                agent = request.headers.get("user-agent", "")
                self.agents[agent] = self.agents.get(agent, 0) + 1
                self.feeds += request.path != "/robots.txt"
        if request.path == "/robots.txt":
            return Reply(404, b"not found", {"Content-Type": "text/plain"})
        return Reply(200, RSS, {"Content-Type": "application/rss+xml"})


def test_fetchers_of_two_processes_keep_to_the_limit_together(pg_url):  # noqa: F811
    """Two Fetchers, each with its own gate (its own session), as two workers have: 2 in flight at
    most between them; without gates, each keeps to 2 on its own, 4 in all."""
    settings = FetchSettings(per_host_concurrency=2, retries=0, respect_robots=False)

    async def fetch_all(route: InFlight, server: LocalServer, gated: bool) -> None:
        async def one_process(n: int) -> None:
            gate = PostgresHostGate(pg_url, 2) if gated else None
            async with Fetcher(settings, f"process-{n}", host_gate=gate) as fetcher:
                await asyncio.gather(*(fetcher.get(server.url(f"/feed/{n}/{k}")) for k in range(6)))
            if gate is not None:
                await gate.aclose()

        everyone = asyncio.gather(one_process(0), one_process(1))
        await until(lambda: route.now == (2 if gated else 4), "the first requests to arrive")
        await asyncio.sleep(0.05)  # any request over the limit would arrive too (it would fail the test)
        route.opened.set()
        await everyone

    for gated, most in ((False, 4), (True, 2)):
        route = InFlight()
        with LocalServer() as server:
            for n in range(2):
                for k in range(6):
                    server.route(f"/feed/{n}/{k}", route)
            asyncio.run(fetch_all(route, server, gated))
        assert route.feeds == 12 and route.most == most, (gated, route.most)
    assert advisory_locks(pg_url) == 0


def test_three_workers_never_send_one_host_more_than_per_host_concurrency(tmp_path, pg_url):  # noqa: F811
    """Sixteen sources on one host, three `monitor worker` processes, each allowed four jobs at
    once: before the gate they sent up to six requests to the host at once (two each). The host
    holds every request until all three workers run, so all three have polls waiting for it."""
    host = InFlight(delay=0.05)
    with LocalServer() as site:
        site.route("/robots.txt", host)
        urls = [site.route(f"/feeds/{k}.xml", host) for k in range(16)]
        sources = "\n".join(f'  - {{name: "feed-{k:02d}", type: rss, url: "{url}", interval: 1h, '
                            f'fetch_article: never}}' for k, url in enumerate(urls))
        logs, workers = [], []
        for n in range(3):
            config = tmp_path / f"worker-{n}.yaml"  # the same but for the User-Agent: who sent what
            config.write_text(f"settings:\n  database: {pg_url}\n  user_agent: worker-{n}\n"
                              f"  fetch: {{retries: 0, per_host_concurrency: 2}}\nsources:\n{sources}\n",
                              encoding="utf-8")
            logs.append(tmp_path / f"worker-{n}.log")
            workers.append(start_monitor(config, "worker", logs[-1], "--concurrency", "4"))

        def log_text() -> str:
            return "".join(log.read_text(errors="replace")[-3000:] for log in logs)

        def wait(condition, what: str) -> None:
            deadline = time.monotonic() + PATIENCE
            while not condition():
                assert all(w.poll() is None for w in workers), "a worker stopped: " + log_text()
                if time.monotonic() > deadline:
                    raise AssertionError(f"gave up waiting for {what}: " + log_text())
                time.sleep(0.05)

        try:
            wait(lambda: all("monitor worker running" in log.read_text(errors="replace") for log in logs),
                 "the three workers to run")
            wait(lambda: host.now >= 2, "requests to reach the host")
            time.sleep(1)  # every worker's polls queue for the host meanwhile (any over the limit shows)
            host.opened.set()
            wait(lambda: host.feeds >= 16, "every source to be polled")
        finally:
            stop_monitors(workers)

    assert host.most == 2, f"{host.most} requests to one host at once (per_host_concurrency: 2)"
    senders = {agent.split()[0] for agent in host.agents}
    assert len(senders) >= 2, host.agents  # the workers shared the polls: the limit held across them
    assert advisory_locks(pg_url) == 0
