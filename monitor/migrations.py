"""The SQLite schema, as numbered migrations: the database's user_version is the count applied."""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils


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


def _v6(db: sqlite_utils.Database) -> None:
    """A batch is claimed before it is sent: status 'sending' (besides pending | delivered), by
    one owner (a token per dispatcher and claim), until its lease expires. Nothing is claimed yet."""
    db.execute("ALTER TABLE batches ADD COLUMN owner TEXT")
    db.execute("ALTER TABLE batches ADD COLUMN lease_until TEXT")


# Append only: a migration that has shipped is never edited, the next one fixes it.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1, _v2, _v3, _v4, _v5, _v6]
