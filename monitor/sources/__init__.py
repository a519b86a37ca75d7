"""Source types, registered by the name used as `type:` in sources.yaml.

A source type fetches what it needs through the shared Fetcher and turns the responses into Items;
it never stores anything. To add one, subclass SourceType in a module here, decorate it with
@register("name"), give it an `options` model if it has keys of its own, and import the module at
the bottom of this file.
"""

from __future__ import annotations

from typing import ClassVar

from monitor.config import SourceConfig
from monitor.fetch import Fetcher
from monitor.items import Collected, SourceState


class SourceError(Exception):
    """The response arrived but cannot be used (not a feed, nothing parseable)."""


class SourceType:
    name: ClassVar[str]
    options: ClassVar[type[SourceConfig]] = SourceConfig

    async def collect(self, source: SourceConfig, fetcher: Fetcher, state: SourceState) -> Collected:
        raise NotImplementedError


_REGISTRY: dict[str, type[SourceType]] = {}


def register(name: str):
    def decorate(cls: type[SourceType]) -> type[SourceType]:
        cls.name = name
        _REGISTRY[name] = cls
        return cls
    return decorate


def source_types() -> dict[str, type[SourceType]]:
    return dict(_REGISTRY)


def source_type(name: str) -> SourceType:
    return _REGISTRY[name]()


from monitor.sources import rss  # noqa: E402,F401  (registers "rss")
from monitor.sources import page, sitemap, telegram  # noqa: E402,F401  (register "page", "sitemap", "telegram")
