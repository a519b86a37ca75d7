"""`type: sitemap`: plain, Google News, index (newest children first), gzip'd, guarded, capped."""

from __future__ import annotations

import asyncio
import gzip
from datetime import datetime, timezone

import pytest

from monitor.items import SourceState
from monitor.pipeline import Pipeline
from monitor.sources import SourceError, source_type
from monitor.sources.sitemap import SitemapOptions, parse_sitemap
from tests.conftest import FixedClock, fixture_bytes
from tests.support.server import Reply

XML = {"Content-Type": "application/xml"}


def sitemap_source(url: str, **options) -> SitemapOptions:
    return SitemapOptions(name="Sitemap", type="sitemap", url=url, **{"allow_private": True, **options})


def collect(source, make_fetcher, state=None, **settings):
    async def go():
        async with make_fetcher(**settings) as fetcher:
            return await source_type("sitemap").collect(source, fetcher, state or SourceState(source.name))
    return asyncio.run(go())


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def test_plain_sitemap_newest_first(server, make_fetcher):
    url = server.route("/sitemap.xml", Reply(body=fixture_bytes("sitemaps/plain.xml"), headers=XML))
    items = collect(sitemap_source(url), make_fetcher).items
    assert [(i.url.rsplit("/", 1)[-1], i.published) for i in items] == [
        ("povernuly-ditey", datetime.fromisoformat("2026-11-24T09:30:00+02:00")),
        ("tsiny-na-khlib", utc(2026, 11, 23, 15, 5)),
        ("opalennia", utc(2026, 11, 22)),
        ("pro-nas", None),  # undated last; the javascript: entry is gone
    ]
    assert all(i.title == "" for i in items)  # no title in a plain sitemap; the article fills it


def test_google_news_sitemap(server, make_fetcher):
    url = server.route("/news-sitemap.xml", Reply(body=fixture_bytes("sitemaps/news.xml"), headers=XML))
    items = collect(sitemap_source(url), make_fetcher).items
    assert [(i.title, i.lang, i.published.isoformat()) for i in items] == [
        ("Children taken from Kherson region held in camps near Moscow", "en", "2026-11-23T19:30:00+03:00"),
        ("Вывезенных из Херсонской области детей держат в лагерях под Москвой", "ru", "2026-11-23T18:45:00+03:00"),
        ("В драмтеатре показали премьеру по пьесе Островского", "ru", "2026-11-22T20:10:00+03:00"),
    ]
    assert items[1].url == "https://pravo.example/news/2026-11-23/vyvezennye-deti"  # not the image's loc


def index_routes(server, child_gzip_encoding: bool = False) -> str:
    base = server.url("").rstrip("/")
    server.route("/sitemap-index.xml", Reply(body=fixture_bytes("sitemaps/index.xml").replace(b"BASE", base.encode()),
                                             headers=XML))
    server.route("/sitemaps/2026-09.xml", Reply(body=fixture_bytes("sitemaps/2026-09.xml"), headers=XML))
    if child_gzip_encoding:  # compressed in transit instead of as a file
        server.route("/sitemaps/2026-10.xml", Reply(body=gzip.compress(fixture_bytes("sitemaps/2026-10.xml")),
                                                    headers={**XML, "Content-Encoding": "gzip"}))
    else:
        server.route("/sitemaps/2026-10.xml", Reply(body=fixture_bytes("sitemaps/2026-10.xml"), headers=XML))
    # A .xml.gz file as such servers send it: gzip bytes, no Content-Encoding.
    server.route("/sitemaps/2026-11.xml.gz", Reply(body=gzip.compress(fixture_bytes("sitemaps/2026-11.xml")),
                                                   headers={"Content-Type": "application/x-gzip"}))
    return server.url("/sitemap-index.xml")


@pytest.mark.parametrize("in_transit", [False, True])
def test_index_reads_the_newest_children_gzip_included(server, make_fetcher, in_transit):
    url = index_routes(server, in_transit)
    items = collect(sitemap_source(url, max_sitemaps=2), make_fetcher).items
    assert [i.url.removeprefix("https://ledger.example/ukraine/2026/") for i in items] == [
        "11/20/second-story-of-the-month", "11/05/first-story-of-the-month",
        "10/20/second-story-of-the-month", "10/05/first-story-of-the-month",
    ]
    assert server.requests_for("/sitemaps/2026-09.xml") == []  # the oldest is not read


def test_gzipped_sitemap_as_the_source_itself(server, make_fetcher):
    url = server.route("/sitemap.xml.gz", Reply(body=gzip.compress(fixture_bytes("sitemaps/news.xml")),
                                                headers={"Content-Type": "application/gzip"}))
    assert len(collect(sitemap_source(url), make_fetcher).items) == 3


def test_gzip_bomb_stops_at_the_cap(server, make_fetcher):
    bomb = gzip.compress(b"<urlset>" + b" " * (3 * 1024 * 1024) + b"</urlset>")
    url = server.route("/bomb.xml.gz", Reply(body=bomb, headers={"Content-Type": "application/gzip"}))
    with pytest.raises(SourceError, match="larger than"):
        collect(sitemap_source(url), make_fetcher, max_body_mb=1)


def test_index_children_are_guarded(server, make_fetcher, caplog):
    base = server.url("").rstrip("/").replace("127.0.0.1", "localhost")  # a name for this machine
    index = fixture_bytes("sitemaps/index.xml").replace(b"BASE", base.encode())
    url = server.route("/sitemap-index.xml", Reply(body=index, headers=XML))
    for month in ("09", "10"):
        body = fixture_bytes(f"sitemaps/2026-{month}.xml")
        server.route(f"/sitemaps/2026-{month}.xml", Reply(body=body, headers=XML))
    source = SitemapOptions(name="Sitemap", type="sitemap", url=url)  # allow_private: false
    with pytest.raises(SourceError, match="loopback"):
        collect(source, make_fetcher)
    assert [r.path for r in server.requests if r.path != "/robots.txt"] == ["/sitemap-index.xml"]


def test_a_broken_child_is_a_warning(server, make_fetcher):
    url = index_routes(server)
    server.route("/sitemaps/2026-11.xml.gz", Reply(500, b"down"))
    collected = collect(sitemap_source(url, max_sitemaps=2), make_fetcher)
    assert len(collected.items) == 2 and "1 of 2 sitemaps skipped" in collected.warning and "500" in collected.warning


def test_max_items_and_unchanged_body(server, make_fetcher, store):
    url = server.route("/sitemap.xml", Reply(body=fixture_bytes("sitemaps/plain.xml"), headers=XML))
    source = sitemap_source(url, max_items=2)

    async def poll():
        async with make_fetcher() as fetcher:
            return await Pipeline(fetcher=fetcher, store=store, now=FixedClock()).poll(source)

    first = asyncio.run(poll())
    assert (first.status, first.new_items) == ("ok", 2)
    assert asyncio.run(poll()).status == "not_modified"


@pytest.mark.parametrize("body, message", [
    (b"<html><body>Not found</body></html>", "HTML page"),
    (b"<?xml version='1.0'?><rss version='2.0'><channel/></rss>", "<rss>"),
    (b"", "empty"),
    (b"\x1f\x8b\x08garbage", "corrupt gzip"),
])
def test_not_a_sitemap(body, message):
    from monitor.sources.sitemap import gunzip

    with pytest.raises(SourceError, match=message):
        parse_sitemap(gunzip(body, 10_000, "u"), "u")


def test_truncated_sitemap_keeps_complete_entries():
    cut = fixture_bytes("sitemaps/plain.xml")
    cut = cut[: cut.index(b"<loc>https://visti.example/pro-nas")]
    sitemap = parse_sitemap(cut, "u")
    assert [e.url.rsplit("/", 1)[-1] for e in sitemap.entries] == ["opalennia", "povernuly-ditey"]


def test_entities_are_not_expanded(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-MARKER", encoding="utf-8")
    for target in ("file:///etc/passwd", secret.as_uri()):
        evil = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "' + target.encode() + b'">]>'
                b'<urlset><url><loc>https://x.example/&e;</loc></url>'
                b'<url><loc>https://x.example/after</loc></url></urlset>')
        entries = parse_sitemap(evil, "u").entries
        # Both entries are read, the reference left out of the first: nothing was loaded into it.
        assert [e.url for e in entries] == ["https://x.example/", "https://x.example/after"], target
        assert all("root:" not in e.url and "SECRET-MARKER" not in e.url for e in entries)
