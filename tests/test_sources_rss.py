"""`type: rss` on hostile documents: each is read (or refused, with the reason) in linear time
(issue 10.2). The documents are generated here, in the child process the hang guard runs."""

from __future__ import annotations

import html

import pytest

from monitor.sources.base import SourceError
from monitor.sources.rss import MAX_FEED_DEPTH, MAX_FEED_ELEMENTS, parse_feed
from tests.support.hang import finishes_within

URL = "https://feed.example/rss.xml"


def _feed(description: bytes, *, close: bool = True) -> bytes:
    """RSS 2.0 with a hostile first item, and a healthy second one."""
    return (b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Ledger</title>'
            b'<item><title>Eleven children brought home</title><link>https://feed.example/a</link><description>'
            + description + (b"</description>" if close else b"") +
            b'</item><item><title>Power restored in Kharkiv</title><link>https://feed.example/b</link>'
            b'<description>Crews worked overnight.</description></item></channel></rss>')


def _read(body: bytes) -> tuple[str, list[tuple[str, str]]]:
    """("", the items' titles and summaries), or (the SourceError, [])."""
    try:
        parsed = parse_feed(body, URL, "application/rss+xml")
    except SourceError as exc:
        return str(exc), []
    return "", [(item.title, item.summary) for item in parsed.items]


def _open_tag_summary() -> tuple[str, list[tuple[str, str]]]:
    # The summary, as a feed carries markup (escaped): "...returned <a" and 30,000 spaces. 16,000
    # took the tag pattern 7 s; the service froze for 44 s on 30,000.
    return _read(_feed(b"Eleven children returned &lt;a" + b" " * 30_000 + b"home"))


def test_summary_of_an_open_tag_and_30000_spaces():
    error, items = finishes_within(15, _open_tag_summary)
    assert not error
    assert items == [("Eleven children brought home", "Eleven children returned"),  # '<a ...' never closes: no text
                     ("Power restored in Kharkiv", "Crews worked overnight.")]


def _nested_feed(kind: str) -> tuple[str, list[tuple[str, str]]]:
    n = 430_000  # about 3 MB
    if kind == "elements":      # XHTML elements in the description: ElementTree leaves it to feedparser
        return _read(_feed(b"<div>" * n + b"deep" + b"</div>" * n))
    if kind == "unclosed":      # never closed: feedparser reads it twice (strict, then loose)
        return _read(_feed(b"<b>" * n, close=False))
    if kind == "too-many":      # not nested, just a million elements
        return _read(_feed(b"<b/>" * 1_000_000))
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["elements", "unclosed"])
def test_deeply_nested_feed_is_refused_with_its_depth(kind):
    error, items = finishes_within(15, _nested_feed, kind)
    assert error.startswith(f"the feed nests elements more than {MAX_FEED_DEPTH} deep (<")
    assert "at line 1, inside <rss> <channel> <item> <description>" in error and URL in error
    assert items == []


def test_feed_of_a_million_elements_is_refused():
    error, _ = finishes_within(15, _nested_feed, "too-many")
    assert error.startswith(f"the feed has more than {MAX_FEED_ELEMENTS:,} elements; not parsed")


def _nested_markup_in_summary(count: int) -> tuple[str, list[tuple[str, str]]]:
    # Markup in CDATA, as feeds carry it: `count` nested <div>, and a comment (not plain markup, so
    # not the quick path). The HTML parser's scope checks made it quadratic: 40,000 took 7 s.
    markup = "<!-- lead -->" + "<div>" * count + "Eleven children returned home." + "</div>" * count
    return _read(_feed(f"<![CDATA[{markup}]]>".encode()))


def test_summary_of_430000_nested_divs():
    error, items = finishes_within(15, _nested_markup_in_summary, 430_000)
    assert not error
    assert items[0] == ("Eleven children brought home", "Eleven children returned home.")


def _html_page_with_open_link_tags() -> str:
    # Not a feed: a page whose <head> holds 40,000 "<link " never closed. Looking for the page's
    # feed link backtracked over the rest of the page from each one.
    return _read(b"<html><head>" + b"<link " * 40_000)[0]


def test_html_page_with_40000_open_link_tags_is_refused_as_html():
    assert finishes_within(15, _html_page_with_open_link_tags).startswith(
        f"not an RSS or Atom feed: {URL} returned an HTML page")


def test_ordinary_nesting_and_markup_are_untouched():
    """Atom XHTML content nested as real articles nest it reads as before."""
    article = "<div><p>" + "<span>" * 40 + "Eleven <b>children</b> returned." + "</span>" * 40 + "</p></div>"
    body = ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
            '<entry><title>Returned</title><id>https://feed.example/a</id><link href="https://feed.example/a"/>'
            f'<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">{article}</div></content></entry>'
            f'<entry><title>Escaped</title><id>https://feed.example/b</id><link href="https://feed.example/b"/>'
            f'<summary type="html">{html.escape(article)}</summary></entry></feed>').encode()
    items = parse_feed(body, URL).items
    assert [(i.title, i.content or i.summary) for i in items] == [("Returned", "Eleven children returned."),
                                                                  ("Escaped", "Eleven children returned.")]
