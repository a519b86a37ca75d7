"""Crash bench: SIGKILL the real service at random moments of polling and delivery; nothing on topic is lost.

    .venv/bin/python -m bench.crash [--kills 30] [--seed 1] [--quiesce 150] [--keep]

Set up, in this process, on 127.0.0.1 (bench/support/site.py):
  - a news site: four feeds (English RSS 2.0, Ukrainian Atom, Russian RSS 1.0, a mixed "wire"
    RSS 2.0) whose items keep appearing while the bench runs, one every 0.3-1 s, 60% on topic
    (titles from bench/support/corpus.py with a two-word summary "Case N.", so the text stays
    under the near-duplicate detector's 12 shingles and every report is a story of its own).
    The site keeps the list of what it published, with each item's label, and which items it
    served in a 200. Feeds carry ETags.
  - a webhook receiver that takes 50-250 ms to process a POST, accepts (records) it, then answers.
Before starting, every title template is run through `monitor classify` (the shipped topic) and
disagreements with the labels are printed: such items will show up below as missed or off-topic.

The service runs as a user runs it: `python -m monitor --config sources.yaml run`, 1 s source
intervals, an alert per newly matched story (POST /alerts) and a digest every minute (POST
/digest). The bench SIGKILLs it --kills times, restarting it each time; each kill is one of:
  timer     a random moment 0.5-4 s after start, whatever the service is doing;
  poll      at the 1st-12th feed request of that run: before the site answers, or 0-40 ms after
            (while it parses, matches, stores);
  delivery  at the 1st-3rd webhook of that run, the moment the receiver has accepted it, before
            the service can record in its outbox that the channel took it: the one window
            exactly-once cannot close;
  digest    the same on the next minutely digest (kills number kills/3 and 2*kills/3; they wait
            for the minute to turn, up to 75 s).
Then publishing stops, the service starts a last time and runs until quiet (every item served,
every on-topic item the site served has reached both channels, no POST for 5 s; or, if some never
arrive, 75 s after that start and 10 s without a POST; at most --quiesce s), and is stopped with
SIGTERM. The verdict is counted against the site's own list, not the service's database:
  - missed: on-topic items the site served that never reached a channel (as a story or under
    "also reported by"), per channel and for the union; a matcher miss is a miss (must be 0);
  - duplicates: stories a channel accepted more than once, split into resends of the same delivery
    (batch and part, X-Monitor-Delivery) across a kill - the run that sent it was killed between
    handing it over and writing its outbox: the acceptance-before-outbox-write window - and any
    other (must be 0);
  - off-topic items delivered (must be 0).
Exit status 0 when those hold, 1 otherwise (the figures are printed either way).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from bench.support.cli import classify, write_config
from bench.support.corpus import NewsItem, NewsWriter, headline_variants
from bench.support.server import ServerThread
from bench.support.site import Acceptance, LiveFeeds, Receiver

MAX_ITEMS = 400                 # the publisher stops here whatever happens
KILL_PHASE_CAP = 240.0          # seconds; the kill loop stops here even if kills remain
EVENT_WAIT = 10.0               # seconds to wait for a poll or a delivery to kill on
DIGEST_WAIT = 75.0              # seconds to wait for the next minutely digest to kill on
EXIT_WAIT = 15.0
QUIET_GAP = 5.0                 # seconds without a POST once everything arrived
FEEDS = {"en": ("rss2", "en"), "uk": ("atom", "uk"), "ru": ("rss1", "ru"), "wire": ("rss2", None)}
CASE = {"en": "Case {n}.", "uk": "Справа {n}.", "ru": "Дело {n}."}


def make_item(writer: NewsWriter, rng: random.Random, number: int, feed: str) -> NewsItem:
    lang = FEEDS[feed][1] or rng.choice(["en", "uk", "ru"])
    on_topic = rng.random() < 0.6
    case = CASE[lang].format(n=number)
    return NewsItem(f"crash-{number}", lang, on_topic, writer.headline(rng, lang, on_topic), (case,),
                    datetime.now(timezone.utc).replace(microsecond=0), f"/{feed}/news/{number}.html", summary=case)


def check_templates() -> list[str]:
    """Titles whose label the shipped topic disagrees with, and titles too long to stay unique."""
    texts, labels = [], []
    for lang in CASE:
        for on_topic in (True, False):
            for title in headline_variants(lang, on_topic):
                texts.append((title, CASE[lang].format(n=1)))
                labels.append(on_topic)
    verdicts = classify(texts)
    problems = [f"{'on-topic not matched' if label else 'off-topic matched'}: {title}"
                for (title, _), label, got in zip(texts, labels, verdicts) if got != label]
    problems += [f"title of {len(t.split())} words (over 11: may group with another): {t}"
                 for t, _ in texts if len(t.split()) > 11]
    return problems


class Service:
    """`monitor run` as a subprocess, started and SIGKILLed by the bench."""

    def __init__(self, config: Path, log: Path):
        self.config, self.log = config, log
        self.proc: subprocess.Popen | None = None
        self.lock = threading.Lock()
        self.generation = self.starts = 0
        self.unexpected_exits: list[int] = []
        self.kill_times: list[float] = []

    def start(self) -> int:
        with open(self.log, "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(self.config), "run"],
                                    cwd=self.config.parent, stdout=log, stderr=subprocess.STDOUT)
        with self.lock:
            self.proc = proc
            self.generation += 1
            self.starts += 1
            return self.generation

    def kill(self, generation: int | None = None) -> bool:
        """SIGKILL the running incarnation (only `generation`, when given); True if it was killed."""
        with self.lock:
            proc = self.proc
            if proc is None or (generation is not None and generation != self.generation):
                return False
            if proc.poll() is not None:
                self.unexpected_exits.append(proc.returncode)
                return False
            os.kill(proc.pid, signal.SIGKILL)
            self.kill_times.append(time.monotonic())
            self.proc = None
        proc.wait(timeout=EXIT_WAIT)
        return True

    def stop(self) -> int | None:
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=45)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=EXIT_WAIT)
        with self.lock:
            self.proc = None
        return proc.returncode


@dataclass
class Kill:
    mode: str
    at: float
    detail: str = ""


@dataclass
class Trigger:
    """Arms one kill on the nth feed request or webhook acceptance of one incarnation."""

    service: Service
    rng: random.Random
    mode: str | None = None
    generation: int = 0
    countdown: int = 1
    fired: threading.Event = field(default_factory=threading.Event)
    detail: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def arm(self, mode: str, generation: int, nth: int) -> None:
        with self.lock:
            self.mode, self.generation, self.countdown, self.detail = mode, generation, nth, ""
            self.fired.clear()

    def disarm(self) -> None:
        with self.lock:
            self.mode = None

    def _take(self, mode: str) -> int | None:
        with self.lock:
            if self.mode != mode:
                return None
            self.countdown -= 1
            if self.countdown > 0:
                return None
            self.mode = None
            return self.generation

    async def on_feed(self, send) -> None:
        generation = self._take("poll")
        if generation is None:
            send()
            return
        if self.rng.random() < 0.5:
            self.detail = "before a feed answer"
            await asyncio.to_thread(self.service.kill, generation)
            send()
        else:
            send()
            await asyncio.sleep(self.rng.uniform(0, 0.04))
            self.detail = "after a feed answer"
            await asyncio.to_thread(self.service.kill, generation)
        self.fired.set()

    async def on_accept(self, acceptance: Acceptance) -> None:
        generation = self._take("digest" if acceptance.path == "/digest" and self.mode == "digest" else "delivery")
        if generation is None:
            return
        self.detail = f"right after accepting {acceptance.path}"
        await asyncio.to_thread(self.service.kill, generation)
        self.fired.set()


def reached(receiver: Receiver, path: str) -> set[str]:
    """URLs that reached a channel, as a story or as a copy under it."""
    with receiver.lock:
        return {url for a in receiver.accepted if a.path == path for url in (*a.urls, *a.also)}


def run(args) -> int:
    rng = random.Random(args.seed)
    problems = check_templates()
    print(f"templates vs the shipped topic (`monitor classify`): {len(problems)} disagreements")
    for line in problems[:10]:
        print(f"  {line}")

    folder = Path(tempfile.mkdtemp(prefix="monitor-crash-"))
    site, receiver = LiveFeeds({name: fmt for name, (fmt, _) in FEEDS.items()}), Receiver(seed=args.seed + 2)
    site_server, receiver_server = ServerThread(site), ServerThread(receiver)
    site.base = site_server.base
    config = write_config(
        folder,
        [{"name": f"bench-{feed}", "type": "rss", "url": f"{site.base}/{feed}.xml", "interval": "1s",
          "fetch_article": "never", "tags": [lang or "mixed"]} for feed, (_, lang) in FEEDS.items()],
        fetch={"retries": 0, "connect_timeout": "2s", "read_timeout": "2s", "total_timeout": "5s",
               "respect_robots": False},
        channels={"alerts-hook": {"type": "webhook", "url": f"{receiver_server.base}/alerts", "timeout": 5},
                  "digest-hook": {"type": "webhook", "url": f"{receiver_server.base}/digest", "timeout": 5}},
        digests=[{"name": "minutely", "schedule": "* * * * *", "channels": ["digest-hook"]}],
        alerts=[{"name": "instant", "channels": ["alerts-hook"]}])
    service = Service(config, folder / "service.log")
    trigger = Trigger(service, random.Random(args.seed + 1))
    site.on_feed, receiver.on_accept = trigger.on_feed, trigger.on_accept

    publishing = threading.Event()
    publishing.set()
    writer = NewsWriter(args.seed)

    def publisher() -> None:
        number, deadline = 0, time.monotonic() + KILL_PHASE_CAP + 30
        while publishing.is_set() and number < MAX_ITEMS and time.monotonic() < deadline:
            number += 1
            feed = rng.choice(list(FEEDS))
            site.publish(feed, make_item(writer, rng, number, feed))
            time.sleep(rng.uniform(0.3, 1.0))

    started = time.monotonic()
    threading.Thread(target=publisher, daemon=True).start()
    kills: list[Kill] = []
    digest_kills = {args.kills // 3, 2 * args.kills // 3} if args.kills >= 6 else set()
    try:
        for number in range(args.kills):
            if time.monotonic() > started + KILL_PHASE_CAP:
                break
            generation = service.start()
            mode = "digest" if number in digest_kills else rng.choice(["timer", "poll", "delivery"])
            if mode == "timer":
                delay = rng.uniform(0.5, 4.0)
                time.sleep(delay)
                if service.kill(generation):
                    kills.append(Kill("timer", time.monotonic(), f"{delay:.2f} s after start"))
                continue
            trigger.arm(mode, generation, {"poll": rng.randint(1, 12), "delivery": rng.randint(1, 3), "digest": 1}[mode])
            if trigger.fired.wait(DIGEST_WAIT if mode == "digest" else EVENT_WAIT):
                kills.append(Kill(mode, service.kill_times[-1], trigger.detail))
            else:
                trigger.disarm()
                if service.kill(generation):
                    kills.append(Kill("timer", time.monotonic(), f"no {mode} within {EVENT_WAIT:.0f} s"))
        kill_phase = time.monotonic() - started

        # Quiescence: nothing new is published; the last incarnation catches up on everything.
        publishing.clear()
        time.sleep(1.1)   # the publisher's last sleep
        last_start = time.monotonic()
        service.start()
        quiet_at, deadline = None, last_start + args.quiesce
        while time.monotonic() < deadline:
            time.sleep(1.0)
            published = site.published()
            on_topic = {site.url(i) for i in published if i.on_topic}
            with receiver.lock:
                last_post = max((a.at for a in receiver.accepted), default=last_start)
            silent = time.monotonic() - max(last_post, last_start)
            with site.lock:
                all_served = len(site.served) == len(published)
            everything = (all_served and on_topic <= reached(receiver, "/alerts")
                          and on_topic <= reached(receiver, "/digest"))
            if (everything and silent >= QUIET_GAP) or (time.monotonic() - last_start >= DIGEST_WAIT and silent >= 10):
                quiet_at = time.monotonic()
                break
        exit_code = service.stop()
    finally:
        trigger.disarm()
        service.kill()
        site_server.close()
        receiver_server.close()
    return report(args, site, receiver, service, kills, kill_phase, quiet_at, started, exit_code, folder)


def report(args, site: LiveFeeds, receiver: Receiver, service: Service, kills: list[Kill], kill_phase: float,
           quiet_at: float | None, started: float, exit_code: int | None, folder: Path) -> int:
    published = sorted(site.published(), key=lambda i: int(i.uid.split("-")[1]))
    served = [i for i in published if i.uid in site.served]
    on_served = [i for i in served if i.on_topic]
    off_urls = {site.url(i) for i in served if not i.on_topic}
    by_mode = {m: sum(1 for k in kills if k.mode == m) for m in ("timer", "poll", "delivery", "digest")}
    print(f"crash bench: {len(kills)} SIGKILLs (timer {by_mode['timer']}, during a poll {by_mode['poll']}, "
          f"on accepting an alert {by_mode['delivery']}, on accepting a digest {by_mode['digest']}), "
          f"{service.starts} starts, seed {args.seed}"
          + (f" (asked for {args.kills}: the kill phase hit its {KILL_PHASE_CAP:.0f} s cap)" if len(kills) < args.kills else ""))
    total = time.monotonic() - started
    print(f"  time: kill phase {kill_phase:.0f} s, quiet "
          f"{'after ' + format(quiet_at - started - kill_phase, '.0f') + ' s' if quiet_at else 'NOT reached'}"
          f" (cap {args.quiesce:.0f} s), total {total:.0f} s; last service exit code {exit_code}")
    print(f"  site: {len(published)} items published, {len(served)} served ({len(on_served)} on topic, "
          f"{len(served) - len(on_served)} off topic), {site.stats['requests']} requests")

    ok = quiet_at is not None and not service.unexpected_exits and len(served) == len(published)
    union: set[str] = set()
    missed_anywhere: set[str] = set()
    unexplained: list[str] = []
    for label, path in (("alerts", "/alerts"), ("digest", "/digest")):
        accepted = [a for a in receiver.accepted if a.path == path]
        got = reached(receiver, path)
        union |= got
        missed = [i for i in on_served if site.url(i) not in got]
        missed_anywhere |= {site.url(i) for i in missed}
        off = sum(1 for a in accepted for url in (*a.urls, *a.also) if url in off_urls)
        seen: dict[str, list[Acceptance]] = {}
        for acceptance in accepted:
            for url in acceptance.urls:
                seen.setdefault(url, []).append(acceptance)
        window = other = 0
        for url, copies in seen.items():
            first = copies[0]
            for again in copies[1:]:
                # The same delivery (batch and part) accepted again after a kill: the run that sent it
                # was killed after handing the request over and before writing its outbox (the second
                # before the request came in allows for the server's accept latency).
                if again.delivery == first.delivery and any(
                        first.arrived - 1.0 <= t <= again.arrived for t in service.kill_times):
                    window += 1
                else:
                    other += 1
                    near = [round(t - started, 2) for t in service.kill_times if first.at - 5 <= t <= again.at + 5]
                    unexplained.append(f"{label}: {url} accepted at {first.at - started:.2f} s as {first.delivery} "
                                       f"and again at {again.at - started:.2f} s as {again.delivery}; kills near: {near}")
        resent = len(accepted) - len({a.delivery for a in accepted})
        ok = ok and not missed and other == 0 and off == 0
        print(f"  {label} channel: {len(accepted)} POSTs accepted ({resent} resends of an accepted delivery); "
              f"on-topic items reached {len(on_served) - len(missed)} of {len(on_served)}, missed {len(missed)}; "
              f"duplicate stories {window + other} (kill between acceptance and outbox write: {window}; other: "
              f"{other}); off-topic delivered {off}")
    for line in unexplained:
        print("    unexplained duplicate: " + line)
    union_missed = [i for i in on_served if site.url(i) not in union]
    ok = ok and not union_missed
    print(f"  union of both channels: missed {len(union_missed)} of {len(on_served)} on-topic items served")
    if missed_anywhere:
        lost = [i for i in on_served if site.url(i) in missed_anywhere]
        verdicts = classify([(i.title, i.summary) for i in lost])
        print(f"  of the {len(lost)} items missed on a channel, the shipped topic rejects {verdicts.count(False)} "
              f"(a matcher miss); the rest were matched and not delivered")
        for item, matched in list(zip(lost, verdicts))[:8]:
            print(f"    {'matched' if matched else 'REJECTED'}: {item.title} ({site.url(item)})")
    if service.unexpected_exits:
        print(f"  the service exited by itself {len(service.unexpected_exits)} time(s): {service.unexpected_exits}")
    print(f"  result: {'PASS' if ok else 'FAIL'}")
    if not ok or args.keep:
        print(f"  files kept in {folder} (service.log, monitor.db, sources.yaml)")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=30, help="SIGKILLs to deliver (default 30)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--quiesce", type=float, default=150.0,
                        help="seconds the last run may take to deliver everything (default 150)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    if not 1 <= args.kills <= 200:
        parser.error("--kills must be between 1 and 200")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
