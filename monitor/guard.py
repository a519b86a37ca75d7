"""SSRF guard for URLs discovered inside fetched content (article links, child sitemaps, feeds).

A configured source URL is fetched as given; a link found in what a source sent back is not trusted:
it could point the service at itself, the LAN or a cloud metadata endpoint. Only http(s) is allowed,
and the host must not be, or resolve to, an address outside the public internet.

The guard returns the addresses it checked, and Fetcher.get connects to those (monitor.pinning), not
to whatever a second lookup answers: a DNS server that answers a public address to the check and a
loopback one to the connect (rebinding) gets nothing. Passed to Fetcher.get, the guard vets the URL,
every redirect hop, and robots.txt of the URL's host with each of its redirects.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from urllib.parse import urlsplit

from monitor.fetch import FetchError

log = logging.getLogger(__name__)

Resolver = Callable[[str, int], Awaitable[list[str]]]
# Returns the addresses the fetch may connect to (None: no opinion, resolve as usual).
Guard = Callable[[str], Awaitable[Sequence[str] | None]]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedURL(FetchError):
    """A discovered URL the guard refuses to fetch."""


async def resolve(host: str, port: int) -> list[str]:
    """Every address the host resolves to, through the event loop's resolver."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


def blocked_reason(address: IPAddress) -> str | None:
    """Why an address is not on the public internet, or None when it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    # Most specific first: Python counts loopback, link-local and the rest as "private" too.
    for reason in ("unspecified", "loopback", "link_local", "multicast", "reserved", "private"):
        if getattr(address, f"is_{reason}"):
            return reason.replace("_", "-")
    if not address.is_global:  # shared address space (100.64/10, carrier NAT) and the like
        return "non-global"
    return None


class URLGuard:
    """`await guard(url)` returns the checked addresses when the URL may be fetched, else raises
    BlockedURL. The fetch connects only to the addresses returned.

    `allow` holds (host, address) pairs to treat as public: the host may be that address. Tests use
    it to let a name stand for an internet host while it lives on 127.0.0.1; a literal address in a
    URL, or the same name resolving to anything else, is still checked.
    """

    def __init__(self, resolver: Resolver = resolve, *, allow: Iterable[tuple[str, str]] = ()):
        self._resolve = resolver
        self._allow = {(host.lower(), ipaddress.ip_address(address)) for host, address in allow}

    async def __call__(self, url: str) -> list[str]:
        try:
            parts = urlsplit(url)
            host, port = parts.hostname, parts.port
        except ValueError as exc:
            raise BlockedURL(f"refused {url!r}: malformed URL ({exc})") from None
        if parts.scheme not in ("http", "https"):
            raise BlockedURL(f"refused {url!r}: only http and https links are followed")
        if not host:
            raise BlockedURL(f"refused {url!r}: no host")
        port = port or (443 if parts.scheme == "https" else 80)
        literal = True
        try:
            addresses = [ipaddress.ip_address(host)]  # a literal needs no lookup
        except ValueError:
            literal = False
            try:
                addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in await self._resolve(host, port)]
            except (OSError, UnicodeError, ValueError) as exc:
                # Not transient on purpose: a name that does not resolve now is skipped, not retried.
                raise BlockedURL(f"refused {url}: cannot resolve {host} ({exc})") from None
        if not addresses:
            raise BlockedURL(f"refused {url}: {host} resolves to no address")
        for address in addresses:
            if not literal and (host, address) in self._allow:
                continue
            reason = blocked_reason(address)
            if reason:
                shown = host if str(address) == host else f"{host} ({address})"
                raise BlockedURL(f"refused {url}: {shown} is a {reason} address")
        return list(dict.fromkeys(str(address) for address in addresses))


def guard_for(allow_private: bool, resolver: Resolver = resolve) -> Guard | None:
    """The guard for links discovered by a source: none when the source opted in to private hosts."""
    return None if allow_private else URLGuard(resolver)
