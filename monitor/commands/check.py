"""`monitor check`: validate the configuration and that the database can be used."""

from __future__ import annotations

import click

from monitor.commands.context import Context, database_failed
from monitor.dbfile import StoreError
from monitor.secrets import redact


@click.command()
@click.option("--full", is_flag=True,
              help="Read every page of the SQLite database, however large.  [default: every page up to 16 MB, "
                   "the first pages of each table beyond]")
@click.pass_obj
def check(obj: Context, full: bool) -> None:
    """Validate the configuration and the database path, and exit.

    Exit code 0 when both are fine, 2 when the configuration is invalid, 3 when the database
    cannot be used (a corrupt file, a newer schema, a read-only or missing place, a path below a file).
    """
    from monitor.store import Store

    config = obj.config(strict=True)  # a ${VAR} that is not set is an error here, wherever it is used
    by_type: dict[str, int] = {}
    for source in config.sources:
        by_type[source.type] = by_type.get(source.type, 0) + 1
    kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(by_type.items()))
    summary = f"{config.path}: OK, {len(config.sources)} sources ({kinds}); database {config.database_display}"
    try:
        if config.database_url:
            try:
                from monitor.postgres.store import PostgresStore
            except ImportError as exc:
                raise StoreError(config.database_display, f"is a PostgreSQL database, and the PostgreSQL driver "
                                 f"(psycopg) is not installed ({exc})", "pip install 'monitor[postgresql]'") from exc
            state = PostgresStore.inspect(config.database_url)
        else:
            state = Store.inspect(config.database_path, full=full)
    except StoreError as exc:
        click.echo(redact(summary))
        database_failed(exc)
    click.echo(redact(summary + (f" ({state})" if state else "")))
