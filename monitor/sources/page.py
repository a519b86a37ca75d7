"""`type: page`: an HTML listing page (a section front, a press-release list) → article links.

With `links:` (a CSS selector) the page's own structure says what an article link is; `title:` and
`date:` are looked up inside each selected element, then in its enclosing card. Without it, the
page's advertised feed is used when it has one (<link rel="alternate" type="application/rss+xml">),
and otherwise a heuristic picks same-site links that look like articles. The items carry no text:
the article pages are fetched afterwards (fetch_article), through the SSRF guard.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from pydantic import Field, field_validator
from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

from monitor.dates import parse_date
from monitor.items import Collected, Item, SourceState
from monitor.sources.base import SourceConfig, SourceError, SourceType, fetch_source, register
from monitor.sources.rss import parse_feed
from monitor.text import node_text, parse_html
from monitor.urls import canonical_url

if TYPE_CHECKING:
    from monitor.fetch import Fetcher

log = logging.getLogger(__name__)

_FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml")
# Paths that list or describe rather than report.
_NOT_ARTICLE = re.compile(
    r"/(?:tags?|teg|category|categories|authors?|page|search|login|register|subscribe|about|contacts?|"
    r"privacy|terms|feed|rss)(?:/|$)", re.IGNORECASE)
_FILE = re.compile(r"\.(?:jpe?g|png|gif|webp|svg|pdf|mp[34]|zip|docx?|xlsx?)$", re.IGNORECASE)
_ID_SEGMENT = re.compile(r"\d{4,}")
_SLUG = re.compile(r"^[^/]*?(?:[\w%]+[-_]){3,}[\w%]+(?:\.s?html?)?$", re.UNICODE)
_CSS_IDENT = re.compile(r"^-?[A-Za-z_][\w-]*$")
_CHROME = "nav, header, footer, aside, [role=navigation], [role=banner], [role=contentinfo], [role=complementary]"


def _selector(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        raise ValueError("must not be blank (a CSS selector such as 'article h2 a')")
    try:
        LexborHTMLParser("<p></p>").css(value)
    except SelectolaxError:
        raise ValueError(f"not a valid CSS selector: {value!r}") from None
    return value


class PageOptions(SourceConfig):
    links: str | None = None          # CSS selector for article links, or for cards that contain one
    title: str | None = None          # CSS selector inside each card; default: the link's text
    date: str | None = None           # CSS selector inside each card (datetime=, content= or text)
    max_items: int = Field(default=100, ge=1, le=2000)

    _selectors = field_validator("links", "title", "date")(_selector)


@dataclass(frozen=True)
class Link:
    url: str
    title: str
    published: datetime | None = None


@register("page")
class PageSource(SourceType):
    options = PageOptions

    async def collect(self, source: SourceConfig, fetcher: Fetcher, state: SourceState) -> Collected:
        from monitor.fetch import FetchError  # loaded with the client (monitor/sources/base.py)
        from monitor.guard import guard_for

        assert isinstance(source, PageOptions)
        fetched = await fetch_source(source, fetcher, state)
        if isinstance(fetched, Collected):
            return fetched
        if fetched.same_as_last_time(state):
            return fetched.unchanged()
        response, validators = fetched.response, fetched.validators
        page = await self.run(read_page, response.body, response.content_type, response.url, source.links,
                              source.title, source.date, source.max_items)
        warning = None
        if source.links:
            links = page.links
            if not links:
                raise SourceError(f"the selector links: {source.links!r} matches no link on {response.url}")
        else:
            feeds = page.feeds
            if feeds:
                try:
                    feed = await fetcher.get(feeds[0], respect_robots=source.respect_robots,
                                             guard=guard_for(source.allow_private))
                    parsed = await self.run(parse_feed, feed.body, feed.url, feed.content_type)
                    return Collected(items=parsed.items[:source.max_items], warning=parsed.warning, **validators)
                except (FetchError, SourceError) as exc:
                    warning = f"the page's feed {feeds[0]} is unusable ({exc}); took article links from the page"
                    log.warning("source %r: %s", source.name, warning)
            links = page.links
            if not links:
                raise SourceError(f"no article links found on {response.url}; set links: to a CSS selector")
        items = [Item(url=link.url, title=link.title, published=link.published) for link in links]
        return Collected(items=items[:source.max_items], warning=warning, **validators)


@dataclass(frozen=True)
class PageRead:
    links: list[Link]      # by the links: selector, else the same-site heuristic
    feeds: list[str]       # feeds the page advertises (only looked for without a selector)


def read_page(body: bytes, content_type: str, url: str, links: str | None, title: str | None,
              date: str | None, limit: int | None = None) -> PageRead:
    """What a page source needs of a listing page, in one pass (run off the event loop); `limit`:
    the source's max_items, so that a page of 16,000 links is not read to the end for 100 of them."""
    tree = parse_html(body, content_type)
    if links:
        return PageRead(selected_links(tree, url, links, title, date, limit), [])
    return PageRead(article_links(tree, url, limit), feed_links(tree, url))


def feed_links(tree: LexborHTMLParser, base_url: str) -> list[str]:
    """Feeds the page advertises, in page order."""
    found: dict[str, None] = {}  # ordered, and a lookup in constant time (a list made 50,000 feeds 26 s)
    for node in tree.css("link[href]"):
        rel = (node.attributes.get("rel") or "").lower().split()
        kind = (node.attributes.get("type") or "").lower().split(";")[0].strip()
        if "alternate" in rel and kind in _FEED_TYPES:
            url = _absolute(base_url, node.attributes.get("href"))
            if url:
                found.setdefault(url)
    return list(found)


def selected_links(tree: LexborHTMLParser, base_url: str, links: str, title: str | None = None,
                   date: str | None = None, limit: int | None = None) -> list[Link]:
    """The links of the elements `links` selects, in page order, one per canonical URL (a copy
    without a title lends the next copy's); with a `limit`, reading stops at the next new URL."""
    matches = tree.css(links)
    shared = _holding_several(matches)
    out: dict[str, Link] = {}
    for match in matches:
        anchor = match if match.tag == "a" and match.attributes.get("href") else match.css_first("a[href]")
        url = _absolute(base_url, anchor.attributes.get("href")) if anchor is not None else None
        if not url or _FILE.search(urlsplit(url).path):
            continue
        key = canonical_url(url)
        if key in out and out[key].title:
            continue  # a copy of a link already titled changes nothing
        if key not in out and limit is not None and len(out) >= limit:
            break
        card = _card(match, shared)
        heading = _first(card, title) if title else None
        text = node_text(heading) if heading is not None else node_text(anchor) or anchor.attributes.get("title") or ""
        when = _node_date(_first(card, date)) if date else None
        if key not in out or text:
            out[key] = Link(url, text, when)
    return list(out.values())


def article_links(tree: LexborHTMLParser, base_url: str, limit: int | None = None) -> list[Link]:
    """Same-site links that look like articles, outside the page's navigation and footer; with a
    `limit`, reading stops at the first new URL past it."""
    out: dict[str, Link] = {}
    for anchor, url in _article_anchors(tree, base_url):
        key = canonical_url(url)
        if key not in out and limit is not None and len(out) >= limit:
            break
        text = node_text(anchor)
        if key not in out or len(text) > len(out[key].title):
            out[key] = Link(url, text)
    return list(out.values())


def suggest_selector(tree: LexborHTMLParser, base_url: str) -> str | None:
    """A `links:` selector that picks the article links of this page, or None when none is clean.

    Candidates come from the classes of the article-looking links and their near ancestors; the one
    catching the most of them wins, provided at least 80% of what it selects are article links.
    """
    articles = {canonical_url(url) for _, url in _article_anchors(tree, base_url)}
    if len(articles) < 3:
        return None
    candidates: Counter[str] = Counter()
    for anchor, _ in _article_anchors(tree, base_url):
        candidates.update(set(_candidate_selectors(anchor)))
    return best_selector(tree, base_url, candidates, articles)


def best_selector(tree: LexborHTMLParser, base_url: str, candidates: Counter[str], articles: set[str],
                  refuse: Callable[[str], bool] | None = None) -> str | None:
    """Of the 30 commonest candidate selectors, the one that picks the most of `articles` (at least
    3, and at least 80% of what it picks), the shortest on a tie; `refuse` rules selectors out."""
    best: tuple[int, int, str] | None = None
    for selector, _ in candidates.most_common(30):
        if refuse is not None and refuse(selector):
            continue
        picked = {canonical_url(link.url) for link in selected_links(tree, base_url, selector)}
        hits = len(picked & articles)
        if hits < 3 or hits < 0.8 * len(picked):
            continue
        rank = (hits, -len(selector), selector)
        if best is None or rank > best:
            best = rank
    return best[2] if best else None


# --- helpers -------------------------------------------------------------------------------------

def _article_anchors(tree: LexborHTMLParser, base_url: str) -> Iterator[tuple[LexborNode, str]]:
    site = _site(base_url)
    page = canonical_url(base_url)
    chrome = {node.mem_id for node in tree.css(_CHROME)}
    known: dict[int, bool] = {}
    for anchor in tree.css("a[href]"):
        if _inside(anchor, chrome, known):
            continue
        url = _absolute(base_url, anchor.attributes.get("href"))
        if not url or _site(url) != site or canonical_url(url) == page:
            continue
        path = urlsplit(url).path
        if _NOT_ARTICLE.search(path) or _FILE.search(path):
            continue
        segments = [s for s in path.split("/") if s]
        looks_like_article = any(_ID_SEGMENT.search(s) for s in segments) or any(_SLUG.match(s) for s in segments)
        if looks_like_article and len(node_text(anchor).split()) >= 3:
            yield anchor, url


def _candidate_selectors(anchor: LexborNode) -> Iterator[str]:
    own = _class_token(anchor)
    if own:
        yield f"a.{own}"
    node, depth = anchor.parent, 0
    while node is not None and node.tag not in ("body", "html") and depth < 4:
        token = _class_token(node)
        if token:
            yield f"{node.tag}.{token} a"
        depth += 1
        node = node.parent


def _class_token(node: LexborNode) -> str | None:
    for token in (node.attributes.get("class") or "").split():
        if _CSS_IDENT.match(token):
            return token
    return None


def _card(match: LexborNode, shared: set[int]) -> LexborNode:
    """The largest ancestor of a selected element (four levels up at most) that holds no other
    selected element; `shared`: the nodes that do hold several (_holding_several)."""
    card, node = match, match.parent
    for _ in range(4):
        if node is None or node.tag in ("body", "html") or node.mem_id in shared:
            break
        card, node = node, node.parent
    return card


def _holding_several(matches: list[LexborNode]) -> set[int]:
    """The nodes (by mem_id) holding more than one of `matches`, themselves included.

    One walk up from each match, ending at the first node an earlier walk reached: there two walks
    meet, so that node and all above it hold several. Every node is passed at most twice, where a
    CSS query on each ancestor of each match read the whole list once per match (16,000 list
    items: 106 s).
    """
    reached: set[int] = set()
    meetings: list[LexborNode] = []
    for match in matches:
        node = match
        while node is not None:
            if node.mem_id in reached:
                meetings.append(node)
                break
            reached.add(node.mem_id)
            node = node.parent
    several: set[int] = set()
    for node in meetings:
        while node is not None and node.mem_id not in several:
            several.add(node.mem_id)
            node = node.parent
    return several


def _first(card: LexborNode, selector: str) -> LexborNode | None:
    return card.css_first(selector)  # the card itself included


def _node_date(node: LexborNode | None) -> datetime | None:
    if node is None:
        return None
    for value in (node.attributes.get("datetime"), node.attributes.get("content"), node_text(node)):
        when = parse_date(value)
        if when is not None:
            return when
    return None


def _inside(node: LexborNode, ids: set[int], known: dict[int, bool] | None = None) -> bool:
    """Whether the node is one of `ids` or inside one. `known` remembers the answer for every node
    passed, so that the walks up from all the links of a page pass each node once."""
    known = {} if known is None else known
    path = []
    inside = False
    while node is not None:
        key = node.mem_id
        if key in ids:
            inside = True
            break
        if key in known:
            inside = known[key]
            break
        path.append(key)
        node = node.parent
    for key in path:
        known[key] = inside
    return inside


def _absolute(base_url: str, href: str | None) -> str | None:
    href = (href or "").strip()
    if not href or href.startswith("#"):
        return None
    try:
        url = urljoin(base_url, href)
    except ValueError:
        return None
    return url.split("#", 1)[0] if url.startswith(("http://", "https://")) else None


def _site(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return host[4:] if host.startswith("www.") else host
