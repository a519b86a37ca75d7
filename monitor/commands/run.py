"""`monitor run`: the service, in the foreground."""

from __future__ import annotations

import asyncio

import click

from monitor.commands.context import Context, database_errors


@click.command()
@click.pass_obj
def run(obj: Context) -> None:
    """Run the service in the foreground: poll every source on its interval until SIGTERM or Ctrl-C."""
    from monitor.service import run_service

    config = obj.config()
    with database_errors(config.database_path):  # the service opens the store: its StoreError is one line, exit 3
        asyncio.run(run_service(config))
