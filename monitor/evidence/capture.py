"""Evidence: each matched item's page captured as WARC records, retried until it is, rechecked on a
schedule, and each finished day's WARC file sealed (hashed) and, optionally, timestamped.

The capture step runs after a poll has stored its items (monitor/pipeline.py calls it with the
poll's matched item ids). A page the article stage read is captured as it was received then (the
pipeline keeps a poll's pages until the match is known, then only the matched ones); any other
page is fetched through the one Fetcher: the guard, robots.txt and the limits apply as to any
article. An item matched on feed text alone is captured that way, and a Telegram post by its
t.me/s/CHANNEL/ID page.

Nothing here raises into the poll: a capture that fails (a full disk, a timeout) leaves the item
stored and its evidence 'pending', with the reason, to be tried again (by the next poll of its
source, the service's evidence job or `monitor evidence recheck`); a failure that will not get
better (404, a blocked address, robots.txt) is 'failed' with its reason. Both are in the custody
log and the exports.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import re
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from monitor.clock import Clock, utc_iso, utc_now
from monitor.dbfile import StoreError
from monitor.evidence import recheck as judge
from monitor.options.evidence import EvidenceSettings
from monitor.captures import Target
from monitor.evidence.warc import Exchange, Records, append, daily_name, exchange_records
from monitor.fetch import Fetcher, FetchError, Response
from monitor.guard import BlockedURL, guard_for
from monitor.sources import SourceConfig
from monitor.store import Store

log = logging.getLogger(__name__)

# What a store raises when the database refuses a write: SQLite's errors, and PostgresStore's
# (StoreErrors) on PostgreSQL.
DATABASE_ERRORS = (sqlite3.Error, StoreError)

BATCH = 16                   # pages held in memory at once (each up to max_body_mb)
LOGGED_FAILURES = 5          # failed captures logged one by one in a run; the rest are counted
APPEND_BYTES = 16 << 20      # compressed records appended (and fsynced) at a time
MAX_RETRY = timedelta(hours=6)
SEAL_AFTER = timedelta(minutes=10)   # past midnight (UTC), a day's file is finished
_TELEGRAM_POST = re.compile(r"^/(?:s/)?([A-Za-z0-9_]{4,64})/(\d+)/?$")
_TELEGRAM_HOSTS = {"t.me", "www.t.me", "telegram.me", "www.telegram.me"}


def capture_url(url: str) -> str:
    """The page to capture for an item link: a Telegram post's web preview (t.me/s/CHANNEL/ID,
    which shows the post without a login) for t.me links, else the link itself."""
    parts = urlsplit(url)
    match = _TELEGRAM_POST.match(parts.path)
    if (parts.hostname or "").lower() in _TELEGRAM_HOSTS and match:
        return urlunsplit(("https", "t.me", f"/s/{match.group(1)}/{match.group(2)}", "", ""))
    return url


@dataclass
class Report:
    """What one run of captures and rechecks did (for the command and the log)."""

    captured: int = 0
    failed: list[tuple[int, str, str]] = field(default_factory=list)   # (item id, url, reason)
    checked: dict[str, int] = field(default_factory=dict)              # outcome → count
    gone: list[tuple[int, str]] = field(default_factory=list)
    sealed: list[str] = field(default_factory=list)
    timestamped: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, other: Report) -> Report:
        self.captured += other.captured
        self.failed += other.failed
        for outcome, count in other.checked.items():
            self.checked[outcome] = self.checked.get(outcome, 0) + count
        self.gone += other.gone
        self.sealed += other.sealed
        self.timestamped += other.timestamped
        self.problems += other.problems
        return self


class Evidence:
    """The capture step of every poll, and the jobs that keep evidence: retries, rechecks, seals."""

    def __init__(self, settings: EvidenceSettings, folder: Path, store: Store, fetcher: Fetcher, *,
                 sources: Mapping[str, SourceConfig] | None = None, now: Clock = utc_now):
        self.settings = settings
        self.folder = folder
        self.store = store
        self.fetcher = fetcher
        self.sources = dict(sources or {})
        self.now = now

    # --- the poll's step ------------------------------------------------------------------------

    async def __call__(self, source: SourceConfig, item_ids: Sequence[int],
                       pages: Mapping[int, tuple[Response, datetime]] | None = None) -> None:
        """After a poll stored its items: capture its matched items, and retry its source's
        captures that are due. `pages` holds the pages the article stage read, by item id, with
        when each arrived: those are captured as they were received, not fetched again. Never
        raises (but for cancellation). A poll that matched nothing costs nothing here: the
        service's evidence job retries what is due."""
        if not item_ids:
            return
        try:
            due = self.store.pending_captures(self.now(), source=source.name, unclaimed=False)
            ids = list(dict.fromkeys([*item_ids, *due]))
            if ids:
                await self.capture(ids, pages=pages)
        except asyncio.CancelledError:
            raise
        except Exception:  # evidence must never cost a poll its result
            log.exception("source %r: evidence capture failed unexpectedly; it is retried later", source.name)

    # --- captures -------------------------------------------------------------------------------

    async def capture(self, item_ids: Sequence[int], *, force: bool = False,
                      pages: Mapping[int, tuple[Response, datetime]] | None = None) -> Report:
        """Capture these items (those not claimed by another process meanwhile); an item in
        `pages` from the page read then."""
        report = Report()
        try:
            claimed = self.store.claim_captures(item_ids, self.now(), force=force)
            targets = self.store.targets(claimed)
        except DATABASE_ERRORS as exc:
            log.error("evidence: cannot claim %d capture(s) in the database (%s); they are retried later",
                      len(item_ids), exc)
            report.problems.append(f"cannot claim captures: {exc}")
            return report
        ready: list[tuple[Target, Exchange, Records]] = []
        failed: list[tuple[Target, str, bool]] = []  # (target, reason, transient)
        slots = asyncio.Semaphore(BATCH)

        async def fetch(target: Target) -> None:
            async with slots:  # at most BATCH bodies in memory; each kept only as its gzip'd records
                url = capture_url(target.url)
                kept = (pages or {}).get(target.item_id)
                if kept is not None and url == target.url:
                    response, at = kept
                    result = Exchange(url, response.url, response.status, response.headers.raw, response.body,
                                      self.fetcher.user_agent, at)
                else:
                    result = await self._fetch(target.source, url)
                if isinstance(result, FetchError):
                    failed.append((target, str(result), result.transient and not isinstance(result, BlockedURL)))
                    return
                ready.append((target, dataclasses.replace(result, body=b""), self._records(target, result, "match")))

        await asyncio.gather(*(fetch(target) for target in targets))
        self._failed(failed, report)
        ready.sort(key=lambda entry: entry[0].item_id)
        chunk: list[tuple[Target, Exchange, Records]] = []
        for position, entry in enumerate(ready):
            chunk.append(entry)
            if position == len(ready) - 1 or sum(len(r.data) for _, _, r in chunk) >= APPEND_BYTES:
                self._store_captures(chunk, report)
                chunk = []
        if report.captured:
            log.info("evidence: %d page(s) captured into %s", report.captured,
                     self.folder / daily_name(self.now()))
        return report

    async def retry_pending(self, *, force: bool = False, limit: int = 500) -> Report:
        """Captures that are due again (every pending one with `force`)."""
        ids = self.store.pending_captures(None if force else self.now(), limit=limit)
        return await self.capture(ids, force=force) if ids else Report()

    def _store_captures(self, ready: list[tuple[Target, Exchange, Records]], report: Report) -> None:
        """Append the records to today's WARC file (one write, one fsync), then record each capture."""
        try:
            stored = self._append([records for _, _, records in ready])
        except OSError as exc:
            reason = f"cannot write to {self.folder / daily_name(self.now())}: {exc.strerror or exc}"
            self._failed([(target, reason, True) for target, _, _ in ready], report)
            return
        for (target, exchange, records), (file, offset) in zip(ready, stored):
            try:
                self.store.record_capture(self._row(target, exchange, records, file, offset, "match"), self.now(),
                                          self.settings.recheck, first=True)
                report.captured += 1
            except DATABASE_ERRORS as exc:
                log.error("evidence: item %d was captured into %s but the database refused the record (%s); "
                          "it is captured again later", target.item_id, file, exc)
                report.problems.append(f"item {target.item_id}: not recorded: {exc}")

    def _failed(self, failed: list[tuple[Target, str, bool]], report: Report) -> None:
        """Record failed captures (target, reason, transient): retried later when transient, else
        failed for good. One transaction for them all, and the first few logged: a source whose
        links are all refused fails hundreds at once, and each has its row in the event log."""
        if not failed:
            return
        now = self.now()
        try:
            with self.store.transaction():
                for position, (target, reason, transient) in enumerate(failed):
                    report.failed.append((target.item_id, target.url, reason))
                    retry_at = None
                    if transient:
                        state = self.store.evidence_state(target.item_id)
                        attempts = state.attempts if state is not None else 0
                        retry_at = now + min(self.settings.retry * (2 ** min(attempts, 16)), MAX_RETRY)
                    if position < LOGGED_FAILURES:
                        log.warning("evidence: capture of %s (item %d) failed: %s; %s", target.url, target.item_id,
                                    reason, f"retried after {utc_iso(retry_at)}" if retry_at else "not retried")
                    self.store.record_capture_failed(target.item_id, target.url, now, reason, retry_at)
        except DATABASE_ERRORS as exc:  # the claims' lease runs out and the items are tried again
            log.error("evidence: cannot record that %d capture(s) failed either: %s", len(failed), exc)
            return
        if len(failed) > LOGGED_FAILURES:
            log.warning("evidence: %d more capture(s) failed; each is recorded with its reason in the evidence log",
                        len(failed) - LOGGED_FAILURES)

    async def _fetch(self, source_name: str, url: str) -> Exchange | FetchError:
        source = self.sources.get(source_name)
        guard = guard_for(source.allow_private if source is not None else False)
        try:
            response = await self.fetcher.get(url, respect_robots=source.respect_robots if source else None,
                                              guard=guard)
        except FetchError as exc:
            return exc
        return Exchange(url, response.url, response.status, response.headers.raw, response.body,
                        self.fetcher.user_agent, self.now())

    def _records(self, target: Target, exchange: Exchange, reason: str) -> Records:
        return exchange_records(exchange, {"Monitor-Item-Id": str(target.item_id), "Monitor-Source": target.source,
                                           "Monitor-Capture-Reason": reason})

    def _append(self, records: list[Records]) -> list[tuple[str, int]]:
        name = daily_name(self.now())
        done = append(self.folder, name, [r.data for r in records])
        return [(done.file, offset) for offset in done.offsets]

    def _row(self, target: Target, exchange: Exchange, records: Records, file: str, offset: int, reason: str) -> dict:
        return {"item_id": target.item_id, "reason": reason, "requested_url": exchange.requested_url,
                "url": exchange.url, "captured_at": records.warc_date.replace("Z", "+00:00"),
                "http_status": exchange.status, "sha256": records.payload_sha256, "warc_file": file,
                "warc_record_id": records.record_id, "warc_offset": offset, "warc_length": len(records.data),
                "record_sha256": records.sha256}

    # --- rechecks -------------------------------------------------------------------------------

    async def recheck(self, *, every: bool = False) -> Report:
        """The rechecks that are due (every captured page with `every`)."""
        ids = self.store.due_rechecks(None if every else self.now())
        report = Report()
        targets = self.store.targets(ids)
        for start in range(0, len(targets), BATCH):
            report.add(await self._recheck_batch(targets[start:start + BATCH]))
        return report

    async def _recheck_batch(self, targets: list[Target]) -> Report:
        report = Report()
        latest = {t.item_id: self.store.latest_capture(t.item_id) for t in targets}
        fetched = await asyncio.gather(*(self._fetch(t.source, capture_url(t.url)) for t in targets))
        outcomes: list[tuple[Target, str, str, Exchange | None]] = []
        for target, result in zip(targets, fetched):
            if isinstance(result, FetchError):
                if result.status in judge.GONE_STATUSES:
                    outcomes.append((target, "gone", f"HTTP {result.status}", None))
                else:
                    outcomes.append((target, "unreachable", str(result), None))
                continue
            before = latest[target.item_id]
            if before is not None and _sha256(result.body) == before.sha256:
                outcomes.append((target, "live", "same payload", result))
            elif judge.still_there(target.text, result.body, _content_type(result)):
                outcomes.append((target, "changed", "another payload; the article's text is still there", result))
            else:
                outcomes.append((target, "gone", "the article's text is no longer on the page", result))
        to_store = [(t, ex, self._records(t, ex, "changed" if outcome == "changed" else "recheck"))
                    for t, outcome, _, ex in outcomes if ex is not None and outcome in ("changed", "gone")]
        stored: dict[int, tuple[str, int]] = {}
        if to_store:
            try:
                places = self._append([records for _, _, records in to_store])
                stored = {t.item_id: place for (t, _, _), place in zip(to_store, places)}
            except OSError as exc:
                report.problems.append(f"cannot store the pages rechecks found changed: {exc}")
                log.error("evidence: cannot write the pages rechecks found changed or gone to %s: %s",
                          self.folder, exc)
        records_of = {t.item_id: records for t, _, records in to_store}
        now = self.now()
        for target, outcome, detail, exchange in outcomes:
            new_row = None
            if target.item_id in stored:
                file, offset = stored[target.item_id]
                reason = "changed" if outcome == "changed" else "recheck"
                new_row = self._row(target, exchange, records_of[target.item_id], file, offset, reason)
            elif outcome == "changed":  # the new page could not be stored: not a finding yet
                outcome, detail = "unreachable", "the changed page could not be stored"
            sha = _sha256(exchange.body) if exchange is not None else None
            try:
                self.store.record_recheck(target.item_id, now, outcome, url=exchange.url if exchange else target.url,
                                          sha256=sha, detail=detail, latest=latest[target.item_id],
                                          recheck=self.settings.recheck, new_capture=new_row,
                                          retry_at=now + min(self.settings.retry * 12, MAX_RETRY))
            except DATABASE_ERRORS as exc:
                report.problems.append(f"item {target.item_id}: recheck not recorded: {exc}")
                continue
            report.checked[outcome] = report.checked.get(outcome, 0) + 1
            if outcome == "gone":
                report.gone.append((target.item_id, target.url))
                log.warning("evidence: %s (item %d) is gone: %s", target.url, target.item_id, detail)
        return report

    # --- seals and timestamps -------------------------------------------------------------------

    async def seal(self) -> Report:
        """Hash each WARC file whose day is over (and timestamp it, with settings.evidence.timestamp_url);
        retry timestamps that failed."""
        from monitor.evidence import timestamp as rfc3161  # asn1crypto: only when sealing

        report = Report()
        now = self.now()
        today = daily_name(now - SEAL_AFTER)
        for row in self.store.warc_files():
            name = row["name"]
            if name >= today and row["sha256"] is None:
                continue  # still being written
            path = self.folder / name
            if row["sha256"] is None:
                try:
                    digest, size = rfc3161.file_sha256(path)
                except OSError as exc:
                    report.problems.append(f"{path}: cannot be read to seal it: {exc}")
                    continue
                sha = digest.hex()
                report.sealed.append(name)
            elif self.settings.timestamp_url and row["token_file"] is None:
                sha, size = row["sha256"], row["size"]
                digest = bytes.fromhex(sha)
            else:
                continue
            token_file, error = None, None
            if self.settings.timestamp_url:
                try:
                    token = await rfc3161.timestamp(self.settings.timestamp_url, digest)
                    token_path = path.with_name(name + ".tsr")
                    token_path.write_bytes(token.reply)
                    token_file = token_path.name
                    report.timestamped.append(name)
                except (rfc3161.TimestampError, OSError) as exc:
                    error = str(exc)
                    report.problems.append(f"{name}: not timestamped: {error}")
                    log.warning("evidence: %s not timestamped (tried again later): %s", name, error)
            try:
                self.store.record_seal(name, sha, size, now, tsa_url=self.settings.timestamp_url,
                                       token_file=token_file, error=error)
            except DATABASE_ERRORS as exc:
                report.problems.append(f"{name}: seal not recorded: {exc}")
        return report

    # --- the service's job ----------------------------------------------------------------------

    async def maintain(self) -> Report:
        """The service's evidence job: due captures again, due rechecks, seals and timestamps."""
        report = Report()
        for step in (self.retry_pending, self.recheck, self.seal):
            try:
                report.add(await step())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("evidence: %s failed unexpectedly", step.__name__)
                report.problems.append(f"{step.__name__}: {type(exc).__name__}: {exc}")
        return report


def _sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _content_type(exchange: Exchange) -> str:
    for name, value in exchange.headers:
        if name.lower() == b"content-type":
            return value.decode("latin-1")
    return ""
