"""The SQLite schema, as numbered migrations: the database's user_version is the count applied."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitor.dbfile import Database


def _v1(db: Database) -> None:
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


def _v2(db: Database) -> None:
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


def _v3(db: Database) -> None:
    """Stories: copies of one article share story_id (the id of the story's first item)."""
    db.execute("ALTER TABLE items ADD COLUMN url_key TEXT")
    db.execute("ALTER TABLE items ADD COLUMN story_id INTEGER")
    db.execute("ALTER TABLE items ADD COLUMN signature BLOB")  # MinHash, for rebuilding the index
    db.execute("UPDATE items SET url_key = key, story_id = id")
    db.execute("CREATE INDEX items_url_key ON items(url_key)")
    db.execute("CREATE INDEX items_story ON items(story_id)")


def _v4(db: Database) -> None:
    """What the feed said of each item, to notice edits (sources with notify_updates)."""
    db.execute("ALTER TABLE items ADD COLUMN feed_hash TEXT")


def _v5(db: Database) -> None:
    """Exact copies are found by the in-memory story index: the content_hash index only cost
    every insert a page write."""
    db.execute("DROP INDEX IF EXISTS items_content_hash")


def _v6(db: Database) -> None:
    """A batch is claimed before it is sent: status 'sending' (besides pending | delivered), by
    one owner (a token per dispatcher and claim), until its lease expires. Nothing is claimed yet."""
    db.execute("ALTER TABLE batches ADD COLUMN owner TEXT")
    db.execute("ALTER TABLE batches ADD COLUMN lease_until TEXT")


def _v7(db: Database) -> None:
    """Evidence (monitor/evidence/): captures of matched pages in WARC files, each matched item's
    capture and recheck state, an append-only custody log, and the WARC files' seals. Items
    matched before this migration are 'not_captured': upgrading does not fetch them all at once."""
    db.execute("""
        CREATE TABLE evidence (
            item_id INTEGER PRIMARY KEY REFERENCES items(id),
            state TEXT NOT NULL,               -- pending | captured | failed | not_captured
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            next_attempt_at TEXT,              -- pending: the next try (or the claim's lease)
            captured_at TEXT,                  -- the first capture; rechecks are due from it
            checks_done INTEGER NOT NULL DEFAULT 0,
            next_check_at TEXT,
            last_checked TEXT,
            check_error TEXT,                  -- the last recheck that could not reach the page
            gone_at TEXT                       -- when a recheck first found the page gone
        )""")
    db.execute("CREATE INDEX evidence_pending ON evidence(state, next_attempt_at)")
    db.execute("CREATE INDEX evidence_checks ON evidence(state, next_check_at)")
    db.execute("""
        CREATE TABLE captures (
            id INTEGER PRIMARY KEY,
            item_id INTEGER NOT NULL REFERENCES items(id),
            reason TEXT NOT NULL,              -- match | changed | recheck
            requested_url TEXT NOT NULL,
            url TEXT NOT NULL,                 -- after redirects: WARC-Target-URI
            captured_at TEXT NOT NULL,         -- UTC: WARC-Date
            http_status INTEGER NOT NULL,
            sha256 TEXT NOT NULL,              -- hex, of the response payload as stored
            warc_file TEXT NOT NULL,           -- name in settings.evidence.dir
            warc_record_id TEXT NOT NULL,      -- the response record
            warc_offset INTEGER NOT NULL,      -- the response and request records: where they start,
            warc_length INTEGER NOT NULL,      -- their length,
            record_sha256 TEXT NOT NULL,       -- and the sha256 of those bytes as written
            status TEXT NOT NULL DEFAULT 'captured',  -- captured | live | changed | gone
            last_checked TEXT
        )""")
    db.execute("CREATE INDEX captures_item ON captures(item_id)")
    db.execute("""
        CREATE TABLE custody (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            event TEXT NOT NULL,               -- capture | capture_failed | recheck | export | verify | timestamp
            item_id INTEGER,
            capture_id INTEGER,
            url TEXT,
            sha256 TEXT,
            detail TEXT NOT NULL DEFAULT '',
            monitor_version TEXT NOT NULL
        )""")
    db.execute("CREATE INDEX custody_item ON custody(item_id)")
    for action in ("UPDATE", "DELETE"):
        db.execute(f"""CREATE TRIGGER custody_no_{action.lower()} BEFORE {action} ON custody
                       BEGIN SELECT RAISE(ABORT, 'the custody log is append-only'); END""")
    db.execute("""
        CREATE TABLE warc_files (
            name TEXT PRIMARY KEY,
            sha256 TEXT NOT NULL,              -- of the whole file once its day was over
            size INTEGER NOT NULL,
            sealed_at TEXT NOT NULL,
            tsa_url TEXT,
            token_file TEXT,                   -- the RFC 3161 token, beside the file
            timestamped_at TEXT,
            timestamp_error TEXT
        )""")
    db.execute("INSERT INTO evidence (item_id, state) SELECT DISTINCT item_id, 'not_captured' FROM matches")


def _v8(db: Database) -> None:
    """Full-text search (the web interface's ?q=): an FTS5 index over items' title, summary and main
    text, folding case and diacritics (Latin and Cyrillic alike). It keeps no copy of the text
    (external content: items is the content table) and is kept up to date by triggers, so no
    writer has to know about it; the items stored so far are indexed here."""
    db.execute("""CREATE VIRTUAL TABLE items_fts USING fts5(title, summary, content, content='items',
                  content_rowid='id', tokenize='unicode61 remove_diacritics 2')""")
    db.execute("""CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN
                      INSERT INTO items_fts (rowid, title, summary, content)
                      VALUES (new.id, new.title, new.summary, new.content);
                  END""")
    db.execute("""CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN
                      INSERT INTO items_fts (items_fts, rowid, title, summary, content)
                      VALUES ('delete', old.id, old.title, old.summary, old.content);
                  END""")
    # Only a change of the indexed text touches the index (not a feed_hash or story_id update).
    db.execute("""CREATE TRIGGER items_fts_update AFTER UPDATE OF title, summary, content ON items BEGIN
                      INSERT INTO items_fts (items_fts, rowid, title, summary, content)
                      VALUES ('delete', old.id, old.title, old.summary, old.content);
                      INSERT INTO items_fts (rowid, title, summary, content)
                      VALUES (new.id, new.title, new.summary, new.content);
                  END""")
    db.execute("INSERT INTO items_fts (items_fts) VALUES ('rebuild')")


def _v9(db: Database) -> None:
    """The user's labels (monitor/labels.py): one per item, relevant or not_relevant, with a note,
    when and from where (the CLI's `monitor label`, or the web interface). A story one of whose
    items is labelled not_relevant is never put in a digest; the labels export as a regression set."""
    db.execute("""
        CREATE TABLE labels (
            item_id INTEGER PRIMARY KEY REFERENCES items(id),
            label TEXT NOT NULL CHECK (label IN ('relevant', 'not_relevant')),
            note TEXT NOT NULL DEFAULT '',
            labelled_at TEXT NOT NULL,
            labelled_by TEXT NOT NULL DEFAULT 'cli' CHECK (labelled_by IN ('cli', 'web'))
        )""")
    db.execute("CREATE INDEX labels_label ON labels(label)")


def _v10(db: Database) -> None:
    """The story index in SQLite (monitor/dedup.py), no longer rebuilt in memory at start: the LSH
    band keys of every grouped item (one with a MinHash signature), queried per article. Ordered
    by (band key, seen), so a query reads a key's rows within the window only; seen is the item's
    first_seen in Unix seconds. Exact copies are found by content_hash among grouped items, the
    only ones the partial index holds (v5 dropped the full one: it cost every insert). Items are
    never deleted; were they, the cascade would scan story_bands (it has no index by item).
    The bands of the items stored so far are written here, all of them (not only the window's)."""
    db.execute("""
        CREATE TABLE story_bands (
            band_key INTEGER NOT NULL,         -- monitor.dedup.band_keys: 63-bit hash of (band, its values)
            seen INTEGER NOT NULL,             -- the item's first_seen, Unix seconds
            item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
            PRIMARY KEY (band_key, seen, item_id)
        ) WITHOUT ROWID""")
    db.execute("CREATE INDEX items_grouped_hash ON items(content_hash, first_seen) WHERE signature IS NOT NULL")
    if db.execute("SELECT 1 FROM items WHERE signature IS NOT NULL LIMIT 1").fetchone() is None:
        return  # a new database: nothing to index, and numpy (which the bands need) stays unloaded
    import numpy as np

    from monitor.dedup import NUM_PERM, band_key_matrix, seen_second

    size, last = NUM_PERM * 8, 0
    while True:  # 5000 items at a time, in item order
        rows = db.execute(f"""SELECT id, substr(signature, 1, {size}), first_seen FROM items
                              WHERE id > ? AND length(signature) >= {size} ORDER BY id LIMIT 5000""", [last]).fetchall()
        if not rows:
            break
        keys = band_key_matrix(np.frombuffer(b"".join(row[1] for row in rows), dtype="<u8").reshape(len(rows), -1))
        db.conn.executemany("INSERT INTO story_bands (band_key, seen, item_id) VALUES (?, ?, ?)",
                            ((key, second, item_id) for (item_id, _, first_seen), item_keys in zip(rows, keys.tolist())
                             for second in (seen_second(datetime.fromisoformat(first_seen)),) for key in item_keys))
        last = rows[-1][0]


def _v11(db: Database) -> None:
    """The search index holds matched items only. The web interface searches stories (matched
    items), and indexing every item as it was stored cost four fifths of storing it (most items
    match nothing: 180 of 220 us an item). The index's content is now the view matched_items, so
    FTS5 reads and checks exactly what it holds; triggers add an item with its first match, drop it
    with its last, and follow its text while it has one (an adopted report's new text). The
    matched items stored so far are indexed here."""
    for trigger in ("items_fts_insert", "items_fts_delete", "items_fts_update"):
        db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    db.execute("DROP TABLE items_fts")
    db.execute("""CREATE VIEW matched_items AS
                  SELECT id, title, summary, content FROM items WHERE id IN (SELECT item_id FROM matches)""")
    db.execute("""CREATE VIRTUAL TABLE items_fts USING fts5(title, summary, content, content='matched_items',
                  content_rowid='id', tokenize='unicode61 remove_diacritics 2')""")
    db.execute("""CREATE TRIGGER items_fts_match AFTER INSERT ON matches
                  WHEN (SELECT count(*) FROM matches WHERE item_id = new.item_id) = 1 BEGIN
                      INSERT INTO items_fts (rowid, title, summary, content)
                      SELECT id, title, summary, content FROM items WHERE id = new.item_id;
                  END""")
    db.execute("""CREATE TRIGGER items_fts_unmatch AFTER DELETE ON matches
                  WHEN NOT EXISTS (SELECT 1 FROM matches WHERE item_id = old.item_id) BEGIN
                      INSERT INTO items_fts (items_fts, rowid, title, summary, content)
                      SELECT 'delete', id, title, summary, content FROM items WHERE id = old.item_id;
                  END""")
    db.execute("""CREATE TRIGGER items_fts_delete AFTER DELETE ON items
                  WHEN EXISTS (SELECT 1 FROM matches WHERE item_id = old.id) BEGIN
                      INSERT INTO items_fts (items_fts, rowid, title, summary, content)
                      VALUES ('delete', old.id, old.title, old.summary, old.content);
                  END""")
    db.execute("""CREATE TRIGGER items_fts_update AFTER UPDATE OF title, summary, content ON items
                  WHEN EXISTS (SELECT 1 FROM matches WHERE item_id = new.id) BEGIN
                      INSERT INTO items_fts (items_fts, rowid, title, summary, content)
                      VALUES ('delete', old.id, old.title, old.summary, old.content);
                      INSERT INTO items_fts (rowid, title, summary, content)
                      VALUES (new.id, new.title, new.summary, new.content);
                  END""")
    db.execute("INSERT INTO items_fts (items_fts) VALUES ('rebuild')")


def _v12(db: Database) -> None:
    """An item's url_key is kept only where it differs from its key (Item.stored_url_key: its
    page's canonical URL replaced the link); NULL where they are the same, as they are for almost
    every item, and the index holds only the others. Store.known_keys reads both columns, so what
    is known does not change; the database loses a second copy of every link, in the table and in
    the index."""
    db.execute("UPDATE items SET url_key = NULL WHERE url_key = key")
    db.execute("DROP INDEX items_url_key")
    db.execute("CREATE INDEX items_url_key ON items(url_key) WHERE url_key IS NOT NULL")


# Append only: a migration that has shipped is never edited, the next one fixes it.
MIGRATIONS: list[Callable[[Database], None]] = [_v1, _v2, _v3, _v4, _v5, _v6, _v7, _v8, _v9, _v10, _v11, _v12]
