"""Rendering digests: escaping, hits, time zone, footer of failing sources, the JSON contract, splitting."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from html import unescape
from zoneinfo import ZoneInfo

import markdown
import pytest

from monitor.digest import DigestView, Renderer, markdown_escape
from tests.support.digests import TOPIC, health, story

KYIV = ZoneInfo("Europe/Kyiv")
GENERATED = datetime(2026, 11, 25, 8, 0, tzinfo=KYIV)
SCRIPT_TITLE = "<script>alert('x')</script> Children deported from Mariupol & Berdiansk"


@pytest.fixture
def renderer() -> Renderer:
    return Renderer("Europe/Kyiv")


def view(stories, health_rows=()) -> DigestView:
    return DigestView("daily", GENERATED, list(stories), list(health_rows))


def test_html_escapes_feed_text_and_marks_hits(renderer):
    s = story(1, title=SCRIPT_TITLE, snippet="**Children deported** to <b>Russia</b> & back")
    html = renderer.render("digest.html", view([s]), [s])
    assert "<script>" not in html and "alert('x')</script>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Children deported from Mariupol &amp; Berdiansk" in html
    assert "<b>Russia</b>" not in html and "&lt;b&gt;Russia&lt;/b&gt; &amp; back" in html
    assert re.search(r"<mark[^>]*>Children deported</mark>", html)
    assert f'href="{s.url}"' in html


def test_html_href_is_escaped_and_meta_line_has_local_time_language_topic(renderer):
    s = story(2, source="Вісник", lang="uk", published=datetime(2026, 11, 24, 6, 5, tzinfo=timezone.utc))
    s = type(s)(**{**s.__dict__, "url": 'https://x.example/a?b=1&c="2"'})
    html = renderer.render("digest.html", view([s]), [s])
    assert 'href="https://x.example/a?b=1&amp;c=&#34;2&#34;"' in html
    # 06:05 UTC is 08:05 in Kyiv (EET, UTC+2 in November), written with its zone; the topic heads
    # the story's group (issue 15: the meta line no longer repeats it).
    assert "Вісник · 24 Nov 2026, 08:05 EET · Ukrainian" in html
    assert re.search(r"<h2[^>]*>deported-children · 1</h2>", html)
    assert "25 Nov 2026, 08:00 EET" in html  # generated_at, in the user's zone


def test_markdown_makes_script_and_markup_inert(renderer):
    s = story(1, title=SCRIPT_TITLE + " [link](javascript:alert(1)) *bold* _it_ `code`",
              snippet="**deported** <img src=x onerror=alert(1)> # not a heading")
    md = renderer.render("digest.md", view([s]), [s])
    assert "<script" not in md and "<img" not in md
    assert "\\›" not in md, "no stray backslash before the look-alike bracket"
    rendered = markdown.markdown(md)
    assert "<script" not in rendered and "<img" not in rendered
    assert 'href="javascript' not in rendered
    # The title's own markup characters show as written (the meta line is the template's italics).
    assert "*bold* _it_ `code`" in rendered and "<code>" not in rendered
    assert "<strong>deported</strong>" in rendered
    # The story's own link survives as the one link of the title.
    assert f'<a href="{s.url}">' in rendered


def test_markdown_escape_keeps_words_readable():
    assert markdown_escape("<script>") == "‹script›"
    assert markdown_escape("a_b*c [d](e) #f") == r"a\_b\*c \[d\]\(e\) \#f"
    assert markdown_escape("Дітей вивезли до Росії") == "Дітей вивезли до Росії"


def test_text_part_is_plain_and_complete(renderer):
    s = story(3, title="Росія депортувала 12 українських дітей з окупованого Херсона", lang="uk")
    text = renderer.render("digest.txt", view([s]), [s])
    assert s.title in text and s.url in text and "Ukrainian" in text
    assert "<" not in text


def test_empty_digest_says_nothing_new(renderer):
    for template in ("digest.html", "digest.md", "digest.txt"):
        assert "Nothing new matched since the last digest." in renderer.render(template, view([]), [])


def test_footer_lists_sources_failing_for_more_than_24_hours_only(renderer):
    rows = [
        health("Old failure", "failing", "HTTP 503 Service Unavailable", GENERATED - timedelta(hours=30)),
        health("Fresh failure", "failing", "connection refused", GENERATED - timedelta(hours=2)),
        health("Healthy", "ok"),
        health("Edge", "failing", "timeout", GENERATED - timedelta(hours=24)),
    ]
    v = view([story(1)], rows)
    assert [h.source for h in v.long_failing] == ["Old failure", "Edge"]
    for template in ("digest.html", "digest.md", "digest.txt"):
        out = renderer.render(template, v, v.stories)
        assert "Old failure" in out and "HTTP 503 Service Unavailable" in out and "Edge" in out
        assert "Fresh failure" not in out and "connection refused" not in out and "Healthy" not in out
    text = renderer.render("digest.txt", v, v.stories)
    assert "Sources failing for more than 24 hours:" in text
    # failing_since shown in the user's zone
    assert f"since {(GENERATED - timedelta(hours=30)).astimezone(KYIV):%d %b %Y, %H:%M}" in text


def test_no_footer_when_every_source_is_healthy(renderer):
    v = view([story(1)], [health("A"), health("B", "failing", "x", GENERATED - timedelta(hours=1))])
    for template in ("digest.html", "digest.md", "digest.txt"):
        assert "failing for more than 24" not in renderer.render(template, v, v.stories)


def test_json_payload_has_exactly_the_contract_keys(renderer):
    s = story(1, source="Правда Севера", lang="ru", title="Россия депортировала 12 украинских детей")
    s = type(s)(**{**s.__dict__, "also": [{"url": "https://o.example/1", "source": "Other", "title": "Same"}]})
    rows = [health("Правда Севера"), health("Down", "failing", "HTTP 500", GENERATED - timedelta(days=2))]
    payload = renderer.payload(view([s], rows), [s])
    assert set(payload) == {"digest", "generated_at", "stories", "source_health"}
    assert payload["digest"] == "daily"
    assert datetime.fromisoformat(payload["generated_at"]) == GENERATED
    [entry] = payload["stories"]
    assert set(entry) == {"title", "url", "source", "published", "lang", "topics", "snippet", "also"}
    assert entry["title"] == s.title and entry["source"] == "Правда Севера" and entry["lang"] == "ru"
    assert entry["topics"] == [TOPIC] and entry["snippet"] == s.snippet
    assert datetime.fromisoformat(entry["published"]) == s.published
    assert entry["also"] == [{"url": "https://o.example/1", "source": "Other", "title": "Same"}]
    assert payload["source_health"] == [
        {"source": "Правда Севера", "status": "ok", "error": None, "failing_since": None},
        {"source": "Down", "status": "failing", "error": "HTTP 500",
         "failing_since": (GENERATED - timedelta(days=2)).isoformat(timespec="seconds")},
    ]


def test_subject_counts_reports(renderer):
    assert renderer.subject(view([story(1)])).startswith("daily: 1 new report on deported Ukrainian children")
    assert renderer.subject(view([story(1), story(2)])).startswith("daily: 2 new reports")
    assert renderer.subject(view([])).endswith("25 Nov 2026")


def _story_block(md: str, s) -> bool:
    return s.url in md and markdown_escape(s.title) in md and "children deported" in md


@pytest.mark.parametrize("markup,limit", [("markdown", 1200), ("html", 6000), ("text", 900)])
def test_long_digest_splits_to_the_limit_without_cutting_a_story(renderer, markup, limit):
    # Stories of varied length, in three scripts.
    stories = []
    for n in range(1, 41):
        words = {0: "Children deported from occupied Kherson", 1: "Дітей депортували з окупованого Херсона",
                 2: "Детей депортировали из оккупированного Херсона"}[n % 3]
        stories.append(story(n, title=f"{words} #{n}",
                             snippet=f"Report {n}: **children deported** " + "lorem ipsum " * (n % 7) * 4))
    v = view(stories)
    messages = renderer.messages(v, "d" * 32, limit, markup)
    assert len(messages) > 2
    field = {"markdown": "markdown", "html": "html", "text": "text"}[markup]
    order = [s.url for s in renderer.ordered(stories)]  # as a reader meets them: newest first (issue 15)
    seen = []
    for number, message in enumerate(messages, start=1):
        assert (message.part, message.parts) == (number, len(messages))
        body = getattr(message, field)
        assert len(body) <= limit, f"part {number} is {len(body)} > {limit}"
        ids = [s["url"] for s in message.payload["stories"]]
        seen += sorted(ids, key=order.index)  # a part's JSON lists its stories oldest first
        for s in stories:
            # Every story is wholly in the part whose payload holds it, and nowhere else.
            inside = s.url in body
            assert inside == (s.url in ids)
            if inside and markup == "html":
                # The snippet's text, once tags and entities are read back, and its hit marked.
                shown = unescape(re.sub(r"<[^>]+>", "", body))
                assert " ".join(s.snippet.replace("**", "").split()) in " ".join(shown.split())
                before, hit = s.snippet.split("**")[:2]
                assert re.search(rf"{re.escape(before.strip())} <mark[^>]*>{re.escape(hit)}</mark>", body)
            elif inside:
                assert s.snippet.replace("**", "") in body.replace("**", "").replace("\\", "")
    assert seen == order  # all, once, in order
    assert len({m.delivery_id for m in messages}) == 1
    assert "part 1" in messages[0].markdown and f"part {len(messages)}/{len(messages)}" in messages[-1].markdown


def test_a_story_longer_than_the_limit_goes_alone(renderer):
    big = story(2, snippet="**children deported** " + "x" * 3000)
    messages = renderer.messages(view([story(1), big, story(3)]), "e" * 32, 1000, "markdown")
    # Newest first (issue 15): story 3 was published last.
    assert [[s["url"] for s in m.payload["stories"]] for m in messages] == [[story(3).url], [big.url], [story(1).url]]
    assert big.snippet[-100:] in messages[1].markdown  # whole, not cut


def test_no_limit_means_one_message(renderer):
    stories = [story(n) for n in range(1, 60)]
    [message] = renderer.messages(view(stories), "f" * 32, None, "markdown")
    assert message.parts == 1 and len(message.payload["stories"]) == 59
    assert "part" not in message.markdown.splitlines()[0]


def _groups(messages):
    return [[s["url"] for s in m.payload["stories"]] for m in messages]


def test_footer_goes_in_the_last_part_and_grouping_ignores_source_health(renderer):
    stories = [story(n) for n in range(1, 13)]
    failing = [health(f"Outlet {n}", "failing", "HTTP 503 Service Unavailable " * 3, GENERATED - timedelta(days=2))
               for n in range(6)]
    healthy = renderer.messages(view(stories), "a" * 32, 900, "markdown")
    sick = renderer.messages(view(stories, failing), "a" * 32, 900, "markdown")
    # A retry after a source recovered (or started failing long ago) resumes at the same story.
    story_groups = [g for g in _groups(sick) if g]
    assert story_groups == _groups(healthy)
    assert all("Outlet 0" not in m.markdown for m in sick[:-1])
    assert "Outlet 0" in sick[-1].markdown and "Outlet 5" in sick[-1].markdown
    assert all(len(m.markdown) <= 900 for m in sick)
    assert all(m.payload["source_health"] for m in sick)  # the JSON document always carries health


def test_a_footer_that_does_not_fit_gets_a_part_of_its_own(renderer):
    stories = [story(n) for n in range(1, 4)]
    failing = [health(f"Outlet {n}", "failing", "timeout", GENERATED - timedelta(days=2)) for n in range(8)]
    whole = len(renderer.render("digest.md", view(stories), stories, 99, 99))
    messages = renderer.messages(view(stories, failing), "b" * 32, whole + 20, "markdown")
    assert _groups(messages) == [[s.url for s in stories], []]
    assert "Outlet 7" in messages[1].markdown and "Nothing new" not in messages[1].markdown
    assert messages[1].markdown.startswith("**daily** digest · ")  # the heading names the period (issue 15)
    assert "3 new reports" in messages[1].markdown.splitlines()[0]
