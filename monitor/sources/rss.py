"""`type: rss`: RSS 0.9x/1.0/2.0 and Atom feeds, parsed by feedparser (plain ones by ElementTree)."""

from __future__ import annotations

import calendar
import email.utils
import functools
import re
from xml.etree import ElementTree
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from monitor import encoding
from monitor.items import Collected, Item, SourceState
from monitor.sources.base import SourceConfig, SourceError, SourceType, fetch_source, register
from monitor.text import html_to_text, truncate_at_word
from monitor.urls import join_url

if TYPE_CHECKING:
    from monitor.fetch import Fetcher

_XML_DECL_ENCODING = re.compile(r"""^(\s*<\?xml[^>]*?encoding\s*=\s*["'])[^"']*(["'])""", re.IGNORECASE)
_ITEM_END = re.compile(rb"</(?:[A-Za-z0-9_]+:)?(?:item|entry)\s*>", re.IGNORECASE)
_FEED_END = re.compile(rb"</(?:[A-Za-z0-9_]+:)?(?:rss|feed|RDF)\s*>\s*$", re.IGNORECASE)
# A <link> tag, read up to its '>' or the next '<' (so never more than once: `<link[^>]+type=`
# backtracked over the rest of the page from every "<link" without a '>', 2 s for 8,000 of them).
_LINK_TAG = re.compile(r"<link\b[^<>]*+>", re.IGNORECASE)
_FEED_TYPE = re.compile(r"""type=["']application/(?:rss|atom)\+xml["']""", re.IGNORECASE)
_HREF = re.compile(r"""href=["']([^"']+)["']""", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedFeed:
    items: list[Item]
    warning: str | None = None


@register("rss")
class RssSource(SourceType):
    async def collect(self, source: SourceConfig, fetcher: Fetcher, state: SourceState) -> Collected:
        fetched = await fetch_source(source, fetcher, state)
        if isinstance(fetched, Collected):
            return fetched
        if fetched.same_as_last_time(state):
            return fetched.unchanged()  # same bytes as last time: skip the parse
        response = fetched.response
        parsed = await self.run(parse_feed, response.body, response.url, response.content_type)
        return Collected(items=parsed.items, warning=parsed.warning, **fetched.validators)


def parse_feed(body: bytes, url: str, content_type: str = "", *, fast: bool = True) -> ParsedFeed:
    """Items of an RSS/Atom document. A malformed feed still yields the items it has."""
    if not body.strip():
        raise SourceError(f"empty response from {url}")
    # Markup with little text between the tags (a tag every 8 bytes or less; feeds have one every
    # 15-75) may nest deep enough to cost ElementTree seconds too: its depth is checked first.
    dense = fast and body.count(b"<") * 8 > len(body)
    if dense:
        _refuse_beyond_limits(body, url, content_type, elements=False)
    quick = _plain_feed(body, url) if fast else None
    if quick is not None:
        return quick
    data, charset_note = _as_utf8(body, content_type)
    headers = {"content-location": url}
    headers["content-type"] = "application/xml; charset=utf-8" if charset_note is not None else (content_type or "application/xml")
    _refuse_beyond_limits(data, url, content_type, elements=True)
    # Links are joined in _item and markup is reduced to text: feedparser's URI rewriting and
    # sanitizing of every HTML fragment would be work thrown away.
    import feedparser  # on first use: `monitor check` and `--help` need not load it

    parsed = feedparser.parse(data, response_headers=headers, sanitize_html=False, resolve_relative_uris=False)
    entries = list(parsed.entries)

    if not entries and not parsed.get("version"):
        raise SourceError(_not_a_feed_reason(body, url, content_type, parsed))

    warning = None
    if parsed.bozo:
        problem = _bozo_message(parsed.get("bozo_exception"))
        if not _FEED_END.search(body.rstrip()[-200:]):
            # Cut off mid-document: keep only the entries whose closing tag arrived.
            complete = len(_ITEM_END.findall(body))
            if complete < len(entries):
                entries = entries[:complete]
            warning = f"feed truncated ({problem}); kept the {len(entries)} complete items"
        else:
            warning = f"malformed feed ({problem}); kept {len(entries)} items"
    if charset_note:
        warning = f"{warning}; {charset_note}" if warning else charset_note

    items = [item for item in (_item(entry, url) for entry in entries) if item is not None]
    return ParsedFeed(items, warning)


# --- limits on what feedparser is given ----------------------------------------------------------
# feedparser spends 20-40 µs on every element even when it holds nothing (xml:base and xml:lang
# bookkeeping, a URL join), and reads a malformed document twice (strict, then loose): 3 MB of
# nested or repeated tags, which the fast path hands over, took it 8-30 s. Real feeds are nowhere
# near these limits: the deepest in the corpora nests 11 elements, the largest holds 1,002 (55
# items); libxml2 stops at 256 levels too. An HTML page is never a feed: it is not parsed as one.
MAX_FEED_DEPTH = 256
MAX_FEED_ELEMENTS = 50_000
_XML_TOKEN = re.compile(rb"<(?:(/?)([A-Za-z_][^\s/>]*+)|(!--)|(!\[CDATA\[)|[!?])")
# Never pushed: HTML void elements in a loosely written feed (and RSS <link>, which closes anyway).
_XML_VOID = frozenset(b"area base br col embed hr img input link meta param source track wbr".split())


def _refuse_beyond_limits(data: bytes, url: str, content_type: str, *, elements: bool) -> None:
    """SourceError if the document nests deeper than MAX_FEED_DEPTH, is an HTML page, or (with
    `elements`) holds more than MAX_FEED_ELEMENTS elements; without, the scan stops there."""
    problem = _beyond_limits(data, refuse_many=elements)
    if problem == "html" or (problem and "<html" in data[:4096].decode("utf-8", errors="replace").lower()):
        raise SourceError(_not_a_feed_reason(data, url, content_type, None))
    if problem:
        raise SourceError(f"{problem}; not parsed ({url})")


def _beyond_limits(data: bytes, refuse_many: bool = True) -> str | None:
    """Why the document is too deep or too big for feedparser ("html": it is an HTML page), or
    None. One linear scan of the tags; an end tag closes up to the open element of its name, as
    the loose parser does; a tag cut off by the end of the document counts, as it does there."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data[:64]:
        try:  # UTF-16/32: the scan reads ASCII-compatible bytes
            data = data.decode("utf-32" if data[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff") else "utf-16")
            data = data.encode("utf-8")
        except UnicodeDecodeError:
            return None  # feedparser will not read it either
    stack: list[bytes] = []
    open_count: dict[bytes, int] = {}
    elements = pos = 0
    find, size = _XML_TOKEN.search, len(data)
    closing = True  # False once no '>' is left: each tag after that is read to the end, once
    while pos < size:
        match = find(data, pos)
        if match is None:
            break
        if match.group(3) or match.group(4):  # a comment, a CDATA section: no tags inside
            close = data.find(b"-->" if match.group(3) else b"]]>", match.end())
            pos = size if close < 0 else close + 3
            continue
        close = data.find(b">", match.end()) if closing else -1
        closing = close >= 0
        pos = close + 1 if closing else match.end()
        name = match.group(2)
        if name is None:  # <?...?>, <!DOCTYPE ...>
            continue
        if match.group(1):
            if open_count.get(name):
                while True:
                    top = stack.pop()
                    open_count[top] -= 1
                    if top == name:
                        break
            continue
        if not elements and name.lower() == b"html":
            return "html"
        elements += 1
        if elements > MAX_FEED_ELEMENTS:
            return f"the feed has more than {MAX_FEED_ELEMENTS:,} elements" if refuse_many else None
        if (closing and data[close - 1:close] == b"/") or name.lower() in _XML_VOID:
            continue
        stack.append(name)
        open_count[name] = open_count.get(name, 0) + 1
        if len(stack) > MAX_FEED_DEPTH:
            line = data.count(b"\n", 0, match.start()) + 1
            return (f"the feed nests elements more than {MAX_FEED_DEPTH} deep (<{name.decode('utf-8', 'replace')}> at "
                    f"line {line}, inside {_path(stack)})")
    return None


def _path(stack: list[bytes]) -> str:
    names = [f"<{name.decode('utf-8', 'replace')}>" for name in stack]
    return " ".join(names[:4] + (["…"] if len(names) > 4 else []))


# --- fast paths --------------------------------------------------------------------------------
# feedparser costs ~0.3 ms an item, most of a cold poll. The common cases, well-formed UTF-8 RSS
# 2.0, Atom 1.0 and RSS 1.0 with the usual elements, are read here with ElementTree in a tenth of
# that. Anything else goes to feedparser: another format or charset, entities, an element we do
# not map, a repeated one (which one feedparser keeps depends on the element), an odd date, a
# text feedparser would rewrite. tests/test_feedparser_corpus.py checks that both paths give the
# same items, on the corpora and on a case written for each rule below.
_NS_ATOM = "{http://www.w3.org/2005/Atom}"
_NS_RSS1 = "{http://purl.org/rss/1.0/}"
_NS_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_NS_DC = "{http://purl.org/dc/elements/1.1/}"
_NS_MEDIA = "{http://search.yahoo.com/mrss/}"
_NS_CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# Children feedparser keeps under names of their own, which _item never reads. (Only namespaces
# feedparser knows: in any other it goes by the document's prefix, which ElementTree does not keep.)
_IGNORED_NS = ("{http://purl.org/rss/1.0/modules/slash/}", "{http://wellformedweb.org/CommentAPI/}",
               "{http://rssnamespace.org/feedburner/ext/1.0}")
_DC_IGNORED = frozenset(_NS_DC + name for name in (
    "subject", "rights", "publisher", "language", "format", "identifier", "type", "source", "relation", "coverage"))
_RSS2_MAPPED = frozenset({"title", "link", "guid", "pubDate", "description", "author", _NS_DC + "creator", _NS_CONTENT})
_RSS2_IGNORED = frozenset({"category", "comments", "enclosure", "source"}) | _DC_IGNORED
_RSS_VERSIONS = frozenset({"2.0", "2.0.1", "0.91", "0.92", "0.93", "0.94"})
_ATOM_MAPPED = frozenset(_NS_ATOM + name for name in
                         ("title", "link", "id", "published", "updated", "summary", "content", "author"))
_ATOM_IGNORED = frozenset({_NS_ATOM + "category", _NS_ATOM + "rights"})
_ATOM_AUTHOR = frozenset({_NS_ATOM + "name", _NS_ATOM + "email", _NS_ATOM + "uri"})
_ATOM_LINK_ATTRIBUTES = frozenset({"href", "rel", "type", "title", "hreflang", "length", _XML_LANG})
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "html", "xhtml"})
_RSS1_MAPPED = frozenset({_NS_RSS1 + "title", _NS_RSS1 + "link", _NS_RSS1 + "description", _NS_DC + "date",
                          _NS_DC + "creator", _NS_CONTENT})
_UTF8_DECL = re.compile(rb"""\s*<\?xml[^>]*encoding\s*=\s*["']([^"']+)""")
# C1 controls (U+0080-U+009F), raw or as character references: looked for in the whole document,
# at bytes speed, rather than in each text.
_C1_BYTES = re.compile(rb"\xc2[\x80-\x9f]")
_C1_REFERENCES = re.compile(rb"&#(?:[xX]0*[89][0-9a-fA-F]|0*1(?:2[89]|[3-5][0-9]));")
_ENTITY_LIKE = re.compile(r"&[A-Za-z0-9_]+;")
_SLASHES_AFTER_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+,.-]*:///")
_W3DTF = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d)(?:\.\d+)?)?(?:Z|([+-])(\d\d):(\d\d))?", re.ASCII)


class _Refused(Exception):
    """Raised inside a fast path at anything feedparser may read otherwise: it reads the feed."""


def _plain_feed(body: bytes, url: str) -> ParsedFeed | None:
    """The items of a plain RSS 2.0, Atom 1.0 or RSS 1.0 document; None when feedparser must read it."""
    root = _plain_tree(body)
    form = _PLAIN_FORMATS.get(root.tag) if root is not None else None
    if form is None or (root.tag == "rss" and root.get("version") not in _RSS_VERSIONS):
        return None
    required, entry_tag, read = form
    if required and root.find(required) is None:
        return None
    entries = []
    for element in root.iter():
        if element.attrib and any(key.lower().endswith("base") for key in element.attrib):
            return None  # xml:base (or a bare base=): feedparser joins links to it
        if element.tag == entry_tag:
            entries.append(element)
        elif element.tag.lower().endswith(("item", "entry")):
            return None  # feedparser may take it for an entry too (it lowercases names): an <Item>, an <atom:entry>
    try:
        read_entries = [read(element, url) for element in entries]
    except _Refused:
        return None
    items = (_item(entry, url, published) for entry, published in read_entries)
    return ParsedFeed([item for item in items if item is not None])


def _plain_tree(body: bytes) -> ElementTree.Element | None:
    """The root of a well-formed UTF-8 document without a DTD (whose entities feedparser expands its
    own way), a BOM or C1 controls (which feedparser reads as windows-1252 punctuation); else None."""
    head = body[:4096]
    if b"<!DOCTYPE" in head or b"<!ENTITY" in body or body.startswith((b"\xef\xbb\xbf", b"\xff", b"\xfe")):
        return None
    if _C1_BYTES.search(body) or _C1_REFERENCES.search(body):
        return None
    declared = _UTF8_DECL.match(head)
    if declared and declared.group(1).lower() not in (b"utf-8", b"utf8", b"us-ascii"):
        return None
    try:
        return ElementTree.fromstring(body)
    except (ElementTree.ParseError, LookupError, ValueError):
        return None


def _rss2_entry(item: ElementTree.Element, url: str) -> tuple[dict, datetime | None]:
    _check_attributes(item)  # feedparser reads href= and lastmod= on an item as its link and date
    found = _children(item, _RSS2_MAPPED, _RSS2_IGNORED)
    one = functools.partial(_one, found)
    if "author" in found and _NS_DC + "creator" in found:
        raise _Refused  # both are feedparser's author: the later one wins
    guid = one("guid")
    guid_text = _text(guid, {"isPermaLink"})
    if guid is not None and guid.get("isPermaLink", "true") == "true":
        guid_text = _uri(guid_text, url)  # a permalink: feedparser joins it to the feed's URL
    date = _text(one("pubDate"))
    published = _rfc822(date) if date else None
    if date and published is None:
        raise _Refused
    creator = one(_NS_DC + "creator")
    description, content = _text(one("description")), _text(one(_NS_CONTENT))
    return {"link": _text_link(_text(one("link")), url), "id": guid_text, "title": _text(one("title")),
            **_summary_and_content(description, content),
            "author": _text(creator if creator is not None else one("author"))}, published


def _atom_entry(entry: ElementTree.Element, url: str) -> tuple[dict, datetime | None]:
    _check_attributes(entry)
    found = _children(entry, _ATOM_MAPPED, _ATOM_IGNORED)
    one = functools.partial(_one, found)
    # An Atom id is joined to the feed's URL and, when no link is the entry's, taken for its link.
    entry_id = _uri(_text(one(_NS_ATOM + "id")), url)
    links = [href for link in found.get(_NS_ATOM + "link", ()) if (href := _atom_link(link, url))]
    published = _w3dtf(_text(one(_NS_ATOM + "published"))) or _w3dtf(_text(one(_NS_ATOM + "updated")))
    return {"link": links[-1] if links else entry_id, "id": entry_id, "title": _atom_text(one(_NS_ATOM + "title")),
            **_summary_and_content(_atom_text(one(_NS_ATOM + "summary")), _atom_text(one(_NS_ATOM + "content"))),
            "author": _atom_author(one(_NS_ATOM + "author"))}, published


def _rss1_entry(item: ElementTree.Element, url: str) -> tuple[dict, datetime | None]:
    _check_attributes(item, {_NS_RDF + "about"})
    found = _children(item, _RSS1_MAPPED, _DC_IGNORED)
    one = functools.partial(_one, found)
    # rdf:about is feedparser's id as written: not joined to the feed's URL, nor taken for a link.
    return {"link": _text_link(_text(one(_NS_RSS1 + "link")), url), "id": item.get(_NS_RDF + "about"),
            "title": _text(one(_NS_RSS1 + "title")),
            **_summary_and_content(_text(one(_NS_RSS1 + "description")), _text(one(_NS_CONTENT))),
            "author": _text(one(_NS_DC + "creator"))}, _w3dtf(_text(one(_NS_DC + "date")))


# root tag: (a child the root must have, the tag of an entry, the reader of an entry)
_PLAIN_FORMATS = {
    "rss": ("channel", "item", _rss2_entry),
    _NS_ATOM + "feed": (None, _NS_ATOM + "entry", _atom_entry),
    _NS_RDF + "RDF": (_NS_RSS1 + "channel", _NS_RSS1 + "item", _rss1_entry),
}


def _children(entry: ElementTree.Element, mapped: frozenset, ignored: frozenset) -> dict[str, list]:
    """The entry's children that we map, by tag; _Refused at any other child but an ignored one."""
    found: dict[str, list] = {}
    for child in entry:
        tag = child.tag
        if tag in mapped:
            found.setdefault(tag, []).append(child)
        elif tag.startswith(_NS_MEDIA):
            for part in child.iter():  # media:title and media:description: feedparser's title, summary or content
                if not part.tag.startswith(_NS_MEDIA) or part.tag in (_NS_MEDIA + "title", _NS_MEDIA + "description"):
                    raise _Refused
        elif (tag not in ignored and not tag.startswith(_IGNORED_NS)) or len(child):
            raise _Refused
    return found


def _one(found: dict[str, list], tag: str) -> ElementTree.Element | None:
    elements = found.get(tag, ())
    if len(elements) > 1:
        raise _Refused  # feedparser keeps the first title, the last link, makes a second summary content...
    return elements[0] if elements else None


def _check_attributes(element: ElementTree.Element, allowed: frozenset | set = frozenset()) -> None:
    for key in element.attrib:
        if key != _XML_LANG and key not in allowed:
            raise _Refused  # type= or mode= may have feedparser decode base64, href= makes a link...


def _text(element: ElementTree.Element | None, allowed: frozenset | set = frozenset()) -> str | None:
    """The element's text, stripped as feedparser does; None without an element. _Refused for markup
    inside (feedparser keeps it as HTML) or for UTF-8 that was decoded as Latin-1 (feedparser decodes
    it again; C1 controls, which it rewrites too, were looked for in the whole document)."""
    if element is None:
        return None
    if len(element):
        raise _Refused
    _check_attributes(element, allowed)
    text = (element.text or "").strip()
    if not text.isascii() and _reads_as_utf8(text):
        raise _Refused
    return text


def _reads_as_utf8(text: str) -> bool:
    try:
        text.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return False
    return True


def _atom_text(element: ElementTree.Element | None) -> str | None:
    """An Atom text construct of type text (the default) or html. xhtml holds markup, and feedparser
    decodes most other types as base64."""
    if element is not None and element.get("type", "text") not in ("text", "html"):
        raise _Refused
    return _text(element, {"type"})


def _atom_link(link: ElementTree.Element, url: str) -> str | None:
    """The joined href when feedparser takes the link for the entry's: rel="alternate" (the default)
    and an HTML type (the default); None for another link. The last such link wins, as there."""
    if len(link) or not link.get("href") or not link.attrib.keys() <= _ATOM_LINK_ATTRIBUTES:
        raise _Refused  # no href: feedparser reads the text; url= or uri= stand for href there
    if link.get("rel", "alternate").lower() == "alternate" and link.get("type", "text/html").lower() in _HTML_TYPES:
        return _uri(link.get("href"), url)
    return None


def _atom_author(author: ElementTree.Element | None) -> str | None:
    """feedparser's author: "name (email)", or the one of them there is."""
    if author is None:
        return None
    _check_attributes(author)
    if (author.text or "").strip() or any((child.tail or "").strip() for child in author):
        raise _Refused  # text outside <name>: feedparser may take it for the author
    found = _children(author, _ATOM_AUTHOR, frozenset())
    name, email = _text(_one(found, _NS_ATOM + "name")), _text(_one(found, _NS_ATOM + "email"))
    _text(_one(found, _NS_ATOM + "uri"))  # a <name> inside it would be feedparser's name too
    return f"{name} ({email})" if name and email else name or email


def _summary_and_content(summary: str | None, content: str | None) -> dict:
    # Like feedparser: without a summary (an empty one counts), the full content doubles as one.
    return {"summary": summary if summary is not None else content,
            "content": [] if content is None else [{"value": content}]}


def _uri(value: str | None, base: str) -> str | None:
    """A link or id joined to the feed's URL, as feedparser gives it."""
    if not value:
        return value
    if _SLASHES_AFTER_SCHEME.match(value):
        raise _Refused  # feedparser drops the extra slashes of "http:///"
    try:
        return join_url(base, value)
    except ValueError:  # an invalid IPv6 host: feedparser makes it ""
        raise _Refused from None


def _text_link(value: str | None, base: str) -> str | None:
    """An RSS <link>'s text, as feedparser gives it."""
    joined = _uri(value, base)
    if joined and _ENTITY_LIKE.search(joined):
        raise _Refused  # feedparser rewrites "&amp;" and "&name;" in links (repairing double escapes)
    return joined


def _w3dtf(value: str | None) -> datetime | None:
    """An Atom or dc:date date-time in UTC, as feedparser's W3C-DTF parser reads it (no zone: UTC);
    _Refused for any other form (another of its parsers would try)."""
    if not value:
        return None
    match = _W3DTF.fullmatch(value)
    if match is None:
        raise _Refused  # "+0530" among them: feedparser reads its minutes as 0
    year, month, day, hour, minute, second, sign, zone_h, zone_m = match.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0),
                          tzinfo=timezone.utc)
        offset = timedelta(hours=int(zone_h), minutes=int(zone_m)) if sign else timedelta(0)
        return moment - offset if sign == "+" else moment + offset
    except (ValueError, OverflowError):
        raise _Refused from None


_RFC822 = re.compile(r"\s*(?:[A-Za-z]{3},\s*)?(\d{1,2}) ([A-Za-z]{3}) (\d{4}) (\d{2}):(\d{2})(?::(\d{2}))?"
                     r" (?:([+-])(\d{2})(\d{2})|GMT|UT|UTC|Z)\s*")
_MONTHS = {m: n for n, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                       "dec"), start=1)}


def _rfc822(value: str) -> datetime | None:
    """An RSS pubDate in UTC, or None when it is not plain RFC 822 with a zone (feedparser's turn)."""
    match = _RFC822.fullmatch(value)
    if match:
        day, month, year, hour, minute, second, sign, zone_h, zone_m = match.groups()
        number = _MONTHS.get(month.lower())
        if number is None:
            return None
        try:
            moment = datetime(int(year), number, int(day), int(hour), int(minute), int(second or 0), tzinfo=timezone.utc)
        except ValueError:
            return None
        if sign:
            offset = timedelta(hours=int(zone_h), minutes=int(zone_m))
            moment = moment - offset if sign == "+" else moment + offset
        return moment
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed.astimezone(timezone.utc) if parsed.tzinfo is not None else None


def _as_utf8(body: bytes, content_type: str) -> tuple[bytes, str | None]:
    """Re-encode the body as UTF-8 when we are surer of its charset than its declaration is.

    Returns (bytes for feedparser, note). The note is None when the body is passed through
    untouched, "" when it was normalised silently, or a message when the declaration was wrong.
    """
    decoded = encoding.decode(body, content_type)
    if decoded is None:
        return body, None
    text = _XML_DECL_ENCODING.sub(r"\1utf-8\2", decoded.text, count=1)
    note = ""
    if decoded.overridden:
        note = f"declared charset {decoded.declared} does not match the bytes; decoded as {decoded.encoding}"
    return text.encode("utf-8"), note


def _item(entry, feed_url: str, published: datetime | None = None) -> Item | None:
    link = (entry.get("link") or "").strip()
    guid = (entry.get("id") or "").strip() or None
    if not link and guid and guid.startswith(("http://", "https://")):
        link = guid
    if link and not link.startswith(("http://", "https://")):
        link = urljoin(feed_url, link)
        if not link.startswith(("http://", "https://")):
            link = ""  # javascript:, mailto: and such are not articles
    title = html_to_text(entry.get("title") or "")
    summary = html_to_text(entry.get("summary") or "")
    content = ""
    for part in entry.get("content") or []:
        value = html_to_text(part.get("value") or "")
        if len(value) > len(content):
            content = value
    if content == summary:
        content = ""
    if not (link or guid or title or summary):
        return None
    return Item(url=link, title=title or truncate_at_word(summary, 90), summary=summary, content=content,
                guid=guid, published=published or _published(entry), author=(entry.get("author") or "").strip())


def _published(entry) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), tz=timezone.utc)
            except (OverflowError, ValueError, OSError):
                continue
    return None


def _bozo_message(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown problem"
    message = getattr(exc, "getMessage", None)
    text = message() if callable(message) else str(exc)
    line = getattr(exc, "getLineNumber", lambda: None)()
    return f"{text} at line {line}" if line else text


def _not_a_feed_reason(body: bytes, url: str, content_type: str, parsed) -> str:
    head = body[:4096].decode("utf-8", errors="replace")
    if "<html" in head.lower() or "html" in content_type.lower():
        reason = f"not an RSS or Atom feed: {url} returned an HTML page"
        links = _LINK_TAG.finditer(body[:200_000].decode("utf-8", errors="replace"))
        match = next((link for link in links if _FEED_TYPE.search(link.group(0))), None)
        href = _HREF.search(match.group(0)) if match else None
        if href:
            reason += f"; the page links a feed at {urljoin(url, href.group(1))}, use that URL"
        return reason
    if parsed.bozo:
        return f"not a readable feed: {_bozo_message(parsed.get('bozo_exception'))} ({url})"
    return f"not an RSS or Atom feed ({content_type or 'no content type'}) at {url}"
