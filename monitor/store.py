"""SQLite persistence: source state and items, with numbered schema migrations.

One file in WAL mode, so a reader (`monitor sources list`) never blocks the running service.
Every write is its own short transaction: a kill at any moment leaves either the whole poll's
items or none of them, never half an item.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import sqlite_utils

from monitor.items import Item, SourceState


def _v1(db: sqlite_utils.Database) -> None:
    db.execute("""
        CREATE TABLE sources (
            name TEXT PRIMARY KEY,
            etag TEXT,
            last_modified TEXT,
            body_hash TEXT,
            last_polled TEXT,
            last_ok TEXT,
            last_status TEXT NOT NULL DEFAULT 'new',
            last_error TEXT,
            failing_since TEXT,
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            items_total INTEGER NOT NULL DEFAULT 0
        )""")
    db.execute("""
        CREATE TABLE items (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,          -- canonical URL (or guid / text hash without a link)
            url TEXT NOT NULL,                 -- the link as the outlet published it
            guid TEXT,
            source TEXT NOT NULL,
            title TEXT NOT NULL,
            summary TEXT NOT NULL DEFAULT '',
            content TEXT NOT NULL DEFAULT '',
            author TEXT NOT NULL DEFAULT '',
            published TEXT,
            first_seen TEXT NOT NULL,
            content_hash TEXT NOT NULL
        )""")
    db.execute("CREATE INDEX items_source ON items(source, first_seen)")
    db.execute("CREATE INDEX items_first_seen ON items(first_seen)")
    db.execute("CREATE INDEX items_content_hash ON items(content_hash)")


def _v2(db: sqlite_utils.Database) -> None:
    """Topic matches and the outbox: what each channel of each digest has been sent."""
    db.execute("ALTER TABLE items ADD COLUMN lang TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE items ADD COLUMN canonical TEXT NOT NULL DEFAULT ''")
    db.execute("""
        CREATE TABLE matches (
            item_id INTEGER NOT NULL REFERENCES items(id),
            topic TEXT NOT NULL,
            terms TEXT NOT NULL,               -- JSON list of the query terms that hit
            snippet TEXT NOT NULL,             -- plain text, hits wrapped in **…**
            matched_at TEXT NOT NULL,
            PRIMARY KEY (item_id, topic)
        )""")
    db.execute("CREATE INDEX matches_matched_at ON matches(matched_at)")
    # A batch is one digest (or alert) for one channel: created atomically with the list of its
    # stories, retried until the channel accepts every part, then marked delivered.
    db.execute("""
        CREATE TABLE batches (
            id TEXT PRIMARY KEY,
            digest TEXT NOT NULL,
            channel TEXT NOT NULL,
            kind TEXT NOT NULL DEFAULT 'digest',   -- digest | alert
            scheduled_for TEXT NOT NULL,
            created_at TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending', -- pending | delivered
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            last_error TEXT,
            parts_sent INTEGER NOT NULL DEFAULT 0,
            delivered_at TEXT
        )""")
    db.execute("CREATE INDEX batches_pending ON batches(status, next_attempt_at)")
    db.execute("""
        CREATE TABLE deliveries (
            digest TEXT NOT NULL,
            channel TEXT NOT NULL,
            item_id INTEGER NOT NULL REFERENCES items(id),
            batch_id TEXT NOT NULL REFERENCES batches(id),
            PRIMARY KEY (digest, channel, item_id)
        )""")
    db.execute("CREATE INDEX deliveries_batch ON deliveries(batch_id)")
    db.execute("""
        CREATE TABLE digest_runs (
            digest TEXT PRIMARY KEY,
            last_scheduled_for TEXT NOT NULL
        )""")


def _v3(db: sqlite_utils.Database) -> None:
    """Stories: copies of one article share story_id (the id of the story's first item)."""
    db.execute("ALTER TABLE items ADD COLUMN url_key TEXT")
    db.execute("ALTER TABLE items ADD COLUMN story_id INTEGER")
    db.execute("ALTER TABLE items ADD COLUMN signature BLOB")  # MinHash, for rebuilding the index
    db.execute("UPDATE items SET url_key = key, story_id = id")
    db.execute("CREATE INDEX items_url_key ON items(url_key)")
    db.execute("CREATE INDEX items_story ON items(story_id)")


def _v4(db: sqlite_utils.Database) -> None:
    """What the feed said of each item, to notice edits (sources with notify_updates)."""
    db.execute("ALTER TABLE items ADD COLUMN feed_hash TEXT")


def _v5(db: sqlite_utils.Database) -> None:
    """Exact copies are found by the in-memory story index: the content_hash index only cost
    every insert a page write."""
    db.execute("DROP INDEX IF EXISTS items_content_hash")


# Append only: a migration that has shipped is never edited, the next one fixes it.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1, _v2, _v3, _v4, _v5]


@dataclass(frozen=True)
class Match:
    topic: str
    terms: list[str]
    snippet: str


@dataclass(frozen=True)
class Batch:
    id: str
    digest: str
    channel: str
    kind: str
    scheduled_for: datetime
    created_at: datetime
    attempts: int
    parts_sent: int
    item_ids: list[int]
    status: str = "pending"
    last_error: str | None = None


@dataclass(frozen=True)
class StoredItem:
    id: int
    key: str
    source: str
    item: Item
    story_id: int = 0

    @property
    def is_copy(self) -> bool:
        return self.story_id != self.id


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class Store:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
        self.db = sqlite_utils.Database(conn)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        # Checkpoint the WAL every ~16 MB rather than every 4 MB: a cold poll of many feeds commits
        # hundreds of small transactions, and each checkpoint is an fsync.
        self.db.execute("PRAGMA wal_autocheckpoint=4000")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.migrate()

    def close(self) -> None:
        self.db.conn.close()

    @property
    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def migrate(self) -> None:
        version = self.schema_version
        if version > len(MIGRATIONS):
            raise RuntimeError(f"database {self.path} has schema version {version}, newer than this "
                               f"monitor ({len(MIGRATIONS)}): upgrade monitor")
        for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
            with self._transaction():
                migration(self.db)
                self.db.execute(f"PRAGMA user_version = {number}")

    def _transaction(self):
        return _Transaction(self.db.conn)

    def transaction(self):
        """`with store.transaction():` makes the writes inside it one commit."""
        return _Transaction(self.db.conn)

    # --- sources --------------------------------------------------------------------------------

    def source_state(self, name: str) -> SourceState:
        rows = list(self.db.query("SELECT * FROM sources WHERE name = ?", [name]))
        if not rows:
            return SourceState(name=name)
        r = rows[0]
        return SourceState(
            name=name, etag=r["etag"], last_modified=r["last_modified"], body_hash=r["body_hash"],
            last_polled=_dt(r["last_polled"]), last_ok=_dt(r["last_ok"]), last_error=r["last_error"],
            failing_since=_dt(r["failing_since"]), consecutive_failures=r["consecutive_failures"],
            status=r["last_status"],
        )

    def _ensure_source(self, name: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO sources (name) VALUES (?)", [name])

    def record_success(self, name: str, at: datetime, *, etag: str | None, last_modified: str | None,
                       body_hash: str | None, new_items: int, not_modified: bool = False,
                       warning: str | None = None) -> None:
        with self._transaction():
            self._ensure_source(name)
            self.db.execute(
                """UPDATE sources SET etag = ?, last_modified = ?, body_hash = ?, last_polled = ?, last_ok = ?,
                       last_status = ?, last_error = ?, failing_since = NULL, consecutive_failures = 0,
                       items_total = items_total + ? WHERE name = ?""",
                [etag, last_modified, body_hash, _iso(at), _iso(at), "not_modified" if not_modified else "ok",
                 warning, new_items, name],
            )

    def record_failure(self, name: str, at: datetime, error: str) -> None:
        with self._transaction():
            self._ensure_source(name)
            self.db.execute(
                """UPDATE sources SET last_polled = ?, last_status = 'failing', last_error = ?,
                       failing_since = COALESCE(failing_since, ?),
                       consecutive_failures = consecutive_failures + 1 WHERE name = ?""",
                [_iso(at), error, _iso(at), name],
            )

    def source_rows(self) -> list[dict]:
        return list(self.db.query("SELECT * FROM sources ORDER BY name"))

    # --- items ----------------------------------------------------------------------------------

    def known_keys(self, keys: Iterable[str]) -> set[str]:
        keys = list(dict.fromkeys(keys))
        known: set[str] = set()
        for start in range(0, len(keys), 500):  # stay under SQLite's bound-parameter limit
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            known.update(row[0] for row in self.db.execute(
                f"SELECT key FROM items WHERE key IN ({marks}) UNION SELECT url_key FROM items WHERE url_key IN ({marks})",
                chunk + chunk))
        return known

    def add_items(self, source: str, items: Iterable[Item], at: datetime,
                  matches: dict[str, list[Match]] | None = None,
                  story_for: Callable[[Item, int], tuple[int | None, bytes | None]] | None = None) -> list[StoredItem]:
        """Insert the items not seen before (by key), with their topic matches, in one transaction
        (an item is never stored without its matches); return those that were new.

        story_for(item, item_id) → (story id of an earlier copy or None, signature blob) groups
        copies into stories; without it every item is its own story.
        """
        new: list[StoredItem] = []
        matches = matches or {}
        with self._transaction():
            # Ids are handed out here, inside the write transaction (no other writer can take
            # them), so each item is one row written once, with its story, in a single batch.
            pending = {item.key(source): item for item in items}
            known = self.known_keys(pending)
            next_id = (self.db.execute("SELECT max(id) FROM items").fetchone()[0] or 0) + 1
            rows, match_rows = [], []
            for key, item in pending.items():
                if key in known:
                    continue
                item_id, next_id = next_id, next_id + 1
                # An update row is news of its own: it never joins the story it updates.
                story_id, signature = story_for(item, item_id) if story_for and not item.revision else (None, None)
                story_id = story_id or item_id
                rows.append((item_id, key, item.url_key(source), item.url, item.guid, source, item.title, item.summary,
                             item.content, item.author, _iso(item.published), _iso(at), item.content_hash, item.lang,
                             item.canonical, story_id, signature, item.feed_hash or None))
                new.append(StoredItem(item_id, key, source, item, story_id))
                match_rows += [(item_id, match.topic, json.dumps(match.terms, ensure_ascii=False), match.snippet,
                                _iso(at)) for match in matches.get(key, ())]
            self.db.conn.executemany(
                """INSERT INTO items (id, key, url_key, url, guid, source, title, summary, content, author, published,
                       first_seen, content_hash, lang, canonical, story_id, signature, feed_hash)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""", rows)
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO matches (item_id, topic, terms, snippet, matched_at) VALUES (?, ?, ?, ?, ?)",
                match_rows)
        return new

    def edited_items(self, fingerprints: dict[str, str]) -> list[str]:
        """Keys of stored items whose feed text changed (fingerprints: key → new feed hash); the
        stored fingerprint is updated, so an edit is reported once. Items stored before
        fingerprints were kept just get one."""
        edited = []
        with self._transaction():
            for key, fingerprint in fingerprints.items():
                row = self.db.execute("SELECT id, feed_hash FROM items WHERE key = ?", [key]).fetchone()
                if row is None or row[1] == fingerprint:
                    continue
                if row[1] is not None:
                    edited.append(key)
                self.db.execute("UPDATE items SET feed_hash = ? WHERE id = ?", [fingerprint, row[0]])
        return edited

    def count_matches(self, topic: str | None = None) -> int:
        sql = "SELECT count(*) FROM matches" + (" WHERE topic = ?" if topic else "")
        return self.db.execute(sql, [topic] if topic else []).fetchone()[0]

    # --- outbox ---------------------------------------------------------------------------------

    def unclaimed_item_ids(self, digest: str, channel: str, *, sources: Iterable[str] | None = None,
                           topics: Iterable[str] | None = None, item_ids: Iterable[int] | None = None,
                           matched_since: datetime | None = None) -> list[int]:
        """One matched item per story this channel of this digest has not been given yet.

        A story is claimed once: when a copy from another outlet arrives after the story was
        sent, it is not sent again (it shows as "also reported by" in later renderings).
        """
        where, params = [], {"digest": digest, "channel": channel}
        if matched_since is not None:
            where.append("m.matched_at >= :matched_since")
            params["matched_since"] = _iso(matched_since)
        for column, values, prefix in (("i.source", sources, "s"), ("m.topic", topics, "t"), ("i.id", item_ids, "i")):
            if values is None:
                continue
            values = list(values)
            where.append(f"{column} IN (" + ",".join(f":{prefix}{n}" for n in range(len(values))) + ")"
                         if values else "0")
            params.update({f"{prefix}{n}": value for n, value in enumerate(values)})
        # The story's lead is its earliest-published matched copy (the outlet that had it first);
        # SQLite returns the other columns of the row where min() is reached.
        sql = f"""SELECT i.id, min(coalesce(i.published, i.first_seen) || printf('%012d', i.id)) AS lead
                  FROM items i JOIN matches m ON m.item_id = i.id
                  WHERE NOT EXISTS (SELECT 1 FROM deliveries d JOIN items j ON j.id = d.item_id
                                    WHERE d.digest = :digest AND d.channel = :channel AND j.story_id = i.story_id)
                  {''.join(' AND ' + w for w in where)}
                  GROUP BY i.story_id ORDER BY i.story_id"""  # one aggregate only, or SQLite picks any row
        return [row[0] for row in self.db.execute(sql, params)]

    def recent_signatures(self, since: datetime) -> list[dict]:
        """What the story index needs to rebuild itself at start: the window's items, oldest first."""
        return list(self.db.query(
            "SELECT id, story_id, signature, content_hash, first_seen FROM items WHERE first_seen >= ? ORDER BY id",
            [_iso(since)]))

    def create_batch(self, digest: str, channel: str, scheduled_for: datetime, at: datetime, *,
                     sources: Iterable[str] | None = None, topics: Iterable[str] | None = None,
                     kind: str = "digest", send_empty: bool = False, item_ids: Iterable[int] | None = None) -> Batch | None:
        """Claim, for one channel of a digest, every matched item it has not been given yet.

        The batch row and the claims are written in one transaction, so an item is either in
        exactly one batch of this (digest, channel) or still waiting for the next one.
        Returns None when there is nothing to send (and send_empty is false).
        """
        with self._transaction():
            ids = self.unclaimed_item_ids(digest, channel, sources=sources, topics=topics, item_ids=item_ids)
            if not ids and not send_empty:
                return None
            batch = Batch(id=uuid.uuid4().hex, digest=digest, channel=channel, kind=kind,
                          scheduled_for=scheduled_for, created_at=at, attempts=0, parts_sent=0, item_ids=ids)
            self.db.execute(
                """INSERT INTO batches (id, digest, channel, kind, scheduled_for, created_at, next_attempt_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                [batch.id, digest, channel, kind, _iso(scheduled_for), _iso(at), _iso(at)])
            self.db.conn.executemany(
                "INSERT INTO deliveries (digest, channel, item_id, batch_id) VALUES (?, ?, ?, ?)",
                [(digest, channel, item_id, batch.id) for item_id in ids])
        return batch

    def due_batches(self, at: datetime, channel: str | None = None) -> list[Batch]:
        sql = "SELECT * FROM batches WHERE status = 'pending' AND next_attempt_at <= ?"
        params: list = [_iso(at)]
        if channel:
            sql += " AND channel = ?"
            params.append(channel)
        return [self._batch(row) for row in self.db.query(sql + " ORDER BY created_at, id", params)]

    def pending_batches(self) -> list[Batch]:
        return [self._batch(row) for row in self.db.query(
            "SELECT * FROM batches WHERE status = 'pending' ORDER BY created_at, id")]

    def batches(self, digest: str | None = None) -> list[Batch]:
        sql = "SELECT * FROM batches" + (" WHERE digest = ?" if digest else "") + " ORDER BY created_at, id"
        return [self._batch(row) for row in self.db.query(sql, [digest] if digest else [])]

    def _batch(self, row: dict) -> Batch:
        ids = [r[0] for r in self.db.execute(
            "SELECT item_id FROM deliveries WHERE batch_id = ? ORDER BY item_id", [row["id"]])]
        return Batch(id=row["id"], digest=row["digest"], channel=row["channel"], kind=row["kind"],
                     scheduled_for=_dt(row["scheduled_for"]), created_at=_dt(row["created_at"]),
                     attempts=row["attempts"], parts_sent=row["parts_sent"], item_ids=ids,
                     status=row["status"], last_error=row["last_error"])

    def record_part_sent(self, batch_id: str, parts_sent: int) -> None:
        with self._transaction():
            self.db.execute("UPDATE batches SET parts_sent = ? WHERE id = ?", [parts_sent, batch_id])

    def record_delivered(self, batch_id: str, at: datetime) -> None:
        with self._transaction():
            self.db.execute("UPDATE batches SET status = 'delivered', delivered_at = ?, last_error = NULL "
                            "WHERE id = ?", [_iso(at), batch_id])

    def record_attempt_failed(self, batch_id: str, error: str, retry_at: datetime) -> None:
        with self._transaction():
            self.db.execute("UPDATE batches SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? "
                            "WHERE id = ?", [error, _iso(retry_at), batch_id])

    def stories(self, item_ids: Iterable[int], as_of: datetime | None = None) -> list[dict]:
        """Items with their matches (topics, terms, snippet), oldest first; "also" lists the copies
        stored up to `as_of` (a retried batch renders as first built: a copy that arrived since
        must not push a story into another part)."""
        ids = [int(i) for i in item_ids]
        if not ids:
            return []
        rows = list(self.db.query(
            f"""SELECT i.*, group_concat(m.topic, '\x1f') AS topics, max(m.snippet) AS snippet
                FROM items i LEFT JOIN matches m ON m.item_id = i.id
                WHERE i.id IN ({','.join(map(str, ids))}) GROUP BY i.id
                ORDER BY coalesce(i.published, i.first_seen), i.id"""))
        copies: dict[int, list[dict]] = {}
        stories = ",".join(str(row["story_id"] or row["id"]) for row in rows)
        for other in self.db.query(
                f"""SELECT id, story_id, url, source, title FROM items WHERE story_id IN ({stories})
                    AND (:as_of IS NULL OR first_seen <= :as_of)
                    ORDER BY coalesce(published, first_seen), id""", {"as_of": _iso(as_of)}):
            copies.setdefault(other["story_id"], []).append(other)
        for row in rows:
            row["topics"] = sorted(set(row["topics"].split("\x1f"))) if row["topics"] else []
            row["also"] = [{"url": o["url"], "source": o["source"], "title": o["title"]}
                           for o in copies.get(row["story_id"] or row["id"], []) if o["id"] != row["id"]]
        return rows

    # --- digest schedule ------------------------------------------------------------------------

    def last_digest_time(self, digest: str) -> datetime | None:
        row = self.db.execute("SELECT last_scheduled_for FROM digest_runs WHERE digest = ?", [digest]).fetchone()
        return _dt(row[0]) if row else None

    def record_digest_time(self, digest: str, scheduled_for: datetime) -> None:
        with self._transaction():
            self.db.execute(
                """INSERT INTO digest_runs (digest, last_scheduled_for) VALUES (?, ?)
                   ON CONFLICT(digest) DO UPDATE SET last_scheduled_for = excluded.last_scheduled_for""",
                [digest, _iso(scheduled_for)])

    def count_items(self, source: str | None = None) -> int:
        if source is None:
            return self.db.execute("SELECT count(*) FROM items").fetchone()[0]
        return self.db.execute("SELECT count(*) FROM items WHERE source = ?", [source]).fetchone()[0]

    def items(self, source: str | None = None, limit: int | None = None) -> list[dict]:
        sql = "SELECT * FROM items" + (" WHERE source = :source" if source else "") + " ORDER BY id"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return list(self.db.query(sql, {"source": source}))


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT on an autocommit connection (rollback on error). Nested uses
    join the transaction already open, so callers can make several writes one."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.outermost = False

    def __enter__(self):
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN IMMEDIATE")
            self.outermost = True
        return self.conn

    def __exit__(self, exc_type, exc, tb):
        if self.outermost:
            self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
        return False
