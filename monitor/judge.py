"""What a poll's document workers do with its new items (monitor/offload.py runs it there):
classify each on its main text, and compute a matched item's story signature beside it, so the
poll's write (monitor/store.py, which groups stories with it) does not spend its time on MinHash
and facts, the costliest part of storing a matched item."""

from __future__ import annotations

from monitor.dedup import item_signature
from monitor.topics import Classification
from monitor.topics.match import TopicsSpec, classify_batch


def judge_batch(spec: TopicsSpec, items: list[tuple[str, str, str]]) -> list[tuple[Classification, bytes | None]]:
    """Each (title, summary, content): its Classification, and item_signature() when it matched."""
    results = classify_batch(spec, [(title, content or summary) for title, summary, content in items])
    return [(result, item_signature(*item) if result.match else None) for result, item in zip(results, items)]
