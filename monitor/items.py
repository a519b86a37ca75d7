"""The small typed records passed between pipeline stages."""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from monitor.urls import canonical_url, names_an_article


@dataclass(frozen=True)
class Item:
    """One candidate article as a source type found it (text only: markup was stripped)."""

    url: str
    title: str
    summary: str = ""
    content: str = ""             # full text when the feed carries it
    guid: str | None = None
    published: datetime | None = None
    author: str = ""
    lang: str = ""                # ISO 639-1, when known (page metadata or detection)
    canonical: str = ""           # the page's own canonical URL, once the article was fetched
    feed_hash: str = ""           # what the feed said of it (before the article was fetched)
    revision: str = ""            # set on the row that records an update of a known article
    # The hash of the text stories are grouped on (exact copies share it): computed where the item
    # is made, so a feed's items bring it from the document worker that parsed them, and the
    # poll's own process, which stores every item, does not spend its time hashing their text.
    content_hash: str = field(init=False, repr=False, compare=False)
    # The link's comparison key, made where the item is made for the same reason.
    link_key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "content_hash", _text_hash(self.content or f"{self.title}\n{self.summary}"))
        object.__setattr__(self, "link_key", canonical_url(self.url) if self.url else "")

    def key(self, source_name: str) -> str:
        """What makes two items the same: the page's own canonical URL (same site only), else the
        normalized link, else the feed's guid, else the text."""
        base = canonical_url(self.canonical) if self.canonical and names_an_article(self.canonical, self.url) \
            else self.url_key(source_name)
        return f"{base}#revision-{self.revision}" if self.revision else base

    def url_key(self, source_name: str) -> str:
        """The key of the link as the feed gave it (known before the article is fetched)."""
        if self.url:
            return self.link_key
        if self.guid:
            return f"guid:{source_name}:{self.guid}"
        return "text:" + hashlib.sha256(f"{self.title}\n{self.summary}".encode()).hexdigest()

    def stored_url_key(self, source_name: str, key: str) -> str | None:
        """What the stores keep as the item's url_key: the link's key where it differs from the
        item's `key` (its page named another URL for itself), else None. Store.known_keys reads
        both columns; keeping every link twice cost a tenth of a database, a fifth once retention
        has trimmed the text."""
        url_key = self.url_key(source_name)
        return url_key if url_key != key else None

    def in_language(self, lang: str) -> Item:
        """The item with its language set: a copy that keeps the hash and link key computed when
        it was made (its text and link are the same), where dataclasses.replace would compute both
        again, in the poll's own process, for every matched item."""
        copied = copy.copy(self)
        object.__setattr__(copied, "lang", lang)
        return copied

    def feed_fingerprint(self) -> str:
        """Hash of the feed's own text of the item: a change means the outlet edited it."""
        return _text_hash(f"{self.title}\n{self.summary}\n{self.content}")


def _text_hash(text: str) -> str:
    """SHA-256 of the text with its runs of spaces folded and its case folded."""
    return hashlib.sha256(" ".join(text.split()).casefold().encode()).hexdigest()


@dataclass(frozen=True)
class SourceState:
    """What the store remembers about a source between polls."""

    name: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    last_polled: datetime | None = None
    last_ok: datetime | None = None
    last_error: str | None = None
    failing_since: datetime | None = None
    consecutive_failures: int = 0
    status: str = "new"


@dataclass(frozen=True)
class Collected:
    """What a source type returns from one poll."""

    items: list[Item] = field(default_factory=list)
    not_modified: bool = False        # 304, or a body identical to the last one
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    warning: str | None = None        # usable but imperfect input, e.g. a malformed feed


@dataclass(frozen=True)
class PollReport:
    source: str
    status: str                       # ok | not_modified | failing
    new_items: int = 0
    seen_items: int = 0
    seconds: float = 0.0
    error: str | None = None
    warning: str | None = None
    matched_ids: tuple[int, ...] = ()   # ids of new items that matched a topic
    new_ids: tuple[int, ...] = ()       # ids of every new item stored (matched or not)


@dataclass(frozen=True)
class Match:
    """One topic an item matched, with the terms that decided it and a snippet."""

    topic: str
    terms: list[str]
    snippet: str


@dataclass(frozen=True)
class Story:
    """A matched item as digests show it: the story's lead copy, with the others as "also"."""

    item_id: int
    title: str
    url: str
    source: str
    published: datetime | None
    lang: str
    topics: list[str]
    snippet: str                       # plain text, hits wrapped in **…**
    also: list[dict] = field(default_factory=list)   # [{"url", "source", "title"}]
    removed_at: datetime | None = None  # a recheck found the page gone (monitor/evidence/)


@dataclass(frozen=True)
class SourceHealth:
    """How a source is doing, as its last polls left it."""

    source: str
    status: str                        # new | ok | not_modified | failing
    error: str | None                  # why it is failing; None when it is not
    failing_since: datetime | None
    last_ok: datetime | None = None
    items: int = 0
    note: str | None = None            # the last error or warning, whatever the status
