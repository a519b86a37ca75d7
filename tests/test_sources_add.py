"""`monitor sources add --write` on the shipped sources.yaml, refusing configured URLs, and page
proposals that are polled once before they are proposed (fault 10 of issue 10)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.commands.context import Context
from monitor.commands.sources_add import sources_add
from monitor.config import load_config
from monitor.items import SourceState
from monitor.sources import source_type
from tests.conftest import ROOT, fixture_bytes
from tests.support.server import Reply

HTML = {"Content-Type": "text/html; charset=utf-8"}
SHIPPED = ROOT / "sources.yaml"
LAST_SHIPPED_LINE = "    tags: [uk, official, telegram]\n"  # the end of the shipped sources: list
TOPICS = """\
topics:
  camps:
    query: '(оздоровлен* OR "health improvement" OR перевихов* OR re-educat*) AND (дит* OR діт* OR child*)'
    languages: [uk, ru, en]

"""


def add(config: Path, *args: str):
    return CliRunner().invoke(sources_add, list(args), obj=Context(str(config), "text", 0))


def comments(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.lstrip().startswith("#")]


@pytest.fixture
def shipped(tmp_path) -> Path:
    config = tmp_path / "sources.yaml"
    shutil.copy(SHIPPED, config)
    return config


def test_entries_appended_in_turn_stay_in_the_sources_list_of_the_shipped_file(shipped, server):
    """Before: the second and third entries landed below the channels comment block, and a
    topics: section added afterwards swallowed them (the file no longer loaded)."""
    original = shipped.read_text(encoding="utf-8")
    feed = server.route("/rss.xml", Reply(body=fixture_bytes("feeds/ru-rss1.xml"),
                                          headers={"Content-Type": "application/rdf+xml"}))
    page = server.route("/ukraine/", Reply(body=fixture_bytes("pages/listing-en.html"), headers=HTML))
    sitemap = server.route("/sitemap.xml", Reply(body=fixture_bytes("sitemaps/news.xml"),
                                                 headers={"Content-Type": "application/xml"}))
    expected, at = original, original.index(LAST_SHIPPED_LINE) + len(LAST_SHIPPED_LINE)
    for url in (feed, page, sitemap):
        result = add(shipped, url, "--write")
        assert result.exit_code == 0, result.output
        inserted = "\n" + result.stdout  # a blank line, then the entry as printed
        expected = expected[:at] + inserted + expected[at:]
        at += len(inserted)
        assert shipped.read_text(encoding="utf-8") == expected  # every other byte as it was
    written = shipped.read_text(encoding="utf-8")
    assert written[at:] == original[original.index(LAST_SHIPPED_LINE) + len(LAST_SHIPPED_LINE):]
    assert written[at:].startswith("\n# --- Topics ---")  # the entries end before the next section's comments
    assert comments(written) == comments(original)
    loaded = load_config(shipped)
    assert [s.type for s in loaded.sources[-3:]] == ["rss", "page", "sitemap"]
    assert [s.url for s in loaded.sources[-3:]] == [feed, page, sitemap]

    # Now a topics: section, where the comments show it (after the topics comments, before channels).
    channels = written.index("# --- Channels")
    shipped.write_text(written[:channels] + TOPICS + written[channels:], encoding="utf-8")
    loaded = load_config(shipped)
    assert list(loaded.topics) == ["camps"] and len(loaded.sources) == 20 + 3
    assert [s.url for s in loaded.sources[-3:]] == [feed, page, sitemap]
    assert comments(shipped.read_text(encoding="utf-8")) == comments(original)

    # And one more entry after that: still at the end of sources:, topics untouched.
    more = server.route("/more.xml", Reply(body=fixture_bytes("feeds/uk-atom.xml"),
                                           headers={"Content-Type": "application/atom+xml"}))
    result = add(shipped, more, "--write")
    assert result.exit_code == 0, result.output
    final = shipped.read_text(encoding="utf-8")
    assert final.index(f"url: {more}") < final.index("# --- Topics") < final.index("topics:\n  camps:")
    loaded = load_config(shipped)
    assert [s.url for s in loaded.sources[-4:]] == [feed, page, sitemap, more] and list(loaded.topics) == ["camps"]
    assert comments(final) == comments(original)


def test_a_compact_crlf_file_keeps_its_layout_and_the_next_sections_comments(tmp_path, server):
    config = tmp_path / "sources.yaml"
    head = ("settings:\r\n  database: data/monitor.db\r\nsources:\r\n"
            "- name: A\r\n  type: rss\r\n  url: https://a.example/rss\r\n"
            "- name: B            # no blank lines between entries, dashes at column 0\r\n"
            "  type: rss\r\n  url: https://b.example/rss\r\n")
    tail = "\r\n# --- Channels: belongs to the next key ---\r\nchannels:\r\n  files:\r\n    type: file\r\n"
    config.write_bytes((head + tail).encode("utf-8"))
    feed = server.route("/rss.xml", Reply(body=fixture_bytes("feeds/uk-atom.xml"),
                                          headers={"Content-Type": "application/atom+xml"}))
    result = add(config, feed, "--write", "--name", "C")
    assert result.exit_code == 0, result.output
    entry = f"- name: C\r\n  type: rss\r\n  url: {feed}\r\n  tags: [uk]\r\n  allow_private: true\r\n"
    assert config.read_bytes().decode("utf-8") == head + entry + tail
    assert [s.name for s in load_config(config).sources] == ["A", "B", "C"]


@pytest.mark.parametrize("url", [
    "http://www.kyivindependent.com/news-archive/rss?utm_source=newsletter#top",  # the same feed, spelled otherwise
    "https://t.me/dmytro_lubinetzs",                                               # the channel, without /s/
])
@pytest.mark.parametrize("write", [True, False])
def test_a_url_already_configured_is_refused(shipped, url, write):
    before = shipped.read_bytes()
    result = add(shipped, url, *(["--write"] if write else []))
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1
    assert "already configured as source" in result.stderr and "nothing added" in result.stderr
    assert shipped.read_bytes() == before


def test_a_page_leading_to_a_configured_feed_is_refused(shipped, server):
    feed = server.route("/news/rss.xml", Reply(body=fixture_bytes("feeds/uk-atom.xml"),
                                               headers={"Content-Type": "application/atom+xml"}))
    assert add(shipped, feed, "--write").exit_code == 0
    before = shipped.read_bytes()
    again = add(shipped, feed.replace("/news/rss.xml", "/news/rss.xml?utm_campaign=x"), "--write")
    assert again.exit_code == 2 and "already configured" in again.stderr
    page = server.route("/news/", Reply(body=fixture_bytes("pages/listing-uk-with-feed.html"), headers=HTML))
    via_page = add(shipped, page, "--write")
    assert via_page.exit_code == 2, via_page.output
    assert f"{page} leads to {feed}, which is already configured" in via_page.stderr
    assert len(via_page.stderr.splitlines()) == 1 and shipped.read_bytes() == before


def collect(config: Path, make_fetcher):
    source = load_config(config).sources[-1]

    async def go():
        async with make_fetcher() as fetcher:
            return await source_type("page").collect(source, fetcher, SourceState(source.name))
    return source, asyncio.run(go())


def test_a_page_proposal_is_polled_once_and_says_how_many_links_it_took(tmp_path, server, make_fetcher):
    config = tmp_path / "sources.yaml"
    shutil.copy(SHIPPED, config)
    url = server.route("/ukraine/", Reply(body=fixture_bytes("pages/listing-en.html"), headers=HTML))
    result = add(config, url, "--write")
    assert result.exit_code == 0, result.output
    assert "    links: article.card a\n" in result.stdout
    assert "a first poll took 5 links through the suggested links: selector" in result.stderr
    assert len(server.requests_for("/ukraine/")) == 1  # polled against the page already fetched
    source, collected = collect(config, make_fetcher)
    assert len(collected.items) == 5


LISTING_SHORT_IDS = """<!doctype html>
<html lang="uk"><head><meta charset="utf-8"><title>Новини | Діти війни</title></head>
<body>
<header><nav><a href="/">Головна</a> <a href="/news/">Новини</a> <a href="/about/">Про платформу</a></nav></header>
<main>
  <h1>Новини</h1>
  <div class="news-list">
    <div class="news-item"><a href="/news/{n1}">Повернули дітей</a> <span class="date">24.11.2026</span></div>
    <div class="news-item"><a href="/news/{n2}">Звіт омбудсмана</a> <span class="date">23.11.2026</span></div>
    <div class="news-item"><a href="/news/{n3}">Нові дані</a> <span class="date">22.11.2026</span></div>
    <div class="news-item"><a href="/news/{n4}">Табори в Криму</a> <span class="date">21.11.2026</span></div>
  </div>
  <div class="pager"><a href="/news/?page=2">2</a> <a href="/news/?page=3">3</a></div>
</main>
<footer><a href="/contacts/">Контакти</a></footer>
</body></html>
""".format(n1=15, n2=14, n3=13, n4=12)


def test_a_page_the_heuristic_finds_nothing_on_gets_a_links_selector(tmp_path, server, make_fetcher):
    """Short ids (/news/15) and two-word headlines escape the same-site heuristic. Before: the
    entry was proposed without links: and its first poll failed with "no article links found"."""
    config = tmp_path / "sources.yaml"
    shutil.copy(SHIPPED, config)
    url = server.route("/news/", Reply(body=LISTING_SHORT_IDS.encode("utf-8"), headers=HTML))
    result = add(config, url, "--write")
    assert result.exit_code == 0, result.output
    assert "\n    links: div.news-" in result.stdout
    assert "a first poll took 4 links through a links: selector" in result.stderr
    assert len(server.requests_for("/news/")) == 1
    source, collected = collect(config, make_fetcher)
    assert source.links and [item.url for item in collected.items] == [server.url(f"/news/{n}") for n in (15, 14, 13, 12)]
    assert collected.items[0].title == "Повернули дітей"


def test_a_page_the_heuristic_reads_is_proposed_without_a_selector(tmp_path, server, make_fetcher):
    config = tmp_path / "sources.yaml"
    shutil.copy(SHIPPED, config)
    slugs = ["children-returned-from-a-crimea-camp", "ombudsman-reports-on-deported-teenagers",
             "new-figures-on-forcible-transfers", "families-reunited-in-kyiv-region"]
    rows = "".join(f'<li><a href="/news/2026/11/{20 + i}/{slug}">{slug.replace("-", " ").capitalize()}</a></li>'
                   for i, slug in enumerate(slugs))
    body = f"<html lang='en'><head><title>Desk</title></head><body><main><ul>{rows}</ul></main></body></html>"
    url = server.route("/desk/", Reply(body=body.encode(), headers=HTML))
    result = add(config, url, "--write")
    assert result.exit_code == 0, result.output
    assert "links:" not in result.stdout
    assert "a first poll took 4 links through the same-site article heuristic" in result.stderr
    _, collected = collect(config, make_fetcher)
    assert len(collected.items) == 4


def test_a_page_without_article_links_is_not_proposed(shipped, server):
    body = (b"<html><head><title>Soon</title></head><body><header><nav><a href='/a/'>A</a> <a href='/b/'>B</a>"
            b"</nav></header><main><p>Nothing published yet.</p><a href='/about/'>About us</a></main></body></html>")
    url = server.route("/empty/", Reply(body=body, headers=HTML))
    before = shipped.read_bytes()
    result = add(shipped, url, "--write")
    assert result.exit_code == 1, result.output
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1
    assert "no article links found" in result.stderr and "neither by the same-site heuristic nor by a links: selector" \
        in result.stderr
    assert shipped.read_bytes() == before
