"""What every source type shares: the keys of a source, the registry, one conditional fetch.

A source type fetches what it needs through the shared Fetcher and turns the responses into Items;
it never stores anything.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field, field_validator

from monitor.items import Collected, SourceState
from monitor.options import Strict, duration_field
from monitor.registry import Registry
from monitor.text import HTTP_URL

# The HTTP client (and asyncio) is loaded by whoever fetches: reading sources.yaml (`monitor check`)
# needs neither, so a source module imports what only fetching needs where it fetches.
if TYPE_CHECKING:
    from monitor.fetch import Fetcher, Response
    from monitor.offload import Runner


class SourceConfig(Strict):
    """Keys every source has. A source type adds its own keys by subclassing this model."""

    name: str
    type: str
    url: str
    interval: timedelta = Field(default=timedelta(minutes=30))
    tags: list[str] = Field(default_factory=list)
    fetch_article: Literal["auto", "always", "never"] = "auto"
    allow_private: bool = False
    respect_robots: bool | None = None  # None: follow settings.fetch.respect_robots
    enabled: bool = True
    notify_updates: bool = False        # an edited article at a known URL is reported again

    _interval = field_validator("interval", mode="before")(duration_field)

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not HTTP_URL.match(value):
            raise ValueError(f"must start with http:// or https://, name a host and contain no spaces (got {value!r})")
        return value


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
                       decode: Callable[[Response], bytes] | None = None, url: str | None = None) -> Fetched | Collected:
    """GET the source's URL (or the `url` its type reads it at) with the validators of the last
    poll: a not-modified Collected on 304, else the (decoded) body and its hash. An identical body
    need not be parsed again."""
    response = await fetcher.get(url or source.url, etag=state.etag, last_modified=state.last_modified,
                                 respect_robots=source.respect_robots)
    if response.not_modified:
        return Collected(not_modified=True, etag=state.etag, last_modified=state.last_modified,
                         body_hash=state.body_hash)
    body = decode(response) if decode else response.body
    return Fetched(response, body, dict(etag=response.etag, last_modified=response.last_modified,
                                        body_hash=hashlib.sha256(body).hexdigest()))


class SourceType:
    """`run` runs the CPU-bound reading of a document (monitor.offload: in a worker process, under a
    time limit, for the service; at once by default: monitor.offload.inline)."""

    type_name: ClassVar[str]
    options: ClassVar[type[SourceConfig]] = SourceConfig

    def __init__(self, run: Runner | None = None):
        if run is None:
            from monitor.offload import inline  # with asyncio: not for reading sources.yaml

            run = inline
        self.run = run

    async def collect(self, source: SourceConfig, fetcher: Fetcher, state: SourceState) -> Collected:
        raise NotImplementedError


SOURCE_TYPES: Registry[type[SourceType]] = Registry("source type")
register = SOURCE_TYPES.register


def reads_articles(sources: Iterable[SourceConfig]) -> bool:
    """Whether any of these sources may have its article pages read (fetch_article other than never)."""
    return any(source.fetch_article != "never" for source in sources)


def source_types() -> Registry[type[SourceType]]:
    return SOURCE_TYPES


def source_type(name: str, run: Runner | None = None) -> SourceType:
    return SOURCE_TYPES[name](run)
