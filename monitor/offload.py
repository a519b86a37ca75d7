"""CPU-bound work on one document (parsing a feed or page, extracting an article) off the event
loop, in worker processes, each document under a time limit.

A thread would not do: a pathological document holds the interpreter lock while a regular
expression or parser runs, and the event loop (other sources' schedules, SIGTERM) stalls with it.
A worker process can be abandoned instead: past the limit its pool is killed and replaced, and the
source fails with the reason while every other source goes on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import importlib
import itertools
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
# Imported once by the fork server, so that workers need not import them per document, nor each
# load the shipped topics. Main-text extraction (trafilatura: ~0.3 s of CPU and 30 MB) only where
# article pages are read; without it, a worker imports it itself at the first page (a source
# added to sources.yaml while the service runs).
PRELOAD = ["monitor.preload"]
EXTRACTION = "monitor.extract"
# Documents handed to each worker at once: one at work, the others waiting, so a worker never
# idles while the event loop gets round to sending the next (it is busy storing what came back,
# for a few milliseconds a source). With one waiting, a cold `monitor poll` of 1,000 feeds took
# 11.8 s on average here; with three, 11.1 s (five runs each, alternated). The documents are in
# this process's memory either way, fetched; the fetch concurrency bounds how many.
PER_WORKER = 4
# `await run(fn, *args, stage=READ)`: how a stage runs its CPU-bound step (fn and args must pickle).
Runner = Callable[..., Awaitable[Any]]
# Which step of an item's way a document is on. Waiting documents are served the latest step first:
# what is under way is finished, and stored, before another source's feed is read. Served in
# arrival order, a cold poll of 200 feeds read all 200 before judging the first item, and stored
# nothing (the main process idle) until then.
READ, EXTRACT, JUDGE = 0, 1, 2

# In a worker process: its row of the pool's board (see _Pool).
_board_row: tuple[Any, int] | None = None


def _join_board(board, rows) -> None:
    """Worker initializer: take the next free row of the pool's board."""
    global _board_row
    with rows.get_lock():
        row, rows.value = rows.value, rows.value + 1
    _board_row = (board, row)


def _on_the_board(task: int, fn: Callable[..., T], *args: Any) -> T:
    """Run fn(*args) in a worker, its task number and start time on the board meanwhile."""
    board, row = _board_row
    board[2 * row + 1] = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process here
    board[2 * row] = task
    try:
        return fn(*args)
    finally:
        board[2 * row] = 0


class _Pool:
    """A process pool and its board: per worker, the task it is running and since when, so that
    the time limit counts a document's own work and never its wait in the queue."""

    def __init__(self, context, workers: int):
        self.board = context.Array("d", 2 * workers, lock=False)
        rows = context.Value("i", 0)
        self.executor = ProcessPoolExecutor(workers, mp_context=context, initializer=_join_board,
                                            initargs=(self.board, rows))
        for ready in [self.executor.submit(os.getpid) for _ in range(workers)]:
            ready.result()  # the workers are up before the first document is timed

    def started(self, task: int) -> float | None:
        """When a worker began `task`, or None while it waits (or once it is done)."""
        board = self.board
        for row in range(0, len(board), 2):
            if board[row] == task:
                started = board[row + 1]
                return started if board[row] == task else None  # not overwritten meanwhile
        return None


@dataclasses.dataclass(frozen=True)
class Named:
    """A worker step by its module and name, imported in the worker that runs it: the caller's
    process need not import what only the workers use (monitor.judge loads the topics' parser
    and screen, ~45 ms the poll's own process has no use for)."""

    module: str
    name: str

    def __call__(self, *args: Any) -> Any:
        return getattr(importlib.import_module(self.module), self.name)(*args)


class DocumentTimeout(Exception):
    """A document took longer than the limit to read; it was abandoned."""


async def inline(fn: Callable[..., T], *args: Any, stage: int = READ) -> T:
    """Run the step here, at once (tests, one-off commands)."""
    return fn(*args)


class _StagedSlots:
    """A semaphore whose waiters are served by stage, the latest first, then in arrival order."""

    def __init__(self, count: int):
        self._free = count
        self._waiting: list[tuple[int, int, asyncio.Future]] = []  # a heap of (-stage, arrival, future)
        self._arrivals = itertools.count()

    async def acquire(self, stage: int) -> None:
        if self._free and not self._waiting:
            self._free -= 1
            return
        granted = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (-stage, next(self._arrivals), granted))
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self.release()  # the slot came with the cancellation: pass it on
            raise  # a cancelled waiter stays in the heap; release() skips it

    def release(self) -> None:
        while self._waiting:
            granted = heapq.heappop(self._waiting)[2]
            if not granted.done():
                granted.set_result(None)
                return
        self._free += 1


class Offload:
    """`await offload(fn, *args, stage=READ)` runs fn(*args) in a worker process, within `limit`
    seconds of its own work; waiting documents of a later stage go first. `extraction`: whether
    article pages will be read (their extractor is then loaded before the workers start)."""

    def __init__(self, limit: float, workers: int | None = None, *, extraction: bool = True):
        self.limit = limit
        self.workers = workers or max(1, os.cpu_count() or 1)
        # forkserver: a clean process to fork workers from, never a copy of this one's threads;
        # it imports the readers once, so a worker starts ready and the limit measures the work.
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(PRELOAD + [EXTRACTION] if extraction else PRELOAD)
        self._slots: _StagedSlots | None = None
        self._tasks = itertools.count(1)
        self._pool: _Pool | None = None  # started by the first document (a poll of unchanged
        # feeds never starts it) or by start_early()
        self._launch: Future | None = None  # the pool being started, or started

    def start_early(self) -> None:
        """Start the workers now, in the background, for a run that will surely read documents
        (a source's first poll): the fork server's imports then overlap the first fetches instead
        of following the first answer (a cold `monitor poll` of 200 feeds: 2.52 -> 2.42 s here)."""
        self._launching()

    def _launching(self) -> Future:
        """The pool's start, begun on a thread of its own if not yet: starting workers takes a
        moment, and neither the event loop nor the caller waits for it."""
        if self._launch is None:
            launch = self._launch = Future()

            def build() -> None:
                try:
                    launch.set_result(_Pool(self._context, self.workers))
                except BaseException as exc:  # the first document's await raises it
                    launch.set_exception(exc)

            threading.Thread(target=build, name="offload-start", daemon=True).start()
        return self._launch

    async def _started(self) -> _Pool:
        while self._pool is None:
            launch = self._launching()
            try:
                pool = await asyncio.wrap_future(launch)
            except BaseException:
                if self._launch is launch and launch.done():
                    self._launch = None  # it failed to start: the next document tries again
                raise
            if self._launch is launch:  # else replaced meanwhile: wait for the new one
                self._pool = pool
        return self._pool

    async def __call__(self, fn: Callable[..., T], *args: Any, stage: int = READ) -> T:
        if self._slots is None:
            self._slots = _StagedSlots(self.workers * PER_WORKER)
        await self._slots.acquire(stage)
        try:
            return await self._run(fn, *args)
        finally:
            self._slots.release()

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        for attempt in (1, 2):
            pool = await self._started()
            task = next(self._tasks)
            future = asyncio.get_running_loop().run_in_executor(pool.executor, _on_the_board, task, fn, *args)
            try:
                return await self._within_limit(pool, task, future)
            except BrokenProcessPool:
                # Another document's timeout killed the pool under this one: once more, in the new pool.
                if attempt == 2:
                    raise
                self._replace(pool)
        raise AssertionError("unreachable")

    async def _within_limit(self, pool: _Pool, task: int, future: asyncio.Future) -> T:
        """The result, or DocumentTimeout once the task has run `limit` seconds. A waiting task is
        given `limit` at a time: the one ahead of it finishes or is abandoned within that."""
        while True:
            started = pool.started(task)
            wait = self.limit if started is None else started + self.limit - time.monotonic()
            if wait > 0:
                done, _ = await asyncio.wait({future}, timeout=wait)
                if done:
                    return future.result()
                if started is None:
                    continue  # it was waiting: see whether it runs now, and since when
            if pool.started(task) is None and future.done():
                return future.result()
            self._replace(pool)
            future.cancel()
            raise DocumentTimeout(f"reading the document took longer than {self.limit:g} s "
                                  f"(settings.document_timeout); it was abandoned")

    def _replace(self, pool: _Pool) -> None:
        if pool is not self._pool:
            return  # already replaced by another caller
        self._pool = self._launch = None  # the next document starts a new pool
        for process in list(getattr(pool.executor, "_processes", {}).values()):
            process.kill()
        pool.executor.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        launch, self._launch, self._pool = self._launch, None, None
        if launch is None:
            return
        try:
            pool = launch.result()  # a start still under way is waited for: no worker outlives this
        except BaseException:  # noqa: BLE001 - it never started: nothing to shut down
            return
        pool.executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Offload:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
