"""Benchmark: polling N RSS feeds through `monitor`, against a plain-httpx floor measured in the same run.

    .venv/bin/python bench/poll.py [--feeds N] [--items M] [--concurrency C] [--repeat K] [--gzip]
                                   [--profile cold|304]

What it does
------------
A subprocess serves N distinct synthetic RSS 2.0 feeds of M items each (unique titles and links, a
~300-byte HTML description per item) from an asyncio HTTP/1.1 server on 127.0.0.1. Every feed has
an ETag and a Last-Modified; a request whose If-None-Match matches the ETag gets a 304. All
responses are pre-rendered, so the server does the same tiny amount of work for every request and
costs the same whichever client is calling. It runs in its own process so that, on a 2-core
machine, it does not share the GIL with the client being measured.

Then, in this process, at the same concurrency C and against the same URLs:

  1. floor, cold  - plain `httpx.AsyncClient` GETs of the N feeds (full bodies read), C at a time;
  2. product, cold - `monitor.pipeline.poll_all` of N `type: rss` sources through a `Fetcher`
                     (concurrency = per_host_concurrency = C: every feed is on one host) into a fresh
                     SQLite `Store` in a temporary directory: fetch, parse, store every item;
  3. floor, 304   - the same plain GETs with If-None-Match: <each feed's ETag> (all answered 304);
  4. product, 304 - a second `poll_all` with the same Fetcher and Store (all answered 304).

Before each client's timed passes, it fetches (floor) or polls (product, into a scratch store) C
separate warm-up feeds with the same client, so the connection pool is open and lazy imports are
done; the product's one robots.txt fetch per host is left in the measured cold pass. Peak RSS
(ru_maxrss of this process; the server's memory is not counted) is printed three times: after the
imports of httpx and monitor (the baseline), after the floor passes (which run first), and after
the product passes: that last figure is the process peak the target applies to, and its growth over
the first two is what polling N feeds costs in memory.
With --repeat K every pass is run K times (fresh client / Fetcher / Store each time) and the best
time of each is kept. On a shared 2-core machine single runs vary by tens of percent (the floor
itself does): use --repeat 3 before drawing a conclusion from a ratio near its target.

The product is measured as issue 2 defines a poll: `poll_all(sources, fetcher=..., store=...)`,
i.e. fetch, parse and store, without the topic matcher, article enrichment or story grouping that
`monitor poll` adds when those are configured.

How to read it
--------------
The ratio product/floor is the figure that matters: the floor is the cost of HTTP alone on this
machine, the ratio is what the product's own work (semaphores, robots, capped streaming reads,
decoding, feedparser, HTML-to-text, SQLite) costs on top. Targets (issue 2): cold <= 3x floor,
304 pass <= 1.5x floor, peak RSS <= 250 MB; each is printed PASS or FAIL beside its figure. The run
also checks the product's results (every source ok, then every source not_modified; N*M items
stored; the server answered N 304s in the second pass) and says so if they are wrong. The
"server saw" lines count, per pass, the requests and statuses the server sent and the TCP
connections it accepted: after the warm-up a client that keeps its connections alive opens (almost)
none, so a count near N means the client reconnects for each request. Exit status is 0 whatever
the figures (it is a benchmark); 1 only if the run itself could not be done.

--profile cold|304 runs that product pass under cProfile and prints the top functions by
cumulative time to stderr (the pass is then slower: do not compare its time with the floor).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import email.utils
import gc
import gzip
import hashlib
import io
import json
import multiprocessing
import pstats
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

TARGET_COLD_RATIO = 3.0
TARGET_304_RATIO = 1.5
TARGET_PEAK_RSS_MB = 250.0
MAX_CONCURRENCY = 50  # FetchSettings.per_host_concurrency allows at most 50, and it must equal C here
USER_AGENT = "monitor-bench/0.1 (+https://example.org/contact)"
ROBOTS_TXT = b"User-agent: *\nDisallow: /private/\n"


# --- synthetic feeds -----------------------------------------------------------------------------

_WORDS = ("ministry regional council children returned families report officials evacuation court "
          "investigation humanitarian volunteers documented testimony border region shelter register "
          "international reintegration hearing prosecutor statement verified relatives").split()


def _sentence(seed: int, words: int) -> str:
    picked = [_WORDS[(seed * 7 + k * 13 + k * k) % len(_WORDS)] for k in range(words)]
    return " ".join(picked).capitalize()


def feed_xml(feed: int, items: int, prefix: str = "feed") -> bytes:
    """One RSS 2.0 document; titles, links and guids are unique per feed and item."""
    host = f"{prefix}{feed}.example.org"
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">\n<channel>\n'
        f"<title>Synthetic outlet {prefix} {feed}</title>\n<link>https://{host}/</link>\n"
        f"<description>Benchmark feed {feed} of monitor</description>\n<language>en</language>\n"
    ]
    for item in range(items):
        stamp = 1_735_000_000 + feed * 3600 + item * 60
        pub = email.utils.formatdate(stamp, usegmt=True)
        # ~300 bytes of description, as outlets send it: a paragraph of HTML inside CDATA.
        text = f"{_sentence(feed + item, 14)}. {_sentence(feed * 31 + item, 9)} (item {item} of feed {feed})."
        description = f"<p>{text}</p><p><a href=\"https://{host}/news/{item}\">Read more</a></p>"
        out.append(
            "<item>\n"
            f"<title>{prefix.capitalize()} {feed} story {item}: {_sentence(feed * 3 + item, 6)}</title>\n"
            f"<link>https://{host}/news/{2025 - item % 3}/{item}-story-{feed}-{item}.html</link>\n"
            f'<guid isPermaLink="false">{prefix}-{feed}-item-{item}</guid>\n'
            f"<pubDate>{pub}</pubDate>\n<dc:creator>Reporter {item % 17}</dc:creator>\n"
            f"<description><![CDATA[{description}]]></description>\n"
            "</item>\n"
        )
    out.append("</channel>\n</rss>\n")
    return "".join(out).encode("utf-8")


def feed_path(feed: int) -> str:
    return f"/feeds/{feed}.xml"


def warm_path(feed: int) -> str:
    return f"/warm/{feed}.xml"


# --- the server (runs in a subprocess) ------------------------------------------------------------

@dataclass
class _Resource:
    etag: bytes
    ok: bytes            # full 200 response, identity encoding
    ok_gzip: bytes       # full 200 response, gzip (only with --gzip)
    not_modified: bytes  # full 304 response


def _response(status: str, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    if not status.startswith("304"):
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode("latin-1") + b"\r\n" + body


def _resource(body: bytes, content_type: str, modified: int, with_gzip: bool) -> _Resource:
    etag = '"' + hashlib.sha1(body).hexdigest()[:20] + '"'
    common = [("Content-Type", content_type), ("ETag", etag),
              ("Last-Modified", email.utils.formatdate(modified, usegmt=True)), ("Cache-Control", "max-age=60")]
    zipped = b""
    if with_gzip:
        zipped = _response("200 OK", common + [("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")],
                           gzip.compress(body, compresslevel=6, mtime=0))
    return _Resource(etag.encode(), _response("200 OK", common, body), zipped,
                     _response("304 Not Modified", common))


class _FeedServer(asyncio.Protocol):
    """Keep-alive HTTP/1.1 for GETs, answered from pre-rendered bytes."""

    resources: dict[bytes, _Resource] = {}
    stats: dict[str, int] = {}
    NOT_FOUND = _response("404 Not Found", [("Content-Type", "text/plain")], b"not found")

    def connection_made(self, transport):
        self.transport = transport
        self.buffer = b""
        self.stats["connections"] += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            lines = head.split(b"\r\n")
            parts = lines[0].split(b" ")
            path = parts[1] if len(parts) > 1 else b"/"
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            self.transport.write(self._answer(path, headers))
            if headers.get(b"connection", b"").lower() == b"close":
                self.transport.close()
                return

    def _answer(self, path: bytes, headers: dict[bytes, bytes]) -> bytes:
        stats = self.stats
        if path == b"/__stats":
            body = json.dumps(stats).encode()
            return _response("200 OK", [("Content-Type", "application/json")], body)
        if path == b"/__reset":
            for key in stats:
                stats[key] = 0
            return _response("200 OK", [("Content-Type", "text/plain")], b"ok")
        stats["requests"] += 1
        resource_ = self.resources.get(path)
        if resource_ is None:
            stats["404"] += 1
            return self.NOT_FOUND
        if_none_match = headers.get(b"if-none-match")
        if if_none_match is not None:
            stats["conditional"] += 1
            tags = {tag.strip().removeprefix(b"W/") for tag in if_none_match.split(b",")}
            if resource_.etag in tags or b"*" in tags:
                stats["304"] += 1
                return resource_.not_modified
        stats["200"] += 1
        if resource_.ok_gzip and b"gzip" in headers.get(b"accept-encoding", b""):
            return resource_.ok_gzip
        return resource_.ok


def serve(feeds: int, items: int, warm: int, with_gzip: bool, ready) -> None:
    """Subprocess entry point: render every feed, listen, send back (port, total bytes of the N feeds)."""
    resources = {b"/robots.txt": _resource(ROBOTS_TXT, "text/plain", 1_700_000_000, False)}
    total = 0
    for feed in range(feeds):
        body = feed_xml(feed, items)
        total += len(body)
        resources[feed_path(feed).encode()] = _resource(body, "application/rss+xml; charset=utf-8",
                                                        1_735_000_000 + feed, with_gzip)
    for feed in range(warm):
        resources[warm_path(feed).encode()] = _resource(feed_xml(feed, items, prefix="warm"),
                                                        "application/rss+xml; charset=utf-8", 1_700_000_000, with_gzip)
    _FeedServer.resources = resources
    _FeedServer.stats = {"requests": 0, "200": 0, "304": 0, "404": 0, "conditional": 0, "connections": 0}

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_FeedServer, "127.0.0.1", 0, backlog=1024)
        ready.send((server.sockets[0].getsockname()[1], total))
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# --- measuring ------------------------------------------------------------------------------------

def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


async def server_stats(client, base: str, reset: bool = False) -> dict[str, int]:
    response = await client.get(base + ("/__reset" if reset else "/__stats"))
    return {} if reset else response.json()


@dataclass
class Passes:
    """One client's two timed passes, and what the server saw during each."""

    cold: float
    not_modified: float
    server_cold: dict
    server_304: dict
    items: int = 0
    problems: list[str] = field(default_factory=list)


async def floor_passes(base: str, n: int, warm: int, concurrency: int) -> Passes:
    """Plain httpx: cold GETs of every feed, then conditional GETs with the ETags it got back."""
    import httpx

    urls = [base + feed_path(i) for i in range(n)]
    etags: dict[str, str] = {}
    gate = asyncio.Semaphore(concurrency)

    async def get(client, url: str, conditional: bool) -> int:
        async with gate:
            headers = {"If-None-Match": etags[url]} if conditional else None
            response = await client.get(url, headers=headers)  # reads the whole body
            if not conditional:
                etags[url] = response.headers["etag"]
            return response.status_code

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, trust_env=False, headers={"User-Agent": USER_AGENT}) as client:
        await asyncio.gather(*(get(client, base + warm_path(i), False) for i in range(warm)))

        await server_stats(client, base, reset=True)
        started = time.perf_counter()
        statuses = await asyncio.gather(*(get(client, url, False) for url in urls))
        cold = time.perf_counter() - started
        server_cold = await server_stats(client, base)
        if statuses.count(200) != n:
            raise SystemExit(f"floor cold pass: expected {n} × 200, got {sorted(set(statuses))}")

        await server_stats(client, base, reset=True)
        started = time.perf_counter()
        statuses = await asyncio.gather(*(get(client, url, True) for url in urls))
        not_modified = time.perf_counter() - started
        server_304 = await server_stats(client, base)
        if statuses.count(304) != n:
            raise SystemExit(f"floor 304 pass: expected {n} × 304, got {sorted(set(statuses))}")
    return Passes(cold, not_modified, server_cold, server_304)


async def product_passes(base: str, n: int, items: int, warm: int, concurrency: int, workdir: Path,
                         profile: str | None) -> Passes:
    import httpx

    from monitor.config import FetchSettings, SourceConfig
    from monitor.fetch import Fetcher
    from monitor.pipeline import poll_all
    from monitor.store import Store

    settings = FetchSettings(concurrency=concurrency, per_host_concurrency=concurrency)
    sources = [SourceConfig(name=f"feed-{i:04d}", type="rss", url=base + feed_path(i)) for i in range(n)]
    warm_sources = [SourceConfig(name=f"warm-{i:04d}", type="rss", url=base + warm_path(i)) for i in range(warm)]
    problems: list[str] = []

    async def timed(label: str, coro):
        profiler = cProfile.Profile() if profile == label else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        result = await coro
        if profiler:
            profiler.disable()
        seconds = time.perf_counter() - started
        if profiler:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
            print(f"\n--- cProfile of the product {label} pass (top 45 by cumulative time) ---\n{out.getvalue()}",
                  file=sys.stderr)
        return seconds, result

    scratch = Store(workdir / "warm.db")
    store = Store(workdir / "bench.db")
    try:
        async with Fetcher(settings, USER_AGENT) as fetcher, httpx.AsyncClient(trust_env=False) as control:
            await poll_all(warm_sources, fetcher=fetcher, store=scratch)
            # The warm-up read robots.txt; forget it so the measured pass pays for it, as a real run does.
            getattr(fetcher, "_robots", {}).clear()
            await server_stats(control, base, reset=True)

            cold, reports = await timed("cold", poll_all(sources, fetcher=fetcher, store=store))
            stats_cold = await server_stats(control, base)
            bad = [r for r in reports if r.status != "ok" or r.new_items != items]
            if bad:
                problems.append(f"cold pass: {len(bad)} sources not ok with {items} new items, "
                                f"e.g. {bad[0].source}: {bad[0].status} {bad[0].new_items} {bad[0].error or ''}")
            stored = store.count_items()

            await server_stats(control, base, reset=True)
            not_modified, reports = await timed("304", poll_all(sources, fetcher=fetcher, store=store))
            stats_304 = await server_stats(control, base)
            bad = [r for r in reports if r.status != "not_modified"]
            if bad:
                problems.append(f"304 pass: {len(bad)} sources not 'not_modified', "
                                f"e.g. {bad[0].source}: {bad[0].status} {bad[0].error or ''}")
            if stats_304.get("304") != n:
                problems.append(f"304 pass: the server answered {stats_304.get('304')} requests with 304, not {n}")
    finally:
        scratch.close()
        store.close()
    return Passes(cold, not_modified, stats_cold, stats_304, stored, problems)


# --- report ---------------------------------------------------------------------------------------

def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=1000, metavar="N", help="feeds to serve and poll (1000)")
    parser.add_argument("--items", type=int, default=50, metavar="M", help="items per feed (50)")
    parser.add_argument("--concurrency", type=int, default=20, metavar="C",
                        help=f"requests in flight, for the floor and the product alike (20; at most {MAX_CONCURRENCY})")
    parser.add_argument("--repeat", type=int, default=1, metavar="K", help="run each pass K times, keep the best (1)")
    parser.add_argument("--gzip", action="store_true", help="serve feeds gzip-encoded to clients that accept it")
    parser.add_argument("--profile", choices=["cold", "304"], help="cProfile that product pass (to stderr)")
    args = parser.parse_args(argv)
    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        parser.error(f"--concurrency must be between 1 and {MAX_CONCURRENCY} (per-host concurrency must equal it)")
    if args.feeds < 1 or args.items < 1 or args.repeat < 1:
        parser.error("--feeds, --items and --repeat must be at least 1")
    n, m, c = args.feeds, args.items, args.concurrency
    warm = c

    context = multiprocessing.get_context("spawn")
    ready_recv, ready_send = context.Pipe(duplex=False)
    server = context.Process(target=serve, args=(n, m, warm, args.gzip, ready_send), daemon=True)
    server.start()
    try:
        if not ready_recv.poll(300):
            print("error: the feed server did not start within 300 s", file=sys.stderr)
            return 1
        port, corpus_bytes = ready_recv.recv()
        base = f"http://127.0.0.1:{port}"
        print(f"monitor poll benchmark: {n} feeds × {m} items ({corpus_bytes / n / 1024:.1f} KiB per feed, "
              f"{corpus_bytes / 2**20:.1f} MiB in all), concurrency {c}, best of {args.repeat}, "
              f"{'gzip' if args.gzip else 'identity'} encoding, server: asyncio in subprocess {server.pid}")

        # Import both clients before the baseline is read: the baseline is then the interpreter with
        # httpx and monitor loaded, and what the passes add on top of it is the polling itself.
        import httpx  # noqa: F401
        import monitor.pipeline  # noqa: F401

        rss_start = peak_rss_mb()
        floors: list[Passes] = []
        for _ in range(args.repeat):
            floors.append(asyncio.run(floor_passes(base, n, warm, c)))
            gc.collect()
        rss_floor = peak_rss_mb()

        products: list[Passes] = []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="monitor-bench-") as tmp:
                products.append(asyncio.run(product_passes(base, n, m, warm, c, Path(tmp), args.profile)))
            gc.collect()
        rss_peak = peak_rss_mb()
    finally:
        server.terminate()
        server.join(5)

    floor_cold, floor_304 = min(r.cold for r in floors), min(r.not_modified for r in floors)
    product_cold, product_304 = min(r.cold for r in products), min(r.not_modified for r in products)
    cold_ratio, ratio_304 = product_cold / floor_cold, product_304 / floor_304
    expected = n * m
    items_ok = all(r.items == expected for r in products)

    print()
    print(f"{'pass':<28}{'floor (httpx)':>14}{'product (poll)':>16}{'ratio':>9}   target")
    print(f"{'cold: 200, parse, store':<28}{floor_cold:>12.2f} s{product_cold:>14.2f} s{cold_ratio:>8.2f}×"
          f"   ≤ {TARGET_COLD_RATIO:g}×  {verdict(cold_ratio <= TARGET_COLD_RATIO)}")
    print(f"{'second: all 304':<28}{floor_304:>12.2f} s{product_304:>14.2f} s{ratio_304:>8.2f}×"
          f"   ≤ {TARGET_304_RATIO:g}×  {verdict(ratio_304 <= TARGET_304_RATIO)}")
    print(f"{'throughput, cold (feeds/s)':<28}{n / floor_cold:>14.0f}{n / product_cold:>16.0f}")
    print(f"{'throughput, 304 (feeds/s)':<28}{n / floor_304:>14.0f}{n / product_304:>16.0f}")
    print()
    print(f"items stored: {products[-1].items} (expected {n} × {m} = {expected})  {'OK' if items_ok else 'WRONG'}")
    print(f"peak RSS: {rss_start:.0f} MB after importing httpx and monitor, {rss_floor:.0f} MB after the floor "
          f"passes, {rss_peak:.0f} MB process peak after the product passes   ≤ {TARGET_PEAK_RSS_MB:g} MB  "
          f"{verdict(rss_peak <= TARGET_PEAK_RSS_MB)}")
    print("server saw (last run; 'new conns' = TCP connections opened during the pass):")
    for label, run in (("floor", floors[-1]), ("product", products[-1])):
        for name, seen in (("cold", run.server_cold), ("304", run.server_304)):
            print(f"  {label:<8}{name:<5} {seen.get('requests', 0):>6} requests: {seen.get('200', 0):>6} × 200, "
                  f"{seen.get('304', 0):>6} × 304, {seen.get('404', 0)} × 404; {seen.get('connections', 0):>5} new conns")
    for problem in (p for r in products for p in r.problems):
        print(f"PROBLEM: {problem}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
