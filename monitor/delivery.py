"""The outbox at work: turn digests and alerts into batches, deliver them, retry what failed.

Exactly-once, as far as the other side allows: a batch's stories are claimed in the same
transaction that creates it, a part is marked sent only after the channel accepted it, and a
retry resends the same batch under the same delivery id. The one window left is a crash between
a channel's acceptance and our write: that part is sent again on restart (receivers may drop it
by its delivery id / Message-ID).

Several dispatchers may share one database (the service, `monitor digest --now`, a second
service): each claims a batch in the database before sending it (outbox.py: status 'sending',
an owner token, a lease), and only the owner sends it and writes it. The lease covers one part
(a part's send is abandoned at half the lease) and is renewed after each part; when the owner
dies, the batch is resumed where it stopped by the next dispatcher that finds the lease expired,
or at once when the owner was a process of this machine that no longer runs.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from monitor.config import AlertConfig, Config, DigestConfig
from monitor.clock import Clock, utc_now
from monitor.digest import DigestView, Renderer
from monitor.notify import Channel, DeliveryError, Message, make_channel
from monitor.store import Batch, Store

log = logging.getLogger(__name__)

RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(hours=1)
# How long a claim holds a batch without news from its owner: renewed after every part, and a
# part's send is abandoned (retried later) at half of it, so a live owner never outlasts its lease.
LEASE = timedelta(minutes=5)


def _node() -> str:
    """This machine and process namespace: process ids compare only within one."""
    node = socket.gethostname()
    try:
        namespace = os.readlink("/proc/self/ns/pid")  # "pid:[4026531836]"
    except OSError:
        return node
    return node + "~" + "".join(ch for ch in namespace if ch.isdigit())


def process_identity() -> str:
    """`pid@node`: the first part of every owner token this process writes."""
    return f"{os.getpid()}@{_node()}"


def _pid_running(pid: int) -> bool:
    if os.name != "posix":
        return True  # no cheap, safe check (os.kill would terminate it): trust the lease
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # EPERM: it runs, as another user
    try:  # a killed process its parent has not reaped yet is a zombie: gone all the same
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def owner_gone(owner: str | None) -> bool:
    """True only when the owner token names a process of this machine (and pid namespace), other
    than this one, that no longer runs. Unknown, remote or live owners: False (wait for the lease)."""
    if not owner:
        return False
    pid_text, _, rest = owner.partition("@")
    node = rest.split("/", 1)[0]
    if not pid_text.isdigit() or node != _node():
        return False
    pid = int(pid_text)
    return pid != os.getpid() and not _pid_running(pid)


@dataclass(frozen=True)
class DeliveryReport:
    batch_id: str
    digest: str
    channel: str
    stories: int
    delivered: bool
    error: str | None = None


class Dispatcher:
    def __init__(self, config: Config, store: Store, *, now: Clock = utc_now,
                 channels: dict[str, Channel] | None = None, retry_base: timedelta = RETRY_BASE,
                 retry_cap: timedelta = RETRY_CAP, lease: timedelta = LEASE,
                 is_gone: Callable[[str | None], bool] = owner_gone):
        self.config = config
        self.store = store
        self.now = now
        self.renderer = Renderer(config.settings.timezone)
        self.channels = channels if channels is not None else {
            name: make_channel(name, options, config.path.parent) for name, options in config.channels.items()}
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.lease = lease
        self.send_limit = lease / 2
        self.is_gone = is_gone  # is this claim's owner certainly dead? (tests stand in for another machine)
        self.owner = f"{process_identity()}/{uuid.uuid4().hex[:8]}"  # this dispatcher
        self._claims = itertools.count(1)

    # --- what goes into a batch -----------------------------------------------------------------

    def _sources_for(self, entry: DigestConfig | AlertConfig) -> list[str] | None:
        if entry.tags is None:
            return None
        wanted = set(entry.tags)
        return [s.name for s in self.config.sources if wanted & set(s.tags)]

    def _channels_for(self, entry: DigestConfig | AlertConfig) -> list[str]:
        return list(entry.channels) if entry.channels is not None else list(self.config.channels)

    def enqueue(self, entry: DigestConfig | AlertConfig, scheduled_for: datetime, *,
                item_ids: list[int] | None = None) -> list[Batch]:
        kind = "alert" if isinstance(entry, AlertConfig) else "digest"
        batches = []
        for channel in self._channels_for(entry):
            batch = self.store.create_batch(
                entry.name, channel, scheduled_for, self.now(), sources=self._sources_for(entry),
                topics=entry.topics, kind=kind, send_empty=getattr(entry, "send_empty", False), item_ids=item_ids)
            if batch is not None:
                batches.append(batch)
        return batches

    # --- rendering ------------------------------------------------------------------------------

    def view(self, name: str, item_ids: list[int], generated_at: datetime, channel: str | None = None) -> DigestView:
        configured = {s.name for s in self.config.sources}
        health = [h for h in self.store.source_health() if h.source in configured]
        stories = self.store.stories(item_ids, as_of=generated_at)
        zone = ZoneInfo(self.config.settings.timezone)
        # The period it covers starts where the last one to this channel ended (its heading says so).
        since = self.store.previous_batch_time(name, channel, generated_at) if channel else None
        return DigestView(name, generated_at.astimezone(zone), stories, health,
                          since=since.astimezone(zone) if since else None)

    def preview(self, entry: DigestConfig, channel: str | None = None) -> DigestView:
        """What the digest would hold if it ran now, for one channel; claims nothing."""
        channel = channel or self._channels_for(entry)[0]
        ids = self.store.unclaimed_item_ids(entry.name, channel, sources=self._sources_for(entry), topics=entry.topics)
        return self.view(entry.name, ids, self.now(), channel)

    def messages(self, batch: Batch, channel: Channel) -> list[Message]:
        # created_at, not now: a retry renders the same digest it first tried to send.
        view = replace(self.view(batch.digest, batch.item_ids, batch.created_at, batch.channel), kind=batch.kind)
        return self.renderer.messages(view, batch.id, channel.max_chars, channel.markup)

    # --- delivering -----------------------------------------------------------------------------

    def _claimable(self, channel: str | None) -> list[tuple[Batch, str | None]]:
        """(batch, owner whose live lease may be taken because its process is gone), oldest first."""
        now = self.now()
        found = [(batch, None) for batch in self.store.due_batches(now, channel)]
        found += [(batch, batch.owner) for batch in self.store.leased_batches(now, channel)
                  if self.is_gone(batch.owner)]
        return sorted(found, key=lambda pair: (pair[0].created_at, pair[0].id))

    async def flush(self, *, channel: str | None = None) -> list[DeliveryReport]:
        """Deliver every batch that is due, oldest first; batches another dispatcher is sending
        are left to it."""
        reports = []
        for batch, gone_owner in self._claimable(channel):
            report = await self.deliver(batch, gone_owner=gone_owner)
            if report is not None:
                reports.append(report)
        return reports

    async def deliver(self, batch: Batch, *, gone_owner: str | None = None) -> DeliveryReport | None:
        """Claim the batch, then send what its last owner had not; None when it could not be
        claimed (another dispatcher holds it, or it is not due or already delivered)."""
        token = f"{self.owner}#{next(self._claims)}"
        now = self.now()
        claimed = self.store.claim_batch(batch.id, token, now, now + self.lease, gone_owner=gone_owner)
        if claimed is None:
            log.debug("%s %r to %r: batch %s is not ours to send (another dispatcher has it)",
                      batch.kind, batch.digest, batch.channel, batch.id)
            return None
        if batch.status == "sending":
            log.info("%s %r to %r: resuming batch %s at part %d, left by %s (%s)", batch.kind, batch.digest,
                     batch.channel, batch.id, claimed.parts_sent + 1, batch.owner,
                     "its process is gone" if gone_owner else "its lease expired")
        try:
            return await self._send(claimed, token)
        except BaseException:
            # Cancelled (shutdown) or a bug outside the channel: give the batch back at once
            # rather than leave it to the lease; resent from the first unrecorded part.
            self.store.release_batch(claimed.id, token)
            raise

    async def _send(self, batch: Batch, token: str) -> DeliveryReport:
        unavailable = self.config.unavailable_channels.get(batch.channel)
        if unavailable is not None:  # a ${VAR} of the channel is not set: the batch waits for it
            return self._failed(batch, token, f"channel {batch.channel!r} cannot be used: {unavailable.message}")
        channel = self.channels.get(batch.channel)
        if channel is None:
            return self._failed(batch, token, f"channel {batch.channel!r} is no longer configured; "
                                              "the batch waits until it is back")
        messages = self.messages(batch, channel)
        for message in messages[batch.parts_sent:]:
            try:
                await asyncio.wait_for(channel.send(message), self.send_limit.total_seconds())
            except DeliveryError as exc:
                return self._failed(batch, token, str(exc))
            except TimeoutError:
                return self._failed(batch, token, f"channel {batch.channel!r}: no answer within "
                                                  f"{self.send_limit.total_seconds():.0f} s")
            except Exception as exc:  # a channel bug must not stop the other channels
                log.exception("channel %r: unexpected error", batch.channel)
                return self._failed(batch, token, f"internal error: {type(exc).__name__}: {exc}")
            if not self.store.record_part_sent(batch.id, token, message.part, self.now() + self.lease):
                return self._lost(batch)
        if not self.store.record_delivered(batch.id, token, self.now()):
            return self._lost(batch)
        log.info("delivered %s %r to %r: %d stories in %d message(s)", batch.kind, batch.digest, batch.channel,
                 len(batch.item_ids), len(messages))
        return DeliveryReport(batch.id, batch.digest, batch.channel, len(batch.item_ids), True)

    def _failed(self, batch: Batch, token: str, error: str) -> DeliveryReport:
        delay = min(self.retry_cap, self.retry_base * (2 ** min(batch.attempts, 16)))
        if not self.store.record_attempt_failed(batch.id, token, error, self.now() + delay):
            return self._lost(batch, error)
        log.warning("%s %r to %r not delivered (attempt %d), retrying in %ds: %s", batch.kind, batch.digest,
                    batch.channel, batch.attempts + 1, delay.total_seconds(), error)
        return DeliveryReport(batch.id, batch.digest, batch.channel, len(batch.item_ids), False, error)

    def _lost(self, batch: Batch, error: str | None = None) -> DeliveryReport:
        """Our lease ran out mid-send and another dispatcher took the batch over: it is theirs now."""
        log.warning("%s %r to %r: the lease on batch %s ran out while sending; another dispatcher took "
                    "it over and finishes it%s", batch.kind, batch.digest, batch.channel, batch.id,
                    f" (our attempt: {error})" if error else "")
        return DeliveryReport(batch.id, batch.digest, batch.channel, len(batch.item_ids), False,
                              error or "taken over by another dispatcher after the lease ran out")

    async def run_digest(self, entry: DigestConfig, scheduled_for: datetime) -> list[DeliveryReport]:
        self.enqueue(entry, scheduled_for)
        self.store.record_digest_time(entry.name, scheduled_for)
        return await self.flush()

    async def alert(self, item_ids: list[int]) -> list[DeliveryReport]:
        """Immediate messages for newly matched items (one batch per alert and channel)."""
        if not self.config.alerts or not item_ids:
            return []
        for entry in self.config.alerts:
            for item_id in item_ids:  # one message per story
                self.enqueue(entry, self.now(), item_ids=[item_id])
        return await self.flush()

    def enqueue_missed_alerts(self) -> list[Batch]:
        """A batch per alert, channel and matched story no batch of that alert has claimed yet:
        stories matched while the service was down, killed between storing a poll's items and
        alerting them (the poll's next run sees them as known and would never alert them), or
        stored by another process (`monitor poll`). Only stories matched since the alert was
        first seen: adding an alert to an existing database does not send one message per old
        story. Each batch claims its story in its own transaction, so a story alerted meanwhile
        by another path (the service's own poll) is not alerted twice."""
        batches: list[Batch] = []
        if not self.config.alerts:
            return batches
        now = self.now()
        for entry in self.config.alerts:
            since = self.store.last_digest_time(entry.name)  # alerts keep their start in digest_runs
            if since is None:
                self.store.record_digest_time(entry.name, now)
                continue
            sources = self._sources_for(entry)
            for channel in self._channels_for(entry):
                for item_id in self.store.unclaimed_item_ids(entry.name, channel, sources=sources,
                                                             topics=entry.topics, matched_since=since):
                    batch = self.store.create_batch(entry.name, channel, now, now, sources=sources,
                                                    topics=entry.topics, kind="alert", item_ids=[item_id])
                    if batch is not None:
                        batches.append(batch)
        return batches

    async def catch_up_alerts(self) -> list[DeliveryReport]:
        """At start: alert what enqueue_missed_alerts finds, and deliver everything due."""
        self.enqueue_missed_alerts()
        return await self.flush()

    async def aclose(self) -> None:
        for channel in self.channels.values():
            await channel.aclose()
