"""CPU-bound work on one document (parsing a feed or page, extracting an article) off the event
loop, in worker processes, each document under a time limit.

A thread would not do: a pathological document holds the interpreter lock while a regular
expression or parser runs, and the event loop (other sources' schedules, SIGTERM) stalls with it.
A worker process can be abandoned instead: past the limit its pool is killed and replaced, and the
source fails with the reason while every other source goes on.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
# Imported once by the fork server, so that workers need not import them per document.
PRELOAD = ["monitor.sources", "monitor.extract", "monitor.topics"]
# `await run(fn, *args)`: how a stage runs its CPU-bound step (fn and args must pickle).
Runner = Callable[..., Awaitable[Any]]


class DocumentTimeout(Exception):
    """A document took longer than the limit to read; it was abandoned."""


async def inline(fn: Callable[..., T], *args: Any) -> T:
    """Run the step here, at once (tests, one-off commands)."""
    return fn(*args)


class Offload:
    """`await offload(fn, *args)` runs fn(*args) in a worker process, within `limit` seconds."""

    def __init__(self, limit: float, workers: int | None = None):
        self.limit = limit
        self.workers = workers or max(1, os.cpu_count() or 1)
        # forkserver: a clean process to fork workers from, never a copy of this one's threads;
        # it imports the readers once, so a worker starts ready and the limit measures the work.
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(PRELOAD)
        self._slots: asyncio.Semaphore | None = None
        self._starting: asyncio.Lock | None = None
        self._pool: ProcessPoolExecutor | None = None  # started by the first document: a poll of
        # unchanged feeds never starts it

    def _new_pool(self) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(self.workers, mp_context=self._context)
        for ready in [pool.submit(os.getpid) for _ in range(self.workers)]:
            ready.result()  # the workers are up before the first document is timed
        return pool

    async def _started(self) -> ProcessPoolExecutor:
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._pool is None:  # off the event loop: starting workers takes a moment
                self._pool = await asyncio.to_thread(self._new_pool)
            return self._pool

    async def __call__(self, fn: Callable[..., T], *args: Any) -> T:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.workers)
        async with self._slots:  # one document per worker: the limit never counts time in a queue
            return await self._run(fn, *args)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        for attempt in (1, 2):
            pool = await self._started()
            future = asyncio.get_running_loop().run_in_executor(pool, fn, *args)
            try:
                return await asyncio.wait_for(future, self.limit)
            except TimeoutError:
                self._replace(pool)
                raise DocumentTimeout(f"reading the document took longer than {self.limit:g} s "
                                      f"(settings.document_timeout); it was abandoned") from None
            except BrokenProcessPool:
                # Another document's timeout killed the pool under this one: once more, in the new pool.
                if attempt == 2:
                    raise
                self._replace(pool)
        raise AssertionError("unreachable")

    def _replace(self, pool: ProcessPoolExecutor) -> None:
        if pool is not self._pool:
            return  # already replaced by another caller
        self._pool = None  # the next document starts a new pool
        for process in list(getattr(pool, "_processes", {}).values()):
            process.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Offload:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
