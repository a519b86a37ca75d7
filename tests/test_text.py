"""Feed HTML → text: the quick path for simple markup agrees with the HTML parser."""

from __future__ import annotations

import feedparser
import pytest

from monitor.text import html_to_text, html_to_text_parsed
from tests.conftest import CORPORA, FIXTURES

CASES = [
    ("<p>Eleven <b>children</b> returned.</p><p>Second &amp; last.</p>", "Eleven children returned.\n\nSecond & last."),
    ('Read <a href="https://x.example/?a=1&amp;b=2" title="x > y">more</a>', "Read more"),
    ("a < b and c > d", "a < b and c > d"),
    ("line one<br>line two<br/>three", "line one\n\nline two\n\nthree"),
    ("safe<script>alert(1)</script> text", "safe text"),
    ("<!-- hidden --><p>shown</p>", "shown"),
    ("&lt;script&gt;alert(1)&lt;/script&gt;", "<script>alert(1)</script>"),  # text about markup stays text
    ("Діти&nbsp;повернулися <i>додому</i>", "Діти повернулися додому"),
]


@pytest.mark.parametrize("fragment, text", CASES)
def test_html_to_text(fragment, text):
    assert html_to_text(fragment) == text
    assert html_to_text_parsed(fragment) == text


def test_quick_path_agrees_with_the_parser_on_every_feed_fragment():
    files = [p for root in (FIXTURES, CORPORA / "feedparser-tests", CORPORA / "real-feeds") if root.is_dir()
             for p in root.rglob("*") if p.is_file() and p.suffix in (".xml", ".rss", ".atom")]
    fragments = []
    for path in files:
        parsed = feedparser.parse(path.read_bytes(), sanitize_html=False, resolve_relative_uris=False)
        for entry in parsed.entries:
            fragments += [entry.get(k) for k in ("title", "summary") if entry.get(k)]
            fragments += [c.get("value") for c in entry.get("content") or [] if c.get("value")]
    assert fragments
    differ = [f for f in fragments if html_to_text(f) != html_to_text_parsed(f)]
    assert not differ, differ[:3]
