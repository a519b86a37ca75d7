"""Store: migrations, story leads and the outbox claims."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from monitor.items import Item
from monitor.items import Match
from monitor.store import MIGRATIONS, Store

AT = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)


def test_fresh_database_is_at_the_latest_schema(tmp_path):
    store = Store(tmp_path / "m.db")
    assert store.schema_version == len(MIGRATIONS)
    store.close()


def test_the_earliest_published_copy_leads_its_story(tmp_path):
    store = Store(tmp_path / "m.db")
    match = [Match("deported-children", ["deport*"], "**deported**")]
    late = Item(url="https://late.example/a", title="Copy", published=AT - timedelta(hours=1))
    early = Item(url="https://early.example/a", title="Original", published=AT - timedelta(hours=5))
    (first,) = store.add_items("Late", [late], AT, {late.key("Late"): match})
    store.add_items("Early", [early], AT, {early.key("Early"): match}, story_for=lambda item, item_id: (first.id, None))

    (lead,) = store.unclaimed_item_ids("daily", "files")
    (story,) = store.stories([lead])
    assert story.source == "Early"
    assert [other["source"] for other in story.also] == ["Late"]

    store.create_batch("daily", "files", AT, AT)
    assert store.unclaimed_item_ids("daily", "files") == []  # the story is claimed once, whichever copy led
    store.close()
