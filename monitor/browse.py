"""What the web interface reads, in SQLite: story listings with filters and full-text search (the
items_fts index of migrations 8 and 11, matched items only), one story's copies and matches, the
story of an item, and the counts the pages show.

A mixin of Store (monitor/store.py), sharing its connection; monitor/postgres/browse.py has the
same methods for PostgreSQL. The web (monitor/web/queries.py, triage.py) calls only these, never SQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

from monitor.search import STORY_DAY, ListedStory, SearchQuery, StorySelection, Term, parse_search

if TYPE_CHECKING:
    from monitor.dbfile import Database


def fts5_terms(terms: Iterable[Term], joiner: str) -> str:
    """Terms as FTS5 phrases ("a b", "word"*), joined by `joiner` (" " is AND)."""
    return joiner.join('"' + " ".join(term.tokens) + '"' + ("*" if term.prefix else "") for term in terms)


def fts5_match(query: SearchQuery) -> str | None:
    """The FTS5 MATCH expression of the query's alternatives (None: it has none, only exclusions)."""
    return " OR ".join(fts5_terms(group, " ") for group in query.alternatives) or None


def fts_query(text: str) -> str | None:
    """The FTS5 MATCH expression of the words to find in what a person typed; None when it asks
    for none (no word, or only exclusions)."""
    query = parse_search(text)
    return fts5_match(query) if query is not None else None


class BrowseQueries:
    """Needs `self.db` (monitor.dbfile.Database), as Store has it."""

    db: Database

    def tune_for_reads(self, cache_mb: int, mmap_mb: int) -> None:
        """A connection that reads far more than it writes (the web's): the story list visits
        every matched item, so its pages stay in a larger cache, read through a memory map."""
        self.db.execute(f"PRAGMA cache_size = -{int(cache_mb) * 1024}")
        self.db.execute(f"PRAGMA mmap_size = {int(mmap_mb) * 1024 * 1024}")

    def story_listing(self, selection: StorySelection, *, limit: int, offset: int = 0,
                      after: tuple[str, int] | None = None, count: bool = True) -> tuple[list[ListedStory], int | None]:
        """The selected stories, newest first (by day, then story id): `limit` of them from `offset`,
        or after the (day, story) `after`; and how many there are in all when `count`."""
        where, params = _where(selection)
        having = ""
        if after is not None:
            having = "HAVING day < :day OR (day = :day AND story < :story)"
            params["day"], params["story"] = after
        # The matches drive the scan (CROSS JOIN keeps them outer: far fewer rows than items); with
        # min() the only aggregate, SQLite takes i.id from the row where the minimum is reached: the lead.
        grouped = f"""SELECT i.story_id AS story, i.id AS lead, min({STORY_DAY}) AS day
                      FROM matches m CROSS JOIN items i ON i.id = m.item_id
                      {'WHERE ' + ' AND '.join(where) if where else ''}
                      GROUP BY i.story_id {having}"""
        total_column = ", count(*) OVER () AS total" if count else ""
        rows = self.db.execute(f"""SELECT story, lead, day{total_column} FROM ({grouped})
                                   ORDER BY day DESC, story DESC LIMIT :limit OFFSET :offset""",
                               {**params, "limit": limit, "offset": offset}).fetchall()
        total = None
        if count:
            total = rows[0][3] if rows else (
                self.db.execute(f"SELECT count(*) FROM ({grouped})", params).fetchone()[0] if offset else 0)
        return [ListedStory(row[0], row[1], row[2]) for row in rows], total

    def story_of(self, item_id: int) -> int | None:
        """The story an item belongs to (None: no such item)."""
        row = self.db.execute("SELECT coalesce(story_id, id) FROM items WHERE id = ?", [item_id]).fetchone()
        return row[0] if row else None

    def stories_of(self, item_ids: Iterable[int]) -> dict[int, int]:
        """Item id → its story id, for those of these items that exist."""
        ids, found = [int(i) for i in item_ids], {}
        for start in range(0, len(ids), 500):  # stay under SQLite's bound-parameter limit
            chunk = ids[start:start + 500]
            found.update(self.db.execute(f"SELECT id, coalesce(story_id, id) FROM items "
                                         f"WHERE id IN ({','.join('?' * len(chunk))})", chunk).fetchall())
        return found

    def story_members(self, story_id: int) -> list[int]:
        """The ids of a story's items, in id order."""
        return [row[0] for row in self.db.execute(
            "SELECT id FROM items WHERE story_id = ? OR id = ? ORDER BY id", [story_id, story_id])]

    def matched_lead(self, story_id: int) -> int | None:
        """The story's earliest-published matched copy (None when none of its items matched)."""
        row = self.db.execute(
            f"""SELECT i.id FROM items i JOIN matches m ON m.item_id = i.id WHERE i.story_id = ?
                ORDER BY {STORY_DAY}, i.id LIMIT 1""", [story_id]).fetchone()
        return row[0] if row else None

    def story_copies(self, story_id: int) -> list[dict]:
        """Every item of a story (id, url, source, title, published, first_seen, lang, summary,
        content), oldest first."""
        return list(self.db.query(
            """SELECT id, url, source, title, published, first_seen, lang, summary, content FROM items
               WHERE story_id = :story OR id = :story ORDER BY coalesce(published, first_seen), id""",
            {"story": story_id}))

    def item_matches(self, item_ids: Iterable[int]) -> dict[int, list[dict]]:
        """Item id → its matches ({topic, terms (a list), snippet, matched_at}), by topic."""
        ids = ",".join(str(int(i)) for i in item_ids)
        found: dict[int, list[dict]] = {}
        if not ids:
            return found
        for row in self.db.query(f"SELECT item_id, topic, terms, snippet, matched_at FROM matches "
                                 f"WHERE item_id IN ({ids}) ORDER BY topic"):
            found.setdefault(row["item_id"], []).append(
                {"topic": row["topic"], "terms": json.loads(row["terms"] or "[]"), "snippet": row["snippet"],
                 "matched_at": row["matched_at"]})
        return found

    def matched_per_source(self) -> dict[str, int]:
        return dict(self.db.execute(
            "SELECT i.source, count(DISTINCT m.item_id) FROM matches m JOIN items i ON i.id = m.item_id "
            "GROUP BY i.source").fetchall())

    def items_per_source(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT source, count(*) FROM items GROUP BY source").fetchall())

    def facet_values(self) -> tuple[list[str], list[tuple[str, str]]]:
        """The topics matched, and the (language, source) pairs of matched items."""
        topics = [row[0] for row in self.db.execute("SELECT DISTINCT topic FROM matches ORDER BY topic")]
        pairs = self.db.execute("SELECT DISTINCT i.lang, i.source FROM matches m JOIN items i ON i.id = m.item_id")
        return topics, [(lang, source) for lang, source in pairs]

    def recent_batches(self, limit: int = 50) -> list[dict]:
        """The latest deliveries (batches), newest first, with how many stories each holds."""
        return [dict(row) for row in self.db.query(
            """SELECT b.id, b.digest, b.channel, b.kind, b.scheduled_for, b.created_at, b.status, b.attempts,
                      b.last_error, b.parts_sent, b.delivered_at, b.next_attempt_at,
                      (SELECT count(*) FROM deliveries d WHERE d.batch_id = b.id) AS stories
               FROM batches b ORDER BY b.created_at DESC, b.id DESC LIMIT :limit""", {"limit": limit})]


def _where(selection: StorySelection) -> tuple[list[str], dict]:
    where, params = selection.plain_conditions(lambda name: f":{name}")
    if selection.search is not None:
        wanted = fts5_match(selection.search)
        if wanted:
            where.append("i.id IN (SELECT rowid FROM items_fts WHERE items_fts MATCH :fts)")
            params["fts"] = wanted
        if selection.search.excluded:
            # Apart, not FTS5's NOT: that needs something before it, and "-word" alone is a query too.
            where.append("i.id NOT IN (SELECT rowid FROM items_fts WHERE items_fts MATCH :fts_not)")
            params["fts_not"] = fts5_terms(selection.search.excluded, " OR ")
    if selection.hidden:
        where.append("i.story_id NOT IN (SELECT value FROM json_each(:hidden))")
        params["hidden"] = json.dumps(list(selection.hidden))
    if selection.only is not None:
        where.append("i.story_id IN (SELECT value FROM json_each(:only))")
        params["only"] = json.dumps(list(selection.only))
    return where, params
