"""Processes for the PostgreSQL tests' races: `python -m tests.support.postgres_workers ACTION
FOLDER URL [ARGS]`. Each writes FOLDER/ready-PID once it is imported and connected-to-be, waits
for FOLDER/go (so all of them start their race together), does ACTION against the database at URL
and prints its result as one JSON line."""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from monitor.items import Item, Match
from monitor.postgres.store import PostgresStore

T0 = datetime(2026, 11, 25, 6, 0, tzinfo=timezone.utc)
MATCH = [Match("deported-children", ["deport*"], "**deported**")]


def _barrier(folder: Path) -> None:
    (folder / f"ready-{os.getpid()}").touch()
    deadline = time.monotonic() + 60
    while not (folder / "go").exists():
        if time.monotonic() > deadline:
            raise SystemExit("no go")
        time.sleep(0.002)


def migrate(url: str) -> dict:
    store = PostgresStore(url)
    try:
        return {"version": store.schema_version}
    finally:
        store.close()


def claim(url: str, owner: str) -> dict:
    """A dispatcher's loop, as Dispatcher.flush does it: every due batch, claimed one by one,
    each claimed one sent (its parts recorded) and marked delivered."""
    store = PostgresStore(url)
    claimed = []
    try:
        while True:
            due = store.due_batches(T0)
            if not due:
                break
            for n, batch in enumerate(due):
                token = f"{owner}#{n}"
                got = store.claim_batch(batch.id, token, T0, T0 + timedelta(minutes=5))
                if got is None:
                    continue
                assert store.record_part_sent(got.id, token, 1, T0 + timedelta(minutes=5))
                assert store.record_delivered(got.id, token, T0)
                claimed.append(got.id)
    finally:
        store.close()
    return {"claimed": claimed}


def claim_next(url: str, owner: str) -> dict:
    """A worker's loop: the next due batch nobody else is taking (SKIP LOCKED), until none is left."""
    store = PostgresStore(url)
    claimed = []
    try:
        while (got := store.claim_next_batch(owner, T0, T0 + timedelta(minutes=5))) is not None:
            assert store.record_delivered(got.id, owner, T0)
            claimed.append(got.id)
    finally:
        store.close()
    return {"claimed": claimed}


def create_batches(url: str, rounds: str) -> dict:
    """create_batch for one digest and channel, again and again: each story must land in one batch."""
    store = PostgresStore(url)
    try:
        return {"batches": [batch.item_ids for _ in range(int(rounds))
                            if (batch := store.create_batch("daily", "hook", T0, T0)) is not None]}
    finally:
        store.close()


def add_items(url: str, source: str, first: str, count: str) -> dict:
    """Items ledger.example/FIRST … FIRST+COUNT-1, matched, a few per transaction (as polls store them)."""
    store = PostgresStore(url)
    stored = []
    try:
        numbers = list(range(int(first), int(first) + int(count)))
        for start in range(0, len(numbers), 5):
            items = [Item(url=f"https://ledger.example/{n}", title=f"Children deported, report {n}")
                     for n in numbers[start:start + 5]]
            new = store.add_items(source, items, T0, {item.key(source): MATCH for item in items})
            stored += [(row.id, row.key) for row in new]
    finally:
        store.close()
    return {"stored": stored}


ACTIONS = {"migrate": migrate, "claim": claim, "claim_next": claim_next, "create_batches": create_batches,
           "add_items": add_items}

if __name__ == "__main__":
    action, folder, url, *args = sys.argv[1:]
    _barrier(Path(folder))
    print(json.dumps(ACTIONS[action](url, *args)), flush=True)
