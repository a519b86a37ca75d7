"""Per-host politeness across processes (issue 16): at most `per_host_concurrency` requests to one
host at once, counted over every `monitor worker` (and `monitor poll`, `monitor run`) sharing one
PostgreSQL database, not per process.

A host has `slots` numbered 0..slots-1; a request holds one for as long as it runs (redirects and
the body included), as a session-level advisory lock on a 64-bit key made from the host and the
slot number. Advisory locks cost no table, no row, no vacuum, and PostgreSQL drops them with the
session: a worker killed mid-request (SIGKILL, its machine gone) frees its slots when its
connection goes, with no lease to expire.

Each process takes its slots through one connection of its own. Session locks are re-entrant
within a session, so the process keeps its own record of the slots it holds and only asks for the
others. Taking a slot is one round trip whatever the number of slots (a CASE tries them in order
and stops at the first it gets), giving it back is one more. When every slot of a host is taken,
the request waits: woken at once when a request of this process gives one back, otherwise it asks
again after a short pause that doubles up to POLL_MAX (a slot freed by another process is seen
within that). No order is kept among waiters; at monitor's request rates none starves.

A connection that fails is replaced at once (the server restarted, or cut an idle connection).
If the database cannot be reached, requests go on gated by their own process only (the Fetcher's
semaphore still holds each process to the limit), with one warning; the next request after
RECONNECT_AFTER seconds tries again. Every slot of a lost connection was freed by the server.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

    from monitor.config import Config
    from monitor.fetch import Fetcher

log = logging.getLogger(__name__)

POLL_MIN = 0.01           # seconds: the first pause of a request waiting for another process's slot
POLL_MAX = 0.2            # seconds: the longest pause between two asks
RECONNECT_AFTER = 30.0    # seconds without asking the database after it could not be reached
CONNECT_TIMEOUT = 5       # seconds: a gate must not hold up fetches long when the database is away
_NAMESPACE = b"monitor host slot\0"
BUSY = -1                 # _take's answer when every slot of the host is taken


def slot_key(host: str, slot: int) -> int:
    """The advisory-lock key of one slot of one host: 64 bits of a hash, signed as bigint is."""
    digest = hashlib.blake2b(_NAMESPACE + host.encode("utf-8") + b"\0" + str(slot).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def take_statement(slots: int) -> str:
    """One statement that takes the first free slot of those offered and says which (NULL: none).
    CASE evaluates its WHEN clauses in order and stops at the first true one, so it never takes
    two; each `%s` pair is a slot's key and its number."""
    whens = " ".join("WHEN pg_try_advisory_lock(%s) THEN %s" for _ in range(slots))
    return f"SELECT CASE {whens} END"


class PostgresHostGate:
    """`async with gate.slot(host):` around each request (monitor.fetch.HostGate). Open with
    `async with PostgresHostGate(url, slots) as gate`; closing it ends its session and so frees
    any slot still held."""

    def __init__(self, url: str, slots: int, *, poll_max: float = POLL_MAX):
        self.url = url
        self.slots = max(1, slots)
        self.poll_max = poll_max
        self._conn: psycopg.AsyncConnection | None = None
        self._lock = asyncio.Lock()                    # one statement at a time on the connection
        self._held: dict[str, set[int]] = {}           # slots this process holds, per host
        self._freed: dict[str, asyncio.Event] = {}     # set (and replaced) when this process gives one back
        self._away_until = 0.0                         # the database was unreachable: not before then
        self.waits = 0                                 # requests that found every slot taken (for benches)

    async def __aenter__(self) -> PostgresHostGate:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        async with self._lock:
            await self._drop_connection()

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[int | None]:
        """Hold one of the host's slots for the body of the `with` (None: ungated, database away)."""
        taken = await self._acquire(host)
        try:
            yield taken
        finally:
            if taken is not None:
                # Shielded: a cancelled fetch must still give its slot back, or the slot would
                # stay taken for as long as this process lives.
                await asyncio.shield(self._release(host, taken))

    # --- taking and giving back ---------------------------------------------------------------------

    async def _acquire(self, host: str) -> int | None:
        pause = POLL_MIN
        waited = False
        while True:
            freed = self._freed.setdefault(host, asyncio.Event())  # taken before asking: no wake-up missed
            outcome = await self._shielded_take(host)
            if outcome != BUSY:
                return outcome
            if not waited:
                waited = True
                self.waits += 1
            try:  # a slot given back here wakes us at once; one given back elsewhere, at the next ask
                await asyncio.wait_for(freed.wait(), pause * (0.5 + random.random()))
            except TimeoutError:
                pass
            pause = min(pause * 2, self.poll_max)

    async def _shielded_take(self, host: str) -> int | None:
        """_take, finished even if the request is cancelled meanwhile (a slot it got is given back)."""
        task = asyncio.ensure_future(self._take(host))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(lambda done: self._give_back_later(host, done))
            raise

    def _give_back_later(self, host: str, done: asyncio.Future) -> None:
        if not done.cancelled() and done.exception() is None and done.result() not in (None, BUSY):
            asyncio.ensure_future(self._release(host, done.result()))

    async def _take(self, host: str) -> int | None:
        """A slot number; BUSY when every slot is taken; None when the database is away."""
        async with self._lock:
            for attempt in range(2):  # a connection the server dropped (restarted, idle cut) fails once
                held = self._held.setdefault(host, set())
                free = [s for s in range(self.slots) if s not in held]
                if not free:
                    return BUSY
                conn = await self._connection()
                if conn is None:
                    return None
                params: list[int] = []
                for s in free:
                    params += [slot_key(host, s), s]
                try:
                    row = await (await conn.execute(take_statement(len(free)), params)).fetchone()
                except Exception as exc:  # noqa: BLE001 - any failure of the gate must not fail the fetch
                    if attempt:
                        await self._lost(exc)
                        return None
                    await self._drop_connection()
                    continue
                if row[0] is None:
                    return BUSY
                held.add(row[0])
                return row[0]
        return None  # unreachable: the second attempt returns

    async def _release(self, host: str, slot: int) -> None:
        async with self._lock:
            held = self._held.get(host, set())
            if slot not in held:
                return  # its connection was lost meanwhile: the server freed it then
            held.discard(slot)
            try:
                await self._conn.execute("SELECT pg_advisory_unlock(%s)", [slot_key(host, slot)])
            except Exception:  # noqa: BLE001 - the session is gone, and its slots with it
                await self._drop_connection()
        event = self._freed.pop(host, None)
        if event is not None:
            event.set()  # wakes every waiter of this process; the next ones wait on a new event

    # --- the connection -----------------------------------------------------------------------------

    async def _connection(self) -> psycopg.AsyncConnection | None:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        if time.monotonic() < self._away_until:
            return None
        import psycopg

        try:
            self._conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True,
                                                               connect_timeout=CONNECT_TIMEOUT)
        except Exception as exc:  # noqa: BLE001
            await self._lost(exc)
            return None
        if self._away_until:
            log.info("per-host politeness is shared across workers again (the database answers)")
            self._away_until = 0.0
        return self._conn

    async def _lost(self, exc: BaseException) -> None:
        """Called under the lock. The session goes (taking every slot of ours with it); until
        RECONNECT_AFTER, requests are held to the limit by their own process only."""
        if not self._away_until:
            from monitor.secrets import redact

            log.warning("per-host politeness: the database cannot be asked for request slots (%s); each "
                        "process keeps to settings.fetch.per_host_concurrency on its own until it answers",
                        redact(" ".join(str(exc).split())) or type(exc).__name__)
        self._away_until = time.monotonic() + RECONNECT_AFTER
        await self._drop_connection()

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        for held in self._held.values():
            held.clear()  # the server frees a session's advisory locks when it ends
        if conn is not None:
            try:
                await conn.close()
            except Exception:  # noqa: BLE001 - already broken
                pass


@asynccontextmanager
async def shared_fetcher(config: Config) -> AsyncIterator[Fetcher]:
    """The configured Fetcher; on PostgreSQL with its requests gated across every process on the
    database (per_host_concurrency in all), on SQLite the plain one (one process: its own limit)."""
    if not getattr(config, "database_url", None):
        async with config.fetcher() as fetcher:
            yield fetcher
        return
    from monitor.fetch import Fetcher

    settings = config.settings.fetch
    async with PostgresHostGate(config.database_url, settings.per_host_concurrency) as gate, \
            Fetcher(settings, config.user_agent, host_gate=gate) as fetcher:
        yield fetcher
