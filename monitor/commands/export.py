"""`monitor export json|csv|atom|wacz`: matched stories with their evidence, for case files."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from monitor.commands.context import Context, open_store


def parse_moment(value: str, timezone: str, *, end_of_day: bool = False) -> datetime:
    """YYYY-MM-DD (midnight in settings.timezone; with end_of_day, the next midnight) or an ISO
    8601 date and time (UTC when it names no offset)."""
    try:
        if len(value) == 10:
            day = datetime.strptime(value, "%Y-%m-%d").date()
            if end_of_day:
                day += timedelta(days=1)
            return datetime.combine(day, time(), ZoneInfo(timezone))
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (2026-11-25) or an ISO 8601 time (2026-11-25T08:00:00+02:00)")
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo("UTC"))


@click.command("export")
@click.argument("kind", type=click.Choice(["json", "csv", "atom", "wacz"]), metavar="json|csv|atom|wacz")
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path), metavar="PATH",
              help="The file to write.")
@click.option("--since", metavar="DATE", help="Stories first seen on or after DATE (YYYY-MM-DD, or an ISO time).")
@click.option("--until", metavar="DATE", help="Stories first seen before the end of DATE (or before an ISO time).")
@click.option("--topic", metavar="NAME", help="Only stories that matched this topic.")
@click.option("--source", metavar="NAME", help="Only stories led by this source.")
@click.pass_obj
def export(obj: Context, kind: str, out: Path, since: str | None, until: str | None, topic: str | None,
           source: str | None) -> None:
    """Export matched stories with their evidence: JSON, CSV, Atom, or a WACZ of the captures.

    \b
      monitor export json --out case.json --since 2026-11-01
      monitor export wacz --out case.wacz --topic deported-children
    Each story lists its captures (url, captured_at, sha256, WARC file and record, HTTP status,
    status live | changed | gone, last checked). Each export is recorded in the custody log.
    """
    from monitor.clock import utc_now
    from monitor.evidence.export import ExportError, Selection
    from monitor.evidence.export import export as write_export

    config = obj.config()
    zone = config.settings.timezone
    selection = Selection(since=parse_moment(since, zone) if since else None,
                          until=parse_moment(until, zone, end_of_day=True) if until else None,
                          topic=topic, source=source)
    folder = config.settings.evidence.folder(config.path.parent)
    with open_store(config) as store:
        try:
            done = write_export(store, folder, kind, out, selection, utc_now(), redactor=config.redactor)
        except (ExportError, OSError) as exc:
            click.echo(f"error: export not written: {config.redactor(str(exc))}", err=True)
            raise SystemExit(1)
    click.echo(f"{done.stories} stories, {done.captures} captures exported to {done.path} ({kind}, "
               f"sha256 {done.sha256})")
