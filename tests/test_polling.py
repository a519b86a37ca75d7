"""Polling feeds from a real local HTTP server into a real SQLite file."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timezone

from monitor.pipeline import Pipeline
from monitor.store import Store
from tests.conftest import FixedClock, fixture_bytes, rss_source
from tests.support.server import Reply


def conditional(body: bytes, content_type: str = "application/rss+xml; charset=utf-8"):
    """A route that honours If-None-Match and If-Modified-Since like a well-behaved server."""
    etag = '"' + hashlib.sha1(body).hexdigest()[:12] + '"'
    modified = "Tue, 24 Nov 2026 06:05:00 GMT"

    def handle(request):
        if request.headers.get("if-none-match") == etag or request.headers.get("if-modified-since") == modified:
            return Reply(304, b"", {"ETag": etag})
        return Reply(200, body, {"Content-Type": content_type, "ETag": etag, "Last-Modified": modified})
    return handle


def poll(sources, make_fetcher, store, **kw):
    async def go():
        async with make_fetcher(**kw) as fetcher:
            return await Pipeline(fetcher=fetcher, store=store, now=FixedClock()).poll_all(sources)
    return asyncio.run(go())


def test_new_items_stored_once_and_second_poll_sends_validators(server, store, make_fetcher):
    server.route("/en.xml", conditional(fixture_bytes("feeds/en-rss2.xml")))
    server.route("/uk.xml", conditional(fixture_bytes("feeds/uk-atom.xml"), "application/atom+xml"))
    server.route("/ru.xml", conditional(fixture_bytes("feeds/ru-rss1.xml"), "application/rdf+xml"))
    sources = [rss_source("Ledger", server.url("/en.xml")), rss_source("Visti", server.url("/uk.xml")),
               rss_source("Pravo", server.url("/ru.xml"))]

    first = poll(sources, make_fetcher, store)
    assert [(r.status, r.new_items) for r in first] == [("ok", 3), ("ok", 2), ("ok", 2)]
    assert store.count_items() == 7

    second = poll(sources, make_fetcher, store)
    assert [(r.status, r.new_items) for r in second] == [("not_modified", 0)] * 3
    assert store.count_items() == 7
    for path in ("/en.xml", "/uk.xml", "/ru.xml"):
        last = server.requests_for(path)[-1]
        assert last.headers.get("if-none-match", "").startswith('"')
        assert last.headers.get("if-modified-since") == "Tue, 24 Nov 2026 06:05:00 GMT"


def test_items_keep_their_text_and_metadata(server, store, make_fetcher):
    server.route("/uk.xml", Reply(body=fixture_bytes("feeds/uk-atom.xml"), headers={"Content-Type": "application/atom+xml"}))
    poll([rss_source("Visti", server.url("/uk.xml"))], make_fetcher, store)
    first = store.items("Visti")[0]
    assert first["title"] == "До України повернули ще шістьох депортованих дітей"
    assert first["url"] == server.url("/news/2026/11/24/povernuly-ditey")  # relative to the document URL
    assert first["summary"] == "Діти, яких окупанти вивезли до Росії, повернулися до родин."  # markup gone
    assert first["published"] == "2026-11-24T07:30:00+00:00"
    assert first["author"] == "Олена Кривенко"


def test_changed_feed_without_validators_stores_only_the_new_item(server, store, make_fetcher):
    body = fixture_bytes("feeds/en-rss2.xml")
    server.route("/feed", Reply(body=body, headers={"Content-Type": "application/rss+xml"}))
    source = rss_source("Ledger", server.url("/feed"))
    assert poll([source], make_fetcher, store)[0].new_items == 3
    # Identical bytes again: nothing parsed, nothing new.
    assert poll([source], make_fetcher, store)[0].status == "not_modified"
    extra = b"""<item><title>New report</title><link>https://ledger.example/ukraine/new-report</link>
      <description>More.</description></item>\n  </channel>"""
    server.route("/feed", Reply(body=body.replace(b"</channel>", extra, 1), headers={"Content-Type": "application/rss+xml"}))
    report = poll([source], make_fetcher, store)[0]
    assert (report.status, report.new_items, report.seen_items) == ("ok", 1, 4)


def test_url_variants_collapse_to_one_item(server, store, make_fetcher):
    links = [
        "https://ledger.example/ukraine/story-1",
        "http://ledger.example/ukraine/story-1",
        "https://www.ledger.example/ukraine/story-1/",
        "https://LEDGER.example:443/ukraine/story-1?utm_source=tg&fbclid=abc#top",
        "http://www.ledger.example:80/ukraine/story-1/?gclid=1&yclid=2&mc_cid=3&mc_eid=4",
    ]
    for index, link in enumerate(links):
        feed = f"""<?xml version="1.0"?><rss version="2.0"><channel><title>F{index}</title>
          <item><title>Story one</title><link>{link.replace("&", "&amp;")}</link></item></channel></rss>"""
        server.route(f"/f{index}", Reply(body=feed.encode(), headers={"Content-Type": "application/rss+xml"}))
    sources = [rss_source(f"Outlet {i}", server.url(f"/f{i}")) for i in range(len(links))]
    reports = poll(sources, make_fetcher, store)
    assert sum(r.new_items for r in reports) == 1
    assert store.count_items() == 1


def test_store_survives_reopen_and_keeps_state(server, tmp_path, make_fetcher):
    server.route("/feed", conditional(fixture_bytes("feeds/en-rss2.xml")))
    path = tmp_path / "db" / "monitor.db"
    first = Store(path)
    poll([rss_source("Ledger", server.url("/feed"))], make_fetcher, first)
    first.close()
    reopened = Store(path)
    state = reopened.source_state("Ledger")
    assert state.etag and state.last_modified and state.status == "ok"
    assert reopened.schema_version >= 1 and reopened.count_items() == 3
    reopened.close()


def test_one_source_polled_alone(server, store, make_fetcher):
    server.route("/feed", Reply(body=fixture_bytes("feeds/ru-rss1.xml"), headers={"Content-Type": "application/rss+xml"}))

    async def go():
        async with make_fetcher() as fetcher:
            return await Pipeline(fetcher=fetcher, store=store).poll(rss_source("Pravo", server.url("/feed")))
    report = asyncio.run(go())
    assert report.status == "ok" and report.new_items == 2
    assert {row["title"] for row in store.items()} == {
        "Доклад: вывезенных украинских детей передают в приёмные семьи", "Встреча с читателями в библиотеке"}


def test_robots_txt_is_honoured_unless_the_source_opts_out(server, store, make_fetcher):
    server.route("/robots.txt", Reply(body=b"User-agent: *\nDisallow: /private/\n", headers={"Content-Type": "text/plain"}))
    server.route("/private/feed", Reply(body=fixture_bytes("feeds/en-rss2.xml"), headers={"Content-Type": "application/rss+xml"}))
    blocked = rss_source("Blocked", server.url("/private/feed"))
    allowed = rss_source("Opted out", server.url("/private/feed"), respect_robots=False)
    first, = poll([blocked], make_fetcher, store)
    assert first.status == "failing" and "robots.txt" in first.error and "respect_robots: false" in first.error
    assert server.requests_for("/private/feed") == []
    second, = poll([allowed], make_fetcher, store)
    assert second.status == "ok" and second.new_items == 3
    assert len(server.requests_for("/robots.txt")) == 1 + 0  # the opted-out source does not even ask


def test_requests_name_the_project_in_the_user_agent(server, store, make_fetcher):
    server.route("/feed", Reply(body=fixture_bytes("feeds/ru-rss1.xml"), headers={"Content-Type": "application/rss+xml"}))
    poll([rss_source("Pravo", server.url("/feed"))], make_fetcher, store)
    assert server.requests_for("/feed")[0].headers["user-agent"] == "monitor-tests/0.1"
    assert "gzip" in server.requests_for("/feed")[0].headers["accept-encoding"]


def test_per_host_concurrency_is_respected(server, store, make_fetcher):
    import threading
    import time

    lock, state = threading.Lock(), {"now": 0, "peak": 0}

    def slow(request):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.2)
        with lock:
            state["now"] -= 1
        return Reply(body=b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title></channel></rss>',
                     headers={"Content-Type": "application/rss+xml"})

    for n in range(6):
        server.route(f"/f{n}", slow)
    poll([rss_source(f"S{n}", server.url(f"/f{n}")) for n in range(6)], make_fetcher, store,
         concurrency=10, per_host_concurrency=2)
    assert state["peak"] == 2


def test_edited_article_alerts_again_only_with_notify_updates(server, store, make_fetcher):
    from monitor.topics import Matcher, default_topics

    matcher = Matcher(default_topics())
    body = fixture_bytes("feeds/en-rss2.xml")
    server.route("/quiet", Reply(body=body, headers={"Content-Type": "application/rss+xml"}))
    server.route("/loud", Reply(body=body.replace(b"ledger.example", b"loud.example"),
                                headers={"Content-Type": "application/rss+xml"}))
    quiet = rss_source("Quiet", server.url("/quiet"), fetch_article="never")
    loud = rss_source("Loud", server.url("/loud"), fetch_article="never", notify_updates=True)

    async def go():
        async with make_fetcher() as fetcher:
            return await Pipeline(fetcher=fetcher, store=store, now=FixedClock(), matcher=matcher).poll_all([quiet, loud])

    first = asyncio.run(go())
    assert [len(r.matched_ids) for r in first] == [1, 1]
    edit = (b"brought back after mediation.", b"brought back after mediation; two more are expected next week.")
    server.route("/quiet", Reply(body=body.replace(*edit), headers={"Content-Type": "application/rss+xml"}))
    server.route("/loud", Reply(body=body.replace(b"ledger.example", b"loud.example").replace(*edit),
                                headers={"Content-Type": "application/rss+xml"}))
    second = asyncio.run(go())
    assert [len(r.matched_ids) for r in second] == [0, 1]  # only the source that asked hears of the edit
    assert store.items("Loud")[-1]["title"].endswith("(updated)")
    third = asyncio.run(go())  # the same edited text again: reported once, not every poll
    assert [len(r.matched_ids) for r in third] == [0, 0]


def test_rss_dates_read_like_feedparser_reads_them():
    import email.utils

    import feedparser

    from monitor.sources.rss import _rfc822

    for value in ["Mon, 23 Nov 2026 07:15:00 +0000", "Tue, 1 Dec 2026 23:30:00 +0300", "23 Nov 2026 07:15 GMT",
                  "Mon, 23 Nov 2026 07:15:00 -0530", "Mon, 23 Nov 2026 07:15:00 EST"]:
        expected = email.utils.parsedate_to_datetime(value).astimezone(timezone.utc)
        assert _rfc822(value) == expected
        parsed = feedparser.parse(f"<rss version='2.0'><channel><item><title>x</title><pubDate>{value}</pubDate>"
                                  "</item></channel></rss>").entries[0].published_parsed
        assert _rfc822(value).timetuple()[:6] == tuple(parsed[:6])
    assert _rfc822("31 Feb 2026 10:00 GMT") is None and _rfc822("yesterday") is None
