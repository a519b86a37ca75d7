"""Digest schedules: the digest whose time passed while the service was down is sent at start
(Service.catch_up with an injected clock), once, and only then."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import apscheduler.executors.base
import apscheduler.schedulers.base
import pytest

from monitor.config import ConfigError, check_crontab, cron_trigger
from monitor.fetch import Fetcher
from monitor.pipeline import Pipeline
from monitor.service import Service, missed_digest_time
from tests.conftest import FAST, FixedClock
from tests.support.digests import add_story, make_config

KYIV = ZoneInfo("Europe/Kyiv")
UTC = timezone.utc


def kyiv(*args) -> datetime:
    return datetime(*args, tzinfo=KYIV)


def daily(schedule: str = "0 8 * * *"):
    return cron_trigger(schedule, "Europe/Kyiv")


# --- missed_digest_time --------------------------------------------------------------------------

def test_missed_time_is_the_last_scheduled_time_that_passed():
    last = kyiv(2026, 11, 24, 8, 0)
    assert missed_digest_time(daily(), last, kyiv(2026, 11, 25, 9, 30)) == kyiv(2026, 11, 25, 8, 0)
    assert missed_digest_time(daily(), last, kyiv(2026, 11, 25, 7, 59)) is None
    assert missed_digest_time(daily(), last, kyiv(2026, 11, 25, 8, 0)) == kyiv(2026, 11, 25, 8, 0)
    assert missed_digest_time(daily(), last, kyiv(2026, 11, 28, 9, 30)) == kyiv(2026, 11, 28, 8, 0)  # several: the last
    assert missed_digest_time(daily(), None, kyiv(2026, 11, 25, 9, 30)) is None
    # the stored time is UTC: the same instant
    assert missed_digest_time(daily(), last.astimezone(UTC), kyiv(2026, 11, 25, 9, 30).astimezone(UTC)) == \
        kyiv(2026, 11, 25, 8, 0)


def test_missed_time_across_the_autumn_clock_change():
    # Kyiv leaves summer time on 25 Oct 2026: 08:00 is 05:00 UTC before, 06:00 UTC after.
    missed = missed_digest_time(daily(), kyiv(2026, 10, 24, 8, 0), kyiv(2026, 10, 25, 9, 30))
    assert missed == kyiv(2026, 10, 25, 8, 0) and missed.astimezone(UTC).hour == 6


def test_missed_time_for_a_weekly_and_an_every_minute_schedule():
    monday = daily("0 9 * * 1")
    assert missed_digest_time(monday, kyiv(2026, 11, 16, 9, 0), kyiv(2026, 11, 25, 9, 30)) == kyiv(2026, 11, 23, 9, 0)
    assert missed_digest_time(monday, kyiv(2026, 11, 23, 9, 0), kyiv(2026, 11, 25, 9, 30)) is None
    minute = daily("* * * * *")
    assert missed_digest_time(minute, kyiv(2026, 11, 25, 9, 0), kyiv(2026, 11, 25, 9, 30, 30)) == kyiv(2026, 11, 25, 9, 30)


def fires(schedule: str, days: int = 7) -> list[str]:
    """Weekday names of the times `schedule` fires in the week from Monday 23 Nov 2026."""
    trigger, moment, names = daily(schedule), kyiv(2026, 11, 23, 0, 0), []
    end = moment + timedelta(days=days)
    moment = trigger.get_next_fire_time(None, moment)
    while moment < end:
        names.append(moment.strftime("%a %H:%M"))
        moment = trigger.get_next_fire_time(moment, moment + timedelta(seconds=1))
    return names


def test_cron_weekdays_count_from_sunday_as_in_crontab():
    # APScheduler 3 reads 0 as Monday; a sources.yaml schedule is a crontab line, where 0 is Sunday.
    assert fires("0 9 * * 1") == ["Mon 09:00"]
    assert fires("0 9 * * 0") == fires("0 9 * * 7") == fires("0 9 * * sun") == ["Sun 09:00"]
    assert fires("30 7 * * 1-5") == [f"{d} 07:30" for d in ("Mon", "Tue", "Wed", "Thu", "Fri")]
    assert fires("0 9 * * 0-6") == fires("0 9 * * *") == [f"{d} 09:00" for d in
                                                          ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")]
    assert fires("0 9 * * */2") == ["Tue 09:00", "Thu 09:00", "Sat 09:00", "Sun 09:00"]  # sun, tue, thu, sat
    assert fires("0 9 * * 5,6,0") == ["Fri 09:00", "Sat 09:00", "Sun 09:00"]
    assert fires("0 9 * * mon-fri") == fires("0 9 * * 1-5")


def test_bad_cron_weekdays_are_config_errors(tmp_path):
    for schedule in ("0 9 * * 8", "0 9 * * 5-2", "0 9 * *", "0 9 * * 1#2"):
        with pytest.raises(ConfigError, match="not a valid cron schedule"):
            make_config(tmp_path, f'digests:\n  - {{name: d, schedule: "{schedule}"}}\n')


_CRON_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]
# What APScheduler takes and crontab does not: a name with more after it ("last-last" too), a
# step after names.
_LAX = ["jan5", "mar-apr/2", "lastday"]


def _cron_field(draw: random.Random, field: int) -> tuple[str, bool]:
    """One field of a crontab line, and whether it keeps to crontab's syntax: mostly what the
    field takes, and numbers out of its range, ranges the wrong way round, steps of 0 or too
    large, wrong names, junk and APScheduler's laxer readings."""
    low, high = _CRON_RANGES[field]
    names = {2: ["last", "LAST"], 3: ["jan", "Mar", "dec", "foo"], 4: ["mon", "FRI", "sun", "sat", "xyz"]}.get(
        field, ["abc"])

    def number() -> str:
        return str(draw.randint(low, high) if draw.random() < 0.85 else draw.choice([0, 24, 32, 60, 99]))

    def fitting() -> str:  # what the field takes, or nearly (a step may still be too large)
        a, b = sorted(draw.randint(low, high) for _ in range(2))
        return draw.choice(["*", f"*/{draw.randint(1, 12)}", str(a), f"{a}-{b}", f"{a}-{b}/{draw.randint(1, 9)}",
                            draw.choice(names[:3])])

    def anything() -> str:
        kind = draw.choice("**nnnrrsSmMj")
        if kind == "*":
            return "*" if draw.random() < 0.6 else f"*/{draw.randint(0, 40)}"
        if kind == "n":
            return number()
        if kind == "r":
            return f"{number()}-{number()}"
        if kind == "s":
            return f"{number()}-{number()}/{draw.randint(0, 30)}"
        if kind == "S":
            return f"{number()}/{draw.randint(0, 30)}"
        if kind == "m":
            return draw.choice(names)
        if kind == "M":
            return f"{draw.choice(names)}-{draw.choice(names)}"
        return draw.choice(["", "-", "*-5", "1-", "x1", "1/x", "5-2-1", "1#2", *_LAX])

    items = [fitting() if draw.random() < 0.85 else anything() for _ in range(draw.choice([1, 1, 1, 2, 3]))]
    lax = [item for item in items if item in _LAX or (item.lower().startswith("last") and item.lower() != "last")]
    return ",".join(items), not lax


def test_the_schedule_check_agrees_with_apscheduler():
    # `monitor check` reads schedules with check_crontab (no APScheduler import); the service
    # builds them with cron_trigger. What the check accepts, the service runs; on crontab's own
    # syntax the two agree line for line.
    draw = random.Random(20261202)
    lines = [("0 8 * * *", True), ("*/15 6-22 * * 1-5", True), ("0 8 1 jan-mar mon", True), ("0 9 last * *", True),
             ("0 8 * *", True), ("0 8 * * * *", True), ("", True)]
    for _ in range(20_000):
        fields = [_cron_field(draw, field) for field in range(5)]
        lines.append((" ".join(text for text, _ in fields), all(standard for _, standard in fields)))
    accepted, disagree = 0, []
    for line, standard in lines:
        ours, theirs = _accepted(check_crontab, line), _accepted(lambda text: cron_trigger(text, "Europe/Kyiv"), line)
        accepted += ours
        if (ours and not theirs) or (standard and ours != theirs):
            disagree.append((line, ours, theirs))
    assert not disagree, disagree[:10]
    assert 2000 < accepted < len(lines) - 2000  # the draw holds both kinds


def _accepted(read, line: str) -> bool:
    try:
        read(line)
    except (ValueError, KeyError, IndexError):
        return False
    return True


def test_reading_a_schedule_does_not_load_apscheduler():
    done = subprocess.run([sys.executable, "-c", "import sys\nfrom monitor.config import check_crontab\n"
                           "check_crontab('*/15 6-22 * jan-mar mon-fri')\nprint('apscheduler' in sys.modules)"],
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr


# --- Service.catch_up ----------------------------------------------------------------------------

@pytest.fixture
def setup(tmp_path, store):
    def make(now: datetime, body: str = "", clock: FixedClock | None = None):
        config = make_config(tmp_path, body or """
            channels:
              files: {type: file, path: out}
            digests:
              - {name: morning, schedule: "0 8 * * *"}
        """)
        clock = clock or FixedClock(now.astimezone(UTC))
        service = Service(config, Pipeline(fetcher=Fetcher(FAST, "t"), store=store, now=clock))
        return config, clock, service
    return make


def digests_written(tmp_path) -> list[dict]:
    return [json.loads(p.read_text("utf-8")) for p in sorted((tmp_path / "out").glob("*.json"))]


def stories_overnight(store, n: int = 2):
    return [add_story(store, "Ledger", f"Children deported from occupied Kherson, report {i}",
                      url=f"https://ledger.example/night-{i}", at=kyiv(2026, 11, 24, 20, i))
            for i in range(n)]


def test_stopped_before_0800_and_started_at_0930_sends_the_0800_digest_at_start(tmp_path, store, setup):
    config, clock, service = setup(kyiv(2026, 11, 25, 9, 30))
    store.record_digest_time("morning", kyiv(2026, 11, 24, 8, 0))  # yesterday's went out
    stories_overnight(store)

    asyncio.run(service.catch_up())

    [document] = digests_written(tmp_path)
    assert document["digest"] == "morning"
    assert sorted(s["url"] for s in document["stories"]) == [f"https://ledger.example/night-{i}" for i in range(2)]
    assert store.last_digest_time("morning") == kyiv(2026, 11, 25, 8, 0)
    [batch] = store.batches("morning")
    assert batch.scheduled_for == kyiv(2026, 11, 25, 8, 0) and batch.status == "delivered"
    assert batch.created_at == clock()

    # A second start the same morning sends nothing again.
    clock.when = kyiv(2026, 11, 25, 9, 45).astimezone(UTC)
    asyncio.run(service.catch_up())
    assert len(digests_written(tmp_path)) == 1 and len(store.batches()) == 1


def test_started_before_0800_sends_nothing(tmp_path, store, setup):
    _, _, service = setup(kyiv(2026, 11, 25, 7, 30))
    store.record_digest_time("morning", kyiv(2026, 11, 24, 8, 0))
    stories_overnight(store)
    asyncio.run(service.catch_up())
    assert not (tmp_path / "out").exists() and store.batches() == []
    assert store.last_digest_time("morning") == kyiv(2026, 11, 24, 8, 0)


def test_down_for_days_sends_one_digest_with_everything(tmp_path, store, setup):
    _, _, service = setup(kyiv(2026, 11, 28, 9, 30))
    store.record_digest_time("morning", kyiv(2026, 11, 24, 8, 0))
    stories_overnight(store, 3)
    asyncio.run(service.catch_up())
    [document] = digests_written(tmp_path)
    assert len(document["stories"]) == 3
    assert store.last_digest_time("morning") == kyiv(2026, 11, 28, 8, 0)


def test_first_start_remembers_the_time_and_sends_nothing(tmp_path, store, setup):
    _, clock, service = setup(kyiv(2026, 11, 25, 9, 30))
    stories_overnight(store)
    asyncio.run(service.catch_up())
    assert store.batches() == [] and store.last_digest_time("morning") == clock()


def test_missed_digest_with_nothing_new_sends_nothing_but_moves_on(tmp_path, store, setup):
    _, _, service = setup(kyiv(2026, 11, 25, 9, 30))
    store.record_digest_time("morning", kyiv(2026, 11, 24, 8, 0))
    asyncio.run(service.catch_up())
    assert store.batches() == [] and store.last_digest_time("morning") == kyiv(2026, 11, 25, 8, 0)


def test_each_digest_catches_up_on_its_own_schedule(tmp_path, store, setup):
    _, _, service = setup(kyiv(2026, 11, 25, 9, 30), """
        channels:
          files: {type: file, path: out}
        digests:
          - {name: morning, schedule: "0 8 * * *"}
          - {name: evening, schedule: "0 20 * * *"}
          - {name: weekly, schedule: "0 9 * * 1", send_empty: true}
    """)
    store.record_digest_time("morning", kyiv(2026, 11, 24, 8, 0))
    store.record_digest_time("evening", kyiv(2026, 11, 24, 20, 0))
    store.record_digest_time("weekly", kyiv(2026, 11, 16, 9, 0))
    stories_overnight(store)
    asyncio.run(service.catch_up())
    sent = {d["digest"]: len(d["stories"]) for d in digests_written(tmp_path)}
    assert sent == {"morning": 2, "weekly": 2}  # evening's next time (20:00) has not come
    assert store.last_digest_time("weekly") == kyiv(2026, 11, 23, 9, 0)
    assert store.last_digest_time("evening") == kyiv(2026, 11, 24, 20, 0)


def test_catch_up_also_delivers_a_batch_left_pending_by_a_crash(tmp_path, store, setup):
    config, clock, service = setup(kyiv(2026, 11, 25, 9, 30))
    store.record_digest_time("morning", kyiv(2026, 11, 24, 8, 0))
    stories_overnight(store, 1)
    # Killed at yesterday's 08:00 run after the batch was written, before it was sent.
    service.dispatcher.enqueue(config.digests[0], kyiv(2026, 11, 24, 8, 0))
    add_story(store, "Ledger", "Children deported from occupied Kherson, later", url="https://ledger.example/late",
              at=kyiv(2026, 11, 25, 1, 0))
    asyncio.run(service.catch_up())
    urls = sorted(s["url"] for d in digests_written(tmp_path) for s in d["stories"])
    assert urls == ["https://ledger.example/late", "https://ledger.example/night-0"]  # each once
    assert all(b.status == "delivered" for b in store.batches())


class RunningClock(FixedClock):
    """Simulated time: starts at `when` and goes on at the speed of real time."""

    def __init__(self, when: datetime):
        super().__init__(when)
        self._started = time.monotonic()

    def __call__(self) -> datetime:
        return self.when + timedelta(seconds=time.monotonic() - self._started)


def test_the_scheduled_job_fires_at_0800_in_the_user_zone(tmp_path, store, setup, monkeypatch):
    """The real scheduler, its clock one second before 08:00 in Kyiv (06:00 UTC): the digest job
    fires at 08:00, not before, sends the digest, and is next due at 08:00 the day after."""
    clock = RunningClock(kyiv(2026, 11, 26, 7, 59, 59).astimezone(UTC))
    _, _, service = setup(clock.when, clock=clock)
    store.record_digest_time("morning", kyiv(2026, 11, 25, 8, 0))
    stories_overnight(store)

    class SimulatedDatetime(datetime):
        @classmethod
        def now(cls, tz=None):
            return clock().astimezone(tz)

    monkeypatch.setattr(apscheduler.schedulers.base, "datetime", SimulatedDatetime)
    monkeypatch.setattr(apscheduler.executors.base, "datetime", SimulatedDatetime)

    async def go():
        service.schedule()
        service.scheduler.start(paused=True)
        try:
            for job in service.scheduler.get_jobs():
                if job.id != "digest:morning":
                    job.remove()  # polls of the imaginary sources and the outbox flush are not under test
            job = service.scheduler.get_job("digest:morning")
            after_0930 = job.trigger.get_next_fire_time(None, kyiv(2026, 11, 25, 9, 30))
            first_due = job.next_run_time
            service.scheduler.resume()
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not (
                    digests_written(tmp_path) and all(b.status == "delivered" for b in store.batches())):
                await asyncio.sleep(0.05)
            return after_0930, first_due, service.scheduler.get_job("digest:morning").next_run_time
        finally:
            service.scheduler.shutdown(wait=False)

    after_0930, first_due, next_due = asyncio.run(go())
    assert after_0930 == kyiv(2026, 11, 26, 8, 0)
    assert first_due == kyiv(2026, 11, 26, 8, 0)
    [document] = digests_written(tmp_path)
    assert document["digest"] == "morning"
    assert sorted(s["url"] for s in document["stories"]) == [f"https://ledger.example/night-{i}" for i in range(2)]
    fired = store.last_digest_time("morning")
    assert kyiv(2026, 11, 26, 8, 0) <= fired < kyiv(2026, 11, 26, 8, 0, 5), fired
    [batch] = store.batches("morning")
    assert batch.status == "delivered" and batch.scheduled_for == fired
    assert next_due == kyiv(2026, 11, 27, 8, 0)
