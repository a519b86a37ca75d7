"""Digest readability (issue 15), in the HTML, Markdown, text and chat forms: a heading naming the
digest and the period it covers with the time zone; stories newest first, grouped by topic; only
the words that decided the match highlighted; no snippet repeating the headline; links without
tracking parameters; times with their zone everywhere; the plain-text part without `**`; digest
file names in one time zone (UTC).

The end-to-end test renders the digest of the end-to-end site (tests/test_end_to_end.py) and
checks each rule on what was written."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from datetime import datetime, timedelta, timezone
from html import unescape
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitor.delivery import Dispatcher
from monitor.digest import DigestView, Renderer, display_url, plain, without_headline
from monitor.notify import make_channel
from monitor.notify.email import build_email
from monitor.store import Store
from monitor.topics import Matcher, build_matcher, compile_topic
from tests.conftest import FixedClock
from tests.support.digests import add_story, make_config, story
from tests.support.server import Reply
from tests.test_end_to_end import invoke, write_config

KYIV = ZoneInfo("Europe/Kyiv")
GENERATED = datetime(2026, 11, 25, 8, 0, tzinfo=KYIV)
ZONED_TIME = re.compile(r"\d\d:\d\d(?! (EET|EEST)\b)")  # a time of day not followed by its zone
# Words of the setting every war story shares: never a highlight (stems, any case, three scripts).
CONTEXT = re.compile(r"russia|ukrain|child|kid|occupied|kherson|росі|україн|діт|дит|окупов|херсон|росси|украин"
                     r"|дет|оккупир|херсон", re.I)


@pytest.fixture(autouse=True)
def _restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return build_matcher()


# --- highlights: the words that decided the match ----------------------------------------------

def marks(snippet: str) -> list[str]:
    return re.findall(r"\*\*(.+?)\*\*", snippet)


@pytest.mark.parametrize("title, text, decided", [
    ("Russia deported 12 Ukrainian children from occupied Kherson",
     "Officials say twelve children were taken from an orphanage in occupied Kherson and moved to a camp in Russia.",
     ["deported", "taken", "moved", "camp"]),
    ("Five Ukrainian children returned home after deportation to Russia",
     "Five children deported to Russia from the occupied Zaporizhzhia region were returned to Ukraine.",
     ["returned", "deportation", "deported", "returned"]),
    ("Повернули з Росії ще 7 депортованих дітей",
     "Україна повернула сімох дітей, яких депортували з окупованої Запорізької області до Росії.",
     ["Повернули", "депортованих", "повернула", "депортували"]),
    ("Россия депортировала 12 украинских детей из оккупированного Херсона",
     "По данным правозащитников, двенадцать детей вывезли из детского дома в оккупированном Херсоне в Россию.",
     ["депортировала", "вывезли"]),
])
def test_only_the_words_that_decided_the_match_are_marked(matcher, title, text, decided):
    result = matcher.classify(title, text)
    assert result.match
    assert marks(result.snippet) == decided, result.snippet
    assert not any(CONTEXT.search(mark) for mark in marks(result.snippet)), result.snippet
    # The terms still report everything that matched (the explanation of a match is unchanged).
    assert {"ukrain*", "child*"} & set(result.terms) or {"україн*", "діт*", "украин*", "дети"} & set(result.terms)


def test_a_phrase_with_a_deciding_word_is_marked_whole_and_a_direction_alone_is_not(matcher):
    result = matcher.classify("Bring Kids Back UA: 20 more Ukrainian kids return home",
                              "Twenty children abducted by Russia came home from Russia, the initiative said.")
    assert "**Bring Kids Back UA**" in result.snippet and "**abducted** by Russia" in result.snippet
    assert "**came home** from Russia" in result.snippet  # "from Russia" (a direction) unmarked
    result = matcher.classify("ICC: Lvova-Belova wanted over Ukrainian children",
                              "Maria Lvova-Belova is responsible for the deportation of children to Russia.")
    assert marks(result.snippet).count("Lvova-Belova") == 2 and "**to Russia**" not in result.snippet


def test_a_topic_without_context_words_marks_every_hit_as_before():
    topic = compile_topic("mine", "deport* AND child* AND russia")
    result = Matcher([topic]).classify("", "Russia says the deported children are safe.")
    assert result.snippet == "**Russia** says the **deported children** are safe."


# --- the pieces ------------------------------------------------------------------------------------

@pytest.mark.parametrize("url, shown", [
    ("https://a.example/x?utm_source=rss&utm_medium=feed", "https://a.example/x"),
    ("https://a.example/x?id=42&utm_source=rss&fbclid=Ab1&gclid=z", "https://a.example/x?id=42"),
    ("https://a.example/x?b=2&a=1", "https://a.example/x?b=2&a=1"),          # the rest kept as written
    ("https://a.example/x?q=%D0%B4&UTM_Campaign=y#part", "https://a.example/x?q=%D0%B4#part"),
    ("https://a.example/x", "https://a.example/x"),
    ("javascript:alert(1)", "javascript:alert(1)"),                         # not a link: the filters drop it
    ("https://[broken/x?utm_source=1", "https://[broken/x?utm_source=1"),
])
def test_links_lose_their_tracking_parameters_only(url, shown):
    assert display_url(url) == shown


@pytest.mark.parametrize("snippet, title, shown", [
    ("**Russia deported** 12 children — Officials say **taken** away.", "Russia deported 12 children",
     "Officials say **taken** away."),
    ("alert(1) **Children deported** from Berdiansk — Parents say so.",
     "<script>alert(1)</script> Children deported from Berdiansk", "Parents say so."),
    ("**Children deported**", "Children deported", ""),                      # nothing but the headline
    ("Kherson — **children deported** — Officials say more.", "Kherson — children deported",
     "Officials say more."),                                                # a dash inside the title
    ("Officials say **deported** children — and more.", "Children deported",
     "Officials say **deported** children — and more."),                    # not the headline: kept
])
def test_a_snippet_does_not_repeat_the_headline(snippet, title, shown):
    assert without_headline(snippet, title) == shown


def test_plain_text_drops_the_hit_marks():
    assert plain("Children **deported** to **camps**\nin Crimea") == "Children deported to camps in Crimea"


def two_topic_view(since=None) -> DigestView:
    utc = timezone.utc
    stories = [
        story(1, published=datetime(2026, 11, 24, 6, 0, tzinfo=utc)),
        story(2, published=datetime(2026, 11, 24, 9, 0, tzinfo=utc)),
        story(3, published=datetime(2026, 11, 24, 7, 0, tzinfo=utc)),
        story(4, published=datetime(2026, 11, 24, 8, 0, tzinfo=utc)),
    ]
    stories[2] = type(stories[2])(**{**stories[2].__dict__, "topics": ["camps", "deported-children"]})
    stories[3] = type(stories[3])(**{**stories[3].__dict__, "topics": ["camps"]})
    return DigestView("daily", GENERATED, stories, [], since=since)


def test_stories_are_grouped_by_topic_and_newest_first_in_every_form():
    renderer = Renderer("Europe/Kyiv")
    view = two_topic_view()
    assert [s.item_id for s in renderer.ordered(view.stories)] == [4, 3, 2, 1]  # camps: 4, 3; then 2, 1
    html = renderer.render("digest.html", view, view.stories)
    md = renderer.render("digest.md", view, view.stories)
    text = renderer.render("digest.txt", view, view.stories)
    for body, camps, deported in ((html, "camps · 2</h2>", "deported-children · 2</h2>"),
                                  (md, "Topic: camps · 2 new", "Topic: deported-children · 2 new"),
                                  (text, "== camps (2 new, newest first) ==", "== deported-children (2 new")):
        order = [body.index(f"story-{n}.html") for n in (4, 3, 2, 1)]
        assert order == sorted(order) and body.index(camps) < order[0] < order[1] < body.index(deported) < order[2]
    assert "· also deported-children" in html  # a story of two topics, under the first, names the other
    # The JSON document keeps the store's order: oldest first.
    assert [s["url"] for s in renderer.payload(view, view.stories)["stories"]] == [s.url for s in view.stories]


def test_the_heading_names_the_digest_and_the_period_with_its_zone():
    renderer = Renderer("Europe/Kyiv")
    since = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)
    view = two_topic_view(since=since)
    period = "24 Nov 2026, 08:00 EET – 25 Nov 2026, 08:00 EET (Europe/Kyiv)"
    assert renderer.period(view) == period
    html = renderer.render("digest.html", view, view.stories)
    assert re.search(r"<h1[^>]*>daily digest<span[^>]*>" + re.escape(period) + "</span></h1>", html)
    md = renderer.render("digest.md", view, view.stories).splitlines()[0]
    assert md.startswith("**daily** digest · 24 Nov 2026, 08:00 EET – 25 Nov 2026, 08:00 EET \\(Europe/Kyiv\\)")
    text = renderer.render("digest.txt", view, view.stories).splitlines()
    assert text[1].startswith(f"daily digest · {period} · 4 new reports")
    # Without an earlier digest, the period starts at its oldest story; in summer, EEST.
    assert renderer.period(two_topic_view()).startswith("24 Nov 2026, 08:00 EET – ")
    summer = DigestView("weekly", datetime(2026, 7, 1, 8, 0, tzinfo=KYIV), [], [])
    assert renderer.period(summer) == "up to 01 Jul 2026, 08:00 EEST (Europe/Kyiv)"
    # An alert's message says it is one.
    alert = DigestView("urgent", GENERATED, [story(1)], [], kind="alert")
    assert renderer.render("digest.txt", alert, alert.stories).splitlines()[1].startswith("urgent alert · ")


def test_times_carry_their_zone_and_the_text_part_no_marks(tmp_path):
    renderer = Renderer("Europe/Kyiv")
    view = two_topic_view(since=datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc))
    [message] = renderer.messages(view, "a" * 32, None, "html")
    for body in (message.html, message.markdown, message.text):
        assert not ZONED_TIME.search(unescape(re.sub(r"<[^>]+>", "", body))), ZONED_TIME.search(body)
    assert "**" not in message.text and "children deported" in message.text
    email = build_email(message, "monitor@example.org", ["research@example.org"])
    text_part = email.get_body(("plain",)).get_content()
    assert "**" not in text_part and "Report 1: children deported to Russia" in text_part
    assert "<mark" in email.get_body(("html",)).get_content()


def test_a_digest_covers_the_time_since_the_last_one_to_its_channel(tmp_path):
    config = make_config(tmp_path, "channels:\n  files: {type: file, path: out}\n")
    store = Store(tmp_path / "monitor.db")
    try:
        first_at = datetime(2026, 11, 25, 6, 0, tzinfo=timezone.utc)
        clock = FixedClock(first_at)
        dispatcher = Dispatcher(config, store, now=clock)
        add_story(store, "Ledger", "Children deported from Kherson", url="https://ledger.example/1",
                  at=first_at - timedelta(hours=3), published=first_at - timedelta(hours=3))
        asyncio.run(dispatcher.run_digest(config.digests[0], clock()))
        clock.when = first_at + timedelta(days=1)
        add_story(store, "Ledger", "Children deported from Melitopol", url="https://ledger.example/2",
                  at=clock.when - timedelta(hours=1), published=clock.when - timedelta(hours=1))
        preview = dispatcher.preview(config.digests[0])
        assert Renderer("Europe/Kyiv").period(preview) == \
            "25 Nov 2026, 08:00 EET – 26 Nov 2026, 08:00 EET (Europe/Kyiv)"
        asyncio.run(dispatcher.run_digest(config.digests[0], clock()))
    finally:
        store.close()
    first, second = sorted((tmp_path / "out").glob("*.html"))
    assert "25 Nov 2026, 05:00 EET – 25 Nov 2026, 08:00 EET" in first.read_text("utf-8")  # from its story
    assert "25 Nov 2026, 08:00 EET – 26 Nov 2026, 08:00 EET" in second.read_text("utf-8")  # from the last digest


def test_digest_files_are_named_in_utc_whatever_the_zone(tmp_path):
    config = make_config(tmp_path, "channels:\n  files: {type: file, path: out}\n")
    channel = make_channel("files", config.channels["files"], tmp_path)
    renderer = Renderer("Europe/Kyiv")
    local = DigestView("daily", datetime(2026, 7, 1, 8, 0, tzinfo=KYIV), [story(1)], [])
    utc = DigestView("channel test", datetime(2026, 7, 1, 5, 30, tzinfo=timezone.utc), [story(2)], [])
    for view, delivery in ((local, "1" * 32), (utc, "2" * 32)):
        [message] = renderer.messages(view, delivery, None)
        asyncio.run(channel.send(message))
    names = sorted(p.name for p in (tmp_path / "out").glob("*.json"))
    assert names == ["channel-test-20260701T053000Z-22222222.json", "daily-20260701T050000Z-11111111.json"]


# --- the rendered digest of the end-to-end test, rule by rule --------------------------------------

WIRE_TEXT = ("Twelve Ukrainian children from an orphanage in occupied Kherson were deported to Russia last "
             "month, the regional ombudsman said on Tuesday. Their relatives in Mykolaiv learnt of the "
             "transfer from a video posted by the occupation authorities, which showed the children at a "
             "camp near Anapa. The ombudsman asked the Red Cross to locate them and to arrange their return.")


def wire_feed(link: str, title: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Wire</title><link>https://wire.example/</link><description>w</description>
<item><title>{title}</title><link>{link}</link><pubDate>Tue, 24 Nov 2026 15:30:00 +0000</pubDate>
<description>{WIRE_TEXT}</description></item></channel></rss>""".replace("&", "&amp;").encode()


@pytest.fixture
def digest_files(tmp_path, server) -> dict[str, str]:
    feed = {"Content-Type": "application/rss+xml"}
    a = server.route("/wire-a.xml", Reply(body=wire_feed(
        "https://wire-a.example/2026/11/kherson-orphanage?utm_source=rss&utm_campaign=daily",
        "Orphans from Kherson deported to Russia, ombudsman says"), headers=feed))
    b = server.route("/wire-b.xml", Reply(body=wire_feed(
        "https://wire-b.example/news/12345?id=42&utm_medium=feed&fbclid=IwAR0x",
        "Ombudsman: Kherson orphans were deported to Russia"), headers=feed))
    config = write_config(tmp_path, server, extra=f"""
  - {{name: "Wire A", type: rss, url: "{a}", fetch_article: never, tags: [en]}}
  - {{name: "Wire B", type: rss, url: "{b}", fetch_article: never, tags: [en]}}
""")
    # The Herald links to the Ledger's Kherson article (same URL): the row, and so the period's first
    # story, is the Ledger's when the Ledger comes first, as the expectations below assume.
    first = invoke("--config", config, "poll", "--source", "Northern Ledger")
    polled = invoke("--config", config, "poll")
    assert "1 sources polled" in first.stdout and "6 sources polled" in polled.stdout, polled.output
    invoke("--config", config, "digest", "--preview", "--out", str(tmp_path / "preview.txt"))
    invoke("--config", config, "digest", "--now")
    files = {p.suffix: p for p in (tmp_path / "digests").iterdir()}
    out = {kind: files[kind].read_text("utf-8") for kind in (".html", ".md", ".json")}
    out[".txt"] = (tmp_path / "preview.txt").read_text("utf-8")
    out["name"] = files[".html"].name
    return out


def cards(html: str) -> list[dict]:
    """Each story of the HTML digest: its title, meta line, snippet (text and marks)."""
    found = []
    for block in re.findall(r'<div style="background:#ffffff;border-radius:6px;padding:12px 16px;margin:0 0 12px 0;">'
                            r"\n(.*?)\n  </div>\n", html, re.S):
        title = unescape(re.search(r"font-weight:600;[^>]*>(.*?)</(?:a|span)>", block).group(1))
        meta = unescape(re.sub(r"\s+", " ", re.search(r"margin:2px 0 8px 0;\">(.*?)</div>", block, re.S).group(1)))
        snippet = re.search(r'<div style="font-size:15px;color:#2b2b29;">(.*?)</div>', block, re.S)
        found.append({"title": title, "meta": meta.strip(),
                      "snippet": unescape(re.sub(r"<[^>]+>", "", snippet.group(1))) if snippet else "",
                      "marks": [unescape(m) for m in re.findall(r"<mark[^>]*>(.*?)</mark>", snippet.group(1))]
                      if snippet else [], "block": block})
    return found


def test_the_end_to_end_digest_follows_every_readability_rule(digest_files):
    html, md, text, document = digest_files[".html"], digest_files[".md"], digest_files[".txt"], \
        json.loads(digest_files[".json"])
    stories = document["stories"]
    shown = cards(html)
    assert len(shown) == len(stories) == 8  # the site's seven, and the wire story once

    # 1. A heading that names the digest and the period, with the time zone.
    heading = re.search(r"<h1[^>]*>(.*?)</h1>", html).group(1)
    assert re.fullmatch(r"daily digest<span[^>]*>24 Nov 2026, 07:10 EET – \d\d \w{3} \d{4}, \d\d:\d\d EET "
                        r"\(Europe/Kyiv\)</span>", heading), heading
    assert md.startswith("**daily** digest · 24 Nov 2026, 07:10 EET – ") and "\\(Europe/Kyiv\\)" in md.splitlines()[0]
    assert text.splitlines()[1].startswith("daily digest · 24 Nov 2026, 07:10 EET – ")

    # 2. Newest first, grouped by topic (one topic here: one group, its heading).
    assert re.findall(r"<h2[^>]*>(.*?)</h2>", html) == ["deported-children · 8"]
    published = {s["title"]: datetime.fromisoformat(s["published"]) for s in stories}
    times = [published[card["title"]] for card in shown]
    assert times == sorted(times, reverse=True)
    md_titles = re.findall(r"^\*\*\[(.+?)\]\(", md, re.M)
    assert len(md_titles) == 8 and md_titles[0].startswith(("Orphans from Kherson", "Ombudsman: Kherson"))
    assert md_titles[-1] == "Russia deported 12 Ukrainian children from occupied Kherson"  # the oldest

    # 3. Only the words that decided the match are marked: never children, Ukraine, Russia, places.
    for card in shown:
        assert card["marks"], card["title"]
        assert not any(CONTEXT.search(mark) for mark in card["marks"]), (card["title"], card["marks"])
    assert {"deported", "taken", "moved", "camp"} <= {m for card in shown for m in card["marks"]}

    # 4. No snippet repeats its headline.
    for card in shown:
        title_words = re.findall(r"\w+", card["title"].casefold())
        assert re.findall(r"\w+", card["snippet"].casefold())[:4] != title_words[:4], card
    # (The stored snippets do start with the headline: the matcher found hits in it.)
    repeating = [s for s in stories if " — " in s["snippet"]]
    assert len(repeating) >= 7 and all(without_headline(s["snippet"], s["title"]) != s["snippet"] for s in repeating)

    # 5. Links without tracking parameters, in every form; the rest of the query kept.
    for body in (html, md, text, digest_files[".json"]):
        assert "utm_" not in body and "fbclid" not in body
    [wire] = [card for card in shown if card["title"].startswith(("Orphans from Kherson", "Ombudsman: Kherson"))]
    assert "Also reported by:" in wire["block"]  # the other wire's copy, under the lead
    assert "https://wire-b.example/news/12345?id=42" in html
    assert "https://wire-a.example/2026/11/kherson-orphanage\"" in html or \
        'href="https://wire-a.example/2026/11/kherson-orphanage"' in html

    # 6. Times with their zone, everywhere.
    for body in (re.sub(r"<[^>]+>", "", html), md, text):
        assert not ZONED_TIME.search(body), ZONED_TIME.search(body)
    assert all(card["meta"].split(" · ")[1].endswith(" EET") for card in shown)

    # 7. The plain text carries no ** marks (and no HTML).
    assert "**" not in text and "<mark" not in text and "deported" in text

    # 8. The file name's time is the digest's, in UTC.
    stamp = re.fullmatch(r"daily-(\d{8}T\d{6}Z)-[0-9a-f]{8}\.html", digest_files["name"]).group(1)
    made = datetime.fromisoformat(document["generated_at"])
    assert stamp == made.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
