"""`monitor poll`: every source (or some) once, with a table of what came in."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import click

from monitor.commands.context import Context, make_fetcher, open_store, table


@click.command()
@click.option("--source", "-s", "names", multiple=True, metavar="NAME",
              help="Poll only this source (repeatable).  [default: all enabled sources]")
@click.pass_obj
def poll(obj: Context, names: Sequence[str]) -> None:
    """Poll sources once, store new items, print a table and exit.

    A failing source is reported in the table; it does not make the command fail.
    """
    from monitor.offload import Offload
    from monitor.pipeline import build_pipeline

    config = obj.config()
    if names:
        known = {s.name for s in config.sources}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise click.UsageError(f"no source named {unknown[0]!r} in {config.path} "
                                   f"(see 'monitor sources list')")
        selected = [config.source(n) for n in names]
    else:
        selected = [s for s in config.sources if s.enabled]

    async def go(store):
        with Offload(config.settings.document_timeout.total_seconds()) as offload:
            async with make_fetcher(config) as fetcher:
                pipeline = build_pipeline(config, fetcher=fetcher, store=store, offload=offload)
                return await pipeline.poll_all(selected)

    with open_store(config) as store:
        reports = asyncio.run(go(store))
    rows = [[r.source, r.status, str(r.new_items), str(len(r.matched_ids)), f"{r.seconds:.2f}s",
             r.error or r.warning or ""] for r in reports]
    click.echo(table(["source", "status", "new", "matched", "time", "note"], rows))
    failing = sum(1 for r in reports if r.status == "failing")
    matched = sum(len(r.matched_ids) for r in reports)
    click.echo(f"{len(reports)} sources polled, {sum(r.new_items for r in reports)} new items, "
               f"{matched} matched, {failing} failing")
