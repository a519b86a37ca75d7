"""Topic detection: Lucene-style boolean queries over normalized, morphology-aware tokens.

Pure functions and plain data: nothing here does I/O beyond reading the shipped topic files.
"""

from monitor.lang import detect_language

from .match import (
    Classification,
    LazyMatcher,
    Matcher,
    Topic,
    TopicOptions,
    build_matcher,
    classify_jsonl,
    compile_topic,
    default_topic_names,
    default_topics,
    load_topic_file,
    strip_comments,
)
from .query import TopicSyntaxError

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
