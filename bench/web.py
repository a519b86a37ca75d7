"""Web bench: `/` and `/?q=WORD` of `monitor web` with 100,000 items stored (target: <= 200 ms each).

    .venv/bin/python -m bench.web [--items 100000] [--on-topic 0.1] [--repeat 30] [--keep DIR]

Seeding (documented generator, through the Store API, not the poll path): bench/support/corpus.py's
NewsWriter writes --items synthetic articles (en/uk/ru, ~1 KB of main text each, a --on-topic share
of them about deported children, dates spread over 30 days) from 20 outlets; Store.add_items
stores them in batches of 1,000, each on-topic item with a topic match (its title as the snippet,
hits marked), and every fifth on-topic item a copy of the story before it (another outlet, "also
reported by"). The FTS5 index is filled by the database's own triggers as the rows go in, as in
the service. `--keep DIR` reuses (or leaves) the database there.

Measured: `monitor web --port 0` started as a subprocess (the real CLI), one keep-alive HTTP
client; each URL is fetched 3 times to warm up, then --repeat times; printed: the median and the
95th percentile of the wall time of each request (client side: the whole response read), and
whether the median meets the 200 ms target. URLs: `/` (the first page: 50 stories newest first,
with the total count), `/?page=20`, `/?q=...` for a town every on-topic item may name, a word of
the Ukrainian on-topic titles, a word of off-topic texts (many items to search, few matched), a
prefix and a phrase, and `/api/stories`. Exit status 0 whatever the figures; 1 if a run failed.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx

from bench.support.cli import write_config
from bench.support.corpus import EPOCH, LANGS, NewsWriter

TARGET_MS = 200
BATCH = 1000
OUTLETS = 20
QUERIES = [
    ("/", "the first page"),
    ("/?page=20", "page 20"),
    ("/?q=Kherson", "a town"),
    ("/?q=дітей", "a Ukrainian word of on-topic titles"),
    ("/?q=football", "an off-topic word"),
    ("/?q=депорт*", "a prefix"),
    ('/?q="Ukrainian children"', "a phrase"),
    ("/api/stories", "the API's first page"),
]


def seed(folder: Path, items: int, on_topic: float) -> Path:
    """sources.yaml and a database of `items` generated items in `folder`; the config's path."""
    from monitor.items import Item, Match
    from monitor.store import Store

    config = write_config(folder, [{"name": f"Outlet {n}", "type": "rss", "url": f"http://127.0.0.1:9/feed/{n}.xml"}
                                   for n in range(OUTLETS)])
    store = Store(folder / "monitor.db")
    try:
        have = store.count_items()
        if have >= items:
            print(f"seed: reusing {have:,} items in {folder / 'monitor.db'}")
            return config
        writer = NewsWriter(seed=7)
        every = max(1, round(1 / on_topic)) if on_topic > 0 else 0
        started, matched, last_story = time.monotonic(), 0, None
        for start in range(have, items, BATCH):
            batches: dict[str, dict[str, Item]] = {}
            matches: dict[str, list[Match]] = {}
            copies: dict[str, int] = {}
            for n in range(start, min(items, start + BATCH)):
                topical = bool(every) and n % every == 0
                lang = random.Random(n).choice(LANGS)  # not n % 3: with every third item on topic, all en
                news = writer.item(f"w{n}", lang, topical, path=f"/news/{n}",
                                   published=EPOCH + timedelta(minutes=(n * 37) % (60 * 24 * 30)))
                source = f"Outlet {n % OUTLETS}"
                item = Item(url=f"https://outlet{n % OUTLETS}.example/news/{n}", title=news.title,
                            summary=news.teaser(), content=news.text, published=news.published, lang=lang,
                            author=news.author)
                key = item.key(source)
                batches.setdefault(source, {})[key] = item
                if topical:
                    matched += 1
                    matches[key] = [Match("deported-children", ["children", "deport*"], f"**{news.title}**")]
                    if matched % 5 == 0 and last_story is not None:
                        copies[key] = last_story
            at = EPOCH + timedelta(days=30)
            for source, chunk in batches.items():
                stored = store.add_items(source, chunk, at, matches={k: v for k, v in matches.items() if k in chunk},
                                         story_for=lambda item, item_id, chunk=chunk: (None, None))
                for row in stored:
                    if row.key in copies:
                        with store.transaction():
                            store.db.execute("UPDATE items SET story_id = ? WHERE id = ?", [copies[row.key], row.id])
                    elif row.key in matches:
                        last_story = row.id
            done = min(items, start + BATCH)
            if done % 20000 == 0 or done == items:
                rate = (done - have) / (time.monotonic() - started)
                print(f"seed: {done:,} items stored ({rate:,.0f} items/s)", flush=True)
        with store.transaction():
            for name in (f"Outlet {n}" for n in range(OUTLETS)):
                store.db.execute("INSERT OR IGNORE INTO sources (name, last_status) VALUES (?, 'ok')", [name])
        store.db.execute("PRAGMA optimize")
    finally:
        store.close()
    return config


def found(client: httpx.Client, url: str) -> str:
    """How many stories the URL lists in all (the page's count line, the API's page length)."""
    response = client.get(url)
    if url.startswith("/api/"):
        return f"{len(response.json()['stories'])}+"
    return response.text.split('id="count">', 1)[1].split(" ", 1)[0]


def measure(client: httpx.Client, url: str, repeat: int) -> list[float]:
    for _ in range(3):
        client.get(url).raise_for_status()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url)
        response.raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000, help="items stored (100000)")
    parser.add_argument("--on-topic", type=float, default=0.1, help="share of items matched (0.1)")
    parser.add_argument("--repeat", type=int, default=30, help="measured requests per URL (30)")
    parser.add_argument("--keep", type=Path, help="folder for the database, kept (reused when it holds enough)")
    args = parser.parse_args(argv)
    from tests.support.webserver import WebProcess

    with tempfile.TemporaryDirectory() as temporary:
        folder = args.keep or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        config = seed(folder, args.items, args.on_topic)
        failed = False
        with WebProcess(config) as web, httpx.Client(base_url=web.url(""), timeout=60) as client:
            total = found(client, "/")
            print(f"monitor web at {web.url('/')}: {args.items:,} items, {total} matched stories; "
                  f"median and p95 of {args.repeat} requests, target <= {TARGET_MS} ms")
            for url, what in QUERIES:
                try:
                    times = measure(client, url, args.repeat)
                except httpx.HTTPError as exc:
                    print(f"  {url:32} FAILED: {exc}")
                    failed = True
                    continue
                median = statistics.median(times)
                p95 = sorted(times)[max(0, round(0.95 * len(times)) - 1)]
                verdict = "ok" if median <= TARGET_MS else "OVER TARGET"
                print(f"  {url:28} {median:7.1f} ms median  {p95:7.1f} ms p95  {verdict:11}  {found(client, url):>7} "
                      f"stories  ({what})", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
