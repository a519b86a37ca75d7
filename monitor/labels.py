"""The user's labels: an item is relevant or not_relevant, with a note, when and from where (the
CLI's `monitor label`, the web interface). A mixin of Store (monitor/store.py): these queries
share its connection and transactions; the table is made by the labels migration.

What labels do: a story one of whose items is labelled not_relevant is never put in a digest
(the outbox's unclaimed_item_ids leaves it out); `monitor labels export` writes them all as
`monitor classify` input with a `label` field, a regression set for `monitor classify --eval`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from monitor.clock import from_iso, utc_iso

if TYPE_CHECKING:
    from monitor.dbfile import Database

LABELS = ("relevant", "not_relevant")
ORIGINS = ("cli", "web")


def check_label(label: str, labelled_by: str) -> None:
    """ValueError for a label or an origin the label store does not take (both backends ask)."""
    if label not in LABELS:
        raise ValueError(f"label must be one of {', '.join(LABELS)}, not {label!r}")
    if labelled_by not in ORIGINS:
        raise ValueError(f"labelled_by must be one of {', '.join(ORIGINS)}, not {labelled_by!r}")


class UnknownItem(LookupError):
    """No stored item has this id."""


@dataclass(frozen=True)
class Label:
    item_id: int
    label: str              # relevant | not_relevant
    note: str
    labelled_at: datetime
    labelled_by: str        # cli | web


@dataclass(frozen=True)
class LabelledItem:
    """A label with what the item said: one line of `monitor labels export`."""

    label: Label
    title: str
    text: str               # the main text, else the feed's summary
    url: str
    source: str
    lang: str

    def as_classify_input(self) -> dict:
        """classify's input line ({"id", "title", "text"}) with the label: 1 relevant, 0 not."""
        return {"id": self.label.item_id, "title": self.title, "text": self.text,
                "label": 1 if self.label.label == "relevant" else 0, "lang": self.lang,
                "url": self.url, "source": self.source, "note": self.label.note,
                "labelled_at": utc_iso(self.label.labelled_at), "labelled_by": self.label.labelled_by}


class LabelQueries:
    """Needs `self.db` (monitor.dbfile.Database) and `self.transaction()`, as Store has them."""

    db: Database

    def set_label(self, item_id: int, label: str, at: datetime, *, note: str = "",
                  labelled_by: str = "cli") -> Label:
        """Label an item (a second label replaces the first). UnknownItem when no item has the id."""
        check_label(label, labelled_by)
        with self.transaction():
            if self.db.execute("SELECT 1 FROM items WHERE id = ?", [item_id]).fetchone() is None:
                raise UnknownItem(item_id)
            self.db.execute(
                """INSERT INTO labels (item_id, label, note, labelled_at, labelled_by) VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT(item_id) DO UPDATE SET label = excluded.label, note = excluded.note,
                       labelled_at = excluded.labelled_at, labelled_by = excluded.labelled_by""",
                [item_id, label, note, utc_iso(at), labelled_by])
        return Label(item_id, label, note, from_iso(utc_iso(at)), labelled_by)

    def remove_label(self, item_id: int) -> bool:
        with self.transaction():
            return self.db.execute("DELETE FROM labels WHERE item_id = ?", [item_id]).rowcount == 1

    def label(self, item_id: int) -> Label | None:
        row = self.db.execute("SELECT * FROM labels WHERE item_id = ?", [item_id]).fetchone()
        return self._label(row) if row else None

    def labels(self) -> list[Label]:
        return [self._label(r) for r in self.db.execute("SELECT * FROM labels ORDER BY labelled_at, item_id")]

    def labelled_items(self) -> Iterator[LabelledItem]:
        """Every labelled item with its text, oldest label first."""
        cursor = self.db.execute(
            """SELECT l.item_id, l.label, l.note, l.labelled_at, l.labelled_by,
                      i.title, i.content, i.summary, i.url, i.source, i.lang
               FROM labels l JOIN items i ON i.id = l.item_id ORDER BY l.labelled_at, l.item_id""")
        for row in cursor:
            yield LabelledItem(self._label(row[:5]), row[5] or "", row[6] or row[7] or "", row[8] or "",
                               row[9] or "", row[10] or "")

    @staticmethod
    def _label(row) -> Label:
        item_id, label, note, labelled_at, labelled_by = row[:5]
        return Label(item_id, label, note or "", from_iso(labelled_at), labelled_by)
