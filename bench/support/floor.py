"""The floor: what the same work costs with nothing but httpx (and trafilatura), in its own process.

    python -m bench.support.floor URLS_FILE --concurrency C [--etags FILE] [--save-etags FILE]
                                  [--extract [--workers W]]

GETs every URL of URLS_FILE (one a line) with one httpx.AsyncClient, C requests in flight and C
keep-alive connections, reading every body whole. With --etags, each request carries the
If-None-Match saved by an earlier run's --save-etags. With --extract, every HTML answer goes
through trafilatura.extract(html, include_comments=False) while the other fetches go on: in a
pool of W worker processes (started and warmed before the clock starts, as a service's pool
would be), or with W = 0 in a thread of this process (one core: the interpreter lock). Prints one JSON line:
the seconds from the first request to the last answer (imports and start-up excluded; the bench
times the whole process too), statuses, bytes, pages extracted and their words.

`run_floor(...)` runs it through cli.measure, so the floor and `monitor` are timed alike.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import multiprocessing
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench.support.cli import ROOT, Measured, measure

USER_AGENT = "monitor-bench-floor (+https://example.org/bench)"


@dataclass
class Floor:
    run: Measured          # the whole process: wall seconds, peak RSS
    inner: float           # first request to last answer
    statuses: dict[str, int]
    bytes: int
    extracted: int
    words: int


def run_floor(urls: list[str], folder: Path, concurrency: int, *, etags: Path | None = None,
              save_etags: Path | None = None, extract: bool = False, workers: int = 0,
              timeout: float = 3600) -> Floor:
    listing = folder / "floor-urls.txt"
    listing.write_text("\n".join(urls) + "\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "bench.support.floor", str(listing), "--concurrency", str(concurrency)]
    if etags:
        cmd += ["--etags", str(etags)]
    if save_etags:
        cmd += ["--save-etags", str(save_etags)]
    if extract:
        cmd += ["--extract", "--workers", str(workers)]
    run = measure(cmd, cwd=ROOT, timeout=timeout).check()
    out = json.loads(run.stdout.strip().splitlines()[-1])
    return Floor(run, out["seconds"], out["statuses"], out["bytes"], out["extracted"], out["words"])


def _words(html: str) -> int:
    """The extraction (in a worker process or a thread); only the word count comes back."""
    import trafilatura

    return len((trafilatura.extract(html, include_comments=False) or "").split())


async def _fetch_all(urls: list[str], concurrency: int, etags: dict[str, str], with_extract: bool,
                     workers: int) -> dict:
    import httpx

    loop = asyncio.get_running_loop()
    pool = None
    if with_extract and workers:
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver"))
        await asyncio.gather(*(loop.run_in_executor(pool, _words, "<p>warm</p>") for _ in range(workers)))
    elif with_extract:
        _words("<p>warm</p>")   # the import, before the clock
    gate = asyncio.Semaphore(concurrency)
    statuses: Counter = Counter()
    saved: dict[str, str] = {}
    totals = {"bytes": 0, "extracted": 0, "words": 0}

    async def one(client: httpx.AsyncClient, url: str) -> None:
        async with gate:
            headers = {"If-None-Match": etags[url]} if url in etags else None
            answer = await client.get(url, headers=headers)
        statuses[str(answer.status_code)] += 1
        totals["bytes"] += len(answer.content)
        if "etag" in answer.headers:
            saved[url] = answer.headers["etag"]
        if with_extract and answer.status_code == 200 and "html" in answer.headers.get("content-type", ""):
            if pool is not None:
                words = await loop.run_in_executor(pool, _words, answer.text)
            else:
                words = await asyncio.to_thread(_words, answer.text)
            totals["extracted"] += 1
            totals["words"] += words

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, trust_env=False, timeout=60,
                                 headers={"User-Agent": USER_AGENT}) as client:
        started = time.perf_counter()
        await asyncio.gather(*(one(client, url) for url in urls))
        seconds = time.perf_counter() - started
    if pool is not None:
        pool.shutdown()
    return {"seconds": seconds, "statuses": dict(statuses), **totals, "etags": saved}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("urls", type=Path)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--etags", type=Path)
    parser.add_argument("--save-etags", type=Path)
    parser.add_argument("--extract", action="store_true")
    parser.add_argument("--workers", type=int, default=0, help="extraction processes (0: a thread here)")
    args = parser.parse_args(argv)
    urls = [line.strip() for line in args.urls.read_text(encoding="utf-8").splitlines() if line.strip()]
    etags = json.loads(args.etags.read_text(encoding="utf-8")) if args.etags else {}
    result = asyncio.run(_fetch_all(urls, args.concurrency, etags, args.extract, args.workers))
    saved = result.pop("etags")
    if args.save_etags:
        args.save_etags.write_text(json.dumps(saved), encoding="utf-8")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
