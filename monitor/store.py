"""SQLite persistence: source state and items, with numbered schema migrations.

One file in WAL mode, so a reader (`monitor sources list`) never blocks the running service.
Every write is its own short transaction: a kill at any moment leaves either the whole poll's
items or none of them, never half an item.
"""

from __future__ import annotations

import sqlite3
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


# Append only: a migration that has shipped is never edited, the next one fixes it.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1]


@dataclass(frozen=True)
class StoredItem:
    id: int
    key: str
    source: str
    item: Item


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

    def add_items(self, source: str, items: Iterable[Item], at: datetime) -> list[StoredItem]:
        """Insert the items not seen before (by key); return those that were new."""
        new: list[StoredItem] = []
        with self._transaction():
            for item in items:
                key = item.key(source)
                cursor = self.db.execute(
                    """INSERT INTO items (key, url, guid, source, title, summary, content, author, published,
                           first_seen, content_hash)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO NOTHING""",
                    [key, item.url, item.guid, source, item.title, item.summary, item.content, item.author,
                     _iso(item.published), _iso(at), item.content_hash],
                )
                if cursor.rowcount == 1:
                    new.append(StoredItem(cursor.lastrowid, key, source, item))
        return new

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
    """BEGIN IMMEDIATE … COMMIT on an autocommit connection (rollback on error)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb):
        self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
        return False
