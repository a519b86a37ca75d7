"""An article page → its main text and metadata (title, date, author, language, canonical URL).

Main text comes from trafilatura (include_comments=False), which measured best on the
article-extraction benchmark (bench/extraction.py): navigation, sidebars, related-link lists,
comments and footers are left out, because the topic matcher must only see what the article itself
says. One thing trafilatura keeps is the "Read also: <a>other story</a>" line that sites put inside
the article body; those lines are removed first, or a bridge repair story would match on the
deportation headline it links to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urljoin

import trafilatura
from lxml.html import HtmlElement
from trafilatura.utils import load_html

from monitor import encoding
from monitor.dates import iso_date, parse_date
from monitor.lang import detect_language

# "Read also: <a>another story</a>" lines that sites put inside the article body itself, where no
# extractor can tell them from the text by position. They are dropped when what follows the label
# is mostly link text, so a sentence that merely starts with "Related" stays.
_READ_ALSO = re.compile(
    r"^[\W_]*(?:read also|also read|read more|see also|related|more on this|more on the topic|"
    r"читайте також|також читайте|читайте ще|дивіться також|більше на тему|по темі|"
    r"читайте также|также читайте|читайте еще|читайте ещё|смотрите также|по теме|ещё по теме|еще по теме)"
    r"\b[\s:.\-–—»>]*", re.IGNORECASE)
_READ_ALSO_MAX_CHARS = 400
_BLOCKS = ("p", "div", "li", "h2", "h3", "h4", "h5", "h6", "section", "aside", "blockquote")
_PUBLISHED_XPATH = (
    "//meta[@property='article:published_time' or @itemprop='datePublished' or @name='article:published_time'"
    " or @name='pubdate' or @name='publishdate' or @name='parsely-pub-date' or @name='dcterms.created']/@content"
    " | //*[@itemprop='datePublished']/@datetime")
_JSON_LD_PUBLISHED = re.compile(r'"datePublished"\s*:\s*"([^"]{8,40})"')
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
    published = _published(tree)
    _drop_read_also(tree)
    result = trafilatura.bare_extraction(
        tree, url=url or None, include_comments=False, with_metadata=True,
        date_extraction_params={"extensive_search": True, "original_date": True,
                                "outputformat": "%Y-%m-%dT%H:%M:%S%z"},
    )
    if result is None:
        return Extracted("", url=url, canonical=canonical, lang=declared_lang)
    body = (result.text or "").strip()
    title = (result.title or "").strip()
    return Extracted(body, title=title, date=published or iso_date(result.date), author=(result.author or "").strip(),
                     lang=_lang(declared_lang, title, body), canonical=canonical, url=url)


def _decode(body: bytes, content_type: str) -> str:
    decoded = encoding.decode(body, content_type)
    return decoded.text if decoded is not None else body.decode("utf-8", errors="replace")


def _drop_read_also(tree: HtmlElement) -> None:
    doomed = []
    for block in tree.iter(*_BLOCKS):
        # Cheap test first (the block's own leading text, or its first child's): most blocks fail it.
        lead = (block.text or "").strip() or (len(block) and (block[0].text or "").strip()) or ""
        if not lead or not _READ_ALSO.match(lead):
            continue
        text = " ".join(block.text_content().split())
        label = _READ_ALSO.match(text)
        if len(text) > _READ_ALSO_MAX_CHARS or label is None:
            continue
        rest = text[label.end():]
        if not rest:
            # The label alone; the link follows in the next block ("Read also:" / "<p><a>...</a></p>").
            following = block.getnext()
            if following is not None and _mostly_links(following):
                doomed.append(following)
            doomed.append(block)
        elif _link_chars(block) >= 0.6 * len(rest):
            doomed.append(block)
    for block in doomed:
        if block.getparent() is not None:
            block.drop_tree()


def _link_chars(node: HtmlElement) -> int:
    return sum(len(" ".join(a.text_content().split())) for a in node.iter("a"))


def _mostly_links(node: HtmlElement) -> bool:
    text = " ".join(node.text_content().split())
    return bool(text) and len(text) <= _READ_ALSO_MAX_CHARS and _link_chars(node) >= 0.8 * len(text)


def _canonical(tree: HtmlElement, url: str) -> str:
    for xpath in ("//head/link[@rel='canonical']/@href", "//link[@rel='canonical']/@href",
                  "//meta[@property='og:url']/@content"):
        for href in tree.xpath(xpath):
            absolute = urljoin(url, href.strip()) if href.strip() else ""
            if absolute.startswith(("http://", "https://")):
                return absolute
    return ""


def _published(tree: HtmlElement) -> datetime | None:
    """The publication time the page states in its metadata (htmldate, the fallback, drops the time of day)."""
    values = tree.xpath(_PUBLISHED_XPATH)
    for script in tree.xpath("//script[@type='application/ld+json']/text()"):
        values += _JSON_LD_PUBLISHED.findall(script)
    for value in values:
        when = parse_date(value, ())
        if when is not None:
            return when
    return None


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
