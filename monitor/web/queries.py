"""What the web interface reads from the store: matched stories with filters, full-text search,
pages and cursors; one story with its copies; counts. The SQL is the store's (monitor/browse.py
for SQLite, monitor/postgres/browse.py for PostgreSQL); the query syntax is monitor/search.py's.

A story is the items sharing a story_id; it is listed when one of its items matched a topic, and
its lead is its earliest-published matched copy (as digests choose it). Stories are listed newest
first by their lead's date (published, else first seen). `id` is the story id everywhere (the id
of the story's first stored item): it never changes, whichever copy leads.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from monitor.clock import from_iso
from monitor.search import StorySelection, parse_search
from monitor.store import Store

LABEL_FILTERS = {
    "": "all but not relevant",
    "relevant": "relevant",
    "not_relevant": "not relevant",
    "unlabelled": "not labelled yet",
    "all": "all",
}


class BadQuery(ValueError):
    """A filter value that cannot be used (a malformed date or cursor); its text says which."""


@dataclass(frozen=True)
class Filters:
    q: str = ""
    topic: str = ""
    lang: str = ""
    source: str = ""
    since: date | None = None     # the lead's date, inclusive
    until: date | None = None     # inclusive
    label: str = ""               # a key of LABEL_FILTERS

    @classmethod
    def parse(cls, params) -> Filters:
        """From query parameters (a mapping); BadQuery names a value that cannot be read."""
        def text(name: str) -> str:
            return " ".join(str(params.get(name) or "").split())[:500]

        def day(name: str) -> date | None:
            value = text(name)
            if not value:
                return None
            try:
                return date.fromisoformat(value[:10])
            except ValueError:
                raise BadQuery(f"{name} must be a date such as 2026-03-01, got {value!r}") from None

        label = text("label")
        if label not in LABEL_FILTERS:
            raise BadQuery(f"label must be one of {', '.join(repr(k) for k in LABEL_FILTERS if k)}, got {label!r}")
        return cls(q=text("q"), topic=text("topic"), lang=text("lang"), source=text("source"),
                   since=day("since"), until=day("until"), label=label)

    def params(self, **changes) -> dict[str, str]:
        """As query parameters (empty ones left out), with `changes` applied."""
        values = {"q": self.q, "topic": self.topic, "lang": self.lang, "source": self.source,
                  "since": self.since.isoformat() if self.since else "",
                  "until": self.until.isoformat() if self.until else "", "label": self.label}
        values.update({k: str(v) for k, v in changes.items()})
        return {k: v for k, v in values.items() if v}


def encode_cursor(day: str, story_id: int) -> str:
    return base64.urlsafe_b64encode(f"{day}|{story_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, int]:
    """(the last listed story's date, its id) from a cursor this server handed out."""
    try:
        key = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadQuery("cursor is not one this server handed out") from None
    match = re.fullmatch(r"([0-9T:+\-.Z ]{4,40})\|(\d{1,18})", key)
    if not match:
        raise BadQuery("cursor is not one this server handed out")
    return match.group(1), int(match.group(2))


@dataclass(frozen=True)
class Listing:
    story_ids: list[int]            # in display order
    lead_ids: dict[int, int]        # story id → its lead's item id
    total: int | None = None        # stories matching the filters (page listings only)
    next_cursor: str | None = None  # cursor listings: where the next page starts


def selection(filters: Filters, labelled: dict[str, list[int]]) -> StorySelection | None:
    """What the store is asked for; None when nothing can match (a search without a word in it)."""
    search = parse_search(filters.q) if filters.q else None
    if filters.q and search is None:
        return None
    label = filters.label
    hidden: list[int] = []
    if label in ("", "unlabelled"):
        hidden = labelled.get("not_relevant", []) + (labelled.get("relevant", []) if label == "unlabelled" else [])
    return StorySelection(
        topic=filters.topic, lang=filters.lang, source=filters.source,
        since=filters.since.isoformat() if filters.since else None,
        before=(filters.until + timedelta(days=1)).isoformat() if filters.until else None,
        search=search, hidden=tuple(hidden),
        only=tuple(labelled.get(label, [])) if label in ("relevant", "not_relevant") else None)


def list_stories(store: Store, filters: Filters, labelled: dict[str, list[int]], *, limit: int,
                 offset: int = 0, cursor: str | None = None, count: bool = True) -> Listing:
    """The stories matching `filters`, newest first: `limit` of them from `offset`, or after
    `cursor` (then `next_cursor` says where the next page starts). `labelled` maps a label to the
    story ids that carry it (monitor/web/triage.py)."""
    chosen = selection(filters, labelled)
    if chosen is None:
        return Listing(story_ids=[], lead_ids={}, total=0 if count else None)
    after = decode_cursor(cursor) if cursor is not None else None
    rows, total = store.story_listing(chosen, limit=limit + 1, offset=offset, after=after, count=count)
    more = len(rows) > limit
    rows = rows[:limit]
    return Listing(story_ids=[row.story for row in rows], lead_ids={row.story: row.lead for row in rows},
                   total=total, next_cursor=encode_cursor(rows[-1].day, rows[-1].story) if more and rows else None)


@dataclass(frozen=True)
class Copy:
    id: int
    url: str
    source: str
    title: str
    published: object
    first_seen: object
    lang: str
    matches: list[dict] = field(default_factory=list)   # [{topic, terms, snippet, matched_at}]


@dataclass(frozen=True)
class StoryDetail:
    id: int                   # the story id
    lead: Copy                # its earliest-published matched copy (else its first copy)
    text: str                 # the lead's main text (else its summary)
    copies: list[Copy]        # every item of the story, oldest first, the lead among them

    @property
    def matched(self) -> bool:
        return any(copy.matches for copy in self.copies)


def story_of(store: Store, item_id: int) -> int | None:
    """The story an item belongs to (None: no such item)."""
    return store.story_of(item_id)


def story_detail(store: Store, story_id: int) -> StoryDetail | None:
    rows = store.story_copies(story_id)
    if not rows:
        return None
    found = store.item_matches(row["id"] for row in rows)
    for matches in found.values():
        for match in matches:
            match["matched_at"] = from_iso(match["matched_at"])
    copies = [Copy(row["id"], row["url"], row["source"], row["title"] or row["url"], from_iso(row["published"]),
                   from_iso(row["first_seen"]), row["lang"] or "", found.get(row["id"], [])) for row in rows]
    lead = next((c for c in copies if c.matches), copies[0])
    row = next(r for r in rows if r["id"] == lead.id)
    return StoryDetail(id=story_id, lead=lead, text=row["content"] or row["summary"] or "", copies=copies)


def matched_per_source(store: Store) -> dict[str, int]:
    return store.matched_per_source()


def items_per_source(store: Store) -> dict[str, int]:
    return store.items_per_source()


def facets(store: Store) -> dict[str, list[str]]:
    """The values the filters offer: topics matched, languages and sources of matched items."""
    topics, pairs = store.facet_values()
    return {"topics": topics, "langs": sorted({lang for lang, _ in pairs if lang}),
            "sources": sorted({source for _, source in pairs})}


def recent_batches(store: Store, limit: int = 50) -> list[dict]:
    """The latest deliveries (batches), newest first, with how many stories each holds."""
    return store.recent_batches(limit)
