"""Topic detection: Lucene-style boolean queries over normalized, morphology-aware tokens.

Pure functions and plain data: nothing here does I/O beyond reading the shipped topic files.
The names below are loaded when first used: `from monitor.topics.shipped import …` (what the
configuration's check needs) then costs nothing of the matcher.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .shipped import default_topic_names

_WHERE = {  # name → the module of this package that defines it
    "Classification": "result", "LazyMatcher": "lazy", "Matcher": "match", "Topic": "match",
    "TopicOptions": "spec", "build_matcher": "match", "classify_jsonl": "match", "compile_topic": "match",
    "default_topics": "match", "load_topic_file": "match", "strip_comments": "match",
    "TopicSyntaxError": "query",
}

if TYPE_CHECKING:
    from monitor.lang import detect_language

    from .lazy import LazyMatcher
    from .match import (Matcher, Topic, build_matcher, classify_jsonl, compile_topic, default_topics, load_topic_file,
                        strip_comments)
    from .result import Classification
    from .spec import TopicOptions
    from .query import TopicSyntaxError


def __getattr__(name: str) -> Any:
    if name == "detect_language":
        from monitor.lang import detect_language

        return detect_language
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)


__all__ = [
    "Classification",
    "LazyMatcher",
    "Matcher",
    "Topic",
    "TopicOptions",
    "TopicSyntaxError",
    "build_matcher",
    "classify_jsonl",
    "compile_topic",
    "default_topic_names",
    "default_topics",
    "detect_language",
    "load_topic_file",
    "strip_comments",
]
