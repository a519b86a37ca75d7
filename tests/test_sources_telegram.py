"""`type: telegram`: a public channel's web preview (t.me/s/CHANNEL) → one item per message."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from monitor.article import complete_items
from monitor.config import parse_config
from monitor.items import SourceState
from monitor.pipeline import Pipeline
from monitor.sources import SourceError, source_type
from monitor.sources.page import parse_html
from monitor.sources.telegram import TelegramOptions, parse_channel, preview_url
from tests.conftest import FixedClock, fixture_bytes
from tests.support.server import Reply

HTML = {"Content-Type": "text/html; charset=utf-8"}
CHANNEL = "https://t.me/s/test_ombudsman_ua"


def messages():
    return parse_channel(parse_html(fixture_bytes("telegram/channel-uk.html")), CHANNEL)


def test_each_text_message_is_an_item():
    items = messages()
    assert [i.guid for i in items] == [f"test_ombudsman_ua/{n}" for n in (1201, 1202, 1203, 1204, 1207)]
    assert [i.url for i in items] == [f"https://t.me/test_ombudsman_ua/{n}" for n in (1201, 1202, 1203, 1204, 1207)]
    first = items[0]
    assert first.published == datetime(2026, 11, 24, 7, 45, 10, tzinfo=timezone.utc)
    assert first.title == "🇺🇦 Повернули додому ще 6 дітей"
    assert first.content.startswith("🇺🇦 Повернули додому ще 6 дітей\n\nДіти, яких окупанти незаконно вивезли")
    assert "visti.example/news/2026/11/24/povernuly-ditey" in first.content  # link text kept
    assert first.author == "Дитячий омбудсмен (тест)"
    assert "12.4K" not in first.content  # views and the time are not text


def test_reply_quotes_service_messages_and_bare_photos_are_left_out():
    by_id = {i.guid.rsplit("/", 1)[1]: i for i in messages()}
    assert by_id["1203"].content == "Оновлення: ще двоє підлітків із цієї групи вже вдома."  # no quoted 1201
    assert "1205" not in by_id and "1206" not in by_id  # "Channel photo updated"; a photo without caption
    assert by_id["1202"].content.startswith("На фото:")  # a caption is the text
    assert by_id["1207"].summary == ("Звіт: розшук дітей, вивезених до Росії\n\n"
                                     "Щомісячний огляд справ про депортованих дітей.")
    long_title = by_id["1204"].title
    assert long_title.endswith("…") and len(long_title) <= 91


@pytest.mark.parametrize("url, expected", [
    ("https://t.me/test_ombudsman_ua", CHANNEL),
    ("https://t.me/s/test_ombudsman_ua", CHANNEL),
    ("http://telegram.me/test_ombudsman_ua/", CHANNEL),
    ("https://t.me/test_ombudsman_ua/1201", "https://t.me/test_ombudsman_ua/1201"),  # a post, not a channel
    ("http://127.0.0.1:8000/s/channel", "http://127.0.0.1:8000/s/channel"),
])
def test_preview_url(url, expected):
    assert preview_url(url) == expected


def test_not_a_channel_page():
    with pytest.raises(SourceError, match="not a Telegram channel"):
        parse_channel(parse_html(b"<html><body><p>Hello</p></body></html>"), "https://t.me/s/x")
    empty = (b'<html><body><div class="tgme_channel_info">'
             b'<div class="tgme_channel_info_header_title">X</div></div></body></html>')
    assert parse_channel(parse_html(empty), "https://t.me/s/x") == []


def test_poll_through_the_pipeline(server, make_fetcher, store):
    url = server.route("/s/test_ombudsman_ua", Reply(body=fixture_bytes("telegram/channel-uk.html"), headers=HTML))
    source = TelegramOptions(name="Ombudsman", type="telegram", url=url)
    assert source.fetch_article == "never"  # the message is the whole text

    async def poll():
        async with make_fetcher() as fetcher:
            return await Pipeline(fetcher=fetcher, store=store, now=FixedClock()).poll(source)

    first = asyncio.run(poll())
    assert (first.status, first.new_items) == ("ok", 5)
    assert asyncio.run(poll()).status == "not_modified"
    stored = store.items("Ombudsman")
    posts = (1201, 1202, 1203, 1204, 1207)
    assert {row["url"] for row in stored} == {f"https://t.me/test_ombudsman_ua/{n}" for n in posts}


def test_messages_need_no_article_fetch(server, make_fetcher):
    url = server.route("/s/test_ombudsman_ua", Reply(body=fixture_bytes("telegram/channel-uk.html"), headers=HTML))
    source = TelegramOptions(name="Ombudsman", type="telegram", url=url, fetch_article="auto")

    async def go():
        async with make_fetcher() as fetcher:
            collected = await source_type("telegram").collect(source, fetcher, SourceState("Ombudsman"))
            return collected.items, await complete_items(collected.items[:1], source, fetcher)

    items, completed = asyncio.run(go())
    assert source.fetch_article == "never"  # auto: a message carries all of its text
    assert completed == items[:1]
    assert [r.path for r in server.requests if r.path != "/robots.txt"] == ["/s/test_ombudsman_ua"]


def test_config_accepts_telegram(tmp_path):
    config = parse_config("sources:\n  - name: Ombudsman\n    type: telegram\n    url: https://t.me/s/test_ombudsman_ua\n",
                          tmp_path / "sources.yaml")
    assert config.sources[0].type == "telegram" and config.sources[0].fetch_article == "never"
