"""Full articles for the items of one poll: the source's `fetch_article` policy, applied.

`never` leaves items as the source gave them; `always` fetches every item's page; `auto` fetches
only items that carry no full text: a feed's teaser, a listing page's bare link. The fetched page's
main text (monitor.extract) becomes the item's content, and the page's title, date, author,
language and canonical URL fill what the feed left empty. Item URLs were found in fetched content,
so they go through the SSRF guard unless the source has `allow_private: true`. A page that cannot
be fetched or read leaves its item as it was: an item is never lost here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from datetime import datetime
from typing import TYPE_CHECKING

from monitor.sources import SourceConfig
from monitor.clock import Clock, utc_now
from monitor.fetch import Fetcher, FetchError, Response
from monitor.guard import BlockedURL, Guard, guard_for
from monitor.items import Item
from monitor.offload import EXTRACT, Runner, inline

if TYPE_CHECKING:
    from monitor.extract import Extracted

log = logging.getLogger(__name__)

# Feed text shorter than this is a teaser. Full news stories run 250+ words; teasers and
# WordPress excerpts 20-60. A short complete item costs one needless fetch, nothing more.
FULL_TEXT_WORDS = 150
# Feed text that ends like this was cut by the publisher, whatever its length.
_CUT = re.compile(r"(?:\.\.\.|…|\[…\]|\[\.\.\.\]|\[&hellip;\]|read more|continue reading|читати далі|"
                  r"читать далее|детальніше|подробнее)\W*$", re.IGNORECASE)
_HTML_TYPES = ("text/html", "application/xhtml+xml", "")


def needs_article(item: Item, policy: str) -> bool:
    if not item.url or policy == "never":
        return False
    if policy == "always":
        return True
    text = max(item.content, item.summary, key=len)
    return len(text.split()) < FULL_TEXT_WORDS or bool(_CUT.search(text))


# The pages read, by item URL, with when each arrived: the evidence step captures a matched item's
# page from here instead of fetching it a second time.
Pages = dict[str, tuple[Response, datetime]]


async def complete_items(items: list[Item], source: SourceConfig, fetcher: Fetcher,
                         run: Runner = inline, pages: Pages | None = None, now: Clock = utc_now) -> list[Item]:
    """The items, in order, with full text where the policy asks for it (pages fetched concurrently;
    `run` runs the extraction, monitor.offload). Each page read is put in `pages`, if given."""
    wanted = [n for n, item in enumerate(items) if needs_article(item, source.fetch_article)]
    completed = list(items)
    if not wanted:  # a feed with full text: no task per item
        return completed
    guard = guard_for(source.allow_private)
    read = await asyncio.gather(*(_with_article(items[n], source, fetcher, guard, run, pages, now) for n in wanted))
    for n, item in zip(wanted, read):
        completed[n] = item
    return completed


async def _with_article(item: Item, source: SourceConfig, fetcher: Fetcher, guard: Guard | None,
                        run: Runner, pages: Pages | None, now: Clock) -> Item:
    try:
        response = await fetcher.get(item.url, respect_robots=source.respect_robots, guard=guard)
        if pages is not None:
            pages[item.url] = (response, now())
    except BlockedURL as exc:
        log.warning("source %r: not fetching a discovered link: %s", source.name, exc)
        return item
    except FetchError as exc:
        log.warning("source %r: article not fetched, keeping the feed text: %s", source.name, exc)
        return item
    kind = response.content_type.split(";")[0].strip().lower()
    if kind not in _HTML_TYPES or response.body.lstrip()[:5] == b"%PDF-":
        log.warning("source %r: article %s is %s, not HTML; keeping the feed text", source.name, response.url,
                    kind or "PDF")
        return item
    try:
        from monitor.extract import extract  # trafilatura (~0.3 s to import): only once a page is read

        # Extraction is CPU work (~15-40 ms a page): off the event loop, so fetches keep flowing.
        page = await run(extract, response.body, response.url, response.content_type, stage=EXTRACT)
    except Exception as exc:  # a page that trips the extractor must not cost the item
        log.warning("source %r: cannot extract %s (%s: %s); keeping the feed text", source.name, response.url,
                    type(exc).__name__, exc)
        return item
    return merge(item, page, response.url)


def merge(item: Item, page: Extracted, final_url: str) -> Item:
    """The item with the page's main text, and the page's metadata where the item had none."""
    if not page.text:
        log.warning("no main text found in %s; keeping the feed item as it was", final_url)
        return item
    feed_text = item.content or item.summary
    # An extraction that found far less than the feed already had is a miss, not the article.
    content = page.text if page.words * 2 >= len(feed_text.split()) else item.content
    return dataclasses.replace(
        item,
        content=content,
        title=item.title or page.title,
        published=item.published or page.date,
        author=item.author or page.author,
        lang=item.lang or page.lang,
        canonical=item.canonical or page.canonical or final_url,
    )
