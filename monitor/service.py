"""The long-running service: one APScheduler job per source, clean shutdown on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.config import Config, SourceConfig
from monitor.fetch import Fetcher
from monitor.pipeline import Clock, poll_source, utc_now
from monitor.store import Store

log = logging.getLogger(__name__)

# Jitter spreads sources that share an interval so they do not all fire in the same second.
MAX_JITTER_SECONDS = 60
SHUTDOWN_GRACE_SECONDS = 30


def first_run_time(source: SourceConfig, last_polled: datetime | None, now: datetime) -> datetime:
    """Overdue (or never polled) sources run at start; the others when their interval comes round."""
    if last_polled is None:
        return now
    due = last_polled + source.interval
    return now if due <= now else due


class Service:
    def __init__(self, config: Config, *, store: Store, fetcher: Fetcher, now: Clock = utc_now):
        self.config = config
        self.store = store
        self.fetcher = fetcher
        self.now = now
        self.scheduler = AsyncIOScheduler(timezone=config.settings.timezone)
        self._in_flight: set[asyncio.Task] = set()
        self._stopping = asyncio.Event()

    def schedule(self) -> None:
        now = self.now()
        for source in self.config.sources:
            if not source.enabled:
                continue
            interval = source.interval.total_seconds()
            self.scheduler.add_job(
                self._poll, IntervalTrigger(seconds=interval, jitter=min(MAX_JITTER_SECONDS, interval / 10)),
                args=[source], id=f"source:{source.name}", name=f"poll {source.name}",
                next_run_time=first_run_time(source, self.store.source_state(source.name).last_polled, now),
                max_instances=1,          # never two polls of one source at once
                coalesce=True,            # runs missed while busy or asleep collapse into one
                misfire_grace_time=None,  # a late run still runs
            )

    async def _poll(self, source: SourceConfig) -> None:
        if self._stopping.is_set():
            return
        task = asyncio.current_task()
        self._in_flight.add(task)
        try:
            await poll_source(source, fetcher=self.fetcher, store=self.store, now=self.now)
        finally:
            self._in_flight.discard(task)

    def stop(self) -> None:
        if not self._stopping.is_set():
            log.info("stopping: finishing polls in progress")
            self._stopping.set()

    async def run(self) -> None:
        """Run until stop() (or SIGTERM/SIGINT); polls in progress finish their writes first."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self.stop)
            except (NotImplementedError, RuntimeError):
                pass  # not the main thread (tests) or not supported: stop() still works
        self.schedule()
        self.scheduler.start()
        enabled = sum(1 for s in self.config.sources if s.enabled)
        log.info("monitor running: %d sources, database %s", enabled, self.config.database_path)
        try:
            await self._stopping.wait()
        finally:
            self.scheduler.shutdown(wait=False)
            if self._in_flight:
                done, pending = await asyncio.wait(set(self._in_flight), timeout=SHUTDOWN_GRACE_SECONDS)
                for task in pending:
                    task.cancel()
            log.info("monitor stopped")


async def run_service(config: Config, now: Clock = utc_now) -> None:
    store = Store(config.database_path)
    try:
        async with Fetcher(config.settings.fetch, user_agent_for(config)) as fetcher:
            await Service(config, store=store, fetcher=fetcher, now=now).run()
    finally:
        store.close()


def user_agent_for(config: Config) -> str:
    agent = config.settings.user_agent
    if config.settings.contact and config.settings.contact not in agent:
        agent = f"{agent} (contact: {config.settings.contact})"
    return agent

