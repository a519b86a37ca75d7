"""PostgreSQL persistence: every public method of monitor.store.Store (SQLite), on a database
several machines share (tests/test_postgres_commands.py checks that none is missing).

Here: schema_version, migrate() (monitor/postgres/migrations.py, the same numbered migrations),
transaction(), sources state (source_state, record_success, record_failure, source_health), items
(known_keys, unmatched_from_elsewhere, adopt, add_matches, add_items with matches and stories,
edited_items, forget_old_text, items, count_items, stories), the story index's queries
(grouped_copy, band_candidates, story_facts, grouped_count), the digest schedule, the outbox and its
claims (monitor/outbox.py), labels (monitor/labels.py) and full-text search (search_items). In
mixins: the evidence queries of monitor/captures.py (monitor/postgres/evidence.py) and the web's
reads of monitor/browse.py (monitor/postgres/browse.py).

Transactions keep SQLite's meaning. `with store.transaction():` is one commit; a nested one joins
the outer. SQLite's BEGIN IMMEDIATE lets one writer at a time, and some writes rely on it (ids
handed out as max(id) + 1, "is this key known?" then insert, "is this story unclaimed?" then claim);
here those take a transaction-level advisory lock first (items: one for all writers; the outbox:
one per digest and channel), so they are as serial as in SQLite while everything else runs at
once. A batch's claim is one conditional UPDATE … RETURNING: under READ COMMITTED a second
claimer waits for the first's row lock, then re-checks the condition on the row as the first
left it, so each batch has one owner across processes and machines.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime

import psycopg
from psycopg.rows import dict_row

from monitor import __version__
from monitor.clock import from_iso, utc_iso, utc_now
from monitor.dedup import NUM_PERM, band_rows, seen_second
from monitor.dbfile import StoreError
from monitor.items import Item, Match, SourceHealth, SourceState, Story
from monitor.labels import Label, LabelledItem, UnknownItem, check_label
from monitor.outbox import Batch
from monitor.postgres.browse import PostgresBrowseQueries
from monitor.postgres.evidence import PostgresEvidenceQueries
from monitor.postgres.migrations import MIGRATION_LOCK, MIGRATIONS
from monitor.search import SearchQuery, term_of
from monitor.dburl import redact_url
from monitor.secrets import redact
from monitor.store import StoredItem
from monitor.text import truncate_at_word

ITEMS_LOCK = 0x6D6F6E69746F7202     # pg_advisory_xact_lock key: writers of items, one at a time
OUTBOX_LOCK = 0x6D6F6E69746F72      # with a digest and channel's hash: claims of stories for batches


class PostgresStoreError(StoreError):
    """The database cannot be used; `url` is the database's URL without its password."""

    def __init__(self, url: str, problem: str, advice: str = ""):
        super().__init__(url, problem, advice)
        self.url = url


class PostgresQueryError(PostgresStoreError):
    """A statement failed (the connection was lost, the server refused it, a read-only session
    was asked to write). `cause` is psycopg's error; the message never holds the password."""

    def __init__(self, url: str, cause: BaseException):
        self.cause = cause
        lost = isinstance(cause, psycopg.OperationalError)
        super().__init__(url, f"{'failed (connection)' if lost else 'refused a statement'}: {redact(_one_line(cause))}",
                         "the next statement reconnects" if lost else "")


class _Translated:
    """`with _Translated(display):` turns a psycopg.Error into a PostgresQueryError."""

    def __init__(self, display: str):
        self.display = display

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is not None and isinstance(exc, psycopg.Error):
            raise PostgresQueryError(self.display, exc) from exc
        return False


class PostgresStore(PostgresEvidenceQueries, PostgresBrowseQueries):
    """The PostgreSQL database at `url` (postgresql://user:password@host:port/db), migrated to the
    latest schema. read_only=True never migrates nor writes (the session is read-only), and says
    in `upgrade_note` when the schema is older than this monitor's."""

    backend = "postgresql"

    def __init__(self, url: str, *, read_only: bool = False, connect_timeout: float = 10):
        self.url = url
        self.display = redact_url(url)
        self.path = self.display      # what messages name (Store's is the file)
        self.read_only = read_only
        self.upgrade_note: str | None = None
        self.connect_timeout = max(1, int(connect_timeout))
        self.conn: psycopg.Connection | None = None
        self._depth = 0  # open `with transaction()` blocks
        self._connect()
        try:
            self.migrate()
        except BaseException:
            self.close()
            raise

    def _connect(self) -> None:
        try:
            self.conn = psycopg.connect(self.url, autocommit=True, connect_timeout=self.connect_timeout,
                                        application_name="monitor")
            if self.read_only:
                self.conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        except psycopg.Error as exc:
            self.close()
            raise PostgresStoreError(self.display, f"cannot be reached: {_one_line(exc)}",
                                     "check settings.database (host, port, user, password, database name) "
                                     "and that the server runs") from exc

    def _live(self) -> psycopg.Connection:
        """The connection, made again when the last one was lost (the server restarted, a network
        cut) and no transaction is open: the statement that met the loss failed, the next one works.
        Inside a transaction the loss is the transaction's error; nothing is retried silently."""
        if self.conn is None:
            raise PostgresStoreError(self.display, "is closed (the store was closed)")
        if self.conn.broken and self._depth == 0:
            self.conn.close()
            self._connect()
        return self.conn

    @classmethod
    def open(cls, url: str, *, read_only: bool = False) -> PostgresStore:
        return cls(url, read_only=read_only)

    @classmethod
    def inspect(cls, url: str) -> str:
        """What `monitor check` says of the database, writing nothing."""
        store = cls(url, read_only=True)
        try:
            version = store.schema_version
            if version == 0:
                return "empty; the first write command sets it up"
            items = store._value("SELECT count(*) FROM items")
        finally:
            store.close()
        state = f"PostgreSQL, schema version {version}, {items} items"
        if version < len(MIGRATIONS):
            state += f"; the next write command upgrades it to version {len(MIGRATIONS)}"
        return state

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    # --- statements -----------------------------------------------------------------------------

    # Every statement's psycopg.Error leaves as a PostgresQueryError (a StoreError, the psycopg
    # error its __cause__ and `.cause`): the commands end with one line and exit code 3, and
    # the callers that catch StoreError need not import psycopg.

    def _execute(self, sql: str, params=None) -> psycopg.Cursor:
        with self._translated():
            return self._live().execute(sql, params)

    def _rows(self, sql: str, params=None) -> list[dict]:
        with self._translated(), self._live().cursor(row_factory=dict_row) as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def _value(self, sql: str, params=None):
        with self._translated():
            row = self._live().execute(sql, params).fetchone()
        return None if row is None else row[0]

    def _many(self, sql: str, rows: list) -> None:
        if rows:
            with self._translated(), self._live().cursor() as cur:
                cur.executemany(sql, rows)

    def _translated(self) -> _Translated:
        return _Translated(self.display)

    def _lock(self, key: int, *parts: str) -> None:
        """A transaction-level advisory lock (released at commit or rollback)."""
        if parts:
            self._execute("SELECT pg_advisory_xact_lock(%s # hashtextextended(%s, 0))",
                          [key, "\x1f".join(parts)])
        else:
            self._execute("SELECT pg_advisory_xact_lock(%s)", [key])

    def transaction(self):
        """`with store.transaction():` makes the writes inside it one commit; nested, it joins the outer."""
        return _Transaction(self)

    # --- schema ---------------------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        if self._value("SELECT to_regclass('monitor_schema')") is None:
            return 0
        return self._value("SELECT count(*) FROM monitor_schema")

    def _known_schema(self) -> int:
        # items first: another process's first migration commits items, monitor_schema and its row
        # at once, so items seen here means the version read next counts that commit.
        has_items = self._value("SELECT to_regclass('items')") is not None
        version = self.schema_version
        if version > len(MIGRATIONS):
            raise PostgresStoreError(self.display, f"has schema version {version}, newer than this monitor knows "
                                                   f"({len(MIGRATIONS)})", "upgrade monitor, or use another database")
        if version == 0 and has_items:
            raise PostgresStoreError(self.display, "has an items table but no monitor_schema: it is not monitor's",
                                     "set settings.database to another database")
        return version

    def migrate(self) -> None:
        """Apply the migrations the database lacks, one transaction each, under an advisory lock:
        a second process migrating at once waits for the first, then finds nothing left to do."""
        version, latest = self._known_schema(), len(MIGRATIONS)
        if self.read_only:
            if version < latest:
                self.upgrade_note = (f"database {self.display} has schema version {version}, older than this "
                                     f"monitor's ({latest}); it is read as it is, and the next write command "
                                     f"(monitor poll, monitor run, monitor digest --now) upgrades it")
            return
        while version < latest:
            with self.transaction():
                self._execute("SELECT pg_advisory_xact_lock(%s)", [MIGRATION_LOCK])
                self._execute("""CREATE TABLE IF NOT EXISTS monitor_schema (
                                     version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL,
                                     monitor_version TEXT NOT NULL)""")
                version = self._known_schema()  # again, under the lock: another may have migrated
                if version < latest:
                    with self._translated(), self._live().cursor() as cur:
                        MIGRATIONS[version](cur)
                    version += 1
                    self._execute("INSERT INTO monitor_schema (version, applied_at, monitor_version) VALUES (%s, %s, %s)",
                                  [version, utc_iso(utc_now()), __version__])

    def too_old(self) -> StoreError:
        return PostgresStoreError(self.display, f"has schema version {self.schema_version}, older than this "
                                                f"monitor's ({len(MIGRATIONS)}), and a read-only command does not "
                                                "upgrade it", "run a write command (monitor poll) once to upgrade it")

    # --- sources --------------------------------------------------------------------------------

    def source_state(self, name: str) -> SourceState:
        rows = self._rows("SELECT * FROM sources WHERE name = %s", [name])
        if not rows:
            return SourceState(name=name)
        r = rows[0]
        return SourceState(
            name=name, etag=r["etag"], last_modified=r["last_modified"], body_hash=r["body_hash"],
            last_polled=from_iso(r["last_polled"]), last_ok=from_iso(r["last_ok"]), last_error=r["last_error"],
            failing_since=from_iso(r["failing_since"]), consecutive_failures=r["consecutive_failures"],
            status=r["last_status"],
        )

    def record_success(self, name: str, at: datetime, *, etag: str | None, last_modified: str | None,
                       body_hash: str | None, new_items: int, not_modified: bool = False,
                       warning: str | None = None) -> None:
        with self.transaction():
            self._execute(
                """INSERT INTO sources AS s (name, etag, last_modified, body_hash, last_polled, last_ok, last_status,
                                             last_error, failing_since, consecutive_failures, items_total)
                   VALUES (%(name)s, %(etag)s, %(lm)s, %(hash)s, %(at)s, %(at)s, %(status)s, %(warning)s, NULL, 0,
                           %(new)s)
                   ON CONFLICT (name) DO UPDATE SET etag = excluded.etag, last_modified = excluded.last_modified,
                       body_hash = excluded.body_hash, last_polled = excluded.last_polled, last_ok = excluded.last_ok,
                       last_status = excluded.last_status, last_error = excluded.last_error, failing_since = NULL,
                       consecutive_failures = 0, items_total = s.items_total + excluded.items_total""",
                {"name": name, "etag": etag, "lm": last_modified, "hash": body_hash, "at": utc_iso(at),
                 "status": "not_modified" if not_modified else "ok", "warning": redact(warning), "new": new_items})

    def record_failure(self, name: str, at: datetime, error: str) -> None:
        with self.transaction():
            self._execute(
                """INSERT INTO sources AS s (name, last_polled, last_status, last_error, failing_since,
                                             consecutive_failures)
                   VALUES (%(name)s, %(at)s, 'failing', %(error)s, %(at)s, 1)
                   ON CONFLICT (name) DO UPDATE SET last_polled = excluded.last_polled, last_status = 'failing',
                       last_error = excluded.last_error, failing_since = COALESCE(s.failing_since, excluded.failing_since),
                       consecutive_failures = s.consecutive_failures + 1""",
                {"name": name, "at": utc_iso(at), "error": redact(error)})

    def source_health(self) -> list[SourceHealth]:
        return [SourceHealth(row["name"], row["last_status"],
                             row["last_error"] if row["last_status"] == "failing" else None,
                             from_iso(row["failing_since"]), last_ok=from_iso(row["last_ok"]),
                             items=row["items_total"], note=row["last_error"])
                for row in self._rows("SELECT * FROM sources ORDER BY name")]

    # --- items ----------------------------------------------------------------------------------

    def known_keys(self, keys: Iterable[str]) -> set[str]:
        keys = list(dict.fromkeys(keys))
        if not keys:
            return set()
        return {row[0] for row in self._execute(
            "SELECT key FROM items WHERE key = ANY(%(k)s) UNION SELECT url_key FROM items WHERE url_key = ANY(%(k)s)",
            {"k": keys})}

    def unmatched_from_elsewhere(self, keys: Iterable[str], source: str) -> dict[str, int]:
        keys = list(dict.fromkeys(keys))
        if not keys:
            return {}
        return dict(self._execute(
            """SELECT key, id FROM items WHERE key = ANY(%s) AND source != %s
               AND NOT EXISTS (SELECT 1 FROM matches m WHERE m.item_id = items.id)""", [keys, source]).fetchall())

    def adopt(self, source: str, adopted: Mapping[int, tuple[Item, list[Match]]], at: datetime) -> None:
        with self.transaction():
            self._many(
                """UPDATE items SET source = %s, url = %s, title = %s, summary = %s, content = %s, author = %s,
                       published = coalesce(%s, published), lang = %s, content_hash = %s WHERE id = %s""",
                [(source, item.url, item.title, item.summary, item.content, item.author, utc_iso(item.published),
                  item.lang, item.content_hash, item_id) for item_id, (item, _) in adopted.items()])
            self.add_matches({item_id: found for item_id, (_, found) in adopted.items()}, at)

    def add_matches(self, matches: Mapping[int, list[Match]], at: datetime) -> None:
        self._many(
            """INSERT INTO matches (item_id, topic, terms, snippet, matched_at) VALUES (%s, %s, %s, %s, %s)
               ON CONFLICT DO NOTHING""",
            [(item_id, m.topic, json.dumps(m.terms, ensure_ascii=False), m.snippet, utc_iso(at))
             for item_id, found in matches.items() for m in found])

    def add_items(self, source: str, items: Mapping[str, Item] | Iterable[Item], at: datetime,
                  matches: dict[str, list[Match]] | None = None,
                  story_for: Callable[[Item, int], tuple[int | None, bytes | None]] | None = None,
                  group_unmatched: bool = True) -> list[StoredItem]:
        """As Store.add_items: the items not seen before (by key or URL key), with their matches and
        stories, in one transaction; those that were new. Writers of items take ITEMS_LOCK first, so
        "known?", the ids (max + 1) and the story index see every other writer's committed items."""
        new: list[StoredItem] = []
        matches = matches or {}
        with self.transaction():
            self._lock(ITEMS_LOCK)
            pending = items if isinstance(items, Mapping) else {item.key(source): item for item in items}
            known = self.known_keys(pending)
            next_id = (self._value("SELECT max(id) FROM items") or 0) + 1
            match_rows = []
            for key, item in pending.items():
                if key in known:
                    continue
                item_id, next_id = next_id, next_id + 1
                grouped = story_for and not item.revision and (group_unmatched or key in matches)
                story_id, signature = story_for(item, item_id) if grouped else (None, None)
                story_id = story_id or item_id
                self._execute(
                    """INSERT INTO items (id, key, url_key, url, guid, source, title, summary, content, author,
                           published, first_seen, content_hash, lang, canonical, story_id, signature, feed_hash)
                       VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                    [item_id, key, item.stored_url_key(source, key), item.url, item.guid, source, item.title,
                     item.summary, item.content, item.author, utc_iso(item.published), utc_iso(at),
                     item.content_hash, item.lang, item.canonical, story_id, signature, item.feed_hash or None])
                if signature:
                    self._many("INSERT INTO story_bands (band_key, seen, item_id) VALUES (%s, %s, %s)",
                               band_rows(item_id, signature, at))
                new.append(StoredItem(item_id, key, source, item, story_id))
                match_rows += [(item_id, match.topic, json.dumps(match.terms, ensure_ascii=False), match.snippet,
                                utc_iso(at)) for match in matches.get(key, ())]
            self._many(
                """INSERT INTO matches (item_id, topic, terms, snippet, matched_at) VALUES (%s, %s, %s, %s, %s)
                   ON CONFLICT DO NOTHING""", match_rows)
        return new

    def edited_items(self, fingerprints: dict[str, str]) -> list[str]:
        edited = []
        with self.transaction():
            for key, fingerprint in fingerprints.items():
                row = self._execute("SELECT id, feed_hash FROM items WHERE key = %s FOR UPDATE", [key]).fetchone()
                if row is None or row[1] == fingerprint:
                    continue
                if row[1] is not None:
                    edited.append(key)
                self._execute("UPDATE items SET feed_hash = %s WHERE id = %s", [fingerprint, row[0]])
        return edited

    def forget_old_text(self, before: datetime, batch: int = 5000) -> int:
        done = 0
        while True:
            with self.transaction():
                rows = self._execute(
                    """SELECT id, signature, first_seen FROM items WHERE first_seen < %s AND (summary != '' OR content != '')
                           AND NOT EXISTS (SELECT 1 FROM matches m WHERE m.item_id = items.id) LIMIT %s
                       FOR UPDATE SKIP LOCKED""", [utc_iso(before), batch]).fetchall()
                self._many("DELETE FROM story_bands WHERE band_key = %s AND item_id = %s",
                           [(key, item_id) for item_id, blob, seen in rows
                            for key, _, _ in band_rows(item_id, blob and bytes(blob), from_iso(seen))])
                self._many("UPDATE items SET summary = '', content = '', signature = NULL WHERE id = %s",
                           [(item_id,) for item_id, _, _ in rows])
            done += len(rows)
            if len(rows) < batch:
                break
        return done

    # --- the story index (monitor/dedup.py) ---------------------------------------------------------

    def grouped_copy(self, content_hash: str, since: datetime) -> int | None:
        return self._value(
            """SELECT coalesce(story_id, id) FROM items WHERE content_hash = %s AND first_seen >= %s
                   AND signature IS NOT NULL ORDER BY first_seen, id LIMIT 1""", [content_hash, utc_iso(since)])

    def band_members(self, keys: list[int], since: datetime) -> list[int]:
        """As Store.band_members. The story index does not keep MinHashes over PostgreSQL (ids
        are max + 1, and a rolled-back one is handed out again by any worker): it calls
        band_candidates."""
        return [row[0] for row in self._execute(
            "SELECT DISTINCT item_id FROM story_bands WHERE band_key = ANY(%s) AND seen >= %s ORDER BY item_id",
            [list(keys), seen_second(since)])]

    def grouped_signatures(self, item_ids: list[int]) -> list[tuple[int, int, bytes, bytes]]:
        """As Store.grouped_signatures."""
        return [(row[0], row[1], bytes(row[2]), bytes(row[3]) if row[3] else b"") for row in self._execute(
            f"""SELECT id, coalesce(story_id, id), substr(signature, 1, {NUM_PERM * 8}),
                       substr(signature, {NUM_PERM * 8 + 1}) FROM items
                WHERE id = ANY(%s) AND signature IS NOT NULL""", [list(item_ids)])]

    def band_candidates(self, keys: list[int], since: datetime) -> list[tuple[int, bytes, bytes]]:
        return [(row[0], bytes(row[1]), bytes(row[2]) if row[2] else b"") for row in self._execute(
            f"""SELECT coalesce(story_id, id), substr(signature, 1, {NUM_PERM * 8}),
                       substr(signature, {NUM_PERM * 8 + 1}) FROM items
                WHERE id IN (SELECT item_id FROM story_bands WHERE band_key = ANY(%s) AND seen >= %s)
                  AND signature IS NOT NULL ORDER BY id""", [list(keys), seen_second(since)])]

    def story_facts(self, story_id: int, since: datetime) -> list[bytes]:
        return [bytes(row[0]) if row[0] else b"" for row in self._execute(
            f"""SELECT substr(signature, {NUM_PERM * 8 + 1}) FROM items
                WHERE story_id = %s AND first_seen >= %s AND signature IS NOT NULL ORDER BY id""",
            [story_id, utc_iso(since)])]

    def grouped_count(self, since: datetime | None) -> int:
        return self._value("SELECT count(*) FROM items WHERE first_seen >= %s AND signature IS NOT NULL",
                           [utc_iso(since) or ""])

    def stories(self, item_ids: Iterable[int], as_of: datetime | None = None) -> list[Story]:
        ids = [int(i) for i in item_ids]
        if not ids:
            return []
        rows = self._rows(
            """SELECT i.id, i.story_id, i.title, i.url, i.source, i.published, i.first_seen, i.lang, i.summary,
                      i.content, string_agg(m.topic, E'\\x1f') AS topics, max(m.snippet) AS snippet
               FROM items i LEFT JOIN matches m ON m.item_id = i.id
               WHERE i.id = ANY(%s) GROUP BY i.id
               ORDER BY coalesce(i.published, i.first_seen), i.id""", [ids])
        copies: dict[int, list[dict]] = {}
        for other in self._rows(
                """SELECT id, story_id, url, source, title FROM items WHERE story_id = ANY(%(stories)s)
                   AND (%(as_of)s::text IS NULL OR first_seen <= %(as_of)s)
                   ORDER BY coalesce(published, first_seen), id""",
                {"stories": [row["story_id"] or row["id"] for row in rows], "as_of": utc_iso(as_of)}):
            copies.setdefault(other["story_id"], []).append(other)
        gone = {item_id: state.gone_at for item_id, state in self.evidence_states(ids).items() if state.gone_at}
        return [Story(
            removed_at=gone.get(row["id"]),
            item_id=row["id"], title=row["title"] or row["url"], url=row["url"], source=row["source"],
            published=from_iso(row["published"] or row["first_seen"]), lang=row["lang"] or "",
            topics=sorted(set(row["topics"].split("\x1f"))) if row["topics"] else [],
            snippet=row["snippet"] or truncate_at_word(row["summary"] or row["content"] or "", 300, " …"),
            also=[{"url": o["url"], "source": o["source"], "title": o["title"]}
                  for o in copies.get(row["story_id"] or row["id"], []) if o["id"] != row["id"]],
        ) for row in rows]

    # --- digest schedule ------------------------------------------------------------------------

    def last_digest_time(self, digest: str) -> datetime | None:
        return from_iso(self._value("SELECT last_scheduled_for FROM digest_runs WHERE digest = %s", [digest]))

    def record_digest_time(self, digest: str, scheduled_for: datetime) -> None:
        with self.transaction():
            self._execute(
                """INSERT INTO digest_runs (digest, last_scheduled_for) VALUES (%s, %s)
                   ON CONFLICT (digest) DO UPDATE SET last_scheduled_for = excluded.last_scheduled_for""",
                [digest, utc_iso(scheduled_for)])

    def count_items(self, source: str | None = None) -> int:
        if source is None:
            return self._value("SELECT count(*) FROM items")
        return self._value("SELECT count(*) FROM items WHERE source = %s", [source])

    def items(self, source: str | None = None, limit: int | None = None) -> list[dict]:
        sql = "SELECT * FROM items" + (" WHERE source = %(source)s" if source else "") + " ORDER BY id"
        if limit:
            sql += f" LIMIT {int(limit)}"
        rows = self._rows(sql, {"source": source})
        for row in rows:  # bytes, as sqlite3 gives a BLOB (psycopg may hand out a memoryview)
            if row.get("signature") is not None:
                row["signature"] = bytes(row["signature"])
        return rows

    # --- full-text search (migration 8) -------------------------------------------------------------

    def search_items(self, words: Iterable[str], *, limit: int = 50) -> list[int]:
        """Ids of the items whose title, summary or text hold every one of `words` (a word ending
        in * is a prefix), best match first (title hits weigh most), folded as the index folds."""
        terms = tuple(term for term in map(term_of, words) if term is not None)
        queries = self.search_tsquery(SearchQuery((terms,))) if terms else None
        if queries is None or queries[0] is None:
            return []
        return [row[0] for row in self._execute(
            """SELECT id FROM items, to_tsquery('pg_catalog.simple', %(q)s) q
               WHERE monitor_search(title, summary, content) @@ q
               ORDER BY ts_rank(monitor_search(title, summary, content), q) DESC, id DESC LIMIT %(limit)s""",
            {"q": queries[0], "limit": limit})]

    # --- the outbox (monitor/outbox.py) ---------------------------------------------------------------

    def unclaimed_item_ids(self, digest: str, channel: str, *, sources: Iterable[str] | None = None,
                           topics: Iterable[str] | None = None, item_ids: Iterable[int] | None = None,
                           matched_since: datetime | None = None) -> list[int]:
        """One matched item per story (its earliest-published matched copy) this channel of this
        digest has not been given yet, by story id."""
        where, params = [], {"digest": digest, "channel": channel}
        if matched_since is not None:
            where.append("m.matched_at >= %(matched_since)s")
            params["matched_since"] = utc_iso(matched_since)
        for column, values, name in (("i.source", sources, "sources"), ("m.topic", topics, "topics"),
                                     ("i.id", item_ids, "ids")):
            if values is not None:
                where.append(f"{column} = ANY(%({name})s)")
                params[name] = [int(v) for v in values] if name == "ids" else list(values)
        if self._value("SELECT to_regclass('labels')") is not None:
            where.append("""NOT EXISTS (SELECT 1 FROM labels l JOIN items k ON k.id = l.item_id
                                        WHERE l.label = 'not_relevant' AND k.story_id = i.story_id)""")
        sql = f"""SELECT id FROM (
                      SELECT DISTINCT ON (i.story_id) i.id, i.story_id
                      FROM items i JOIN matches m ON m.item_id = i.id
                      WHERE NOT EXISTS (SELECT 1 FROM deliveries d JOIN items j ON j.id = d.item_id
                                        WHERE d.digest = %(digest)s AND d.channel = %(channel)s
                                          AND j.story_id = i.story_id)
                      {''.join(' AND ' + w for w in where)}
                      ORDER BY i.story_id, coalesce(i.published, i.first_seen), i.id) leads
                  ORDER BY story_id"""
        return [row[0] for row in self._execute(sql, params)]

    def create_batch(self, digest: str, channel: str, scheduled_for: datetime, at: datetime, *,
                     sources: Iterable[str] | None = None, topics: Iterable[str] | None = None,
                     kind: str = "digest", send_empty: bool = False, item_ids: Iterable[int] | None = None) -> Batch | None:
        """As Store.create_batch; the stories are chosen and claimed under this digest and channel's
        advisory lock, so two processes making the same batch at once claim each story once."""
        with self.transaction():
            self._lock(OUTBOX_LOCK, digest, channel)
            ids = self.unclaimed_item_ids(digest, channel, sources=sources, topics=topics, item_ids=item_ids)
            if not ids and not send_empty:
                return None
            batch = Batch(id=uuid.uuid4().hex, digest=digest, channel=channel, kind=kind,
                          scheduled_for=scheduled_for, created_at=at, attempts=0, parts_sent=0, item_ids=ids)
            self._execute(
                """INSERT INTO batches (id, digest, channel, kind, scheduled_for, created_at, next_attempt_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s)""",
                [batch.id, digest, channel, kind, utc_iso(scheduled_for), utc_iso(at), utc_iso(at)])
            self._many("INSERT INTO deliveries (digest, channel, item_id, batch_id) VALUES (%s, %s, %s, %s)",
                       [(digest, channel, item_id, batch.id) for item_id in ids])
        return batch

    _BATCH = ("SELECT b.*, ARRAY(SELECT d.item_id FROM deliveries d WHERE d.batch_id = b.id ORDER BY d.item_id)"
              " AS item_ids FROM batches b")

    def _batches(self, where: str = "", params=None) -> list[Batch]:
        return [self._batch(row) for row in self._rows(f"{self._BATCH} {where} ORDER BY b.created_at, b.id", params)]

    def due_batches(self, at: datetime, channel: str | None = None) -> list[Batch]:
        where = ("WHERE ((b.status = 'pending' AND b.next_attempt_at <= %(at)s)"
                 " OR (b.status = 'sending' AND (b.lease_until IS NULL OR b.lease_until <= %(at)s)))")
        if channel:
            where += " AND b.channel = %(channel)s"
        return self._batches(where, {"at": utc_iso(at), "channel": channel})

    def leased_batches(self, at: datetime, channel: str | None = None) -> list[Batch]:
        where = "WHERE b.status = 'sending' AND b.lease_until > %(at)s"
        if channel:
            where += " AND b.channel = %(channel)s"
        return self._batches(where, {"at": utc_iso(at), "channel": channel})

    def pending_batches(self) -> list[Batch]:
        return self._batches("WHERE b.status IN ('pending', 'sending')")

    def batches(self, digest: str | None = None) -> list[Batch]:
        return self._batches("WHERE b.digest = %s" if digest else "", [digest] if digest else None)

    def previous_batch_time(self, digest: str, channel: str, before: datetime) -> datetime | None:
        return from_iso(self._value(
            "SELECT max(created_at) FROM batches WHERE digest = %s AND channel = %s AND created_at < %s",
            [digest, channel, utc_iso(before)]))

    def batch(self, batch_id: str) -> Batch | None:
        found = self._batches("WHERE b.id = %s", [batch_id])
        return found[0] if found else None

    @staticmethod
    def _batch(row: dict) -> Batch:
        return Batch(id=row["id"], digest=row["digest"], channel=row["channel"], kind=row["kind"],
                     scheduled_for=from_iso(row["scheduled_for"]), created_at=from_iso(row["created_at"]),
                     attempts=row["attempts"], parts_sent=row["parts_sent"], item_ids=list(row["item_ids"]),
                     status=row["status"], last_error=row["last_error"], owner=row["owner"],
                     lease_until=from_iso(row["lease_until"]))

    def claim_batch(self, batch_id: str, owner: str, at: datetime, lease_until: datetime, *,
                    gone_owner: str | None = None) -> Batch | None:
        """As Store.claim_batch, in one UPDATE … RETURNING: of two claimers at once, the second
        waits for the first's row lock and then finds the batch leased (None)."""
        with self.transaction():
            row = self._execute(
                """UPDATE batches SET status = 'sending', owner = %(owner)s, lease_until = %(until)s
                   WHERE id = %(id)s AND ((status = 'pending' AND next_attempt_at <= %(at)s)
                                          OR (status = 'sending' AND (lease_until IS NULL OR lease_until <= %(at)s
                                                                      OR owner = %(gone)s)))
                   RETURNING id""",
                {"owner": owner, "until": utc_iso(lease_until), "id": batch_id, "at": utc_iso(at),
                 "gone": gone_owner}).fetchone()
            return None if row is None else self.batch(batch_id)

    def claim_next_batch(self, owner: str, at: datetime, lease_until: datetime, *,
                         channel: str | None = None) -> Batch | None:
        """Claim the oldest due batch nobody else is claiming (FOR UPDATE SKIP LOCKED): what a
        worker of many takes next, without waiting on the others. None when nothing is due."""
        with self.transaction():
            row = self._execute(
                """UPDATE batches SET status = 'sending', owner = %(owner)s, lease_until = %(until)s
                   WHERE id = (SELECT id FROM batches
                               WHERE ((status = 'pending' AND next_attempt_at <= %(at)s)
                                      OR (status = 'sending' AND (lease_until IS NULL OR lease_until <= %(at)s)))
                                 AND (%(channel)s::text IS NULL OR channel = %(channel)s)
                               ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
                   RETURNING id""",
                {"owner": owner, "until": utc_iso(lease_until), "at": utc_iso(at), "channel": channel}).fetchone()
            return None if row is None else self.batch(row[0])

    def _owned_update(self, sql: str, params: list) -> bool:
        with self.transaction():
            return self._execute(sql, params).rowcount == 1

    def record_part_sent(self, batch_id: str, owner: str, parts_sent: int, lease_until: datetime) -> bool:
        return self._owned_update(
            "UPDATE batches SET parts_sent = %s, lease_until = %s WHERE id = %s AND owner = %s AND status = 'sending'",
            [parts_sent, utc_iso(lease_until), batch_id, owner])

    def record_delivered(self, batch_id: str, owner: str, at: datetime) -> bool:
        return self._owned_update(
            """UPDATE batches SET status = 'delivered', delivered_at = %s, last_error = NULL, owner = NULL,
                   lease_until = NULL WHERE id = %s AND owner = %s AND status = 'sending'""",
            [utc_iso(at), batch_id, owner])

    def record_attempt_failed(self, batch_id: str, owner: str, error: str, retry_at: datetime) -> bool:
        return self._owned_update(
            """UPDATE batches SET status = 'pending', owner = NULL, lease_until = NULL,
                   attempts = attempts + 1, last_error = %s, next_attempt_at = %s
               WHERE id = %s AND owner = %s AND status = 'sending'""",
            [redact(error), utc_iso(retry_at), batch_id, owner])

    def release_batch(self, batch_id: str, owner: str) -> bool:
        return self._owned_update(
            """UPDATE batches SET status = 'pending', owner = NULL, lease_until = NULL
               WHERE id = %s AND owner = %s AND status = 'sending'""", [batch_id, owner])

    # --- labels (monitor/labels.py) ---------------------------------------------------------------

    def set_label(self, item_id: int, label: str, at: datetime, *, note: str = "",
                  labelled_by: str = "cli") -> Label:
        check_label(label, labelled_by)
        with self.transaction():
            if self._value("SELECT 1 FROM items WHERE id = %s", [item_id]) is None:
                raise UnknownItem(item_id)
            self._execute(
                """INSERT INTO labels (item_id, label, note, labelled_at, labelled_by) VALUES (%s, %s, %s, %s, %s)
                   ON CONFLICT (item_id) DO UPDATE SET label = excluded.label, note = excluded.note,
                       labelled_at = excluded.labelled_at, labelled_by = excluded.labelled_by""",
                [item_id, label, note, utc_iso(at), labelled_by])
        return Label(item_id, label, note, from_iso(utc_iso(at)), labelled_by)

    def remove_label(self, item_id: int) -> bool:
        with self.transaction():
            return self._execute("DELETE FROM labels WHERE item_id = %s", [item_id]).rowcount == 1

    def label(self, item_id: int) -> Label | None:
        row = self._execute("SELECT item_id, label, note, labelled_at, labelled_by FROM labels WHERE item_id = %s",
                            [item_id]).fetchone()
        return _label(row) if row else None

    def labels(self) -> list[Label]:
        return [_label(r) for r in self._execute(
            "SELECT item_id, label, note, labelled_at, labelled_by FROM labels ORDER BY labelled_at, item_id")]

    def labelled_items(self) -> Iterator[LabelledItem]:
        rows = self._execute(
            """SELECT l.item_id, l.label, l.note, l.labelled_at, l.labelled_by,
                      i.title, i.content, i.summary, i.url, i.source, i.lang
               FROM labels l JOIN items i ON i.id = l.item_id ORDER BY l.labelled_at, l.item_id""").fetchall()
        for row in rows:
            yield LabelledItem(_label(row[:5]), row[5] or "", row[6] or row[7] or "", row[8] or "",
                               row[9] or "", row[10] or "")


def _label(row) -> Label:
    item_id, label, note, labelled_at, labelled_by = row[:5]
    return Label(item_id, label, note or "", from_iso(labelled_at), labelled_by)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class _Transaction:
    """BEGIN … COMMIT on an autocommit connection (ROLLBACK on error); nested uses join the
    transaction already open, as monitor.store's does.

    Unlike SQLite, PostgreSQL aborts the whole transaction at a failed statement: a caller that
    catches a database error inside a transaction cannot go on writing in it."""

    def __init__(self, store: PostgresStore):
        self.store = store
        self.conn: psycopg.Connection | None = None
        self.outermost = False

    def __enter__(self):
        if self.store._depth == 0:
            self.conn = self.store._live()
            with self.store._translated():
                self.conn.execute("BEGIN")
            self.outermost = True
        self.store._depth += 1
        return self.store.conn

    def __exit__(self, exc_type, exc, tb):
        self.store._depth -= 1
        if not self.outermost:
            return False
        if exc_type is not None:
            self._rollback()
            return False
        try:
            self.conn.execute("COMMIT")
        except psycopg.Error as error:
            self._rollback()
            raise PostgresQueryError(self.store.display, error) from error
        return False

    def _rollback(self) -> None:
        if self.conn.closed or self.conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            return
        try:
            self.conn.execute("ROLLBACK")
        except psycopg.Error:
            pass  # the connection was lost: so was the transaction
