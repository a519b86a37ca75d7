"""`type: page` (listing pages: selector, feed autodiscovery, link heuristic) and `monitor sources add`."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.article import complete_items
from monitor.commands.context import Context
from monitor.commands.sources_add import sources_add
from monitor.config import ConfigError, load_config, parse_config
from monitor.items import SourceState
from monitor.pipeline import Pipeline
from monitor.sources import source_type
from monitor.sources.page import PageOptions, article_links, parse_html, suggest_selector
from tests.conftest import FixedClock, fixture_bytes
from tests.support.hang import finishes_within
from tests.support.server import Reply

HTML = {"Content-Type": "text/html; charset=utf-8"}


def page_source(url: str, **options) -> PageOptions:
    return PageOptions(name="Listing", type="page", url=url, allow_private=True, **options)


def collect(source, make_fetcher, state=None):
    async def go():
        async with make_fetcher() as fetcher:
            return await source_type("page").collect(source, fetcher, state or SourceState(source.name))
    return asyncio.run(go())


def paths(items) -> list[str]:
    return [item.url.split("/", 3)[3] for item in items]


def test_selector_with_title_and_date(server, make_fetcher):
    url = server.route("/ukraine/", Reply(body=fixture_bytes("pages/listing-en.html"), headers=HTML))
    source = page_source(url, links="article.card h2 a, article.card h3 a", title=".card__title", date="time")
    collected = collect(source, make_fetcher)
    assert paths(collected.items) == [
        "ukraine/2026/11/24/eleven-children-brought-home",
        "ukraine/2026/11/23/power-restored-in-kharkiv?utm_source=section",  # fragment dropped, relative resolved
        "ukraine/2026/11/23/rada-passes-budget",
        "ukraine/2026/11/22/teenagers-abducted-from-occupied-luhansk",
        "ukraine/2026/11/21/grain-harvest-estimate",
    ]
    assert collected.items[2].url == "https://ledger.example/ukraine/2026/11/23/rada-passes-budget"  # absolute kept
    first, third, fourth, fifth = collected.items[0], collected.items[2], collected.items[3], collected.items[4]
    assert first.title == "Eleven children brought home after months in Russian camps"
    assert first.published == datetime(2026, 11, 24, 7, 30, tzinfo=timezone.utc)
    assert third.published == datetime(2026, 11, 23, 12, 40, tzinfo=timezone.utc)
    assert fourth.published == datetime(2026, 11, 22, 16, 15, tzinfo=timezone.utc)  # from the text
    assert fifth.published is None and fifth.title == "Grain harvest estimate raised for a second time"
    assert not any(item.content for item in collected.items)  # articles are fetched afterwards


def test_selector_on_cards_and_max_items(server, make_fetcher):
    url = server.route("/list", Reply(body=fixture_bytes("pages/listing-uk-with-feed.html"), headers=HTML))
    source = page_source(url, links="div.news-list .item", date=".time", max_items=2)
    items = collect(source, make_fetcher).items
    assert [i.title for i in items] == ["Із Росії повернули ще шістьох депортованих дітей",
                                        "Ціни на хліб у регіоні зросли на п'ять відсотків"]
    assert items[0].published == datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)
    assert server.requests_for("/news/rss.xml") == []  # a selector means the page itself is read


def test_selector_that_matches_nothing_fails_the_source(server, make_fetcher, store):
    url = server.route("/list", Reply(body=fixture_bytes("pages/listing-en.html"), headers=HTML))
    source = page_source(url, links="div.does-not-exist a")
    report = asyncio.run(_poll(source, make_fetcher, store))
    assert report.status == "failing" and "matches no link" in report.error


def test_feed_autodiscovery(server, make_fetcher):
    url = server.route("/news/", Reply(body=fixture_bytes("pages/listing-uk-with-feed.html"), headers=HTML))
    server.route("/news/rss.xml", Reply(body=fixture_bytes("feeds/en-rss2.xml"),
                                        headers={"Content-Type": "application/rss+xml"}))
    collected = collect(page_source(url), make_fetcher)
    assert len(collected.items) == 3 and collected.warning is None
    assert len(server.requests_for("/news/rss.xml")) == 1


def test_autodiscovered_feed_is_guarded(server, make_fetcher, caplog):
    # The page is a configured source (fetched as given); the feed it names on localhost is discovered.
    page = fixture_bytes("pages/listing-uk-with-feed.html").replace(
        b'href="/news/rss.xml"', f'href="{server.url("/news/rss.xml").replace("127.0.0.1", "localhost")}"'.encode())
    url = server.route("/news/", Reply(body=page, headers=HTML))
    server.route("/news/rss.xml", Reply(body=fixture_bytes("feeds/en-rss2.xml")))
    source = PageOptions(name="Listing", type="page", url=url)  # allow_private: false
    collected = collect(source, make_fetcher)
    assert server.requests_for("/news/rss.xml") == []
    assert "loopback" in collected.warning
    assert [i.title for i in collected.items][0] == "Із Росії повернули ще шістьох депортованих дітей"  # heuristic


def test_heuristic_without_selector_or_feed(server, make_fetcher):
    url = server.route("/news/", Reply(body=fixture_bytes("pages/listing-ru-no-feed.html"), headers=HTML))
    items = collect(page_source(url), make_fetcher).items
    assert paths(items) == ["news/2026-11-23/vyvezennye-deti", "news/2026-11-22/teatr",
                            "news/2026-11-21/ceny-na-benzin", "news/2026-11-20/deportaciya"]


def test_heuristic_skips_navigation_tags_pagination_and_other_sites():
    tree = parse_html(fixture_bytes("pages/listing-en.html"))
    links = article_links(tree, "https://ledger.example/ukraine/")
    assert [link.url.removeprefix("https://ledger.example/") for link in links] == [
        "ukraine/2026/11/24/eleven-children-brought-home",
        "ukraine/2026/11/23/power-restored-in-kharkiv?utm_source=section",
        "ukraine/2026/11/23/rada-passes-budget",
        "ukraine/2026/11/22/teenagers-abducted-from-occupied-luhansk",
        "ukraine/2026/11/21/grain-harvest-estimate",
    ]


@pytest.mark.parametrize("fixture, expected", [
    ("pages/listing-en.html", "article.card a"),  # the lead card too, whose title is an h2
    ("pages/listing-ru-no-feed.html", "a.t"),
])
def test_suggested_selector(fixture, expected):
    tree = parse_html(fixture_bytes(fixture))
    selector = suggest_selector(tree, "https://site.example/news/")
    assert selector is not None
    picked = tree.css(selector)
    assert len(picked) >= 3
    assert selector == expected


def test_bad_selectors_are_config_errors(tmp_path):
    text = "sources:\n  - name: L\n    type: page\n    url: https://x.example/\n    links: 'div[['\n"
    with pytest.raises(ConfigError) as error:
        parse_config(text, tmp_path / "sources.yaml")
    assert error.value.line == 5 and "not a valid CSS selector" in str(error.value)
    ok = parse_config(text.replace("'div[['", "'article h2 a'"), tmp_path / "sources.yaml")
    assert ok.sources[0].links == "article h2 a" and ok.sources[0].max_items == 100


async def _poll(source, make_fetcher, store):
    async with make_fetcher() as fetcher:
        return await Pipeline(fetcher=fetcher, store=store, now=FixedClock()).poll(source)


def test_page_source_through_the_pipeline_and_its_articles(server, make_fetcher, store):
    listing = fixture_bytes("pages/listing-ru-no-feed.html")
    url = server.route("/news/", Reply(body=listing, headers=HTML))
    for path, name in (("/news/2026-11-23/vyvezennye-deti", "ru-children-camps"),
                       ("/news/2026-11-22/teatr", "ru-theatre-premiere")):
        server.route(path, Reply(body=fixture_bytes(f"articles/{name}.html"), headers=HTML))
    source = page_source(url, links="a.t")
    first = asyncio.run(_poll(source, make_fetcher, store))
    assert (first.status, first.new_items) == ("ok", 4)
    second = asyncio.run(_poll(source, make_fetcher, store))
    assert second.status == "not_modified"  # same bytes

    async def articles():
        async with make_fetcher() as fetcher:
            collected = await source_type("page").collect(source, fetcher, SourceState("Listing"))
            return await complete_items(collected.items[:2], source, fetcher)
    camps, theatre = asyncio.run(articles())
    assert "Не менее сорока украинских детей" in camps.content and camps.lang == "ru"
    assert "Островского" in theatre.content and "Вывезенных" not in theatre.content


# --- monitor sources add ---------------------------------------------------------------------------

SOURCES_YAML = """\
# My sources: keep this comment.
settings:
  database: data/monitor.db   # relative to this file

sources:
  # --- English ---
  - name: Existing feed        # a comment on the entry
    type: rss
    url: https://ledger.example/rss.xml
    tags: [en, media]
"""


def add(tmp_path: Path, *args: str):
    context = Context(str(tmp_path / "sources.yaml"), "text", 0)
    return CliRunner().invoke(sources_add, list(args), obj=context)


def test_sources_add_proposes_the_advertised_feed(tmp_path, server):
    url = server.route("/news/", Reply(body=fixture_bytes("pages/listing-uk-with-feed.html"), headers=HTML))
    server.route("/news/rss.xml", Reply(body=fixture_bytes("feeds/uk-atom.xml"),
                                        headers={"Content-Type": "application/atom+xml"}))
    result = add(tmp_path, url)
    assert result.exit_code == 0, result.output
    assert "    type: rss\n" in result.stdout and f"    url: {server.url('/news/rss.xml')}\n" in result.stdout
    assert "allow_private: true" in result.stdout  # the URL given is on this machine


def test_sources_add_proposes_a_page_with_a_selector_and_writes_it(tmp_path, server):
    config = tmp_path / "sources.yaml"
    config.write_text(SOURCES_YAML, encoding="utf-8")
    url = server.route("/ukraine/", Reply(body=fixture_bytes("pages/listing-en.html"), headers=HTML))
    result = add(tmp_path, url, "--write")
    assert result.exit_code == 0, result.output
    written = config.read_text(encoding="utf-8")
    assert written.startswith(SOURCES_YAML)  # comments, order and layout untouched
    assert written[len(SOURCES_YAML):] == (
        "\n  - name: Northern Ledger\n    type: page\n"
        f"    url: {url}\n    links: article.card a\n    tags: [en]\n    allow_private: true\n")
    loaded = load_config(config)
    assert [s.type for s in loaded.sources] == ["rss", "page"] and loaded.sources[1].links == "article.card a"

    again = add(tmp_path, url, "--write")  # the same URL twice is refused (exit 2), the file untouched
    assert again.exit_code == 2 and "already configured as source 'Northern Ledger'" in again.stderr
    assert config.read_text(encoding="utf-8") == written
    other = server.route("/world/", Reply(body=fixture_bytes("pages/listing-en.html"), headers=HTML))
    another = add(tmp_path, other, "--write")  # another listing of the same site gets a distinct name
    assert another.exit_code == 0, another.output
    assert [s.name for s in load_config(config).sources] == ["Existing feed", "Northern Ledger", "Northern Ledger (2)"]


def test_sources_add_recognises_feeds_sitemaps_and_telegram(tmp_path, server):
    feed = server.route("/rss.xml", Reply(body=fixture_bytes("feeds/ru-rss1.xml"),
                                          headers={"Content-Type": "application/rdf+xml"}))
    sitemap = server.route("/sitemap.xml", Reply(body=fixture_bytes("sitemaps/news.xml"),
                                                 headers={"Content-Type": "application/xml"}))
    channel = server.route("/s/test_ombudsman_ua", Reply(body=fixture_bytes("telegram/channel-uk.html"), headers=HTML))
    for url, kind in ((feed, "rss"), (sitemap, "sitemap"), (channel, "telegram")):
        result = add(tmp_path, url, "--name", f"My {kind}")
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith(f"  - name: My {kind}\n    type: {kind}\n    url: {url}\n")


def test_sources_add_refuses_bad_input(tmp_path, server):
    assert add(tmp_path, "ftp://x.example/").exit_code == 2
    assert add(tmp_path, server.url("/x"), "--write").exit_code == 2  # no sources.yaml to write to
    missing = add(tmp_path, server.url("/missing"))
    assert missing.exit_code == 1 and "404" in missing.output


def test_article_links_of_a_page_are_guarded(server, make_fetcher):
    """The listing is configured (fetched as given); the article links found on it are not fetched
    when they lead to this machine and the source has not opted in with allow_private."""
    url = server.route("/news/", Reply(body=fixture_bytes("pages/listing-ru-no-feed.html"), headers=HTML))
    article = server.route("/news/2026-11-23/vyvezennye-deti",
                           Reply(body=fixture_bytes("articles/ru-children-camps.html"), headers=HTML))
    source = PageOptions(name="Listing", type="page", url=url, links="a.t", fetch_article="always")

    async def go():
        async with make_fetcher() as fetcher:
            collected = await source_type("page").collect(source, fetcher, SourceState("Listing"))
            return collected.items, await complete_items(collected.items, source, fetcher)

    items, completed = asyncio.run(go())
    assert completed == items and items[0].url == article
    assert [r.path for r in server.requests if r.path != "/robots.txt"] == ["/news/"]


# --- a listing with thousands of matches: read in linear time (issue 10.2) ------------------------

def _listing(count: int) -> bytes:
    """`count` cards of one list, each a heading link and a date: 16,000 took 106 s to read."""
    cards = "".join(f'<li class="card"><h3><a href="/news/{i}/children-returned-home-{i}">Children returned home, '
                    f'report {i}</a></h3><time datetime="2026-11-{1 + i % 28:02d}T10:00:00Z">{i}</time></li>'
                    for i in range(count))
    return f'<html><body><nav><a href="/">Home</a></nav><ul class="list">{cards}</ul></body></html>'.encode()


def _read_listing(count: int, links: str, title: str | None, date: str | None) -> list[tuple[str, str, str]]:
    from monitor.sources.page import read_page
    page = read_page(_listing(count), "text/html; charset=utf-8", "https://ledger.example/news/", links, title, date)
    return [(link.url, link.title, link.published.isoformat() if link.published else "") for link in page.links]


@pytest.mark.parametrize("links, title, date", [("li.card a", None, None), ("li.card", "h3", "time")])
def test_16000_selected_links_are_read_in_linear_time(links, title, date):
    read = finishes_within(20, _read_listing, 16_000, links, title, date)
    assert len(read) == 16_000
    assert read[0][:2] == ("https://ledger.example/news/0/children-returned-home-0", "Children returned home, report 0")
    assert read[-1][0] == "https://ledger.example/news/15999/children-returned-home-15999"
    if date:  # each card's own date: the card is the list item, not the list holding them all
        assert read[1][2] == "2026-11-02T10:00:00+00:00" and read[-1][2] == "2026-11-12T10:00:00+00:00"


def test_max_items_applies_while_the_page_is_read(server, make_fetcher):
    url = server.route("/news/", Reply(body=_listing(3_000), headers=HTML))
    items = collect(page_source(url, links="li.card", title="h3", date="time", max_items=40), make_fetcher).items
    assert [item.title for item in items] == [f"Children returned home, report {i}" for i in range(40)]
    from monitor.sources.page import selected_links
    tree = parse_html(_listing(3_000))
    assert selected_links(tree, url, "li.card", "h3", "time", limit=40) == selected_links(tree, url, "li.card", "h3",
                                                                                          "time")[:40]


def _heuristic_listing(feeds: int, links: int) -> tuple[int, int]:
    """The page read without links: (the feeds it advertises, and the same-site heuristic), with
    `feeds` feeds (50,000 took 26 s to list) and `links` article links inside a deep layout."""
    from monitor.sources.page import read_page
    head = "".join(f'<link rel="alternate" type="application/rss+xml" href="/feed/{i}.xml">' for i in range(feeds))
    cards = "".join(f'<p><a href="/news/{i}/children-returned-home-{i}">Children returned home, report {i}</a></p>'
                    for i in range(links))
    body = f"<html><head>{head}</head><body><nav><a href='/'>Home</a></nav>{'<div>' * 200}{cards}</body></html>"
    page = read_page(body.encode(), "text/html", "https://ledger.example/news/", None, None, None)
    return len(page.feeds), len(page.links)


def test_heuristic_on_a_page_of_50000_feeds_and_16000_deep_links_is_linear():
    assert finishes_within(20, _heuristic_listing, 50_000, 16_000) == (50_000, 16_000)
