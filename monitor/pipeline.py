"""Polls one source end to end: fetch → parse → new? → full article → match → story → store.

One source's failure is its own: whatever it sends back, the others go on. `monitor poll` and the
service build the same Pipeline with build_pipeline; tests build one from real local parts.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from monitor.article import Pages, complete_items
from monitor.clock import Clock, utc_now
from monitor.config import Config
from monitor.dedup import StoryIndex, load_index, story_assigner
from monitor.evidence.capture import Evidence
from monitor.fetch import Fetcher, FetchError
from monitor.items import Item, Match, PollReport, SourceState
from monitor.offload import JUDGE, READ, DocumentTimeout, Named, Runner, inline
from monitor.sources import SourceConfig, SourceError, source_type
from monitor.store import Store, StoreError
from monitor.topics.lazy import LazyMatcher

if TYPE_CHECKING:  # the matcher is loaded by the first new item (monitor/topics/lazy.py)
    from monitor.judge import Judgement
    from monitor.topics import Classification, Matcher

log = logging.getLogger(__name__)
# Each new item's match and story signature, in a document worker (monitor/judge.py)
JUDGE_BATCH = Named("monitor.judge", "judge_batch")
# A source's document read and its items judged in the same worker call (a source's first poll)
READ_AND_JUDGE = Named("monitor.judge", "read_and_judge")


@dataclass
class Pipeline:
    """Everything a poll needs, passed in (tests pass real local parts).

    `matcher` None stores without matching; `fetch_articles` False keeps items as the source gave
    them (else each source's fetch_article policy applies); `stories` None makes every item its own
    story."""

    fetcher: Fetcher
    store: Store
    now: Clock = utc_now
    matcher: Matcher | LazyMatcher | None = None
    fetch_articles: bool = False
    stories: StoryIndex | None = None
    offload: Runner = inline   # how documents are read: monitor.offload.Offload for the service
    capture: Evidence | None = None  # evidence of each poll's matched items, once stored (monitor/evidence/)

    async def poll_all(self, sources: Iterable[SourceConfig],
                       on_done: Callable[[PollReport], None] | None = None) -> list[PollReport]:
        """Poll sources concurrently (the Fetcher's limits pace them); reports in config order.
        `on_done` is given each report as its source finishes (`monitor poll`'s progress line)."""
        async def reported(source: SourceConfig) -> PollReport:
            report = await self.poll(source)
            if on_done is not None:
                on_done(report)
            return report

        return list(await asyncio.gather(*(reported(source) for source in sources)))

    async def poll(self, source: SourceConfig) -> PollReport:
        started = time.monotonic()
        state = self.store.source_state(source.name)
        judged: Judged = {}
        try:
            reader = self._reader(source, state, judged)
            collected = await source_type(source.type, reader).collect(source, self.fetcher, state)
            items = collected.items
            if source.notify_updates:  # remember what the feed said, to notice edits later
                items = [replace(item, feed_hash=item.feed_fingerprint()) for item in items]
            fresh, known = _unseen(items, source.name, self.store)
            adopted = await self._adopt(known, source)
            if source.notify_updates:
                fresh.update(_edited(items, fresh, source.name, self.store))
            pages: Pages = {}
            if fresh and self.fetch_articles:
                fresh = await _with_articles(fresh, source, self.fetcher, self.offload, pages, self.now)
            fresh, matches, signed = await self._match(fresh, judged) if self.matcher is not None else (fresh, {}, {})
            # Only a matched item's page is evidence to keep; the others go now.
            pages = {fresh[key].url: pages[fresh[key].url] for key in matches if fresh[key].url in pages}
        except (FetchError, SourceError, DocumentTimeout) as exc:
            return self._failed(source, str(exc), started)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or an input nobody foresaw: this source fails, the others go on
            log.exception("source %r: unexpected error", source.name)
            return self._failed(source, f"internal error: {type(exc).__name__}: {exc}", started)

        at = self.now()
        story_for = story_assigner(self.stories, at, signed) if self.stories is not None else None
        try:
            # The items and the source's new validators, or neither; the story index keeps only
            # what was committed. After a failed write the next poll fetches and stores it all.
            with self.stories.transaction() if self.stories is not None else nullcontext(), \
                    self.store.transaction():
                new = [] if collected.not_modified else self.store.add_items(
                    source.name, fresh, at, matches, story_for, group_unmatched=self.matcher is None)
                self.store.adopt(source.name, adopted, at)
                self.store.record_success(source.name, at, etag=collected.etag,
                                          last_modified=collected.last_modified, body_hash=collected.body_hash,
                                          new_items=len(new), not_modified=collected.not_modified,
                                          warning=collected.warning)
        except (sqlite3.Error, StoreError) as exc:  # disk full, I/O error, locked too long; PostgreSQL's faults
            return self._failed(source, f"cannot store what it sent: {exc} (nothing of this poll was kept; "
                                        f"the next poll tries again)", started)
        if collected.warning:
            log.warning("source %r: %s", source.name, collected.warning)
        # A copy of a story already stored is news to nobody: it is not an alert of its own.
        matched = tuple(stored.id for stored in new if matches.get(stored.key) and not stored.is_copy) + tuple(adopted)
        if self.capture is not None:  # copies too: each outlet's page is evidence; never raises
            captured = [stored for stored in new if matches.get(stored.key)]
            await self.capture(source, [stored.id for stored in captured] + list(adopted),
                               pages={stored.id: pages[stored.item.url] for stored in captured
                                      if stored.item.url in pages})
        status = "not_modified" if collected.not_modified else "ok"
        log.info("source %r: %s, %d new of %d, %d matched, %d copies of known stories", source.name, status,
                 len(new), len(collected.items), len(matched), sum(1 for stored in new if stored.is_copy))
        return PollReport(source.name, status, new_items=len(new), seen_items=len(collected.items),
                          seconds=time.monotonic() - started, warning=collected.warning, matched_ids=matched,
                          new_ids=tuple(stored.id for stored in new))

    def _reader(self, source: SourceConfig, state: SourceState, judged: Judged) -> Runner:
        """The source type's runner. For a source never polled before, whose items are therefore
        all new, each document it reads comes back with its items judged (into `judged`): read
        and judged in one worker call. Later polls judge only the items the store does not know."""
        if state.last_ok is not None or self.stories is None or not self._in_workers():
            return self.offload
        policy = source.fetch_article if self.fetch_articles else "never"
        limit = getattr(self.offload, "limit", None)  # an Offload's per-document limit: judging keeps to half of it
        budget = limit / 2 if limit else None

        async def read(fn: Callable, *args, stage: int = READ):
            if stage != READ:
                return await self.offload(fn, *args, stage=stage)
            result, judgements = await self.offload(READ_AND_JUDGE, self.matcher.spec, policy, budget, fn,
                                                     *args, stage=stage)
            judged.update(judgements)
            return result
        return read

    async def _match(self, fresh: Keyed, judged: Judged) -> tuple[Keyed, dict[str, list[Match]], Signed]:
        """The items (with their language), the matches by key, and the story signatures of the
        matched items where the document workers computed them (else story_for does). `judged`:
        what the workers already judged, by text (those not there are judged now)."""
        if not fresh:
            return fresh, {}, {}
        items = list(fresh.values())
        if self.stories is not None and self._in_workers():
            texts = [(item.title, item.summary, item.content) for item in items]
            missing = list(dict.fromkeys(text for text in texts if text not in judged))
            if missing:
                judged.update(zip(missing, await self.offload(JUDGE_BATCH, self.matcher.spec, missing, stage=JUDGE)))
            judgements = [judged[text] for text in texts]
            signed = {text: blob for text, (_, blob) in zip(texts, judgements) if blob is not None}
            return (*_matched(fresh, [result for result, _ in judgements]), signed)
        return (*_matched(fresh, await self._classify(items)), {})

    def _in_workers(self) -> bool:
        return isinstance(self.matcher, LazyMatcher) and self.offload is not inline

    async def _classify(self, items: list[Item]) -> list[Classification]:
        """Classify each item on its main text (in a worker process when the pipeline has one)."""
        texts = [(item.title, item.content or item.summary) for item in items]
        if self._in_workers():
            return await self.matcher.classify_all(texts, functools.partial(self.offload, stage=JUDGE))
        return [self.matcher.classify(title, text, language=False) for title, text in texts]

    async def _adopt(self, known: Keyed, source: SourceConfig) -> dict[int, tuple[Item, list[Match]]]:
        """Items this source publishes that another source stored first without a match (a link to
        the article in someone else's feed) and that match here: item id → (the report, its matches)."""
        if self.matcher is None or not known:
            return {}
        elsewhere = self.store.unmatched_from_elsewhere(known, source.name)
        if not elsewhere:
            return {}
        items = [known[key] for key in elsewhere]
        if self.fetch_articles:
            items = await complete_items(items, source, self.fetcher, self.offload)
        results = await self._classify(items)
        return {item_id: (item if item.lang else item.in_language(result.lang),
                          [Match(topic, result.terms, result.snippet) for topic in result.topics])
                for item_id, item, result in zip(elsewhere.values(), items, results) if result.match}

    def _failed(self, source: SourceConfig, reason: str, started: float) -> PollReport:
        try:
            self.store.record_failure(source.name, self.now(), reason)
        except (sqlite3.Error, StoreError) as exc:  # a full disk may refuse this small write too: say so, go on
            log.error("source %r: cannot record its failure either: %s", source.name, exc)
        log.warning("source %r failing: %s", source.name, reason)
        return PollReport(source.name, "failing", seconds=time.monotonic() - started, error=reason)


def build_pipeline(config: Config, *, fetcher: Fetcher, store: Store, offload: Runner = inline,
                   now: Clock = utc_now) -> Pipeline:
    """The pipeline as shipped: the configured topics, full articles, stories grouped; documents
    read by `offload` (the commands pass an Offload with settings.document_timeout)."""
    return Pipeline(fetcher=fetcher, store=store, now=now, matcher=LazyMatcher(config.topics),
                    fetch_articles=True, stories=load_index(store, now()), offload=offload,
                    capture=_evidence(config, fetcher=fetcher, store=store, now=now))



def _evidence(config: Config, *, fetcher: Fetcher, store: Store, now: Clock) -> Evidence | None:
    """The evidence step as configured (None with settings.evidence.enabled: false)."""
    settings = config.settings.evidence
    if not settings.enabled:
        return None
    return Evidence(settings, settings.folder(config.path.parent), store, fetcher,
                    sources={source.name: source for source in config.sources}, now=now)

# Items travel by key from here on: the key is computed once, when the item is first seen, and
# again only for an item whose article page named its canonical URL.
Keyed = dict[str, Item]


def _unseen(items: list[Item], source_name: str, store: Store) -> tuple[Keyed, Keyed]:
    """The items whose key is new to the store (the first of any repeats within the feed), and
    the ones it knows."""
    keyed: Keyed = {}
    for item in items:
        keyed.setdefault(item.key(source_name), item)
    known = store.known_keys(keyed)
    return ({key: item for key, item in keyed.items() if key not in known},
            {key: item for key, item in keyed.items() if key in known})


def _edited(items: list[Item], fresh: Keyed, source_name: str, store: Store) -> Keyed:
    """Known items the outlet has edited, as update rows of their own (a new story, so the
    digest reports them again). Only for sources with notify_updates: true."""
    known = {key: item for item in items if (key := item.key(source_name)) not in fresh}
    edited = store.edited_items({key: item.feed_hash for key, item in known.items()})
    updates = [replace(known[key], revision=known[key].feed_hash[:12], title=f"{known[key].title} (updated)")
               for key in edited]
    return {item.key(source_name): item for item in updates}


async def _with_articles(fresh: Keyed, source: SourceConfig, fetcher: Fetcher, run: Runner, pages: Pages,
                         now: Clock) -> Keyed:
    """The full-article stage: the source's fetch_article policy, applied (the pages read in `pages`)."""
    completed = await complete_items(list(fresh.values()), source, fetcher, run, pages, now)
    keys = [key if after is before else after.key(source.name)
            for (key, before), after in zip(fresh.items(), completed)]
    # A canonical URL that several articles of one poll name is the site's, not an article's:
    # each of those keeps the key of its own link.
    shared = {key for key, count in Counter(keys).items() if count > 1}
    keyed: Keyed = {}
    for (key, before), after, new_key in zip(fresh.items(), completed, keys):
        if new_key in shared and after is not before:
            after = replace(after, canonical="")
            new_key = after.key(source.name)
        keyed[new_key] = after
    return keyed


Signed = dict[tuple[str, str, str], bytes]  # item_signature() by (title, summary, content)
Judged = dict[tuple[str, str, str], "Judgement"]  # judge_batch()'s, by (title, summary, content)


def _matched(fresh: Keyed, results: list[Classification]) -> tuple[Keyed, dict[str, list[Match]]]:
    """The items with the language their text was detected in, and the matches by key."""
    matches: dict[str, list[Match]] = {}
    classified: Keyed = {}
    for (key, item), result in zip(fresh.items(), results):
        if not item.lang and result.lang:
            item = item.in_language(result.lang)
        classified[key] = item
        if result.match:
            matches[key] = [Match(topic, result.terms, result.snippet) for topic in result.topics]
    return classified, matches
