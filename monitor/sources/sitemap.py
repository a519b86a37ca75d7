"""`type: sitemap`: Google News sitemaps, plain sitemaps and sitemap indexes, gzip'd or not.

Items are the newest `max_items` URLs (publication date, else lastmod), with the title and language
a Google News sitemap gives; the article pages are fetched afterwards (fetch_article). An index is
followed one level down, to its `max_sitemaps` newest children, each through the SSRF guard: their
URLs were found in fetched content.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from pydantic import Field

from monitor.dates import parse_date
from monitor.items import Collected, Item, SourceState
from monitor.sources.base import SourceConfig, SourceError, SourceType, fetch_source, register

if TYPE_CHECKING:
    from monitor.fetch import Fetcher

log = logging.getLogger(__name__)

_GZIP_MAGIC = b"\x1f\x8b"
_OLDEST = datetime.min.replace(tzinfo=timezone.utc)


class SitemapOptions(SourceConfig):
    max_items: int = Field(default=100, ge=1, le=5000)      # newest URLs taken per poll
    max_sitemaps: int = Field(default=3, ge=1, le=50)       # children of an index read per poll, newest first


@dataclass(frozen=True)
class Entry:
    url: str
    lastmod: datetime | None = None
    published: datetime | None = None   # news:publication_date
    title: str = ""                     # news:title
    lang: str = ""                      # news:publication/news:language

    @property
    def when(self) -> datetime | None:
        return self.published or self.lastmod


@dataclass(frozen=True)
class Sitemap:
    kind: str                                             # urlset | sitemapindex
    entries: list[Entry] = field(default_factory=list)    # <url> of a urlset, <sitemap> of an index


@register("sitemap")
class SitemapSource(SourceType):
    options = SitemapOptions

    async def collect(self, source: SourceConfig, fetcher: Fetcher, state: SourceState) -> Collected:
        assert isinstance(source, SitemapOptions)
        fetched = await fetch_source(source, fetcher, state,
                                     decode=lambda response: gunzip(response.body, fetcher.max_bytes, response.url))
        if isinstance(fetched, Collected):
            return fetched
        validators = fetched.validators
        sitemap = await self.run(parse_sitemap, fetched.body, fetched.response.url)
        warning = None
        if sitemap.kind == "urlset":
            if fetched.same_as_last_time(state):
                return fetched.unchanged()
            entries = sitemap.entries
        else:
            # An index is read every time: a child changes without the index changing.
            entries, warning = await self._children(sitemap, source, fetcher)
        items = [Item(url=e.url, title=e.title, published=e.when, lang=e.lang) for e in newest(entries)]
        return Collected(items=items[:source.max_items], warning=warning, **validators)

    async def _children(self, index: Sitemap, source: SitemapOptions,
                        fetcher: Fetcher) -> tuple[list[Entry], str | None]:
        import asyncio  # loaded with the client (monitor/sources/base.py)

        from monitor.fetch import FetchError
        from monitor.guard import guard_for

        children = newest(index.entries)[:source.max_sitemaps]
        guard = guard_for(source.allow_private)

        async def read(child: Entry) -> Sitemap:
            response = await fetcher.get(child.url, respect_robots=source.respect_robots, guard=guard)
            return await self.run(parse_sitemap, gunzip(response.body, fetcher.max_bytes, response.url), response.url)

        results = await asyncio.gather(*(read(child) for child in children), return_exceptions=True)
        entries: list[Entry] = []
        problems: list[str] = []
        for child, result in zip(children, results):
            if isinstance(result, (FetchError, SourceError)):
                problems.append(f"{child.url}: {result}")
            elif isinstance(result, BaseException):
                raise result
            elif result.kind == "sitemapindex":
                problems.append(f"{child.url}: an index inside an index is not followed")
            else:
                entries.extend(result.entries)
        if problems and not entries:
            raise SourceError(f"no readable sitemap in the index {source.url}: {'; '.join(problems)}")
        warning = f"{len(problems)} of {len(children)} sitemaps skipped: {'; '.join(problems)}" if problems else None
        if warning:
            log.warning("source %r: %s", source.name, warning)
        return entries, warning


def newest(entries: list[Entry]) -> list[Entry]:
    """Newest first; undated entries last, later ones in the document before earlier ones."""
    ranked = sorted(enumerate(entries), key=lambda pair: (pair[1].when or _OLDEST, pair[0]), reverse=True)
    return [entry for _, entry in ranked]


def gunzip(body: bytes, max_bytes: int, url: str) -> bytes:
    """A .xml.gz file as served (no Content-Encoding), expanded no further than the body cap."""
    if not body.startswith(_GZIP_MAGIC):
        return body
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise SourceError(f"corrupt gzip sitemap at {url}: {exc}") from None
    if len(data) > max_bytes:
        raise SourceError(f"sitemap at {url} is larger than {max_bytes:,} bytes once decompressed")
    return data


def parse_sitemap(body: bytes, url: str) -> Sitemap:
    if not body.strip():
        raise SourceError(f"empty response from {url}")
    # No entities, no network, recover from a cut-off file: a sitemap is untrusted input.
    from lxml import etree  # on first use: `monitor check` and `--help` need not load it

    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=True, huge_tree=False)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise SourceError(f"not a sitemap: {exc} ({url})") from None
    kind = _local(root) if root is not None else ""
    if kind not in ("urlset", "sitemapindex"):
        what = "an HTML page" if kind == "html" or b"<html" in body[:2048].lower() else f"<{kind or '?'}>"
        raise SourceError(f"not a sitemap: {url} returned {what}, expected <urlset> or <sitemapindex>")
    wanted = "url" if kind == "urlset" else "sitemap"
    entries = []
    for node in root:
        if not isinstance(node.tag, str) or _local(node) != wanted:
            continue
        entry = _entry(node)
        if entry is not None:
            entries.append(entry)
    return Sitemap(kind, entries)


def _entry(node) -> Entry | None:
    # Direct children (loc, lastmod) and what is inside <news:news>; <image:image> and <video:video>
    # have a loc and a title of their own, which are not the article's.
    fields: dict[str, str] = {}
    for child in node:
        if not isinstance(child.tag, str):
            continue
        name = _local(child)
        inner = child.iter() if name == "news" else (child,)
        for part in inner:
            if isinstance(part.tag, str):
                fields.setdefault(_local(part), (part.text or "").strip())
    loc = fields.get("loc", "")
    if not loc.startswith(("http://", "https://")):
        return None
    return Entry(url=loc, lastmod=parse_date(fields.get("lastmod"), ()),
                 published=parse_date(fields.get("publication_date"), ()),
                 title=" ".join(fields.get("title", "").split()), lang=fields.get("language", "").lower()[:2])


def _local(node) -> str:
    from lxml import etree

    return etree.QName(node).localname.lower()
