"""Retention: off-topic items past settings.retention lose their text but keep their key (they
never come back as new); matched items are kept whole."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from monitor.config import parse_config
from monitor.items import Item, Match
from monitor.pipeline import Pipeline
from tests.conftest import FixedClock, fixture_bytes, rss_source
from tests.support.server import Reply

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)
RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}


def _item(n: int) -> Item:
    return Item(url=f"https://ledger.example/{n}", title=f"Story {n}", summary="A summary " * 20,
                content="The full text of the story. " * 50)


def test_old_off_topic_items_lose_their_text_and_keep_their_key(store):
    match = [Match("deported-children", ["deport*"], "**deported**")]
    old_off, old_on, new_off = _item(1), _item(2), _item(3)
    store.add_items("Ledger", [old_off], NOW - timedelta(days=120))
    store.add_items("Ledger", [old_on], NOW - timedelta(days=120), {old_on.key("Ledger"): match})
    store.add_items("Ledger", [new_off], NOW - timedelta(days=10))

    assert store.forget_old_text(NOW - timedelta(days=90)) == 1
    rows = {row["url"]: row for row in store.items()}
    assert (rows[old_off.url]["summary"], rows[old_off.url]["content"]) == ("", "")
    assert rows[old_off.url]["key"] == old_off.key("Ledger") and rows[old_off.url]["title"] == "Story 1"
    assert rows[old_on.url]["content"] == old_on.content and rows[new_off.url]["content"] == new_off.content
    assert store.known_keys([old_off.key("Ledger")]) == {old_off.key("Ledger")}
    assert store.forget_old_text(NOW - timedelta(days=90)) == 0  # done once


def test_a_trimmed_item_is_not_new_when_its_feed_still_lists_it(server, store, make_fetcher):
    url = server.route("/feed", Reply(body=fixture_bytes("feeds/en-rss2.xml"), headers=RSS))
    source = rss_source("Pravo", url)

    async def poll(now):
        async with make_fetcher() as fetcher:
            return await Pipeline(fetcher=fetcher, store=store, now=FixedClock(now)).poll(source)

    assert asyncio.run(poll(NOW - timedelta(days=200))).new_items == 3
    assert store.forget_old_text(NOW - timedelta(days=90)) == 3
    store.record_success("Pravo", NOW, etag=None, last_modified=None, body_hash=None, new_items=0)  # forget validators
    again = asyncio.run(poll(NOW))
    assert again.status == "ok" and again.new_items == 0


def test_retention_is_a_setting_with_a_documented_default(tmp_path):
    config = parse_config("sources:\n  - {name: A, type: rss, url: 'https://a.example/feed'}\n", tmp_path / "s.yaml")
    assert config.settings.retention == timedelta(days=90)
    config = parse_config("settings: {retention: 30d}\nsources:\n  - {name: A, type: rss, url: 'https://a.example/f'}\n",
                          tmp_path / "s.yaml")
    assert config.settings.retention == timedelta(days=30)
