"""History bench: one-source `monitor poll` with ~50 items stored vs 50,000 (and 500,000).

    .venv/bin/python -m bench.history [--sizes 50000] [--repeat 3] [--chunk 40]
    .venv/bin/python -m bench.history --sizes 50000,500000      # the issue's second figure

Set up, on 127.0.0.1: a subprocess serves three groups of synthetic feeds (bench/support/corpus.py;
en/uk/ru, items of ~1 KB, 3% on topic): `probe` (one feed of 50 items), `fresh` (one feed of 50
new items for every measured new-items poll) and `seed` (feeds of 500 items, rendered on request,
as many as the largest size needs).

How the big databases are seeded: through the real poll path, not by writing rows. The seed
feeds are listed in sources.yaml files of --chunk feeds each (20,000 items with the default) and
each is polled by `monitor poll`, into one database that grows to each size in turn; so every
stored item was fetched, parsed, matched, grouped and stored by monitor itself, as weeks of
running would have done. It is slow (as slow as monitor's cold poll: the seeding rate is printed)
and that is the point of the bench; 500,000 takes a long time today.

Measured, per database (the ~50 one holds only the probe's items): the probe is polled once cold,
then, each --repeat times, with `--source probe`:
  304    the probe's feed unchanged (the issue's figure: start-up, load, a 304, exit);
  new    `--source fresh-...`: one feed of 50 new items (matched and grouped against the history).
Each is the whole CLI process: wall time and peak RSS (of its whole process tree: worker
processes count; bench/support/cli.py), median of the repeats. Printed:
both per size, and the ratio of each size to the ~50 database: targets time <= 1.3x and peak
RSS <= 1.5x with 50,000 stored; with 500,000 stored the issue asks service RSS <= 300 MB (the
poll's RSS is printed against it). Exit status 0 whatever the figures; 1 if a run failed.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.support.cli import Measured, PollSummary, monitor, write_config
from bench.support.server import SiteProcess

PER_SEED_FEED = 500
PROBE_ITEMS = 50
TARGET_TIME, TARGET_RSS, TARGET_RSS_500K_MB = 1.3, 1.5, 300


def poll(config: Path, *names: str) -> tuple[Measured, PollSummary]:
    run = monitor(config, "poll", *(arg for name in names for arg in ("--source", name))).check()
    return run, PollSummary.parse(run.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="50000", help="items stored in the big databases (50000)")
    parser.add_argument("--repeat", type=int, default=3, help="measured polls per kind and size (3)")
    parser.add_argument("--chunk", type=int, default=40, help=f"seed feeds of {PER_SEED_FEED} items per seeding poll")
    args = parser.parse_args(argv)
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    if not sizes or sizes[0] < PER_SEED_FEED or args.repeat < 1 or args.chunk < 1:
        parser.error(f"sizes must be >= {PER_SEED_FEED}; --repeat and --chunk >= 1")
    seed_feeds = math.ceil(sizes[-1] / PER_SEED_FEED)
    fresh_feeds = (len(sizes) + 1) * args.repeat

    results: dict[int, dict] = {}
    with tempfile.TemporaryDirectory(prefix="monitor-bench-history-") as tmp, \
            SiteProcess("bench.support.site:news_site", now=time.time(), groups=[
                {"name": "probe", "feeds": 1, "items": PROBE_ITEMS, "on_topic": 0.03},
                {"name": "fresh", "feeds": fresh_feeds, "items": PROBE_ITEMS, "on_topic": 0.03},
                {"name": "seed", "feeds": seed_feeds, "items": PER_SEED_FEED, "on_topic": 0.03, "ahead": False},
            ]) as site:
        folder = Path(tmp)
        print(f"bench.history: one-source `monitor poll` (subprocess) with ~{PROBE_ITEMS} items stored vs "
              f"{', '.join(f'{s:,}' for s in sizes)}; median of {args.repeat}; seeded through `monitor poll` itself")
        probe_sources = [{"name": "probe", "type": "rss", "url": site.url("/probe/0.xml"), "fetch_article": "never"}]
        probe_sources += [{"name": f"fresh-{k}", "type": "rss", "url": site.url(f"/fresh/{k}.xml"),
                           "fetch_article": "never"} for k in range(fresh_feeds)]
        fresh = iter(range(fresh_feeds))
        seeded, seeding_seconds, probed = 0, 0.0, set()
        for size in [PROBE_ITEMS, *sizes]:
            big = size != PROBE_ITEMS
            database = "big.db" if big else "small.db"
            config = write_config(folder, probe_sources, database=database, name=f"measure-{size}.yaml")
            if big:   # grow big.db to `size` seed items, --chunk feeds per `monitor poll`
                started = time.perf_counter()
                want = math.ceil(size / PER_SEED_FEED)
                while seeded < want:
                    chunk = range(seeded, min(want, seeded + args.chunk))
                    seed_config = write_config(
                        folder, [{"name": f"seed-{k:05d}", "type": "rss", "url": site.url(f"/seed/{k}.xml"),
                                  "fetch_article": "never"} for k in chunk],
                        fetch={"concurrency": 20, "per_host_concurrency": 20}, database=database,
                        name=f"seed-{chunk.start}.yaml")
                    run, totals = poll(seed_config)
                    if totals.new != len(chunk) * PER_SEED_FEED or totals.failing:
                        print(f"seeding: {totals} for {len(chunk)} feeds", file=sys.stderr)
                        return 1
                    seeded = chunk.stop
                    print(f"  seeded {seeded * PER_SEED_FEED:>9,} items (this poll: {run.seconds:6.1f} s, "
                          f"peak RSS {run.rss})", flush=True)
                seeding_seconds += time.perf_counter() - started
            if database not in probed:
                poll(config, "probe")                       # the probe's first, cold poll
                probed.add(database)
            stored = (seeded * PER_SEED_FEED if big else 0) + PROBE_ITEMS
            runs = {"304": [], "new": []}
            for _ in range(args.repeat):
                run, totals = poll(config, "probe")
                if totals.new != 0:
                    print(f"the probe's second poll stored {totals.new} items", file=sys.stderr)
                    return 1
                runs["304"].append(run)
                run, totals = poll(config, f"fresh-{next(fresh)}")
                if totals.new != PROBE_ITEMS:
                    print(f"a fresh feed's poll stored {totals.new} items, not {PROBE_ITEMS}", file=sys.stderr)
                    return 1
                runs["new"].append(run)
            db_bytes = sum(p.stat().st_size for p in folder.glob(database + "*"))
            results[size] = {"stored": stored, "db_mb": db_bytes / 2**20, **{
                kind: tuple(statistics.median(getattr(r, field) for r in rs)
                            for field in ("seconds", "peak_rss_mb", "rss_mb"))
                for kind, rs in runs.items()}}

    if seeded:
        print(f"seeding: {seeded * PER_SEED_FEED:,} items in {seeding_seconds:.0f} s "
              f"({seeded * PER_SEED_FEED / seeding_seconds:,.0f} items/s through `monitor poll`)")
    small = results[PROBE_ITEMS]
    print()
    print("peak RSS: largest process / whole process tree (worker processes included); ratios to the ~50 database")
    print(f"{'stored':>9}{'db':>9} | {'304 poll':>9}{'peak RSS':>14}{'ratio t, RSS':>20} | "
          f"{'50 new':>9}{'peak RSS':>14}{'ratio t, RSS':>20}")
    for size, got in results.items():
        cells = []
        for kind in ("304", "new"):
            seconds, largest, tree = got[kind]
            ratios = (f"{seconds / small[kind][0]:.2f}x, {largest / small[kind][1]:.2f}/"
                      f"{tree / small[kind][2]:.2f}x")
            cells.append(f"{seconds:>7.2f} s{f'{largest:,.0f}/{tree:,.0f} MB':>14}{ratios:>20}")
        print(f"{got['stored']:>9,}{got['db_mb']:>6.1f} MB | " + " | ".join(cells))
    for size in sizes:
        seconds, largest, tree = results[size]["304"]
        t_ratio = seconds / small["304"][0]
        r_ratio = max(largest / small["304"][1], tree / small["304"][2])
        line = (f"304 poll with {results[size]['stored']:,} stored vs ~{PROBE_ITEMS}: time {t_ratio:.2f}x "
                f"(target <= {TARGET_TIME}x) {'PASS' if t_ratio <= TARGET_TIME else 'FAIL'}, peak RSS {r_ratio:.2f}x "
                f"(the larger of the two ratios; target <= {TARGET_RSS}x) {'PASS' if r_ratio <= TARGET_RSS else 'FAIL'}")
        if size >= 500_000:
            line += (f"; RSS {tree:,.0f} MB, whole tree (service target <= {TARGET_RSS_500K_MB} MB) "
                     f"{'PASS' if tree <= TARGET_RSS_500K_MB else 'FAIL'}")
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
