"""A page's rel=canonical names the article only when it is an article's own URL: three articles
whose pages all point their canonical at the homepage or a section stay three items."""

from __future__ import annotations

import asyncio

import pytest

from monitor.items import Item
from monitor.pipeline import Pipeline
from monitor.urls import names_an_article
from tests.conftest import FixedClock, rss_source
from tests.support.server import Reply

HTML = {"Content-Type": "text/html; charset=utf-8"}
RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}


@pytest.mark.parametrize("canonical, expected", [
    ("https://news.example/2026/11/returned-children", True),
    ("https://news.example/amp/2026/11/returned-children", True),     # another article URL
    ("https://news.example/", False),                                 # the site's root
    ("https://news.example", False),
    ("https://news.example/2026/", False),                            # a section it sits in
    ("https://elsewhere.example/2026/11/returned-children", False),   # another site
])
def test_which_canonicals_name_the_article(canonical, expected):
    assert names_an_article(canonical, "https://news.example/2026/11/returned-children") is expected


def _page(title: str, canonical: str) -> bytes:
    body = " ".join([f"{title}: a long report on the council's harbour budget and its schools."] * 40)
    return (f'<html><head><title>{title}</title><link rel="canonical" href="{canonical}"></head>'
            f"<body><article><h1>{title}</h1><p>{body}</p></article></body></html>").encode()


@pytest.mark.parametrize("canonical_path", ["/", "/news/", "/shared-canonical"])
def test_articles_whose_pages_share_a_canonical_stay_distinct(server, store, make_fetcher, canonical_path):
    base = server.url("")
    links = []
    for n in range(3):
        links.append(server.route(f"/news/story-{n}", Reply(body=_page(f"Story {n}", base.rstrip("/") + canonical_path),
                                                             headers=HTML)))
    items = "".join(f"<item><title>Story {n}</title><link>{link}</link><description>Teaser {n}</description></item>"
                    for n, link in enumerate(links))
    feed = server.route("/feed", Reply(body=f'<rss version="2.0"><channel>{items}</channel></rss>'.encode(),
                                       headers=RSS))
    source = rss_source("Local news", feed, allow_private=True)

    async def poll():
        async with make_fetcher() as fetcher:
            return await Pipeline(fetcher=fetcher, store=store, now=FixedClock(), fetch_articles=True).poll(source)

    first = asyncio.run(poll())
    assert first.status == "ok" and first.new_items == 3
    assert sorted(row["url"] for row in store.items()) == sorted(links)
    fetched = sum(len(server.requests_for(f"/news/story-{n}")) for n in range(3))
    server.route("/feed", Reply(body=f'<rss version="2.0"><channel>{items}<!-- again --></channel></rss>'.encode(),
                                headers=RSS))
    second = asyncio.run(poll())
    assert second.new_items == 0
    # Known by their links: no article is fetched again.
    assert sum(len(server.requests_for(f"/news/story-{n}")) for n in range(3)) == fetched


def test_an_article_canonical_still_joins_its_copy():
    item = Item(url="https://news.example/amp/x", title="t", canonical="https://news.example/2026/x")
    assert item.key("s") == "https://news.example/2026/x"
