"""`type: rss`: RSS 0.9x/1.0/2.0 and Atom feeds, parsed by feedparser."""

from __future__ import annotations

import calendar
import email.utils
import re
from xml.etree import ElementTree
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import urljoin

from monitor import encoding
from monitor.fetch import Fetcher
from monitor.items import Collected, Item, SourceState
from monitor.sources.base import SourceConfig, SourceError, SourceType, fetch_source, register
from monitor.text import html_to_text, truncate_at_word

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
    quick = _plain_rss2(body, url) if fast else None
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


# --- fast path ---------------------------------------------------------------------------------
# feedparser costs ~0.3 ms an item, most of a cold poll. The common case, well-formed UTF-8
# RSS 2.0 with the usual elements, is read here with ElementTree in a tenth of that; anything
# else (another format or charset, entities, an element we do not map, an odd date) goes to
# feedparser. tests/test_feedparser_corpus.py checks both paths give the same items.
_NS_DC = "{http://purl.org/dc/elements/1.1/}"
_NS_CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
_MAPPED = frozenset({"title", "link", "guid", "pubDate", "description", "author", _NS_DC + "creator", _NS_CONTENT})
_IGNORED = frozenset({"category", "comments", "enclosure", "source"})
_IGNORED_NS = ("{http://search.yahoo.com/mrss/}", "{http://purl.org/rss/1.0/modules/slash/}",
               "{http://wellformedweb.org/CommentAPI/}")
_RSS_VERSIONS = frozenset({"2.0", "2.0.1", "0.91", "0.92", "0.93", "0.94"})
_UTF8_DECL = re.compile(rb"""\s*<\?xml[^>]*encoding\s*=\s*["']([^"']+)""")
_C1_CONTROLS = re.compile("[\x80-\x9f]")


def _plain_rss2(body: bytes, url: str) -> ParsedFeed | None:
    head = body[:4096]
    if b"<!DOCTYPE" in head or b"<!ENTITY" in body or body.startswith((b"\xef\xbb\xbf", b"\xff", b"\xfe")):
        return None
    declared = _UTF8_DECL.match(head)
    if declared and declared.group(1).lower() not in (b"utf-8", b"utf8", b"us-ascii"):
        return None
    try:
        root = ElementTree.fromstring(body)
    except (ElementTree.ParseError, LookupError, ValueError):
        return None
    channel = root.find("channel") if root.tag == "rss" and root.get("version") in _RSS_VERSIONS else None
    if channel is None:
        return None
    items = []
    for element in channel.iter("item"):
        for child in element:
            tag = child.tag
            if not isinstance(tag, str) or (tag not in _MAPPED and tag not in _IGNORED and not tag.startswith(_IGNORED_NS)):
                return None
            if len(child) and not tag.startswith(_IGNORED_NS[0]):
                return None  # nested elements (markup, an <image> in a <category>): feedparser's call
        text = element.findtext
        if _C1_CONTROLS.search((text("title") or "") + (text("description") or "")):
            return None  # windows-1252 punctuation inside UTF-8: feedparser repairs it
        published = None
        if text("pubDate"):
            published = _rfc822(text("pubDate"))
            if published is None:
                return None
        # Like feedparser: with no description, the full content doubles as the summary.
        entry = {"link": text("link"), "id": text("guid"), "title": text("title"),
                 "summary": text("description") or text(_NS_CONTENT),
                 "content": [{"value": text(_NS_CONTENT)}] if text(_NS_CONTENT) else [],
                 "author": text(_NS_DC + "creator") or text("author")}
        item = _item(entry, url, published)
        if item is not None:
            items.append(item)
    return ParsedFeed(items)


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
