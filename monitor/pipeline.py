"""Polls one source end to end: fetch → parse → store. One source's failure is its own."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone

from monitor.config import SourceConfig
from monitor.fetch import Fetcher, FetchError
from monitor.items import PollReport
from monitor.sources import SourceError, source_type
from monitor.store import Store

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


async def poll_source(source: SourceConfig, *, fetcher: Fetcher, store: Store, now: Clock = utc_now) -> PollReport:
    started = time.monotonic()
    state = store.source_state(source.name)
    try:
        collected = await source_type(source.type).collect(source, fetcher, state)
    except (FetchError, SourceError) as exc:
        return _failed(source, store, now, str(exc), started)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a bug or an input nobody foresaw: this source fails, the others go on
        log.exception("source %r: unexpected error", source.name)
        return _failed(source, store, now, f"internal error: {type(exc).__name__}: {exc}", started)

    new = [] if collected.not_modified else store.add_items(source.name, collected.items, now())
    store.record_success(source.name, now(), etag=collected.etag, last_modified=collected.last_modified,
                         body_hash=collected.body_hash, new_items=len(new), not_modified=collected.not_modified,
                         warning=collected.warning)
    if collected.warning:
        log.warning("source %r: %s", source.name, collected.warning)
    status = "not_modified" if collected.not_modified else "ok"
    log.info("source %r: %s, %d new of %d", source.name, status, len(new), len(collected.items))
    return PollReport(source.name, status, new_items=len(new), seen_items=len(collected.items),
                      seconds=time.monotonic() - started, warning=collected.warning)


def _failed(source: SourceConfig, store: Store, now: Clock, reason: str, started: float) -> PollReport:
    store.record_failure(source.name, now(), reason)
    log.warning("source %r failing: %s", source.name, reason)
    return PollReport(source.name, "failing", seconds=time.monotonic() - started, error=reason)


async def poll_all(sources: Iterable[SourceConfig], *, fetcher: Fetcher, store: Store,
                   now: Clock = utc_now) -> list[PollReport]:
    """Poll sources concurrently (the Fetcher's limits pace them); reports in config order."""
    return list(await asyncio.gather(*(poll_source(s, fetcher=fetcher, store=store, now=now) for s in sources)))
