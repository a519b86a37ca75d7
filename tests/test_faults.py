"""Each fault, served by a real local server beside healthy sources: the faulty source is marked
failing with a readable reason, the healthy ones are stored, memory stays bounded."""

from __future__ import annotations

import asyncio
import re
import tracemalloc
import zlib

import pytest

from monitor.pipeline import Pipeline
from tests.conftest import FixedClock, fixture_bytes, rss_source
from tests.support.server import Reply, free_port

RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}
MB = 1024 * 1024


def run_beside_healthy(server, store, make_fetcher, faulty_url: str, **fetch_overrides):
    server.route("/healthy-uk", Reply(body=fixture_bytes("feeds/uk-atom.xml"), headers=RSS))
    server.route("/healthy-ru", Reply(body=fixture_bytes("feeds/ru-rss1.xml"), headers=RSS))
    sources = [rss_source("Faulty", faulty_url), rss_source("Healthy UK", server.url("/healthy-uk")),
               rss_source("Healthy RU", server.url("/healthy-ru"))]

    async def go():
        async with make_fetcher(**fetch_overrides) as fetcher:
            return await Pipeline(fetcher=fetcher, store=store, now=FixedClock()).poll_all(sources)

    tracemalloc.start()
    try:
        reports = asyncio.run(go())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    faulty, *healthy = reports
    assert all(r.status in ("ok", "not_modified") for r in healthy), healthy
    assert store.count_items("Healthy UK") == 2 and store.count_items("Healthy RU") == 2
    state = store.source_state("Faulty")
    return faulty, state, peak


def assert_failing(report, state, pattern: str):
    assert report.status == "failing", report
    assert re.search(pattern, report.error), report.error
    assert state.status == "failing" and state.consecutive_failures == 1 and state.failing_since is not None
    assert state.last_error == report.error


def test_http_500(server, store, make_fetcher):
    url = server.route("/feed", Reply(500, b"oops", {"Content-Type": "text/plain"}))
    report, state, _ = run_beside_healthy(server, store, make_fetcher, url)
    assert_failing(report, state, r"^HTTP 500 Internal Server Error from http://")


def test_http_500_is_retried_then_reported(server, store, make_fetcher):
    url = server.route("/feed", Reply(503, b"busy"))
    report, state, _ = run_beside_healthy(server, store, make_fetcher, url, retries=2)
    assert_failing(report, state, r"HTTP 503 .* \(after 3 attempts\)")
    assert len(server.requests_for("/feed")) == 3


def test_connection_refused(server, store, make_fetcher):
    report, state, _ = run_beside_healthy(server, store, make_fetcher, f"http://127.0.0.1:{free_port()}/feed")
    assert_failing(report, state, r"cannot connect to http://127\.0\.0\.1:\d+: connection refused")


def test_slower_than_the_timeout(server, store, make_fetcher):
    url = server.route("/feed", Reply(body=fixture_bytes("feeds/en-rss2.xml"), headers=RSS, delay=3))
    report, state, _ = run_beside_healthy(server, store, make_fetcher, url, read_timeout="0.5s")
    assert_failing(report, state, r"read timeout")


def test_body_that_trickles_past_the_total_timeout(server, store, make_fetcher):
    import time

    def trickle():
        yield b'<?xml version="1.0"?><rss version="2.0"><channel>'
        for _ in range(100):
            time.sleep(0.2)  # each chunk within the read timeout, the whole far beyond the total
            yield b" "

    url = server.route("/feed", lambda request: Reply(body=trickle(), headers=RSS))
    report, state, _ = run_beside_healthy(server, store, make_fetcher, url, total_timeout="1.5s")
    assert_failing(report, state, r"timed out after 1\.5s in total")


def test_60_mb_body_without_content_length(server, store, make_fetcher):
    def endless_feed():
        yield b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>'
        chunk = b"<item><title>filler</title><link>https://example.org/a</link></item>" * 1000
        for _ in range(60 * MB // len(chunk)):
            yield chunk

    url = server.route("/feed", lambda request: Reply(body=endless_feed(), headers=RSS))
    report, state, peak = run_beside_healthy(server, store, make_fetcher, url)
    assert_failing(report, state, r"response too large: more than 10,485,760 bytes from")
    assert peak < 40 * MB, f"peak traced memory {peak / MB:.0f} MB"


def test_declared_length_over_the_cap_is_refused_before_reading(server, store, make_fetcher):
    url = server.route("/feed", Reply(body=b"x" * 100, headers={**RSS, "Content-Length": str(60 * MB)}))
    report, state, _ = run_beside_healthy(server, store, make_fetcher, url)
    assert_failing(report, state, r"Content-Length 62,914,560 bytes exceeds")


def gzip_bomb(expanded_bytes: int = 1024 * MB):
    """~1 GB of zeros, gzip-compressed on the fly (about 1 MB on the wire)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"\0" * MB
    for _ in range(expanded_bytes // MB):
        out = compressor.compress(block)
        if out:
            yield out
    yield compressor.flush()


def test_gzip_bomb(server, store, make_fetcher):
    url = server.route("/feed", lambda request: Reply(body=gzip_bomb(), headers={**RSS, "Content-Encoding": "gzip"}))
    report, state, peak = run_beside_healthy(server, store, make_fetcher, url)
    assert_failing(report, state, r"response too large: more than 10,485,760 bytes after decompression")
    assert peak < 40 * MB, f"peak traced memory {peak / MB:.0f} MB"


def test_gzip_feed_is_decoded(server, store, make_fetcher):
    import gzip

    body = gzip.compress(fixture_bytes("feeds/en-rss2.xml"))
    url = server.route("/feed", Reply(body=body, headers={**RSS, "Content-Encoding": "gzip"}))
    report, _, _ = run_beside_healthy(server, store, make_fetcher, url)
    assert (report.status, report.new_items) == ("ok", 3)


def test_redirect_loop(server, store, make_fetcher):
    server.route("/a", Reply(302, b"", {"Location": "/b"}))
    url = server.route("/b", Reply(301, b"", {"Location": "/a"}))
    report, state, _ = run_beside_healthy(server, store, make_fetcher, url)
    assert_failing(report, state, r"redirect loop: http://\S+/b -> http://\S+/a -> http://\S+/b")


def test_too_many_redirects(server, store, make_fetcher):
    for hop in range(10):
        server.route(f"/hop{hop}", Reply(302, b"", {"Location": f"/hop{hop + 1}"}))
    report, state, _ = run_beside_healthy(server, store, make_fetcher, server.url("/hop0"), max_redirects=3)
    assert_failing(report, state, r"too many redirects \(more than 3\)")


def test_redirect_is_followed(server, store, make_fetcher):
    server.route("/moved", Reply(301, b"", {"Location": "/feed"}))
    server.route("/feed", Reply(body=fixture_bytes("feeds/en-rss2.xml"), headers=RSS))
    report, _, _ = run_beside_healthy(server, store, make_fetcher, server.url("/moved"))
    assert (report.status, report.new_items) == ("ok", 3)


def test_truncated_xml_keeps_the_complete_items(server, store, make_fetcher):
    body = fixture_bytes("feeds/en-rss2.xml")
    cut = body.index(b"<title>Registry of") + 20  # inside the third item's title
    url = server.route("/feed", Reply(body=body[:cut], headers=RSS))
    report, state, _ = run_beside_healthy(server, store, make_fetcher, url)
    assert (report.status, report.new_items) == ("ok", 2)
    assert "truncated" in report.warning and state.last_error == report.warning
    titles = [row["title"] for row in store.items("Faulty")]
    assert titles == ["Eleven children taken from Kherson region returned to Ukraine", "Parliament debates the 2027 budget"]


def test_html_served_as_a_feed(server, store, make_fetcher):
    url = server.route("/feed", Reply(body=fixture_bytes("pages/not-a-feed.html"), headers={"Content-Type": "text/html"}))
    report, state, _ = run_beside_healthy(server, store, make_fetcher, url)
    assert_failing(report, state, r"not an RSS or Atom feed: .* returned an HTML page; "
                                  r"the page links a feed at http://\S+/ukraine/rss\.xml, use that URL")


CP1251_FEED = """<?xml version="1.0" encoding="{declared}"?>
<rss version="2.0"><channel><title>Вести региона</title>
<item><title>Из оккупированного Херсона вывезли сорок детей</title><link>https://region.example/news/1</link>
<description>Депортированных несовершеннолетних разместили в лагерях «оздоровления» в Крыму.</description></item>
<item><title>Детей вернули домой</title><link>https://region.example/news/2</link>
<description>Возвращённые дети встретились с родителями.</description></item>
</channel></rss>"""


@pytest.mark.parametrize("declared_in_xml, header", [
    ("windows-1251", "application/rss+xml"),                     # declared right, in the document
    ("windows-1251", "application/rss+xml; charset=windows-1251"),  # declared right, in both
    ("utf-8", "application/rss+xml"),                            # declared wrong in the document
    ("windows-1251", "application/rss+xml; charset=utf-8"),       # declared wrong in the header
    ("iso-8859-1", "text/xml; charset=iso-8859-1"),                # declared as another single-byte codec
])
def test_windows_1251_feed(server, store, make_fetcher, declared_in_xml, header):
    body = CP1251_FEED.format(declared=declared_in_xml).encode("cp1251")
    url = server.route("/feed", Reply(body=body, headers={"Content-Type": header}))
    report, _, _ = run_beside_healthy(server, store, make_fetcher, url)
    assert (report.status, report.new_items) == ("ok", 2)
    first = store.items("Faulty")[0]
    assert first["title"] == "Из оккупированного Херсона вывезли сорок детей"
    assert first["summary"].startswith("Депортированных несовершеннолетних")


def test_utf8_feed_declared_as_windows_1251(server, store, make_fetcher):
    body = CP1251_FEED.format(declared="windows-1251").encode("utf-8")
    url = server.route("/feed", Reply(body=body, headers={"Content-Type": "application/rss+xml; charset=windows-1251"}))
    report, _, _ = run_beside_healthy(server, store, make_fetcher, url)
    assert report.status == "ok"
    assert store.items("Faulty")[0]["title"] == "Из оккупированного Херсона вывезли сорок детей"


def test_a_failing_source_recovers_and_the_failure_streak_resets(server, store, make_fetcher):
    url = server.route("/feed", Reply(500, b"down"))
    run_beside_healthy(server, store, make_fetcher, url)
    run_beside_healthy(server, store, make_fetcher, url)
    assert store.source_state("Faulty").consecutive_failures == 2
    server.route("/feed", Reply(body=fixture_bytes("feeds/en-rss2.xml"), headers=RSS))
    report, state, _ = run_beside_healthy(server, store, make_fetcher, url)
    assert report.status == "ok" and state.consecutive_failures == 0 and state.failing_since is None
