"""Documents are read in worker processes under a time limit: a document that takes too long
fails its own source with the reason, and every other source goes on."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import pytest

from monitor.offload import JUDGE, PER_WORKER, DocumentTimeout, Offload
from monitor.pipeline import Pipeline
from monitor.sources import reads_articles
from tests.conftest import ROOT, FixedClock, fixture_bytes, rss_source
from tests.support.server import Reply

RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}


def _big_feed(items: int) -> bytes:
    body = "".join(f"<item><title>Budget {n}</title><link>https://big.example/{n}</link>"
                   f"<description>{'council harbour budget ' * 30}</description></item>" for n in range(items))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Big</title>{body}</channel></rss>'.encode()


@pytest.fixture(scope="module")
def offload():
    with Offload(limit=1.0, workers=2) as pool:
        yield pool


def test_a_step_past_the_limit_is_abandoned_and_the_pool_goes_on(offload):
    async def go():
        # Standard-library steps: the workers need import nothing for them.
        slow = asyncio.ensure_future(offload(time.sleep, 30))  # would hold a worker for 30 s
        quick = await offload(abs, -3)
        with pytest.raises(DocumentTimeout, match="longer than 1 s"):
            await asyncio.wait_for(slow, 20)  # hang guard
        return quick, await offload(abs, -4)

    assert asyncio.run(go()) == (3, 4)


def test_a_worker_has_its_next_document_before_the_event_loop_is_free_to_send_it():
    # A poll's event loop is often busy (storing what came back); a worker that had to wait for
    # it to send the next document would idle meanwhile.
    async def go():
        with Offload(limit=10.0, workers=1) as one:
            await one(abs, -1)  # the pool is up
            first = asyncio.ensure_future(one(time.sleep, 0.3))
            second = asyncio.ensure_future(one(time.monotonic))  # when the worker got to it
            await asyncio.sleep(0.1)  # both handed over
            time.sleep(1.0)  # the loop is busy; the worker is not
            free = time.monotonic()
            await first
            return await second, free

    ran_at, loop_free_at = asyncio.run(go())
    assert ran_at < loop_free_at


def test_a_waiting_document_of_a_later_stage_goes_before_new_feeds():
    """An item already judged-bound is finished before another source's feed is read: served in
    arrival order, a cold poll read every feed before it judged (and so stored) its first item."""
    async def go():
        with Offload(limit=10.0, workers=1) as one:
            await one(abs, -1)  # the pool is up
            held = [asyncio.ensure_future(one(time.sleep, 0.3)) for _ in range(PER_WORKER)]  # all the worker's places
            await asyncio.sleep(0.1)
            feeds = [asyncio.ensure_future(one(time.monotonic)) for _ in range(3)]
            await asyncio.sleep(0)
            judged = asyncio.ensure_future(one(time.monotonic, stage=JUDGE))  # arrives last
            await asyncio.gather(*held)
            return await judged, await asyncio.gather(*feeds)

    judged_at, feeds_read_at = asyncio.run(go())
    assert judged_at < min(feeds_read_at)


def test_a_waiter_cancelled_in_the_queue_gives_up_no_place():
    async def go():
        with Offload(limit=10.0, workers=1) as one:
            await one(abs, -1)
            held = [asyncio.ensure_future(one(time.sleep, 0.2)) for _ in range(PER_WORKER)]
            await asyncio.sleep(0.05)
            gone = asyncio.ensure_future(one(abs, -2, stage=JUDGE))
            after = asyncio.ensure_future(one(abs, -3))
            await asyncio.sleep(0)
            gone.cancel()
            await asyncio.gather(*held)
            return await asyncio.wait_for(after, 10), await one(abs, -4), await one(abs, -5)

    assert asyncio.run(go()) == (3, 4, 5)


def test_the_limit_counts_a_documents_own_work_not_its_wait_behind_another():
    async def go():
        with Offload(limit=1.0, workers=1) as one:
            await one(abs, -1)
            ahead = asyncio.ensure_future(one(time.sleep, 0.7))
            behind = asyncio.ensure_future(one(time.sleep, 0.7))  # done 1.4 s after it was handed over
            return await asyncio.wait_for(asyncio.gather(ahead, behind), 20)

    assert asyncio.run(go()) == [None, None]


def test_a_document_that_takes_too_long_fails_only_its_source(server, store, make_fetcher):
    slow_source = rss_source("Huge", server.route("/huge", Reply(body=_big_feed(40_000), headers=RSS)))
    healthy = rss_source("Healthy", server.route("/feed", Reply(body=fixture_bytes("feeds/en-rss2.xml"),
                                                                headers=RSS)))

    async def go():
        with Offload(limit=0.2, workers=2) as tight:  # parsing 40,000 items takes seconds
            async with make_fetcher(max_body_mb=50) as fetcher:
                pipeline = Pipeline(fetcher=fetcher, store=store, now=FixedClock(), offload=tight)
                return await asyncio.wait_for(pipeline.poll_all([slow_source, healthy]), 60)

    huge, fine = asyncio.run(go())
    assert huge.status == "failing" and "longer than 0.2 s" in huge.error
    assert fine.status == "ok" and fine.new_items == 3
    assert "longer than 0.2 s" in store.source_state("Huge").last_error


def test_workers_start_with_the_shipped_topics_compiled():
    """The fork server compiles them once (monitor/preload.py), so a worker forked from it never
    spends its first half second compiling them, nor does a pool that replaces a killed one."""
    probe = "() in __import__('monitor.topics.match', fromlist=['_']).__dict__['_WORKER_MATCHERS']"

    async def go():
        with Offload(limit=30.0, workers=1) as one:
            return await one(eval, probe)

    assert asyncio.run(go()) is True


# In a process of its own: the fork server, and so what it preloaded, is one per process.
_EXTRACTION_PROBE = """
import asyncio, json, sys
from monitor.extract import extract
from monitor.offload import Offload
PAGE = ("<html><body><nav>Home | World</nav><article><h1>Children returned</h1><p>"
        + "Eleven children were brought back to Kherson on Tuesday, officials said. " * 8 + "</p></article></body></html>")

async def go(extraction):
    with Offload(limit=60.0, workers=1, extraction=extraction) as one:
        loaded = await one(eval, "'trafilatura' in __import__('sys').modules")
        return loaded, (await one(extract, PAGE)).text

print(json.dumps(asyncio.run(go(sys.argv[1] == "on"))))
"""


@pytest.mark.parametrize("extraction", ["on", "off"])
def test_the_extractor_is_preloaded_only_where_article_pages_are_read(extraction):
    """trafilatura costs the fork server ~0.3 s of CPU and its workers 30 MB: a configuration whose
    sources never read an article page (fetch_article: never) starts without it, and a page that
    comes anyway (a source added while the service runs) is still extracted."""
    done = subprocess.run([sys.executable, "-c", _EXTRACTION_PROBE, extraction], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, check=True)
    loaded, text = json.loads(done.stdout)
    assert loaded is (extraction == "on")
    assert "Eleven children were brought back to Kherson" in text and "Home | World" not in text


def test_a_configuration_reads_articles_unless_every_source_says_never():
    assert not reads_articles([rss_source("a", "https://a.example/feed", fetch_article="never")])
    assert reads_articles([rss_source("a", "https://a.example/feed", fetch_article="never"),
                           rss_source("b", "https://b.example/feed")])  # auto, the default
    assert not reads_articles([])


def _gone(pids: list[int], within: float = 30.0) -> bool:
    """Whether every process has exited (a worker is reaped by the fork server, a moment after)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        alive = []
        for pid in pids:
            try:
                os.kill(pid, 0)
                alive.append(pid)
            except ProcessLookupError:
                pass
        if not alive:
            return True
        time.sleep(0.05)
    return False


def test_workers_started_early_are_the_ones_that_read_the_first_document():
    """`monitor poll` of sources never polled starts the workers before the first answer comes
    (their imports overlap the fetches); the first document then finds them running."""
    one = Offload(limit=30.0, workers=1)
    one.start_early()  # no event loop needed, nothing waited for
    started = one._launch.result(timeout=60)
    early = [process.pid for process in started.executor._processes.values()]
    assert len(early) == 1

    async def go():
        return await one(os.getpid)

    with one:
        assert asyncio.run(go()) == early[0]
    assert _gone(early)


def test_closing_while_the_workers_are_still_starting_leaves_none_behind():
    one = Offload(limit=30.0, workers=2)
    one.start_early()
    launch = one._launch
    one.close()  # waits for the start under way, then shuts the pool down
    assert launch.done()
    assert launch.result().executor._shutdown_thread  # shut down, its workers joined
