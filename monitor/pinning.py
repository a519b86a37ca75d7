"""Connections to the addresses the SSRF guard approved, never to a second DNS answer.

The guard (monitor.guard) resolves a discovered link's host and checks every address. If httpx then
resolved the name again to connect, a DNS server answering a public address first and a loopback
or LAN address second (rebinding) would get the request past the check. A guarded fetch therefore
goes through `PinnedTransport`: its connections are opened to the addresses the guard returned,
set for the duration of one request with `pinned(addresses)`; the name is not looked up again.

Only the TCP connection changes. The URL keeps the host name, so the Host header, TLS SNI and the
certificate check (against the name, not the address) are exactly those of an unpinned request.
The transport keeps its own pool, apart from the client used for unguarded fetches: a guarded
request can reuse only a connection that was itself opened to a guard-approved address.
"""

from __future__ import annotations

import contextlib
import contextvars
import ssl
import typing
from collections.abc import Iterable, Iterator

import httpcore
import httpx

_approved: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar(
    "monitor_pinned_addresses", default=None)


@contextlib.contextmanager
def pinned(addresses: Iterable[str]) -> Iterator[None]:
    """Within the block, PinnedTransport connects only to these addresses (tried in order)."""
    token = _approved.set(tuple(dict.fromkeys(addresses)))
    try:
        yield
    finally:
        _approved.reset(token)


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """httpcore network backend that connects to the pinned addresses instead of resolving `host`.

    httpcore opens a connection in the task of the request that needs it, so the context variable
    set around that request is the one seen here. Without pinned addresses it refuses to connect:
    a guarded request must never fall back to resolving the name itself.
    """

    def __init__(self, inner: httpcore.AsyncNetworkBackend | None = None):
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: typing.Iterable[typing.Any] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        addresses = _approved.get()
        if not addresses:
            raise httpcore.ConnectError(f"no guard-approved address to connect to for {host}")
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout=timeout,
                                                     local_address=local_address,
                                                     socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc  # the next approved address, as a resolver-driven connect would
        assert failure is not None
        raise failure

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: typing.Iterable[typing.Any] | None = None,
                                  ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("a pinned connection is TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (request/response mapping, exception mapping, streaming), with its
    connection pool built on PinnedBackend. httpx takes no network backend as an argument, so the
    pool it builds is replaced by an equivalent one that has it."""

    def __init__(self, *, limits: httpx.Limits, verify: ssl.SSLContext | bool = True,
                 network_backend: httpcore.AsyncNetworkBackend | None = None):
        context = httpx.create_ssl_context(verify=verify, trust_env=False)
        super().__init__(verify=context, limits=limits, trust_env=False)
        if not isinstance(getattr(self, "_pool", None), httpcore.AsyncConnectionPool):
            raise RuntimeError("this httpx version builds its transport differently; "
                               "monitor.pinning needs updating")
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PinnedBackend(network_backend),
        )
