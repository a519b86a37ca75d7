"""`monitor worker`: one of any number of processes sharing polls, digests and deliveries through
Procrastinate on the PostgreSQL database (monitor/postgres/worker.py)."""

from __future__ import annotations

import asyncio
import logging
import sys

import click

from monitor.commands.context import EXIT_USAGE, Context, database_errors, log_to_file
from monitor.config import Config


@click.command()
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Jobs this worker runs at once (polls, digests, deliveries).")
@click.option("--stalled-after", type=click.FloatRange(3, 3600), default=30.0, show_default=True, metavar="SECONDS",
              help="A worker silent this long (killed, its machine gone) has its jobs run again by the others.")
@click.pass_obj
def worker(obj: Context, concurrency: int, stalled_after: float) -> None:
    """Run a worker on the PostgreSQL database until SIGTERM or Ctrl-C (start as many as you like,
    on any machines, with the same sources.yaml).

    Each source is polled at its interval by one worker at a time, each digest is sent once when
    its schedule comes round, each delivery goes out once. Needs settings.database:
    postgresql://… (on a SQLite file, use `monitor run`).
    """
    config = obj.config()
    if not config.database_url:
        click.echo(f"error: database {config.database_display}: monitor worker needs a PostgreSQL database "
                   f"(settings.database: postgresql://…); on a SQLite file, run `monitor run`", err=True)
        sys.exit(EXIT_USAGE)
    serve(obj, config, concurrency=concurrency, stalled_after=stalled_after)


def serve(obj: Context, config: Config, *, concurrency: int = 4, stalled_after: float = 30.0,
          web: bool = False) -> None:
    """Run one worker on config's PostgreSQL database until SIGTERM/Ctrl-C (`monitor run` too,
    with `web`: settings.web.listen served beside it)."""
    from monitor.postgres.worker import Worker, require_procrastinate

    log_to_file(obj, config)  # as `monitor run`: settings.log_file beside stderr, rotated
    if obj.verbose < 2:  # Procrastinate says every job's start and end at INFO: for -vv
        logging.getLogger("procrastinate").setLevel(logging.WARNING)
    with database_errors(config.database_display):
        require_procrastinate()
        try:
            asyncio.run(Worker(config, concurrency=concurrency, stalled_after=stalled_after, web=web).run())
        except KeyboardInterrupt:
            pass
