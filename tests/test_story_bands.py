"""The story index in SQLite (issue 11, "Nothing rebuilt at start"): the LSH bands of grouped items
are rows of story_bands, written with the items and queried per article, so starting and judging
an article read the same few rows however much is stored. Grouping itself is tested in
test_dedup.py, over both kinds of index."""

from __future__ import annotations

import random
import sqlite3
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from monitor.dedup import (NUM_PERM, band_keys, load_index, seen_second, signature, signature_bytes,
                           story_assigner)
from monitor.items import Item, Match
from monitor.migrations import MIGRATIONS
from monitor.store import Store
from tests.support.schema import sqlite_at_version

UTC = timezone.utc
T0 = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
BANDS = 42
VOCABULARY = [f"w{n}" for n in range(5000)]


def text(rng: random.Random, words: int = 80) -> str:
    """A distinct article of plain words (no numbers or names: no facts to conflict)."""
    return " ".join(rng.choice(VOCABULARY) for _ in range(words))


def near_copy(original: str) -> str:
    """Another byline and footer, one word changed: a copy the index must find by its bands."""
    words = original.split()
    words[len(words) // 2] = "changed"
    return "by another desk " + " ".join(words) + " read more on our site"


def fill(store: Store, count: int, at: datetime, seed: int = 1) -> list[str]:
    """Store `count` distinct grouped items (each with its signature and bands), in one call."""
    rng = random.Random(seed)
    texts = [text(rng) for _ in range(count)]
    items = [Item(url=f"https://filler.example/{seed}/{n}", title=f"Filler {n}", content=body)
             for n, body in enumerate(texts)]
    store.add_items("Filler", items, at, story_for=lambda item, item_id: (None, signature_bytes(signature(item.content))))
    return texts


def bands(store: Store) -> int:
    return store.db.execute("SELECT count(*) FROM story_bands").fetchone()[0]


def sqlite_steps(store: Store, action) -> int:
    """SQLite virtual-machine steps `action` costs on the store's connection (a count of work
    done in SQLite, rows read included; no clock)."""
    steps = 0

    def tick() -> int:
        nonlocal steps
        steps += 1
        return 0

    store.db.conn.set_progress_handler(tick, 100)
    try:
        action()
    finally:
        store.db.conn.set_progress_handler(None, 100)
    return steps * 100


def judge_after_start(store: Store, originals: list[str]) -> list[int | None]:
    """What a poll does with the index: start it, then judge new articles and copies."""
    index = load_index(store, T0)
    rng = random.Random(99)
    probes = [text(rng) for _ in range(5)] + [near_copy(original) for original in originals]
    return [index.find(signature(body), f"new-{n}", T0) for n, body in enumerate(probes)]


def test_starting_and_judging_cost_the_same_with_20x_more_stored(tmp_path):
    costs, found = {}, {}
    for count in (100, 2000):
        store = Store(tmp_path / f"{count}.db")
        texts = fill(store, count, T0 - timedelta(days=2))
        assert bands(store) == count * BANDS
        originals = [texts[0], texts[count // 2]]
        costs[count] = sqlite_steps(store, lambda: found.__setitem__(count, judge_after_start(store, originals)))
        store.close()
    # The new articles are new, each copy joins its original (item 1 and item count/2 + 1).
    assert found[100] == [None] * 5 + [1, 51] and found[2000] == [None] * 5 + [1, 1001]
    # Reading the window's signatures at start (the index rebuilt in memory) made this ~20x.
    assert costs[2000] <= 1.5 * costs[100], costs


def _traced_selects(store: Store, action) -> list[str]:
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)
    try:
        action()
    finally:
        store.db.conn.set_trace_callback(None)
    return [sql for sql in statements if sql.lstrip().upper().startswith("SELECT")]


def test_the_index_queries_search_by_index_and_never_scan_a_table(store):
    texts = fill(store, 300, T0 - timedelta(days=1))
    store.add_items("Short", [Item(url="https://short.example/1", title="Five more children returned", summary="Home.")],
                    T0 - timedelta(hours=1), story_for=lambda item, item_id: (None, b""))
    index = load_index(store, T0)

    def judge():
        assert index.find(signature(near_copy(texts[7])), "none", T0) == 8
        short = Item(url="https://short.example/2", title="Five more children returned", summary="Home.")
        assert index.find(None, short.content_hash, T0) == 301
        assert len(index) == 301

    selects = _traced_selects(store, judge)
    assert len(selects) >= 4
    for sql in selects:
        if sql.lstrip().upper().startswith("SELECT COUNT(*)"):
            continue  # len(): tests and benches only
        plan = [row[3] for row in store.db.execute(f"EXPLAIN QUERY PLAN {sql}")]
        assert not [step for step in plan if step.startswith("SCAN")], (sql, plan)


def test_copies_within_one_poll_join_each_other_over_the_store(store):
    rng = random.Random(5)
    original = text(rng)
    index = load_index(store, T0)
    stored = store.add_items("Wire", [Item(url="https://wire.example/1", title="One", content=original),
                                      Item(url="https://portal.example/1", title="Copy", content=near_copy(original)),
                                      Item(url="https://other.example/1", title="Other", content=text(rng))],
                             T0, story_for=story_assigner(index, T0))
    assert [item.story_id for item in stored] == [1, 1, 3]


def test_a_rolled_back_poll_leaves_no_bands_and_nothing_to_join(store):
    rng = random.Random(6)
    original = text(rng)
    index = load_index(store, T0)
    with pytest.raises(sqlite3.OperationalError):
        with index.transaction(), store.transaction():
            store.add_items("Wire", [Item(url="https://wire.example/1", title="One", content=original)], T0,
                            story_for=story_assigner(index, T0))
            assert bands(store) == BANDS
            store.db.execute("SELECT * FROM no_such_table")  # the poll fails after storing
    assert store.count_items() == 0 and bands(store) == 0
    assert index.find(signature(near_copy(original)), "x", T0) is None
    [copy] = store.add_items("Portal", [Item(url="https://portal.example/1", title="Copy", content=near_copy(original))],
                             T0, story_for=story_assigner(index, T0))
    assert copy.story_id == copy.id  # the id handed out again, to a story of its own


def test_migration_10_writes_the_bands_of_the_signatures_already_stored(tmp_path):
    path = tmp_path / "v9.db"
    conn = sqlite_at_version(path, 9)
    rng = random.Random(7)
    recent, old, without_facts = text(rng), text(rng), text(rng)
    rows = [  # (id, first seen, signature blob)
        (1, T0 - timedelta(days=1), signature_bytes(signature(recent))),
        (2, T0 - timedelta(days=30), signature_bytes(signature(old))),   # out of the window: banded, never found
        (3, T0 - timedelta(hours=2), b""),                              # too short for a MinHash: exact copies only
        (4, T0 - timedelta(hours=1), None),                             # never grouped (matched nothing)
        (5, T0 - timedelta(hours=1), signature(without_facts).minhash.astype("<u8").tobytes()),  # a pre-facts blob
    ]
    for item_id, seen, blob in rows:
        conn.execute("""INSERT INTO items (id, key, url, source, title, first_seen, content_hash, url_key, story_id,
                            signature) VALUES (?, ?, ?, 'Wire', 'Title', ?, ?, ?, ?, ?)""",
                     [item_id, f"k{item_id}", f"https://wire.example/{item_id}", seen.isoformat(timespec="seconds"),
                      f"h{item_id}", f"k{item_id}", item_id, blob])
    conn.close()

    store = Store(path)
    assert store.schema_version == len(MIGRATIONS) >= 10
    assert dict(store.db.execute("SELECT item_id, count(*) FROM story_bands GROUP BY item_id").fetchall()) == {
        1: BANDS, 2: BANDS, 5: BANDS}
    first = signature(recent)
    assert sorted(store.db.execute("SELECT band_key, seen FROM story_bands WHERE item_id = 1").fetchall()) == sorted(
        (key, seen_second(T0 - timedelta(days=1))) for key in band_keys(first.minhash))
    index = load_index(store, T0)
    assert index.find(signature(near_copy(recent)), "x", T0) == 1
    assert index.find(signature(near_copy(old)), "x", T0) is None
    assert index.find(signature(near_copy(without_facts)), "x", T0) == 5
    assert index.find(None, "h3", T0) == 3 and index.find(None, "h4", T0) is None
    assert len(index) == 3
    store.close()


def test_retention_drops_the_bands_with_the_signature_and_keeps_those_of_matched_items(store):
    now = T0 + timedelta(days=200)
    match = {"https://kept.example/1": [Match("deported-children", ["deport*"], "**deported**")]}
    rng = random.Random(8)
    blob = lambda item, item_id: (None, signature_bytes(signature(item.content)))  # noqa: E731
    store.add_items("Filler", [Item(url=f"https://old.example/{n}", title="Old", content=text(rng)) for n in range(3)],
                    T0, story_for=blob)
    kept = Item(url="https://kept.example/1", title="Kept", content=text(rng))
    store.add_items("Kept", {kept.key("Kept"): kept}, T0, {kept.key("Kept"): match[kept.url]}, story_for=blob)
    assert bands(store) == 4 * BANDS
    assert store.forget_old_text(now - timedelta(days=90)) == 3
    assert store.db.execute("SELECT DISTINCT item_id FROM story_bands").fetchall() == [(4,)]
    assert store.db.execute("SELECT count(*) FROM items WHERE signature IS NOT NULL").fetchone()[0] == 1


def test_band_keys_are_what_the_database_keeps():
    """story_bands holds these keys: a change to their formula needs a migration that rewrites them."""
    keys = band_keys(np.arange(NUM_PERM, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15))
    assert len(keys) == BANDS and all(0 <= key < 2**63 for key in keys)
    assert keys[:3] == [1974498901622418080, 2617370453876110033, 3589033023736195166]


def test_a_candidates_signature_is_read_once_then_kept(store):
    """Same-subject articles share bands with hundreds of earlier ones: reading every candidate's
    signature again for each new article was most of what storing a matched item cost."""
    texts = fill(store, 50, T0 - timedelta(days=1))
    index = load_index(store, T0)
    first = _traced_selects(store, lambda: index.find(signature(near_copy(texts[3])), "a", T0))
    assert any(f"substr(signature, 1, {NUM_PERM * 8})" in sql for sql in first)
    again = _traced_selects(store, lambda: index.find(signature(near_copy(texts[3]) + " more"), "b", T0))
    assert not any(f"substr(signature, 1, {NUM_PERM * 8})" in sql for sql in again), again
    assert index.find(signature(near_copy(texts[3]) + " again"), "c", T0) == 4


def test_after_a_failed_write_no_kept_signature_outlives_its_row(store):
    """A rolled-back poll hands its ids out again: what the index kept of the old row must go."""
    rng = random.Random(8)
    gone, kept = text(rng), text(rng)
    index = load_index(store, T0)
    with pytest.raises(sqlite3.OperationalError):
        with index.transaction(), store.transaction():
            store.add_items("Wire", [Item(url="https://wire.example/1", title="Gone", content=gone)], T0,
                            story_for=story_assigner(index, T0))
            assert index.find(signature(near_copy(gone)), "x", T0) == 1
            store.db.execute("SELECT * FROM no_such_table")
    # Stored outside the index's own transaction (no forget() for it): the store's count of
    # failed transactions is what tells the index.
    with pytest.raises(sqlite3.OperationalError):
        with store.transaction():
            store.add_items("Wire", [Item(url="https://wire.example/2", title="Gone too", content=gone)], T0,
                            story_for=story_assigner(index, T0))
            store.db.execute("SELECT * FROM no_such_table")
    [item] = store.add_items("Desk", [Item(url="https://desk.example/1", title="Kept", content=kept)], T0,
                             story_for=lambda item, item_id: (None, signature_bytes(signature(item.content))))
    assert item.id == 1
    assert index.find(signature(near_copy(gone)), "y", T0) is None
    assert index.find(signature(near_copy(kept)), "z", T0) == 1
