"""Store: migrations, story leads and the outbox claims."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from monitor.items import Item
from monitor.items import Match
from monitor.store import MIGRATIONS, Store

AT = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)


def test_fresh_database_is_at_the_latest_schema(tmp_path):
    store = Store(tmp_path / "m.db")
    assert store.schema_version == len(MIGRATIONS)
    store.close()


def test_the_earliest_published_copy_leads_its_story(tmp_path):
    store = Store(tmp_path / "m.db")
    match = [Match("deported-children", ["deport*"], "**deported**")]
    late = Item(url="https://late.example/a", title="Copy", published=AT - timedelta(hours=1))
    early = Item(url="https://early.example/a", title="Original", published=AT - timedelta(hours=5))
    (first,) = store.add_items("Late", [late], AT, {late.key("Late"): match})
    store.add_items("Early", [early], AT, {early.key("Early"): match}, story_for=lambda item, item_id: (first.id, None))

    (lead,) = store.unclaimed_item_ids("daily", "files")
    (story,) = store.stories([lead])
    assert story.source == "Early"
    assert [other["source"] for other in story.also] == ["Late"]

    store.create_batch("daily", "files", AT, AT)
    assert store.unclaimed_item_ids("daily", "files") == []  # the story is claimed once, whichever copy led
    store.close()


def test_a_populated_schema_1_database_is_upgraded_through_every_migration(tmp_path):
    import sqlite3

    from monitor.dbfile import Database

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    MIGRATIONS[0](Database(conn))
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO sources (name, etag, last_status, items_total) VALUES ('Ledger', '\"v1\"', 'ok', 2)")
    for n in (1, 2):
        conn.execute("INSERT INTO items (id, key, url, source, title, summary, first_seen, content_hash) "
                     "VALUES (?, ?, ?, 'Ledger', ?, 'text', '2026-11-01T08:00:00+00:00', ?)",
                     [n, f"https://ledger.example/{n}", f"https://ledger.example/{n}", f"Story {n}", f"h{n}"])
    conn.close()

    store = Store(path)
    assert store.schema_version == len(MIGRATIONS)
    rows = store.items()
    assert [(r["id"], r["title"], r["url_key"], r["story_id"], r["lang"]) for r in rows] == [
        (1, "Story 1", "https://ledger.example/1", 1, ""), (2, "Story 2", "https://ledger.example/2", 2, "")]
    assert store.source_state("Ledger").etag == '"v1"'
    # The upgraded database takes new items, matches and batches as a fresh one does.
    match = [Match("deported-children", ["deport*"], "**deported**")]
    new = Item(url="https://ledger.example/3", title="Story 3")
    (stored,) = store.add_items("Ledger", [new], AT, {new.key("Ledger"): match})
    assert stored.id == 3
    assert store.create_batch("daily", "files", AT, AT).item_ids == [3]
    store.close()
