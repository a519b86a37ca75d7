"""`monitor sources list|add`: the configured sources and their health."""

from __future__ import annotations

from datetime import timezone

import click

from monitor.commands.context import Context, interval_text, table
from monitor.commands.sources_add import sources_add


@click.group()
def sources() -> None:
    """Inspect configured sources."""


@sources.command("list")
@click.pass_obj
def sources_list(obj: Context) -> None:
    """List sources with their type, interval and health."""
    from monitor.items import SourceHealth
    from monitor.store import Store

    config = obj.config()
    health: dict[str, SourceHealth] = {}
    if config.database_path.exists():
        store = Store(config.database_path)
        try:
            health = {h.source: h for h in store.source_health()}
        finally:
            store.close()
    rows = []
    for source in config.sources:
        h = health.get(source.name) or SourceHealth(source.name, "new", None, None)
        status = "disabled" if not source.enabled else h.status
        last_ok = h.last_ok.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M") if h.last_ok else "-"
        rows.append([source.name, source.type, interval_text(source.interval.total_seconds()), status,
                     str(h.items), last_ok, h.note or ""])
    click.echo(table(["source", "type", "every", "status", "items", "last ok (UTC)", "error"], rows))




sources.add_command(sources_add, "add")
