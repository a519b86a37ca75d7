"""Evidence in PostgreSQL: the queries of monitor/captures.py (captures, each matched item's
evidence state and its claim, rechecks, the custody log, WARC seals), for PostgresStore.

The WARC files stay on the disk of the machine that captured (settings.evidence.dir); only their
rows are here. The rows mean what they mean in SQLite (monitor/captures.py's helpers read them).

Two differences, on purpose:
- A claim (claim_captures) is one conditional INSERT or UPDATE per item: under READ COMMITTED a
  second claimer waits for the first's row, then re-checks the condition on the row as the first
  left it, so two processes (on two machines) never capture one item at once.
- Custody ids are max(id) + 1 under an advisory lock, not the identity column's sequence: a
  sequence skips the values of rolled-back inserts, and `monitor evidence verify` reads a gap in
  the ids as an event deleted. Every write that logs takes that lock before anything else, so
  two of them (a recheck and a capture of one item) never wait on each other's rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from monitor import __version__
from monitor.captures import (CLAIM_SECONDS, Capture, EvidenceState, Target, capture_detail, capture_of,
                              recheck_updates, state_of)
from monitor.clock import utc_iso
from monitor.secrets import redact

CUSTODY_LOCK = 0x6D6F6E69746F7203   # pg_advisory_xact_lock key: appenders to the custody log, one at a time


class PostgresEvidenceQueries:
    """Needs PostgresStore's `_execute`, `_rows`, `_value`, `_lock` and `transaction()`."""

    # --- what to capture --------------------------------------------------------------------------

    def pending_captures(self, at: datetime | None, *, source: str | None = None,
                         item_ids: Iterable[int] | None = None, limit: int = 100,
                         unclaimed: bool = True) -> list[int]:
        """As Store.pending_captures: matched items pending and due at `at` (any pending one for
        None), and with `unclaimed` those never tried (no evidence row), oldest first."""
        params = {"at": utc_iso(at), "source": source, "limit": limit,
                  "ids": None if item_ids is None else [int(i) for i in item_ids]}
        restrict = "AND (%(ids)s::bigint[] IS NULL OR i.id = ANY(%(ids)s::bigint[]))"
        due = f"""SELECT e.item_id AS id FROM evidence e JOIN items i ON i.id = e.item_id
                  WHERE e.state = 'pending'
                    AND (%(at)s::text IS NULL OR e.next_attempt_at IS NULL OR e.next_attempt_at <= %(at)s)
                    AND (%(source)s::text IS NULL OR i.source = %(source)s) {restrict}"""
        never = f"""SELECT DISTINCT m.item_id AS id FROM matches m JOIN items i ON i.id = m.item_id
                    WHERE NOT EXISTS (SELECT 1 FROM evidence e WHERE e.item_id = m.item_id)
                      AND (%(source)s::text IS NULL OR i.source = %(source)s) {restrict}"""
        sql = f"SELECT id FROM ({due}{' UNION ' + never if unclaimed else ''}) due ORDER BY id LIMIT %(limit)s"
        return [row[0] for row in self._execute(sql, params)]

    def claim_captures(self, item_ids: Iterable[int], at: datetime, *, force: bool = False) -> list[int]:
        """Take the items for one capture attempt (a lease of CLAIM_SECONDS); those claimed."""
        lease = utc_iso(at + timedelta(seconds=CLAIM_SECONDS))
        claimed = []
        with self.transaction():
            for item_id in item_ids:
                taken = self._execute(
                    """INSERT INTO evidence (item_id, state, next_attempt_at) VALUES (%s, 'pending', %s)
                       ON CONFLICT (item_id) DO NOTHING""", [item_id, lease]).rowcount == 1
                if not taken:
                    taken = self._execute(
                        """UPDATE evidence SET next_attempt_at = %(lease)s WHERE item_id = %(id)s AND state = 'pending'
                               AND (%(force)s OR next_attempt_at IS NULL OR next_attempt_at <= %(at)s)""",
                        {"lease": lease, "id": item_id, "at": utc_iso(at), "force": force}).rowcount == 1
                if taken:
                    claimed.append(item_id)
        return claimed

    def targets(self, item_ids: Iterable[int]) -> list[Target]:
        ids = [int(i) for i in item_ids]
        if not ids:
            return []
        return [Target(row["id"], row["url"], row["source"], row["content"] or row["summary"] or row["title"],
                       row["title"])
                for row in self._rows("SELECT id, url, source, title, summary, content FROM items "
                                      "WHERE id = ANY(%s) ORDER BY id", [ids])]

    # --- recording --------------------------------------------------------------------------------

    def record_capture(self, capture: dict, at: datetime, recheck: Sequence[timedelta], *,
                       first: bool) -> int:
        """As Store.record_capture: the capture, its custody event, and for an item's first
        capture its evidence row 'captured' with the first recheck scheduled."""
        with self.transaction():
            self._lock(CUSTODY_LOCK)  # first, as every write that logs: no two wait on each other's rows
            columns = ", ".join(capture)
            capture_id = self._value(f"INSERT INTO captures ({columns}) VALUES ({', '.join(['%s'] * len(capture))}) "
                                     f"RETURNING id", list(capture.values()))
            if first:
                self._execute(
                    """INSERT INTO evidence (item_id, state, attempts, captured_at, next_check_at)
                       VALUES (%(id)s, 'captured', 1, %(at)s, %(next)s)
                       ON CONFLICT (item_id) DO UPDATE SET state = 'captured', attempts = evidence.attempts + 1,
                           last_error = NULL, next_attempt_at = NULL, captured_at = excluded.captured_at,
                           next_check_at = excluded.next_check_at""",
                    {"id": capture["item_id"], "at": capture["captured_at"],
                     "next": utc_iso(at + recheck[0]) if recheck else None})
            self.log_event(at, "capture", item_id=capture["item_id"], capture_id=capture_id, url=capture["url"],
                           sha256=capture["sha256"], detail=capture_detail(capture))
        return capture_id

    def record_capture_failed(self, item_id: int, url: str, at: datetime, error: str,
                              retry_at: datetime | None) -> None:
        """A capture attempt failed: pending again until `retry_at`, or failed for good (None)."""
        with self.transaction():
            self._lock(CUSTODY_LOCK)
            self._execute(
                """INSERT INTO evidence (item_id, state, attempts, last_error, next_attempt_at)
                   VALUES (%(id)s, %(state)s, 1, %(error)s, %(retry)s)
                   ON CONFLICT (item_id) DO UPDATE SET state = excluded.state, attempts = evidence.attempts + 1,
                       last_error = excluded.last_error, next_attempt_at = excluded.next_attempt_at""",
                {"id": item_id, "state": "pending" if retry_at else "failed", "error": redact(error),
                 "retry": utc_iso(retry_at)})
            self.log_event(at, "capture_failed", item_id=item_id, url=url,
                           detail=redact(error) + ("; retried later" if retry_at else "; not retried"))

    # --- rechecks ---------------------------------------------------------------------------------

    def due_rechecks(self, at: datetime | None, limit: int = 1000) -> list[int]:
        """Captured items whose next recheck is due at `at` (every captured item when None)."""
        return [row[0] for row in self._execute(
            """SELECT item_id FROM evidence WHERE state = 'captured'
                   AND (%(at)s::text IS NULL OR (next_check_at IS NOT NULL AND next_check_at <= %(at)s))
               ORDER BY next_check_at, item_id LIMIT %(limit)s""", {"at": utc_iso(at), "limit": limit})]

    def latest_capture(self, item_id: int) -> Capture | None:
        rows = self.captures([item_id]).get(item_id)
        return rows[-1] if rows else None

    def record_recheck(self, item_id: int, at: datetime, outcome: str, *, url: str, sha256: str | None,
                       detail: str, latest: Capture | None, recheck: Sequence[timedelta],
                       new_capture: dict | None = None, retry_at: datetime | None = None) -> None:
        """As Store.record_recheck: live | changed | gone | unreachable, and the schedule."""
        with self.transaction():
            self._lock(CUSTODY_LOCK)
            state = self.evidence_state(item_id)
            if new_capture is not None:
                self.record_capture(new_capture, at, recheck, first=False)
            stamp = utc_iso(at)
            if outcome in ("live", "changed") and latest is not None:
                self._execute("UPDATE captures SET status = %s, last_checked = %s WHERE id = %s",
                              [outcome, stamp, latest.id])
                if outcome == "changed":  # the captures made since (the new page) are what is live now
                    self._execute("UPDATE captures SET status = 'live', last_checked = %s "
                                  "WHERE item_id = %s AND id > %s", [stamp, item_id, latest.id])
                self._execute("UPDATE evidence SET gone_at = NULL WHERE item_id = %s", [item_id])
            elif outcome == "gone":
                self._execute("UPDATE captures SET status = 'gone', last_checked = %s WHERE item_id = %s",
                              [stamp, item_id])
                self._execute("UPDATE evidence SET gone_at = coalesce(gone_at, %s) WHERE item_id = %s",
                              [stamp, item_id])
            first = self._value("SELECT captured_at FROM evidence WHERE item_id = %s", [item_id])
            updates = recheck_updates(state, first, at, outcome, detail, recheck, retry_at)
            sets = ", ".join(f"{name} = %({name})s" for name in updates)
            self._execute(f"UPDATE evidence SET {sets} WHERE item_id = %(item_id)s", {**updates, "item_id": item_id})
            self.log_event(at, "recheck", item_id=item_id, capture_id=latest.id if latest else None, url=url,
                           sha256=sha256, detail=f"{outcome}: {detail}" if detail else outcome)

    # --- reading ----------------------------------------------------------------------------------

    def evidence_state(self, item_id: int) -> EvidenceState | None:
        return self.evidence_states([item_id]).get(item_id)

    def evidence_states(self, item_ids: Iterable[int]) -> dict[int, EvidenceState]:
        ids = [int(i) for i in item_ids]
        if not ids:
            return {}
        return {row["item_id"]: state_of(row)
                for row in self._rows("SELECT * FROM evidence WHERE item_id = ANY(%s)", [ids])}

    def failing_captures_by_source(self) -> dict[str, int]:
        """Per source, how many of failing_captures() it has (for `monitor sources list`)."""
        if self._value("SELECT to_regclass('evidence')") is None:  # read-only, from before evidence
            return {}
        return dict(self._execute(
            """SELECT i.source, count(*) FROM evidence e JOIN items i ON i.id = e.item_id
               WHERE e.state IN ('pending', 'failed') AND e.last_error IS NOT NULL GROUP BY i.source""").fetchall())

    def captures(self, item_ids: Iterable[int] | None = None) -> dict[int, list[Capture]]:
        """Captures by item, oldest first (every capture when item_ids is None)."""
        if item_ids is None:
            rows = self._rows("SELECT * FROM captures ORDER BY item_id, id")
        else:
            ids = [int(i) for i in item_ids]
            if not ids:
                return {}
            rows = self._rows("SELECT * FROM captures WHERE item_id = ANY(%s) ORDER BY item_id, id", [ids])
        found: dict[int, list[Capture]] = {}
        for row in rows:
            found.setdefault(row["item_id"], []).append(capture_of(row))
        return found

    def capture(self, capture_id: int) -> Capture | None:
        rows = self._rows("SELECT * FROM captures WHERE id = %s", [capture_id])
        return capture_of(rows[0]) if rows else None

    def capture_count(self) -> int:
        return self._value("SELECT count(*) FROM captures")

    def evidence_counts(self) -> dict[str, int]:
        """Matched items by evidence state ('pending' includes those with no row yet)."""
        counts = dict(self._execute("SELECT state, count(*) FROM evidence GROUP BY state").fetchall())
        unseen = self._value(
            """SELECT count(DISTINCT m.item_id) FROM matches m LEFT JOIN evidence e ON e.item_id = m.item_id
               WHERE e.item_id IS NULL""")
        if unseen:
            counts["pending"] = counts.get("pending", 0) + unseen
        return counts

    def failing_captures(self) -> list[tuple[int, str, str]]:
        """(item id, url, last error) of captures that failed, pending a retry or given up."""
        return [tuple(row) for row in self._execute(
            """SELECT e.item_id, i.url, e.last_error FROM evidence e JOIN items i ON i.id = e.item_id
               WHERE e.state IN ('pending', 'failed') AND e.last_error IS NOT NULL ORDER BY e.item_id""")]

    def story_leads(self, *, since: datetime | None = None, until: datetime | None = None,
                    topic: str | None = None, source: str | None = None) -> list[int]:
        """One matched item per story (its earliest-published matched copy), in story order;
        `since`/`until` bound the lead's first_seen."""
        return [row[0] for row in self._execute(
            """SELECT DISTINCT ON (i.story_id) i.id FROM items i JOIN matches m ON m.item_id = i.id
               WHERE (%(since)s::text IS NULL OR i.first_seen >= %(since)s)
                 AND (%(until)s::text IS NULL OR i.first_seen < %(until)s)
                 AND (%(topic)s::text IS NULL OR m.topic = %(topic)s)
                 AND (%(source)s::text IS NULL OR i.source = %(source)s)
               ORDER BY i.story_id, coalesce(i.published, i.first_seen), i.id""",
            {"since": utc_iso(since), "until": utc_iso(until), "topic": topic, "source": source})]

    def story_items(self, lead_ids: Iterable[int]) -> dict[int, list[dict]]:
        """For each lead: every item of its story that matched (the lead first), with first_seen."""
        ids = [int(i) for i in lead_ids]
        if not ids:
            return {}
        out: dict[int, list[dict]] = {}
        for row in self._rows(
                """SELECT l.id AS lead, i.id, i.url, i.source, i.first_seen FROM items l
                   JOIN items i ON i.story_id = l.story_id
                   WHERE l.id = ANY(%s) AND EXISTS (SELECT 1 FROM matches m WHERE m.item_id = i.id)
                   ORDER BY l.id, i.id != l.id, i.id""", [ids]):
            out.setdefault(row["lead"], []).append(row)
        return out

    # --- custody ----------------------------------------------------------------------------------

    def log_event(self, at: datetime, event: str, *, item_id: int | None = None, capture_id: int | None = None,
                  url: str | None = None, sha256: str | None = None, detail: str = "") -> None:
        """Append to the custody log (append-only: the database refuses updates and deletes), with
        the next id: appenders take CUSTODY_LOCK, so the ids run without a gap."""
        with self.transaction():
            self._lock(CUSTODY_LOCK)
            self._execute(
                """INSERT INTO custody (id, at, event, item_id, capture_id, url, sha256, detail, monitor_version)
                   SELECT coalesce(max(id), 0) + 1, %s, %s, %s, %s, %s, %s, %s, %s FROM custody""",
                [utc_iso(at), event, item_id, capture_id, url, sha256, detail, __version__])

    def custody_events(self, item_ids: Iterable[int] | None = None) -> list[dict]:
        """The custody log, oldest first: every event, or those of these items and those of no item."""
        if item_ids is None:
            return self._rows("SELECT * FROM custody ORDER BY id")
        return self._rows("SELECT * FROM custody WHERE item_id IS NULL OR item_id = ANY(%s) ORDER BY id",
                          [[int(i) for i in item_ids]])

    # --- WARC files: seals and timestamps ----------------------------------------------------------

    def warc_files(self) -> list[dict]:
        """Every WARC file that holds a capture, with its seal and timestamp when it has them."""
        return self._rows(
            """SELECT c.warc_file AS name, max(c.warc_offset + c.warc_length) AS end_offset, count(*) AS captures,
                      w.sha256, w.size, w.sealed_at, w.tsa_url, w.token_file, w.timestamped_at, w.timestamp_error
               FROM captures c LEFT JOIN warc_files w ON w.name = c.warc_file
               GROUP BY c.warc_file, w.name ORDER BY c.warc_file""")

    def record_seal(self, name: str, sha256: str, size: int, at: datetime, *, tsa_url: str | None = None,
                    token_file: str | None = None, error: str | None = None) -> None:
        """A finished day's WARC file: its hash and size, and its RFC 3161 token (or why not)."""
        with self.transaction():
            self._lock(CUSTODY_LOCK)
            self._execute(
                """INSERT INTO warc_files (name, sha256, size, sealed_at, tsa_url, token_file, timestamped_at,
                       timestamp_error) VALUES (%(name)s, %(sha)s, %(size)s, %(at)s, %(tsa)s, %(token)s, %(stamped)s,
                       %(error)s)
                   ON CONFLICT (name) DO UPDATE SET tsa_url = excluded.tsa_url, token_file = excluded.token_file,
                       timestamped_at = excluded.timestamped_at, timestamp_error = excluded.timestamp_error""",
                {"name": name, "sha": sha256, "size": size, "at": utc_iso(at), "tsa": tsa_url, "token": token_file,
                 "stamped": utc_iso(at) if token_file else None, "error": redact(error)})
            if token_file:
                self.log_event(at, "timestamp", url=tsa_url, sha256=sha256,
                               detail=f"{name}: RFC 3161 token {token_file}")
            elif error:
                self.log_event(at, "timestamp_failed", url=tsa_url, sha256=sha256, detail=f"{name}: {redact(error)}")
