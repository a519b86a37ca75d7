"""Poll bench: the real `monitor poll` on N local feeds, against a raw-httpx floor from the same run.

    .venv/bin/python -m bench.poll [--feeds 200] [--items 50] [--concurrency 20] [--repeat 1]

The issue's figure is `--feeds 1000 --items 50` (50,000 items; a few minutes today).

Set up: a subprocess serves N synthetic feeds (RSS 2.0, Atom and RSS 1.0; en/uk/ru; M items of
~1 KB each, 5% on topic, from bench/support/corpus.py), pre-rendered, with ETags (a matching
If-None-Match gets a 304), on 127.0.0.1. A sources.yaml lists them as `type: rss` sources with
`fetch_article: never` (the items carry their text) and `concurrency` = `per_host_concurrency` = C;
everything else as shipped: the shipped topic matches every item, stories are grouped, robots.txt
is read.

Run, each as a subprocess timed from start to exit (peak RSS: of the whole process tree, see
bench/support/cli.py):
  cold     floor: `python -m bench.support.floor` GETs the N feeds, C at a time, one httpx client;
           then `monitor poll` into a fresh database.
  all-304  the floor again with each feed's ETag (all 304); then `monitor poll` again (all 304).
With --repeat K each pass runs K times (a fresh database each time) and the best time is kept.
Both sides pay for their interpreter start and imports: the command a user runs does. The floor's
own fetch time (first request to last answer) is printed beside it.

Printed: seconds, the ratio monitor/floor with the issue's targets (cold <= 3x, all-304 <= 1.5x),
peak RSS of both (largest process / whole process tree), the CPU time of each whole process tree
(steadier than wall time on a shared machine, and what bounds a CPU-bound pass), how long
the threads of each waited for a free core (Linux schedstat: large when the machine's cores, not
the pipeline, set the pace), and checks from the CLI's totals line,
the server's counters and the poll's database (every item new on the cold pass, none on the second, N 304s, items
matched = the site's on-topic items, copies of a story included). Exit status 0
whatever the figures; 1 if a run failed.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from bench.support.cli import PollSummary, monitor, print_checks, write_config
from bench.support.floor import run_floor
from bench.support.server import SiteProcess

TARGETS = {"cold": 3.0, "all-304": 1.5}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=200, metavar="N")
    parser.add_argument("--items", type=int, default=50, metavar="M")
    parser.add_argument("--concurrency", type=int, default=20, metavar="C", help="1-50 (per-host limit)")
    parser.add_argument("--repeat", type=int, default=1, metavar="K")
    args = parser.parse_args(argv)
    n, m, c = args.feeds, args.items, args.concurrency
    if not 1 <= c <= 50 or n < 1 or m < 1 or args.repeat < 1:
        parser.error("need --feeds, --items, --repeat >= 1 and 1 <= --concurrency <= 50")

    best: dict[str, dict] = {}
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="monitor-bench-poll-") as tmp, \
            SiteProcess("bench.support.site:news_site", now=time.time(),
                        groups=[{"name": "feeds", "feeds": n, "items": m, "on_topic": 0.05}]) as site:
        folder = Path(tmp)
        info = site.info["feeds"]
        urls = [site.url(f"/feeds/{k}.xml") for k in range(n)]
        sources = [{"name": f"feed-{k:04d}", "type": "rss", "url": url, "fetch_article": "never"}
                   for k, url in enumerate(urls)]
        print(f"bench.poll: `monitor poll` as shipped (matching, story grouping; fetch_article: never) vs raw httpx "
              f"GETs of the same URLs; both subprocesses, concurrency {c}, best of {args.repeat}")
        print(f"site: {n} feeds x {m} items ({info['feed_bytes'] / n / 1024:.1f} KiB a feed), {info['on_topic']} "
              f"items on topic; served by subprocess {site.pid}")
        start = monitor(write_config(folder, sources, name="check.yaml"), "check").check()
        print(f"`monitor check` (start-up and config only): {start.seconds:.2f} s, {start.rss}")

        for r in range(args.repeat):
            config = write_config(folder, sources, fetch={"concurrency": c, "per_host_concurrency": c},
                                  database=f"run-{r}.db", name=f"run-{r}.yaml")
            etags = folder / f"etags-{r}.json"
            for label, floor_args in (("cold", {"save_etags": etags}), ("all-304", {"etags": etags})):
                site.reset()
                floor = run_floor(urls, folder, c, **floor_args)
                floor_seen = site.stats()
                site.reset()
                run = monitor(config, "poll")
                seen = site.stats()
                if run.returncode != 0:
                    print(run.stderr[-2000:], file=sys.stderr)
                    return 1
                totals = PollSummary.parse(run.stdout)
                expect_new = n * m if label == "cold" else 0
                if totals.new != expect_new or totals.failing:
                    problems.append(f"{label}: {totals.new} new items (expected {expect_new}), {totals.failing} failing")
                status = "200" if label == "cold" else "304"
                for who, counts in (("floor", floor_seen), ("monitor", seen)):
                    if counts.get(status, 0) < n:
                        problems.append(f"{label}: the server sent {who} {counts.get(status, 0)} x {status}, not {n}")
                stored = matched_in(folder / f"run-{r}.db")
                if label == "cold" and stored != info["on_topic"]:
                    problems.append(f"cold: {stored} items matched; the site published {info['on_topic']} on topic")
                kept = best.setdefault(label, {"run": run, "totals": totals, "floor": floor, "stored": stored})
                if run.seconds < kept["run"].seconds:
                    kept.update(run=run, totals=totals, stored=stored)
                if floor.run.seconds < kept["floor"].run.seconds:
                    kept["floor"] = floor

    print()
    print(f"{'pass':<9}{'floor':>9}{'monitor poll':>14}{'ratio':>8}   {'target':<14}{'floor RSS':>14}{'monitor RSS':>16}"
          f"   floor's own fetch   CPU s: floor, monitor poll")
    for label, got in best.items():
        floor, run = got["floor"], got["run"]
        ratio = run.seconds / floor.run.seconds
        target = f"<= {TARGETS[label]:g}x {'PASS' if ratio <= TARGETS[label] else 'FAIL'}"
        print(f"{label:<9}{floor.run.seconds:>7.2f} s{run.seconds:>12.2f} s{ratio:>7.1f}x   {target:<14}"
              f"{floor.run.rss:>14}{run.rss:>16}   {floor.inner:>15.2f} s   {floor.run.cpu_seconds:.2f}, "
              f"{run.cpu_seconds:.2f}")
    cold = best["cold"]["totals"]
    copies = best["cold"]["stored"] - cold.matched
    print(f"cold pass: {cold.new} new items, {best['cold']['stored']} matched ({cold.matched} stories and {copies} "
          f"copies of them; site: {info['on_topic']} on topic), "
          f"{cold.failing} failing; items/s: floor {n * m / best['cold']['floor'].run.seconds:,.0f}, "
          f"monitor poll {n * m / best['cold']['run'].seconds:,.0f}")
    cores = os.cpu_count() or 1
    for label, got in best.items():
        run = got["run"]
        print(f"{label}: monitor poll used {run.cpu_seconds:.2f} CPU s in {run.seconds:.2f} s on {cores} core(s) "
              f"(at least {run.cpu_seconds / cores:.2f} s of wall time at full use); its threads waited "
              f"{run.waited_seconds:.2f} s in all for a free core (floor: {got['floor'].run.waited_seconds:.2f} s)")
    print_checks(problems)
    return 0


def matched_in(database: Path) -> int:
    """Items with a match in the poll's database. The totals line counts stories: with many feeds
    the synthetic site repeats a headline and its facts, and the copy of a story is no new alert."""
    with sqlite3.connect(database) as db:
        return db.execute("SELECT count(DISTINCT item_id) FROM matches").fetchone()[0]


if __name__ == "__main__":
    sys.exit(main())
