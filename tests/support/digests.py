"""Helpers for digest and delivery tests: a configuration from YAML text, matched stories in a store."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from textwrap import dedent

from monitor.config import Config, parse_config
from monitor.digest import SourceHealth, Story
from monitor.items import Item
from monitor.store import Match, Store

TOPIC = "deported-children"
UTC = timezone.utc


def make_config(tmp_path: Path, body: str, *, sources: str | None = None) -> Config:
    """sources.yaml from `body` (channels:, digests:, alerts:, ...), written to tmp_path and parsed.

    Sources default to three imaginary outlets (never polled by these helpers) with tags en/uk/ru.
    """
    sources = sources or """
        sources:
          - {name: Ledger, type: rss, url: "http://127.0.0.1:9/en", tags: [en]}
          - {name: Вісник, type: rss, url: "http://127.0.0.1:9/uk", tags: [uk]}
          - {name: Правда Севера, type: rss, url: "http://127.0.0.1:9/ru", tags: [ru]}
    """
    text = dedent(f"""
        settings:
          database: {tmp_path / 'monitor.db'}
          timezone: Europe/Kyiv
    """) + dedent(sources) + dedent(body)
    path = tmp_path / "sources.yaml"
    path.write_text(text, encoding="utf-8")
    return parse_config(text, path)


def add_story(store: Store, source: str, title: str, *, url: str, at: datetime, summary: str = "",
              published: datetime | None = None, lang: str = "en", snippet: str | None = None,
              topic: str = TOPIC, matched: bool = True) -> int:
    """Store one item (matched to `topic` unless matched=False) as a poll would; returns its id."""
    item = Item(url=url, title=title, summary=summary, published=published, lang=lang)
    key = item.key(source)
    matches = {key: [Match(topic, ["deport*"], snippet if snippet is not None else f"**{title}**")]} if matched else {}
    new = store.add_items(source, [item], at, matches)
    assert len(new) == 1, f"{url} was already stored"
    return new[0].id


def story(n: int, *, title: str | None = None, snippet: str | None = None, source: str = "Ledger",
          lang: str = "en", published: datetime | None = None) -> Story:
    return Story(
        item_id=n, title=title or f"Story {n}: children deported from occupied Kherson",
        url=f"https://ledger.example/ukraine/story-{n}.html", source=source,
        published=published or datetime(2026, 11, 24, 6, n % 60, tzinfo=UTC), lang=lang, topics=[TOPIC],
        snippet=snippet if snippet is not None else f"Report {n}: **children deported** to Russia, officials said.",
    )


def health(name: str, status: str = "ok", error: str | None = None, since: datetime | None = None) -> SourceHealth:
    return SourceHealth(name, status, error, since)
