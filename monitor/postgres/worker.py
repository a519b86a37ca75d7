"""`monitor worker`: any number of processes, on any machines, sharing the work of one PostgreSQL
database through Procrastinate (issue 16). Procrastinate's queue, locks and periodic jobs live in
the same database, in its own `procrastinate_*` tables; there is no other broker.

What each worker runs, as Procrastinate tasks on the `monitor` queue:

- a periodic poll per enabled source (`monitor.poll_source`, periodic id = the source's name), at
  its interval as a cron line (rounded down to one cron can say: 7m polls every 6 minutes; see
  interval_cron) with an offset from the name, so sources sharing an interval do not all start in
  the same second. Procrastinate defers a periodic job once per period however many workers
  run (a unique row per task, id and time). Its `lock` is the source's: one poll of a source at
  a time across every worker; its `queueing_lock` keeps one poll waiting at most.
- a digest tick per digest every minute (`monitor.digest_tick`): sends the digest when its
  schedule (in settings.timezone) came round since it last ran, as `monitor run` does;
- the outbox (`monitor.outbox_flush`, every 30 s): missed alerts enqueued, due batches delivered.
  A batch is delivered by the one process holding its claim (monitor/outbox.py), so each delivery
  id is sent once whichever workers flush;
- at a worker's start, a poll of each overdue source (catch_up), as `monitor run` polls them at
  its start;
- retention (`monitor.retention`, every 6 h);
- evidence (`monitor.evidence`, every 5 minutes, with settings.evidence on): captures due again,
  rechecks, seals and timestamps (Evidence.maintain, as `monitor run` on SQLite does every 5
  minutes); its lock lets one worker at a time run it.
- `monitor.recover_stalled` (every few seconds): the jobs of a worker that stopped sending its
  heartbeat (killed, its machine gone) go back to the queue, so their locks are freed. A poll
  killed midway stored nothing (its write is one transaction) and is simply run again.

Per-host politeness holds across workers: every request holds one of its host's
per_host_concurrency slots, advisory locks on the database (monitor/postgres/hosts.py).

Evidence: a poll captures its matched items as `monitor poll` does (each capture claimed in the
database first, so no two workers capture one item). The WARC files are written to
settings.evidence.dir of the machine whose worker captured: with workers on several machines that
folder should be one shared folder (the same path on each, e.g. a network mount), for `monitor
evidence verify`, `monitor export wacz` and the web's downloads to find every file (and the
evidence task to seal them); on one machine there is nothing to do.

Not yet: article fetches as tasks of their own (a poll fetches its articles).
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from contextlib import AsyncExitStack
from datetime import timedelta

from monitor.clock import utc_now
from monitor.config import Config, DigestConfig, cron_trigger
from monitor.dbfile import StoreError
from monitor.postgres import open_database

log = logging.getLogger(__name__)

QUEUE = "monitor"
POLL_TASK = "monitor.poll_source"
DIGEST_TASK = "monitor.digest_tick"
FLUSH_TASK = "monitor.outbox_flush"
RETENTION_TASK = "monitor.retention"
EVIDENCE_TASK = "monitor.evidence"
RECOVER_TASK = "monitor.recover_stalled"
SCHEMA_LOCK = 0x6D6F6E69746F7203     # pg_advisory_lock key: one worker applies Procrastinate's schema
DEFAULT_STALLED_AFTER = 30.0         # seconds without a heartbeat before a worker's jobs are run again
OUTBOX_CRON = "* * * * * */30"       # every 30 s (Procrastinate's 6th cron column is seconds)
RETENTION_CRON = "17 */6 * * *"
EVIDENCE_CRON = "*/5 * * * * 41"   # every 5 minutes (as monitor run's evidence job)

_SECOND_STEPS = [d for d in range(1, 61) if 60 % d == 0]      # steps a cron line repeats evenly
_HOUR_STEPS = [d for d in range(1, 25) if 24 % d == 0]


def interval_cron(name: str, interval: timedelta) -> str:
    """A cron line (Procrastinate's: minute hour day month weekday [second]) that fires every
    `interval`, rounded down to a step that divides the minute, hour or day (a poll a little more
    often, never less), starting at an offset taken from `name` (the same on every machine)."""
    seconds = max(1, int(interval.total_seconds()))
    spread = zlib.crc32(name.encode("utf-8"))
    if seconds < 60:
        step = max(d for d in _SECOND_STEPS if d <= seconds)
        return f"* * * * * {spread % step}-59/{step}"
    if seconds < 3600:
        step = max(d for d in _SECOND_STEPS if d <= seconds // 60)
        return f"{spread % step}-59/{step} * * * * {spread % 60}"
    if seconds < 86400:
        step = max(d for d in _HOUR_STEPS if d <= seconds // 3600)
        return f"{spread % 60} {spread % step}-23/{step} * * *"
    return f"{spread % 60} {spread % 24} * * *"


def stalled_recovery_cron(stalled_after: float) -> str:
    step = max(d for d in _SECOND_STEPS if d <= max(1, int(stalled_after / 3)))
    return f"* * * * * */{step}"


def require_procrastinate():
    """The procrastinate module, or a StoreError saying how to install it."""
    try:
        import procrastinate
    except ImportError as exc:
        from monitor.dbfile import StoreError

        raise StoreError("(procrastinate)", f"is needed by monitor worker and is not installed ({exc})",
                         "pip install 'monitor[postgresql]'") from exc
    return procrastinate


class Worker:
    """One `monitor worker` process: its store, fetcher, pipeline and dispatcher, and the
    Procrastinate App whose tasks use them. `run()` until SIGTERM/SIGINT."""

    def __init__(self, config: Config, *, concurrency: int = 4, stalled_after: float = DEFAULT_STALLED_AFTER,
                 web: bool = False):
        if not config.database_url:
            raise ValueError("monitor worker needs settings.database: postgresql://…")
        self.config = config
        self.concurrency = max(1, concurrency)
        self.stalled_after = max(3.0, stalled_after)
        self.heartbeat = self.stalled_after / 3
        self.web = web  # `monitor run` on PostgreSQL: serve settings.web.listen too, as run does
        self.store = None
        self.pipeline = None
        self.dispatcher = None
        self._delivering = asyncio.Lock()   # one outbox pass at a time in this process (as monitor run)
        self.app = self._build_app()

    # --- the tasks --------------------------------------------------------------------------------

    def _build_app(self):
        procrastinate = require_procrastinate()
        from procrastinate import PsycopgConnector

        app = procrastinate.App(connector=PsycopgConnector(conninfo=self.config.database_url, min_size=1,
                                                           max_size=max(2, self.concurrency + 2)))
        sources = {source.name: source for source in self.config.sources
                   if source.enabled and source.name not in self.config.unavailable_sources}
        digests = {digest.name: digest for digest in self.config.digests}

        @app.task(name=POLL_TASK, queue=QUEUE)
        async def poll_source(timestamp: int, source: str, catch_up: bool = False) -> None:
            entry = sources.get(source)
            if entry is None:  # removed from this worker's sources.yaml: another's job
                log.warning("poll of source %r skipped: not in this worker's configuration", source)
                return
            if catch_up:  # deferred at a worker's start: only if no one polled it within its interval
                last = self.store.source_state(source).last_polled
                if last is not None and last + entry.interval > utc_now():
                    return
            try:
                report = await self.pipeline.poll(entry)
            except StoreError as exc:  # the pipeline catches SQLite's errors only: say it as it would
                reason = (f"cannot store what it sent: {exc} (nothing of this poll was kept; the next poll "
                          f"tries again)")
                log.warning("source %r failing: %s", source, reason)
                try:
                    self.store.record_failure(source, utc_now(), reason)
                except StoreError:
                    pass  # the database is gone for now: the next poll says so again
                return
            if report.matched_ids and self.config.alerts:
                async with self._delivering:
                    await self.dispatcher.alert(list(report.matched_ids))

        @app.task(name=DIGEST_TASK, queue=QUEUE)
        async def digest_tick(timestamp: int, digest: str) -> None:
            entry = digests.get(digest)
            if entry is not None:
                await self._digest_tick(entry)

        @app.task(name=FLUSH_TASK, queue=QUEUE)
        async def outbox_flush(timestamp: int) -> None:
            async with self._delivering:
                if self.config.alerts:
                    self.dispatcher.enqueue_missed_alerts()
                await self.dispatcher.flush()

        @app.task(name=RETENTION_TASK, queue=QUEUE)
        async def retention(timestamp: int) -> None:
            cutoff = utc_now() - self.config.settings.retention
            trimmed = self.store.forget_old_text(cutoff)
            if trimmed:
                log.info("retention: the text of %d off-topic items first seen before %s was dropped",
                         trimmed, cutoff.date().isoformat())

        @app.task(name=EVIDENCE_TASK, queue=QUEUE)
        async def evidence(timestamp: int) -> None:
            if self.pipeline is not None and self.pipeline.capture is not None:
                await self.pipeline.capture.maintain()  # never raises: each step's failure is logged

        @app.task(name=RECOVER_TASK, queue=QUEUE)
        async def recover_stalled(timestamp: int) -> None:
            await self._recover_stalled()

        def periodic(task, cron: str, periodic_id: str, lock: str, **kwargs) -> None:
            app.periodic_registry.register_task(task=task, cron=cron, periodic_id=periodic_id, configure_kwargs={
                "lock": lock, "queueing_lock": lock, "queue": QUEUE, "task_kwargs": dict(kwargs)})

        self._poll_task, self._sources = poll_source, sources
        for name, source in sources.items():
            periodic(poll_source, interval_cron(name, source.interval), name, f"poll:{name}", source=name)
        for name in digests:
            periodic(digest_tick, "* * * * *", name, f"digest:{name}", digest=name)
        periodic(outbox_flush, OUTBOX_CRON, "", "outbox")
        periodic(retention, RETENTION_CRON, "", "retention")
        if self.config.settings.evidence.enabled:
            periodic(evidence, EVIDENCE_CRON, "", "evidence")
        periodic(recover_stalled, stalled_recovery_cron(self.stalled_after), "", "recover")
        return app

    async def _digest_tick(self, entry: DigestConfig) -> None:
        """Send the digest when its schedule came round since it last ran (the latest such time
        if several were missed), as `monitor run` does; a new digest starts counting now."""
        from monitor.service import missed_digest_time

        now = utc_now()
        last = self.store.last_digest_time(entry.name)
        if last is None:
            self.store.record_digest_time(entry.name, now)
            return
        due = missed_digest_time(cron_trigger(entry.schedule, self.config.settings.timezone), last, now)
        if due is not None:
            async with self._delivering:
                reports = await self.dispatcher.run_digest(entry, due)
            for report in reports:
                log.info("digest %r → %s: %d stories, %s", report.digest, report.channel, report.stories,
                         "delivered" if report.delivered else f"not delivered (retried): {report.error}")

    async def catch_up(self) -> None:
        """At start: a poll now for each source overdue (never polled, or not within its interval),
        as `monitor run` does; Procrastinate's periodic deferrer only defers a period that began
        in the last 10 minutes. Workers starting together queue one such poll per source (its
        queueing lock), and the poll is skipped if another worker polled the source meanwhile."""
        from procrastinate import exceptions

        now = utc_now()
        for name, source in self._sources.items():
            last = self.store.source_state(name).last_polled
            if last is not None and last + source.interval > now:
                continue
            lock = f"poll:{name}"
            try:
                await self._poll_task.configure(lock=lock, queueing_lock=lock, queue=QUEUE).defer_async(
                    timestamp=int(now.timestamp()), source=name, catch_up=True)
            except exceptions.AlreadyEnqueued:
                pass  # a poll of it waits in the queue already

    async def _recover_stalled(self) -> None:
        """Jobs left `doing` by a worker without a heartbeat for stalled_after seconds go back to
        the queue; one that cannot (a newer job of its queueing lock waits already) is marked
        failed, which frees its lock for the waiting one."""
        from procrastinate.jobs import Status

        manager = self.app.job_manager
        for job in await manager.get_stalled_jobs(queue=QUEUE, seconds_since_heartbeat=self.stalled_after):
            try:
                await manager.retry_job(job)
                log.warning("job %s (%s) of a worker that stopped: queued again", job.id, job.call_string)
            except Exception as exc:  # noqa: BLE001 - the queueing lock's unique index, or the job just finished
                log.info("job %s (%s) of a worker that stopped: not queued again (%s: %s); marked failed",
                         job.id, job.call_string, type(exc).__name__, " ".join(str(exc).split()))
                try:
                    await manager.finish_job(job, status=Status.FAILED, delete_job=False)
                except Exception as again:  # noqa: BLE001
                    log.warning("job %s: cannot mark it failed either: %s", job.id, again)

    # --- running ----------------------------------------------------------------------------------

    async def apply_schema(self) -> None:
        """Procrastinate's tables, created by the first worker (under an advisory lock, so workers
        starting together do not race); later starts find them."""
        import psycopg

        async with await psycopg.AsyncConnection.connect(self.config.database_url, autocommit=True) as conn:
            await conn.execute("SELECT pg_advisory_lock(%s)", [SCHEMA_LOCK])
            try:
                found = await (await conn.execute("SELECT to_regclass('procrastinate_jobs')")).fetchone()
                if found[0] is None:
                    await conn.execute(self.app.schema_manager.get_schema())
                    log.info("Procrastinate's schema applied to the database")
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", [SCHEMA_LOCK])

    def _open_web(self):
        """settings.web.listen, for `monitor run`: checked and bound before anything else runs; an
        address it may not use (not loopback without MONITOR_WEB_PASSWORD, or taken) ends it: exit 2."""
        if not self.web or not self.config.settings.web.listen:
            return None
        from monitor.web.server import EmbeddedWeb, WebRefused

        try:
            return EmbeddedWeb(self.config, self.config.settings.web.listen, open_store=open_database)
        except WebRefused as exc:
            log.error("%s", exc)
            raise SystemExit(2) from None

    async def run(self) -> None:
        web = self._open_web()
        try:
            await self._run(web)
        finally:
            if web is not None:
                await web.stop()

    async def _run(self, web) -> None:
        from monitor.delivery import Dispatcher
        from monitor.offload import Offload
        from monitor.pipeline import build_pipeline
        from monitor.postgres.hosts import shared_fetcher
        from monitor.postgres.store import PostgresStore

        self.store = PostgresStore(self.config.database_url)  # migrates monitor's tables (advisory lock)
        try:
            await self.apply_schema()
            async with AsyncExitStack() as stack:
                offload = stack.enter_context(Offload(self.config.settings.document_timeout.total_seconds(),
                                                      extraction=self.config.reads_articles))
                fetcher = await stack.enter_async_context(shared_fetcher(self.config))  # politeness across workers
                self.pipeline = build_pipeline(self.config, fetcher=fetcher, store=self.store, offload=offload)
                self.dispatcher = Dispatcher(self.config, self.store)
                stack.push_async_callback(self.dispatcher.aclose)
                await stack.enter_async_context(self.app.open_async())
                await self.catch_up()
                if web is not None:
                    web.start()
                log.info("monitor worker running: %d sources, %d digests, database %s, concurrency %d",
                         sum(1 for key in self.app.periodic_registry.periodic_tasks if key[0] == POLL_TASK),
                         len(self.config.digests), self.config.database_display, self.concurrency)
                await self.app.run_worker_async(
                    queues=[QUEUE], concurrency=self.concurrency, install_signal_handlers=True,
                    update_heartbeat_interval=self.heartbeat, stalled_worker_timeout=self.stalled_after,
                    delete_jobs="successful", shutdown_graceful_timeout=30)
                log.info("monitor worker stopped")
        finally:
            self.store.close()
