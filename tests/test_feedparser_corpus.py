"""Every file of feedparser's own test data, served by a local server and polled as a source.

The point is robustness (no crash, no hang, items that feedparser finds are stored), plus the
charset decisions: on `encoding/` files our re-decoding must still satisfy feedparser's own
expectation about the text.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from pathlib import Path

import feedparser
import pytest

from monitor.items import SourceState
from monitor.pipeline import Pipeline
from monitor.sources.rss import _as_utf8
from monitor.text import html_to_text
from tests.conftest import CORPORA, FIXTURES, FixedClock, corpus, rss_source
from tests.support.server import LocalServer, Reply

_HEADER = re.compile(r"^Header:\s*([A-Za-z-]+):\s*(.*?)\s*$", re.MULTILINE)
_EXPECT = re.compile(r"^Expect:\s*(.*?)\s*$", re.MULTILINE)
_SKIP_UNLESS = re.compile(r"^SkipUnless:\s*(.*?)\s*$", re.MULTILINE)


_XML_DECL = re.compile(r"""^\ufeff?<\?xml[^>]*?encoding=["']([A-Za-z0-9._:-]+)["'][^>]*\?>""")


def _comment(raw: bytes) -> str:
    """The leading comment, whatever the file's encoding: UTF-16/32 with or without a BOM, and
    EBCDIC (read as cp037 far enough to find the declared codec, then in that codec)."""
    for codec in ("utf-8", "utf-16", "utf-32", "utf-16-be", "utf-16-le", "utf-32-be", "utf-32-le", "cp037"):
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError:
            continue
        if "Description:" in text or "Header:" in text:
            declared = _XML_DECL.match(text)
            if codec == "cp037" and declared:
                try:
                    text = raw.decode(declared.group(1))
                except (LookupError, UnicodeDecodeError):
                    pass
            return text[: text.find("-->") + 3] if "-->" in text else text[:2000]
    return raw[:2000].decode("latin-1")


def _reply_for(path: Path, raw: bytes, base_url: str) -> Reply:
    headers: dict[str, str] = {}
    status = 200
    for name, value in _HEADER.findall(_comment(raw)):
        if name.lower() == "status":
            status = int(value)
        elif name.lower() == "location":
            headers["Location"] = re.sub(r"^http://localhost:8097(/tests)?", base_url, value)
        else:
            headers[name] = value
    if path.suffix == ".gz":
        headers["Content-Encoding"] = "gzip"
    elif path.suffix == ".z":
        headers["Content-Encoding"] = "deflate"
    headers.setdefault("Content-Type", "application/xml")
    return Reply(status, b"" if status == 304 else raw, headers)


def test_every_feedparser_test_file_polls_without_crash_or_hang(tmp_path, make_fetcher, capsys):
    root = corpus("feedparser-tests")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".xml", ".gz", ".z", ".rdf", ".rss", ".atom"))
    assert len(files) > 2000

    from monitor.store import Store

    store = Store(tmp_path / "corpus.db")
    with LocalServer() as server:
        base = server.url("")
        sources = []
        for index, path in enumerate(files):
            rel = "/" + path.relative_to(root).as_posix()
            server.route(rel, _reply_for(path, path.read_bytes(), base))
            sources.append(rss_source(f"f{index:04d} {rel}", server.url(rel)))
        # http_redirect_to_304 points at this path on feedparser's own test server.
        server.route("/-/return-304.xml", Reply(304, b""))

        async def go():
            async with make_fetcher(concurrency=20, per_host_concurrency=20) as fetcher:
                return await asyncio.wait_for(
                    Pipeline(fetcher=fetcher, store=store, now=FixedClock()).poll_all(sources), timeout=300)
        reports = asyncio.run(go())

    crashed = [r for r in reports if r.error and r.error.startswith("internal error")]
    assert not crashed, crashed[:5]

    # Items feedparser itself finds in a file served with status 200 must reach the store.
    missing = []
    for path, report in zip(files, reports):
        raw = path.read_bytes()
        reply = _reply_for(path, raw, "")
        if reply.status != 200 or reply.headers.get("Content-Encoding") or report.status != "ok":
            continue
        direct = feedparser.parse(raw, response_headers={"content-type": reply.headers["Content-Type"]},
                                  resolve_relative_uris=False, sanitize_html=False)
        # An entry with neither link, id nor any visible text (an image alone) has nothing to show.
        found = [e for e in direct.entries if e.get("link") or e.get("id")
                 or html_to_text(e.get("title")) or html_to_text(e.get("summary"))]
        if len(found) > report.seen_items and "truncated" not in (report.warning or ""):
            missing.append((path.name, len(found), report.seen_items))
    assert not missing, missing[:10]

    statuses = Counter(r.status for r in reports)
    with_items = sum(1 for r in reports if r.seen_items)
    reasons = Counter(re.sub(r"http://\S+", "URL", r.error).split(":")[0] for r in reports if r.error)
    with capsys.disabled():
        print(f"\nfeedparser corpus: {len(reports)} files polled; {with_items} yielded items "
              f"({store.count_items()} distinct stored); statuses {dict(statuses)}; "
              f"failure reasons {dict(reasons.most_common(6))}")
    store.close()


def _expectation_cases():
    root = CORPORA / "feedparser-tests" / "encoding"
    if not root.is_dir():
        return []
    return sorted(root.glob("*.xml"))


def _clauses(expectation: str) -> list[str]:
    """`a and b and c` → [a, b, c] (feedparser's expectations join simple tests with `and`)."""
    return [part.strip() for part in expectation.split(" and ")]


def _without_declaration(text: str) -> str:
    return re.sub(r"^<\?xml[^>]*\?>", "", text.lstrip("\ufeff"), count=1)


@pytest.mark.parametrize("path", _expectation_cases() or [None], ids=lambda p: p.name if p else "absent")
def test_charset_decisions_keep_feedparser_expectations(path):
    """Every file of feedparser's `encoding/` folder, each with what applies to it:

    - always: our re-decoding does not crash, gives valid UTF-8 that says so, and feedparser finds
      every entry in it that it finds in the original bytes (these are the items we store);
    - when feedparser says the file is well formed (`not bozo`), so is our version;
    - `encoding == 'X'`: our text is the file decoded as X, character for character;
    - any other clause (a title, a description) holds on our version as it is written;
    - except where feedparser itself calls the input broken (`bozo and ...`): the rest of such an
      expectation describes feedparser's own fallback guess, which we are free to improve on.
    Files for a codec this Python lacks are skipped by feedparser's own suite (`SkipUnless`); here
    they get the first group only.
    """
    if path is None:
        corpus("feedparser-tests")
    raw = path.read_bytes()
    comment = _comment(raw)
    expect = _EXPECT.search(comment)
    assert expect, f"{path.name}: no Expect: line found in {comment[:200]!r}"
    headers = {name.lower(): value for name, value in _HEADER.findall(comment)}
    content_type = headers.get("content-type", "application/xml")

    data, _ = _as_utf8(raw, content_type)
    reencoded = data is not raw
    if reencoded:
        text = data.decode("utf-8")  # strict: our output is UTF-8 or this raises
        declared = _XML_DECL.match(text)
        assert declared is None or declared.group(1).lower() == "utf-8", (path.name, text[:80])
    parsed = feedparser.parse(data, response_headers={"content-type": "application/xml; charset=utf-8"
                                                      if reencoded else content_type})
    direct = feedparser.parse(raw, response_headers={"content-type": content_type})
    assert len(parsed.entries) >= len(direct.entries), (path.name, len(parsed.entries), len(direct.entries))

    skip_unless = _SKIP_UNLESS.search(comment)
    if skip_unless:
        try:
            eval(skip_unless.group(1))  # noqa: S307 (trusted test data: a codec lookup)
        except Exception:
            return  # feedparser's suite skips it: no expectation about the text applies
    clauses = _clauses(expect.group(1))
    if clauses[0] == "bozo":
        return  # feedparser calls the input broken; the rest is its own fallback guess

    scope = {"bozo": parsed.bozo, "feed": parsed.feed, "entries": parsed.entries, "version": parsed.version}
    for clause in clauses:
        charset = re.fullmatch(r"encoding == '([^']+)'", clause)
        if clause == "not bozo":
            assert not parsed.bozo, (path.name, parsed.get("bozo_exception"))
        elif charset:
            want = _without_declaration(raw.decode(charset.group(1)))
            got = _without_declaration(data.decode("utf-8")) if reencoded else want
            if not reencoded:  # passed through: feedparser must still read it as the file says
                assert parsed.encoding.lower() == charset.group(1).lower(), (path.name, parsed.encoding)
            assert got == want, (path.name, clause, got[:200], want[:200])
        else:
            assert "bozo" not in clause and "encoding" not in clause, (path.name, clause)
            assert eval(clause, {}, scope), f"{path.name}: {clause}"  # noqa: S307 (trusted test data)


# --- the fast paths (ElementTree) against feedparser ----------------------------------------------
_FEED_URL = "http://feeds.example/feed.xml"
_FAST_PATH_OF_ROOT = {"rss": "rss2", "{http://www.w3.org/2005/Atom}feed": "atom",
                      "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}RDF": "rss1"}


def _fast_path_comparison(paths: list[Path]) -> tuple[dict[Path, str], list[Path]]:
    """({document: the fast path that read it (rss2, atom, rss1)}, those where it gave other items
    than feedparser)."""
    from xml.etree import ElementTree

    from monitor.sources.rss import _plain_feed, parse_feed

    compared, differ = {}, []
    for path in paths:
        raw = path.read_bytes()
        quick = _plain_feed(raw, _FEED_URL)
        if quick is None:
            continue
        compared[path] = _FAST_PATH_OF_ROOT[ElementTree.fromstring(raw).tag]
        slow = parse_feed(raw, _FEED_URL, "application/xml", fast=False)
        if quick.items != slow.items:
            differ.append(path)
    return compared, differ


def _feed_files(root: Path) -> list[Path]:
    return [p for p in sorted(root.rglob("*")) if p.is_file() and p.suffix in (".xml", ".rss", ".atom")]


def test_fast_paths_give_the_same_items_as_feedparser_on_our_fixtures():
    compared, differ = _fast_path_comparison(_feed_files(FIXTURES / "feeds"))
    assert {path.name: kind for path, kind in compared.items()} == {
        "en-rss2.xml": "rss2", "uk-atom.xml": "atom", "ru-rss1.xml": "rss1"}
    assert not differ, differ


def test_fast_paths_give_the_same_items_as_feedparser_on_the_corpora(capsys):
    paths = _feed_files(corpus("feedparser-tests")) + _feed_files(corpus("real-feeds"))
    compared, differ = _fast_path_comparison(paths)
    taken = Counter(compared.values())
    with capsys.disabled():
        print(f"\nfast paths on the corpora: {dict(taken)} of {len(paths)} documents")
    # feedparser's test files are mostly Atom and RSS 2.0 (each a case of one element, most of them
    # plain); RSS 1.0 has a few. Far fewer would mean a fast path refuses what it should read.
    assert taken["rss2"] >= 250 and taken["atom"] >= 300 and taken["rss1"] >= 5, dict(taken)
    assert not differ, differ


def test_the_bench_feeds_of_every_format_take_a_fast_path():
    from bench.support.site import FORMATS, NewsFeeds
    from monitor.sources.rss import _plain_feed, parse_feed

    group = NewsFeeds("feeds", 9, 50, base="http://127.0.0.1:1")  # feed K is in FORMATS[K // 3 % 3]
    for k in range(group.feeds):
        body, url = group.feed(k), group.base + group.feed_path(k)
        quick = _plain_feed(body, url)
        assert quick is not None, f"a {FORMATS[k // 3 % 3]} bench feed went to feedparser"
        assert len(quick.items) == 50
        assert quick.items == parse_feed(body, url, "application/xml", fast=False).items


def _rss2(items: str, channel: str = "") -> str:
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"'
            ' xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:media="http://search.yahoo.com/mrss/"'
            ' xmlns:feedburner="http://rssnamespace.org/feedburner/ext/1.0" xmlns:atom="http://www.w3.org/2005/Atom">'
            f"<channel{channel}><title>Feed</title><link>http://feeds.example/</link>{items}</channel></rss>")


def _atom(entries: str, feed: str = "") -> str:
    return ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"'
            f' xmlns:media="http://search.yahoo.com/mrss/"{feed}><title>Feed</title><id>urn:feed</id>'
            f"<author><name>Feed Author</name></author>{entries}</feed>")


def _rss1(items: str, channel: str = '<channel rdf:about="http://feeds.example/"><title>Feed</title></channel>') -> str:
    return ('<?xml version="1.0" encoding="utf-8"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
            ' xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/"'
            ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
            f' xmlns:taxo="http://purl.org/rss/1.0/modules/taxonomy/">{channel}{items}</rdf:RDF>')


def _item2(body: str) -> str:
    return _rss2(f"<item><title>A</title>{body}</item>")


def _entry(body: str) -> str:
    return f"<entry><title>A story</title><id>urn:story:1</id>{body}</entry>"


def _item1(body: str) -> str:
    return _rss1(f"<item rdf:about='urn:a'><title>A</title>{body}</item>")


# (name, document, whether a fast path reads it): one for each thing feedparser does its own way,
# found by reading feedparser's code. A fast path that reads a document must give its items.
_FAST_PATH_CASES = [
    # RSS 2.0
    ("rss2 plain", _item2("<link>/a</link><guid isPermaLink='false'>1</guid><dc:creator>N</dc:creator>"
                          "<pubDate>Tue, 24 Nov 2026 09:30:00 +0200</pubDate>"
                          "<description>&lt;p&gt;Text&lt;/p&gt;</description>"), True),
    ("rss2 a permalink guid is joined to the feed's URL", _item2("<guid>12345</guid>"), True),
    ("rss2 ispermalink in lower case", _item2("<guid ispermalink='false'>1</guid>"), False),
    ("rss2 an empty description is the summary",
     _item2("<description></description><content:encoded>Full</content:encoded>"), True),
    ("rss2 content before the description",
     _item2("<content:encoded>Full text</content:encoded><description>Short</description>"), True),
    ("rss2 content alone doubles as the summary", _item2("<content:encoded>Full</content:encoded>"), True),
    ("rss2 two dc:creator (feedparser keeps the last)", _item2("<dc:creator>A</dc:creator><dc:creator>B</dc:creator>"),
     False),
    ("rss2 author and dc:creator", _item2("<author>a@x.example</author><dc:creator>B</dc:creator>"), False),
    ("rss2 media:description (feedparser's content)",
     _item2("<description>D</description><media:description>Caption</media:description>"), False),
    ("rss2 media:title in a media:group",
     _rss2("<item><description>D</description><media:group><media:title>T</media:title></media:group></item>"), False),
    ("rss2 media:content, media:credit, media:thumbnail",
     _item2("<media:content url='http://x.example/i.jpg'><media:credit>C</media:credit></media:content>"
            "<media:thumbnail url='http://x.example/t.jpg'/>"), True),
    ("rss2 feedburner:origLink and dc:subject",
     _item2("<feedburner:origLink>http://x.example/a</feedburner:origLink><dc:subject>S</dc:subject>"), True),
    ("rss2 UTF-8 read as Latin-1 (feedparser decodes it again)", _rss2("<item><title>CafÃ© open</title></item>"),
     False),
    ("rss2 a C1 control (feedparser reads it as windows-1252)", _rss2("<item><title>A\u0093quote</title></item>"),
     False),
    ("rss2 a C1 control as a character reference", _rss2("<item><title>A&#150;B</title></item>"), False),
    ("rss2 a C1 control in the channel's title", _rss2("<item><title>A</title></item>").replace("Feed<", "F\u0085<"),
     False),
    ("rss2 accented text", _rss2("<item><title>Café à Paris</title></item>"), True),
    ("rss2 a link with an empty query (urljoin drops it)", _item2("<link>http://x.example/a?</link>"), True),
    ("rss2 a link escaped twice", _item2("<link>http://x.example/?a=1&amp;amp;b=2</link>"), False),
    ("rss2 a link with three slashes", _item2("<link>http:///x.example/a</link>"), False),
    ("rss2 xml:base", _rss2("<item><title>A</title><link>a</link></item>", ' xml:base="http://other.example/"'), False),
    ("rss2 an item outside the channel",
     _item2("").replace("</channel></rss>", "</channel><item><title>B</title></item></rss>"), True),
    ("rss2 an <Item> (feedparser lowercases names)", _rss2("<Item><title>A</title></Item>"), False),
    ("rss2 an Atom entry", _rss2("<atom:entry><atom:title>A</atom:title></atom:entry>"), False),
    ("rss2 an href on the item", _rss2("<item href='http://x.example/a'><title>A</title></item>"), False),
    ("rss2 a type on the description (base64 for feedparser)",
     _item2("<description type='image/png'>QUJD</description>"), False),
    ("rss2 a comment in the title", _rss2("<item><title>A <!-- c -->B</title></item>"), True),
    ("rss2 a DOCTYPE", _item2("").replace("?>", '?><!DOCTYPE rss SYSTEM "x.dtd">', 1), False),
    ("rss2 windows-1251",
     _rss2("<item><title>Новини</title></item>").replace("utf-8", "windows-1251").encode("cp1251"), False),
    # Atom 1.0
    ("atom plain", _atom(_entry("<link href='/a'/><updated>2026-11-24T09:30:00+02:00</updated>"
                                "<summary type='html'>&lt;p&gt;S&lt;/p&gt;</summary><author><name>N</name></author>")),
     True),
    ("atom the last alternate HTML link",
     _atom(_entry("<link rel='self' href='/self'/><link href='/one'/><link rel='ALTERNATE' href='/two'/>"
                  "<link rel='alternate' type='application/atom+xml' href='/three'/><link rel='enclosure' href='/e'/>"
                  "<link rel='alternate' type='text/html; charset=utf-8' href='/four'/>")), True),
    ("atom no link: the id, joined", _atom("<entry><title>A</title><id>/post/1</id></entry>"), True),
    ("atom a self link only: the id",
     _atom("<entry><title>A</title><link rel='self' href='/s'/><id>http://x.example/p</id></entry>"), True),
    ("atom a link without href (feedparser reads its text)", _atom(_entry("<link>http://x.example/a</link>")), False),
    ("atom a link with url= instead of href", _atom(_entry("<link url='http://x.example/a'/>")), False),
    ("atom an empty href (feedparser makes it the feed's URL)", _atom(_entry("<link href=''/>")), False),
    ("atom content alone doubles as the summary",
     _atom(_entry("<content type='html'>&lt;p&gt;Body&lt;/p&gt;</content>")), True),
    ("atom content before the summary", _atom(_entry("<content>Body text</content><summary>Short</summary>")), True),
    ("atom content of type xhtml",
     _atom(_entry("<content type='xhtml'><div xmlns='http://www.w3.org/1999/xhtml'>B</div></content>")), False),
    ("atom a title of type xhtml", _atom("<entry><title type='xhtml'>A</title><id>urn:x</id></entry>"), False),
    ("atom content of type text/xml", _atom(_entry("<content type='text/xml'>Body</content>")), False),
    ("atom content with src", _atom(_entry("<content src='http://x.example/b'/>")), False),
    ("atom author with an email", _atom(_entry("<author><name>N</name><email>n@x.example</email></author>")), True),
    ("atom author with an email only", _atom(_entry("<author><email>n@x.example</email><uri>/n</uri></author>")),
     True),
    ("atom author with a uri only", _atom(_entry("<author><uri>http://x.example/n</uri></author>")), True),
    ("atom no author (the feed's is not the entry's)", _atom(_entry("")), True),
    ("atom two authors", _atom(_entry("<author><name>A</name></author><author><name>B</name></author>")), False),
    ("atom author as text", _atom(_entry("<author>N</author>")), False),
    ("atom a date without a zone (UTC for feedparser)",
     _atom(_entry("<published>2026-11-24T09:30:00</published><updated>2026-11-25T09:30:00Z</updated>")), True),
    ("atom a date with -03:30 and a fraction", _atom(_entry("<updated>2026-11-24T09:30:00.123-03:30</updated>")),
     True),
    ("atom a date without seconds", _atom(_entry("<updated>2026-11-24T09:30+01:00</updated>")), True),
    ("atom an empty published, then updated",
     _atom(_entry("<published></published><updated>2026-11-24T09:30:00Z</updated>")), True),
    ("atom a zone without a colon (feedparser drops its minutes)",
     _atom(_entry("<updated>2026-11-24T09:30:00+0530</updated>")), False),
    ("atom February 30th", _atom(_entry("<updated>2026-02-30T09:30:00Z</updated>")), False),
    ("atom an RFC 822 date", _atom(_entry("<updated>Tue, 24 Nov 2026 09:30:00 GMT</updated>")), False),
    ("atom two titles (feedparser keeps the first not empty)",
     _atom("<entry><title></title><title>Second</title><id>urn:x</id></entry>"), False),
    ("atom an html title", _atom("<entry><title type='html'>A &amp;amp; B &lt;b&gt;now&lt;/b&gt;</title></entry>"),
     True),
    ("atom category and rights", _atom(_entry("<category term='t'/><rights>R</rights>")), True),
    ("atom contributor", _atom(_entry("<contributor><name>C</name></contributor>")), False),
    ("atom source", _atom(_entry("<source><title>S</title></source>")), False),
    ("atom xml:base on an entry",
     _atom("<entry xml:base='http://other.example/'><title>A</title><link href='a'/></entry>"), False),
    ("atom media:thumbnail", _atom(_entry("<media:thumbnail url='http://x.example/t.jpg'/>")), True),
    ("atom media:group (YouTube)",
     _atom(_entry("<media:group><media:title>T</media:title><media:description>D</media:description></media:group>")),
     False),
    ("atom an entry in an entry", _atom(_entry(_entry(""))), False),
    # RSS 1.0
    ("rss1 plain",
     _rss1("<item rdf:about='http://x.example/a'><title>A</title><link>http://x.example/a</link>"
           "<description>D</description><dc:date>2026-11-22T12:00:00+03:00</dc:date><dc:creator>N</dc:creator>"
           "<content:encoded>&lt;p&gt;Full&lt;/p&gt;</content:encoded></item>"), True),
    ("rss1 rdf:about is the id as written", _rss1("<item rdf:about='/a'><title>A</title></item>"), True),
    ("rss1 a relative link", _item1("<link>/a?</link>"), True),
    ("rss1 content alone doubles as the summary", _item1("<content:encoded>Full</content:encoded>"), True),
    ("rss1 an empty description is the summary", _item1("<description/><content:encoded>Full</content:encoded>"), True),
    ("rss1 dc:subject and dc:language", _item1("<dc:subject>S</dc:subject><dc:language>en</dc:language>"), True),
    ("rss1 taxo:topics",
     _item1("<taxo:topics><rdf:Bag><rdf:li rdf:resource='http://x.example/t'/></rdf:Bag></taxo:topics>"), False),
    ("rss1 an RFC 822 dc:date", _item1("<dc:date>Tue, 24 Nov 2026 09:30:00 GMT</dc:date>"), False),
    ("rss1 two links", _item1("<link>http://x.example/a</link><link>http://x.example/b</link>"), False),
    ("rss1 dc:title (feedparser's title)", _rss1("<item rdf:about='urn:a'><dc:title>A</dc:title></item>"), False),
    ("rss1 no channel (RSS 0.90 or something else)", _rss1("<item rdf:about='urn:a'><title>A</title></item>", ""),
     False),
    ("rss1 an RSS 0.90 item", _item1("").replace(
        "</rdf:RDF>", "<n:item xmlns:n='http://my.netscape.com/rdf/simple/0.9/'><n:title>B</n:title></n:item></rdf:RDF>"
    ), False),
]


@pytest.mark.parametrize("name, document, fast", _FAST_PATH_CASES, ids=[case[0] for case in _FAST_PATH_CASES])
def test_fast_paths_read_only_what_they_read_as_feedparser_does(name, document, fast):
    from monitor.sources.rss import _plain_feed, parse_feed

    raw = document if isinstance(document, bytes) else document.encode("utf-8")
    quick = _plain_feed(raw, _FEED_URL)
    slow = parse_feed(raw, _FEED_URL, "application/xml", fast=False)
    assert slow.items and slow.warning is None, (name, slow)  # each case is a well-formed feed with items
    assert (quick is not None) == fast, (name, quick)
    if quick is not None:
        assert quick.items == slow.items
