"""The outbox at work: turn digests and alerts into batches, deliver them, retry what failed.

Exactly-once, as far as the other side allows: a batch's stories are claimed in the same
transaction that creates it, a part is marked sent only after the channel accepted it, and a
retry resends the same batch under the same delivery id. The one window left is a crash between
a channel's acceptance and our write: that part is sent again on restart (receivers may drop it
by its delivery id / Message-ID).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
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
                 retry_cap: timedelta = RETRY_CAP):
        self.config = config
        self.store = store
        self.now = now
        self.renderer = Renderer(config.settings.timezone)
        self.channels = channels if channels is not None else {
            name: make_channel(name, options, config.path.parent) for name, options in config.channels.items()}
        self.retry_base = retry_base
        self.retry_cap = retry_cap

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

    def view(self, name: str, item_ids: list[int], generated_at: datetime) -> DigestView:
        configured = {s.name for s in self.config.sources}
        health = [h for h in self.store.source_health() if h.source in configured]
        stories = self.store.stories(item_ids, as_of=generated_at)
        return DigestView(name, generated_at.astimezone(ZoneInfo(self.config.settings.timezone)), stories, health)

    def preview(self, entry: DigestConfig, channel: str | None = None) -> DigestView:
        """What the digest would hold if it ran now, for one channel; claims nothing."""
        channel = channel or self._channels_for(entry)[0]
        ids = self.store.unclaimed_item_ids(entry.name, channel, sources=self._sources_for(entry), topics=entry.topics)
        return self.view(entry.name, ids, self.now())

    def messages(self, batch: Batch, channel: Channel) -> list[Message]:
        # created_at, not now: a retry renders the same digest it first tried to send.
        view = self.view(batch.digest, batch.item_ids, batch.created_at)
        return self.renderer.messages(view, batch.id, channel.max_chars, channel.markup)

    # --- delivering -----------------------------------------------------------------------------

    async def flush(self, *, channel: str | None = None) -> list[DeliveryReport]:
        """Deliver every batch that is due, oldest first."""
        return [await self.deliver(batch) for batch in self.store.due_batches(self.now(), channel)]

    async def deliver(self, batch: Batch) -> DeliveryReport:
        channel = self.channels.get(batch.channel)
        if channel is None:
            return self._failed(batch, f"channel {batch.channel!r} is no longer configured; "
                                       "the batch waits until it is back")
        messages = self.messages(batch, channel)
        for message in messages[batch.parts_sent:]:
            try:
                await channel.send(message)
            except DeliveryError as exc:
                return self._failed(batch, str(exc))
            except Exception as exc:  # a channel bug must not stop the other channels
                log.exception("channel %r: unexpected error", batch.channel)
                return self._failed(batch, f"internal error: {type(exc).__name__}: {exc}")
            self.store.record_part_sent(batch.id, message.part)
        self.store.record_delivered(batch.id, self.now())
        log.info("delivered %s %r to %r: %d stories in %d message(s)", batch.kind, batch.digest, batch.channel,
                 len(batch.item_ids), len(messages))
        return DeliveryReport(batch.id, batch.digest, batch.channel, len(batch.item_ids), True)

    def _failed(self, batch: Batch, error: str) -> DeliveryReport:
        delay = min(self.retry_cap, self.retry_base * (2 ** min(batch.attempts, 16)))
        self.store.record_attempt_failed(batch.id, error, self.now() + delay)
        log.warning("%s %r to %r not delivered (attempt %d), retrying in %ds: %s", batch.kind, batch.digest,
                    batch.channel, batch.attempts + 1, delay.total_seconds(), error)
        return DeliveryReport(batch.id, batch.digest, batch.channel, len(batch.item_ids), False, error)

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

    async def catch_up_alerts(self) -> list[DeliveryReport]:
        """At start: alert the stories matched while the service was down or killed between
        storing a poll's items and alerting them (the poll's next run sees them as known and
        would never alert them). Only stories matched since the alert was first seen: adding an
        alert to an existing database does not send one message per old story."""
        if not self.config.alerts:
            return []
        now = self.now()
        for entry in self.config.alerts:
            since = self.store.last_digest_time(entry.name)  # alerts keep their start in digest_runs
            if since is None:
                self.store.record_digest_time(entry.name, now)
                continue
            for channel in self._channels_for(entry):
                for item_id in self.store.unclaimed_item_ids(entry.name, channel, sources=self._sources_for(entry),
                                                             topics=entry.topics, matched_since=since):
                    self.store.create_batch(entry.name, channel, now, now, sources=self._sources_for(entry),
                                            topics=entry.topics, kind="alert", item_ids=[item_id])
        return await self.flush()

    async def aclose(self) -> None:
        for channel in self.channels.values():
            await channel.aclose()
