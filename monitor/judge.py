"""What a poll's document workers do with its new items (monitor/offload.py runs it there):
classify each on its main text, and compute a matched item's story signature beside it, so the
poll's write (monitor/store.py, which groups stories with it) does not spend its time on MinHash
and facts, the costliest part of storing a matched item."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from monitor.article import needs_article
from monitor.dedup import item_signature
from monitor.items import Item
from monitor.topics import Classification
from monitor.topics.match import TopicsSpec, classify_batch

Judgement = tuple[Classification, "bytes | None"]
JUDGED_AT_ONCE = 25  # items judged between two looks at the clock (~1 ms of off-topic news; ~25 ms on topic)


def judge_batch(spec: TopicsSpec, items: list[tuple[str, str, str]]) -> list[Judgement]:
    """Each (title, summary, content): its Classification, and item_signature() when it matched."""
    results = classify_batch(spec, [(title, content or summary) for title, summary, content in items])
    return [(result, item_signature(*item) if result.match else None) for result, item in zip(results, items)]


def read_and_judge(spec: TopicsSpec, article_policy: str, budget: float | None, read: Callable[..., Any], *args: Any
                   ) -> tuple[Any, dict[tuple[str, str, str], Judgement]]:
    """read(*args) (a source type's parse of its document), and the judgement of each item it
    read whose text is final, by (title, summary, content): those the article stage will not
    complete under `article_policy` (a source's fetch_article, or "never" when the poll reads no
    articles). On a source's first poll every item is new: judging them in the call that parsed
    them spares sending each text to a worker again. Judging stops once the call has run `budget`
    seconds (the document's time limit is for reading it): the items left are judged on their own."""
    started = time.monotonic()
    result = read(*args)
    items = [item for item in getattr(result, "items", None) or ()
             if isinstance(item, Item) and not needs_article(item, article_policy)]
    texts = list(dict.fromkeys((item.title, item.summary, item.content) for item in items))
    judged: dict[tuple[str, str, str], Judgement] = {}
    for start in range(0, len(texts), JUDGED_AT_ONCE):
        if budget is not None and time.monotonic() - started > budget:
            break
        chunk = texts[start:start + JUDGED_AT_ONCE]
        judged.update(zip(chunk, judge_batch(spec, chunk)))
    return result, judged
