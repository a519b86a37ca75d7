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
from monitor.pipeline import poll_all
from monitor.sources.rss import _as_utf8
from monitor.text import html_to_text
from tests.conftest import FixedClock, corpus, rss_source
from tests.support.server import LocalServer, Reply

_HEADER = re.compile(r"^Header:\s*([A-Za-z-]+):\s*(.*?)\s*$", re.MULTILINE)
_EXPECT = re.compile(r"^Expect:\s*(.*?)\s*$", re.MULTILINE)
_SKIP_UNLESS = re.compile(r"^SkipUnless:\s*(.*?)\s*$", re.MULTILINE)


def _comment(raw: bytes) -> str:
    """The leading comment, whatever the file's encoding (UTF-16/32 files included)."""
    for codec in ("utf-8", "utf-16", "utf-32"):
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError:
            continue
        if "Description:" in text or "Header:" in text:
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
                    poll_all(sources, fetcher=fetcher, store=store, now=FixedClock()), timeout=300)
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
    root = Path(__file__).resolve().parent.parent.parent / "shared" / "corpora" / "feedparser-tests" / "encoding"
    if not root.is_dir():
        return []
    return sorted(root.glob("*.xml"))


@pytest.mark.parametrize("path", _expectation_cases() or [None], ids=lambda p: p.name if p else "absent")
def test_charset_decisions_keep_feedparser_expectations(path):
    if path is None:
        corpus("feedparser-tests")
    raw = path.read_bytes()
    comment = _comment(raw)
    expect = _EXPECT.search(comment)
    headers = {name.lower(): value for name, value in _HEADER.findall(comment)}
    skip_unless = _SKIP_UNLESS.search(comment)
    if skip_unless:
        try:
            eval(skip_unless.group(1))  # noqa: S307 (trusted test data: a codec lookup)
        except Exception:
            pytest.skip(f"feedparser skips it too: {skip_unless.group(1)}")
    if not expect or "encoding" in expect.group(1) or "bozo" in expect.group(1).split(" and ")[0] and "not bozo" not in expect.group(1):
        pytest.skip("expectation is about feedparser's own encoding report, not the text")
    content_type = headers.get("content-type", "application/xml")
    data, _ = _as_utf8(raw, content_type)
    parsed = feedparser.parse(data, response_headers={"content-type": "application/xml; charset=utf-8"
                                                      if data is not raw else content_type})
    expression = expect.group(1).replace(" bozo", " False").replace("not False", "True") \
        if data is not raw else expect.group(1)
    scope = {"bozo": parsed.bozo, "feed": parsed.feed, "entries": parsed.entries, "version": parsed.version}
    assert eval(expression, {}, scope), f"{path.name}: {expect.group(1)}"  # noqa: S307 (trusted test data)


def _rss_documents():
    roots = [Path(__file__).resolve().parent.parent / "fixtures" / "feeds"]
    shared = Path(__file__).resolve().parent.parent.parent / "shared" / "corpora"
    roots += [shared / "feedparser-tests", shared / "real-feeds"]
    return [p for root in roots if root.is_dir() for p in sorted(root.rglob("*"))
            if p.is_file() and p.suffix in (".xml", ".rss")]


def test_fast_rss_path_gives_the_same_items_as_feedparser():
    from monitor.sources.rss import _plain_rss2, parse_feed

    compared, differ = 0, []
    for path in _rss_documents():
        raw = path.read_bytes()
        quick = _plain_rss2(raw, "http://feeds.example/feed.xml")
        if quick is None:
            continue
        compared += 1
        slow = parse_feed(raw, "http://feeds.example/feed.xml", "application/xml", fast=False)
        if quick.items != slow.items:
            differ.append(path.name)
    assert compared >= 20, f"only {compared} documents took the fast path"
    assert not differ, differ
