"""`monitor run`: the service, in the foreground."""

from __future__ import annotations

import asyncio
import sys

import click

from monitor.commands.context import EXIT_USAGE, Context, database_errors, log_to_file


@click.command()
@click.pass_obj
def run(obj: Context) -> None:
    """Run the service in the foreground: poll every source on its interval until SIGTERM or Ctrl-C.

    Logs go to stderr (the journal, under systemd) and, with settings.log_file, to that file too,
    rotated at settings.log_max_mb.
    """
    from monitor.service import run_service

    config = obj.config()
    if config.database_url:
        click.echo(f"error: database {config.database_display}: monitor run works on a SQLite file only; on "
                   f"PostgreSQL, start `monitor worker` processes (any number) instead", err=True)
        sys.exit(EXIT_USAGE)
    log_to_file(obj, config)
    with database_errors(config.database_path):  # the service opens the store: its StoreError is one line, exit 3
        asyncio.run(run_service(config))
