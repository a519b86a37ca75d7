"""The one HTTP client: timeouts, body caps, conditional GET, retries, politeness.

Everything a source sends back is untrusted: bodies are read as a stream and decompressed here,
chunk by chunk, so a 60 MB page or a gzip bomb is cut off at the cap (counted after decompression)
without ever being held in memory whole.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
import zlib
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urljoin, urlsplit

from monitor.options.fetch import DEFAULT_USER_AGENT, FetchSettings

if TYPE_CHECKING:  # loaded by the first Fetcher: commands that fetch nothing start without them
    import httpx
    from protego import Protego

log = logging.getLogger(__name__)

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
ROBOTS_MAX_BYTES = 512 * 1024
ROBOTS_TTL_SECONDS = 6 * 3600
MAX_RETRY_AFTER_SECONDS = 120.0


class FetchError(Exception):
    """A fetch that produced no usable body; `reason` is written for the person reading the log."""

    def __init__(self, reason: str, *, transient: bool = False, status: int | None = None,
                 retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.status = status
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True)
class Response:
    url: str                      # after redirects
    status: int
    headers: httpx.Headers
    body: bytes                   # decompressed; empty on 304
    elapsed: float

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


Sleep = Callable[[float], Awaitable[None]]
# Vets a URL before any request; returns the addresses to connect to (None: resolve as usual).
Guard = Callable[[str], Awaitable[Sequence[str] | None]]


class HostGate(Protocol):
    """Request slots per host shared with other processes (monitor.postgres.hosts on PostgreSQL).
    Entered inside this process's own per-host semaphore, before the request's timeout starts."""

    def slot(self, host: str) -> AbstractAsyncContextManager[object]: ...


_UNGATED = nullcontext()  # re-entrant and stateless: one for every fetch without a gate


class Fetcher:
    """Shared by every source of a run; use as `async with Fetcher(...) as fetcher`.

    `host_gate` (optional) also holds each request to per_host_concurrency across processes;
    without one, this process's per-host semaphore is the only limit."""

    def __init__(self, settings: FetchSettings | None = None, user_agent: str = DEFAULT_USER_AGENT, *,
                 client: httpx.AsyncClient | None = None, sleep: Sleep = asyncio.sleep,
                 rng: Callable[[], float] = random.random, host_gate: HostGate | None = None):
        import httpx

        self.settings = settings or FetchSettings()
        self.user_agent = user_agent
        self.max_bytes = int(self.settings.max_body_mb * 1024 * 1024)
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(
                connect=self.settings.connect_timeout.total_seconds(),
                read=self.settings.read_timeout.total_seconds(),
                write=self.settings.read_timeout.total_seconds(),
                pool=self.settings.total_timeout.total_seconds(),
            ),
            limits=httpx.Limits(max_connections=self.settings.concurrency,
                                max_keepalive_connections=self.settings.concurrency),
            follow_redirects=False,  # followed by hand: each hop is counted and checked
            trust_env=False,
        )
        self._sleep = sleep
        self._rng = rng
        self._global = asyncio.Semaphore(self.settings.concurrency)
        self._per_host: dict[str, asyncio.Semaphore] = {}
        self._host_gate = host_gate
        self._robots: dict[str, tuple[float, Protego | None]] = {}
        self._robots_locks: dict[str, asyncio.Lock] = {}
        self._pinned: httpx.AsyncClient | None = None  # guarded fetches; made on first use

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()
        if self._pinned is not None:
            await self._pinned.aclose()
            self._pinned = None

    # --- public ---------------------------------------------------------------------------------

    async def get(self, url: str, *, etag: str | None = None, last_modified: str | None = None,
                  respect_robots: bool | None = None, max_bytes: int | None = None,
                  guard: Guard | None = None) -> Response:
        """GET with retries for transient failures; raises FetchError with a readable reason.

        `guard` (see monitor.guard) vets the URL and every redirect target before any request is
        sent to it, and so robots.txt of the URL's host and each of its redirects; it raises a
        FetchError to refuse. The addresses it returns are the only ones connected to (no second
        DNS lookup). Without a guard (a configured source's own URL) robots.txt is unguarded too.
        """
        approved = await guard(url) if guard is not None else None
        obey_robots = self.settings.respect_robots if respect_robots is None else respect_robots
        if obey_robots and not await self._robots_allow(url, guard):
            raise FetchError(f"disallowed by {_origin(url)}/robots.txt for our user agent "
                             "(set respect_robots: false on the source to override)")
        attempts = self.settings.retries + 1
        for attempt in range(attempts):
            try:
                return await self._get_once(url, etag, last_modified, max_bytes or self.max_bytes, guard,
                                            approved)
            except FetchError as exc:
                if not exc.transient or attempt == attempts - 1:
                    if attempt:
                        exc.reason += f" (after {attempt + 1} attempts)"
                    raise
                delay = self.settings.backoff.total_seconds() * (2 ** attempt) * (0.5 + self._rng())
                if exc.retry_after is not None:
                    delay = max(delay, min(exc.retry_after, MAX_RETRY_AFTER_SECONDS))
                log.debug("retrying %s in %.1fs: %s", url, delay, exc.reason)
                await self._sleep(delay)
        raise AssertionError("unreachable")

    # --- one attempt ----------------------------------------------------------------------------

    async def _get_once(self, url: str, etag: str | None, last_modified: str | None, max_bytes: int,
                        guard: Guard | None = None, approved: Sequence[str] | None = None) -> Response:
        """One attempt, redirects followed. `approved`: what the guard returned for `url`."""
        import httpx
        headers = {"User-Agent": self.user_agent, "Accept-Encoding": "gzip, deflate",
                   "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, "
                             "text/xml;q=0.9, text/html;q=0.8, */*;q=0.5"}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        host = _origin(url)
        started = time.monotonic()
        total = self.settings.total_timeout.total_seconds()
        try:
            async with self._global, self._host_semaphore(host), self._gate(host), asyncio.timeout(total):
                visited = [url]
                while True:
                    response = await self._send(url, headers, approved)
                    try:
                        if response.status_code in _REDIRECTS:
                            url = self._next_hop(response, url, visited)
                            approved = await guard(url) if guard is not None else None
                            visited.append(url)
                            if _origin(url) != host:
                                headers.pop("If-None-Match", None)  # validators belong to the first host
                                headers.pop("If-Modified-Since", None)
                            continue
                        if response.status_code == 304:
                            # Read the (empty) body so the connection goes back to the pool
                            # instead of being closed: a 304 pass must not cost a handshake each.
                            await response.aread()
                            return Response(url, 304, response.headers, b"", time.monotonic() - started)
                        if response.status_code >= 400:
                            raise FetchError(
                                f"HTTP {response.status_code} {response.reason_phrase}".rstrip() + f" from {url}",
                                transient=response.status_code in TRANSIENT_STATUSES,
                                status=response.status_code,
                                retry_after=_retry_after(response.headers.get("retry-after")),
                            )
                        body = await _read_capped(response, max_bytes)
                        return Response(str(response.url), response.status_code, response.headers, body,
                                        time.monotonic() - started)
                    finally:
                        await response.aclose()
        except FetchError:
            raise
        except TimeoutError:
            raise FetchError(f"timed out after {total:g}s in total fetching {url}", transient=True)
        except httpx.ConnectTimeout:
            raise FetchError(f"connect timed out after {self.settings.connect_timeout.total_seconds():g}s "
                             f"to {host}", transient=True)
        except httpx.ReadTimeout:
            raise FetchError(f"no data for {self.settings.read_timeout.total_seconds():g}s (read timeout) "
                             f"from {url}", transient=True)
        except httpx.TimeoutException as exc:
            raise FetchError(f"timed out ({type(exc).__name__}) fetching {url}", transient=True)
        except httpx.ConnectError as exc:
            raise FetchError(f"cannot connect to {host}: {_cause(exc)}", transient=True)
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            raise FetchError(f"connection broke while fetching {url}: {_cause(exc)}", transient=True)
        except httpx.UnsupportedProtocol:
            raise FetchError(f"unsupported URL scheme in {url}")
        except (httpx.InvalidURL, ValueError) as exc:
            raise FetchError(f"invalid URL {url!r}: {exc}")
        except httpx.HTTPError as exc:
            raise FetchError(f"HTTP error fetching {url}: {_cause(exc)}")

    def _next_hop(self, response: httpx.Response, url: str, visited: list[str]) -> str:
        location = response.headers.get("location")
        if not location:
            raise FetchError(f"HTTP {response.status_code} redirect without a Location header from {url}")
        target = urljoin(url, location)
        if urlsplit(target).scheme not in ("http", "https"):
            raise FetchError(f"redirect from {url} to a non-http(s) URL {target!r}")
        if target in visited:
            raise FetchError(f"redirect loop: {' -> '.join(visited + [target])}")
        if len(visited) > self.settings.max_redirects:
            raise FetchError(f"too many redirects (more than {self.settings.max_redirects}) starting at {visited[0]}")
        return target

    async def _send(self, url: str, headers: dict[str, str],
                    approved: Sequence[str] | None) -> httpx.Response:
        """Send one request; with guard-approved addresses, connect to those and nothing else.

        Pinned requests go through their own client: they never reuse a pooled connection that
        was opened by an unguarded fetch to an address nobody checked. Unguarded fetches keep
        the shared client and its pool.
        """
        if approved is None:  # no guard, or one with no opinion; an empty list connects nowhere
            request = self._client.build_request("GET", url, headers=headers)
            return await self._client.send(request, stream=True)
        from monitor.pinning import pinned

        client = self._pinned_client()
        request = client.build_request("GET", url, headers=headers)
        with pinned(approved):  # read by the connection, which httpcore opens in this task
            return await client.send(request, stream=True)

    def _pinned_client(self) -> httpx.AsyncClient:
        import httpx

        from monitor.pinning import PinnedTransport

        if self._pinned is None:
            limits = httpx.Limits(max_connections=self.settings.concurrency,
                                  max_keepalive_connections=self.settings.concurrency)
            self._pinned = httpx.AsyncClient(timeout=self._client.timeout,
                                             transport=PinnedTransport(limits=limits),
                                             follow_redirects=False, trust_env=False)
        return self._pinned

    def _host_semaphore(self, host: str) -> asyncio.Semaphore:
        if host not in self._per_host:
            self._per_host[host] = asyncio.Semaphore(self.settings.per_host_concurrency)
        return self._per_host[host]

    def _gate(self, host: str) -> AbstractAsyncContextManager[object]:
        return _UNGATED if self._host_gate is None else self._host_gate.slot(host)

    # --- robots.txt -----------------------------------------------------------------------------

    async def _robots_allow(self, url: str, guard: Guard | None = None) -> bool:
        origin = _origin(url)
        lock = self._robots_locks.setdefault(origin, asyncio.Lock())
        async with lock:  # one robots.txt fetch per host, however many sources share it
            cached = self._robots.get(origin)
            if cached is None or time.monotonic() - cached[0] > ROBOTS_TTL_SECONDS:
                cached = (time.monotonic(), await self._load_robots(origin, guard))
                self._robots[origin] = cached
        rules = cached[1]
        return rules is None or rules.can_fetch(url, self.user_agent)

    async def _load_robots(self, origin: str, guard: Guard | None = None) -> Protego | None:
        """robots.txt of `origin`, behind the guard of the fetch that needs it (and each redirect)."""
        robots_url = origin + "/robots.txt"
        try:
            approved = await guard(robots_url) if guard is not None else None
            response = await self._get_once(robots_url, None, None, ROBOTS_MAX_BYTES, guard, approved)
        except FetchError as exc:
            # No answer, 4xx, 5xx, or a hop the guard refused (never requested): crawl, as without
            # a robots.txt. A source that is down fails on its own fetch anyway; a guarded page is
            # still checked itself.
            log.debug("robots.txt of %s unavailable (%s): allowing", origin, exc.reason)
            return None
        try:
            from protego import Protego

            return Protego.parse(response.body.decode("utf-8", errors="replace"))
        except Exception:  # a garbled robots.txt must not stop a source
            return None


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(f"response too large: Content-Length {int(declared):,} bytes exceeds the "
                         f"{max_bytes:,}-byte cap from {response.url}")
    decoder = _Decoder(response.headers.get("content-encoding", ""), str(response.url))
    body = bytearray()
    raw_total = 0
    async for chunk in response.aiter_raw():
        raw_total += len(chunk)
        if raw_total > max_bytes:
            raise FetchError(f"response too large: more than {max_bytes:,} bytes from {response.url}")
        decoder.feed(chunk, body, max_bytes)
    decoder.finish(body, max_bytes)
    return bytes(body)


class _Decoder:
    """Streaming gzip/deflate decoding that never expands past the cap (gzip bombs stop here)."""

    def __init__(self, content_encoding: str, url: str):
        self.url = url
        codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if len(codings) > 1:
            raise FetchError(f"unsupported stacked Content-Encoding {content_encoding!r} from {url}")
        self.coding = codings[0] if codings else ""
        self._z = None
        if self.coding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self.coding == "deflate":
            self._z = None  # zlib-wrapped or raw deflate: decided on the first bytes
        elif self.coding:
            raise FetchError(f"unsupported Content-Encoding {self.coding!r} from {url}")

    def feed(self, chunk: bytes, out: bytearray, max_bytes: int) -> None:
        if not self.coding:
            out += chunk
            if len(out) > max_bytes:
                raise self._too_large(max_bytes)
            return
        if self._z is None:
            self._z = zlib.decompressobj(zlib.MAX_WBITS if _looks_zlib(chunk) else -zlib.MAX_WBITS)
        data = chunk
        try:
            while data and not self._z.eof:
                out += self._z.decompress(data, max_bytes - len(out) + 1)
                if len(out) > max_bytes:
                    raise self._too_large(max_bytes)
                data = self._z.unconsumed_tail
        except zlib.error as exc:
            raise FetchError(f"corrupt {self.coding} body from {self.url}: {exc}")

    def finish(self, out: bytearray, max_bytes: int) -> None:
        if self._z is not None:
            try:
                out += self._z.flush(max_bytes - len(out) + 1)
            except zlib.error as exc:
                raise FetchError(f"corrupt {self.coding} body from {self.url}: {exc}")
            if len(out) > max_bytes:
                raise self._too_large(max_bytes)

    def _too_large(self, max_bytes: int) -> FetchError:
        what = "after decompression " if self.coding else ""
        return FetchError(f"response too large: more than {max_bytes:,} bytes {what}from {self.url}")


def _looks_zlib(chunk: bytes) -> bool:
    return len(chunk) >= 2 and (chunk[0] & 0x0F) == 8 and ((chunk[0] << 8) | chunk[1]) % 31 == 0


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _cause(exc: BaseException) -> str:
    # httpx wraps the OS error; the innermost message ("Connection refused") is the useful one.
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__
    if isinstance(exc, ConnectionRefusedError) or "Connect call failed" in str(exc):
        return "connection refused"
    text = str(exc) or type(exc).__name__
    return text.split("] ", 1)[-1]
