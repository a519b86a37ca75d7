"""The schema of monitor/migrations.py, migration for migration, in PostgreSQL's dialect.

Number n here makes what number n makes in SQLite, so both backends are at "schema version n" for
the same tables and columns; the version is the count of rows in monitor_schema (one per migration
applied, with when and by which monitor). monitor/postgres/store.py applies them, one transaction
each, under an advisory lock, so two processes opening one database at once never collide.

Differences from SQLite, on purpose:
- Moments stay ISO 8601 text in UTC (clock.utc_iso), as in SQLite: every query compares them as
  text, and rows read back (Store.items()) are the same on both backends. Text columns are
  COLLATE "C" (byte order, as SQLite's BINARY), whatever the database's default collation: ISO
  moments then compare as SQLite compares them, and names sort the same.
- Item ids are BIGINT, handed out by the store (as in SQLite), not by a sequence; captures and
  custody, whose ids SQLite makes, are identity columns.
- The custody log's append-only triggers raise from a PL/pgSQL function.
- Full-text search (v8) is a GIN index over a tsvector expression ('simple' configuration, with
  accents folded by the unaccent extension where the database allows it), not an FTS5 table.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import numpy as np

from monitor.dedup import NUM_PERM, band_key_matrix, seen_second

T = 'TEXT COLLATE "C"'
# pg_advisory_lock keys (any 64-bit numbers no other application on the database uses).
MIGRATION_LOCK = 0x6D6F6E69746F7201  # "monitor" + 1


def _v1(cur) -> None:
    cur.execute(f"""
        CREATE TABLE sources (
            name {T} PRIMARY KEY,
            etag {T},
            last_modified {T},
            body_hash {T},
            last_polled {T},
            last_ok {T},
            last_status {T} NOT NULL DEFAULT 'new',
            last_error {T},
            failing_since {T},
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            items_total INTEGER NOT NULL DEFAULT 0
        )""")
    cur.execute(f"""
        CREATE TABLE items (
            id BIGINT PRIMARY KEY,
            key {T} NOT NULL UNIQUE,
            url {T} NOT NULL,
            guid {T},
            source {T} NOT NULL,
            title {T} NOT NULL,
            summary {T} NOT NULL DEFAULT '',
            content {T} NOT NULL DEFAULT '',
            author {T} NOT NULL DEFAULT '',
            published {T},
            first_seen {T} NOT NULL,
            content_hash {T} NOT NULL
        )""")
    cur.execute("CREATE INDEX items_source ON items(source, first_seen)")
    cur.execute("CREATE INDEX items_first_seen ON items(first_seen)")
    cur.execute("CREATE INDEX items_content_hash ON items(content_hash)")


def _v2(cur) -> None:
    cur.execute(f"ALTER TABLE items ADD COLUMN lang {T} NOT NULL DEFAULT ''")
    cur.execute(f"ALTER TABLE items ADD COLUMN canonical {T} NOT NULL DEFAULT ''")
    cur.execute(f"""
        CREATE TABLE matches (
            item_id BIGINT NOT NULL REFERENCES items(id),
            topic {T} NOT NULL,
            terms {T} NOT NULL,
            snippet {T} NOT NULL,
            matched_at {T} NOT NULL,
            PRIMARY KEY (item_id, topic)
        )""")
    cur.execute("CREATE INDEX matches_matched_at ON matches(matched_at)")
    cur.execute(f"""
        CREATE TABLE batches (
            id {T} PRIMARY KEY,
            digest {T} NOT NULL,
            channel {T} NOT NULL,
            kind {T} NOT NULL DEFAULT 'digest',
            scheduled_for {T} NOT NULL,
            created_at {T} NOT NULL,
            status {T} NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at {T} NOT NULL,
            last_error {T},
            parts_sent INTEGER NOT NULL DEFAULT 0,
            delivered_at {T}
        )""")
    cur.execute("CREATE INDEX batches_pending ON batches(status, next_attempt_at)")
    cur.execute(f"""
        CREATE TABLE deliveries (
            digest {T} NOT NULL,
            channel {T} NOT NULL,
            item_id BIGINT NOT NULL REFERENCES items(id),
            batch_id {T} NOT NULL REFERENCES batches(id),
            PRIMARY KEY (digest, channel, item_id)
        )""")
    cur.execute("CREATE INDEX deliveries_batch ON deliveries(batch_id)")
    cur.execute(f"""
        CREATE TABLE digest_runs (
            digest {T} PRIMARY KEY,
            last_scheduled_for {T} NOT NULL
        )""")


def _v3(cur) -> None:
    cur.execute(f"ALTER TABLE items ADD COLUMN url_key {T}")
    cur.execute("ALTER TABLE items ADD COLUMN story_id BIGINT")
    cur.execute("ALTER TABLE items ADD COLUMN signature BYTEA")
    cur.execute("UPDATE items SET url_key = key, story_id = id")
    cur.execute("CREATE INDEX items_url_key ON items(url_key)")
    cur.execute("CREATE INDEX items_story ON items(story_id)")


def _v4(cur) -> None:
    cur.execute(f"ALTER TABLE items ADD COLUMN feed_hash {T}")


def _v5(cur) -> None:
    cur.execute("DROP INDEX IF EXISTS items_content_hash")


def _v6(cur) -> None:
    cur.execute(f"ALTER TABLE batches ADD COLUMN owner {T}")
    cur.execute(f"ALTER TABLE batches ADD COLUMN lease_until {T}")


def _v7(cur) -> None:
    cur.execute(f"""
        CREATE TABLE evidence (
            item_id BIGINT PRIMARY KEY REFERENCES items(id),
            state {T} NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error {T},
            next_attempt_at {T},
            captured_at {T},
            checks_done INTEGER NOT NULL DEFAULT 0,
            next_check_at {T},
            last_checked {T},
            check_error {T},
            gone_at {T}
        )""")
    cur.execute("CREATE INDEX evidence_pending ON evidence(state, next_attempt_at)")
    cur.execute("CREATE INDEX evidence_checks ON evidence(state, next_check_at)")
    cur.execute(f"""
        CREATE TABLE captures (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            item_id BIGINT NOT NULL REFERENCES items(id),
            reason {T} NOT NULL,
            requested_url {T} NOT NULL,
            url {T} NOT NULL,
            captured_at {T} NOT NULL,
            http_status INTEGER NOT NULL,
            sha256 {T} NOT NULL,
            warc_file {T} NOT NULL,
            warc_record_id {T} NOT NULL,
            warc_offset BIGINT NOT NULL,
            warc_length BIGINT NOT NULL,
            record_sha256 {T} NOT NULL,
            status {T} NOT NULL DEFAULT 'captured',
            last_checked {T}
        )""")
    cur.execute("CREATE INDEX captures_item ON captures(item_id)")
    cur.execute(f"""
        CREATE TABLE custody (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            at {T} NOT NULL,
            event {T} NOT NULL,
            item_id BIGINT,
            capture_id BIGINT,
            url {T},
            sha256 {T},
            detail {T} NOT NULL DEFAULT '',
            monitor_version {T} NOT NULL
        )""")
    cur.execute("CREATE INDEX custody_item ON custody(item_id)")
    cur.execute("""
        CREATE FUNCTION monitor_custody_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the custody log is append-only';
        END $$""")
    for action in ("UPDATE", "DELETE"):
        cur.execute(f"""CREATE TRIGGER custody_no_{action.lower()} BEFORE {action} ON custody
                        FOR EACH ROW EXECUTE FUNCTION monitor_custody_append_only()""")
    cur.execute("CREATE TRIGGER custody_no_truncate BEFORE TRUNCATE ON custody "
                "FOR EACH STATEMENT EXECUTE FUNCTION monitor_custody_append_only()")
    cur.execute(f"""
        CREATE TABLE warc_files (
            name {T} PRIMARY KEY,
            sha256 {T} NOT NULL,
            size BIGINT NOT NULL,
            sealed_at {T} NOT NULL,
            tsa_url {T},
            token_file {T},
            timestamped_at {T},
            timestamp_error {T}
        )""")
    cur.execute("INSERT INTO evidence (item_id, state) SELECT DISTINCT item_id, 'not_captured' FROM matches")


def _unaccent(cur) -> str | None:
    """The schema-qualified unaccent function, creating the extension where this role may (it is
    a trusted extension since PostgreSQL 13: a database owner may); None where it cannot be had."""
    cur.execute("SAVEPOINT monitor_unaccent")
    try:
        cur.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    except Exception:  # noqa: BLE001 - not installed, or not allowed: search folds case only
        cur.execute("ROLLBACK TO SAVEPOINT monitor_unaccent")
    cur.execute("RELEASE SAVEPOINT monitor_unaccent")
    cur.execute("""SELECT quote_ident(n.nspname) FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                   WHERE e.extname = 'unaccent'""")
    row = cur.fetchone()
    return row and row[0]


def _v8(cur) -> None:
    """Full-text search: monitor_search(title, summary, content) is the items' tsvector ('simple'
    configuration: no stemming, as FTS5's unicode61; case folded, and accents where unaccent is
    there), and a GIN index over it, so `monitor_search(...) @@ query` is answered from the index.
    monitor_fold(text) folds a query's words the same way. An expression index, not a column:
    items keeps the same columns as in SQLite, and nothing has to write it."""
    schema = _unaccent(cur)
    fold = f"{schema}.unaccent('{schema}.unaccent'::regdictionary, $1)" if schema else "$1"
    # Qualified names in the bodies: an index's expression must not depend on the search_path
    # (pg_dump restores with an empty one).
    cur.execute("SELECT quote_ident(current_schema())")
    here = cur.fetchone()[0]
    # Case folded by Unicode's rules (ICU's root collation) where the server has ICU, so Cyrillic
    # folds even in a database whose LC_CTYPE is C; else by the database's own LC_CTYPE.
    cur.execute("SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu'")
    if cur.fetchone():
        fold = f'({fold}) COLLATE "und-x-icu"'
    cur.execute(f"""CREATE FUNCTION monitor_fold(text) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
                    AS $$ SELECT lower({fold}) $$""")
    cur.execute(f"""CREATE FUNCTION monitor_search(title text, summary text, content text) RETURNS tsvector
                    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
                    SELECT setweight(to_tsvector('pg_catalog.simple', coalesce({here}.monitor_fold(title), '')), 'A')
                        || setweight(to_tsvector('pg_catalog.simple', coalesce({here}.monitor_fold(summary), '')), 'B')
                        || to_tsvector('pg_catalog.simple', coalesce({here}.monitor_fold(content), '')) $$""")
    cur.execute("CREATE INDEX items_search ON items USING gin (monitor_search(title, summary, content))")


def _v9(cur) -> None:
    cur.execute(f"""
        CREATE TABLE labels (
            item_id BIGINT PRIMARY KEY REFERENCES items(id),
            label {T} NOT NULL CHECK (label IN ('relevant', 'not_relevant')),
            note {T} NOT NULL DEFAULT '',
            labelled_at {T} NOT NULL,
            labelled_by {T} NOT NULL DEFAULT 'cli' CHECK (labelled_by IN ('cli', 'web'))
        )""")
    cur.execute("CREATE INDEX labels_label ON labels(label)")


def _v10(cur) -> None:
    """The story index's LSH band keys (monitor/migrations.py v10), with those of the items stored so far."""
    cur.execute("""
        CREATE TABLE story_bands (
            band_key BIGINT NOT NULL,
            seen BIGINT NOT NULL,
            item_id BIGINT NOT NULL REFERENCES items(id) ON DELETE CASCADE,
            PRIMARY KEY (band_key, seen, item_id)
        )""")
    cur.execute("CREATE INDEX items_grouped_hash ON items(content_hash, first_seen) WHERE signature IS NOT NULL")
    size, last = NUM_PERM * 8, 0
    while True:
        cur.execute(f"""SELECT id, substr(signature, 1, {size}), first_seen FROM items
                        WHERE id > %s AND length(signature) >= {size} ORDER BY id LIMIT 5000""", [last])
        rows = cur.fetchall()
        if not rows:
            break
        keys = band_key_matrix(np.frombuffer(b"".join(bytes(row[1]) for row in rows), dtype="<u8").reshape(len(rows), -1))
        cur.executemany("INSERT INTO story_bands (band_key, seen, item_id) VALUES (%s, %s, %s)",
                        [(key, seen_second(datetime.fromisoformat(first_seen)), item_id)
                         for (item_id, _, first_seen), item_keys in zip(rows, keys.tolist()) for key in item_keys])
        last = rows[-1][0]


def _v11(cur) -> None:
    """SQLite's v11 makes its FTS5 index hold matched items only (indexing every item cost most of
    storing it there). Here the GIN index of v8 stays over every item (PostgreSQL batches its
    updates in a pending list); the migration keeps the two schema versions in step."""


def _v12(cur) -> None:
    """As SQLite's v12: url_key only where it differs from the key (Item.stored_url_key), and
    the index over those alone."""
    cur.execute("UPDATE items SET url_key = NULL WHERE url_key = key")
    cur.execute("DROP INDEX items_url_key")
    cur.execute("CREATE INDEX items_url_key ON items(url_key) WHERE url_key IS NOT NULL")


# Append only, and in step with monitor.migrations.MIGRATIONS (tests/test_postgres_store.py checks).
MIGRATIONS: list[Callable] = [_v1, _v2, _v3, _v4, _v5, _v6, _v7, _v8, _v9, _v10, _v11, _v12]
