"""The outbox: batches of stories per digest and channel, claimed atomically, sent, retried.

A mixin of Store (monitor/store.py): these queries share its connection and transactions.

A batch goes pending → sending → delivered (or back to pending, to be retried). Before sending,
a dispatcher claims it in one UPDATE: status 'sending', its owner token and a lease expiry, only
where the batch is pending and due, or sending under a lease that expired (or an owner known to
be gone). Only that owner then writes the batch: every later write names the owner in its WHERE,
so an owner whose lease was taken over can no longer record anything.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from monitor.clock import from_iso, utc_iso
from monitor.secrets import redact

if TYPE_CHECKING:
    from monitor.dbfile import Database


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
    status: str = "pending"       # pending | sending | delivered
    last_error: str | None = None
    owner: str | None = None      # the claim's owner token while status is 'sending'
    lease_until: datetime | None = None


class OutboxQueries:
    """Needs `self.db` (monitor.dbfile.Database) and `self.transaction()`, as Store has them."""

    db: Database
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
        # A story the user labelled not relevant (any of its items: monitor/labels.py) is never sent.
        # (A read-only preview of a database older than the labels table has no labels yet.)
        if self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'labels'").fetchone():
            where.append("""NOT EXISTS (SELECT 1 FROM labels l JOIN items k ON k.id = l.item_id
                                        WHERE l.label = 'not_relevant' AND k.story_id = i.story_id)""")
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
        """Batches a dispatcher may claim at `at`: pending and due, or sending under an expired lease
        (its owner died or hung mid-send), oldest first."""
        sql = ("SELECT * FROM batches WHERE ((status = 'pending' AND next_attempt_at <= :at)"
               " OR (status = 'sending' AND (lease_until IS NULL OR lease_until <= :at)))")
        params: dict = {"at": utc_iso(at)}
        if channel:
            sql += " AND channel = :channel"
            params["channel"] = channel
        return [self._batch(row) for row in self.db.query(sql + " ORDER BY created_at, id", params)]

    def leased_batches(self, at: datetime, channel: str | None = None) -> list[Batch]:
        """Batches being sent under a lease still running at `at` (the dispatcher checks whether
        their owner is still alive)."""
        sql = "SELECT * FROM batches WHERE status = 'sending' AND lease_until > :at"
        params: dict = {"at": utc_iso(at)}
        if channel:
            sql += " AND channel = :channel"
            params["channel"] = channel
        return [self._batch(row) for row in self.db.query(sql + " ORDER BY created_at, id", params)]

    def pending_batches(self) -> list[Batch]:
        """Every batch not delivered yet: waiting (pending) or being sent (sending)."""
        return [self._batch(row) for row in self.db.query(
            "SELECT * FROM batches WHERE status IN ('pending', 'sending') ORDER BY created_at, id")]

    def batches(self, digest: str | None = None) -> list[Batch]:
        sql = "SELECT * FROM batches" + (" WHERE digest = ?" if digest else "") + " ORDER BY created_at, id"
        return [self._batch(row) for row in self.db.query(sql, [digest] if digest else [])]

    def previous_batch_time(self, digest: str, channel: str, before: datetime) -> datetime | None:
        """When the last batch of this digest to this channel before `before` was made: where the
        period the next one covers starts (None: it is the first)."""
        row = self.db.execute("SELECT max(created_at) FROM batches WHERE digest = ? AND channel = ? AND created_at < ?",
                              [digest, channel, utc_iso(before)]).fetchone()
        return from_iso(row[0]) if row and row[0] else None

    def batch(self, batch_id: str) -> Batch | None:
        rows = list(self.db.query("SELECT * FROM batches WHERE id = ?", [batch_id]))
        return self._batch(rows[0]) if rows else None

    def _batch(self, row: dict) -> Batch:
        ids = [r[0] for r in self.db.execute(
            "SELECT item_id FROM deliveries WHERE batch_id = ? ORDER BY item_id", [row["id"]])]
        return Batch(id=row["id"], digest=row["digest"], channel=row["channel"], kind=row["kind"],
                     scheduled_for=from_iso(row["scheduled_for"]), created_at=from_iso(row["created_at"]),
                     attempts=row["attempts"], parts_sent=row["parts_sent"], item_ids=ids,
                     status=row["status"], last_error=row["last_error"], owner=row["owner"],
                     lease_until=from_iso(row["lease_until"]))

    # --- claims: only the owner of a batch's lease sends it and writes it -----------------------

    def claim_batch(self, batch_id: str, owner: str, at: datetime, lease_until: datetime, *,
                    gone_owner: str | None = None) -> Batch | None:
        """Take the batch for `owner` until `lease_until`, in one transaction; the batch as claimed
        (parts_sent as its last owner left it), or None when another owner holds it, it is not due
        or it was delivered meanwhile. `gone_owner`: that owner's live lease may be taken too (the
        dispatcher found its process gone)."""
        with self.transaction():
            cursor = self.db.execute(
                """UPDATE batches SET status = 'sending', owner = :owner, lease_until = :until
                   WHERE id = :id AND ((status = 'pending' AND next_attempt_at <= :at)
                                       OR (status = 'sending' AND (lease_until IS NULL OR lease_until <= :at
                                                                   OR owner = :gone)))""",
                {"owner": owner, "until": utc_iso(lease_until), "id": batch_id, "at": utc_iso(at),
                 "gone": gone_owner})
            if cursor.rowcount != 1:
                return None
            rows = list(self.db.query("SELECT * FROM batches WHERE id = ?", [batch_id]))
            return self._batch(rows[0])

    def record_part_sent(self, batch_id: str, owner: str, parts_sent: int, lease_until: datetime) -> bool:
        """A part was accepted; the lease is renewed for the next one. False: the lease was lost
        (another owner took the batch over) and nothing was written."""
        with self.transaction():
            cursor = self.db.execute(
                "UPDATE batches SET parts_sent = ?, lease_until = ? WHERE id = ? AND owner = ? AND status = 'sending'",
                [parts_sent, utc_iso(lease_until), batch_id, owner])
            return cursor.rowcount == 1

    def record_delivered(self, batch_id: str, owner: str, at: datetime) -> bool:
        with self.transaction():
            cursor = self.db.execute(
                """UPDATE batches SET status = 'delivered', delivered_at = ?, last_error = NULL, owner = NULL,
                       lease_until = NULL WHERE id = ? AND owner = ? AND status = 'sending'""",
                [utc_iso(at), batch_id, owner])
            return cursor.rowcount == 1

    def record_attempt_failed(self, batch_id: str, owner: str, error: str, retry_at: datetime) -> bool:
        """Back to pending, to be retried at `retry_at` by whichever dispatcher claims it then."""
        with self.transaction():
            cursor = self.db.execute(
                """UPDATE batches SET status = 'pending', owner = NULL, lease_until = NULL,
                       attempts = attempts + 1, last_error = ?, next_attempt_at = ?
                   WHERE id = ? AND owner = ? AND status = 'sending'""",
                [redact(error), utc_iso(retry_at), batch_id, owner])
            return cursor.rowcount == 1

    def release_batch(self, batch_id: str, owner: str) -> bool:
        """Give the claim back without counting an attempt (the send was interrupted: shutdown)."""
        with self.transaction():
            cursor = self.db.execute(
                """UPDATE batches SET status = 'pending', owner = NULL, lease_until = NULL
                   WHERE id = ? AND owner = ? AND status = 'sending'""", [batch_id, owner])
            return cursor.rowcount == 1
