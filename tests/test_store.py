"""Store: migrations, story leads and the outbox claims."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from monitor.items import Item
from monitor.items import Match
from monitor.store import MIGRATIONS, Store
from tests.support.schema import sqlite_at_version

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
        (1, "Story 1", None, 1, ""), (2, "Story 2", None, 2, "")]  # url_key: the same as the key (v12)
    assert store.known_keys(["https://ledger.example/1", "https://ledger.example/9"]) == {"https://ledger.example/1"}
    assert store.source_state("Ledger").etag == '"v1"'
    # The upgraded database takes new items, matches and batches as a fresh one does.
    match = [Match("deported-children", ["deport*"], "**deported**")]
    new = Item(url="https://ledger.example/3", title="Story 3")
    (stored,) = store.add_items("Ledger", [new], AT, {new.key("Ledger"): match})
    assert stored.id == 3
    assert store.create_batch("daily", "files", AT, AT).item_ids == [3]
    store.close()


def test_a_link_is_stored_once_and_an_item_is_still_known_by_its_link_and_its_canonical_url(tmp_path):
    store = Store(tmp_path / "m.db")
    plain = Item(url="https://outlet.example/news/1", title="Plain")
    moved = Item(url="https://outlet.example/news/2?from=rss", title="Moved",
                 canonical="https://outlet.example/news/two")  # its page named another URL for itself
    store.add_items("Outlet", [plain, moved], AT)

    rows = store.db.execute("SELECT key, url_key FROM items ORDER BY id").fetchall()
    assert rows == [("https://outlet.example/news/1", None),
                    ("https://outlet.example/news/two", moved.url_key("Outlet"))]
    asked = [plain.url_key("Outlet"), moved.url_key("Outlet"), moved.key("Outlet"), "https://outlet.example/news/3"]
    assert store.known_keys(asked) == set(asked[:3])
    # A second poll of the same feed stores nothing again.
    assert store.add_items("Outlet", [plain, moved], AT) == []
    store.close()


def test_a_database_of_schema_11_keeps_each_link_once_and_knows_the_same_keys(tmp_path):
    path = tmp_path / "v11.db"
    conn = sqlite_at_version(path, 11)
    for n, key, url_key in ((1, "https://a.example/1", "https://a.example/1"),
                            (2, "https://a.example/canonical-2", "https://a.example/2")):
        conn.execute("INSERT INTO items (id, key, url_key, url, source, title, first_seen, content_hash, story_id) "
                     "VALUES (?, ?, ?, ?, 'A', 'T', '2026-11-01T08:00:00+00:00', 'h', ?)", [n, key, url_key, url_key, n])
    conn.close()

    store = Store(path)
    assert store.db.execute("SELECT id, url_key FROM items ORDER BY id").fetchall() == [(1, None), (2, "https://a.example/2")]
    index = store.db.execute("SELECT sql FROM sqlite_master WHERE name = 'items_url_key'").fetchone()[0]
    assert "WHERE url_key IS NOT NULL" in index
    assert store.known_keys(["https://a.example/1", "https://a.example/2", "https://a.example/canonical-2",
                             "https://a.example/3"]) == {"https://a.example/1", "https://a.example/2",
                                                         "https://a.example/canonical-2"}
    store.close()
