"""`type: telegram`: a public channel's web preview, https://t.me/s/CHANNEL. No API keys.

Each message with text becomes an item: permalink, date, the message text as content (it is the
whole text, so there is no article to fetch: fetch_article defaults to never), and the link
preview's title and description as summary. Text of a message being replied to, quoted above a
message, is not part of that message and is left out. Messages with no text (a photo alone,
service notices such as "channel photo updated") are skipped.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal
from urllib.parse import urljoin, urlsplit, urlunsplit

from pydantic import field_validator
from selectolax.lexbor import LexborHTMLParser, LexborNode

from monitor.dates import parse_date
from monitor.items import Collected, Item, SourceState
from monitor.sources.base import SourceConfig, SourceError, SourceType, fetch_source, register
from monitor.text import html_to_text, node_text, parse_html, truncate_at_word

if TYPE_CHECKING:
    from monitor.fetch import Fetcher

_TELEGRAM_HOSTS = ("t.me", "www.t.me", "telegram.me", "www.telegram.me")
_CHANNEL = re.compile(r"^/(?:s/)?([A-Za-z0-9_]{4,64})/?$")
TITLE_CHARS = 90


class TelegramOptions(SourceConfig):
    fetch_article: Literal["auto", "always", "never"] = "never"

    @field_validator("fetch_article")
    @classmethod
    def _message_is_the_text(cls, value: str) -> str:
        # "auto" fetches items that carry no full text; a message always carries all of its text.
        return "never" if value == "auto" else value


@register("telegram")
class TelegramSource(SourceType):
    options = TelegramOptions

    async def collect(self, source: SourceConfig, fetcher: Fetcher, state: SourceState) -> Collected:
        fetched = await fetch_source(source, fetcher, state, url=preview_url(source.url))
        if isinstance(fetched, Collected):
            return fetched
        if fetched.same_as_last_time(state):
            return fetched.unchanged()
        response = fetched.response
        items = await self.run(read_channel, response.body, response.content_type, response.url)
        return Collected(items=items, **fetched.validators)


def preview_url(url: str) -> str:
    """https://t.me/CHANNEL (or telegram.me, or with /s/) → https://t.me/s/CHANNEL; others as given."""
    parts = urlsplit(url)
    match = _CHANNEL.match(parts.path)
    if (parts.hostname or "").lower() in _TELEGRAM_HOSTS and match:
        return urlunsplit(("https", "t.me", f"/s/{match.group(1)}", "", ""))
    return url


def read_channel(body: bytes, content_type: str, url: str) -> list[Item]:
    """The posts of a channel preview page (run off the event loop)."""
    return parse_channel(parse_html(body, content_type), url)


def parse_channel(tree: LexborHTMLParser, url: str) -> list[Item]:
    messages = tree.css("div.tgme_widget_message[data-post]")
    if not messages:
        if tree.css_first(".tgme_channel_info, .tgme_page"):
            return []  # a channel with no public messages yet, or a private one: nothing to read
        raise SourceError(f"not a Telegram channel preview (no tgme_widget_message) at {url}")
    channel = node_text(tree.css_first(".tgme_channel_info_header_title"))
    items = []
    for message in messages:
        item = _item(message, url, channel)
        if item is not None:
            items.append(item)
    return items


def _item(message: LexborNode, page_url: str, channel: str) -> Item | None:
    if "service_message" in (message.attributes.get("class") or "").split():
        return None
    post = message.attributes.get("data-post") or ""
    # The message's own text sits directly in the bubble; a reply's quote has its own wrapper.
    text_node = message.css_first(".tgme_widget_message_bubble > .tgme_widget_message_text")
    text = html_to_text(text_node.inner_html) if text_node is not None else ""
    if not text:
        return None
    date_link = message.css_first("a.tgme_widget_message_date")
    permalink = urljoin(page_url, date_link.attributes.get("href") or "") if date_link is not None else ""
    if not permalink.startswith(("http://", "https://")):
        permalink = f"https://t.me/{post}" if post else ""
    stamp = message.css_first("time[datetime]")
    preview = message.css_first(".tgme_widget_message_link_preview")
    summary = ""
    if preview is not None:
        summary = "\n\n".join(part for part in (node_text(preview.css_first(".link_preview_title")),
                                                node_text(preview.css_first(".link_preview_description"))) if part)
    author = node_text(message.css_first(".tgme_widget_message_owner_name")) or channel
    return Item(url=permalink, title=_title(text), summary=summary, content=text, guid=post or None,
                published=parse_date(stamp.attributes.get("datetime") if stamp is not None else None, ()),
                author=author)


def _title(text: str) -> str:
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return truncate_at_word(line, TITLE_CHARS)
