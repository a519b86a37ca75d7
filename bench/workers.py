"""Workers bench: sources polled per minute by 1, 2 and 4 real `monitor worker` processes on one
PostgreSQL database, beside two floors from the same run.

    .venv/bin/python -m bench.workers [--feeds 200] [--items 20] [--workers 1,2,4] [--jobs 4]

Set up: a PostgreSQL server of its own (tests/support/postgres.py: Debian's initdb and pg_ctl in a
temporary folder; MONITOR_TEST_POSTGRESQL=postgresql://… uses a server of yours instead), and a
subprocess serving N synthetic feeds of M items (bench/support/site.py, as bench.poll has them:
RSS 2.0, Atom and RSS 1.0, en/uk/ru, 5% on topic, ETags) on 127.0.0.1. The sources are `type: rss`,
`fetch_article: never`, `interval: 1d`; fetch.concurrency = per_host_concurrency = 20: the feeds all
sit on one host, and the per-host limit (shared by the workers through the database) must not be
what is measured.

For each worker count K: a fresh database, every source recorded as just polled (so no worker's
start-up polls anything), K `monitor worker --concurrency J` subprocesses started and waited for
(their start-up is timed apart). The bench queues polls as the periodic deferrer does at each
period (one job per source, with the source's lock): first 8 x K warm-up sources of their own,
untimed (a worker starts its document readers and compiles the topics at its first poll, once in
its life), then the N sources, timed until the queue is empty. Printed: seconds,
sources polled per minute, the CPU seconds the workers' process trees and the PostgreSQL server
spent meanwhile (the server's only when the bench started it), and the checks (every source ok, N x M items stored, the matched count).

The floors, each on a fresh database or none:
  fetch        raw httpx GETs of the same N URLs, 20 at a time, one process (bench/support/floor.py):
               what the network side alone costs.
  monitor poll one `monitor poll` of the N sources into PostgreSQL, timed from start to exit
               (interpreter start included): the same work in one process with no queue.
And what the per-host gate costs a request (monitor/postgres/hosts.py: taking a slot and giving it
back, no other process holding the host's slots), in microseconds.
The machine's core count is printed: past it, more workers cannot poll faster (each poll is CPU:
parsing, matching, storing). Exit status 0 whatever the figures; 1 if a run failed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from bench.support.cli import PollSummary, monitor, print_checks, write_config
from bench.support.floor import run_floor
from bench.support.server import SiteProcess
from bench.support.site import is_on_topic

START_PATIENCE = 120.0   # seconds for a worker to start; a guard, not a figure
RUN_PATIENCE = 900.0     # seconds for one run's queue to drain
CONCURRENCY = 20
WARM_UP = 8              # untimed polls per worker before the timed round
ON_TOPIC = 0.05


@dataclass
class WorkerRun:
    workers: int
    started: float          # seconds from launch until the last worker ran
    seconds: float          # first job queued → queue empty
    cpu: float              # CPU seconds the workers (and their document readers) spent meanwhile
    database_cpu: float     # CPU seconds PostgreSQL spent meanwhile
    ok: int                 # sources whose last poll did not fail
    items: int
    matched: int

    def per_minute(self, sources: int) -> float:
        return sources * 60 / self.seconds


def postgres_admin() -> tuple[str, object | None]:
    """An admin URL: MONITOR_TEST_POSTGRESQL's, or a server started here (returned to stop)."""
    from tests.support.postgres import PostgresServer, find_binaries

    external = os.environ.get("MONITOR_TEST_POSTGRESQL")
    if external:
        return external, None
    binaries = find_binaries()
    if binaries is None:
        raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's postgresql "
                           "package, set MONITOR_PG_BIN, or MONITOR_TEST_POSTGRESQL to a server's URL")
    server = PostgresServer(binaries).start()
    return server.admin_url, server


def postgres_config(folder: Path, sources: list[dict], url: str, name: str) -> Path:
    """bench/support/cli.py's sources.yaml, on the PostgreSQL database at `url`."""
    import yaml

    config = write_config(folder, sources, name=name,
                          fetch={"concurrency": CONCURRENCY, "per_host_concurrency": CONCURRENCY})
    document = yaml.safe_load(config.read_text(encoding="utf-8"))
    document["settings"]["database"] = url
    config.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=120), encoding="utf-8")
    return config


def mark_polled(url: str, names: list[str]) -> None:
    """Every source polled just now: a worker's start-up then polls none of them."""
    from monitor.postgres.store import PostgresStore

    store = PostgresStore(url)
    try:
        at = datetime.now(timezone.utc)
        for name in names:
            store.record_success(name, at, etag=None, last_modified=None, body_hash=None, new_items=0)
    finally:
        store.close()


def sql(url: str, statement: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(statement).fetchall()


async def queue_polls(url: str, names: list[str]) -> None:
    """One poll job per source, with the lock and queueing lock the workers' periodic polls carry."""
    import logging

    import procrastinate
    from procrastinate import PsycopgConnector

    logging.getLogger("procrastinate").setLevel(logging.ERROR)  # "App is instantiated in the main module"

    from monitor.postgres.worker import POLL_TASK, QUEUE

    app = procrastinate.App(connector=PsycopgConnector(conninfo=url, min_size=1, max_size=2))
    async with app.open_async():
        now = int(time.time())
        for name in names:
            lock = f"poll:{name}"
            await app.configure_task(POLL_TASK, queue=QUEUE, lock=lock, queueing_lock=lock).defer_async(
                timestamp=now, source=name, catch_up=False)


def pending(conn) -> int:
    """Poll jobs still queued or running (on one connection kept open: a connection per look would
    cost the server a process each, inside the timed window)."""
    return conn.execute("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'monitor.poll_source' "
                        "AND status IN ('todo', 'doing')").fetchone()[0]


def start_workers(config: Path, count: int, jobs: int, folder: Path) -> tuple[list[subprocess.Popen], list[Path]]:
    logs = [folder / f"worker-{count}-{n}.log" for n in range(count)]
    processes = [subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "worker",
                                   "--concurrency", str(jobs)], cwd=config.parent, stdout=log.open("wb"),
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
                 for log in logs]
    return processes, logs


def wait_for(condition, what: str, patience: float, processes: list[subprocess.Popen], logs: list[Path]) -> None:
    deadline = time.monotonic() + patience
    while not condition():
        if any(p.poll() is not None for p in processes):
            raise RuntimeError(f"a worker stopped while waiting for {what}:\n" + tails(logs))
        if time.monotonic() > deadline:
            raise RuntimeError(f"gave up waiting for {what}:\n" + tails(logs))
        time.sleep(0.05)


def tails(logs: list[Path]) -> str:
    return "\n".join(log.read_text(errors="replace")[-1500:] for log in logs)


def cpu_seconds(processes: list[subprocess.Popen]) -> float:
    """CPU time (user + system) of the workers and their descendants so far (0 without psutil)."""
    try:
        import psutil
    except ImportError:
        return 0.0
    total = 0.0
    for process in processes:
        try:
            root = psutil.Process(process.pid)
            for proc in [root, *root.children(recursive=True)]:
                times = proc.cpu_times()
                total += times.user + times.system
        except psutil.Error:
            continue
    return total


def postgres_cpu(server) -> float:
    """CPU time of the PostgreSQL server started here (its backends, the finished ones included:
    the postmaster reaps them), or 0 for a server of MONITOR_TEST_POSTGRESQL's."""
    try:
        import psutil

        pid = int((server.directory / "data" / "postmaster.pid").read_text().split()[0])
        root = psutil.Process(pid)
        times = root.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in root.children():
            try:
                times = child.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                continue
        return total
    except Exception:  # noqa: BLE001 - no psutil, no server of ours: the column shows 0
        return 0.0


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(40)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(process.pid, signal.SIGKILL)  # its document readers too
        except ProcessLookupError:
            pass


def run_workers(admin: str, server, sources: list[dict], warm: list[dict], count: int, jobs: int,
                folder: Path) -> WorkerRun:
    import psycopg

    from tests.support.postgres import create_database, drop_database

    url = create_database(admin)
    try:
        config = postgres_config(folder, sources + warm, url, f"workers-{count}.yaml")
        mark_polled(url, [s["name"] for s in sources + warm])
        launched = time.perf_counter()
        processes, logs = start_workers(config, count, jobs, folder)
        try:
            with psycopg.connect(url, autocommit=True) as watch:
                wait_for(lambda: all("monitor worker running" in log.read_text(errors="replace") for log in logs),
                         f"{count} workers to start", START_PATIENCE, processes, logs)
                started = time.perf_counter() - launched

                def drain(names: list[str]) -> None:
                    asyncio.run(queue_polls(url, names))
                    wait_for(lambda: pending(watch) == 0, "the polls to be done", RUN_PATIENCE, processes, logs)

                # Warm-up, untimed: each worker starts its document readers and compiles the topics
                # at its first poll, once in its life; the timed round is what a running worker does.
                drain([s["name"] for s in warm])
                clock, cpu, database = time.perf_counter(), cpu_seconds(processes), postgres_cpu(server)
                drain([s["name"] for s in sources])
                seconds, cpu = time.perf_counter() - clock, cpu_seconds(processes) - cpu
                database = postgres_cpu(server) - database
        finally:
            stop(processes)
        # not_modified: a source whose daily time fell in the last 10 minutes, which Procrastinate's
        # periodic deferrer polled again (a 304 to its ETag).
        ok = sql(url, "SELECT count(*) FROM sources WHERE last_status IN ('ok', 'not_modified')")[0][0]
        items = sql(url, "SELECT count(*) FROM items")[0][0]
        matched = sql(url, "SELECT count(DISTINCT item_id) FROM matches")[0][0]
        return WorkerRun(count, started, seconds, cpu, database, ok, items, matched)
    finally:
        drop_database(admin, url)


def gate_cost(admin: str, rounds: int = 2000) -> float:
    """Microseconds one request spends in the per-host gate when no other holds the host's slots:
    taking one and giving it back (two round trips to the database)."""
    from monitor.postgres.hosts import PostgresHostGate
    from tests.support.postgres import create_database, drop_database

    url = create_database(admin)

    async def measure() -> float:
        async with PostgresHostGate(url, CONCURRENCY) as gate:
            async with gate.slot("http://warm.example"):
                pass
            started = time.perf_counter()
            for k in range(rounds):
                async with gate.slot(f"http://host-{k % 50}.example"):
                    pass
            return (time.perf_counter() - started) / rounds * 1e6

    try:
        return asyncio.run(measure())
    finally:
        drop_database(admin, url)


def run_poll(admin: str, sources: list[dict], folder: Path):
    """`monitor poll` of every source, one process, into a fresh PostgreSQL database."""
    from tests.support.postgres import create_database, drop_database

    url = create_database(admin)
    try:
        config = postgres_config(folder, sources, url, "poll.yaml")
        return monitor(config, "poll", timeout=RUN_PATIENCE).check()
    finally:
        drop_database(admin, url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=200, metavar="N")
    parser.add_argument("--items", type=int, default=20, metavar="M")
    parser.add_argument("--workers", default="1,2,4", metavar="K,K,…", help="worker counts to run")
    parser.add_argument("--jobs", type=int, default=4, metavar="J", help="each worker's --concurrency")
    args = parser.parse_args(argv)
    try:
        counts = [int(k) for k in args.workers.split(",") if k.strip()]
    except ValueError:
        parser.error("--workers takes numbers separated by commas")
    n, m = args.feeds, args.items
    if n < 1 or m < 1 or args.jobs < 1 or not counts or min(counts) < 1:
        parser.error("need --feeds, --items, --jobs and every worker count >= 1")

    problems: list[str] = []
    admin, server = postgres_admin()
    try:
        with tempfile.TemporaryDirectory(prefix="monitor-bench-workers-") as tmp, \
                SiteProcess("bench.support.site:news_site", now=time.time(),
                            groups=[{"name": "feeds", "feeds": n, "items": m, "on_topic": ON_TOPIC},
                                    {"name": "warm", "feeds": WARM_UP * max(counts), "items": m,
                                     "on_topic": ON_TOPIC}]) as site:
            folder = Path(tmp)
            info = site.info["feeds"]
            urls = [site.url(f"/feeds/{k}.xml") for k in range(n)]
            sources = [{"name": f"feed-{k:04d}", "type": "rss", "url": url, "fetch_article": "never",
                        "interval": "1d"} for k, url in enumerate(urls)]
            warm_sources = [{"name": f"warm-{k:04d}", "type": "rss", "url": site.url(f"/warm/{k}.xml"),
                             "fetch_article": "never", "interval": "1d"} for k in range(WARM_UP * max(counts))]
            print(f"bench.workers: {n} feeds x {m} items ({info['feed_bytes'] / n / 1024:.1f} KiB a feed, "
                  f"{info['on_topic']} items on topic) on one local host; PostgreSQL "
                  f"{'of MONITOR_TEST_POSTGRESQL' if server is None else 'started by the bench'}; "
                  f"{os.cpu_count()} CPU cores; each worker --concurrency {args.jobs}")
            floor = run_floor(urls, folder, CONCURRENCY)
            gate = gate_cost(admin)
            poll = run_poll(admin, sources, folder)
            totals = PollSummary.parse(poll.stdout)
            if totals.new != n * m or totals.failing:
                problems.append(f"monitor poll: {totals.new} new items (expected {n * m}), {totals.failing} failing")
            runs = []
            for count in counts:
                warm = warm_sources[:WARM_UP * count]
                run = run_workers(admin, server, sources, warm, count, args.jobs, folder)
                runs.append(run)
                total = n + len(warm)
                if run.ok != total or run.items != total * m:
                    problems.append(f"{count} workers: {run.ok} of {total} sources ok, {run.items} items "
                                    f"(expected {total * m})")
                expected = info["on_topic"] + sum(is_on_topic(f"warm-{k}-{i}", ON_TOPIC)
                                                  for k in range(len(warm)) for i in range(m))
                if run.matched != expected:
                    problems.append(f"{count} workers: {run.matched} items matched; the site published "
                                    f"{expected} on topic")
    finally:
        if server is not None:
            server.stop()

    print()
    print(f"{'':<26}{'seconds':>9}{'sources/min':>13}{'vs 1 worker':>13}{'worker CPU':>12}{'PostgreSQL CPU':>16}"
          f"   start-up")
    print(f"{'floor: raw fetch':<26}{floor.inner:>9.2f}{n * 60 / floor.inner:>13,.0f}")
    print(f"{'floor: monitor poll':<26}{poll.seconds:>9.2f}{n * 60 / poll.seconds:>13,.0f}"
          f"{'':>41}   (included)")
    base = runs[0].per_minute(n) if runs and runs[0].workers == 1 else None
    for run in runs:
        scale = f"{run.per_minute(n) / base:.2f}x" if base else ""
        print(f"{f'{run.workers} worker' + ('s' if run.workers > 1 else ''):<26}{run.seconds:>9.2f}"
              f"{run.per_minute(n):>13,.0f}{scale:>13}{run.cpu:>10.1f} s{run.database_cpu:>14.1f} s"
              f"   {run.started:.1f} s")
    print(f"per-host gate (monitor/postgres/hosts.py): {gate:,.0f} us a request to take a slot and give it back")
    if any(run.workers > (os.cpu_count() or 1) for run in runs):
        print(f"note: {os.cpu_count()} cores: workers beyond that share them (a poll is CPU-bound here)")
    print_checks(problems)
    return 0


if __name__ == "__main__":
    sys.exit(main())
