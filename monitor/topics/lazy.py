"""The matcher as a poll holds it: the configuration's topics as plain data, compiled on first use.

Light to import (monitor/topics/match.py, the matcher itself, is loaded by the first text to
classify): a poll of unchanged feeds never classifies anything, and the document workers compile
their own from the same plain data (monitor/offload.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from .spec import TopicOptions, topics_spec

if TYPE_CHECKING:
    from .match import Matcher
    from .result import Classification


class LazyMatcher:
    """build_matcher(overrides), built on first use: the matcher's module and topics (compiled, or
    read from monitor/topics/cache.py), which a poll that brings nothing new never needs.
    classify_all() may run in a worker process (`run`, monitor/offload.py), which builds its own once."""

    def __init__(self, overrides: Mapping[str, TopicOptions] | None = None):
        self.spec = topics_spec(overrides)
        self._matcher: Matcher | None = None

    @property
    def matcher(self) -> Matcher:
        if self._matcher is None:
            from .match import build_from_spec

            self._matcher = build_from_spec(self.spec)
        return self._matcher

    def classify(self, title: str, text: str, *, language: bool = True) -> Classification:
        return self.matcher.classify(title, text, language=language)

    async def classify_all(self, texts: list[tuple[str, str]], run) -> list[Classification]:
        from .match import classify_batch

        return await run(classify_batch, self.spec, texts)
