"""The `monitor` command."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence

import click

from monitor.config import Config, ConfigError, load_config, resolve_config_path
from monitor.logs import setup_logging

log = logging.getLogger("monitor")

EXIT_USAGE = 2


class _Context:
    def __init__(self, config_path: str | None, log_format: str, verbose: int):
        self.config_path = resolve_config_path(config_path)
        self.log_format = log_format
        self.verbose = verbose
        self._config: Config | None = None

    def config(self) -> Config:
        """Load and validate sources.yaml once; a problem ends the command with exit code 2."""
        if self._config is None:
            try:
                self._config = load_config(self.config_path)
            except ConfigError as exc:
                click.echo(f"error: {exc}", err=True)
                sys.exit(EXIT_USAGE)
            setup_logging(self.log_format, self.verbose, self._config.secrets)
        return self._config


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "-c", "config_path", metavar="PATH", envvar="MONITOR_CONFIG", show_envvar=True,
              help="Configuration file.  [default: ./sources.yaml]")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Log lines on stderr: for people (text) or for machines (json).")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debugging).")
@click.version_option(package_name="monitor")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, log_format: str, verbose: int) -> None:
    """Watch news sources for reports on Ukrainian children deported, abducted or forcibly
    transferred by Russia, store them in SQLite and send digests.

    \b
    Start here:
      monitor check           validate sources.yaml
      monitor poll            poll every source once and show what came in
      monitor run             run the service (polls on schedule until stopped)
    """
    setup_logging(log_format, verbose)
    ctx.obj = _Context(config_path, log_format, verbose)


@cli.command()
@click.pass_obj
def check(obj: _Context) -> None:
    """Validate the configuration and exit (0 valid, 2 invalid)."""
    config = obj.config()
    by_type: dict[str, int] = {}
    for source in config.sources:
        by_type[source.type] = by_type.get(source.type, 0) + 1
    kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(by_type.items()))
    click.echo(f"{config.path}: OK, {len(config.sources)} sources ({kinds}); database {config.database_path}")


@cli.command()
@click.pass_obj
def run(obj: _Context) -> None:
    """Run the service in the foreground: poll every source on its interval until SIGTERM or Ctrl-C."""
    from monitor.service import run_service

    config = obj.config()
    asyncio.run(run_service(config))


@cli.command()
@click.option("--source", "-s", "names", multiple=True, metavar="NAME",
              help="Poll only this source (repeatable).  [default: all enabled sources]")
@click.pass_obj
def poll(obj: _Context, names: Sequence[str]) -> None:
    """Poll sources once, store new items, print a table and exit.

    A failing source is reported in the table; it does not make the command fail.
    """
    from monitor.fetch import Fetcher
    from monitor.pipeline import poll_all
    from monitor.service import user_agent_for
    from monitor.store import Store

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

    async def go():
        store = Store(config.database_path)
        try:
            async with Fetcher(config.settings.fetch, user_agent_for(config)) as fetcher:
                return await poll_all(selected, fetcher=fetcher, store=store)
        finally:
            store.close()

    reports = asyncio.run(go())
    rows = [[r.source, r.status, str(r.new_items), f"{r.seconds:.2f}s", r.error or r.warning or ""] for r in reports]
    click.echo(_table(["source", "status", "new", "time", "note"], rows))
    failing = sum(1 for r in reports if r.status == "failing")
    click.echo(f"{len(reports)} sources polled, {sum(r.new_items for r in reports)} new items, {failing} failing")


@cli.group()
def sources() -> None:
    """Inspect configured sources."""


@sources.command("list")
@click.pass_obj
def sources_list(obj: _Context) -> None:
    """List sources with their type, interval and health."""
    from monitor.store import Store

    config = obj.config()
    health: dict[str, dict] = {}
    if config.database_path.exists():
        store = Store(config.database_path)
        try:
            health = {row["name"]: row for row in store.source_rows()}
        finally:
            store.close()
    rows = []
    for source in config.sources:
        row = health.get(source.name, {})
        status = "disabled" if not source.enabled else row.get("last_status", "new")
        rows.append([source.name, source.type, _interval(source.interval.total_seconds()), status,
                     str(row.get("items_total", 0)), (row.get("last_ok") or "-")[:16].replace("T", " "),
                     row.get("last_error") or ""])
    click.echo(_table(["source", "type", "every", "status", "items", "last ok (UTC)", "error"], rows))


def _interval(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _table(header: list[str], rows: list[list[str]], max_width: int = 70) -> str:
    cells = [header] + [[c if len(c) <= max_width else c[: max_width - 1] + "…" for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="monitor", standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
