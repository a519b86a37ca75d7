"""How to watch a site: propose a source entry for a URL, and append it to sources.yaml.

Used by `monitor sources add` and the web interface's "add a source".

The URL is looked at in this order: a Telegram channel; a feed; a sitemap; an HTML page that
advertises a working feed (the feed is proposed); otherwise a `page` source, polled once against
the fetched page so that its first poll is known to take links (with a `links:` selector when the
page source's own heuristic would find none). A URL some source already watches is refused
by its callers. Appending inserts the entry at the end of the `sources:` list, leaving every other line
of sources.yaml (comments included) as it was, and only after the new file validates.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urljoin, urlsplit

from monitor.config import Config, parse_config
from monitor.fetch import Fetcher, FetchError
from monitor.guard import BlockedURL, URLGuard
from monitor.sources import SourceConfig, SourceError
from monitor.sources.page import (Link, PageOptions, article_links, best_selector, feed_links, selected_links,
                                  suggest_selector)
from monitor.sources.rss import parse_feed
from monitor.sources.sitemap import gunzip, parse_sitemap
from monitor.sources.telegram import parse_channel, preview_url
from monitor.text import node_text, parse_html
from monitor.urls import canonical_url

if TYPE_CHECKING:  # ruamel.yaml and feedparser load when a URL is looked at, not at every start
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

_KNOWN_LANGS = ("en", "uk", "ru")
_FEEDS_TRIED = 3


@dataclass
class Proposal:
    name: str
    type: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    def entry(self) -> CommentedMap:
        from ruamel.yaml.comments import CommentedMap, CommentedSeq

        entry = CommentedMap(name=self.name, type=self.type, url=self.url)
        for key, value in self.options.items():
            if isinstance(value, list):
                value = CommentedSeq(value)
                value.fa.set_flow_style()  # tags: [uk], as the shipped file writes them
            entry[key] = value
        return entry


class DiscoveryError(Exception):
    """The entry cannot be proposed or written; the message says why, for the person who asked."""


def configured_as(url: str, config: Config) -> SourceConfig | None:
    """The configured source that already watches `url` (compared canonically; t.me/NAME and
    t.me/s/NAME alike), or None."""
    wanted = {canonical_url(url), canonical_url(preview_url(url))}
    for source in config.sources:
        if canonical_url(source.url) in wanted or canonical_url(preview_url(source.url)) in wanted:
            return source
    return None


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
        title = node_text(tree.css_first(".tgme_channel_info_header_title")) or url.rstrip("/").rsplit("/", 1)[-1]
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
    return page_proposal(tree, response.url, Proposal(page_title, "page", url, {**_tags(lang), **extra}))


def page_proposal(tree, page_url: str, proposal: Proposal) -> Proposal:
    """The `page` entry for a listing, polled once against the page already fetched.

    Tried in order, the first whose poll takes links wins: the clean `links:` selector suggested
    from the same-site article links; no selector, when the page source's own heuristic finds
    article links and the page advertises no feed (a poll without `links:` tries that first); a
    selector for the page's largest group of like-shaped links; the heuristic after all. The note
    says how many links the first poll took. Raises SourceError when none takes a link: such an
    entry would fail its first poll.
    """
    advertised = bool(feed_links(tree, page_url))  # none of them worked: discover tried them

    def candidates():
        suggested = suggest_selector(tree, page_url)
        if suggested:
            yield suggested, "the suggested links: selector"
        if not advertised:
            yield None, "the same-site article heuristic (no links: needed)"
        fallback = fallback_selector(tree, page_url)
        if fallback and fallback != suggested:
            yield fallback, "a links: selector for the page's repeated links (the same-site heuristic finds none)"
        if advertised:
            yield None, "the same-site article heuristic (each poll tries the page's advertised feed first)"

    for selector, how in candidates():
        options = {**({"links": selector} if selector else {}), **proposal.options}
        links = first_poll(tree, page_url, PageOptions(name=proposal.name, type="page", url=proposal.url, **options))
        if links:
            break
    else:
        raise SourceError(f"no article links found on {page_url}, neither by the same-site heuristic nor by a "
                          "links: selector; nothing proposed (a page source here would fail its first poll)")
    proposal.options = options
    example = links[0].title or links[0].url
    proposal.note = f"no feed found; page source: a first poll took {len(links)} links through {how}, e.g. {example!r}"
    return proposal


def first_poll(tree, page_url: str, source: PageOptions) -> list[Link]:
    """The links a poll of this entry takes from the page: the page source's own choice of links.

    With `links:` the selected links, else the same-site article links (what PageSource.collect
    does when the page has no usable feed), at most max_items of them.
    """
    if source.links:
        links = selected_links(tree, page_url, source.links, source.title, source.date)
    else:
        links = article_links(tree, page_url)
    return links[:source.max_items]


_PAGE_CHROME = "nav, header, footer, aside, [role=navigation], [role=banner], [role=contentinfo], [role=complementary]"
_CSS_NAME = re.compile(r"^-?[A-Za-z_][\w-]*$")
_NOT_A_PAGE = re.compile(r"\.(?:jpe?g|png|gif|webp|svg|pdf|mp[34]|zip|rar|docx?|xlsx?|pptx?)$", re.IGNORECASE)
_CARD_TAGS = ("article", "li", "h1", "h2", "h3", "h4", "td", "dt", "dd")


def fallback_selector(tree, base_url: str) -> str | None:
    """A `links:` selector for a listing whose article links the same-site heuristic does not see.

    That heuristic wants same-site URLs with a long id or a slug and headlines of three words or
    more; listings with /news/15, ?id=15, short titles or articles on another host escape it. The
    article links of a listing still share one URL shape (host, first folder, depth, query keys)
    and one place in the markup: the largest group of like-shaped links outside the navigation
    stands for the articles, and the selector catching most of them wins, provided at least 80%
    of what it selects (as the page source selects it) belongs to the group.
    """
    page = canonical_url(base_url)
    chrome = {node.mem_id for node in tree.css(_PAGE_CHROME)}
    groups: dict[tuple, set[str]] = defaultdict(set)
    anchors = []
    for anchor in tree.css("a[href]"):
        url = _http_link(base_url, anchor.attributes.get("href"))
        if url is None or canonical_url(url) == page or not node_text(anchor) or _within(anchor, chrome):
            continue
        shape = _url_shape(url)
        if shape is not None:
            groups[shape].add(canonical_url(url))
            anchors.append((anchor, shape))
    if not groups:
        return None
    shape, articles = max(groups.items(), key=lambda group: len(group[1]))
    if len(articles) < 3:
        return None
    candidates: Counter[str] = Counter()
    for anchor, anchor_shape in anchors:
        if anchor_shape == shape:
            candidates.update(set(_selectors_around(anchor)))
    return best_selector(tree, base_url, candidates, articles,
                         refuse=lambda selector: any(_within(match, chrome) for match in tree.css(selector)))


def _http_link(base_url: str, href: str | None) -> str | None:
    href = (href or "").strip()
    if not href or href.startswith("#"):
        return None
    try:
        url = urljoin(base_url, href).split("#", 1)[0]
    except ValueError:
        return None
    return url if url.lower().startswith(("http://", "https://")) else None


def _url_shape(url: str) -> tuple[str, str, int, tuple[str, ...]] | None:
    """(host, first folder, depth, query keys); None for a site's home page or a file."""
    parts = urlsplit(url)
    segments = [segment for segment in parts.path.split("/") if segment]
    keys = tuple(sorted({key for key, _ in parse_qsl(parts.query, keep_blank_values=True)}))
    if (not segments and not keys) or (segments and _NOT_A_PAGE.search(segments[-1])):
        return None
    host = (parts.hostname or "").lower().removeprefix("www.")
    return host, segments[0] if len(segments) > 1 else "", len(segments), keys


def _selectors_around(anchor) -> list[str]:
    """Selectors naming the anchor or one of its four nearest ancestors (by class, id or card tag)."""
    found = []
    token = _css_class(anchor)
    if token:
        found.append(f"a.{token}")
    node, depth = anchor.parent, 0
    while node is not None and node.tag not in ("body", "html") and depth < 4:
        token, ident = _css_class(node), (node.attributes.get("id") or "").strip()
        if token:
            found.append(f"{node.tag}.{token} a")
        if _CSS_NAME.match(ident):
            found.append(f"{node.tag}#{ident} a")
        if node.tag in _CARD_TAGS:
            found.append(f"{node.tag} a")
        depth += 1
        node = node.parent
    return found


def _css_class(node) -> str | None:
    return next((token for token in (node.attributes.get("class") or "").split() if _CSS_NAME.match(token)), None)


def _within(node, ids: set[int]) -> bool:
    while node is not None:
        if node.mem_id in ids:
            return True
        node = node.parent
    return False


def _as_feed(body: bytes, url: str, content_type: str) -> tuple[str, str, int] | None:
    """(title, language, item count) when the body is an RSS/Atom feed."""
    try:
        parsed = parse_feed(body, url, content_type)
    except SourceError:
        return None
    import feedparser

    meta = feedparser.parse(body).feed
    return " ".join((meta.get("title") or "").split()), meta.get("language") or "", len(parsed.items)


def render(proposal: Proposal) -> str:
    """The entry as it would appear under `sources:`."""
    out = io.StringIO()
    from ruamel.yaml.comments import CommentedSeq

    _yaml(2).dump(CommentedSeq([proposal.entry()]), out)
    return out.getvalue()


def append_source(path: Path, proposal: Proposal) -> None:
    """Append the entry at the end of the file's `sources:` list, validate the result, replace the file.

    A block list gets the entry as text, after its last line and before the blank lines and
    column-0 comments that open the next section, so every other byte of the file stays as it was
    (ruamel.yaml's round trip hangs those comments on the last entry, and a second append then
    lands below them). A flow list (`sources: [...]`) goes through the round trip. Either way the
    result must load as the old data plus this entry, and validate, before the file is replaced.
    """
    raw = path.read_bytes()
    bom = raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    newline = "\r\n" if "\r\n" in text else "\n"
    text = text.replace("\r\n", "\n")
    data = _yaml(2).load(text)
    sources = data.get("sources") if isinstance(data, dict) else None
    if not isinstance(sources, list) or not sources:
        raise DiscoveryError(f"{path} has no 'sources:' list to append to")
    if sources.fa.flow_style():
        new_text = _append_round_trip(text, proposal)
    else:
        new_text = _append_block(text, data, proposal)
    expected = _plain(data)
    expected["sources"].append(_plain(proposal.entry()))
    if _plain(_yaml(2).load(new_text)) != expected:
        raise DiscoveryError(f"not written: could not tell where the sources: list of {path} ends; "
                                   "add the entry printed above by hand")
    parse_config(new_text, path)  # raises ConfigError: the file is left untouched
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write((b"\xef\xbb\xbf" if bom else b"") + new_text.replace("\n", newline).encode("utf-8"))
        shutil.copymode(path, temp)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _append_block(text: str, data: CommentedMap, proposal: Proposal) -> str:
    """The text with the entry inserted after the last line of the block list under `sources:`."""
    lines = text.splitlines(keepends=True)
    keys = list(data)
    position = keys.index("sources")
    start = data.lc.key("sources")[0]
    end = data.lc.key(keys[position + 1])[0] if position + 1 < len(keys) else len(lines)
    last = end - 1  # what precedes the next key: blank lines and its own column-0 comments
    while last > start and (not lines[last].strip() or lines[last].startswith("#")):
        last -= 1
    sources = data["sources"]
    line, column = sources.lc.item(len(sources) - 1)
    dash = re.fullmatch(r"( *)- +", lines[line][:column])
    offset, sequence = (len(dash.group(1)), column) if dash else (2, 4)
    out = io.StringIO()
    from ruamel.yaml.comments import CommentedSeq

    _yaml(offset, sequence).dump(CommentedSeq([proposal.entry()]), out)
    entry = out.getvalue()
    if _blank_line_between(lines, sources):
        entry = "\n" + entry
    head = "".join(lines[:last + 1])
    if not head.endswith("\n"):
        head += "\n"
    return head + entry + "".join(lines[last + 1:])


def _blank_line_between(lines: list[str], sources: CommentedSeq) -> bool:
    """Whether the file separates its entries by a blank line (before any comment heading an entry)."""
    if len(sources) < 2:
        return True
    line = sources.lc.item(len(sources) - 1)[0] - 1
    while line > 0 and lines[line].lstrip().startswith("#"):
        line -= 1
    return not lines[line].strip()


def _append_round_trip(text: str, proposal: Proposal) -> str:
    yaml = _yaml(2)
    data = yaml.load(text)
    data["sources"].append(proposal.entry())
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _plain(value: Any) -> Any:
    """Loaded YAML as plain dicts, lists and scalars, for comparing two loads."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _yaml(offset: int, sequence: int | None = None) -> YAML:
    from ruamel.yaml import YAML

    yaml = YAML()  # round trip: comments, key order and quoting survive
    yaml.indent(mapping=2, sequence=offset + 2 if sequence is None else sequence, offset=offset)
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
    return node_text(tree.css_first("title"))


def unique_name(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    number = 2
    while f"{name} ({number})" in taken:
        number += 1
    return f"{name} ({number})"
