"""Triage from the web: a story is relevant or not relevant, with a note, in the label store that
`monitor label` writes (monitor/labels.py, a mixin of Store). This module only adapts that store
to what the pages need; it keeps no labels of its own.

Labels are per item; the pages show stories. A story's label is its items' (as the digests read
them): not relevant when any of its items is labelled not relevant, else relevant when one is
labelled relevant. Labelling a story from the web labels its lead (the copy the page shows, whose
text matched) and takes the other copies' labels off, so the story then reads as labelled.
"""

from __future__ import annotations

from monitor.clock import Clock, utc_now
from monitor.store import Store

# The values a person picks, and how the pages name them.
LABELS = {"relevant": "relevant", "not_relevant": "not relevant"}


class Triage:
    def __init__(self, store: Store, now: Clock = utc_now):
        self.store = store
        self.now = now

    @property
    def available(self) -> bool:
        """Whether this monitor has the label store (monitor/labels.py)."""
        return hasattr(self.store, "set_label") and hasattr(self.store, "labels")

    def _by_story(self) -> dict[int, list]:
        """Story id → the labels of its items."""
        if not self.available:
            return {}
        labels = {label.item_id: label for label in self.store.labels()}
        if not labels:
            return {}
        stories: dict[int, list] = {}
        for item_id, story_id in self.store.stories_of(labels).items():
            stories.setdefault(story_id, []).append(labels[item_id])
        return stories

    @staticmethod
    def _story_label(labels: list) -> dict:
        """The one label a story shows: a not relevant one first, then the latest."""
        chosen = max(labels, key=lambda label: (label.label == "not_relevant", label.labelled_at))
        return {"label": chosen.label, "note": chosen.note, "at": chosen.labelled_at, "by": chosen.labelled_by,
                "item_id": chosen.item_id}

    def labelled(self) -> dict[str, list[int]]:
        """Label value → ids of the stories that carry it."""
        found: dict[str, list[int]] = {value: [] for value in LABELS}
        for story_id, labels in self._by_story().items():
            found[self._story_label(labels)["label"]].append(story_id)
        return found

    def labels(self, story_ids: list[int]) -> dict[int, dict]:
        """Story id → {"label", "note", "at", "by", "item_id"} for the stories that carry one."""
        wanted = set(story_ids)
        return {story_id: self._story_label(labels) for story_id, labels in self._by_story().items()
                if story_id in wanted}

    def _items(self, story_id: int) -> list[int]:
        return self.store.story_members(story_id)

    def _lead(self, story_id: int) -> int:
        """The story's earliest-published matched copy (its first item when none matched)."""
        lead = self.store.matched_lead(story_id)
        return story_id if lead is None else lead

    def set(self, story_id: int, value: str, note: str) -> None:
        lead = self._lead(story_id)
        with self.store.transaction():
            for item_id in self._items(story_id):
                if item_id != lead:
                    self.store.remove_label(item_id)
            self.store.set_label(lead, value, self.now(), note=note, labelled_by="web")

    def clear(self, story_id: int) -> None:
        with self.store.transaction():
            for item_id in self._items(story_id):
                self.store.remove_label(item_id)
