"""`monitor check`: validate the configuration."""

from __future__ import annotations

import click

from monitor.commands.context import Context


@click.command()
@click.pass_obj
def check(obj: Context) -> None:
    """Validate the configuration and exit (0 valid, 2 invalid)."""
    config = obj.config()
    by_type: dict[str, int] = {}
    for source in config.sources:
        by_type[source.type] = by_type.get(source.type, 0) + 1
    kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(by_type.items()))
    click.echo(f"{config.path}: OK, {len(config.sources)} sources ({kinds}); database {config.database_path}")
