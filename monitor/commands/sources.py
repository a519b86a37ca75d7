"""`monitor sources list|add`: the configured sources and their health."""

from __future__ import annotations

from datetime import timezone

import click

from monitor.commands import LazyGroup
from monitor.commands.context import Context, interval_text, open_store, table


# `sources add` loads the HTTP client, which `sources list` (run after every edit of sources.yaml)
# never needs: it is imported when it runs.
ADD = {"add": ("monitor.commands.sources_add:sources_add",
                "Find the best way to watch URL (feed, sitemap, Telegram channel or page) and print the entry.")}


@click.group(cls=LazyGroup, lazy=ADD)
def sources() -> None:
    """Inspect configured sources."""


@sources.command("list")
@click.pass_obj
def sources_list(obj: Context) -> None:
    """List sources with their type, interval and health."""
    from monitor.items import SourceHealth

    config = obj.config()
    with open_store(config, read_only=True) as store:  # works on a read-only file or mount too
        health: dict[str, SourceHealth] = {h.source: h for h in store.source_health()}
        captures_failing = store.failing_captures_by_source()
    rows = []
    for source in config.sources:
        h = health.get(source.name) or SourceHealth(source.name, "new", None, None)
        status = "disabled" if not source.enabled else h.status
        note = h.note or ""
        if source.name in config.unavailable_sources:  # a ${VAR} of it is not set: not polled
            status, note = "unavailable", config.unavailable_sources[source.name].message
        if captures_failing.get(source.name):  # evidence not yet kept: visible, never silent
            count = captures_failing[source.name]
            note = "; ".join(filter(None, [note, f"{count} evidence capture{'s' if count > 1 else ''} failing "
                                                 "(retried; see monitor export)"]))
        last_ok = h.last_ok.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M") if h.last_ok else "-"
        rows.append([source.name, source.type, interval_text(source.interval.total_seconds()), status,
                     str(h.items), last_ok, note])
    click.echo(table(["source", "type", "every", "status", "items", "last ok (UTC)", "error"], rows))
