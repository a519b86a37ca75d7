"""`monitor label ITEM_ID relevant|not_relevant` and `monitor labels list|export`: the user's own
labels (monitor/labels.py). A story labelled not relevant never reaches a digest; the export is
`monitor classify` input with a `label` field, for `monitor classify --eval`."""

from __future__ import annotations

import json

import click

from monitor.commands.context import EXIT_USAGE, Context, open_store, table


@click.command()
@click.argument("item_id", type=int)
@click.argument("label", type=click.Choice(["relevant", "not_relevant"]))
@click.option("--note", default="", metavar="TEXT", help="Why (kept with the label).")
@click.pass_obj
def label(obj: Context, item_id: int, label: str, note: str) -> None:
    """Label a stored item relevant or not_relevant (a new label replaces the old one).

    ITEM_ID is the item's number (digests and `monitor labels list` show it). A story labelled
    not_relevant is left out of every digest from then on.
    """
    from monitor.clock import utc_now
    from monitor.labels import UnknownItem

    with open_store(obj.config()) as store:
        try:
            stored = store.set_label(item_id, label, utc_now(), note=note, labelled_by="cli")
        except UnknownItem:
            click.echo(f"error: no item {item_id} in {obj.config().database_display}", err=True)
            raise SystemExit(EXIT_USAGE) from None
    suffix = " (left out of digests from now on)" if stored.label == "not_relevant" else ""
    click.echo(f"item {item_id}: {stored.label}{suffix}")


@click.group()
def labels() -> None:
    """The labels given with `monitor label`."""


@labels.command("list")
@click.pass_obj
def labels_list(obj: Context) -> None:
    """The labelled items: id, label, when, from where, title and note."""
    with open_store(obj.config(), read_only=True) as store:
        rows = [[str(li.label.item_id), li.label.label, li.label.labelled_at.strftime("%Y-%m-%d %H:%M"),
                 li.label.labelled_by, li.title, li.label.note] for li in store.labelled_items()]
    click.echo(table(["item", "label", "when (UTC)", "by", "title", "note"], rows))


@labels.command("export")
@click.option("--out", "out", type=click.File("w", encoding="utf-8"), default="-", metavar="FILE",
              help="Write to FILE.  [default: stdout]")
@click.pass_obj
def labels_export(obj: Context, out) -> None:
    """Write the labels as JSON lines in `monitor classify`'s input format, with "label" (1
    relevant, 0 not_relevant), "lang", "url", "source" and "note": a regression set for
    `monitor classify --eval`."""
    with open_store(obj.config(), read_only=True) as store:
        for li in store.labelled_items():
            out.write(json.dumps(li.as_classify_input(), ensure_ascii=False) + "\n")
