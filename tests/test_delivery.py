"""The outbox: batches per channel, retries with backoff on an injected clock, exactly-once delivery to
real local receivers (webhook, Apprise's JSON webhook, SMTP, files)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from monitor.delivery import Dispatcher
from monitor.fetch import Fetcher
from monitor.items import Item
from monitor.notify import Channel, ChannelConfig, Message
from monitor.pipeline import Pipeline
from monitor.topics import build_matcher
from monitor.service import Service
from monitor.store import Store
from tests.conftest import FAST, FixedClock
from tests.support.digests import add_story, make_config
from tests.support.receiver import Receiver, SmtpInbox
from tests.support.server import Reply, free_port

UTC = timezone.utc
T0 = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)  # 08:00 in Kyiv
SITE = Path(__file__).resolve().parent.parent / "fixtures" / "site"


def run(coro):
    return asyncio.run(coro)


def webhook_config(tmp_path, url: str):
    return make_config(tmp_path, f"""
        channels:
          hook: {{type: webhook, url: "{url}", secret: "k", timeout: 3}}
        digests:
          - {{name: daily, channels: [hook]}}
    """)


def stories(store: Store, n: int = 3, *, prefix: str = "s", at: datetime = T0 - timedelta(hours=1)) -> list[int]:
    return [add_story(store, "Ledger", f"Children deported from occupied Kherson, report {prefix}{i}",
                      url=f"https://ledger.example/{prefix}{i}", at=at, published=at - timedelta(minutes=i))
            for i in range(n)]


def delivered_urls(posts) -> list[str]:
    return [s["url"] for p in posts for s in p.json()["stories"]]


# --- retries ---------------------------------------------------------------------------------------

def test_webhook_answering_500_twice_then_200_gets_the_digest_exactly_once(tmp_path, store):
    with Receiver() as hook:
        hook.script = [500, 500]
        config = webhook_config(tmp_path, hook.url())
        clock = FixedClock(T0)
        dispatcher = Dispatcher(config, store, now=clock)
        ids = stories(store)

        [first] = run(dispatcher.run_digest(config.digests[0], clock()))
        assert not first.delivered and "HTTP 500" in first.error and len(hook.posts) == 1

        run(dispatcher.flush())  # not due yet: backoff 30 s
        clock.when = T0 + timedelta(seconds=29)
        run(dispatcher.flush())
        assert len(hook.posts) == 1

        clock.when = T0 + timedelta(seconds=30)
        [second] = run(dispatcher.flush())
        assert not second.delivered and len(hook.posts) == 2

        clock.when = T0 + timedelta(seconds=30 + 59)  # the second retry waits twice as long
        assert run(dispatcher.flush()) == []
        clock.when = T0 + timedelta(seconds=30 + 60)
        [third] = run(dispatcher.flush())
        assert third.delivered and third.stories == 3

        for minutes in (5, 60, 24 * 60):  # nothing more, ever
            clock.when = T0 + timedelta(minutes=minutes)
            assert run(dispatcher.flush()) == []
        assert run(dispatcher.run_digest(config.digests[0], clock())) == []

        posts = hook.all_posts()
    assert [p.status for p in posts] == [500, 500, 200]
    assert len({p.headers["x-monitor-delivery"] for p in posts}) == 1  # the same delivery, resent
    assert len({p.body for p in posts}) == 1  # the same digest, rendered as first built
    assert sorted(delivered_urls([posts[-1]])) == sorted(f"https://ledger.example/s{i}" for i in range(3))
    [batch] = store.batches()
    assert (batch.status, batch.attempts, batch.item_ids) == ("delivered", 2, sorted(ids))


def test_apprise_answering_500_twice_then_200_gets_the_digest_exactly_once(tmp_path, store):
    with Receiver() as hook:
        hook.script = [500, 500]
        config = make_config(tmp_path, f"""
            channels:
              chat: {{type: apprise, urls: ["json://127.0.0.1:{hook.port}/apprise"]}}
            digests:
              - {{name: daily, channels: [chat]}}
        """)
        clock = FixedClock(T0)
        dispatcher = Dispatcher(config, store, now=clock)
        stories(store, 2)
        reports = run(dispatcher.run_digest(config.digests[0], clock()))
        for step in range(1, 12):  # a minute at a time, well past both backoffs
            clock.when = T0 + timedelta(minutes=step)
            reports += run(dispatcher.flush())
        posts = hook.all_posts()
    assert [r.delivered for r in reports] == [False, False, True]
    assert [p.status for p in posts] == [500, 500, 200]
    body = posts[-1].json()
    assert "report s0" in body["message"] and "report s1" in body["message"]
    assert body["title"].startswith("daily: 2 new reports")


def test_receiver_down_at_digest_time_gets_it_at_the_next_attempt_once_up(tmp_path, store):
    hook = Receiver(port=free_port())  # not listening yet: connection refused
    config = webhook_config(tmp_path, hook.url())
    clock = FixedClock(T0)
    dispatcher = Dispatcher(config, store, now=clock)
    stories(store, 2)
    [report] = run(dispatcher.run_digest(config.digests[0], clock()))
    assert not report.delivered and "ConnectError" in report.error
    [pending] = store.pending_batches()
    assert pending.attempts == 1 and "ConnectError" in pending.last_error

    with hook:
        clock.when = T0 + timedelta(seconds=10)
        assert run(dispatcher.flush()) == []  # up, but the retry is not due yet
        clock.when = T0 + timedelta(seconds=31)
        [retry] = run(dispatcher.flush())
        clock.when = T0 + timedelta(hours=2)
        assert run(dispatcher.flush()) == []
        posts = hook.all_posts()
    assert retry.delivered and len(posts) == 1 and posts[0].accepted
    assert len(delivered_urls(posts)) == 2
    assert store.pending_batches() == []


def test_backoff_doubles_up_to_the_cap(tmp_path, store):
    config = webhook_config(tmp_path, f"http://127.0.0.1:{free_port()}/down")
    clock = FixedClock(T0)
    dispatcher = Dispatcher(config, store, now=clock, retry_base=timedelta(seconds=10),
                            retry_cap=timedelta(minutes=1))
    stories(store, 1)
    run(dispatcher.run_digest(config.digests[0], clock()))
    waits = []
    for _ in range(6):
        row = store.db.execute("SELECT next_attempt_at FROM batches").fetchone()
        due = datetime.fromisoformat(row[0])
        waits.append((due - clock.when).total_seconds())
        clock.when = due
        run(dispatcher.flush())
    assert waits == [10, 20, 40, 60, 60, 60]


# --- what goes in which digest ---------------------------------------------------------------------

def feed_reply(name: str) -> Reply:
    return Reply(body=(SITE / name).read_bytes(), headers={"Content-Type": "application/rss+xml"})


def test_two_digests_in_a_row_repeat_nothing_and_the_second_has_what_was_found_between(
        tmp_path, store, server, make_fetcher):
    server.route("/ledger.xml", feed_reply("ledger-rss2.xml"))
    with Receiver() as hook:
        config = make_config(tmp_path, f"""
            channels:
              hook: {{type: webhook, url: "{hook.url()}"}}
              files: {{type: file, path: out}}
            digests:
              - {{name: daily, channels: [hook, files]}}
        """, sources=f"""
            sources:
              - {{name: Ledger, type: rss, url: "{server.url('/ledger.xml')}"}}
        """)
        clock = FixedClock(T0)
        dispatcher = Dispatcher(config, store, now=clock)
        matcher = build_matcher(config.topics)

        async def poll():
            async with make_fetcher() as fetcher:
                return await Pipeline(fetcher=fetcher, store=store, now=clock, matcher=matcher).poll(config.sources[0])

        first_poll = run(poll())
        assert first_poll.new_items == 4 and len(first_poll.matched_ids) == 2
        run(dispatcher.run_digest(config.digests[0], clock()))

        server.route("/ledger.xml", feed_reply("ledger-rss2-later.xml"))  # one more story an hour later
        clock.when = T0 + timedelta(hours=1)
        second_poll = run(poll())
        assert second_poll.new_items == 1 and len(second_poll.matched_ids) == 1
        clock.when = T0 + timedelta(days=1)
        run(dispatcher.run_digest(config.digests[0], clock()))
        clock.when = T0 + timedelta(days=2)
        assert run(dispatcher.run_digest(config.digests[0], clock())) == []  # nothing new: nothing sent

        posts = hook.accepted
    first, second = [delivered_urls([p]) for p in posts]
    assert sorted(first) == ["https://ledger.example/2026/11/deported-kherson-12",
                             "https://ledger.example/2026/11/five-returned"]
    assert second == ["https://ledger.example/2026/11/mariupol-teenagers-camps"]
    # The file channel keeps its own account and got the same two digests.
    documents = [json.loads(p.read_text("utf-8")) for p in sorted((tmp_path / "out").glob("*.json"))]
    assert sorted(len(d["stories"]) for d in documents) == [1, 2]
    all_file_urls = [s["url"] for d in documents for s in d["stories"]]
    assert sorted(all_file_urls) == sorted(first + second)


def test_an_undelivered_story_waits_and_is_never_dropped_or_repeated(tmp_path, store):
    hook = Receiver(port=free_port())
    config = make_config(tmp_path, f"""
        channels:
          hook: {{type: webhook, url: "{hook.url()}"}}
          files: {{type: file, path: out}}
    """)
    clock = FixedClock(T0)
    dispatcher = Dispatcher(config, store, now=clock)
    daily = config.digests[0]
    stories(store, 2, prefix="a")
    run(dispatcher.run_digest(daily, clock()))  # files delivered, hook down
    stories(store, 1, prefix="b", at=T0 + timedelta(hours=3))
    clock.when = T0 + timedelta(days=1)
    run(dispatcher.run_digest(daily, clock()))  # second digest while the first still waits for hook
    with hook:
        clock.when = T0 + timedelta(days=1, hours=1)
        run(dispatcher.flush())
        posts = hook.accepted
    assert [delivered_urls([p]) for p in posts] == [
        ["https://ledger.example/a1", "https://ledger.example/a0"], ["https://ledger.example/b0"]]
    file_urls = [s["url"] for f in sorted((tmp_path / "out").glob("*.json"))
                 for s in json.loads(f.read_text("utf-8"))["stories"]]
    assert sorted(file_urls) == sorted(delivered_urls(posts))


def test_a_failing_part_resumes_where_it_stopped(tmp_path, store):
    with Receiver() as hook:
        config = make_config(tmp_path, f"""
            channels:
              hook: {{type: webhook, url: "{hook.url()}", max_chars: 700}}
        """)
        clock = FixedClock(T0)
        dispatcher = Dispatcher(config, store, now=clock)
        stories(store, 12)
        hook.script = [200, 500]
        [report] = run(dispatcher.run_digest(config.digests[0], clock()))
        assert not report.delivered
        [batch] = store.pending_batches()
        assert batch.parts_sent == 1
        clock.when = T0 + timedelta(minutes=1)
        [report] = run(dispatcher.flush())
        posts = hook.all_posts()
    assert report.delivered
    parts = [(p.json()["part"], p.json()["parts"], p.status) for p in posts]
    total = parts[0][1]
    assert total >= 3
    assert [p for p in parts if p[2] == 200] == [(n, total, 200) for n in range(1, total + 1)]  # each once
    assert parts[1] == (2, total, 500)
    urls = delivered_urls(hook.accepted)
    assert len(urls) == len(set(urls)) == 12


def test_send_empty_sends_an_empty_digest_only_when_asked(tmp_path, store):
    with Receiver() as hook:
        config = make_config(tmp_path, f"""
            channels:
              hook: {{type: webhook, url: "{hook.url()}"}}
            digests:
              - {{name: quiet}}
              - {{name: always, send_empty: true}}
        """)
        dispatcher = Dispatcher(config, store, now=FixedClock(T0))
        assert run(dispatcher.run_digest(config.digests[0], T0)) == []
        [report] = run(dispatcher.run_digest(config.digests[1], T0))
        [post] = hook.accepted
    assert report.delivered and report.stories == 0
    assert post.json()["stories"] == [] and post.json()["digest"] == "always"


def test_tag_and_topic_filters_choose_the_stories(tmp_path, store):
    with Receiver() as hook:
        config = make_config(tmp_path, f"""
            topics:
              returns: {{query: "returned"}}
            channels:
              hook: {{type: webhook, url: "{hook.url()}"}}
            digests:
              - {{name: ukrainian, tags: [uk]}}
              - {{name: returns-only, topics: [returns]}}
        """)
        dispatcher = Dispatcher(config, store, now=FixedClock(T0))
        add_story(store, "Ledger", "Children deported", url="https://ledger.example/1", at=T0)
        add_story(store, "Вісник", "Дітей депортували", url="https://visnyk.example/1", at=T0, lang="uk")
        add_story(store, "Ledger", "Children returned", url="https://ledger.example/2", at=T0, topic="returns")
        run(dispatcher.run_digest(config.digests[0], T0))
        run(dispatcher.run_digest(config.digests[1], T0))
        first, second = hook.accepted
    assert delivered_urls([first]) == ["https://visnyk.example/1"]
    assert delivered_urls([second]) == ["https://ledger.example/2"]


def test_alerts_send_one_message_per_new_story_immediately(tmp_path, store):
    with Receiver() as hook:
        config = make_config(tmp_path, f"""
            channels:
              hook: {{type: webhook, url: "{hook.url()}"}}
              files: {{type: file, path: out}}
            digests: []
            alerts:
              - {{name: now, channels: [hook]}}
        """)
        dispatcher = Dispatcher(config, store, now=FixedClock(T0))
        ids = stories(store, 3)
        reports = run(dispatcher.alert(ids))
        assert run(dispatcher.alert(ids)) == []  # already alerted
        posts = hook.accepted
    assert [r.delivered for r in reports] == [True] * 3
    assert sorted(delivered_urls(posts)) == sorted(f"https://ledger.example/s{i}" for i in range(3))
    assert all(len(p.json()["stories"]) == 1 for p in posts)
    assert not (tmp_path / "out").exists()


def test_a_channel_removed_from_the_configuration_keeps_its_batch_waiting(tmp_path, store):
    with Receiver() as hook:
        config = webhook_config(tmp_path, hook.url())
        stories(store, 1)
        Dispatcher(config, store, now=FixedClock(T0)).enqueue(config.digests[0], T0)
        other = make_config(tmp_path, "channels:\n  files: {type: file, path: out}\n")
        [report] = run(Dispatcher(other, store, now=FixedClock(T0)).flush())
        assert not report.delivered and "no longer configured" in report.error
        later = FixedClock(T0 + timedelta(hours=1))
        [report] = run(Dispatcher(config, store, now=later).flush())
        assert report.delivered and len(hook.accepted) == 1


class Exploding(Channel):
    async def send(self, message: Message) -> None:
        raise RuntimeError("bug in a channel")


class Recording(Channel):
    def __init__(self):
        super().__init__("rec", ChannelConfig(type="rec"), base_dir=Path("."))
        self.sent: list[Message] = []

    async def send(self, message: Message) -> None:
        self.sent.append(message)


def test_a_channel_bug_fails_that_batch_only(tmp_path, store):
    config = make_config(tmp_path, """
        channels:
          bad: {type: file}
          good: {type: file}
    """)
    recording = Recording()
    channels = {"bad": Exploding("bad", ChannelConfig(type="x"), base_dir=tmp_path), "good": recording}
    dispatcher = Dispatcher(config, store, now=FixedClock(T0), channels=channels)
    stories(store, 2)
    reports = {r.channel: r for r in run(dispatcher.run_digest(config.digests[0], T0))}
    assert not reports["bad"].delivered and "internal error: RuntimeError" in reports["bad"].error
    assert reports["good"].delivered and len(recording.sent) == 1


def test_preview_claims_nothing(tmp_path, store):
    config = make_config(tmp_path, "channels:\n  files: {type: file, path: out}\n")
    dispatcher = Dispatcher(config, store, now=FixedClock(T0))
    stories(store, 2)
    view = dispatcher.preview(config.digests[0])
    assert len(view.stories) == 2 and store.batches() == []
    assert len(dispatcher.preview(config.digests[0]).stories) == 2


# --- email, end to end ------------------------------------------------------------------------------

def test_digest_by_email_from_stored_stories(tmp_path, store):
    with SmtpInbox.serving() as (inbox, port):
        config = make_config(tmp_path, f"""
            channels:
              mail:
                type: email
                host: 127.0.0.1
                port: {port}
                security: none
                from: monitor@digest.example
                to: [editor@newsroom.example]
            digests:
              - {{name: Щоденний огляд, channels: [mail]}}
        """)
        add_story(store, "Вісник", "Росія депортувала 12 українських дітей з окупованого Херсона",
                  url="https://visnyk.example/1", at=T0, lang="uk", snippet="**Росія депортувала** 12 дітей")
        add_story(store, "Ledger", "<script>alert(1)</script> Children deported from Mariupol",
                  url="https://ledger.example/x", at=T0)
        [report] = run(Dispatcher(config, store, now=FixedClock(T0)).run_digest(config.digests[0], T0))
        assert report.delivered
        [mail] = inbox.messages()
    assert mail.get_content_type() == "multipart/alternative"
    assert str(mail["Subject"]).startswith("Щоденний огляд: 2 new reports")
    assert str(mail["Message-ID"]) == f"<{store.batches()[0].id}.1@digest.example>"
    plain, html = mail.get_payload()
    assert "Росія депортувала 12 українських дітей" in plain.get_content()
    assert "<mark" in html.get_content() and "&lt;script&gt;" in html.get_content()
    assert "<script>" not in html.get_content()


def test_a_source_recovering_between_retries_moves_no_story_between_parts(tmp_path, store):
    with Receiver() as hook:
        config = make_config(tmp_path, f"""
            channels:
              hook: {{type: webhook, url: "{hook.url()}", max_chars: 800}}
        """)
        clock = FixedClock(T0)
        for name in ("Ledger", "Вісник", "Правда Севера"):  # long failing when the digest is built
            store.record_failure(name, T0 - timedelta(days=3), "HTTP 503 Service Unavailable " * 4)
        dispatcher = Dispatcher(config, store, now=clock)
        stories(store, 10)
        hook.script = [200, 500]
        run(dispatcher.run_digest(config.digests[0], clock()))
        for name in ("Ledger", "Вісник", "Правда Севера"):  # all recover before the retry
            store.record_success(name, T0, etag=None, last_modified=None, body_hash=None, new_items=0)
        clock.when = T0 + timedelta(minutes=5)
        [report] = run(dispatcher.flush())
        urls = delivered_urls(hook.accepted)
    assert report.delivered
    assert sorted(urls) == sorted(f"https://ledger.example/s{i}" for i in range(10))  # none dropped, none twice


def test_stories_stored_but_not_alerted_before_a_kill_are_alerted_at_the_next_start(tmp_path, store):
    with Receiver() as hook:
        config = make_config(tmp_path, f"""
            channels:
              hook: {{type: webhook, url: "{hook.url()}"}}
            digests: []
            alerts:
              - {{name: instant, channels: [hook]}}
        """)
        clock = FixedClock(T0)
        stories(store, 2, prefix="old", at=T0 - timedelta(days=1))  # before alerts were configured

        def start():
            return Service(config, Pipeline(fetcher=Fetcher(FAST, "t"), store=store, now=clock))

        run(start().catch_up())  # first start: remembers when alerts began, sends no old story
        assert hook.posts == []
        clock.when = T0 + timedelta(minutes=5)
        # A poll stored two matched stories; the service was killed before it alerted them.
        stories(store, 2, prefix="new", at=clock())
        clock.when = T0 + timedelta(minutes=6)
        run(start().catch_up())
        run(start().catch_up())  # and once only
        urls = delivered_urls(hook.accepted)
    assert sorted(urls) == ["https://ledger.example/new0", "https://ledger.example/new1"]
    assert len(hook.posts) == 2 and all(len(p.json()["stories"]) == 1 for p in hook.posts)


def test_a_retry_renders_the_copies_known_when_the_batch_was_built(tmp_path, store):
    """A copy of a story arriving between a failed part and its retry must not move stories."""
    with Receiver() as hook:
        config = make_config(tmp_path, f"""
            channels:
              hook: {{type: webhook, url: "{hook.url()}", max_chars: 700}}
        """)
        clock = FixedClock(T0)
        ids = stories(store, 8)
        dispatcher = Dispatcher(config, store, now=clock)
        hook.script = [200, 500]
        run(dispatcher.run_digest(config.digests[0], clock()))
        first = hook.all_posts()[0].json()
        clock.when = T0 + timedelta(minutes=1)
        # Long-titled copies of every story from other outlets arrive before the retry.
        for n, item_id in enumerate(ids):
            copy = Item(url=f"https://copies.example/{n}", title="A much longer headline of a copy " * 4)
            store.add_items("Вісник", [copy], clock(), story_for=lambda item, new_id, s=item_id: (s, None))
        clock.when = T0 + timedelta(minutes=5)
        [report] = run(dispatcher.flush())
        urls = delivered_urls(hook.accepted)
    assert report.delivered
    assert sorted(urls) == sorted(f"https://ledger.example/s{i}" for i in range(8))
    assert all(s["also"] == [] for s in first["stories"])
    # A later digest shows the copies as "also reported by" (none is sent as a story of its own).
    assert run(dispatcher.run_digest(config.digests[0], clock())) == []
    assert store.stories(ids[:1])[0].also[0]["url"] == "https://copies.example/0"


def test_apprise_receiver_down_at_digest_time_gets_it_once_up(tmp_path, store):
    hook = Receiver(port=free_port())
    config = make_config(tmp_path, f"""
        channels:
          chat: {{type: apprise, urls: ["json://127.0.0.1:{hook.port}/apprise"]}}
    """)
    clock = FixedClock(T0)
    dispatcher = Dispatcher(config, store, now=clock)
    stories(store, 1)
    [report] = run(dispatcher.run_digest(config.digests[0], clock()))
    assert not report.delivered
    with hook:
        clock.when = T0 + timedelta(minutes=1)
        [report] = run(dispatcher.flush())
        clock.when = T0 + timedelta(hours=1)
        assert run(dispatcher.flush()) == []
        [post] = hook.all_posts()
    assert report.delivered and "report s0" in post.json()["message"]


def test_file_digest_footer_lists_sources_failing_for_more_than_a_day(tmp_path, store):
    config = make_config(tmp_path, "channels:\n  files: {type: file, path: out}\n")
    store.record_failure("Ledger", T0 - timedelta(hours=30), "HTTP 503 Service Unavailable")
    store.record_failure("Ledger", T0 - timedelta(hours=1), "HTTP 503 Service Unavailable")
    store.record_failure("Вісник", T0 - timedelta(hours=3), "connection refused")
    store.record_success("Правда Севера", T0, etag=None, last_modified=None, body_hash=None, new_items=1)
    store.record_failure("Removed outlet", T0 - timedelta(days=9), "gone")  # no longer in sources.yaml
    stories(store, 1)
    run(Dispatcher(config, store, now=FixedClock(T0)).run_digest(config.digests[0], T0))
    [json_file] = (tmp_path / "out").glob("*.json")
    document = json.loads(json_file.read_text("utf-8"))
    health = {h["source"]: h for h in document["source_health"]}
    assert list(health) == ["Ledger", "Вісник", "Правда Севера"]  # configured sources only
    assert (health["Ledger"]["status"], health["Ledger"]["error"]) == ("failing", "HTTP 503 Service Unavailable")
    assert (health["Вісник"]["status"], health["Вісник"]["error"]) == ("failing", "connection refused")
    assert health["Правда Севера"] == {"source": "Правда Севера", "status": "ok", "error": None,
                                       "failing_since": None}
    assert datetime.fromisoformat(document["source_health"][0]["failing_since"]) == T0 - timedelta(hours=30)
    html = json_file.with_suffix(".html").read_text("utf-8")
    md = json_file.with_suffix(".md").read_text("utf-8")
    assert "Sources failing for more than 24 hours" in html and "Ledger (since" in html
    assert "HTTP 503 Service Unavailable" in html and "connection refused" not in html
    assert "Sources failing for more than 24 h: Ledger (HTTP 503 Service Unavailable)" in md
    assert "Removed outlet" not in html
