"""`monitor run`: the service, in the foreground."""

from __future__ import annotations

import asyncio

import click

from monitor.commands.context import Context, database_errors, log_to_file


@click.command()
@click.pass_obj
def run(obj: Context) -> None:
    """Run the service in the foreground: poll every source on its interval until SIGTERM or Ctrl-C.

    Logs go to stderr (the journal, under systemd) and, with settings.log_file, to that file too,
    rotated at settings.log_max_mb. On PostgreSQL (settings.database: postgresql://…) it runs as one
    `monitor worker` does, with the web interface of settings.web.listen beside it: start more
    `monitor worker` processes, on any machines, to share the work.
    """
    from monitor.service import run_service

    config = obj.config()
    if config.database_url:
        # The same service on a shared database: one worker of any number (monitor/postgres/worker.py).
        from monitor.commands.worker import serve

        serve(obj, config, web=True)
        return
    log_to_file(obj, config)
    with database_errors(config.database_path):  # the service opens the store: its StoreError is one line, exit 3
        asyncio.run(run_service(config))
