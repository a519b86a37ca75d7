"""The apps the benches serve: a news site (feeds and pages, ETag/304) and a webhook receiver.

Site        paths answered from pre-rendered resources, or rendered per request by a function
            (pages that would not fit in memory); If-None-Match against the ETag gives a 304;
            /robots.txt; counters at /__stats (reset by /__reset) by status, first path segment
            and extension, and TCP connections accepted.
LiveFeeds   a Site whose feeds grow while the bench runs (items published from another thread),
            which records which items it served in a 200, and can hand each feed answer to an
            async hook that decides when to send it (the crash bench kills the service there).
Receiver    takes webhook POSTs (a JSON digest or alert), waits a while as a chat service does,
            records the acceptance, answers 200, then calls an async hook.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import threading
import time
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from bench.support.corpus import LANGS, NewsItem, NewsWriter, article_page, render_feed, simple_page
from bench.support.server import Request, response

ROBOTS_TXT = b"User-agent: *\nDisallow: /private/\n"


@dataclass(frozen=True)
class Resource:
    etag: str
    ok: bytes              # the whole 200 response
    not_modified: bytes    # the whole 304 response


def make_resource(body: bytes, content_type: str) -> Resource:
    etag = '"' + hashlib.sha1(body).hexdigest()[:20] + '"'
    headers = {"Content-Type": content_type, "ETag": etag, "Cache-Control": "max-age=60"}
    return Resource(etag, response(200, body, headers), response(304, b"", headers))


def etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return etag in tags or "*" in tags


Renderer = Callable[[str], "tuple[bytes, str] | None"]   # path → (body, content type), or None: 404


class Site:
    def __init__(self) -> None:
        self.resources: dict[str, Resource] = {}
        self.renderers: list[tuple[str, Renderer]] = []
        self.stats: Counter = Counter()
        self.add("/robots.txt", ROBOTS_TXT, "text/plain")

    def add(self, path: str, body: bytes, content_type: str) -> None:
        self.resources[path] = make_resource(body, content_type)

    def render(self, prefix: str, renderer: Renderer) -> None:
        """Paths under prefix are rendered on each request and not kept."""
        self.renderers.append((prefix, renderer))

    def lookup(self, path: str) -> Resource | None:
        found = self.resources.get(path)
        if found is None:
            for prefix, renderer in self.renderers:
                if path.startswith(prefix):
                    made = renderer(path)
                    return make_resource(*made) if made else None
        return found

    def control(self, path: str) -> bytes | None:
        if path == "/__stats":
            return response(200, json.dumps(self.stats).encode(), {"Content-Type": "application/json"})
        if path == "/__reset":
            self.stats.clear()
            return response(200, b"ok", {"Content-Type": "text/plain"})
        return None

    def count(self, path: str, status: int) -> None:
        """Requests in all, by status, by first path segment ("/feeds") and by extension (".html")."""
        self.stats["requests"] += 1
        self.stats[str(status)] += 1
        self.stats["/" + path.lstrip("/").split("/", 1)[0]] += 1
        last = path.rsplit("/", 1)[-1]
        if "." in last:
            self.stats["." + last.rsplit(".", 1)[-1]] += 1

    def handle(self, request: Request) -> bytes:
        path = request.path
        answer = self.control(path)
        if answer is not None:
            return answer
        found = self.lookup(path)
        if found is None:
            self.count(path, 404)
            return response(404, b"not found", {"Content-Type": "text/plain"})
        if etag_matches(request.headers.get("if-none-match"), found.etag):
            self.count(path, 304)
            return found.not_modified
        self.count(path, 200)
        return found.ok


class LiveFeeds(Site):
    """Feeds at /<name>.xml that grow; item pages at their own paths. Set `base` once serving."""

    def __init__(self, feeds: dict[str, str]):   # feed name → format (rss2 | atom | rss1)
        super().__init__()
        self.formats = feeds
        self.base = ""
        self.lock = threading.Lock()
        self.feeds: dict[str, list[NewsItem]] = {name: [] for name in feeds}
        self.by_path: dict[str, NewsItem] = {}
        self.served: set[str] = set()             # uids of items sent in a 200 feed answer
        self.on_feed: Callable[[Callable[[], None]], Awaitable[None]] | None = None

    def publish(self, feed: str, item: NewsItem) -> None:
        with self.lock:
            self.feeds[feed].append(item)
            self.by_path[item.path] = item

    def published(self) -> list[NewsItem]:
        with self.lock:
            return [item for items in self.feeds.values() for item in items]

    def url(self, item: NewsItem) -> str:
        return self.base + item.path

    def handle(self, request: Request):
        name = request.path.strip("/").removesuffix(".xml")
        if name not in self.formats:
            with self.lock:
                item = self.by_path.get(request.path)
            if item is None:
                return super().handle(request)
            self.count(request.path, 200)
            return response(200, simple_page(item), {"Content-Type": "text/html; charset=utf-8"})
        with self.lock:
            items = list(self.feeds[name])
        feed = make_resource(render_feed(self.formats[name], name, items, self.base),
                             "application/xml; charset=utf-8")
        if etag_matches(request.headers.get("if-none-match"), feed.etag):
            self.count(request.path, 304)
            answer = feed.not_modified
        else:
            self.count(request.path, 200)
            answer = feed.ok
            with self.lock:
                self.served.update(item.uid for item in items)
        hook = self.on_feed
        if hook is None:
            return answer
        return hook(lambda: request.reply(answer))


@dataclass(frozen=True)
class Acceptance:
    at: float                  # time.monotonic() when accepted
    arrived: float             # time.monotonic() when the request came in
    path: str                  # the URL path it was POSTed to (one per channel)
    delivery: str              # X-Monitor-Delivery: <batch id>-<part>
    urls: tuple[str, ...]      # each story's URL
    also: tuple[str, ...]      # the URLs of copies listed under "also reported by"
    titles: tuple[str, ...]


class Receiver:
    """A webhook endpoint; `accepted` lists every POST it accepted, in order."""

    def __init__(self, delay: tuple[float, float] = (0.05, 0.25), seed: int = 0):
        self.delay = delay
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.accepted: list[Acceptance] = []
        self.stats: Counter = Counter()
        self.on_accept: Callable[[Acceptance], Awaitable[None]] | None = None

    def handle(self, request: Request):
        if request.method != "POST":
            return response(404, b"not found", {"Content-Type": "text/plain"})
        return self._accept(request)

    async def _accept(self, request: Request) -> None:
        arrived = time.monotonic()
        try:
            payload = json.loads(request.body)
        except ValueError:
            request.reply(response(400, b"{}", {"Content-Type": "application/json"}))
            return
        # A chat service takes a while to answer; then it has accepted (processed) the message
        # before it answers, as real receivers do: a kill after this makes a resend a duplicate.
        await asyncio.sleep(self.rng.uniform(*self.delay))
        stories = payload.get("stories", [])
        acceptance = Acceptance(time.monotonic(), arrived, request.path, request.headers.get("x-monitor-delivery", ""),
                                tuple(s.get("url", "") for s in stories),
                                tuple(a.get("url", "") for s in stories for a in s.get("also") or []),
                                tuple(s.get("title", "") for s in stories))
        with self.lock:
            self.accepted.append(acceptance)
        request.reply(response(200, b"{}", {"Content-Type": "application/json"}))
        hook = self.on_accept
        if hook is not None:
            await hook(acceptance)


# --- a site of many synthetic feeds, for the benches that start it with SiteProcess ------------------

FORMATS = ("rss2", "atom", "rss1")
OUTLETS = {"en": "The Morning Ledger", "uk": "Ранковий вісник", "ru": "Утренний вестник"}


def is_on_topic(uid: str, share: float) -> bool:
    """Whether an item is on topic: a fixed function of its uid, so every process agrees."""
    return zlib.crc32(uid.encode()) % 10_000 < share * 10_000


class NewsFeeds:
    """Group `name` of a site: `feeds` feeds at /name/K.xml with `items` items each; feed K is in
    LANGS[K % 3], in format FORMATS[K // 3 % 3]; item I of feed K has uid name-K-I and its page at
    /name/K/I.html. An item is on topic with probability `on_topic` (see is_on_topic)."""

    def __init__(self, name: str, feeds: int, items: int, *, seed: int = 1, on_topic: float = 0.05,
                 item_bytes: int = 900, teaser: bool = False, now: float | None = None, base: str = ""):
        self.base = base
        self.name, self.feeds, self.items, self.share = name, feeds, items, on_topic
        self.item_bytes, self.teaser = item_bytes, teaser
        self.writer = NewsWriter(seed)
        self.seed = seed
        self.now = datetime.fromtimestamp(now or time.time(), timezone.utc).replace(microsecond=0)

    def feed_path(self, k: int) -> str:
        return f"/{self.name}/{k}.xml"

    def page_path(self, k: int, i: int) -> str:
        return f"/{self.name}/{k}/{i}.html"

    def item(self, k: int, i: int) -> NewsItem:
        uid = f"{self.name}-{k}-{i}"
        published = self.now - timedelta(minutes=7 * i + k % 60 + 1)   # newest first, within days
        return self.writer.item(uid, LANGS[k % 3], is_on_topic(uid, self.share), path=self.page_path(k, i),
                                min_bytes=self.item_bytes, published=published, teaser=self.teaser)

    def feed(self, k: int) -> bytes:
        lang = LANGS[k % 3]
        return render_feed(FORMATS[k // 3 % 3], f"{OUTLETS[lang]} {self.name} {k}",
                           [self.item(k, i) for i in range(self.items)], self.base, lang)

    def on_topic_count(self) -> int:
        return sum(is_on_topic(f"{self.name}-{k}-{i}", self.share) for k in range(self.feeds) for i in range(self.items))

    def parse(self, path: str) -> tuple[int, int | None] | None:
        """(K, None) for a feed path, (K, I) for a page path, else None."""
        parts = path.strip("/").split("/")
        try:
            if len(parts) == 2 and parts[1].endswith(".xml"):
                k = int(parts[1].removesuffix(".xml"))
                return (k, None) if k < self.feeds else None
            if len(parts) == 3 and parts[2].endswith(".html"):
                k, i = int(parts[1]), int(parts[2].removesuffix(".html"))
                return (k, i) if k < self.feeds and i < self.items else None
        except ValueError:
            return None
        return None


def news_site(base: str, groups: list[dict], seed: int = 1, now: float | None = None):
    """SiteProcess factory: the groups' feeds (rendered ahead, or on each request when a group has
    "ahead": False) and their article pages (always rendered on request: ~50 KB each would not all
    fit in memory)."""
    site = Site()
    info = {}
    for spec in groups:
        spec = dict(spec)
        ahead = spec.pop("ahead", True)
        group = NewsFeeds(seed=seed, now=now, base=base, **spec)
        if ahead:
            total = 0
            for k in range(group.feeds):
                body = group.feed(k)
                total += len(body)
                site.add(group.feed_path(k), body, "application/xml; charset=utf-8")
            info[group.name] = {"feed_bytes": total}

        def render(path: str, group=group) -> tuple[bytes, str] | None:
            where = group.parse(path)
            if where is None:
                return None
            k, i = where
            if i is None:
                return group.feed(k), "application/xml; charset=utf-8"
            item = group.item(k, i)
            return article_page(item, OUTLETS[item.lang], group.seed), "text/html; charset=utf-8"

        site.render(f"/{group.name}/", render)
        info.setdefault(group.name, {}).update(on_topic=group.on_topic_count(), items=group.feeds * group.items)
    return site, info
