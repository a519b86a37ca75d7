"""`monitor sources add URL [--write]`: propose a source entry for a URL, optionally append it.

The URL is looked at in this order: a Telegram channel; a feed; a sitemap; an HTML page that
advertises a working feed (the feed is proposed); otherwise a `page` source, with a `links:`
selector suggested from the page's article links. `--write` appends the entry to sources.yaml
through ruamel.yaml's round trip, so the file's comments, order and layout stay as they were, and
only after the new file validates.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import click
import feedparser
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from monitor.commands.extract import make_fetcher, optional_config
from monitor.config import Config, ConfigError, parse_config
from monitor.fetch import Fetcher, FetchError
from monitor.guard import BlockedURL, URLGuard
from monitor.sources import SourceError
from monitor.sources.page import feed_links, parse_html, suggest_selector
from monitor.sources.rss import parse_feed
from monitor.sources.sitemap import gunzip, parse_sitemap
from monitor.sources.telegram import parse_channel, preview_url

if TYPE_CHECKING:
    from monitor.cli import _Context

_KNOWN_LANGS = ("en", "uk", "ru")
_SEQUENCE_INDENT = re.compile(r"^sources:\s*(?:#.*)?\n(?:\s*(?:#.*)?\n)*( *)- ", re.MULTILINE)
_FEEDS_TRIED = 3


@dataclass
class Proposal:
    name: str
    type: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    def entry(self) -> CommentedMap:
        entry = CommentedMap(name=self.name, type=self.type, url=self.url)
        for key, value in self.options.items():
            if isinstance(value, list):
                value = CommentedSeq(value)
                value.fa.set_flow_style()  # tags: [uk], as the shipped file writes them
            entry[key] = value
        return entry


@click.command("add")
@click.argument("url")
@click.option("--name", help="Name of the source.  [default: the site's or feed's title]")
@click.option("--write", is_flag=True, help="Append the entry to the configuration file.")
@click.pass_obj
def sources_add(obj: _Context, url: str, name: str | None, write: bool) -> None:
    """Find the best way to watch URL (feed, sitemap, Telegram channel or page) and print the entry.

    With --write the entry is appended to sources.yaml, keeping its comments and order.
    """
    if not re.match(r"^https?://[^/\s?#]+\S*$", url, re.IGNORECASE):
        raise click.UsageError(f"URL must start with http:// or https:// and name a host (got {url!r})")
    config = optional_config(obj)
    if write and config is None:
        raise click.UsageError(f"--write needs an existing configuration file; {obj.config_path} was not found")
    try:
        proposal = asyncio.run(_discover_with(url, config))
    except (FetchError, SourceError) as exc:
        raise click.ClickException(f"cannot propose a source for {url}: {exc}") from None
    if name:
        proposal.name = name.strip()
    if config is not None:
        proposal.name = _unique(proposal.name, {s.name for s in config.sources})
    click.echo(f"# {proposal.note}", err=True)
    click.echo(render(proposal), nl=False)
    if write:
        try:
            append_source(obj.config_path, proposal)
        except ConfigError as exc:
            raise click.ClickException(f"not written, the result would not validate: {exc}") from None
        click.echo(f"appended to {obj.config_path}; check it with 'monitor check'", err=True)


async def _discover_with(url: str, config: Config | None) -> Proposal:
    async with make_fetcher(config) as fetcher:
        return await discover(url, fetcher)


async def discover(url: str, fetcher: Fetcher) -> Proposal:
    """The proposed source for a URL the user typed (fetched as given; links found in it are guarded)."""
    host = urlsplit(url).hostname or url
    url = preview_url(url)  # t.me/CHANNEL → t.me/s/CHANNEL, the page that can be read without an app

    # A user pointing at their own network means it: links found there may stay there.
    try:
        await URLGuard()(url)
        private = False
    except BlockedURL:
        private = True
    extra: dict[str, Any] = {"allow_private": True} if private else {}
    guard = None if private else URLGuard()

    response = await fetcher.get(url)
    body = gunzip(response.body, fetcher.max_bytes, response.url)
    head = body[:2048].lstrip().lower()
    if b"<urlset" in head or b"<sitemapindex" in head:
        sitemap = parse_sitemap(body, response.url)
        return Proposal(host, "sitemap", url, extra,
                        note=f"{sitemap.kind} with {len(sitemap.entries)} entries")
    feed = _as_feed(body, response.url, response.content_type)
    if feed is not None:
        return Proposal(feed[0] or host, "rss", url, {**_tags(feed[1]), **extra}, note=f"feed with {feed[2]} items")

    tree = parse_html(body, response.content_type)
    if tree.css_first("div.tgme_widget_message, .tgme_channel_info"):
        parse_channel(tree, response.url)  # raises when the preview cannot be read
        title = _node_text(tree.css_first(".tgme_channel_info_header_title")) or url.rstrip("/").rsplit("/", 1)[-1]
        return Proposal(title, "telegram", url, extra, note="Telegram channel preview")
    page_title = _site_name(tree) or host
    root = tree.css_first("html")
    lang = (root.attributes.get("lang") or "") if root is not None else ""
    for feed_url in feed_links(tree, response.url)[:_FEEDS_TRIED]:
        try:
            found = await fetcher.get(feed_url, guard=guard)
        except FetchError:
            continue
        feed = _as_feed(found.body, found.url, found.content_type)
        if feed is not None and feed[2]:
            return Proposal(feed[0] or page_title, "rss", feed_url, {**_tags(feed[1] or lang), **extra},
                            note=f"the page advertises a feed with {feed[2]} items")
    selector = suggest_selector(tree, response.url)
    options = {**({"links": selector} if selector else {}), **_tags(lang), **extra}
    note = ("no feed found; a page source whose links: selector picks the article links"
            if selector else "no feed and no clean selector found; the page source will pick same-site "
                             "article links by itself (set links: to a CSS selector to be precise)")
    return Proposal(page_title, "page", url, options, note=note)


def _as_feed(body: bytes, url: str, content_type: str) -> tuple[str, str, int] | None:
    """(title, language, item count) when the body is an RSS/Atom feed."""
    try:
        parsed = parse_feed(body, url, content_type)
    except SourceError:
        return None
    meta = feedparser.parse(body).feed
    return " ".join((meta.get("title") or "").split()), meta.get("language") or "", len(parsed.items)


def render(proposal: Proposal) -> str:
    """The entry as it would appear under `sources:`."""
    out = io.StringIO()
    _yaml(2).dump(CommentedSeq([proposal.entry()]), out)
    return out.getvalue()


def append_source(path: Path, proposal: Proposal) -> None:
    """Append the entry to the file's `sources:` list, validate the result, replace the file."""
    text = path.read_text(encoding="utf-8-sig")
    match = _SEQUENCE_INDENT.search(text)
    yaml = _yaml(len(match.group(1)) if match else 2)
    data = yaml.load(text)
    sources = data.get("sources") if isinstance(data, dict) else None
    if not isinstance(sources, list):
        raise click.ClickException(f"{path} has no 'sources:' list to append to")
    sources.append(proposal.entry())
    if len(sources) > 1:
        sources.yaml_set_comment_before_after_key(len(sources) - 1, before="\n")  # a blank line, as between entries
    out = io.StringIO()
    yaml.dump(data, out)
    new_text = out.getvalue()
    parse_config(new_text, path)  # raises ConfigError: the file is left untouched
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(new_text)
        shutil.copymode(path, temp)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _yaml(offset: int) -> YAML:
    yaml = YAML()  # round trip: comments, key order and quoting survive
    yaml.indent(mapping=2, sequence=offset + 2, offset=offset)
    yaml.width = 4096  # never re-wrap a long comment or URL
    yaml.preserve_quotes = True
    return yaml


def _tags(lang: str) -> dict[str, list[str]]:
    code = lang.strip().lower()[:2]
    return {"tags": [code]} if code in _KNOWN_LANGS else {}


def _site_name(tree) -> str:
    meta = tree.css_first("meta[property='og:site_name']")
    if meta is not None and (meta.attributes.get("content") or "").strip():
        return " ".join(meta.attributes["content"].split())
    return _node_text(tree.css_first("title"))


def _node_text(node) -> str:
    return " ".join(node.text(deep=True).split()) if node is not None else ""


def _unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    number = 2
    while f"{name} ({number})" in taken:
        number += 1
    return f"{name} ({number})"
