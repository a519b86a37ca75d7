"""Source types, registered by the name used as `type:` in sources.yaml.

A source type fetches what it needs through the shared Fetcher and turns the responses into Items;
it never stores anything. To add one, subclass SourceType in a module here, decorate it with
@register("name"), give it an `options` model if it has keys of its own, and import the module at
the bottom of this file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from monitor.config import SourceConfig
from monitor.fetch import Fetcher, Response
from monitor.items import Collected, SourceState
from monitor.registry import Registry


class SourceError(Exception):
    """The response arrived but cannot be used (not a feed, nothing parseable)."""


@dataclass(frozen=True)
class Fetched:
    """A source's own URL as it answered this poll, with the validators to remember."""

    response: Response
    body: bytes
    validators: dict[str, str | None]

    def same_as_last_time(self, state: SourceState) -> bool:
        return self.validators["body_hash"] == state.body_hash

    def unchanged(self) -> Collected:
        return Collected(not_modified=True, **self.validators)


async def fetch_source(source: SourceConfig, fetcher: Fetcher, state: SourceState,
                       decode: Callable[[Response], bytes] | None = None) -> Fetched | Collected:
    """GET the configured URL with the validators of the last poll: a not-modified Collected on
    304, else the (decoded) body and its hash. An identical body need not be parsed again."""
    response = await fetcher.get(source.url, etag=state.etag, last_modified=state.last_modified,
                                 respect_robots=source.respect_robots)
    if response.not_modified:
        return Collected(not_modified=True, etag=state.etag, last_modified=state.last_modified,
                         body_hash=state.body_hash)
    body = decode(response) if decode else response.body
    return Fetched(response, body, dict(etag=response.etag, last_modified=response.last_modified,
                                        body_hash=hashlib.sha256(body).hexdigest()))


class SourceType:
    type_name: ClassVar[str]
    options: ClassVar[type[SourceConfig]] = SourceConfig

    async def collect(self, source: SourceConfig, fetcher: Fetcher, state: SourceState) -> Collected:
        raise NotImplementedError


SOURCE_TYPES: Registry[type[SourceType]] = Registry("source type")
register = SOURCE_TYPES.register


def source_types() -> Registry[type[SourceType]]:
    return SOURCE_TYPES


def source_type(name: str) -> SourceType:
    return SOURCE_TYPES[name]()


from monitor.sources import rss  # noqa: E402,F401  (registers "rss")
from monitor.sources import page, sitemap, telegram  # noqa: E402,F401  (register "page", "sitemap", "telegram")
