"""Evidence on PostgreSQL where it differs from SQLite (monitor/postgres/evidence.py): claims taken
by several sessions at once (each its own connection, as processes on several machines have),
and custody ids that run without a gap though a transaction rolled back. The commands themselves
run on both backends in tests/test_evidence.py; the store's evidence tests in test_postgres_reused.py."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'monitor[postgresql]')")

from monitor.evidence.verify import verify
from monitor.items import Item, Match
from monitor.postgres.store import PostgresStore
from tests.support.postgres import pg_url, postgres_server, postgres_store  # noqa: F401  (fixtures)

T0 = datetime(2026, 11, 25, 6, 0, tzinfo=timezone.utc)
MATCH = [Match("deported-children", ["deport*"], "**deported**")]


def matched_items(store: PostgresStore, n: int) -> list[int]:
    items = [Item(url=f"https://ledger.example/{i}", title=f"Children deported, report {i}") for i in range(n)]
    return [row.id for row in store.add_items("Ledger", items, T0, {item.key("Ledger"): MATCH for item in items})]


def test_sessions_capturing_at_once_claim_each_item_once_and_log_each_failure_once(store):
    ids = matched_items(store, 40)
    sessions = [PostgresStore(store.url) for _ in range(4)]
    start = threading.Barrier(len(sessions))
    claimed: list[list[int]] = [[] for _ in sessions]

    def capture(n: int) -> None:
        session = sessions[n]
        start.wait()
        for item_id in reversed(ids) if n % 2 else ids:  # from both ends: they meet in the middle
            if session.claim_captures([item_id], T0):
                claimed[n].append(item_id)
                session.record_capture_failed(item_id, f"https://ledger.example/{item_id}", T0,
                                              f"session {n}: 404", None)

    threads = [threading.Thread(target=capture, args=(n,)) for n in range(len(sessions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for session in sessions:
        session.close()
    counts = Counter(item_id for taken in claimed for item_id in taken)
    assert sorted(counts) == ids and set(counts.values()) == {1}
    assert sum(1 for taken in claimed if taken) >= 2  # side by side, not one after the other
    assert store.claim_captures(ids, T0 + timedelta(hours=1)) == []  # failed for good: nobody takes them again
    events = store.custody_events()
    assert sorted(e["item_id"] for e in events) == ids and [e["id"] for e in events] == list(range(1, 41))
    assert store.evidence_counts() == {"failed": 40}


def test_custody_ids_have_no_gap_after_a_rolled_back_append(store, tmp_path):
    store.log_event(T0, "verify", detail="first")
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.log_event(T0, "verify", detail="rolled back")
            raise RuntimeError("the command failed after logging")
    store.log_event(T0, "verify", detail="second")
    assert [(e["id"], e["detail"]) for e in store.custody_events()] == [(1, "first"), (2, "second")]
    assert verify(store, tmp_path).ok  # a gap would read as an event deleted
