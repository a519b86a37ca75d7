"""The outbox on PostgreSQL across processes: batches made, claimed, leased and taken over as in
monitor/outbox.py, with real processes racing on one real server (tests/support/postgres.py):
each story lands in one batch, each batch (delivery id) is claimed and delivered once."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'monitor[postgresql]')")

from monitor.items import Item, Match  # noqa: E402
from monitor.postgres.store import PostgresStore  # noqa: E402
from tests.support.postgres import pg_url, postgres_server, race, postgres_store  # noqa: F401  (fixtures)
from tests.support.postgres_workers import T0

UTC = timezone.utc
MATCH = [Match("deported-children", ["deport*"], "**deported**")]
LEASE = timedelta(minutes=5)


def stories(store: PostgresStore, n: int, at: datetime = T0 - timedelta(hours=1)) -> list[int]:
    items = [Item(url=f"https://ledger.example/{i}", title=f"Children deported, report {i}") for i in range(n)]
    return [row.id for row in store.add_items("Ledger", items, at, {item.key("Ledger"): MATCH for item in items})]


def one_batch_per_story(store: PostgresStore, ids: list[int]) -> list[str]:
    return [store.create_batch("alert", "hook", T0, T0, kind="alert", item_ids=[item_id]).id for item_id in ids]


def test_three_processes_flushing_one_outbox_claim_each_delivery_id_once(store, tmp_path):
    batch_ids = one_batch_per_story(store, stories(store, 60))
    results = race(tmp_path / "race", store.url, [["claim", f"dispatcher-{n}"] for n in range(3)])
    claimed = Counter(batch_id for result in results for batch_id in result["claimed"])
    assert sorted(claimed) == sorted(batch_ids) and set(claimed.values()) == {1}
    assert {batch.status for batch in store.batches()} == {"delivered"}
    assert store.due_batches(T0 + timedelta(days=1)) == []


def test_three_workers_taking_the_next_batch_with_skip_locked_take_each_once(store, tmp_path):
    batch_ids = one_batch_per_story(store, stories(store, 60))
    results = race(tmp_path / "race", store.url, [["claim_next", f"worker-{n}"] for n in range(3)])
    claimed = Counter(batch_id for result in results for batch_id in result["claimed"])
    assert sorted(claimed) == sorted(batch_ids) and set(claimed.values()) == {1}
    assert sum(1 for result in results if result["claimed"]) >= 2  # they worked side by side, not in turn


def test_processes_making_the_same_digest_at_once_put_each_story_in_one_batch(store, tmp_path):
    ids = stories(store, 40)
    results = race(tmp_path / "race", store.url, [["create_batches", "3"]] * 3)
    claimed = Counter(item_id for result in results for batch in result["batches"] for item_id in batch)
    assert sorted(claimed) == ids and set(claimed.values()) == {1}
    assert store.unclaimed_item_ids("daily", "hook") == []


def test_a_story_is_claimed_once_whichever_copy_arrives_later(store):
    (first,) = stories(store, 1)
    batch = store.create_batch("daily", "hook", T0, T0)
    assert batch.item_ids == [first]
    store.add_items("Copier", [Item(url="https://copier.example/1", title="A copy")], T0, {"https://copier.example/1": MATCH},
                    story_for=lambda item, item_id: (first, None))
    assert store.unclaimed_item_ids("daily", "hook") == [] and store.create_batch("daily", "hook", T0, T0) is None
    assert store.unclaimed_item_ids("daily", "other-channel") == [first]
    assert store.create_batch("daily", "hook", T0, T0, send_empty=True).item_ids == []


def test_filters_choose_the_stories_and_an_empty_filter_chooses_none(store):
    ids = stories(store, 3)
    assert store.unclaimed_item_ids("daily", "hook", sources=["Ledger"]) == ids
    assert store.unclaimed_item_ids("daily", "hook", sources=[]) == []
    assert store.unclaimed_item_ids("daily", "hook", topics=["returns"]) == []
    assert store.unclaimed_item_ids("daily", "hook", item_ids=[ids[1]]) == [ids[1]]
    assert store.unclaimed_item_ids("daily", "hook", matched_since=T0) == []
    assert store.unclaimed_item_ids("daily", "hook", matched_since=T0 - timedelta(hours=1)) == ids


def test_a_lease_holds_the_batch_until_it_expires_then_another_owner_resumes_it(store):
    stories(store, 2)
    batch = store.create_batch("daily", "hook", T0, T0)
    mine = store.claim_batch(batch.id, "a#1", T0, T0 + LEASE)
    assert mine.status == "sending" and mine.owner == "a#1" and mine.lease_until == T0 + LEASE
    assert store.claim_batch(batch.id, "b#1", T0 + timedelta(minutes=1), T0 + LEASE) is None
    assert store.leased_batches(T0 + timedelta(minutes=1)) == [store.batch(batch.id)]
    assert store.record_part_sent(batch.id, "a#1", 1, T0 + LEASE)
    later = T0 + LEASE + timedelta(seconds=1)
    assert [b.id for b in store.due_batches(later)] == [batch.id]
    theirs = store.claim_batch(batch.id, "b#1", later, later + LEASE)
    assert theirs.parts_sent == 1 and theirs.owner == "b#1"  # resumed where the first owner stopped
    # The first owner's lease was taken over: nothing it writes counts any more.
    assert not store.record_part_sent(batch.id, "a#1", 2, later + LEASE)
    assert not store.record_delivered(batch.id, "a#1", later)
    assert not store.record_attempt_failed(batch.id, "a#1", "late", later)
    assert store.record_delivered(batch.id, "b#1", later)
    assert store.batch(batch.id).status == "delivered" and store.pending_batches() == []
    assert store.claim_batch(batch.id, "c#1", later, later + LEASE) is None


def test_a_gone_owners_live_lease_may_be_taken_and_a_failed_attempt_waits_for_its_retry(store):
    stories(store, 1)
    batch = store.create_batch("daily", "hook", T0, T0)
    store.claim_batch(batch.id, "123@elsewhere/x#1", T0, T0 + LEASE)
    assert store.claim_batch(batch.id, "b#1", T0, T0 + LEASE, gone_owner="someone-else") is None
    assert store.claim_batch(batch.id, "b#1", T0, T0 + LEASE, gone_owner="123@elsewhere/x#1") is not None
    assert store.record_attempt_failed(batch.id, "b#1", "HTTP 500", T0 + timedelta(minutes=10))
    failed = store.batch(batch.id)
    assert (failed.status, failed.attempts, failed.last_error, failed.owner) == ("pending", 1, "HTTP 500", None)
    assert store.claim_batch(batch.id, "c#1", T0 + timedelta(minutes=9), T0 + LEASE) is None  # not due yet
    assert store.claim_next_batch("c#1", T0 + timedelta(minutes=9), T0 + LEASE) is None
    assert store.claim_next_batch("c#1", T0 + timedelta(minutes=10), T0 + LEASE).id == batch.id
    assert store.release_batch(batch.id, "c#1") and store.batch(batch.id).status == "pending"
    assert store.batch(batch.id).attempts == 1  # a release is not an attempt


def test_batches_are_listed_oldest_first_with_their_stories(store):
    ids = stories(store, 3)
    first = store.create_batch("daily", "hook", T0, T0, item_ids=ids[:2])
    second = store.create_batch("weekly", "hook", T0, T0 + timedelta(hours=1))
    assert [b.id for b in store.batches()] == [first.id, second.id]
    assert [b.item_ids for b in store.batches("weekly")] == [ids]  # another digest: every story
    assert store.batch(first.id).item_ids == ids[:2] and store.batch("nope") is None
    assert store.previous_batch_time("daily", "hook", T0 + timedelta(days=1)) == T0
    assert store.previous_batch_time("daily", "hook", T0) is None
