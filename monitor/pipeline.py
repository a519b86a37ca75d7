"""Polls one source end to end: fetch → parse → new? → full article → match → store.

One source's failure is its own: whatever it sends back, the others go on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from datetime import datetime, timezone

from monitor.config import SourceConfig
from monitor.dedup import StoryIndex, story_assigner
from monitor.fetch import Fetcher, FetchError
from monitor.items import Item, PollReport
from monitor.sources import SourceError, source_type
from monitor.store import Match, Store

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
# Fills in the full text of new items (fetch_article); the identity when not given.
Enrich = Callable[[list[Item], SourceConfig, Fetcher], Awaitable[list[Item]]]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


async def poll_source(source: SourceConfig, *, fetcher: Fetcher, store: Store, now: Clock = utc_now,
                      matcher=None, enrich: Enrich | None = None, stories: StoryIndex | None = None) -> PollReport:
    """`matcher` is a monitor.topics.Matcher (None: store without matching); `stories` groups
    copies of one article from several outlets (None: every item is its own story)."""
    started = time.monotonic()
    state = store.source_state(source.name)
    try:
        collected = await source_type(source.type).collect(source, fetcher, state)
        items = collected.items
        if source.notify_updates:  # remember what the feed said, to notice edits later
            items = [replace(item, feed_hash=item.feed_fingerprint()) for item in items]
        fresh = _unseen(items, source.name, store)
        if source.notify_updates:
            fresh += _edited(items, fresh, source.name, store)
        if fresh and enrich is not None:
            fresh = await enrich(fresh, source, fetcher)
        fresh, matches = _match(fresh, source.name, matcher) if matcher is not None else (fresh, {})
    except (FetchError, SourceError) as exc:
        return _failed(source, store, now, str(exc), started)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a bug or an input nobody foresaw: this source fails, the others go on
        log.exception("source %r: unexpected error", source.name)
        return _failed(source, store, now, f"internal error: {type(exc).__name__}: {exc}", started)

    at = now()
    story_for = story_assigner(stories, at) if stories is not None else None
    with store.transaction():  # the items and the source's new validators, or neither
        new = [] if collected.not_modified else store.add_items(source.name, fresh, at, matches, story_for)
        store.record_success(source.name, at, etag=collected.etag, last_modified=collected.last_modified,
                             body_hash=collected.body_hash, new_items=len(new), not_modified=collected.not_modified,
                             warning=collected.warning)
    if collected.warning:
        log.warning("source %r: %s", source.name, collected.warning)
    # A copy of a story already stored is news to nobody: it is not an alert of its own.
    matched = tuple(stored.id for stored in new if matches.get(stored.key) and not stored.is_copy)
    status = "not_modified" if collected.not_modified else "ok"
    log.info("source %r: %s, %d new of %d, %d matched, %d copies of known stories", source.name, status,
             len(new), len(collected.items), len(matched), sum(1 for stored in new if stored.is_copy))
    return PollReport(source.name, status, new_items=len(new), seen_items=len(collected.items),
                      seconds=time.monotonic() - started, warning=collected.warning, matched_ids=matched)


def _unseen(items: list[Item], source_name: str, store: Store) -> list[Item]:
    """Items whose key is new to the store (and the first of any repeats within the feed)."""
    keyed = {}
    for item in items:
        keyed.setdefault(item.key(source_name), item)
    known = store.known_keys(keyed)
    return [item for key, item in keyed.items() if key not in known]


def _edited(items: list[Item], fresh: list[Item], source_name: str, store: Store) -> list[Item]:
    """Known items the outlet has edited, as update rows of their own (a new story, so the
    digest reports them again). Only for sources with notify_updates: true."""
    new_keys = {item.key(source_name) for item in fresh}
    known = {item.key(source_name): item for item in items if item.key(source_name) not in new_keys}
    edited = store.edited_items({key: item.feed_hash for key, item in known.items()})
    return [replace(known[key], revision=known[key].feed_hash[:12], title=f"{known[key].title} (updated)")
            for key in edited]


def _match(items: list[Item], source_name: str, matcher) -> tuple[list[Item], dict[str, list[Match]]]:
    """Classify each item on its main text; also records the detected language."""
    matches: dict[str, list[Match]] = {}
    classified = []
    for item in items:
        result = matcher.classify(item.title, item.content or item.summary)
        if not item.lang and result.lang:
            item = replace(item, lang=result.lang)
        classified.append(item)
        if result.match:
            matches[item.key(source_name)] = [Match(topic, result.terms, result.snippet) for topic in result.topics]
    return classified, matches


def _failed(source: SourceConfig, store: Store, now: Clock, reason: str, started: float) -> PollReport:
    store.record_failure(source.name, now(), reason)
    log.warning("source %r failing: %s", source.name, reason)
    return PollReport(source.name, "failing", seconds=time.monotonic() - started, error=reason)


async def poll_all(sources: Iterable[SourceConfig], *, fetcher: Fetcher, store: Store, now: Clock = utc_now,
                   matcher=None, enrich: Enrich | None = None, stories: StoryIndex | None = None) -> list[PollReport]:
    """Poll sources concurrently (the Fetcher's limits pace them); reports in config order."""
    return list(await asyncio.gather(*(
        poll_source(s, fetcher=fetcher, store=store, now=now, matcher=matcher, enrich=enrich, stories=stories)
        for s in sources)))


def build_matcher(config):
    """The shipped topics, overridden or extended by `topics:` in sources.yaml."""
    from monitor.topics import Matcher, compile_topic, default_topics

    topics = {topic.name: topic for topic in default_topics()}
    for name, options in config.topics.items():
        topics[name] = compile_topic(name, options.query, languages=options.languages, exclude=options.exclude)
    return Matcher(list(topics.values()))
