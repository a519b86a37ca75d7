"""SQLite persistence: source state, items and their matches; the outbox (monitor/outbox.py), the
evidence (monitor/captures.py), labels (monitor/labels.py), the web's reads (monitor/browse.py)
and the schema's numbered migrations (monitor/migrations.py) share its connection.

One file in WAL mode, so a reader (`monitor sources list`) never blocks the running service.
Every write is its own short transaction: a kill at any moment leaves either the whole poll's
items or none of them, never half an item.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from monitor.clock import from_iso, utc_iso
from monitor.dbfile import (CORRUPT, RESTORE, Database, StoreError, check_creatable, check_header, check_location,
                            check_writable, explain, is_database_fault, make_directory, read_only_reason, sqlite_uri,
                            unreadable_wal)
from monitor.browse import BrowseQueries
from monitor.captures import EvidenceQueries
from monitor.items import Item, Match, SourceHealth, SourceState, Story
from monitor.labels import LabelQueries
from monitor.migrations import MIGRATIONS
from monitor.outbox import Batch, OutboxQueries
from monitor.secrets import redact
from monitor.text import truncate_at_word


__all__ = ["MIGRATIONS", "Batch", "Store", "StoreError", "StoredItem"]


_INSERT_ITEM = """INSERT INTO items (id, key, url_key, url, guid, source, title, summary, content, author, published,
                     first_seen, content_hash, lang, canonical, story_id, signature, feed_hash)
                  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""

# `monitor check` reads every page of a database up to this size (~0.25 s of SQLite's quick_check here)
FULL_CHECK_BYTES = 16 * 2**20


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


class Store(OutboxQueries, EvidenceQueries, LabelQueries, BrowseQueries):
    """The database at `path`, migrated to the latest schema (its directory is created).

    read_only=True is for commands that only read (`sources list`, `digest --preview`): the file
    is opened with SQLite's mode=ro (immutable when its directory takes no -wal/-shm files), never
    migrated, never written; a missing or empty file reads as an empty database. A file that
    cannot be used either way raises StoreError, whose message says what to do.
    """

    def __init__(self, path: str | Path, *, read_only: bool = False):
        self.path = Path(path)
        self.read_only = read_only
        # Set for a read-only open of a database with an older schema: what the reader is told.
        self.upgrade_note: str | None = None
        self.db: Database | None = None
        # How many transactions ended in an error (rolled back, or not known to be committed):
        # what the story index read or wrote inside one may be gone, and its ids handed out again.
        self.failed_transactions = 0
        try:
            if str(path) == ":memory:":
                self._connect(":memory:")
            elif read_only:
                self._open_read_only()
            else:
                make_directory(self.path)
                check_header(self.path)
                check_writable(self.path)
                self._connect(str(self.path))
            self.migrate()
        except sqlite3.Error as exc:
            self.close()
            if not is_database_fault(exc):
                raise
            raise explain(self.path, exc) from exc
        except BaseException:
            self.close()
            raise

    @classmethod
    def open(cls, path: str | Path, *, read_only: bool = False) -> Store:
        return cls(path, read_only=read_only)

    @classmethod
    def inspect(cls, path: str | Path, *, full: bool = False) -> str:
        """What `monitor check` says of the database, writing nothing: "" when it does not exist
        yet (and can be created), else its schema and size. StoreError when a write command
        could not use it: a corrupt file, a newer schema, a read-only place, a path below a file.

        Every page is read (SQLite's quick_check) in a database of up to FULL_CHECK_BYTES, or
        with `full`; a larger one has the first pages of each of its tables read instead: a year
        of history is a gigabyte, which quick_check reads in ~15 s, and `monitor check` is what a
        user runs after each edit of sources.yaml. A page damaged deeper down is reported by the
        command that reads it, in the same words."""
        path = Path(path)
        check_location(path)
        if not path.exists():
            check_creatable(path)
            return ""
        check_header(path)
        check_writable(path)
        if path.stat().st_size == 0:
            return "empty; the first write command sets it up"
        store = cls(path, read_only=True)
        try:
            size = sum(part.stat().st_size for part in (path, Path(f"{path}-wal")) if part.exists())  # with its log
            every_page = full or size <= FULL_CHECK_BYTES
            if every_page:
                problems = [row[0] for row in store.db.execute("PRAGMA quick_check")]
                if problems != ["ok"]:
                    raise StoreError(path, f"{CORRUPT}: {' '.join(problems[0].split())}", RESTORE)  # one line
            else:
                for (table,) in store.db.execute(
                        "SELECT name FROM sqlite_master WHERE type = 'table' AND rootpage > 0").fetchall():
                    store.db.execute(f'SELECT * FROM "{table}" NOT INDEXED LIMIT 1').fetchall()  # its own b-tree
            version, items = store.schema_version, store.db.execute("SELECT count(*) FROM items").fetchone()[0]
        except sqlite3.Error as exc:
            if not is_database_fault(exc):
                raise
            raise explain(path, exc) from exc
        finally:
            store.close()
        state = f"schema version {version}, {items} items"
        if not every_page:
            state += "; the first pages of its tables read (`monitor check --full` reads every page)"
        if version < len(MIGRATIONS):
            state += f"; the next write command upgrades it to version {len(MIGRATIONS)}"
        return state

    def _connect(self, target: str, *, uri: bool = False) -> None:
        conn = sqlite3.connect(target, timeout=30, isolation_level=None, check_same_thread=False, uri=uri)
        self.db = Database(conn)
        if self.read_only:
            self.db.execute("PRAGMA query_only=ON")
            self.db.execute("PRAGMA user_version").fetchone()  # opens the file now: its errors are raised here
            return
        self._known_schema()  # before anything is written, WAL mode included
        self._use_wal()
        self.db.execute("PRAGMA synchronous=NORMAL")
        # Checkpoint the WAL every ~16 MB rather than every 4 MB: a cold poll of many feeds commits
        # hundreds of small transactions, and each checkpoint is an fsync.
        self.db.execute("PRAGMA wal_autocheckpoint=4000")
        self.db.execute("PRAGMA foreign_keys=ON")

    def _use_wal(self, patience: float = 30.0) -> None:
        """Switch the file to WAL mode. The switch needs the file to itself and SQLite does not
        wait for it (no busy handler), so openers that start together retry here rather than fail."""
        deadline = time.monotonic() + patience
        pause = 0.005
        while True:
            try:
                self.db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                busy = getattr(exc, "sqlite_errorname", "").startswith("SQLITE_BUSY")
                if not busy or time.monotonic() + pause > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.2)

    def _open_read_only(self) -> None:
        check_location(self.path)
        if not self.path.exists() or self.path.stat().st_size == 0:
            self._empty()  # nothing stored yet: an empty database at the latest schema, in memory
            return
        check_header(self.path)
        try:
            self._connect(sqlite_uri(self.path, mode="ro"), uri=True)
        except sqlite3.OperationalError as exc:
            # mode=ro still needs to create the -shm (and -wal) file beside a WAL database; where
            # the directory takes no files the database is read as immutable, which is right only
            # while no changes wait in a -wal file.
            name = getattr(exc, "sqlite_errorname", "")
            if not name.startswith(("SQLITE_CANTOPEN", "SQLITE_READONLY")) or read_only_reason(self.path.parent) is None:
                raise
            if unreadable_wal(self.path):
                raise StoreError(self.path, f"has changes not yet written into it (in {self.path}-wal), and "
                                            f"SQLite cannot read them while it {read_only_reason(self.path.parent)}",
                                 "run a write command (monitor poll) once where the directory is writable") from exc
            self.close()
            self._connect(sqlite_uri(self.path, mode="ro", immutable="1"), uri=True)
        if self._version_and_tables() == (0, 0):
            self.close()
            self._empty()

    def _empty(self) -> None:
        self.read_only = False  # an in-memory database nobody else sees: it may take the schema
        self._connect(":memory:")
        self.migrate()
        self.db.execute("PRAGMA query_only=ON")
        self.read_only = True

    def _version_and_tables(self) -> tuple[int, int]:
        """The schema version and the number of tables, read in one snapshot (one statement)."""
        row = self.db.execute("""
            SELECT (SELECT user_version FROM pragma_user_version),
                   (SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%')""").fetchone()
        return row[0], row[1]

    def _known_schema(self) -> int:
        """The schema version; StoreError for one newer than this monitor, or a SQLite file that is not monitor's."""
        version, tables = self._version_and_tables()
        if version > len(MIGRATIONS):
            raise StoreError(self.path, f"has schema version {version}, newer than this monitor knows "
                                        f"({len(MIGRATIONS)})", "upgrade monitor, or set settings.database to another file")
        if version == 0 and tables:
            raise StoreError(self.path, "is a SQLite database, but not monitor's (it has tables and no schema version)",
                             "set settings.database to another file")
        return version

    def close(self) -> None:
        if self.db is not None:
            self.db.conn.close()
            self.db = None

    @property
    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def migrate(self) -> None:
        """Apply the migrations the database lacks (one transaction each). A schema newer than
        this monitor, or a SQLite file that is not monitor's, raises StoreError; a read-only store
        is left as it is, with `upgrade_note` saying the next write command upgrades it."""
        version, latest = self._known_schema(), len(MIGRATIONS)
        if self.read_only:
            if version < latest:
                self.upgrade_note = (f"database {self.path} has schema version {version}, older than this monitor's "
                                     f"({latest}); it is read as it is, and the next write command (monitor poll, "
                                     f"monitor run, monitor digest --now) upgrades it")
            return
        while version < latest:
            with self.transaction():
                # Read again under the write lock: another process may have migrated meanwhile.
                version = self.schema_version
                if version < latest:
                    MIGRATIONS[version](self.db)
                    version += 1
                    self.db.execute(f"PRAGMA user_version = {version}")

    def too_old(self) -> StoreError:
        """What to say when a read-only command's query needs a table or column of a newer schema."""
        return StoreError(self.path, f"has schema version {self.schema_version}, older than this monitor's "
                                     f"({len(MIGRATIONS)}), and a read-only command does not upgrade it",
                          "run a write command (monitor poll) once to upgrade it")

    def transaction(self):
        """`with store.transaction():` makes the writes inside it one commit."""
        return _Transaction(self.db.conn, self)

    # --- sources --------------------------------------------------------------------------------

    def source_state(self, name: str) -> SourceState:
        rows = list(self.db.query("SELECT * FROM sources WHERE name = ?", [name]))
        if not rows:
            return SourceState(name=name)
        r = rows[0]
        return SourceState(
            name=name, etag=r["etag"], last_modified=r["last_modified"], body_hash=r["body_hash"],
            last_polled=from_iso(r["last_polled"]), last_ok=from_iso(r["last_ok"]), last_error=r["last_error"],
            failing_since=from_iso(r["failing_since"]), consecutive_failures=r["consecutive_failures"],
            status=r["last_status"],
        )

    def _ensure_source(self, name: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO sources (name) VALUES (?)", [name])

    def record_success(self, name: str, at: datetime, *, etag: str | None, last_modified: str | None,
                       body_hash: str | None, new_items: int, not_modified: bool = False,
                       warning: str | None = None) -> None:
        with self.transaction():
            self._ensure_source(name)
            self.db.execute(
                """UPDATE sources SET etag = ?, last_modified = ?, body_hash = ?, last_polled = ?, last_ok = ?,
                       last_status = ?, last_error = ?, failing_since = NULL, consecutive_failures = 0,
                       items_total = items_total + ? WHERE name = ?""",
                [etag, last_modified, body_hash, utc_iso(at), utc_iso(at), "not_modified" if not_modified else "ok",
                 redact(warning), new_items, name],  # redact: a ${VAR} value is never stored
            )

    def record_failure(self, name: str, at: datetime, error: str) -> None:
        with self.transaction():
            self._ensure_source(name)
            self.db.execute(
                """UPDATE sources SET last_polled = ?, last_status = 'failing', last_error = ?,
                       failing_since = COALESCE(failing_since, ?),
                       consecutive_failures = consecutive_failures + 1 WHERE name = ?""",
                [utc_iso(at), redact(error), utc_iso(at), name],  # e.g. a URL with ?token=${TOKEN}
            )

    def source_health(self) -> list[SourceHealth]:
        return [SourceHealth(row["name"], row["last_status"],
                             row["last_error"] if row["last_status"] == "failing" else None,
                             from_iso(row["failing_since"]), last_ok=from_iso(row["last_ok"]),
                             items=row["items_total"], note=row["last_error"])
                for row in self.db.query("SELECT * FROM sources ORDER BY name")]

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

    def unmatched_from_elsewhere(self, keys: Iterable[str], source: str) -> dict[str, int]:
        """Of these keys, those another source stored first and no topic matched: key → item id.
        (An outlet's link to another's article, stored first, must not hide that article's report.)"""
        keys = list(dict.fromkeys(keys))
        found: dict[str, int] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            found.update(self.db.execute(
                f"""SELECT key, id FROM items WHERE key IN ({",".join("?" * len(chunk))}) AND source != ?
                    AND NOT EXISTS (SELECT 1 FROM matches m WHERE m.item_id = items.id)""", chunk + [source]))
        return found

    def adopt(self, source: str, adopted: Mapping[int, tuple[Item, list[Match]]], at: datetime) -> None:
        """The publisher's own report of items another source stored first (a link to it): the row
        becomes the report (its key stays), with its topic matches."""
        self.db.conn.executemany(
            """UPDATE items SET source = ?, url = ?, title = ?, summary = ?, content = ?, author = ?,
                   published = coalesce(?, published), lang = ?, content_hash = ? WHERE id = ?""",
            [(source, item.url, item.title, item.summary, item.content, item.author, utc_iso(item.published),
              item.lang, item.content_hash, item_id) for item_id, (item, _) in adopted.items()])
        self.add_matches({item_id: found for item_id, (_, found) in adopted.items()}, at)

    def add_matches(self, matches: Mapping[int, list[Match]], at: datetime) -> None:
        """Topic matches of items already stored."""
        self.db.conn.executemany(
            "INSERT OR IGNORE INTO matches (item_id, topic, terms, snippet, matched_at) VALUES (?, ?, ?, ?, ?)",
            [(item_id, m.topic, json.dumps(m.terms, ensure_ascii=False), m.snippet, utc_iso(at))
             for item_id, found in matches.items() for m in found])

    def add_items(self, source: str, items: Mapping[str, Item] | Iterable[Item], at: datetime,
                  matches: dict[str, list[Match]] | None = None,
                  story_for: Callable[[Item, int], tuple[int | None, bytes | None]] | None = None,
                  group_unmatched: bool = True) -> list[StoredItem]:
        """Insert the items not seen before (by key), with their topic matches, in one transaction
        (an item is never stored without its matches); return those that were new.

        `items` maps each item's key to it (the pipeline computed the keys once), or is a plain list.
        story_for(item, item_id) → (story id of an earlier copy or None, signature blob) groups
        copies into stories; without it every item is its own story. With group_unmatched False only
        matched items are grouped (and remembered by the story index): nobody is sent an off-topic
        story, so its copies do not matter.
        """
        from monitor.dedup import band_rows  # the story index loads numpy: not for read-only commands

        new: list[StoredItem] = []
        matches = matches or {}
        with self.transaction():
            # Ids are handed out here, inside the write transaction (no other writer can take
            # them), so each item is one row written once, with its story, in this one transaction.
            pending = items if isinstance(items, Mapping) else {item.key(source): item for item in items}
            known = self.known_keys(pending)
            next_id = (self.db.execute("SELECT max(id) FROM items").fetchone()[0] or 0) + 1
            match_rows, ungrouped, seen = [], [], utc_iso(at)
            for key, item in pending.items():
                if key in known:
                    continue
                item_id, next_id = next_id, next_id + 1
                # An update row is news of its own: it never joins the story it updates.
                grouped = story_for and not item.revision and (group_unmatched or key in matches)
                story_id, signature = story_for(item, item_id) if grouped else (None, None)
                story_id = story_id or item_id
                row = (item_id, key, item.stored_url_key(source, key), item.url, item.guid, source, item.title,
                       item.summary, item.content, item.author, utc_iso(item.published), seen, item.content_hash,
                       item.lang, item.canonical, story_id, signature, item.feed_hash or None)
                if grouped:
                    # Written before the next item is judged, with its LSH bands: the story index over
                    # this store (dedup.load_index) finds it by them, a copy in the same poll too.
                    self.db.execute(_INSERT_ITEM, row)
                    if signature:
                        self.db.conn.executemany("INSERT INTO story_bands (band_key, seen, item_id) VALUES (?, ?, ?)",
                                                 band_rows(item_id, signature, at))
                else:
                    ungrouped.append(row)  # no story lookup reads it (it has no signature): written below, at once
                new.append(StoredItem(item_id, key, source, item, story_id))
                match_rows += [(item_id, match.topic, json.dumps(match.terms, ensure_ascii=False), match.snippet,
                                seen) for match in matches.get(key, ())]
            self.db.conn.executemany(_INSERT_ITEM, ungrouped)
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO matches (item_id, topic, terms, snippet, matched_at) VALUES (?, ?, ?, ?, ?)",
                match_rows)
        return new

    def edited_items(self, fingerprints: dict[str, str]) -> list[str]:
        """Keys of stored items whose feed text changed (fingerprints: key → new feed hash); the
        stored fingerprint is updated, so an edit is reported once. Items stored before
        fingerprints were kept just get one."""
        edited = []
        with self.transaction():
            for key, fingerprint in fingerprints.items():
                row = self.db.execute("SELECT id, feed_hash FROM items WHERE key = ?", [key]).fetchone()
                if row is None or row[1] == fingerprint:
                    continue
                if row[1] is not None:
                    edited.append(key)
                self.db.execute("UPDATE items SET feed_hash = ? WHERE id = ?", [fingerprint, row[0]])
        return edited

    def forget_old_text(self, before: datetime, batch: int = 5000) -> int:
        """Retention: items first seen before `before` that matched no topic lose their summary,
        text and signature (and with it their LSH bands); the row and its key stay, so the item
        never comes back as new. Done in small transactions (a poll is never kept waiting long);
        returns how many."""
        from monitor.dedup import band_rows

        done = 0
        while True:
            with self.transaction():
                rows = self.db.execute(
                    """SELECT id, signature, first_seen FROM items WHERE first_seen < ? AND (summary != '' OR content != '')
                           AND id NOT IN (SELECT item_id FROM matches) LIMIT ?""",
                    [utc_iso(before), batch]).fetchall()
                self.db.conn.executemany(
                    "DELETE FROM story_bands WHERE band_key = ? AND item_id = ?",
                    [(key, item_id) for item_id, blob, seen in rows
                     for key, _, _ in band_rows(item_id, blob, from_iso(seen))])
                self.db.conn.executemany("UPDATE items SET summary = '', content = '', signature = NULL WHERE id = ?",
                                         [(item_id,) for item_id, _, _ in rows])
            done += len(rows)
            if len(rows) < batch:
                break
        if done:
            self.db.execute("PRAGMA incremental_vacuum")  # gives pages back where auto_vacuum allows
        return done

    # --- the story index (monitor/dedup.py): grouped items are those stored with a signature ------
    # (b"" for a text too short for a MinHash). Every query reads the window (first seen since
    # `since`) and only the rows it is about, so none costs more with more stored. The bands of
    # matched items older than the window stay (retention keeps those items whole): they cost
    # disk, ~1 KB an item, and no query time, since story_bands is ordered by (band key, seen)
    # and each query starts at the window.

    def grouped_copy(self, content_hash: str, since: datetime) -> int | None:
        """The story of the window's first grouped item with this text hash, or None."""
        row = self.db.execute(
            """SELECT coalesce(story_id, id) FROM items WHERE content_hash = ? AND first_seen >= ?
                   AND signature IS NOT NULL ORDER BY first_seen, id LIMIT 1""",
            [content_hash, utc_iso(since)]).fetchone()
        return None if row is None else row[0]

    def band_members(self, keys: list[int], since: datetime) -> list[int]:
        """Ids of the window's grouped items that share one of these LSH band keys, ascending (read
        from story_bands' primary key alone)."""
        from monitor.dedup import seen_second

        marks = ",".join("?" * len(keys))
        # One row, the ids joined, made unique and sorted here: a report on a busy subject shares
        # bands with a thousand items and more, and stepping through them row by row (and SQLite's
        # DISTINCT and ORDER BY) cost a third more.
        ids = self.db.execute(
            f"SELECT group_concat(item_id) FROM story_bands WHERE band_key IN ({marks}) AND seen >= ?",
            [*keys, seen_second(since)]).fetchone()[0]
        return sorted(set(map(int, ids.split(",")))) if ids else []

    def grouped_signatures(self, item_ids: list[int]) -> list[tuple[int, int, bytes, bytes]]:
        """(item id, story id, MinHash bytes, packed facts) of those of these items stored with a
        signature (the facts b"" for one without)."""
        from monitor.dedup import NUM_PERM

        out: list[tuple[int, int, bytes, bytes]] = []
        for start in range(0, len(item_ids), 500):  # well under SQLite's limit on bound values
            chunk = item_ids[start:start + 500]
            # substr() of a blob is a blob: b"" past its end, so a MinHash-only signature has no facts
            out += self.db.execute(
                f"""SELECT id, coalesce(story_id, id), substr(signature, 1, {NUM_PERM * 8}),
                           substr(signature, {NUM_PERM * 8 + 1}) FROM items
                    WHERE id IN ({",".join("?" * len(chunk))}) AND signature IS NOT NULL""", chunk).fetchall()
        return out

    def band_candidates(self, keys: list[int], since: datetime) -> list[tuple[int, bytes, bytes]]:
        """(story id, MinHash bytes, packed facts) of the window's grouped items that share one of
        these LSH band keys (monitor.dedup.band_keys), oldest first."""
        from monitor.dedup import NUM_PERM, seen_second

        marks = ",".join("?" * len(keys))
        return self.db.execute(
            f"""SELECT coalesce(story_id, id), substr(signature, 1, {NUM_PERM * 8}),
                       substr(signature, {NUM_PERM * 8 + 1}) FROM items
                WHERE id IN (SELECT item_id FROM story_bands WHERE band_key IN ({marks}) AND seen >= ?)
                  AND signature IS NOT NULL ORDER BY id""", [*keys, seen_second(since)]).fetchall()

    def story_facts(self, story_id: int, since: datetime) -> list[bytes]:
        """The packed facts (after the MinHash in the signature blob) of a story's grouped items in
        the window, oldest first; b"" for one without."""
        from monitor.dedup import NUM_PERM

        return [row[0] for row in self.db.execute(  # substr() of a blob: bytes, b"" past its end
            f"""SELECT substr(signature, {NUM_PERM * 8 + 1}) FROM items
                WHERE story_id = ? AND first_seen >= ? AND signature IS NOT NULL ORDER BY id""",
            [story_id, utc_iso(since)])]

    def grouped_count(self, since: datetime | None) -> int:
        """How many grouped items were first seen since `since` (all of them for None)."""
        return self.db.execute("SELECT count(*) FROM items WHERE first_seen >= ? AND signature IS NOT NULL",
                               [utc_iso(since) or ""]).fetchone()[0]

    def stories(self, item_ids: Iterable[int], as_of: datetime | None = None) -> list[Story]:
        """Items with their matches (topics, snippet), oldest first; "also" lists the copies stored
        up to `as_of` (a retried batch renders as first built: a copy that arrived since must not
        push a story into another part)."""
        ids = [int(i) for i in item_ids]
        if not ids:
            return []
        rows = list(self.db.query(
            f"""SELECT i.id, i.story_id, i.title, i.url, i.source, i.published, i.first_seen, i.lang, i.summary,
                       i.content, group_concat(m.topic, '\x1f') AS topics, max(m.snippet) AS snippet
                FROM items i LEFT JOIN matches m ON m.item_id = i.id
                WHERE i.id IN ({','.join(map(str, ids))}) GROUP BY i.id
                ORDER BY coalesce(i.published, i.first_seen), i.id"""))
        copies: dict[int, list[dict]] = {}
        stories = ",".join(str(row["story_id"] or row["id"]) for row in rows)
        for other in self.db.query(
                f"""SELECT id, story_id, url, source, title FROM items WHERE story_id IN ({stories})
                    AND (:as_of IS NULL OR first_seen <= :as_of)
                    ORDER BY coalesce(published, first_seen), id""", {"as_of": utc_iso(as_of)}):
            copies.setdefault(other["story_id"], []).append(other)
        try:
            gone = {item_id: state.gone_at for item_id, state in self.evidence_states(ids).items() if state.gone_at}
        except sqlite3.OperationalError:  # a read-only database from before evidence: nothing is known gone
            gone = {}
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
        row = self.db.execute("SELECT last_scheduled_for FROM digest_runs WHERE digest = ?", [digest]).fetchone()
        return from_iso(row[0]) if row else None

    def record_digest_time(self, digest: str, scheduled_for: datetime) -> None:
        with self.transaction():
            self.db.execute(
                """INSERT INTO digest_runs (digest, last_scheduled_for) VALUES (?, ?)
                   ON CONFLICT(digest) DO UPDATE SET last_scheduled_for = excluded.last_scheduled_for""",
                [digest, utc_iso(scheduled_for)])

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

    def __init__(self, conn: sqlite3.Connection, store: Store | None = None):
        self.conn = conn
        self.store = store
        self.outermost = False

    def __enter__(self):
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN IMMEDIATE")
            self.outermost = True
        return self.conn

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and self.store is not None:
            # Counted for a nested block too: its caller may go on, but SQLite may have rolled
            # the whole transaction back already (a full disk does).
            self.store.failed_transactions += 1
        if not self.outermost:
            return False
        if exc_type is not None:
            self._rollback()
            return False
        try:
            self.conn.execute("COMMIT")
        except sqlite3.Error:
            # A COMMIT that fails (disk full) leaves the transaction open: every later write would
            # join it and never be committed. End it here; the caller sees the error.
            if self.store is not None:
                self.store.failed_transactions += 1
            self._rollback()
            raise
        return False

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
