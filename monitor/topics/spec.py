"""A topics configuration as plain data: what the `topics:` of sources.yaml says, in the form a
document worker is sent to build the same matcher (monitor/offload.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class TopicOptions(Protocol):
    """A topic as sources.yaml writes it (monitor.config.TopicConfig)."""

    query: str
    languages: list[str] | None
    exclude: str | None


# (name, query, languages, exclude) per topic of the configuration, in name order.
TopicsSpec = tuple[tuple[str, str, tuple[str, ...] | None, str | None], ...]


def topics_spec(overrides: Mapping[str, TopicOptions] | None) -> TopicsSpec:
    return tuple((name, o.query, tuple(o.languages) if o.languages else None, o.exclude)
                 for name, o in sorted((overrides or {}).items()))
