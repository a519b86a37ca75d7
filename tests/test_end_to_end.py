"""End to end, as a user runs it: a local site of several outlets (RSS 2.0, RSS 1.0, Atom; en/uk/ru;
on-topic and off-topic articles) → `monitor poll` → `monitor digest` to the file channel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.store import Store
from tests.support.server import Reply

SITE = Path(__file__).resolve().parent.parent / "fixtures" / "site"
EXPECTED = json.loads((SITE / "expected.json").read_text("utf-8"))
FEED = {"Content-Type": "application/xml; charset=utf-8"}
TOPIC = "deported-children"

# name, fixture file, language, format (`type: rss` reads RSS 0.9x/1.0/2.0 and Atom alike)
OUTLETS = [
    ("Northern Ledger", "ledger-rss2.xml", "en"),
    ("Вісник Півдня", "visnyk-atom.xml", "uk"),
    ("Северная правда", "pravda-rss1.xml", "ru"),
    ("Coastal Herald", "herald-atom.xml", "en"),
]
# The listing-page and sitemap outlets are added in test_listing_page_and_sitemap_outlets_join_the_digest.


def site(server, ledger: str = "ledger-rss2.xml") -> dict[str, str]:
    urls = {}
    for name, fixture, _ in OUTLETS:
        fixture = ledger if fixture == "ledger-rss2.xml" else fixture
        urls[name] = server.route(f"/feeds/{fixture.split('-')[0]}.xml", Reply(body=(SITE / fixture).read_bytes(),
                                                                              headers=FEED))
    return urls


def write_config(tmp_path, server, extra: str = "") -> str:
    urls = site(server)
    sources = "\n".join(f'  - {{name: "{name}", type: rss, url: "{urls[name]}", tags: [{lang}]}}'
                        for name, _, lang in OUTLETS)
    path = tmp_path / "sources.yaml"
    path.write_text(f"""
settings:
  database: data/monitor.db
  timezone: Europe/Kyiv
  fetch: {{retries: 0}}
sources:
{sources}
{extra}
""", encoding="utf-8")
    return str(path)


def invoke(*args: str):
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result


def expected_on_topic(files: list[str]) -> set[str]:
    return {suffix.rsplit("ledger.example", 1)[-1] for f in files for suffix in EXPECTED[f]["on_topic"]}


def which(url: str, suffixes) -> list[str]:
    path = url.split("?")[0].split("#")[0]
    return [s for s in suffixes if path.endswith(s.rsplit("ledger.example", 1)[-1])]


def digest_documents(folder: Path) -> list[dict]:
    return [json.loads(p.read_text("utf-8")) for p in sorted(folder.glob("*.json"))]


def test_poll_then_digest_holds_every_on_topic_story_once_and_no_off_topic_one(tmp_path, server):
    config = write_config(tmp_path, server)
    polled = invoke("--config", config, "poll")
    assert "4 sources polled" in polled.stdout and "0 failing" in polled.stdout

    sent = invoke("--config", config, "digest", "--now")
    assert "digest 'daily' → files:" in sent.stdout and "delivered" in sent.stdout

    [document] = digest_documents(tmp_path / "digests")  # the default file channel, beside the config
    assert list(document) == ["digest", "generated_at", "stories", "source_health"]
    assert document["digest"] == "daily"
    on_topic = expected_on_topic([f for _, f, _ in OUTLETS])
    off_topic = {s for _, f, _ in OUTLETS for s in EXPECTED[f]["off_topic"]}
    found: dict[str, int] = {}
    for story in document["stories"]:
        assert list(story) == ["title", "url", "source", "published", "lang", "topics", "snippet", "also"]
        assert not which(story["url"], off_topic), f"off-topic story in the digest: {story['title']}"
        [suffix] = which(story["url"], on_topic) or [None]
        assert suffix, f"unexpected story: {story['url']}"
        found[suffix] = found.get(suffix, 0) + 1
        assert story["topics"] == [TOPIC] and "**" in story["snippet"]
        assert story["lang"] in ("en", "uk", "ru") and story["published"]
    assert found == {suffix: 1 for suffix in on_topic}  # every on-topic story, once
    assert {s["lang"] for s in document["stories"]} == {"en", "uk", "ru"}
    assert sorted(h["source"] for h in document["source_health"]) == sorted(name for name, _, _ in OUTLETS)
    assert all(h["status"] == "ok" and h["error"] is None for h in document["source_health"])

    # The markup-bearing title reaches readers as words: escaped in HTML, inert in Markdown.
    [html] = (tmp_path / "digests").glob("*.html")
    [md] = (tmp_path / "digests").glob("*.md")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Children deported from Berdiansk" in html.read_text("utf-8")
    assert "<script" not in html.read_text("utf-8") and "<script" not in md.read_text("utf-8")
    assert any(s["title"].startswith("<script>alert(1)</script> Children deported from Berdiansk")
               for s in document["stories"])


def test_digest_now_twice_sends_nothing_new_and_preview_marks_nothing(tmp_path, server):
    config = write_config(tmp_path, server)
    invoke("--config", config, "poll")

    preview = invoke("--config", config, "digest", "--preview")
    assert "Russia deported 12 Ukrainian children" in preview.stdout
    assert "Росія депортувала 12 українських дітей" in preview.stdout
    invoke("--config", config, "digest", "daily", "--preview", "--out", str(tmp_path / "preview.json"))
    previewed = json.loads((tmp_path / "preview.json").read_text("utf-8"))
    invoke("--config", config, "digest", "--preview", "--out", str(tmp_path / "preview.html"))
    assert "<!doctype html>" in (tmp_path / "preview.html").read_text("utf-8")
    store = Store(tmp_path / "data" / "monitor.db")
    try:
        assert store.batches() == []  # previews claimed nothing
    finally:
        store.close()
    assert not (tmp_path / "digests").exists()

    invoke("--config", config, "digest", "--now")
    [document] = digest_documents(tmp_path / "digests")
    assert sorted(s["url"] for s in document["stories"]) == sorted(s["url"] for s in previewed["stories"])

    again = invoke("--config", config, "digest", "--now")
    assert "digest 'daily': nothing new to send" in again.stdout
    assert len(digest_documents(tmp_path / "digests")) == 1
    empty = invoke("--config", config, "digest", "--preview")
    assert "Nothing new matched since the last digest." in empty.stdout


def test_a_story_published_between_two_cli_digests_is_in_the_second_only(tmp_path, server):
    config = write_config(tmp_path, server)
    invoke("--config", config, "poll")
    invoke("--config", config, "digest", "--now")
    site(server, ledger="ledger-rss2-later.xml")  # the Ledger publishes one more story
    polled = invoke("--config", config, "poll")
    assert "1 new items, 1 matched" in polled.stdout
    invoke("--config", config, "digest", "--now")
    first, second = sorted(digest_documents(tmp_path / "digests"), key=lambda d: len(d["stories"]), reverse=True)
    assert [s["url"] for s in second["stories"]] == ["https://ledger.example/2026/11/mariupol-teenagers-camps"]
    assert not {s["url"] for s in first["stories"]} & {s["url"] for s in second["stories"]}


@pytest.mark.parametrize("args,message", [
    (["digest"], "choose one of --preview or --now"),
    (["digest", "--preview", "--now"], "choose one of --preview or --now"),
    (["digest", "weekly", "--now"], "no digest named 'weekly'"),
    (["digest", "--preview", "--channel", "nope"], "no channel named 'nope'"),
])
def test_digest_usage_errors(tmp_path, server, args, message):
    result = CliRunner().invoke(cli, ["--config", write_config(tmp_path, server), *args])
    assert result.exit_code == 2 and message in result.output


# Two outlets without a feed: one publishes an HTML listing page (type: page, with a CSS selector),
# the other a Google News sitemap (type: sitemap). Their articles are full pages with navigation,
# sidebars and comments (fixtures/articles/); only the main text may decide a match.
PAGE_ARTICLES = {"/desk/children-returned": ("en-children-returned.html", True),
                 "/desk/bridge": ("en-bridge-reopens.html", False)}
SITEMAP_ARTICLES = {"/map/povernuly": ("uk-children-returned.html", True),
                    "/map/opalennia": ("uk-heating-season.html", False),
                    "/map/lageri": ("ru-children-camps.html", True),
                    "/map/teatr": ("ru-theatre-premiere.html", False)}
HTML = {"Content-Type": "text/html; charset=utf-8"}


def serve_page_and_sitemap_outlets(server) -> tuple[str, str]:
    for path, (fixture, _) in {**PAGE_ARTICLES, **SITEMAP_ARTICLES}.items():
        server.route(path, Reply(body=(SITE.parent / "articles" / fixture).read_bytes(), headers=HTML))
    cards = "".join(f'<li class="story"><a href="{path}">Desk story {n}</a><time>2026-11-2{n}</time></li>'
                    for n, path in enumerate(PAGE_ARTICLES, start=3))
    listing = f"""<!doctype html><html><head><title>Desk</title></head><body>
      <nav><a href="/">Home</a> <a href="/about">About</a></nav>
      <ul class="stories">{cards}</ul><footer><a href="/contacts">Contacts</a></footer></body></html>"""
    urls = "".join(f"<url><loc>{server.url(path)}</loc><news:news><news:publication><news:name>Map</news:name>"
                   f"<news:language>uk</news:language></news:publication><news:publication_date>2026-11-24T0{n}:00:00Z"
                   f"</news:publication_date><news:title>Map story {n}</news:title></news:news></url>"
                   for n, path in enumerate(SITEMAP_ARTICLES, start=1))
    sitemap = ('<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
               f'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">{urls}</urlset>')
    return (server.route("/desk/", Reply(body=listing.encode(), headers=HTML)),
            server.route("/news-sitemap.xml", Reply(body=sitemap.encode(), headers={"Content-Type": "application/xml"})))


def test_listing_page_and_sitemap_outlets_join_the_digest(tmp_path, server):
    listing, sitemap = serve_page_and_sitemap_outlets(server)
    config = write_config(tmp_path, server, extra=f"""
  - {{name: "Desk", type: page, url: "{listing}", links: "ul.stories li.story a", allow_private: true, tags: [en]}}
  - {{name: "Map", type: sitemap, url: "{sitemap}", allow_private: true, tags: [uk]}}
""")
    polled = invoke("--config", config, "poll")
    assert "6 sources polled" in polled.stdout and "0 failing" in polled.stdout, polled.stdout
    invoke("--config", config, "digest", "--now")
    [document] = digest_documents(tmp_path / "digests")
    urls = [story["url"] for story in document["stories"]]
    for path, (_, on_topic) in {**PAGE_ARTICLES, **SITEMAP_ARTICLES}.items():
        assert urls.count(server.url(path)) == (1 if on_topic else 0), path
    on_topic_feeds = expected_on_topic([f for _, f, _ in OUTLETS])
    assert len(document["stories"]) == len(on_topic_feeds) + 3
