"""What the web interface reads, in PostgreSQL: the methods of monitor/browse.py for PostgresStore.

The search is PostgreSQL's own: the GIN index of migration 8 over monitor_search(title, summary,
content), a 'simple' tsvector of the text folded by monitor_fold (case, and accents where the
unaccent extension is there). A query (monitor/search.py) becomes tsqueries: its words folded by
the same monitor_fold, each quoted as a lexeme (so nothing typed is tsquery syntax), a phrase as
`'a' <-> 'b'`, a prefix as `'word':*`, OR as `|`; what it excludes is a second tsquery, whose
items are left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from monitor.search import STORY_DAY, ListedStory, SearchQuery, StorySelection, Term


def _lexeme(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _term(term: Term, folded: dict[str, str]) -> str | None:
    """A term as a tsquery; None when folding left nothing of it (an empty lexeme is a syntax error)."""
    words = [folded[token] for token in term.tokens if folded.get(token)]
    if not words:
        return None
    if len(words) == 1:
        return _lexeme(words[0]) + (":*" if term.prefix else "")
    return "(" + " <-> ".join(_lexeme(word) for word in words) + ")"


def render_tsquery(query: SearchQuery, folded: dict[str, str]) -> tuple[str | None, str | None] | None:
    """The to_tsquery texts of what a query wants (any of its groups) and of what it excludes (any
    of those terms), its tokens folded as `folded` maps them; None when nothing can match (every
    word it asks for folded to nothing). Kept apart so each is answered from the index: a tsquery
    that is only `!word` would be checked against every row."""
    groups = []
    for group in query.alternatives:
        terms = [_term(term, folded) for term in group]
        if None not in terms:  # a word that is no lexeme is never found: nor is its group
            groups.append("(" + " & ".join(terms) + ")" if len(terms) > 1 else terms[0])
    if query.alternatives and not groups:
        return None
    excluded = [text for text in (_term(term, folded) for term in query.excluded) if text]
    return " | ".join(groups) or None, " | ".join(excluded) or None


class PostgresBrowseQueries:
    """Needs PostgresStore's `_execute`, `_rows` and `_value`."""

    def tune_for_reads(self, cache_mb: int, mmap_mb: int) -> None:
        """Nothing to do: the server keeps its own cache (shared_buffers), for every connection."""

    def search_tsquery(self, query: SearchQuery) -> tuple[str | None, str | None] | None:
        """The query as to_tsquery texts (wanted, excluded), its words folded by the database's own
        monitor_fold (as the index folds the text); None when nothing can match."""
        tokens = sorted({token for group in (*query.alternatives, query.excluded) for term in group
                         for token in term.tokens})
        folded = self._value("SELECT array(SELECT monitor_fold(t) FROM unnest(%s::text[]) WITH ORDINALITY u(t, n) "
                             "ORDER BY n)", [tokens]) if tokens else []
        return render_tsquery(query, dict(zip(tokens, folded)))

    def story_listing(self, selection: StorySelection, *, limit: int, offset: int = 0,
                      after: tuple[str, int] | None = None, count: bool = True) -> tuple[list[ListedStory], int | None]:
        """As Store.story_listing: the selected stories, newest first, and how many in all."""
        where, params = self._story_where(selection)
        if where is None:
            return [], 0 if count else None
        # A story's lead: its earliest-published matched item meeting the filters (DISTINCT ON
        # keeps the first row of each story in this order).
        leads = f"""SELECT DISTINCT ON (i.story_id) i.story_id AS story, i.id AS lead, {STORY_DAY} AS day
                    FROM matches m JOIN items i ON i.id = m.item_id
                    {'WHERE ' + ' AND '.join(where) if where else ''}
                    ORDER BY i.story_id, {STORY_DAY}, i.id"""
        later = ""
        if after is not None:
            later = "WHERE day < %(day)s OR (day = %(day)s AND story < %(story)s)"
            params["day"], params["story"] = after
        total_column = ", count(*) OVER () AS total" if count else ""
        rows = self._execute(f"""SELECT story, lead, day{total_column} FROM ({leads}) leads {later}
                                 ORDER BY day DESC, story DESC LIMIT %(limit)s OFFSET %(offset)s""",
                             {**params, "limit": limit, "offset": offset}).fetchall()
        total = None
        if count:
            total = rows[0][3] if rows else (
                self._value(f"SELECT count(*) FROM ({leads}) leads {later}", params) if offset else 0)
        return [ListedStory(row[0], row[1], row[2]) for row in rows], total

    def _story_where(self, selection: StorySelection) -> tuple[list[str] | None, dict]:
        """The listing's conditions on `m` (matches) and `i` (items); None when nothing can match."""
        where, params = selection.plain_conditions(lambda name: f"%({name})s")
        if selection.search is not None:
            queries = self.search_tsquery(selection.search)
            if queries is None:
                return None, params
            # The index answers each part; the listing then reads only the items it found (or not).
            wanted, unwanted = queries
            found = ("SELECT id FROM items WHERE monitor_search(title, summary, content) "
                     "@@ to_tsquery('pg_catalog.simple', %({})s)")
            if wanted is not None:
                where.append(f"i.id IN ({found.format('q')})")
                params["q"] = wanted
            if unwanted is not None:
                where.append(f"i.id NOT IN ({found.format('q_not')})")
                params["q_not"] = unwanted
        if selection.hidden:
            where.append("i.story_id <> ALL(%(hidden)s::bigint[])")
            params["hidden"] = list(selection.hidden)
        if selection.only is not None:
            where.append("i.story_id = ANY(%(only)s::bigint[])")
            params["only"] = list(selection.only)
        return where, params

    def story_of(self, item_id: int) -> int | None:
        """The story an item belongs to (None: no such item)."""
        return self._value("SELECT coalesce(story_id, id) FROM items WHERE id = %s", [item_id])

    def stories_of(self, item_ids: Iterable[int]) -> dict[int, int]:
        """Item id → its story id, for those of these items that exist."""
        ids = [int(i) for i in item_ids]
        if not ids:
            return {}
        return dict(self._execute("SELECT id, coalesce(story_id, id) FROM items WHERE id = ANY(%s)", [ids]).fetchall())

    def story_members(self, story_id: int) -> list[int]:
        """The ids of a story's items, in id order."""
        return [row[0] for row in self._execute(
            "SELECT id FROM items WHERE story_id = %(s)s OR id = %(s)s ORDER BY id", {"s": story_id})]

    def matched_lead(self, story_id: int) -> int | None:
        """The story's earliest-published matched copy (None when none of its items matched)."""
        return self._value(
            f"""SELECT i.id FROM items i JOIN matches m ON m.item_id = i.id WHERE i.story_id = %s
                ORDER BY {STORY_DAY}, i.id LIMIT 1""", [story_id])

    def story_copies(self, story_id: int) -> list[dict]:
        """Every item of a story, oldest first (as Store.story_copies)."""
        return self._rows(
            """SELECT id, url, source, title, published, first_seen, lang, summary, content FROM items
               WHERE story_id = %(s)s OR id = %(s)s ORDER BY coalesce(published, first_seen), id""", {"s": story_id})

    def item_matches(self, item_ids: Iterable[int]) -> dict[int, list[dict]]:
        """Item id → its matches ({topic, terms (a list), snippet, matched_at}), by topic."""
        ids = [int(i) for i in item_ids]
        found: dict[int, list[dict]] = {}
        if not ids:
            return found
        for row in self._rows("SELECT item_id, topic, terms, snippet, matched_at FROM matches "
                              "WHERE item_id = ANY(%s) ORDER BY topic", [ids]):
            found.setdefault(row["item_id"], []).append(
                {"topic": row["topic"], "terms": json.loads(row["terms"] or "[]"), "snippet": row["snippet"],
                 "matched_at": row["matched_at"]})
        return found

    def matched_per_source(self) -> dict[str, int]:
        return dict(self._execute(
            "SELECT i.source, count(DISTINCT m.item_id) FROM matches m JOIN items i ON i.id = m.item_id "
            "GROUP BY i.source").fetchall())

    def items_per_source(self) -> dict[str, int]:
        return dict(self._execute("SELECT source, count(*) FROM items GROUP BY source").fetchall())

    def facet_values(self) -> tuple[list[str], list[tuple[str, str]]]:
        """The topics matched, and the (language, source) pairs of matched items."""
        topics = [row[0] for row in self._execute("SELECT DISTINCT topic FROM matches ORDER BY topic")]
        pairs = self._execute("SELECT DISTINCT i.lang, i.source FROM matches m JOIN items i ON i.id = m.item_id")
        return topics, [(lang, source) for lang, source in pairs]

    def recent_batches(self, limit: int = 50) -> list[dict]:
        """The latest deliveries (batches), newest first, with how many stories each holds."""
        return self._rows(
            """SELECT b.id, b.digest, b.channel, b.kind, b.scheduled_for, b.created_at, b.status, b.attempts,
                      b.last_error, b.parts_sent, b.delivered_at, b.next_attempt_at,
                      (SELECT count(*) FROM deliveries d WHERE d.batch_id = b.id) AS stories
               FROM batches b ORDER BY b.created_at DESC, b.id DESC LIMIT %(limit)s""", {"limit": limit})
