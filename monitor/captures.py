"""Evidence in the database: captures, each matched item's evidence state, the custody log, and
the WARC files' seals and timestamps.

A mixin of Store (monitor/store.py): these queries share its connection and transactions. The
tables are made by the schema's evidence migration (monitor/migrations.py).

An item matched a topic and so needs a capture: it is pending when it has no `evidence` row yet
(nothing was written for it: the poll's capture never ran, or could not even write its claim)
or its row is 'pending' and due. A capture claims its items first (the row's next_attempt_at
becomes a lease), so the service and a `monitor poll` never capture one item twice at once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from monitor import __version__
from monitor.clock import from_iso, utc_iso
from monitor.secrets import redact

if TYPE_CHECKING:
    from monitor.dbfile import Database

CLAIM_SECONDS = 600   # a capture that has not finished by then (its process died) may be tried again


@dataclass(frozen=True)
class Target:
    """A matched item to capture or recheck."""

    item_id: int
    url: str
    source: str
    text: str            # what the item says (main text, else summary, else title): for "gone"
    title: str = ""


@dataclass(frozen=True)
class Capture:
    id: int
    item_id: int
    reason: str          # match | changed | recheck
    requested_url: str
    url: str
    captured_at: datetime
    http_status: int
    sha256: str
    warc_file: str
    warc_record_id: str
    warc_offset: int
    warc_length: int
    record_sha256: str
    status: str          # captured | live | changed | gone
    last_checked: datetime | None


@dataclass(frozen=True)
class EvidenceState:
    item_id: int
    state: str           # pending | captured | failed | not_captured
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    checks_done: int
    next_check_at: datetime | None
    last_checked: datetime | None
    check_error: str | None
    gone_at: datetime | None

    def describe(self) -> str:
        """One line for people: what is known of this item's evidence."""
        if self.state == "pending":
            if not self.attempts:
                return "pending (not captured yet)"
            return f"pending: capture failed {self.attempts}x, retried later; last error: {self.last_error}"
        if self.state == "failed":
            return f"failed: {self.last_error}"
        if self.state == "not_captured":
            return "not captured (matched before evidence capture began)"
        if self.gone_at is not None:
            return f"gone: removed by the publisher (found {utc_iso(self.gone_at)[:10]})"
        return "captured" + (f"; last recheck could not reach the page: {self.check_error}" if self.check_error else "")


def _marks(prefix: str, values: Sequence) -> tuple[str, dict]:
    return ",".join(f":{prefix}{n}" for n in range(len(values))) or "NULL", \
        {f"{prefix}{n}": value for n, value in enumerate(values)}


# Shared with monitor/postgres/evidence.py: a row means the same on both backends.

def capture_of(row: Mapping) -> Capture:
    return Capture(row["id"], row["item_id"], row["reason"], row["requested_url"], row["url"],
                   from_iso(row["captured_at"]), row["http_status"], row["sha256"], row["warc_file"],
                   row["warc_record_id"], row["warc_offset"], row["warc_length"], row["record_sha256"], row["status"],
                   from_iso(row["last_checked"]))


def state_of(row: Mapping) -> EvidenceState:
    return EvidenceState(row["item_id"], row["state"], row["attempts"], row["last_error"],
                         from_iso(row["next_attempt_at"]), row["checks_done"], from_iso(row["next_check_at"]),
                         from_iso(row["last_checked"]), row["check_error"], from_iso(row["gone_at"]))


def capture_detail(capture: Mapping) -> str:
    """The custody log's detail of a capture: why, the status, where its records are."""
    return (f"{capture['reason']}; HTTP {capture['http_status']}; {capture['warc_file']} offset "
            f"{capture['warc_offset']} ({capture['warc_length']} bytes, sha256 {capture['record_sha256']}); "
            f"record {capture['warc_record_id']}")


def recheck_updates(state: EvidenceState | None, first_captured: str | None, at: datetime, outcome: str,
                    detail: str, recheck: Sequence[timedelta], retry_at: datetime | None) -> dict:
    """The evidence row's columns after a recheck: when it was checked, the error of an unreachable
    page, and, for a due recheck, the schedule moved on (an unreachable page: tried at `retry_at`)."""
    updates = {"last_checked": utc_iso(at), "check_error": detail if outcome == "unreachable" else None}
    due = state is not None and state.next_check_at is not None and state.next_check_at <= at
    if due and outcome == "unreachable":
        updates["next_check_at"] = utc_iso(retry_at or at)
    elif due:
        done = state.checks_done + 1
        start = from_iso(first_captured) or at
        updates["checks_done"] = done
        updates["next_check_at"] = utc_iso(start + recheck[done]) if done < len(recheck) else None
    return updates


class EvidenceQueries:
    """Needs `self.db` (monitor.dbfile.Database) and `self.transaction()`, as Store has them."""

    db: Database

    # --- what to capture --------------------------------------------------------------------------

    def pending_captures(self, at: datetime | None, *, source: str | None = None,
                         item_ids: Iterable[int] | None = None, limit: int = 100,
                         unclaimed: bool = True) -> list[int]:
        """Matched items that need a capture: pending and due at `at` (any pending one when `at`
        is None), and, with `unclaimed`, those never tried (no evidence row: a process stopped
        between storing them and their capture), oldest first. A poll's own step asks for its
        source's due retries only (the pending rows, by their index): the never-tried ones are
        the evidence job's, as finding them reads every match."""
        params = {"at": utc_iso(at), "source": source, "limit": limit}
        restrict = ""
        if item_ids is not None:
            marks, values = _marks("i", list(item_ids))
            restrict = f" AND i.id IN ({marks})"
            params.update(values)
        due = f"""SELECT e.item_id AS id FROM evidence e JOIN items i ON i.id = e.item_id
                  WHERE e.state = 'pending' AND (:at IS NULL OR e.next_attempt_at IS NULL OR e.next_attempt_at <= :at)
                    AND (:source IS NULL OR i.source = :source){restrict}"""
        never = f"""SELECT DISTINCT m.item_id AS id FROM matches m JOIN items i ON i.id = m.item_id
                    WHERE NOT EXISTS (SELECT 1 FROM evidence e WHERE e.item_id = m.item_id)
                      AND (:source IS NULL OR i.source = :source){restrict}"""
        sql = f"SELECT id FROM ({due}{' UNION ' + never if unclaimed else ''}) ORDER BY id LIMIT :limit"
        return [row[0] for row in self.db.execute(sql, params)]

    def claim_captures(self, item_ids: Iterable[int], at: datetime, *, force: bool = False) -> list[int]:
        """Take the items for one capture attempt (a lease of CLAIM_SECONDS); those claimed.
        `force` takes pending items whatever their next attempt time (the command's --all)."""
        lease = utc_iso(at + timedelta(seconds=CLAIM_SECONDS))
        claimed = []
        with self.transaction():
            for item_id in item_ids:
                cursor = self.db.execute(
                    "INSERT OR IGNORE INTO evidence (item_id, state, next_attempt_at) VALUES (?, 'pending', ?)",
                    [item_id, lease])
                if cursor.rowcount != 1:
                    cursor = self.db.execute(
                        """UPDATE evidence SET next_attempt_at = :lease WHERE item_id = :id AND state = 'pending'
                               AND (:force OR next_attempt_at IS NULL OR next_attempt_at <= :at)""",
                        {"lease": lease, "id": item_id, "at": utc_iso(at), "force": force})
                if cursor.rowcount == 1:
                    claimed.append(item_id)
        return claimed

    def targets(self, item_ids: Iterable[int]) -> list[Target]:
        ids = [int(i) for i in item_ids]
        if not ids:
            return []
        marks, params = _marks("i", ids)
        return [Target(row["id"], row["url"], row["source"], row["content"] or row["summary"] or row["title"],
                       row["title"])
                for row in self.db.query(f"SELECT id, url, source, title, summary, content FROM items "
                                         f"WHERE id IN ({marks}) ORDER BY id", params)]

    # --- recording --------------------------------------------------------------------------------

    def record_capture(self, capture: dict, at: datetime, recheck: Sequence[timedelta], *,
                       first: bool) -> int:
        """Store a capture (its columns in `capture`) and its custody event; for an item's first
        capture, its evidence row becomes 'captured' with the first recheck scheduled."""
        with self.transaction():
            columns = ", ".join(capture)
            cursor = self.db.execute(f"INSERT INTO captures ({columns}) VALUES ({', '.join('?' * len(capture))})",
                                     list(capture.values()))
            capture_id = cursor.lastrowid
            if first:
                next_check = utc_iso(at + recheck[0]) if recheck else None
                self.db.execute(
                    """INSERT INTO evidence (item_id, state, attempts, captured_at, next_check_at)
                       VALUES (:id, 'captured', 1, :at, :next)
                       ON CONFLICT(item_id) DO UPDATE SET state = 'captured', attempts = attempts + 1,
                           last_error = NULL, next_attempt_at = NULL, captured_at = :at, next_check_at = :next""",
                    {"id": capture["item_id"], "at": capture["captured_at"], "next": next_check})
            self.log_event(at, "capture", item_id=capture["item_id"], capture_id=capture_id, url=capture["url"],
                           sha256=capture["sha256"], detail=capture_detail(capture))
        return capture_id

    def record_capture_failed(self, item_id: int, url: str, at: datetime, error: str,
                              retry_at: datetime | None) -> None:
        """A capture attempt failed: pending again until `retry_at`, or failed for good (None)."""
        with self.transaction():
            self.db.execute(
                """INSERT INTO evidence (item_id, state, attempts, last_error, next_attempt_at)
                   VALUES (:id, :state, 1, :error, :retry)
                   ON CONFLICT(item_id) DO UPDATE SET state = :state, attempts = attempts + 1,
                       last_error = :error, next_attempt_at = :retry""",
                {"id": item_id, "state": "pending" if retry_at else "failed", "error": redact(error),
                 "retry": utc_iso(retry_at)})
            self.log_event(at, "capture_failed", item_id=item_id, url=url,
                           detail=redact(error) + ("; retried later" if retry_at else "; not retried"))

    # --- rechecks ---------------------------------------------------------------------------------

    def due_rechecks(self, at: datetime | None, limit: int = 1000) -> list[int]:
        """Captured items whose next recheck is due at `at` (every captured item when None)."""
        return [row[0] for row in self.db.execute(
            """SELECT item_id FROM evidence WHERE state = 'captured'
                   AND (:at IS NULL OR (next_check_at IS NOT NULL AND next_check_at <= :at))
               ORDER BY next_check_at, item_id LIMIT :limit""", {"at": utc_iso(at), "limit": limit})]

    def latest_capture(self, item_id: int) -> Capture | None:
        rows = self.captures([item_id]).get(item_id)
        return rows[-1] if rows else None

    def record_recheck(self, item_id: int, at: datetime, outcome: str, *, url: str, sha256: str | None,
                       detail: str, latest: Capture | None, recheck: Sequence[timedelta],
                       new_capture: dict | None = None, retry_at: datetime | None = None) -> None:
        """What a recheck found: live | changed | gone (capture statuses updated; a new capture
        stored beside the old for a changed page) | unreachable (nothing about the page is known:
        a due recheck is tried again at `retry_at`). A due recheck that found something moves the
        schedule on."""
        with self.transaction():
            state = self.evidence_state(item_id)
            if new_capture is not None:
                self.record_capture(new_capture, at, recheck, first=False)
            stamp = utc_iso(at)
            if outcome == "live" and latest is not None:
                self.db.execute("UPDATE captures SET status = 'live', last_checked = ? WHERE id = ?", [stamp, latest.id])
                self.db.execute("UPDATE evidence SET gone_at = NULL WHERE item_id = ?", [item_id])
            elif outcome == "changed" and latest is not None:
                self.db.execute("UPDATE captures SET status = 'changed', last_checked = ? WHERE id = ?",
                                [stamp, latest.id])
                self.db.execute("UPDATE captures SET status = 'live', last_checked = ? WHERE item_id = ? AND id > ?",
                                [stamp, item_id, latest.id])
                self.db.execute("UPDATE evidence SET gone_at = NULL WHERE item_id = ?", [item_id])
            elif outcome == "gone":
                self.db.execute("UPDATE captures SET status = 'gone', last_checked = ? WHERE item_id = ?",
                                [stamp, item_id])
                self.db.execute("UPDATE evidence SET gone_at = coalesce(gone_at, ?) WHERE item_id = ?",
                                [stamp, item_id])
            first = self.db.execute("SELECT captured_at FROM evidence WHERE item_id = ?", [item_id]).fetchone()
            updates = recheck_updates(state, first[0] if first else None, at, outcome, detail, recheck, retry_at)
            sets = ", ".join(f"{name} = :{name}" for name in updates)
            self.db.execute(f"UPDATE evidence SET {sets} WHERE item_id = :item_id", {**updates, "item_id": item_id})
            self.log_event(at, "recheck", item_id=item_id, capture_id=latest.id if latest else None, url=url,
                           sha256=sha256, detail=f"{outcome}: {detail}" if detail else outcome)

    # --- reading ----------------------------------------------------------------------------------

    def evidence_state(self, item_id: int) -> EvidenceState | None:
        return self.evidence_states([item_id]).get(item_id)

    def failing_captures_by_source(self) -> dict[str, int]:
        """Per source, how many of failing_captures() it has (for `monitor sources list`)."""
        try:
            rows = self.db.execute(
                """SELECT i.source, count(*) FROM evidence e JOIN items i ON i.id = e.item_id
                   WHERE e.state IN ('pending', 'failed') AND e.last_error IS NOT NULL GROUP BY i.source""")
            return dict(rows.fetchall())
        except sqlite3.OperationalError:  # a read-only database from before evidence
            return {}

    def evidence_states(self, item_ids: Iterable[int]) -> dict[int, EvidenceState]:
        ids = [int(i) for i in item_ids]
        if not ids:
            return {}
        marks, params = _marks("i", ids)
        return {row["item_id"]: state_of(row)
                for row in self.db.query(f"SELECT * FROM evidence WHERE item_id IN ({marks})", params)}

    def captures(self, item_ids: Iterable[int] | None = None) -> dict[int, list[Capture]]:
        """Captures by item, oldest first (every capture when item_ids is None)."""
        if item_ids is None:
            rows = self.db.query("SELECT * FROM captures ORDER BY item_id, id")
        else:
            ids = [int(i) for i in item_ids]
            if not ids:
                return {}
            marks, params = _marks("i", ids)
            rows = self.db.query(f"SELECT * FROM captures WHERE item_id IN ({marks}) ORDER BY item_id, id", params)
        found: dict[int, list[Capture]] = {}
        for row in rows:
            found.setdefault(row["item_id"], []).append(capture_of(row))
        return found

    def capture(self, capture_id: int) -> Capture | None:
        rows = list(self.db.query("SELECT * FROM captures WHERE id = ?", [capture_id]))
        return capture_of(rows[0]) if rows else None

    def capture_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM captures").fetchone()[0]

    def evidence_counts(self) -> dict[str, int]:
        """Matched items by evidence state ('pending' includes those with no row yet)."""
        counts = {row[0]: row[1] for row in self.db.execute(
            "SELECT state, count(*) FROM evidence GROUP BY state")}
        unseen = self.db.execute(
            """SELECT count(DISTINCT m.item_id) FROM matches m LEFT JOIN evidence e ON e.item_id = m.item_id
               WHERE e.item_id IS NULL""").fetchone()[0]
        if unseen:
            counts["pending"] = counts.get("pending", 0) + unseen
        return counts

    def failing_captures(self) -> list[tuple[int, str, str]]:
        """(item id, url, last error) of captures that failed, pending a retry or given up."""
        return [(row[0], row[1], row[2]) for row in self.db.execute(
            """SELECT e.item_id, i.url, e.last_error FROM evidence e JOIN items i ON i.id = e.item_id
               WHERE e.state IN ('pending', 'failed') AND e.last_error IS NOT NULL ORDER BY e.item_id""")]

    def story_leads(self, *, since: datetime | None = None, until: datetime | None = None,
                    topic: str | None = None, source: str | None = None) -> list[int]:
        """One matched item per story (its earliest-published matched copy), in story order;
        `since`/`until` bound the lead's first_seen."""
        sql = """SELECT i.id, min(coalesce(i.published, i.first_seen) || printf('%012d', i.id)) AS lead
                 FROM items i JOIN matches m ON m.item_id = i.id
                 WHERE (:since IS NULL OR i.first_seen >= :since) AND (:until IS NULL OR i.first_seen < :until)
                   AND (:topic IS NULL OR m.topic = :topic) AND (:source IS NULL OR i.source = :source)
                 GROUP BY i.story_id ORDER BY i.story_id"""
        return [row[0] for row in self.db.execute(sql, {"since": utc_iso(since), "until": utc_iso(until),
                                                        "topic": topic, "source": source})]

    def story_items(self, lead_ids: Iterable[int]) -> dict[int, list[dict]]:
        """For each lead: every item of its story that matched (the lead first), with first_seen."""
        ids = [int(i) for i in lead_ids]
        if not ids:
            return {}
        marks, params = _marks("i", ids)
        out: dict[int, list[dict]] = {}
        for row in self.db.query(
                f"""SELECT l.id AS lead, i.id, i.url, i.source, i.first_seen FROM items l
                    JOIN items i ON i.story_id = l.story_id
                    WHERE l.id IN ({marks}) AND EXISTS (SELECT 1 FROM matches m WHERE m.item_id = i.id)
                    ORDER BY l.id, i.id != l.id, i.id""", params):
            out.setdefault(row["lead"], []).append(dict(row))
        return out

    # --- custody ----------------------------------------------------------------------------------

    def log_event(self, at: datetime, event: str, *, item_id: int | None = None, capture_id: int | None = None,
                  url: str | None = None, sha256: str | None = None, detail: str = "") -> None:
        """Append to the custody log (append-only: the database refuses updates and deletes)."""
        self.db.execute(
            """INSERT INTO custody (at, event, item_id, capture_id, url, sha256, detail, monitor_version)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            [utc_iso(at), event, item_id, capture_id, url, sha256, detail, __version__])

    def custody_events(self, item_ids: Iterable[int] | None = None) -> list[dict]:
        """The custody log, oldest first: every event, or those of these items and those of no item
        (exports, verifications, timestamps)."""
        if item_ids is None:
            return list(self.db.query("SELECT * FROM custody ORDER BY id"))
        ids = [int(i) for i in item_ids]
        marks, params = _marks("i", ids)
        return list(self.db.query(
            f"SELECT * FROM custody WHERE item_id IS NULL OR item_id IN ({marks}) ORDER BY id", params))

    # --- WARC files: seals and timestamps ----------------------------------------------------------

    def warc_files(self) -> list[dict]:
        """Every WARC file that holds a capture, with its seal and timestamp when it has them."""
        return list(self.db.query(
            """SELECT c.warc_file AS name, max(c.warc_offset + c.warc_length) AS end_offset, count(*) AS captures,
                      w.sha256, w.size, w.sealed_at, w.tsa_url, w.token_file, w.timestamped_at, w.timestamp_error
               FROM captures c LEFT JOIN warc_files w ON w.name = c.warc_file
               GROUP BY c.warc_file ORDER BY c.warc_file"""))

    def record_seal(self, name: str, sha256: str, size: int, at: datetime, *, tsa_url: str | None = None,
                    token_file: str | None = None, error: str | None = None) -> None:
        """A finished day's WARC file: its hash and size, and its RFC 3161 token (or why not)."""
        with self.transaction():
            self.db.execute(
                """INSERT INTO warc_files (name, sha256, size, sealed_at, tsa_url, token_file, timestamped_at,
                       timestamp_error) VALUES (:name, :sha, :size, :at, :tsa, :token, :stamped, :error)
                   ON CONFLICT(name) DO UPDATE SET tsa_url = :tsa, token_file = :token, timestamped_at = :stamped,
                       timestamp_error = :error""",
                {"name": name, "sha": sha256, "size": size, "at": utc_iso(at), "tsa": tsa_url, "token": token_file,
                 "stamped": utc_iso(at) if token_file else None, "error": redact(error)})
            if token_file:
                self.log_event(at, "timestamp", url=tsa_url, sha256=sha256,
                               detail=f"{name}: RFC 3161 token {token_file}")
            elif error:
                self.log_event(at, "timestamp_failed", url=tsa_url, sha256=sha256, detail=f"{name}: {redact(error)}")
