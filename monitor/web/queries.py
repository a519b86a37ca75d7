"""What the web interface reads from the store: matched stories with filters, full-text search
(the items_fts index of migration 8), pages and cursors; one story with its copies; counts.

A story is the items sharing a story_id; it is listed when one of its items matched a topic, and
its lead is its earliest-published matched copy (as digests choose it). Stories are listed newest
first by their lead's date (published, else first seen). `id` is the story id everywhere (the id
of the story's first stored item): it never changes, whichever copy leads.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from monitor.clock import from_iso
from monitor.store import Store

# How a story sorts: its lead's date (published, else first seen), then its id; unique, so the
# pair is also the cursor.
_DAY = "coalesce(i.published, i.first_seen)"
_WORD = re.compile(r'"([^"]*)"?|(\S+)')
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)

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


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression for what a person typed, never a syntax error: each word must occur
    (any case, any diacritics), "a phrase" in that order, `word*` as a prefix, `OR` between two
    words either (`AND` is what a space says). Anything else is read as words, never as FTS5
    syntax. None when there is no word in it."""
    parts: list[str] = []
    for match in _WORD.finditer(text):
        phrase, word = match.groups()
        if word == "OR":
            if parts and parts[-1] != "OR":
                parts.append("OR")
            continue
        if word == "AND":  # what a space says already
            continue
        raw = phrase if phrase is not None else word
        tokens = _TOKEN.findall(raw)
        if not tokens:
            continue
        prefix = phrase is None and raw.endswith("*") and len(tokens) == 1
        parts.append('"' + " ".join(tokens) + '"' + ("*" if prefix else ""))
    while parts and parts[-1] == "OR":
        parts.pop()
    return " ".join(parts) or None


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


def _where(filters: Filters, labelled: dict[str, list[int]]) -> tuple[list[str], dict]:
    where, params = [], {}
    if filters.topic:
        where.append("m.topic = :topic")
        params["topic"] = filters.topic
    if filters.lang:
        where.append("i.lang = :lang")
        params["lang"] = filters.lang
    if filters.source:
        where.append("i.source = :source")
        params["source"] = filters.source
    if filters.since:
        where.append("coalesce(i.published, i.first_seen) >= :since")
        params["since"] = filters.since.isoformat()
    if filters.until:
        where.append("coalesce(i.published, i.first_seen) < :until")
        params["until"] = (filters.until + timedelta(days=1)).isoformat()
    if filters.q:
        expression = fts_query(filters.q)
        if expression is None:
            where.append("0")
        else:
            where.append("i.id IN (SELECT rowid FROM items_fts WHERE items_fts MATCH :fts)")
            params["fts"] = expression
    label = filters.label
    if label in ("", "unlabelled"):
        hidden = labelled.get("not_relevant", []) + (labelled.get("relevant", []) if label == "unlabelled" else [])
        if hidden:
            where.append("i.story_id NOT IN (SELECT value FROM json_each(:hidden))")
            params["hidden"] = json.dumps(hidden)
    elif label in ("relevant", "not_relevant"):
        where.append("i.story_id IN (SELECT value FROM json_each(:shown))")
        params["shown"] = json.dumps(labelled.get(label, []))
    return where, params


def list_stories(store: Store, filters: Filters, labelled: dict[str, list[int]], *, limit: int,
                 offset: int = 0, cursor: str | None = None, count: bool = True) -> Listing:
    """The stories matching `filters`, newest first: `limit` of them from `offset`, or after
    `cursor` (then `next_cursor` says where the next page starts). `labelled` maps a label to the
    story ids that carry it (monitor/web/triage.py)."""
    where, params = _where(filters, labelled)
    having = ""
    if cursor is not None:
        having = "HAVING day < :day OR (day = :day AND story < :story)"
        params["day"], params["story"] = decode_cursor(cursor)
    # The matches drive the scan (CROSS JOIN keeps them outer: far fewer rows than items); with
    # min() the only aggregate, SQLite takes i.id from the row where the minimum is reached: the lead.
    grouped = f"""SELECT i.story_id AS story, i.id AS lead, min({_DAY}) AS day
                  FROM matches m CROSS JOIN items i ON i.id = m.item_id
                  {'WHERE ' + ' AND '.join(where) if where else ''}
                  GROUP BY i.story_id {having}"""
    total_column = ", count(*) OVER () AS total" if count else ""
    params.update(limit=limit + 1, offset=offset)
    rows = store.db.execute(f"""SELECT story, lead, day{total_column} FROM ({grouped})
                                ORDER BY day DESC, story DESC LIMIT :limit OFFSET :offset""", params).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    total = (rows[0][3] if rows else (_count(store, grouped, params) if offset else 0)) if count else None
    return Listing(story_ids=[row[0] for row in rows], lead_ids={row[0]: row[1] for row in rows},
                   total=total, next_cursor=encode_cursor(rows[-1][2], rows[-1][0]) if more and rows else None)


def _count(store: Store, grouped: str, params: dict) -> int:
    return store.db.execute(f"SELECT count(*) FROM ({grouped})", params).fetchone()[0]


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
    row = store.db.execute("SELECT coalesce(story_id, id) FROM items WHERE id = ?", [item_id]).fetchone()
    return row[0] if row else None


def story_detail(store: Store, story_id: int) -> StoryDetail | None:
    rows = list(store.db.query(
        """SELECT id, url, source, title, published, first_seen, lang, summary, content FROM items
           WHERE story_id = :story OR id = :story ORDER BY coalesce(published, first_seen), id""",
        {"story": story_id}))
    if not rows:
        return None
    ids = ",".join(str(row["id"]) for row in rows)
    found: dict[int, list[dict]] = {}
    for match in store.db.query(f"SELECT item_id, topic, terms, snippet, matched_at FROM matches "
                                f"WHERE item_id IN ({ids}) ORDER BY topic"):
        found.setdefault(match["item_id"], []).append(
            {"topic": match["topic"], "terms": json.loads(match["terms"] or "[]"), "snippet": match["snippet"],
             "matched_at": from_iso(match["matched_at"])})
    copies = [Copy(row["id"], row["url"], row["source"], row["title"] or row["url"], from_iso(row["published"]),
                   from_iso(row["first_seen"]), row["lang"] or "", found.get(row["id"], [])) for row in rows]
    lead = next((c for c in copies if c.matches), copies[0])
    row = next(r for r in rows if r["id"] == lead.id)
    return StoryDetail(id=story_id, lead=lead, text=row["content"] or row["summary"] or "", copies=copies)


def matched_per_source(store: Store) -> dict[str, int]:
    return {row[0]: row[1] for row in store.db.execute(
        "SELECT i.source, count(DISTINCT m.item_id) FROM matches m JOIN items i ON i.id = m.item_id GROUP BY i.source")}


def items_per_source(store: Store) -> dict[str, int]:
    return {row[0]: row[1] for row in store.db.execute("SELECT source, count(*) FROM items GROUP BY source")}


def facets(store: Store) -> dict[str, list[str]]:
    """The values the filters offer: topics matched, languages and sources of matched items."""
    topics = [row[0] for row in store.db.execute("SELECT DISTINCT topic FROM matches ORDER BY topic")]
    rows = store.db.execute("""SELECT DISTINCT i.lang, i.source FROM matches m JOIN items i ON i.id = m.item_id""")
    langs, sources = set(), set()
    for lang, source in rows:
        if lang:
            langs.add(lang)
        sources.add(source)
    return {"topics": topics, "langs": sorted(langs), "sources": sorted(sources)}


def recent_batches(store: Store, limit: int = 50) -> list[dict]:
    """The latest deliveries (batches), newest first, with how many stories each holds."""
    return [dict(row) for row in store.db.query(
        """SELECT b.id, b.digest, b.channel, b.kind, b.scheduled_for, b.created_at, b.status, b.attempts,
                  b.last_error, b.parts_sent, b.delivered_at, b.next_attempt_at,
                  (SELECT count(*) FROM deliveries d WHERE d.batch_id = b.id) AS stories
           FROM batches b ORDER BY b.created_at DESC, b.id DESC LIMIT :limit""", {"limit": limit})]
