"""Full-text search of the web interface: the FTS5 index of migration 8 (backfilled, kept up to date
by triggers, folding case and diacritics, Cyrillic too), the query a person types, and the story
listing's filters, labels and cursors, on real SQLite files; the query syntax on PostgreSQL too
(tests/test_postgres_reused.py runs the listing's test there)."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, timedelta, timezone

import pytest

from monitor.dbfile import Database
from monitor.items import Item, Match
from monitor.postgres import open_database
from monitor.migrations import MIGRATIONS
from monitor.store import Store
from monitor.browse import fts_query
from monitor.search import Term, parse_search
from monitor.web.queries import BadQuery, Filters, decode_cursor, list_stories
from tests.support.backends import backend  # noqa: F401  (fixture)
from tests.support.postgres import postgres_server  # noqa: F401  (fixture)

AT = datetime(2026, 11, 25, 6, 0, tzinfo=timezone.utc)
TOPIC = "deported-children"


def search(store: Store, text: str) -> list[str]:
    expression = fts_query(text)
    if expression is None:
        return []
    return [row[0] for row in store.db.execute(
        "SELECT i.title FROM items_fts JOIN items i ON i.id = items_fts.rowid WHERE items_fts MATCH ? ORDER BY i.id",
        [expression])]


def integrity(store: Store) -> None:
    store.db.execute("INSERT INTO items_fts (items_fts, rank) VALUES ('integrity-check', 1)")


def add(store: Store, source: str, title: str, *, summary: str = "", content: str = "", url: str = "",
        published: datetime | None = None, lang: str = "en", matched: bool = True) -> int:
    item = Item(url=url or f"https://{source.lower().replace(' ', '')}.example/{abs(hash(title))}", title=title,
                summary=summary, content=content, published=published or AT, lang=lang)
    key = item.key(source)
    matches = {key: [Match(TOPIC, ["term"], f"**{title}**")]} if matched else {}
    [stored] = store.add_items(source, {key: item}, AT, matches=matches)
    return stored.id


def test_fts_query_never_passes_syntax_through():
    assert fts_query("Kherson children") == '"Kherson" "children"'
    assert fts_query('"summer camp" Crimea') == '"summer camp" "Crimea"'
    assert fts_query("депорт*") == '"депорт"*'
    assert fts_query("Mariupol OR Melitopol") == '"Mariupol" OR "Melitopol"'
    assert fts_query("OR Mariupol OR") == '"Mariupol"'
    assert fts_query('NEAR(a b) AND title:x ^y "unclosed') == '"NEAR a" "b" "title x" "y" "unclosed"'
    assert fts_query("-- ; ' \" ()") is None
    assert fts_query("") is None


def test_the_query_typed_is_read_once_for_both_backends():
    assert parse_search("a b OR c -d") == parse_search('a AND b OR OR c -"d"')
    query = parse_search('Mariupol OR "summer camp" депорт* -"Crimea trip" -x')
    assert query.alternatives == ((Term(("Mariupol",)),),
                                  (Term(("summer", "camp")), Term(("депорт",), prefix=True)))
    assert query.excluded == (Term(("Crimea", "trip")), Term(("x",)))
    assert parse_search("-Kherson").alternatives == () and parse_search("- -- ()") is None


def test_the_search_syntax_finds_the_same_on_both_backends(backend):  # noqa: F811
    store = open_database(backend.url or backend.sqlite_path)
    try:
        ukrainian = add(store, "A", "Депортація ДІТЕЙ з Херсона", content="Діти повернулися додому.")
        cafe = add(store, "A", "Café owners in Kherson sheltered children", summary="A naïve report")
        russian = add(store, "A", "Детей вывезли в лагерь", lang="ru")
        add(store, "A", "Tram timetable for Kherson", matched=False)  # not a story: never listed

        def found(q: str) -> list[int]:
            return sorted(list_stories(store, Filters(q=q), {}, limit=50).story_ids)

        assert found("дітей") == found("ХЕРСОНА") == found("повернулися") == [ukrainian]
        assert found("CAFE naive") == found("café") == [cafe]  # summary too, diacritics folded either way
        assert found("дет* лагерь") == [russian] and found("херсон*") == [ukrainian]
        assert found("Kherson OR лагерь") == [cafe, russian] and found("kherson") == [cafe]
        assert found('"sheltered children"') == [cafe] and found('"children sheltered"') == []
        assert found("-kherson") == [ukrainian, russian] and found("children -cafe") == []
        assert found('Kherson OR лагерь -"owners in"') == [russian]
        assert found('zzz "unbalanced') == [] and found("-- ; ' ()") == [] and found("мʼясо") == []
        assert list_stories(store, Filters(q="-- ;"), {}, limit=5).total == 0
    finally:
        store.close()


def test_search_folds_case_and_diacritics_and_reads_cyrillic(store):
    add(store, "A", "Депортація ДІТЕЙ з Херсона", content="Діти повернулися додому.")
    add(store, "A", "Café owners in Kherson sheltered children", summary="A naïve report")
    add(store, "A", "Детей вывезли в лагерь", lang="ru")
    assert search(store, "дітей") == ["Депортація ДІТЕЙ з Херсона"]
    assert search(store, "ХЕРСОНА") == ["Депортація ДІТЕЙ з Херсона"]
    assert search(store, "повернулися") == ["Депортація ДІТЕЙ з Херсона"]  # the main text is indexed
    assert search(store, "cafe NAIVE") == ["Café owners in Kherson sheltered children"]  # summary too
    assert search(store, "дет* лагерь") == ["Детей вывезли в лагерь"]
    assert search(store, "Kherson OR лагерь") == ["Café owners in Kherson sheltered children", "Детей вывезли в лагерь"]
    assert search(store, '"sheltered children"') == ["Café owners in Kherson sheltered children"]
    assert search(store, '"children sheltered"') == []
    integrity(store)


def test_the_index_follows_inserts_updates_and_deletes(store):
    first = add(store, "A", "Children moved to a camp in Crimea")
    assert search(store, "crimea") == ["Children moved to a camp in Crimea"]
    with store.transaction():
        store.db.execute("UPDATE items SET title = 'Children moved to a camp near Taganrog' WHERE id = ?", [first])
    assert search(store, "crimea") == [] and search(store, "taganrog") == ["Children moved to a camp near Taganrog"]
    with store.transaction():
        store.db.execute("UPDATE items SET feed_hash = 'x' WHERE id = ?", [first])  # not indexed text: untouched
    integrity(store)
    with store.transaction():
        store.db.execute("DELETE FROM matches WHERE item_id = ?", [first])
        store.db.execute("DELETE FROM items WHERE id = ?", [first])
    assert search(store, "taganrog") == []
    integrity(store)


def test_the_migration_indexes_the_items_stored_before_it(tmp_path):
    path = tmp_path / "monitor.db"
    db = Database(sqlite3.connect(path, isolation_level=None))
    for migration in MIGRATIONS[:7]:
        migration(db)
    db.execute("PRAGMA user_version = 7")
    db.execute("""INSERT INTO items (id, key, url, source, title, summary, content, first_seen, content_hash, story_id)
                  VALUES (1, 'k1', 'https://a.example/1', 'A', 'Old report on Mariupol children', '', 'Taken to Rostov',
                          '2026-01-01T00:00:00+00:00', 'h', 1),
                         (2, 'k2', 'https://a.example/2', 'A', 'Mariupol tram timetable', '', 'Rostov road works',
                          '2026-01-01T00:00:00+00:00', 'h2', 2)""")
    db.execute("""INSERT INTO matches (item_id, topic, terms, snippet, matched_at)
                  VALUES (1, 'deported-children', '[]', '', '2026-01-01T00:00:00+00:00')""")
    db.conn.close()
    store = Store(path)
    try:
        assert store.schema_version == len(MIGRATIONS)
        assert search(store, "mariupol") == ["Old report on Mariupol children"]  # matched items only (v11)
        assert search(store, "rostov") == ["Old report on Mariupol children"]
        integrity(store)
    finally:
        store.close()


def test_only_matched_items_are_indexed_and_an_adopted_report_follows_its_new_text(store):
    # Indexing every item cost most of storing it, and the interface searches stories only.
    add(store, "A", "Tram timetable for Kherson", matched=False)
    link = add(store, "B", "Link to a report", summary="Short teaser about Skadovsk", matched=False)
    two = add(store, "A", "Children taken from Melitopol")
    with store.transaction():  # a second topic: the item is in the index once
        store.db.execute("INSERT INTO matches (item_id, topic, terms, snippet, matched_at) VALUES (?, 'other', '[]', '', ?)",
                         [two, AT.isoformat()])
    assert store.db.execute("SELECT id FROM items_fts_docsize").fetchall() == [(two,)]  # the index's own rows
    assert search(store, "kherson") == [] and search(store, "melitopol") == ["Children taken from Melitopol"]
    # The link row becomes the publisher's matching report (store.adopt): text first, then its match.
    report = Item(url="https://b.example/report", title="Children deported from Skadovsk",
                  content="The children were taken to a camp near Rostov.")
    store.adopt("A", {link: (report, [Match(TOPIC, ["deported"], "**deported**")])}, AT)
    assert search(store, "rostov") == ["Children deported from Skadovsk"] and search(store, "teaser") == []
    with store.transaction():
        store.db.execute("DELETE FROM matches WHERE item_id = ? AND topic = 'other'", [two])
    assert search(store, "melitopol") == ["Children taken from Melitopol"]  # one match left: still there
    with store.transaction():
        store.db.execute("DELETE FROM matches WHERE item_id = ?", [two])
    assert search(store, "melitopol") == []
    integrity(store)


def test_a_read_only_open_of_an_empty_database_has_the_index(tmp_path):
    store = Store(tmp_path / "missing.db", read_only=True)
    try:
        assert store.db.execute("SELECT count(*) FROM items_fts").fetchone()[0] == 0
    finally:
        store.close()


def test_listing_filters_labels_and_cursors(store):
    ids = {}
    for n, (source, lang) in enumerate([("A", "en"), ("B", "uk"), ("A", "ru"), ("B", "en"), ("A", "en")]):
        ids[n] = add(store, source, f"Report {n} on deported children", lang=lang,
                     published=AT - timedelta(days=n))
    add(store, "A", "Off-topic report", matched=False)
    everything = list_stories(store, Filters(), {}, limit=10)
    assert everything.story_ids == [ids[n] for n in range(5)] and everything.total == 5  # newest first
    assert list_stories(store, Filters(lang="en"), {}, limit=10).story_ids == [ids[0], ids[3], ids[4]]
    assert list_stories(store, Filters(source="B"), {}, limit=10).story_ids == [ids[1], ids[3]]
    assert list_stories(store, Filters(topic="other"), {}, limit=10).story_ids == []
    day = (AT - timedelta(days=2)).date()
    assert list_stories(store, Filters(since=day, until=day), {}, limit=10).story_ids == [ids[2]]
    assert list_stories(store, Filters(since=day), {}, limit=10).story_ids == [ids[0], ids[1], ids[2]]
    assert list_stories(store, Filters(q="report 3"), {}, limit=10).story_ids == [ids[3]]
    labelled = {"not_relevant": [ids[1]], "relevant": [ids[2]]}
    assert ids[1] not in list_stories(store, Filters(), labelled, limit=10).story_ids
    assert list_stories(store, Filters(label="not_relevant"), labelled, limit=10).story_ids == [ids[1]]
    assert list_stories(store, Filters(label="relevant"), labelled, limit=10).story_ids == [ids[2]]
    assert list_stories(store, Filters(label="unlabelled"), labelled, limit=10).story_ids == [ids[0], ids[3], ids[4]]
    assert len(list_stories(store, Filters(label="all"), labelled, limit=10).story_ids) == 5
    pages = list_stories(store, Filters(), {}, limit=2, offset=2)
    assert pages.story_ids == [ids[2], ids[3]] and pages.total == 5
    walked, cursor = [], None
    while True:
        page = list_stories(store, Filters(), {}, limit=2, cursor=cursor, count=False)
        walked += page.story_ids
        cursor = page.next_cursor
        if cursor is None:
            break
    assert walked == everything.story_ids
    with pytest.raises(BadQuery):
        decode_cursor("not-a-cursor")


def test_filters_read_from_query_parameters():
    filters = Filters.parse({"q": "  Kherson   children ", "since": "2026-03-01", "label": "all"})
    assert filters.q == "Kherson children" and filters.since == date(2026, 3, 1) and filters.label == "all"
    assert filters.params(page=2) == {"q": "Kherson children", "since": "2026-03-01", "label": "all", "page": "2"}
    with pytest.raises(BadQuery, match="since must be a date"):
        Filters.parse({"since": "March"})
    with pytest.raises(BadQuery, match="label must be one of"):
        Filters.parse({"label": "maybe"})
