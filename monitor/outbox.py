"""The outbox: batches of stories per digest and channel, claimed atomically, sent, retried.

A mixin of Store (monitor/store.py): these queries share its connection and transactions.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlite_utils

from monitor.clock import from_iso, utc_iso


@dataclass(frozen=True)
class Batch:
    id: str
    digest: str
    channel: str
    kind: str
    scheduled_for: datetime
    created_at: datetime
    attempts: int
    parts_sent: int
    item_ids: list[int]
    status: str = "pending"
    last_error: str | None = None


class OutboxQueries:
    """Needs `self.db` (sqlite_utils.Database) and `self.transaction()`, as Store has them."""

    db: sqlite_utils.Database
    def unclaimed_item_ids(self, digest: str, channel: str, *, sources: Iterable[str] | None = None,
                           topics: Iterable[str] | None = None, item_ids: Iterable[int] | None = None,
                           matched_since: datetime | None = None) -> list[int]:
        """One matched item per story this channel of this digest has not been given yet.

        A story is claimed once: when a copy from another outlet arrives after the story was
        sent, it is not sent again (it shows as "also reported by" in later renderings).
        """
        where, params = [], {"digest": digest, "channel": channel}
        if matched_since is not None:
            where.append("m.matched_at >= :matched_since")
            params["matched_since"] = utc_iso(matched_since)
        for column, values, prefix in (("i.source", sources, "s"), ("m.topic", topics, "t"), ("i.id", item_ids, "i")):
            if values is None:
                continue
            values = list(values)
            where.append(f"{column} IN (" + ",".join(f":{prefix}{n}" for n in range(len(values))) + ")"
                         if values else "0")
            params.update({f"{prefix}{n}": value for n, value in enumerate(values)})
        # The story's lead is its earliest-published matched copy (the outlet that had it first);
        # SQLite returns the other columns of the row where min() is reached.
        sql = f"""SELECT i.id, min(coalesce(i.published, i.first_seen) || printf('%012d', i.id)) AS lead
                  FROM items i JOIN matches m ON m.item_id = i.id
                  WHERE NOT EXISTS (SELECT 1 FROM deliveries d JOIN items j ON j.id = d.item_id
                                    WHERE d.digest = :digest AND d.channel = :channel AND j.story_id = i.story_id)
                  {''.join(' AND ' + w for w in where)}
                  GROUP BY i.story_id ORDER BY i.story_id"""  # one aggregate only, or SQLite picks any row
        return [row[0] for row in self.db.execute(sql, params)]

    def create_batch(self, digest: str, channel: str, scheduled_for: datetime, at: datetime, *,
                     sources: Iterable[str] | None = None, topics: Iterable[str] | None = None,
                     kind: str = "digest", send_empty: bool = False, item_ids: Iterable[int] | None = None) -> Batch | None:
        """Claim, for one channel of a digest, every matched item it has not been given yet.

        The batch row and the claims are written in one transaction, so an item is either in
        exactly one batch of this (digest, channel) or still waiting for the next one.
        Returns None when there is nothing to send (and send_empty is false).
        """
        with self.transaction():
            ids = self.unclaimed_item_ids(digest, channel, sources=sources, topics=topics, item_ids=item_ids)
            if not ids and not send_empty:
                return None
            batch = Batch(id=uuid.uuid4().hex, digest=digest, channel=channel, kind=kind,
                          scheduled_for=scheduled_for, created_at=at, attempts=0, parts_sent=0, item_ids=ids)
            self.db.execute(
                """INSERT INTO batches (id, digest, channel, kind, scheduled_for, created_at, next_attempt_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                [batch.id, digest, channel, kind, utc_iso(scheduled_for), utc_iso(at), utc_iso(at)])
            self.db.conn.executemany(
                "INSERT INTO deliveries (digest, channel, item_id, batch_id) VALUES (?, ?, ?, ?)",
                [(digest, channel, item_id, batch.id) for item_id in ids])
        return batch

    def due_batches(self, at: datetime, channel: str | None = None) -> list[Batch]:
        sql = "SELECT * FROM batches WHERE status = 'pending' AND next_attempt_at <= ?"
        params: list = [utc_iso(at)]
        if channel:
            sql += " AND channel = ?"
            params.append(channel)
        return [self._batch(row) for row in self.db.query(sql + " ORDER BY created_at, id", params)]

    def pending_batches(self) -> list[Batch]:
        return [self._batch(row) for row in self.db.query(
            "SELECT * FROM batches WHERE status = 'pending' ORDER BY created_at, id")]

    def batches(self, digest: str | None = None) -> list[Batch]:
        sql = "SELECT * FROM batches" + (" WHERE digest = ?" if digest else "") + " ORDER BY created_at, id"
        return [self._batch(row) for row in self.db.query(sql, [digest] if digest else [])]

    def _batch(self, row: dict) -> Batch:
        ids = [r[0] for r in self.db.execute(
            "SELECT item_id FROM deliveries WHERE batch_id = ? ORDER BY item_id", [row["id"]])]
        return Batch(id=row["id"], digest=row["digest"], channel=row["channel"], kind=row["kind"],
                     scheduled_for=from_iso(row["scheduled_for"]), created_at=from_iso(row["created_at"]),
                     attempts=row["attempts"], parts_sent=row["parts_sent"], item_ids=ids,
                     status=row["status"], last_error=row["last_error"])

    def record_part_sent(self, batch_id: str, parts_sent: int) -> None:
        with self.transaction():
            self.db.execute("UPDATE batches SET parts_sent = ? WHERE id = ?", [parts_sent, batch_id])

    def record_delivered(self, batch_id: str, at: datetime) -> None:
        with self.transaction():
            self.db.execute("UPDATE batches SET status = 'delivered', delivered_at = ?, last_error = NULL "
                            "WHERE id = ?", [utc_iso(at), batch_id])

    def record_attempt_failed(self, batch_id: str, error: str, retry_at: datetime) -> None:
        with self.transaction():
            self.db.execute("UPDATE batches SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? "
                            "WHERE id = ?", [error, utc_iso(retry_at), batch_id])
