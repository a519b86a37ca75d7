"""Another outlet's link to an article, stored first without a match, must not hide the article's
own report: when the publisher's feed brings the same URL and it matches, the story is matched."""

from __future__ import annotations

import asyncio

from monitor.pipeline import Pipeline
from monitor.topics import build_matcher
from tests.conftest import FixedClock, rss_source
from tests.support.server import Reply

RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}
ARTICLE = "https://ledger.example/2026/11/deported-kherson-12"


def _feed(title: str, description: str, link: str) -> bytes:
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><title>{title}</title>'
            f"<link>{link}</link><description>{description}</description></item></channel></rss>").encode()


def test_the_publishers_matching_report_is_matched_when_a_link_to_it_came_first(server, store, make_fetcher):
    herald = rss_source("Herald", server.route("/herald", Reply(
        body=_feed("From the wires", "Read the full story at our partner.", ARTICLE + "?utm_source=herald"),
        headers=RSS)))
    ledger = rss_source("Ledger", server.route("/ledger", Reply(
        body=_feed("Russia deported 12 Ukrainian children from occupied Kherson",
                   "Officials say twelve children were taken from an orphanage in occupied Kherson and moved "
                   "to a camp in Russia.", ARTICLE), headers=RSS)))

    async def poll(source):
        async with make_fetcher() as fetcher:
            return await Pipeline(fetcher=fetcher, store=store, now=FixedClock(), matcher=build_matcher()).poll(source)

    first = asyncio.run(poll(herald))
    assert first.new_items == 1 and first.matched_ids == ()
    second = asyncio.run(poll(ledger))
    assert second.new_items == 0 and len(second.matched_ids) == 1  # the same article: matched now, alerted
    [item_id] = second.matched_ids
    assert store.db.execute("SELECT topic FROM matches WHERE item_id = ?", [item_id]).fetchall() == [
        ("deported-children",)]
    assert store.unclaimed_item_ids("daily", "files") == [item_id]   # it reaches the digest
    third = asyncio.run(poll(ledger))                                 # and only once
    assert third.matched_ids == ()
    row = store.db.execute("SELECT source, title FROM items WHERE id = ?", [item_id]).fetchone()
    assert row == ("Ledger", "Russia deported 12 Ukrainian children from occupied Kherson")  # the report, not the link
