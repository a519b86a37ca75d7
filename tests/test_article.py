"""Full articles for feed items: fetch_article policies, main text only, metadata filled, failures kept."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime, timezone

import pytest

from monitor.article import FULL_TEXT_WORDS, complete_items, needs_article
from monitor.items import Item, SourceState
from monitor.sources.rss import RssSource
from tests.conftest import fixture_bytes, rss_source
from tests.support.server import Reply
from tests.test_extract import comment_texts, link_texts

HTML = {"Content-Type": "text/html; charset=utf-8"}
# Stems of the topic's crime words in the three languages: none may reach an unrelated article's text.
TOPIC_STEMS = re.compile(r"deport|abduct|forcibl|депорт|викрад|вивез|вывез|похищ|похит", re.IGNORECASE)

# path → (fixture, on topic?, topic words its main text must carry)
SITE = {
    "/en/children-returned": ("en-children-returned.html", True, ["deported to Russia", "occupied", "children"]),
    "/uk/children-returned": ("uk-children-returned.html", True, ["вивезли до Росії", "депортацію дітей"]),
    "/ru/children-camps": ("ru-children-camps.html", True, ["депортированных в Россию", "оккупированной"]),
    "/en/bridge": ("en-bridge-reopens.html", False, []),
    "/uk/heating": ("uk-heating-season.html", False, []),
    "/ru/theatre": ("ru-theatre-premiere.html", False, []),
}
# What the feed says of each: nothing of the topic, as many feeds carry only a bland first line.
TEASERS = ["Officials in Kyiv gave an update on Tuesday.", "Новини регіону за вівторок.",
           "Подробности в материале.", "City news in brief.", "Коротко про головне в місті.",
           "Культурная жизнь области."]


def feed_for(server, paths) -> bytes:
    entries = "".join(
        f"<item><title>Story {n}</title><link>{server.url(path)}</link><guid>{path}</guid>"
        f"<description>{teaser}</description></item>" for n, (path, teaser) in enumerate(zip(paths, TEASERS)))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Site</title>{entries}</channel></rss>'.encode()


def run(coro_factory, make_fetcher, **settings):
    async def go():
        async with make_fetcher(**settings) as fetcher:
            return await coro_factory(fetcher)
    return asyncio.run(go())


def test_end_to_end_auto_reads_main_text_only(server, make_fetcher):
    """Acceptance (at this level): teaser-only feed items get their article's main text; sidebars,
    related links, "read also" lines and comments that point at on-topic stories never count."""
    for path, (name, _, _) in SITE.items():
        server.route(path, Reply(body=fixture_bytes(f"articles/{name}"), headers=HTML))
    server.route("/feed.xml", Reply(body=feed_for(server, list(SITE)), headers={"Content-Type": "application/rss+xml"}))
    source = rss_source("Site", server.url("/feed.xml"), fetch_article="auto", allow_private=True)

    async def poll(fetcher):
        collected = await RssSource().collect(source, fetcher, SourceState("Site"))
        return await complete_items(collected.items, source, fetcher)

    items = run(poll, make_fetcher)
    assert len(items) == len(SITE)
    for item, (path, (name, on_topic, words)) in zip(items, SITE.items()):
        assert item.summary in TEASERS and not TOPIC_STEMS.search(item.summary)  # the feed said nothing
        html = fixture_bytes(f"articles/{name}")
        for text in link_texts(html) + comment_texts(html):
            assert text not in item.content, f"{name}: {text!r} counted as main text"
        if on_topic:
            for word in words:
                assert word in item.content, f"{name}: {word!r} missing from the main text"
        else:
            assert not TOPIC_STEMS.search(item.content), f"{name}: {TOPIC_STEMS.search(item.content)[0]!r}"
        assert item.canonical and item.lang in ("en", "uk", "ru") and item.published is not None
        assert len(server.requests_for(path)) == 1


def test_metadata_fills_only_what_the_feed_lacked(server, make_fetcher):
    server.route("/a", Reply(body=fixture_bytes("articles/uk-children-returned.html"), headers=HTML))
    bare = Item(url=server.url("/a"), title="")
    titled = Item(url=server.url("/a"), title="Заголовок зі стрічки",
                  published=datetime(2026, 11, 24, 8, 0, tzinfo=timezone.utc), author="Редакція")
    source = rss_source("S", server.url("/feed"), allow_private=True)
    first, second = run(lambda f: complete_items([bare, titled], source, f), make_fetcher)
    assert first.title == "Із Росії повернули ще шістьох депортованих дітей"
    assert first.published == datetime.fromisoformat("2026-11-24T09:30:00+02:00")
    assert first.author == "Ірина Коваль" and first.lang == "uk"
    assert first.canonical == "https://visti.example/news/2026/11/24/povernuly-ditey"
    assert (second.title, second.author) == ("Заголовок зі стрічки", "Редакція")
    assert second.published == datetime(2026, 11, 24, 8, 0, tzinfo=timezone.utc)
    assert second.content == first.content and "шістьох дітей" in second.content


def test_policies(server, make_fetcher):
    server.route("/a", Reply(body=fixture_bytes("articles/en-bridge-reopens.html"), headers=HTML))
    full = " ".join(["word"] * FULL_TEXT_WORDS)
    teaser = Item(url=server.url("/a"), title="t", summary="Short teaser.")
    complete = Item(url=server.url("/a"), title="t", content=full)
    cut = Item(url=server.url("/a"), title="t", summary=full + " and so on […]")
    assert [needs_article(i, "auto") for i in (teaser, complete, cut)] == [True, False, True]
    assert [needs_article(i, "always") for i in (teaser, complete, cut)] == [True, True, True]
    assert [needs_article(i, "never") for i in (teaser, complete, cut)] == [False, False, False]
    assert not needs_article(Item(url="", title="no link"), "always")

    never = rss_source("S", server.url("/f"), fetch_article="never", allow_private=True)
    assert run(lambda f: complete_items([teaser], never, f), make_fetcher) == [teaser]
    assert server.requests_for("/a") == []
    auto = rss_source("S", server.url("/f"), fetch_article="auto", allow_private=True)
    assert run(lambda f: complete_items([complete], auto, f), make_fetcher) == [complete]
    assert server.requests_for("/a") == []
    always = rss_source("S", server.url("/f"), fetch_article="always", allow_private=True)
    done = run(lambda f: complete_items([complete], always, f), make_fetcher)
    # The page's main text replaces the feed's; the feed's title stays; what the feed lacked is filled.
    [article] = done
    assert article.title == "t"
    assert article.content.startswith("River bridge reopens to traffic two months ahead of schedule\n")
    assert "The main road bridge across the river in the city centre reopened" in article.content
    assert "word word" not in article.content and not TOPIC_STEMS.search(article.content)
    assert article.author == "Daniel Roe"
    assert len(server.requests_for("/a")) == 1


@pytest.mark.parametrize("reply", [
    Reply(404, b"not found"),
    Reply(500, b"oops"),
    Reply(200, b"%PDF-1.7 binary", {"Content-Type": "application/pdf"}),
    Reply(200, b"\x89PNG....", {"Content-Type": "image/png"}),
    Reply(200, b"", HTML),
    Reply(200, b"<html><body><p>late</p></body></html>", HTML, delay=2.0),  # beyond the read timeout
])
def test_a_failed_article_keeps_the_item(server, make_fetcher, reply):
    server.route("/a", reply)
    item = Item(url=server.url("/a"), title="Feed title", summary="Feed teaser.")
    source = rss_source("S", server.url("/f"), fetch_article="always", allow_private=True)
    assert run(lambda f: complete_items([item], source, f), make_fetcher) == [item]


def test_articles_are_fetched_concurrently(server, make_fetcher):
    page = fixture_bytes("articles/en-bridge-reopens.html")
    for n in range(6):
        server.route(f"/slow/{n}", Reply(body=page, headers=HTML, delay=0.4))
    items = [Item(url=server.url(f"/slow/{n}"), title="") for n in range(6)]
    source = rss_source("S", server.url("/f"), fetch_article="auto", allow_private=True)
    started = time.monotonic()
    done = run(lambda f: complete_items(items, source, f), make_fetcher, per_host_concurrency=6, read_timeout="3s")
    assert time.monotonic() - started < 1.6  # one after another would take 2.4 s
    assert [i.url for i in done] == [i.url for i in items] and all(i.content for i in done)


def test_misdeclared_charset_of_an_article(server, make_fetcher):
    html = fixture_bytes("articles/ru-children-camps.html").decode().replace("charset=utf-8", "charset=windows-1251")
    server.route("/a", Reply(body=html.encode("windows-1251"), headers={"Content-Type": "text/html; charset=utf-8"}))
    source = rss_source("S", server.url("/f"), allow_private=True)
    [item] = run(lambda f: complete_items([Item(url=server.url("/a"), title="")], source, f), make_fetcher)
    assert "Не менее сорока украинских детей" in item.content


def test_redirected_article_records_where_it_ended(server, make_fetcher):
    html = fixture_bytes("articles/ru-theatre-premiere.html")  # declares no canonical URL
    final = server.route("/news/final", Reply(body=html, headers=HTML))
    server.route("/go", Reply(301, headers={"Location": "/news/final"}))
    source = rss_source("S", server.url("/f"), allow_private=True)
    [item] = run(lambda f: complete_items([Item(url=server.url("/go"), title="")], source, f), make_fetcher)
    assert item.url == server.url("/go") and item.canonical == final


def test_pipeline_matches_on_main_text_only(server, store, make_fetcher):
    """Acceptance: through the real pipeline (fetch_article: auto, the shipped topic), unrelated
    articles whose sidebars link to on-topic stories give zero matches, and on-topic articles whose
    feed teaser says nothing of the topic are all matched."""
    from monitor.pipeline import Pipeline
    from monitor.topics import Matcher, default_topics

    for path, (name, _, _) in SITE.items():
        server.route(path, Reply(body=fixture_bytes(f"articles/{name}"), headers=HTML))
    server.route("/feed.xml", Reply(body=feed_for(server, list(SITE)), headers={"Content-Type": "application/rss+xml"}))
    source = rss_source("Site", server.url("/feed.xml"), fetch_article="auto", allow_private=True)
    matcher = Matcher(default_topics())

    report = run(lambda fetcher: Pipeline(fetcher=fetcher, store=store, matcher=matcher, fetch_articles=True).poll(source), make_fetcher)
    matched_urls = {row["url"] for row in store.db.query(
        "SELECT i.url FROM items i JOIN matches m ON m.item_id = i.id")}
    expected = {server.url(path) for path, (_, on_topic, _) in SITE.items() if on_topic}
    assert report.new_items == len(SITE)
    assert matched_urls == expected
    # Without the article, the teasers alone match nothing: the full text is what found them.
    assert not any(matcher.classify("Story", teaser).match for teaser in TEASERS)
