"""The long-running service: a job per source, a job per digest, an outbox flush; clean shutdown."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.clock import Clock, utc_now
from monitor.config import Config, ConfigError, DigestConfig, cron_trigger, load_config
from monitor.delivery import Dispatcher
from monitor.offload import Offload
from monitor.secrets import install as install_redactor
from monitor.pipeline import Pipeline, build_pipeline
from monitor.sources import SourceConfig
from monitor.store import Store

log = logging.getLogger(__name__)

# Jitter spreads sources that share an interval so they do not all fire in the same second.
MAX_JITTER_SECONDS = 60
SHUTDOWN_GRACE_SECONDS = 30
OUTBOX_FLUSH_SECONDS = 30
SOURCES_RELOAD_SECONDS = 15  # how soon a source added to sources.yaml (from the web, or by hand) is polled


def first_run_time(source: SourceConfig, last_polled: datetime | None, now: datetime) -> datetime:
    """Overdue (or never polled) sources run at start; the others when their interval comes round."""
    if last_polled is None:
        return now
    due = last_polled + source.interval
    return now if due <= now else due


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def missed_digest_time(trigger: CronTrigger, last: datetime | None, now: datetime) -> datetime | None:
    """The latest scheduled time after `last` that has already passed (several missed: the last)."""
    if last is None:
        return None
    missed = None
    moment = trigger.get_next_fire_time(None, last + timedelta(seconds=1))
    while moment is not None and moment <= now:
        missed = moment
        moment = trigger.get_next_fire_time(moment, moment + timedelta(seconds=1))
    return missed


class Service:
    def __init__(self, config: Config, pipeline: Pipeline, *, dispatcher: Dispatcher | None = None,
                 shutdown_grace: float = SHUTDOWN_GRACE_SECONDS):
        self.config = config
        self.shutdown_grace = shutdown_grace
        self.pipeline = pipeline
        self.store = pipeline.store
        self.now = now = pipeline.now
        self.dispatcher = dispatcher or Dispatcher(config, self.store, now=now)
        self.scheduler = AsyncIOScheduler(timezone=config.settings.timezone)
        self._in_flight: set[asyncio.Task] = set()
        self._stopping = asyncio.Event()
        # One outbox pass at a time in this process. Across processes (and within one, too) a batch
        # is sent only by the dispatcher holding its claim in the database (monitor/outbox.py).
        self._delivering = asyncio.Lock()

    def schedule(self) -> None:
        now = self.now()
        for source in self.config.sources:
            self._add_source_job(source, now)
        for digest in self.config.digests:
            trigger = cron_trigger(digest.schedule, self.config.settings.timezone)
            self.scheduler.add_job(self._guarded, trigger, args=[self._digest_job, digest],
                                   id=f"digest:{digest.name}", name=f"digest {digest.name}",
                                   max_instances=1, coalesce=True, misfire_grace_time=None)
        self.scheduler.add_job(self._guarded, IntervalTrigger(seconds=OUTBOX_FLUSH_SECONDS),
                               args=[self._flush], id="outbox", name="outbox flush", max_instances=1,
                               coalesce=True, next_run_time=now)
        if self.pipeline.capture is not None:  # captures due again, rechecks, seals: monitor/evidence/
            self.scheduler.add_job(self._guarded, IntervalTrigger(minutes=5), args=[self.pipeline.capture.maintain],
                                   id="evidence", name="evidence", max_instances=1, coalesce=True, next_run_time=now)
        self.scheduler.add_job(self._guarded, IntervalTrigger(hours=6), args=[self._retention], id="retention",
                               name="retention", max_instances=1, coalesce=True,
                               next_run_time=now + timedelta(minutes=1))
        self._sources_mtime = _mtime(self.config.path)
        self.scheduler.add_job(self._guarded, IntervalTrigger(seconds=SOURCES_RELOAD_SECONDS),
                               args=[self._reload_sources], id="sources", name="sources reload", max_instances=1,
                               coalesce=True)

    async def _retention(self) -> None:
        cutoff = self.now() - self.config.settings.retention
        trimmed = await asyncio.to_thread(self.store.forget_old_text, cutoff)
        if trimmed:
            log.info("retention: the text of %d off-topic items first seen before %s was dropped (their keys "
                     "are kept)", trimmed, cutoff.date().isoformat())

    def _add_source_job(self, source: SourceConfig, now: datetime) -> None:
        if not source.enabled:
            return
        interval = source.interval.total_seconds()
        self.scheduler.add_job(
            self._guarded, IntervalTrigger(seconds=interval, jitter=min(MAX_JITTER_SECONDS, interval / 10)),
            args=[self._poll, source], id=f"source:{source.name}", name=f"poll {source.name}",
            next_run_time=first_run_time(source, self.store.source_state(source.name).last_polled, now),
            max_instances=1,          # never two polls of one source at once
            coalesce=True,            # runs missed while busy or asleep collapse into one
            misfire_grace_time=None,  # a late run still runs
        )

    async def _reload_sources(self) -> None:
        """When sources.yaml changed (a source added from the web interface or by hand): start polling
        the sources that are new or changed, stop those removed or disabled. Only `sources:` is
        taken up; other sections wait for a restart. A file that does not validate changes nothing."""
        mtime = _mtime(self.config.path)
        if mtime == self._sources_mtime:
            return
        self._sources_mtime = mtime
        try:
            fresh = load_config(self.config.path)
        except ConfigError as exc:
            log.warning("sources.yaml changed but does not validate; polling goes on as before: %s", exc)
            return
        old = {source.name: source for source in self.config.sources}
        new = {source.name: source for source in fresh.sources}
        changed = [name for name in new if old.get(name) != new[name]]
        for name in [name for name in old if old[name] != new.get(name)]:
            if self.scheduler.get_job(f"source:{name}") is not None:
                self.scheduler.remove_job(f"source:{name}")
        install_redactor(fresh.redactor)  # a ${VAR} a new source brought is hidden too
        self.config = replace(self.config, sources=fresh.sources, secrets=fresh.secrets)
        self.dispatcher.config = replace(self.dispatcher.config, sources=fresh.sources, secrets=fresh.secrets)
        now = self.now()
        for name in changed:
            self._add_source_job(new[name], now)
        gone = sorted(set(old) - set(new))
        log.info("sources.yaml changed: %d sources; started %s%s", len(new), ", ".join(changed) or "none",
                 f"; stopped {', '.join(gone)}" if gone else "")

    async def catch_up(self) -> None:
        """Send digests whose time passed while the service was down, and alerts for stories matched
        but not alerted; remember a new digest's start."""
        now = self.now()
        for digest in self.config.digests:
            trigger = cron_trigger(digest.schedule, self.config.settings.timezone)
            last = self.store.last_digest_time(digest.name)
            if last is None:
                self.store.record_digest_time(digest.name, now)  # first start: the next scheduled time is the first
                continue
            missed = missed_digest_time(trigger, last, now)
            if missed is not None:
                log.info("digest %r was due at %s while monitor was not running: sending it now",
                         digest.name, missed.isoformat(timespec="minutes"))
                await self._digest(digest, missed)
        if self.config.alerts:  # stories stored but not alerted when the service was killed
            async with self._delivering:
                await self.dispatcher.catch_up_alerts()

    async def _guarded(self, job, *args) -> None:
        if self._stopping.is_set():
            return
        task = asyncio.current_task()
        task.set_name(" ".join([job.__name__.strip("_").replace("_job", "")] + [getattr(a, "name", "") for a in args]))
        self._in_flight.add(task)
        try:
            await job(*args)
        except asyncio.CancelledError:
            if self._stopping.is_set():
                return  # cancelled after the shutdown grace: run() logged it in one line
            raise
        finally:
            self._in_flight.discard(task)

    async def _poll(self, source: SourceConfig) -> None:
        report = await self.pipeline.poll(source)
        if report.matched_ids and self.config.alerts:
            async with self._delivering:
                await self.dispatcher.alert(list(report.matched_ids))

    async def _digest_job(self, digest: DigestConfig) -> None:
        await self._digest(digest, self.now())

    async def _digest(self, digest: DigestConfig, scheduled_for: datetime) -> None:
        async with self._delivering:
            await self.dispatcher.run_digest(digest, scheduled_for)

    async def _flush(self) -> None:
        """The outbox job (every OUTBOX_FLUSH_SECONDS): alert matched stories no alert has claimed
        yet, whoever stored them (a `monitor poll` in another process too), then deliver what is due."""
        async with self._delivering:
            if self.config.alerts:
                self.dispatcher.enqueue_missed_alerts()
            await self.dispatcher.flush()

    def stop(self) -> None:
        if not self._stopping.is_set():
            log.info("stopping: finishing polls and deliveries in progress")
            self._stopping.set()

    async def run(self) -> None:
        """Run until stop() (or SIGTERM/SIGINT); work in progress finishes its writes first."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self.stop)
            except (NotImplementedError, RuntimeError):
                pass  # not the main thread (tests) or not supported: stop() still works
        web = self._open_web()  # settings.web.listen: checked and bound before anything else runs
        await self.catch_up()
        self.schedule()
        self.scheduler.start()
        if web is not None:
            web.start()
        enabled = sum(1 for s in self.config.sources if s.enabled)
        log.info("monitor running: %d sources, %d digests, database %s", enabled, len(self.config.digests),
                 self.config.database_path)
        try:
            await self._stopping.wait()
        finally:
            if web is not None:
                await web.stop()
            # No new jobs; the ones running finish (APScheduler's shutdown would cancel them).
            self.scheduler.pause()
            await self._finish_in_flight()
            self.scheduler.shutdown(wait=False)
            await self.dispatcher.aclose()
            log.info("monitor stopped")

    def _open_web(self):
        """settings.web.listen: the web interface (monitor/web/), served in this event loop. An address
        it may not use (not loopback and no MONITOR_WEB_PASSWORD, or taken) ends the service: exit 2."""
        if not self.config.settings.web.listen:
            return None
        from monitor.web.server import EmbeddedWeb, WebRefused

        try:
            return EmbeddedWeb(self.config, self.config.settings.web.listen)
        except WebRefused as exc:
            log.error("%s", exc)
            raise SystemExit(2) from None

    async def _finish_in_flight(self) -> None:
        if not self._in_flight:
            return
        log.info("stopping: waiting up to %g s for %d job(s): %s", self.shutdown_grace, len(self._in_flight),
                 ", ".join(sorted(task.get_name() for task in self._in_flight)))
        _, pending = await asyncio.wait(set(self._in_flight), timeout=self.shutdown_grace)
        for task in sorted(pending, key=lambda t: t.get_name()):
            log.warning("stopping: %s did not finish within %g s; cancelled", task.get_name(), self.shutdown_grace)
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5)


async def run_service(config: Config, now: Clock = utc_now) -> None:
    install_redactor(config.redactor)  # whoever starts the service, no secret reaches a log line
    store = Store(config.database_path)
    try:
        with Offload(config.settings.document_timeout.total_seconds(), extraction=config.reads_articles) as offload:
            async with config.fetcher() as fetcher:
                pipeline = build_pipeline(config, fetcher=fetcher, store=store, offload=offload, now=now)
                await Service(config, pipeline).run()
    finally:
        store.close()
