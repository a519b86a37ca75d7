"""The PostgreSQL backend (monitor/postgres/) on a real server (tests/support/postgres.py): the
same numbered migrations as SQLite's, applied once however many processes open the database at
once; items, stories, the story index, sources, labels and transactions as Store has them;
full-text search; errors that say what to do and never show the password."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone

import pytest

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'monitor[postgresql]')")

from monitor import migrations as sqlite_migrations
from monitor.dedup import band_keys, load_index, seen_second, signature, signature_bytes, story_assigner
from monitor.items import Item, Match
from monitor.labels import UnknownItem
from monitor.postgres import is_postgres_url, open_database, redact_url
from monitor.postgres.migrations import MIGRATIONS
from monitor.postgres.store import PostgresStore, PostgresStoreError
from monitor.store import Store
from tests.support.postgres import pg_url, postgres_server, race, postgres_store  # noqa: F401  (fixtures)
from tests.support.schema import postgres_at_version
from tests.test_story_bands import BANDS, near_copy, text

UTC = timezone.utc
T0 = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
MATCH = [Match("deported-children", ["deport*"], "**deported**")]


def sql(url: str, statement: str, params=None) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def columns(url: str) -> dict[str, list[str]]:
    rows = sql(url, """SELECT table_name, column_name FROM information_schema.columns
                       WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position""")
    found: dict[str, list[str]] = {}
    for table, column in rows:
        found.setdefault(table, []).append(column)
    return found


# --- choosing the backend, URLs -------------------------------------------------------------------

def test_the_migrations_are_in_step_with_sqlites():
    assert len(MIGRATIONS) == len(sqlite_migrations.MIGRATIONS)


def test_a_url_names_postgresql_and_a_path_names_sqlite(tmp_path):
    assert is_postgres_url("postgresql://monitor@db.example/monitor") and is_postgres_url("postgres://h/db")
    assert not is_postgres_url(str(tmp_path / "monitor.db")) and not is_postgres_url(tmp_path / "x.db")
    sqlite = open_database(tmp_path / "monitor.db")
    try:
        assert isinstance(sqlite, Store) and sqlite.schema_version == len(MIGRATIONS)
    finally:
        sqlite.close()


def test_a_password_is_never_shown():
    assert redact_url("postgresql://monitor:s3cret@db.example:5432/monitor") == \
        "postgresql://monitor:***@db.example:5432/monitor"
    assert redact_url("postgresql://db.example/monitor?password=s3cret&sslmode=require") == \
        "postgresql://db.example/monitor?password=***&sslmode=require"
    assert redact_url("postgresql://monitor@db.example/monitor") == "postgresql://monitor@db.example/monitor"


def test_an_unreachable_server_says_so_in_one_line_without_the_password():
    with socket_nobody_listens_on() as port:
        with pytest.raises(PostgresStoreError) as caught:
            open_database(f"postgresql://monitor:s3cret@127.0.0.1:{port}/monitor")
    message = str(caught.value)
    assert "s3cret" not in message and "postgresql://monitor:***@127.0.0.1" in message
    assert "cannot be reached" in message and "\n" not in message


class socket_nobody_listens_on:
    def __enter__(self) -> int:
        import socket

        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        return self.socket.getsockname()[1]

    def __exit__(self, *exc) -> None:
        self.socket.close()


# --- migrations -----------------------------------------------------------------------------------

def test_open_database_migrates_a_fresh_database_and_again_changes_nothing(pg_url):  # noqa: F811
    first = open_database(pg_url)
    try:
        assert isinstance(first, PostgresStore) and first.schema_version == len(MIGRATIONS)
        schema = columns(pg_url)
        first.migrate()
    finally:
        first.close()
    second = open_database(pg_url)
    second.migrate()
    second.close()
    assert columns(pg_url) == schema
    assert [row[0] for row in sql(pg_url, "SELECT version FROM monitor_schema ORDER BY version")] == \
        list(range(1, len(MIGRATIONS) + 1))


def test_the_schema_has_sqlites_tables_and_columns(pg_url, tmp_path):  # noqa: F811
    PostgresStore(pg_url).close()
    sqlite = Store(tmp_path / "m.db")
    try:
        tables = [row[0] for row in sqlite.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name NOT LIKE 'items_fts%'")]
        expected = {table: [row[1] for row in sqlite.db.execute(f"PRAGMA table_info({table})")] for table in tables}
    finally:
        sqlite.close()
    found = columns(pg_url)
    assert found.pop("monitor_schema") == ["version", "applied_at", "monitor_version"]
    assert found == expected


def test_four_processes_migrating_one_database_at_once_apply_each_migration_once(pg_url, tmp_path):  # noqa: F811
    results = race(tmp_path / "race", pg_url, [["migrate"]] * 4)
    assert results == [{"version": len(MIGRATIONS)}] * 4
    assert [row[0] for row in sql(pg_url, "SELECT version FROM monitor_schema ORDER BY version")] == \
        list(range(1, len(MIGRATIONS) + 1))


def test_a_newer_schema_and_a_database_that_is_not_monitors_are_refused(pg_url, postgres_server):  # noqa: F811
    PostgresStore(pg_url).close()
    sql(pg_url, "INSERT INTO monitor_schema VALUES (%s, 'later', '9.9')", [len(MIGRATIONS) + 1])
    with pytest.raises(PostgresStoreError, match=f"newer than this monitor knows \\({len(MIGRATIONS)}\\)"):
        PostgresStore(pg_url)
    sql(pg_url, "DROP TABLE monitor_schema")
    with pytest.raises(PostgresStoreError, match="not monitor's"):
        PostgresStore(pg_url)


def test_a_read_only_open_neither_migrates_nor_writes(pg_url):  # noqa: F811
    reader = PostgresStore(pg_url, read_only=True)
    try:
        assert reader.schema_version == 0 and "older than this monitor's" in reader.upgrade_note
        assert PostgresStore.inspect(pg_url) == "empty; the first write command sets it up"
    finally:
        reader.close()
    PostgresStore(pg_url).close()
    reader = PostgresStore(pg_url, read_only=True)
    try:
        assert reader.upgrade_note is None
        with pytest.raises(PostgresStoreError) as refused:  # psycopg's error, as a StoreError the commands know
            reader.record_failure("Ledger", T0, "boom")
        assert isinstance(refused.value.__cause__, psycopg.errors.ReadOnlySqlTransaction)
        assert reader.source_health() == []  # the failed write left the session usable
    finally:
        reader.close()
    assert PostgresStore.inspect(pg_url) == f"PostgreSQL, schema version {len(MIGRATIONS)}, 0 items"


def test_migration_10_writes_the_bands_of_the_signatures_stored_at_version_9(pg_url):  # noqa: F811
    with psycopg.connect(pg_url) as conn, conn.cursor() as cur:
        postgres_at_version(cur, 9)
        rng = random.Random(7)
        recent = text(rng)
        for item_id, seen, blob in [(1, T0 - timedelta(days=1), signature_bytes(signature(recent))),
                                    (2, T0 - timedelta(hours=2), b""), (3, T0 - timedelta(hours=1), None)]:
            cur.execute("""INSERT INTO items (id, key, url, source, title, first_seen, content_hash, url_key,
                               story_id, signature) VALUES (%s, %s, %s, 'Wire', 'Title', %s, %s, %s, %s, %s)""",
                        [item_id, f"k{item_id}", f"https://wire.example/{item_id}", seen.isoformat(timespec="seconds"),
                         f"h{item_id}", f"k{item_id}", item_id, blob])
    store = PostgresStore(pg_url)
    try:
        assert store.schema_version == len(MIGRATIONS)
        assert sql(pg_url, "SELECT item_id, count(*), min(seen) FROM story_bands GROUP BY item_id") == [
            (1, BANDS, seen_second(T0 - timedelta(days=1)))]
        index = load_index(store, T0)
        assert index.find(signature(near_copy(recent)), "x", T0) == 1
        assert index.find(None, "h2", T0) == 2 and index.find(None, "h3", T0) is None
    finally:
        store.close()


# --- items, stories, the story index --------------------------------------------------------------

def test_items_round_trip_with_their_matches_and_stories(store):
    late = Item(url="https://late.example/a?utm_source=x", title="Copy", summary="Children were deported.",
                published=T0 - timedelta(hours=1), lang="en")
    early = Item(url="https://early.example/a", title="Original", content="Full text " * 80,
                 published=T0 - timedelta(hours=5), lang="uk")
    (first,) = store.add_items("Late", [late], T0, {late.key("Late"): MATCH})
    assert first.id == 1 and first.story_id == 1 and not first.is_copy
    (second,) = store.add_items("Early", {early.key("Early"): early}, T0, {early.key("Early"): MATCH},
                                story_for=lambda item, item_id: (first.id, b"sig"))
    assert second.id == 2 and second.story_id == 1 and second.is_copy
    assert store.add_items("Late", [late], T0 + timedelta(hours=1)) == []  # known by key
    assert store.known_keys(["https://late.example/a", "https://early.example/a", "https://new.example/"]) == {
        "https://late.example/a", "https://early.example/a"}
    assert store.count_items() == 2 and store.count_items("Late") == 1 and store.count_items("None") == 0

    rows = store.items()
    assert [(r["id"], r["source"], r["story_id"], r["first_seen"], r["lang"]) for r in rows] == [
        (1, "Late", 1, "2026-11-25T06:00:00+00:00", "en"), (2, "Early", 1, "2026-11-25T06:00:00+00:00", "uk")]
    assert rows[1]["signature"] == b"sig" and isinstance(rows[1]["signature"], bytes)
    assert [r["id"] for r in store.items("Early")] == [2] and [r["id"] for r in store.items(limit=1)] == [1]

    (lead,) = store.unclaimed_item_ids("daily", "files")
    assert lead == 2  # the earliest-published copy leads its story
    stories = store.stories([1, 2])
    assert [s.item_id for s in stories] == [2, 1]  # oldest published first
    assert stories[0].source == "Early" and stories[0].topics == ["deported-children"]
    assert stories[0].also == [{"url": late.url, "source": "Late", "title": "Copy"}]
    assert store.stories([1], as_of=T0 - timedelta(seconds=1))[0].also == []  # copies stored later are not shown
    assert store.stories([]) == []


def test_a_link_is_stored_once_and_an_item_is_still_known_by_its_link_and_its_canonical_url(store):
    plain = Item(url="https://outlet.example/news/1", title="Plain")
    moved = Item(url="https://outlet.example/news/2?from=rss", title="Moved", canonical="https://outlet.example/news/two")
    store.add_items("Outlet", [plain, moved], T0)
    assert sql(store.url, "SELECT key, url_key FROM items ORDER BY id") == [
        ("https://outlet.example/news/1", None), ("https://outlet.example/news/two", moved.url_key("Outlet"))]
    asked = [plain.url_key("Outlet"), moved.url_key("Outlet"), moved.key("Outlet"), "https://outlet.example/news/3"]
    assert store.known_keys(asked) == set(asked[:3])
    assert store.add_items("Outlet", [plain, moved], T0) == []


def test_migration_12_keeps_each_link_once_and_knows_the_same_keys(pg_url):  # noqa: F811
    with psycopg.connect(pg_url) as conn, conn.cursor() as cur:
        postgres_at_version(cur, 11)
        for item_id, key, url_key in ((1, "https://a.example/1", "https://a.example/1"),
                                      (2, "https://a.example/canonical-2", "https://a.example/2")):
            cur.execute("""INSERT INTO items (id, key, url, source, title, first_seen, content_hash, url_key, story_id)
                           VALUES (%s, %s, %s, 'A', 'T', '2026-11-01T08:00:00+00:00', 'h', %s, %s)""",
                        [item_id, key, url_key, url_key, item_id])
    store = PostgresStore(pg_url)
    try:
        assert store.schema_version == len(MIGRATIONS)
        assert sql(pg_url, "SELECT id, url_key FROM items ORDER BY id") == [(1, None), (2, "https://a.example/2")]
        assert store.known_keys(["https://a.example/1", "https://a.example/2", "https://a.example/canonical-2",
                                 "https://a.example/3"]) == {"https://a.example/1", "https://a.example/2",
                                                             "https://a.example/canonical-2"}
    finally:
        store.close()


def test_a_story_without_a_snippet_shows_its_text_and_one_without_a_match_no_topics(store):
    (item,) = store.add_items("Ledger", [Item(url="https://ledger.example/1", title="", summary="Plain words.")], T0)
    (story,) = store.stories([item.id])
    assert story.topics == [] and story.snippet == "Plain words." and story.title == "https://ledger.example/1"


def test_unmatched_items_from_another_source_are_adopted_with_their_matches(store):
    link = Item(url="https://outlet.example/a", title="A link to it")
    (stored,) = store.add_items("Aggregator", [link], T0)
    key = link.key("Aggregator")
    assert store.unmatched_from_elsewhere([key], "Outlet") == {key: stored.id}
    assert store.unmatched_from_elsewhere([key], "Aggregator") == {}
    report = Item(url="https://outlet.example/a", title="The report", content="Children deported.")
    store.adopt("Outlet", {stored.id: (report, MATCH)}, T0)
    [row] = store.items()
    assert (row["source"], row["title"], row["key"]) == ("Outlet", "The report", key)
    assert store.unmatched_from_elsewhere([key], "Other") == {}
    assert store.stories([stored.id])[0].topics == ["deported-children"]


def test_the_story_index_over_postgresql_groups_copies_and_forgets_old_text(store):
    rng = random.Random(5)
    original = text(rng)
    index = load_index(store, T0)
    stored = store.add_items("Wire", [Item(url="https://wire.example/1", title="One", content=original),
                                      Item(url="https://portal.example/1", title="Copy", content=near_copy(original)),
                                      Item(url="https://other.example/1", title="Other", content=text(rng))],
                             T0, story_for=story_assigner(index, T0))
    assert [item.story_id for item in stored] == [1, 1, 3]
    assert store.grouped_count(None) == 3 and store.grouped_count(T0 + timedelta(seconds=1)) == 0
    assert store.grouped_copy(stored[0].item.content_hash, T0 - timedelta(days=1)) == 1
    assert len(store.story_facts(1, T0 - timedelta(days=1))) == 2
    keys = band_keys(signature(near_copy(original)).minhash)
    candidates = store.band_candidates(keys, T0 - timedelta(days=1))
    members = store.band_members(keys, T0 - timedelta(days=1))
    signatures = sorted(store.grouped_signatures(members))
    assert members == [1, 2] and [(story, minhash, facts) for _, story, minhash, facts in signatures] == candidates
    assert [facts for *_, facts in signatures] == store.story_facts(1, T0 - timedelta(days=1))
    assert sql(store.url, "SELECT count(*) FROM story_bands")[0][0] == 3 * BANDS
    # Retention: unmatched items lose their text and bands, the row stays (so it is never new again).
    assert store.forget_old_text(T0 + timedelta(days=1), batch=2) == 3
    assert sql(store.url, "SELECT count(*) FROM story_bands")[0][0] == 0
    assert [(r["content"], r["signature"]) for r in store.items()] == [("", None)] * 3
    assert store.known_keys(["https://wire.example/1"]) == {"https://wire.example/1"}


def test_a_rolled_back_transaction_leaves_no_items_nor_bands(store):
    index = load_index(store, T0)
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.add_items("Wire", [Item(url="https://wire.example/1", title="One", content=text(random.Random(6)))],
                            T0, story_for=story_assigner(index, T0))
            with store.transaction():  # nested: joins the outer
                store.record_failure("Wire", T0, "boom")
            assert store.count_items() == 1
            raise RuntimeError("the poll fails after storing")
    assert store.count_items() == 0 and store.source_health() == []
    assert sql(store.url, "SELECT count(*) FROM story_bands")[0][0] == 0
    (again,) = store.add_items("Wire", [Item(url="https://wire.example/1", title="One")], T0)
    assert again.id == 1  # the id is handed out again


def test_edited_items_are_reported_once(store):
    item = Item(url="https://ledger.example/1", title="One", feed_hash="a")
    store.add_items("Ledger", [item], T0)
    key = item.key("Ledger")
    assert store.edited_items({key: "a"}) == []
    assert store.edited_items({key: "b", "https://unknown.example/": "c"}) == [key]
    assert store.edited_items({key: "b"}) == []


def test_two_processes_storing_overlapping_items_store_each_once(pg_url, tmp_path):  # noqa: F811
    PostgresStore(pg_url).close()
    one, two = race(tmp_path / "race", pg_url, [["add_items", "A", "0", "40"], ["add_items", "B", "20", "40"]])
    stored = one["stored"] + two["stored"]
    assert sorted(key for _, key in stored) == sorted(f"https://ledger.example/{n}" for n in range(60))
    assert sorted(item_id for item_id, _ in stored) == list(range(1, 61))
    assert sql(pg_url, "SELECT count(*), count(DISTINCT key) FROM items") == [(60, 60)]


# --- sources, digest times, labels ----------------------------------------------------------------

def test_source_state_and_health_round_trip(store):
    assert store.source_state("Ledger").status == "new"
    store.record_failure("Ledger", T0, "HTTP 503")
    store.record_failure("Ledger", T0 + timedelta(hours=1), "HTTP 502")
    state = store.source_state("Ledger")
    assert (state.status, state.consecutive_failures, state.failing_since, state.last_error) == (
        "failing", 2, T0, "HTTP 502")
    store.record_success("Ledger", T0 + timedelta(hours=2), etag='"v2"', last_modified="Wed", body_hash="h",
                         new_items=3, warning="malformed feed")
    store.record_success("Вісник", T0, etag=None, last_modified=None, body_hash=None, new_items=1, not_modified=True)
    state = store.source_state("Ledger")
    assert (state.status, state.consecutive_failures, state.failing_since, state.etag, state.last_ok) == (
        "ok", 0, None, '"v2"', T0 + timedelta(hours=2))
    health = store.source_health()
    assert [(h.source, h.status, h.error, h.items, h.note) for h in health] == [
        ("Ledger", "ok", None, 3, "malformed feed"), ("Вісник", "not_modified", None, 1, None)]


def test_digest_times_round_trip(store):
    assert store.last_digest_time("daily") is None
    store.record_digest_time("daily", T0)
    store.record_digest_time("daily", T0 + timedelta(days=1))
    assert store.last_digest_time("daily") == T0 + timedelta(days=1)


def test_labels_round_trip_and_a_story_labelled_not_relevant_is_never_claimed(store):
    ids = [store.add_items(source, [Item(url=f"https://{source}.example/1", title=f"Report {source}")], T0,
                           {f"https://{source}.example/1": MATCH})[0].id for source in ("a", "b")]
    # A copy of story a (from another outlet): labelling it not relevant leaves the whole story out.
    (copy,) = store.add_items("c", [Item(url="https://c.example/1", title="Copy")], T0,
                              {"https://c.example/1": MATCH}, story_for=lambda item, item_id: (ids[0], None))
    with pytest.raises(UnknownItem):
        store.set_label(99, "relevant", T0)
    with pytest.raises(ValueError):
        store.set_label(ids[0], "maybe", T0)
    store.set_label(copy.id, "relevant", T0, note="first")
    label = store.set_label(copy.id, "not_relevant", T0 + timedelta(minutes=1), note="a holiday camp",
                            labelled_by="web")
    assert store.label(copy.id) == label and label.note == "a holiday camp" and label.labelled_by == "web"
    store.set_label(ids[1], "relevant", T0)
    assert [lab.item_id for lab in store.labels()] == [ids[1], copy.id]
    assert [(i.label.item_id, i.title) for i in store.labelled_items()] == [(ids[1], "Report b"), (copy.id, "Copy")]
    assert store.unclaimed_item_ids("daily", "files") == [ids[1]]
    assert store.remove_label(copy.id) and not store.remove_label(copy.id)
    assert store.unclaimed_item_ids("daily", "files") == ids


# --- full-text search -----------------------------------------------------------------------------

def test_search_folds_case_and_accents_takes_prefixes_and_needs_every_word(store):
    entries = [("Ledger", "Children deported from Kherson", "A café near the naïve border."),
               ("Вісник", "Дітей депортували з Херсона", "Київ вимагає повернення."),
               ("Ledger", "Returned home", "Eleven children returned.")]
    ids = [store.add_items(source, [Item(url=f"https://x.example/{n}", title=title, summary=summary)], T0)[0].id
           for n, (source, title, summary) in enumerate(entries)]
    assert store.search_items(["cafe", "NAIVE"]) == [ids[0]]
    assert store.search_items(["ХЕРСОН*"]) == [ids[1]] and store.search_items(["київ"]) == [ids[1]]
    assert store.search_items(["children*"]) == [ids[0], ids[2]]  # title hits first
    assert store.search_items(["children", "kherson"]) == [ids[0]]
    assert store.search_items(["it's", "&", "!"]) == [] and store.search_items([]) == []
    with psycopg.connect(store.url, autocommit=True) as conn:
        conn.execute("SET enable_seqscan = off")  # three rows: the planner would rather read the table
        plan = "\n".join(row[0] for row in conn.execute(
            "EXPLAIN SELECT id FROM items WHERE monitor_search(title, summary, content) @@ to_tsquery('simple', 'x')"))
    assert "items_search" in plan  # the query's expression is the GIN index's


def test_a_database_owner_who_is_not_a_superuser_migrates_it_with_accent_folding(postgres_server):  # noqa: F811
    from urllib.parse import urlsplit, urlunsplit

    role, database = "monitor_" + uuid.uuid4().hex[:8], "owned_" + uuid.uuid4().hex[:8]
    sql(postgres_server, f"CREATE ROLE {role} LOGIN")
    sql(postgres_server, f"CREATE DATABASE {database} OWNER {role}")
    parts = urlsplit(postgres_server)
    url = urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port}", path=f"/{database}"))
    try:
        store = open_database(url)
        try:
            assert store.schema_version == len(MIGRATIONS)
            (item,) = store.add_items("Ledger", [Item(url="https://x.example/1", title="Un café")], T0)
            assert store.search_items(["cafe"]) == [item.id]  # unaccent is a trusted extension
        finally:
            store.close()
    finally:
        sql(postgres_server, f"DROP DATABASE {database} WITH (FORCE)")
        sql(postgres_server, f"DROP ROLE {role}")


def test_a_lost_connection_fails_one_call_and_the_next_one_reconnects(store, postgres_server):  # noqa: F811
    def cut() -> None:
        sql(postgres_server, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = "
                             "'monitor' AND datname = %s", [store.url.rsplit("/", 1)[1]])

    store.record_failure("Ledger", T0, "boom")
    cut()
    with pytest.raises(PostgresStoreError) as lost:
        store.source_health()
    assert isinstance(lost.value.__cause__, psycopg.OperationalError) and "***" not in str(lost.value)
    assert [h.source for h in store.source_health()] == ["Ledger"]
    with pytest.raises(PostgresStoreError):  # inside a transaction: the transaction's error, no retry
        with store.transaction():
            store.record_failure("Other", T0, "boom")
            cut()
            store.add_items("Ledger", [Item(url="https://ledger.example/1", title="One")], T0)
    assert store.count_items() == 0 and [h.source for h in store.source_health()] == ["Ledger"]
    with store.transaction():
        store.add_items("Ledger", [Item(url="https://ledger.example/1", title="One")], T0)
    assert store.count_items() == 1


def test_a_user_who_may_not_create_extensions_gets_a_search_that_folds_case_only(postgres_server):  # noqa: F811
    from urllib.parse import urlsplit, urlunsplit

    role, database = "monitor_" + uuid.uuid4().hex[:8], "shared_" + uuid.uuid4().hex[:8]
    sql(postgres_server, f"CREATE ROLE {role} LOGIN")
    sql(postgres_server, f"CREATE DATABASE {database}")  # owned by the superuser; the role may create tables only
    parts = urlsplit(postgres_server)
    sql(urlunsplit(parts._replace(path=f"/{database}")), f"GRANT CREATE ON SCHEMA public TO {role}")
    url = urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port}", path=f"/{database}"))
    try:
        store = open_database(url)
        try:
            assert store.schema_version == len(MIGRATIONS)
            (item,) = store.add_items("Ledger", [Item(url="https://x.example/1", title="Un CAFÉ à Київ")], T0)
            assert store.search_items(["café", "КИЇВ"]) == [item.id] and store.search_items(["cafe"]) == []
        finally:
            store.close()
    finally:
        sql(postgres_server, f"DROP DATABASE {database} WITH (FORCE)")
        sql(postgres_server, f"DROP ROLE {role}")
