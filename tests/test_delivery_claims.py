"""A batch is sent by one dispatcher at a time: claimed in the database (status 'sending', owner,
lease) before it is sent, resumed by another when its owner dies. Two real `monitor digest --now`
processes against a real slow webhook, real SIGKILLs, and the service alerting what another
process stored."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path


from monitor.clock import utc_now
from monitor.dbfile import Database
from monitor.delivery import LEASE, Dispatcher, owner_gone, process_identity
from monitor.fetch import Fetcher
from monitor.migrations import MIGRATIONS
from monitor.notify import Channel, ChannelConfig, Message
from monitor.pipeline import Pipeline
from monitor.service import Service
from monitor.store import Store
from tests.conftest import FAST, FixedClock, fixture_bytes
from tests.support.digests import add_story, make_config
from tests.support.receiver import Receiver
from tests.support.server import Reply
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent
UTC = timezone.utc
T0 = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
HANG_GUARD = 60  # seconds: only ever a guard against a hang, never a measurement


def run(coro):
    return asyncio.run(coro)


def wait_for(condition, what: str, timeout: float = HANG_GUARD) -> None:
    wait_until(condition, what, timeout)


def digest_config(tmp_path, url: str, *, max_chars: int = 700):
    # timeout 20 s: far above the receiver's 3 s, so no send gives up and retries.
    return make_config(tmp_path, f"""
        channels:
          hook: {{type: webhook, url: "{url}", timeout: 20, max_chars: {max_chars}}}
        digests:
          - {{name: daily, channels: [hook]}}
    """)


def stored_stories(path, n: int = 6) -> list[str]:
    """n matched stories (two webhook parts at max_chars 700), written as a poll would; their URLs."""
    store = Store(path)
    try:
        urls = [f"https://ledger.example/s{i}" for i in range(n)]
        for i, url in enumerate(urls):
            add_story(store, "Ledger", f"Children deported from occupied Kherson, report s{i}", url=url,
                      at=utc_now() - timedelta(hours=1), published=T0 - timedelta(minutes=i))
        return urls
    finally:
        store.close()


def monitor(config, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config.path), *args],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def finish(process: subprocess.Popen) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=HANG_GUARD)
    return process.returncode, out, err


def urls_of(posts) -> list[str]:
    return [s["url"] for p in posts for s in p.json()["stories"]]


# --- two processes, one batch ----------------------------------------------------------------------

def test_two_digest_now_processes_against_a_slow_webhook_send_each_delivery_once(tmp_path):
    """The fault as reported: `monitor digest daily --now` twice, the second started while the
    first is in its slow POST (3 s each). Before claims, the second found the first's batch
    pending and POSTed the same delivery ids again."""
    with Receiver() as hook:
        config = digest_config(tmp_path, hook.url())
        urls = stored_stories(config.database_path)
        hook.delay = 3.0                      # a slow webhook: 3 s per POST
        second_has_run = threading.Event()
        # The first POST also waits until the second process has had its chance (it exited, or it
        # POSTed too), so the two overlap however slowly the second starts; later POSTs just take 3 s.
        hook.hold = lambda post: second_has_run.wait(HANG_GUARD)
        first = second = None
        try:
            first = monitor(config, "digest", "daily", "--now")
            wait_for(lambda: hook.all_posts() or first.poll() is not None, "the first process to POST")
            assert first.poll() is None, finish(first)
            second = monitor(config, "digest", "daily", "--now")  # the first is mid-send now
            wait_for(lambda: second.poll() is not None or len(hook.all_posts()) >= 2,
                     "the second process to finish or to POST")
        finally:
            second_has_run.set()
        first_code, first_out, first_err = finish(first)
        second_code, second_out, second_err = finish(second)
        posts = hook.all_posts()

    assert first_code == 0, first_err
    assert second_code == 0, second_err
    deliveries = [p.headers["x-monitor-delivery"] for p in posts]
    assert len(deliveries) >= 2, "the digest should span two parts at max_chars 700"
    assert len(deliveries) == len(set(deliveries)), f"delivery ids received more than once: {Counter(deliveries)}"
    assert [(p.json()["delivery_id"], p.json()["part"]) for p in posts] == \
        [(posts[0].json()["delivery_id"], n) for n in range(1, len(posts) + 1)]
    assert all(p.accepted for p in posts)
    assert sorted(urls_of(posts)) == sorted(urls)  # every story once
    assert "6 stories, delivered" in first_out
    assert "nothing new to send" in second_out
    store = Store(config.database_path)
    [batch] = store.batches()
    store.close()
    assert (batch.status, batch.owner, batch.lease_until) == ("delivered", None, None)
    assert deliveries == [f"{batch.id}-{n}" for n in range(1, len(posts) + 1)]


# --- an owner killed mid-send ----------------------------------------------------------------------

def kill_during_second_part(tmp_path, hook: Receiver):
    """Run `monitor digest daily --now` and SIGKILL it while its second part is in flight (the
    receiver holds that POST, then answers 500 to a dead socket). Returns (config, urls, pid)."""
    config = digest_config(tmp_path, hook.url())
    urls = stored_stories(config.database_path)
    hook.script = [200, 500]  # part 1 accepted; part 2, whose sender dies, is not
    in_flight, release = threading.Event(), threading.Event()

    def hold(post):
        if post.json()["part"] == 2 and not release.is_set():
            in_flight.set()
            release.wait(HANG_GUARD)

    hook.hold = hold
    owner = monitor(config, "digest", "daily", "--now")
    try:
        wait_for(lambda: in_flight.is_set() or owner.poll() is not None, "the second part to be in flight")
        assert owner.poll() is None, finish(owner)
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=HANG_GUARD)
    finally:
        release.set()
    assert owner.returncode == -signal.SIGKILL
    return config, urls, owner.pid


def assert_each_part_accepted_once(posts, urls):
    accepted = [p.headers["x-monitor-delivery"] for p in posts if p.accepted]
    parts = posts[0].json()["parts"]
    batch_id = posts[0].json()["delivery_id"]
    assert sorted(accepted) == sorted(f"{batch_id}-{n}" for n in range(1, parts + 1)), Counter(accepted)
    assert sorted(urls_of([p for p in posts if p.accepted])) == sorted(urls)


def test_a_batch_left_by_a_killed_owner_is_resumed_after_its_lease_and_each_part_delivered_once(tmp_path):
    with Receiver() as hook:
        config, urls, pid = kill_during_second_part(tmp_path, hook)
        store = Store(config.database_path)
        try:
            [batch] = store.batches()
            assert (batch.status, batch.parts_sent) == ("sending", 1)
            assert batch.owner.startswith(f"{pid}@")
            # Dispatchers that cannot tell whether the owner lives (as on another machine) wait for its lease.
            remote = {"is_gone": lambda owner: False}
            assert run(Dispatcher(config, store, **remote).flush()) == []
            just_before = batch.lease_until - timedelta(seconds=1)
            assert run(Dispatcher(config, store, now=lambda: just_before, **remote).flush()) == []
            assert len(hook.all_posts()) == 2  # nothing sent while the lease runs

            after_lease = lambda: utc_now() + LEASE + timedelta(seconds=1)  # noqa: E731
            [report] = run(Dispatcher(config, store, now=after_lease, **remote).flush())
            assert report.delivered and report.stories == len(urls)
            assert run(Dispatcher(config, store, now=after_lease, **remote).flush()) == []
            [batch] = store.batches()
        finally:
            store.close()
        posts = hook.all_posts()
    assert (batch.status, batch.owner) == ("delivered", None)
    assert [(p.json()["part"], p.status) for p in posts] == \
        [(1, 200), (2, 500)] + [(n, 200) for n in range(2, posts[0].json()["parts"] + 1)]  # resumed at part 2
    assert_each_part_accepted_once(posts, urls)


def test_a_batch_whose_owner_process_is_gone_is_resumed_at_once_on_the_same_machine(tmp_path):
    with Receiver() as hook:
        config, urls, pid = kill_during_second_part(tmp_path, hook)
        store = Store(config.database_path)
        try:
            [batch] = store.batches()
            assert batch.status == "sending" and batch.lease_until > utc_now()  # the lease still runs
            assert owner_gone(batch.owner)
            [report] = run(Dispatcher(config, store).flush())  # real clock, inside the lease
            assert report.delivered
            [batch] = store.batches()
        finally:
            store.close()
        posts = hook.all_posts()
    assert batch.status == "delivered"
    assert_each_part_accepted_once(posts, urls)


def test_an_owner_is_gone_only_when_it_was_a_process_of_this_machine_that_no_longer_runs():
    node = process_identity().split("@", 1)[1]
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        token = f"{other.pid}@{node}/abc#1"
        assert not owner_gone(token)                                   # alive
        other.kill()
        wait_for(lambda: owner_gone(token), "the killed process to count as gone")  # a zombie is gone too
        other.wait(timeout=HANG_GUARD)
        assert owner_gone(token)                                       # and once reaped
    finally:
        other.kill()
        other.wait(timeout=HANG_GUARD)
    assert not owner_gone(f"{process_identity()}/abc#1")               # this process
    assert not owner_gone(f"{other.pid}@elsewhere.example/abc#1")     # another machine: wait for the lease
    assert not owner_gone("garbage") and not owner_gone(None)


# --- claims and leases in one process --------------------------------------------------------------

class Recording(Channel):
    def __init__(self, name: str = "hook", max_chars: int | None = 700):
        super().__init__(name, ChannelConfig(type="rec", max_chars=max_chars), base_dir=Path("."))
        self.sent: list[Message] = []

    async def send(self, message: Message) -> None:
        self.sent.append(message)


class SlowAndWatched(Recording):
    """Each part takes `step` of (simulated) time; meanwhile a rival dispatcher tries to flush."""

    def __init__(self, clock: FixedClock, step: timedelta, rival: Dispatcher):
        super().__init__()
        self.clock, self.step, self.rival = clock, step, rival
        self.rival_reports: list = []

    async def send(self, message: Message) -> None:
        self.clock.when += self.step
        self.rival_reports.append(await self.rival.flush())
        await super().send(message)


def test_the_lease_is_renewed_between_parts_so_a_long_digest_is_not_taken_over(tmp_path):
    config = digest_config(tmp_path, "http://127.0.0.1:9/unused")
    stored_stories(config.database_path, 12)  # three parts or more at 700 characters
    clock = FixedClock(T0)
    rival_store = Store(config.database_path)  # another process's connection
    rival_channel = Recording()
    rival = Dispatcher(config, rival_store, now=clock, channels={"hook": rival_channel})
    owner_channel = SlowAndWatched(clock, LEASE * 0.6, rival)  # three parts: 1.8 leases in all
    store = Store(config.database_path)
    try:
        dispatcher = Dispatcher(config, store, now=clock, channels={"hook": owner_channel})
        dispatcher.enqueue(config.digests[0], T0)
        [report] = run(dispatcher.flush())
        [batch] = store.batches()
    finally:
        store.close()
        rival_store.close()
    assert report.delivered and len(owner_channel.sent) >= 3
    assert owner_channel.rival_reports == [[]] * len(owner_channel.sent) and rival_channel.sent == []
    assert batch.status == "delivered"


def test_a_claim_is_exclusive_and_an_owner_whose_lease_was_taken_over_writes_nothing(tmp_path):
    store = Store(tmp_path / "m.db")
    other = Store(tmp_path / "m.db")
    try:
        add_story(store, "Ledger", "Children deported", url="https://ledger.example/1", at=T0)
        batch = store.create_batch("daily", "hook", T0, T0)
        first = store.claim_batch(batch.id, "a", T0, T0 + LEASE)
        assert (first.status, first.owner, first.lease_until) == ("sending", "a", T0 + LEASE)
        assert other.claim_batch(batch.id, "b", T0 + LEASE - timedelta(seconds=1), T0 + 2 * LEASE) is None
        assert other.due_batches(T0 + LEASE - timedelta(seconds=1)) == []
        assert [b.id for b in other.due_batches(T0 + LEASE)] == [batch.id]
        taken = other.claim_batch(batch.id, "b", T0 + LEASE, T0 + 2 * LEASE)
        assert taken.owner == "b"
        # "a" comes back from a long pause: none of its writes land.
        assert not store.record_part_sent(batch.id, "a", 1, T0 + 3 * LEASE)
        assert not store.record_attempt_failed(batch.id, "a", "late", T0 + 3 * LEASE)
        assert not store.record_delivered(batch.id, "a", T0 + LEASE)
        assert not store.release_batch(batch.id, "a")
        now = other.batch(batch.id)
        assert (now.status, now.owner, now.parts_sent, now.attempts) == ("sending", "b", 0, 0)
        assert other.record_part_sent(batch.id, "b", 1, T0 + 2 * LEASE)
        assert other.record_delivered(batch.id, "b", T0 + LEASE)
        assert store.claim_batch(batch.id, "c", T0 + 9 * LEASE, T0 + 10 * LEASE) is None  # delivered stays so
        assert store.batch(batch.id).status == "delivered"
    finally:
        store.close()
        other.close()


def test_a_failed_attempt_releases_the_claim_until_its_retry_time(tmp_path):
    config = digest_config(tmp_path, "http://127.0.0.1:9/down")
    stored_stories(config.database_path, 1)
    store = Store(config.database_path)
    try:
        clock = FixedClock(T0)
        [report] = run(Dispatcher(config, store, now=clock).run_digest(config.digests[0], T0))
        assert not report.delivered
        [batch] = store.pending_batches()
        assert (batch.status, batch.owner, batch.lease_until, batch.attempts) == ("pending", None, None, 1)
        rival = Dispatcher(config, store, now=clock, channels={"hook": Recording()})
        assert run(rival.flush()) == []  # not due before its retry time, whoever asks
        clock.when = T0 + timedelta(seconds=30)
        [report] = run(rival.flush())
        assert report.delivered
    finally:
        store.close()


def test_a_send_that_hangs_is_abandoned_within_the_lease_and_retried(tmp_path):
    class Hanging(Recording):
        async def send(self, message: Message) -> None:
            await asyncio.Event().wait()

    config = digest_config(tmp_path, "http://127.0.0.1:9/unused")
    stored_stories(config.database_path, 1)
    store = Store(config.database_path)
    try:
        dispatcher = Dispatcher(config, store, now=FixedClock(T0), channels={"hook": Hanging()},
                                lease=timedelta(seconds=0.2))  # gives up a part after 0.1 s
        [report] = run(dispatcher.run_digest(config.digests[0], T0))
        [batch] = store.pending_batches()
    finally:
        store.close()
    assert not report.delivered and "no answer within" in report.error
    assert (batch.status, batch.owner, batch.attempts) == ("pending", None, 1)


def test_a_delivery_cancelled_at_shutdown_gives_its_claim_back(tmp_path):
    class Stuck(Recording):
        def __init__(self):
            super().__init__()
            self.entered = asyncio.Event()

        async def send(self, message: Message) -> None:
            self.entered.set()
            await asyncio.Event().wait()

    config = digest_config(tmp_path, "http://127.0.0.1:9/unused")
    stored_stories(config.database_path, 1)
    store = Store(config.database_path)
    try:
        stuck = Stuck()
        dispatcher = Dispatcher(config, store, now=FixedClock(T0), channels={"hook": stuck})
        dispatcher.enqueue(config.digests[0], T0)

        async def go():
            task = asyncio.create_task(dispatcher.flush())
            await asyncio.wait_for(stuck.entered.wait(), HANG_GUARD)
            assert store.batches()[0].status == "sending"
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        run(go())
        [batch] = store.pending_batches()
        assert (batch.status, batch.owner, batch.attempts) == ("pending", None, 0)
        recording = Recording()
        [report] = run(Dispatcher(config, store, now=FixedClock(T0), channels={"hook": recording}).flush())
    finally:
        store.close()
    assert report.delivered and len(recording.sent) == 1


def test_a_database_from_before_claims_is_migrated_and_its_pending_batch_sent(tmp_path):
    path = tmp_path / "old.db"
    db = Database(sqlite3.connect(path, isolation_level=None))
    for migration in MIGRATIONS[:5]:
        migration(db)
    db.execute("PRAGMA user_version = 5")
    db.execute("""INSERT INTO batches (id, digest, channel, kind, scheduled_for, created_at, next_attempt_at)
                  VALUES ('old', 'daily', 'hook', 'digest', ?, ?, ?)""", [T0.isoformat()] * 3)
    db.conn.commit()
    db.conn.close()
    config = digest_config(tmp_path, "http://127.0.0.1:9/unused")
    store = Store(path)
    try:
        assert store.schema_version == len(MIGRATIONS) >= 6
        [batch] = store.pending_batches()
        assert (batch.id, batch.status, batch.owner, batch.lease_until) == ("old", "pending", None, None)
        recording = Recording(max_chars=None)
        [report] = run(Dispatcher(config, store, now=FixedClock(T0), channels={"hook": recording}).flush())
    finally:
        store.close()
    assert report.delivered and len(recording.sent) == 1


# --- the service alerts what another process stored -----------------------------------------------

def alert_config(tmp_path, url: str, sources: str | None = None):
    return make_config(tmp_path, f"""
        channels:
          hook: {{type: webhook, url: "{url}", timeout: 20}}
        digests: []
        alerts:
          - {{name: instant, channels: [hook]}}
    """, sources=sources)


async def run_outbox_job(service: Service) -> None:
    """The scheduled outbox flush job, run once as the scheduler runs it."""
    service.schedule()
    service.scheduler.start(paused=True)
    try:
        job = service.scheduler.get_job("outbox")
        await job.func(*job.args)
    finally:
        service.scheduler.shutdown(wait=False)


def test_the_service_alerts_a_story_another_process_stored_at_its_next_outbox_flush(tmp_path):
    with Receiver() as hook:
        config = alert_config(tmp_path, hook.url())
        clock = FixedClock(T0)
        store = Store(config.database_path)
        try:
            def start() -> Service:
                return Service(config, Pipeline(fetcher=Fetcher(FAST, "t"), store=store, now=clock))

            service = start()
            run(service.catch_up())  # first start: remembers when the alert began
            clock.when = T0 + timedelta(minutes=5)
            poll = Store(config.database_path)  # `monitor poll`'s own connection
            try:
                add_story(poll, "Ledger", "Children deported from occupied Kherson, report x",
                          url="https://ledger.example/x", at=clock())
            finally:
                poll.close()
            assert hook.all_posts() == []
            clock.when = T0 + timedelta(minutes=5, seconds=30)
            run(run_outbox_job(service))
            run(run_outbox_job(start()))  # and never again
            [batch] = store.batches()
        finally:
            store.close()
        posts = hook.all_posts()
    assert [p.status for p in posts] == [200]
    assert urls_of(posts) == ["https://ledger.example/x"]
    assert (batch.kind, batch.digest, batch.status) == ("alert", "instant", "delivered")


def test_stories_stored_by_a_monitor_poll_process_are_alerted_by_the_running_service_once(tmp_path, server):
    server.route("/ledger.xml", Reply(body=fixture_bytes("site/ledger-rss2.xml"),
                                      headers={"Content-Type": "application/rss+xml"}))
    with Receiver() as hook:
        config = alert_config(tmp_path, hook.url(), sources=f"""
            sources:
              - {{name: Ledger, type: rss, url: "{server.url('/ledger.xml')}"}}
        """)
        store = Store(config.database_path)
        try:
            service = Service(config, Pipeline(fetcher=Fetcher(FAST, "t"), store=store, now=utc_now))
            run(service.catch_up())
            code, out, err = finish(monitor(config, "poll"))
            assert code == 0, err
            matched = {row["id"] for row in store.db.query("SELECT item_id AS id FROM matches")}
            assert len(matched) == 2 and hook.all_posts() == []
            run(run_outbox_job(service))
            run(run_outbox_job(service))
        finally:
            store.close()
        posts = hook.all_posts()
    assert len(posts) == 2 and all(p.accepted for p in posts)
    assert sorted(urls_of(posts)) == ["https://ledger.example/2026/11/deported-kherson-12",
                                      "https://ledger.example/2026/11/five-returned"]
