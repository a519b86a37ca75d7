"""Article bench: `monitor poll` with `fetch_article: auto` on teaser feeds, against fetch + trafilatura.

    .venv/bin/python -m bench.article [--feeds 200] [--items 20] [--concurrency 20] [--repeat 1]
                                      [--floor-workers CORES]

Set up, on 127.0.0.1: a subprocess serves F feeds (en/uk/ru; RSS 2.0, Atom, RSS 1.0) of I items
each; every item carries a 35-word teaser ending in "…" and links to its page on the same server:
~50 KB of a news site's markup (navigation with submenus, an icon sprite, "most read" and "latest"
sidebars whose headlines are often on topic, related cards, 24-36 comments of which some speak of
deported children, footer, scripts), with a main text of 100-250 words written by
bench/support/corpus.py; 10% of the articles are on topic. Pages are rendered on request.

Run, each a subprocess timed from start to exit (peak RSS of its whole process tree, worker
processes included; see bench/support/cli.py):
  floor    `python -m bench.support.floor --extract`: GETs the F feeds and the F x I pages with one
           httpx client, C at a time, and runs trafilatura.extract(html, include_comments=False) on
           each page while the fetches go on, in a pool of one worker process per core
           (--floor-workers; monitor spreads extraction over the cores too; 0: one thread, one
           core); it knows the page URLs up front (monitor must read the feeds first).
  monitor  `monitor poll` of F `type: rss` sources, `fetch_article: auto`, `allow_private: true`
           (the pages are on 127.0.0.1), concurrency = per-host concurrency = C, into a fresh
           database: parse, fetch each teaser's page, extract, match, group, store.
Printed: items per second of both and the ratio monitor/floor (target >= 0.7), peak RSS, and
checks: every item stored, a page request for every item (the count is printed: pages fetched
again show there), matched = the site's on-topic articles
(sidebars and comments must not count). Exit status 0 whatever the figures; 1 if a run failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.support.cli import PollSummary, monitor, print_checks, write_config
from bench.support.floor import run_floor
from bench.support.server import SiteProcess

TARGET = 0.7


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=200, metavar="F")
    parser.add_argument("--items", type=int, default=20, metavar="I")
    parser.add_argument("--concurrency", type=int, default=20, metavar="C", help="1-50 (per-host limit)")
    parser.add_argument("--repeat", type=int, default=1, metavar="K", help="runs of each side; the best is kept")
    parser.add_argument("--floor-workers", type=int, default=os.cpu_count() or 1, metavar="W",
                        help="the floor's extraction processes (default: one per core; 0: a thread)")
    args = parser.parse_args(argv)
    f, i, c = args.feeds, args.items, args.concurrency
    if not 1 <= c <= 50 or f < 1 or i < 1 or args.repeat < 1:
        parser.error("need --feeds, --items, --repeat >= 1 and 1 <= --concurrency <= 50")
    items = f * i

    problems: list[str] = []
    floors, runs = [], []
    with tempfile.TemporaryDirectory(prefix="monitor-bench-article-") as tmp, \
            SiteProcess("bench.support.site:news_site", now=time.time(), groups=[
                {"name": "news", "feeds": f, "items": i, "on_topic": 0.10, "teaser": True, "item_bytes": 2500}]) as site:
        folder = Path(tmp)
        info = site.info["news"]
        feeds = [site.url(f"/news/{k}.xml") for k in range(f)]
        pages = [site.url(f"/news/{k}/{j}.html") for k in range(f) for j in range(i)]
        sources = [{"name": f"news-{k:04d}", "type": "rss", "url": url, "fetch_article": "auto", "allow_private": True}
                   for k, url in enumerate(feeds)]
        print(f"bench.article: `monitor poll` with fetch_article: auto vs httpx + trafilatura.extract of the same "
              f"pages ({args.floor_workers or 'no'} worker processes); both subprocesses, concurrency {c}, "
              f"best of {args.repeat}")
        for r in range(args.repeat):
            site.reset()
            floor = run_floor(feeds + pages, folder, c, extract=True, workers=args.floor_workers)
            if floor.extracted != items:
                problems.append(f"floor: {floor.extracted} pages extracted, not {items}")
            floors.append(floor)
            config = write_config(folder, sources, fetch={"concurrency": c, "per_host_concurrency": c},
                                  database=f"run-{r}.db", name=f"run-{r}.yaml")
            site.reset()
            run = monitor(config, "poll")
            seen = site.stats()
            if run.returncode != 0:
                print(run.stderr[-2000:], file=sys.stderr)
                return 1
            totals = PollSummary.parse(run.stdout)
            if totals.new != items or totals.failing:
                problems.append(f"monitor: {totals.new} new items (expected {items}), {totals.failing} failing")
            if seen.get(".html", 0) < items:
                problems.append(f"monitor made {seen.get('.html', 0)} page requests for {items} teaser items")
            if totals.matched != info["on_topic"]:
                problems.append(f"monitor matched {totals.matched} items; the site published {info['on_topic']} "
                                "articles on topic")
            runs.append((run, totals, seen.get(".html", 0)))

    floor = min(floors, key=lambda fl: fl.run.seconds)
    run, totals, page_requests = min(runs, key=lambda rt: rt[0].seconds)
    page_kb = (floor.bytes - info["feed_bytes"]) / items / 1024
    print(f"site: {f} feeds x {i} teaser items, pages {page_kb:.1f} KB on average, {info['on_topic']} articles on "
          f"topic; floor extracted {floor.extracted} pages, {floor.words / max(floor.extracted, 1):.0f} words each")
    floor_rate, rate = items / floor.run.seconds, items / run.seconds
    ratio = rate / floor_rate
    print()
    print(f"{'':<22}{'seconds':>9}{'items/s':>9}   peak RSS (largest process/whole tree)")
    print(f"{'floor (fetch+extract)':<22}{floor.run.seconds:>9.2f}{floor_rate:>9.1f}   {floor.run.rss:<16}"
          f"(its own fetch+extract: {floor.inner:.2f} s)")
    print(f"{'monitor poll':<22}{run.seconds:>9.2f}{rate:>9.1f}   {run.rss}")
    print(f"ratio monitor/floor, items per second: {ratio:.2f}x (target >= {TARGET}x) {'PASS' if ratio >= TARGET else 'FAIL'}")
    print(f"monitor: {totals.new} new items, {totals.matched} matched (site: {info['on_topic']} on topic), "
          f"{totals.failing} failing; {page_requests} page requests for {items} teasers")
    print_checks(problems)
    return 0


if __name__ == "__main__":
    sys.exit(main())
