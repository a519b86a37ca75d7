"""Where a poll's new items are judged (topic match and story signature, monitor/judge.py): on a
source's first poll, in the worker call that parsed its feed (every item is new); on later polls,
only the items the store does not know; and an item whose article page is read, on that page's
text. The verdicts are those of a poll that judges everything in its own process."""

from __future__ import annotations

import asyncio
from contextlib import closing

from monitor.dedup import load_index
from monitor.judge import read_and_judge
from monitor.offload import READ
from monitor.pipeline import Pipeline
from monitor.sources.rss import parse_feed
from monitor.store import Store
from monitor.topics import LazyMatcher
from tests.conftest import FixedClock, fixture_bytes, rss_source
from tests.support.server import Reply

FEED = "application/rss+xml; charset=utf-8"
PAGE = "text/html; charset=utf-8"


class recording:
    """A runner that runs each step here, at once (as `inline` does), and notes which step it was
    given and with what: the pipeline sends it what it would send its document workers. `limit`:
    the per-document time limit it claims (as monitor.offload.Offload has one)."""

    def __init__(self, calls: list[tuple[str, tuple]], limit: float | None = None):
        self.calls = calls
        if limit is not None:
            self.limit = limit

    async def __call__(self, fn, *args, stage: int = READ):
        self.calls.append((getattr(fn, "name", None) or fn.__name__, args))
        return fn(*args)


def poll(store: Store, sources, make_fetcher, offload=None, fetch_articles: bool = False):
    async def go():
        async with make_fetcher() as fetcher:
            pipeline = Pipeline(fetcher=fetcher, store=store, now=FixedClock(), matcher=LazyMatcher({}),
                                stories=load_index(store, FixedClock()()), fetch_articles=fetch_articles,
                                **({"offload": offload} if offload else {}))
            return await pipeline.poll_all(sources)
    reports = asyncio.run(go())
    assert all(report.status in ("ok", "not_modified") for report in reports), reports
    return reports


def judged(store: Store) -> list[tuple]:
    """What the poll decided of each item: its key, language, story signature, topics and terms."""
    return store.db.execute(
        """SELECT i.key, i.lang, i.signature, m.topic, m.terms, m.snippet FROM items i
           LEFT JOIN matches m ON m.item_id = i.id ORDER BY i.key""").fetchall()


def feeds(server) -> list:
    for name in ("en-rss2", "ru-rss1"):
        server.route(f"/{name}.xml", Reply(body=fixture_bytes(f"feeds/{name}.xml"), headers={"Content-Type": FEED}))
    return [rss_source("Ledger", server.url("/en-rss2.xml")), rss_source("Pravda", server.url("/ru-rss1.xml"))]


def test_a_first_poll_judges_each_item_in_the_call_that_parsed_its_feed(tmp_path, server, make_fetcher):
    sources = feeds(server)
    calls: list[tuple[str, tuple]] = []
    with closing(Store(tmp_path / "workers.db")) as beside, closing(Store(tmp_path / "inline.db")) as inline:
        poll(beside, sources, make_fetcher, recording(calls))
        poll(inline, sources, make_fetcher)
        assert sorted(name for name, _ in calls) == ["read_and_judge", "read_and_judge"]  # no judge_batch
        assert judged(beside) == judged(inline)
        assert sum(1 for row in judged(beside) if row[3]) >= 2 and all(row[1] for row in judged(beside) if row[3])


def test_a_later_poll_judges_only_the_items_the_store_does_not_know(tmp_path, server, make_fetcher):
    feed = fixture_bytes("feeds/en-rss2.xml")
    grown = feed.replace(b"  </channel>", b"""    <item>
      <title>Four more deported children brought back from Russia</title>
      <link>https://ledger.example/ukraine/four-more-returned</link>
      <description>Four Ukrainian children deported to Russia were returned to their families.</description>
    </item>
  </channel>""")
    bodies = iter([feed, grown])
    server.route("/en.xml", lambda request: Reply(body=next(bodies), headers={"Content-Type": FEED}))
    calls: list[tuple[str, tuple]] = []
    with closing(Store(tmp_path / "monitor.db")) as store:
        poll(store, [rss_source("Ledger", server.url("/en.xml"))], make_fetcher, recording(calls))
        calls.clear()
        poll(store, [rss_source("Ledger", server.url("/en.xml"))], make_fetcher, recording(calls))
        assert [name for name, _ in calls] == ["parse_feed", "judge_batch"]
        _, (_, texts) = calls[1]
        assert [title for title, _, _ in texts] == ["Four more deported children brought back from Russia"]
        matched = {row[0] for row in judged(store) if row[3]}
        assert "https://ledger.example/ukraine/four-more-returned" in matched


def test_an_item_whose_article_page_is_read_is_judged_on_that_page(tmp_path, server, make_fetcher):
    """With fetch_article: always the feed's text is not final: nothing is judged beside the parse."""
    article = ("<html><head><title>Budget</title></head><body><nav>Home · World</nav><article><h1>Budget talks"
               "</h1>" + "<p>Officials said that Russia deported forty Ukrainian children from occupied Kherson "
               "to camps in Crimea, and that investigators documented every transfer.</p>" * 12
               + "</article></body></html>").encode()
    server.route("/page", Reply(body=article, headers={"Content-Type": PAGE}))
    server.route("/feed.xml", Reply(headers={"Content-Type": FEED}, body=f"""<?xml version="1.0"?>
<rss version="2.0"><channel><title>Wire</title><link>{server.url('/')}</link><description>d</description>
<item><title>Budget talks</title><link>{server.url('/page')}</link><description>Lawmakers met.</description></item>
</channel></rss>""".encode()))
    source = rss_source("Wire", server.url("/feed.xml"), fetch_article="always", allow_private=True)
    calls: list[tuple[str, tuple]] = []
    with closing(Store(tmp_path / "monitor.db")) as store:
        poll(store, [source], make_fetcher, recording(calls), fetch_articles=True)
        names = [name for name, _ in calls]
        assert names[0] == "read_and_judge" and names[-1] == "judge_batch"
        _, (_, texts) = calls[-1]
        assert len(texts) == 1 and "forty Ukrainian children" in texts[0][2]
        assert [row[3] for row in judged(store)] != [None]  # matched on the page's text, not the feed's


def test_judging_beside_the_parse_keeps_within_its_share_of_the_time_limit(tmp_path, server, make_fetcher):
    """Past half the document's time limit the rest is judged in a call of its own: a big feed's
    first poll is not failed for its judging."""
    body = fixture_bytes("feeds/en-rss2.xml")
    _, everything = read_and_judge((), "never", None, parse_feed, body, "https://ledger.example/feed")
    _, nothing = read_and_judge((), "never", 0.0, parse_feed, body, "https://ledger.example/feed")
    assert len(everything) == 3 and nothing == {}

    sources = feeds(server)
    calls: list[tuple[str, tuple]] = []
    with closing(Store(tmp_path / "late.db")) as late, closing(Store(tmp_path / "inline.db")) as inline:
        poll(late, sources, make_fetcher, recording(calls, limit=1e-9))
        poll(inline, sources, make_fetcher)
        assert sorted(name for name, _ in calls) == ["judge_batch", "judge_batch", "read_and_judge", "read_and_judge"]
        assert judged(late) == judged(inline)
