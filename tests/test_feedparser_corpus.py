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


def _fast_path_comparison(paths: list[Path]) -> tuple[list[str], list[str]]:
    """(documents that took the fast RSS 2.0 path, those where it gave other items than feedparser)."""
    from monitor.sources.rss import _plain_rss2, parse_feed

    compared, differ = [], []
    for path in paths:
        raw = path.read_bytes()
        quick = _plain_rss2(raw, "http://feeds.example/feed.xml")
        if quick is None:
            continue
        compared.append(path.name)
        slow = parse_feed(raw, "http://feeds.example/feed.xml", "application/xml", fast=False)
        if quick.items != slow.items:
            differ.append(path.name)
    return compared, differ


def _feed_files(root: Path) -> list[Path]:
    return [p for p in sorted(root.rglob("*")) if p.is_file() and p.suffix in (".xml", ".rss")]


def test_fast_rss_path_gives_the_same_items_as_feedparser_on_our_fixtures():
    compared, differ = _fast_path_comparison(_feed_files(FIXTURES / "feeds"))
    # The RSS 2.0 fixture takes the fast path; the RSS 1.0 and Atom ones must not.
    assert compared == ["en-rss2.xml"], compared
    assert not differ, differ


def test_fast_rss_path_gives_the_same_items_as_feedparser_on_the_corpora():
    paths = _feed_files(corpus("feedparser-tests")) + _feed_files(corpus("real-feeds"))
    compared, differ = _fast_path_comparison(paths)
    assert len(compared) >= 20, f"only {len(compared)} documents took the fast path"
    assert not differ, differ
