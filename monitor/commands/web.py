"""`monitor web [--host 127.0.0.1] [--port 8080]`: the web interface for the configured database."""

from __future__ import annotations

import asyncio
import signal
import sys

import click

from monitor.commands.context import EXIT_USAGE, Context, database_errors


async def _serve(server, sock) -> None:
    """Serve until SIGTERM or Ctrl-C; requests in progress finish, then the command exits 0."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, server.stop)
        except (NotImplementedError, RuntimeError):
            pass
    await server.serve(sockets=[sock])


@click.command()
@click.option("--host", metavar="ADDRESS", help="Address to listen on; any but loopback needs MONITOR_WEB_PASSWORD.  "
                                                "[default: settings.web.listen's, else 127.0.0.1]")
@click.option("--port", type=click.IntRange(0, 65535), metavar="PORT",
              help="Port (0: any free one, printed).  [default: settings.web.listen's, else 8080]")
@click.pass_obj
def web(obj: Context, host: str | None, port: int | None) -> None:
    """Serve the web interface: stories (search, filters, triage), sources (health, add one), digests,
    a JSON API and an Atom feed.

    \b
    Opens at http://127.0.0.1:8080/ by default. To serve other machines set MONITOR_WEB_PASSWORD
    (everyone logs in with it) and pass --host 0.0.0.0; without it that exits 2.
    """
    from monitor.options.web import DEFAULT_HOST, DEFAULT_PORT, split_listen
    from monitor.postgres import open_database
    from monitor.web.server import WebRefused, address, bind, close_app, make_server

    config = obj.config()
    listen_host, listen_port = split_listen(config.settings.web.listen) if config.settings.web.listen \
        else (DEFAULT_HOST, DEFAULT_PORT)
    host = (host or listen_host).strip("[]")
    port = listen_port if port is None else port
    # A SQLite file, or a PostgreSQL database (settings.database: postgresql://…) that others share.
    where = config.database_display
    errors_of = where if config.database_url else config.database  # a URL is named without its password
    with database_errors(errors_of):
        store = open_database(config.database)  # a write command: it migrates (the search index) and stores labels
    try:
        try:
            server = make_server(config, host, embedded=True, store=store, access_log=obj.verbose > 0)
        except WebRefused as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_USAGE)
        try:
            sock = bind(host, port)
        except OSError as exc:
            click.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
            sys.exit(EXIT_USAGE)
        click.echo(f"monitor web: serving {address(sock)} (database {where}); Ctrl-C stops it", err=True)
        with database_errors(errors_of):
            asyncio.run(_serve(server, sock))
        close_app(server)
    finally:
        store.close()
