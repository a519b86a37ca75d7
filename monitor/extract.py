"""An article page → its main text and metadata (title, date, author, language, canonical URL).

Main text comes from trafilatura, which measured best on the article-extraction benchmark
(bench/extraction.py): navigation, sidebars, related links, comments and footers are left out,
because the topic matcher must only see what the article itself says. Before trafilatura sees the
page, blocks that are never part of an article by their markup (<nav>, <aside>, <footer>, comment
sections, "most read"/"related" widgets) are pruned: trafilatura keeps a linked list when it sits
inside the article container, which is exactly where many sites put their "related stories".
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urljoin

import trafilatura
from lxml.html import HtmlElement
from trafilatura.utils import load_html

from monitor import encoding
from monitor.topics.lang import detect_language

log = logging.getLogger(__name__)

# Widgets that link elsewhere on the site, matched at the start of a class word or after a dash:
# "related" hits "related-posts" and "article__related" but not "unrelated".
_WIDGET_WORDS = ("related", "most-read", "mostread", "most-popular", "popular", "trending", "read-more",
                 "readmore", "recommended", "also-read", "more-news", "comments", "comment-list", "share",
                 "sharing", "social", "newsletter", "subscribe", "breadcrumb", "sidebar", "tags")
_CLASS = "concat(' ', translate(normalize-space(@class), '_', '-'))"
_WIDGET_XPATH = " | ".join(
    [f"//*[contains({_CLASS}, ' {w}') or contains({_CLASS}, '-{w}') or starts-with(translate(@id, '_', '-'), '{w}')]"
     for w in _WIDGET_WORDS]
    + ["//nav", "//aside", "//footer", "//*[@role='navigation' or @role='complementary' or @role='contentinfo']",
       "//*[@id='comments' or @id='respond' or @class='comments']"])
_LANG = re.compile(r"^([a-zA-Z]{2,3})(?:[-_]|$)")


@dataclass(frozen=True)
class Extracted:
    text: str                       # the main text, paragraphs separated by newlines; "" if none found
    title: str = ""
    date: datetime | None = None    # publication date; timezone-aware (UTC assumed when the page gives none)
    author: str = ""
    lang: str = ""                  # ISO 639-1 when known
    canonical: str = ""             # rel=canonical or og:url, absolute; "" when the page declares neither
    url: str = ""                   # where the page was fetched from

    @property
    def words(self) -> int:
        return len(self.text.split())


def extract(document: bytes | str, url: str = "", content_type: str = "") -> Extracted:
    """Extract the article from an HTML page (bytes are decoded as the page and header declare)."""
    text = _decode(document, content_type) if isinstance(document, bytes) else document
    tree = load_html(text) if text.strip() else None
    if tree is None:
        return Extracted("", url=url)
    canonical = _canonical(tree, url)
    declared_lang = _declared_lang(tree)
    _prune_widgets(tree)
    result = trafilatura.bare_extraction(
        tree, url=url or None, include_comments=False, with_metadata=True,
        date_extraction_params={"extensive_search": True, "original_date": True,
                                "outputformat": "%Y-%m-%dT%H:%M:%S%z"},
    )
    if result is None:
        return Extracted("", url=url, canonical=canonical, lang=declared_lang)
    body = (result.text or "").strip()
    title = (result.title or "").strip()
    return Extracted(body, title=title, date=_date(result.date), author=(result.author or "").strip(),
                     lang=_lang(declared_lang, title, body), canonical=canonical, url=url)


def _decode(body: bytes, content_type: str) -> str:
    decoded = encoding.decode(body, content_type)
    return decoded.text if decoded is not None else body.decode("utf-8", errors="replace")


def _prune_widgets(tree: HtmlElement) -> None:
    body = tree.find("body")
    for node in tree.xpath(_WIDGET_XPATH):
        # Never prune the page itself or a wrapper of the article ("page--with-sidebar" on <body>).
        if node is tree or node is body or node.xpath(".//article | .//*[@itemprop='articleBody']"):
            continue
        parent = node.getparent()
        if parent is not None:
            node.drop_tree()


def _canonical(tree: HtmlElement, url: str) -> str:
    for xpath in ("//head/link[@rel='canonical']/@href", "//link[@rel='canonical']/@href",
                  "//meta[@property='og:url']/@content"):
        for href in tree.xpath(xpath):
            absolute = urljoin(url, href.strip()) if href.strip() else ""
            if absolute.startswith(("http://", "https://")):
                return absolute
    return ""


def _declared_lang(tree: HtmlElement) -> str:
    candidates = [tree.get("lang"), tree.get("xml:lang"), tree.get("{http://www.w3.org/XML/1998/namespace}lang")]
    candidates += tree.xpath("//meta[translate(@http-equiv, 'CONTELANGU', 'contelangu')='content-language']/@content")
    candidates += tree.xpath("//meta[@property='og:locale']/@content")
    for value in candidates:
        match = _LANG.match((value or "").strip())
        if match:
            return match.group(1).lower()
    return ""


def _lang(declared: str, title: str, text: str) -> str:
    # Site templates often declare one language for every page ("ru" on a Ukrainian article, "en"
    # as a CMS default): when the text is clearly Ukrainian or Russian, the text wins.
    detected = detect_language(title, text) if text or title else "und"
    if detected in ("uk", "ru") and detected != declared:
        return detected
    if declared:
        return declared
    return "" if detected == "und" else detected


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
