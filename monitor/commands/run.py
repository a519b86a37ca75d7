"""`monitor run`: the service, in the foreground."""

from __future__ import annotations

import asyncio
import sys

import click

from monitor.commands.context import EXIT_USAGE, Context, database_errors


@click.command()
@click.pass_obj
def run(obj: Context) -> None:
    """Run the service in the foreground: poll every source on its interval until SIGTERM or Ctrl-C.

    Logs go to stderr (the journal, under systemd) and, with settings.log_file, to that file too,
    rotated at settings.log_max_mb.
    """
    from monitor.logs import setup_logging
    from monitor.service import run_service

    config = obj.config()
    if config.database_url:
        click.echo(f"error: database {config.database_display}: monitor run works on a SQLite file only; on "
                   f"PostgreSQL, start `monitor worker` processes (any number) instead", err=True)
        sys.exit(EXIT_USAGE)
    log_file = config.log_file_path
    if log_file is not None:
        try:
            setup_logging(obj.log_format, obj.verbose, log_file=log_file,
                          max_bytes=int(config.settings.log_max_mb * 1024 * 1024), backups=config.settings.log_keep)
        except OSError as exc:
            click.echo(f"error: {config.path}: settings.log_file: cannot write {log_file}: {exc.strerror or exc}",
                       err=True)
            sys.exit(EXIT_USAGE)
    with database_errors(config.database_path):  # the service opens the store: its StoreError is one line, exit 3
        asyncio.run(run_service(config))
