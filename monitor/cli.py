"""The `monitor` command: the group and its global options; every verb lives in monitor/commands/."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from monitor.commands import VERBS, LazyGroup
from monitor.commands.context import Context
from monitor.logs import setup_logging


@click.group(cls=LazyGroup, lazy=VERBS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "-c", "config_path", metavar="PATH", envvar="MONITOR_CONFIG", show_envvar=True,
              help="Configuration file.  [default: ./sources.yaml]")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Log lines on stderr: for people (text) or for machines (json).")
@click.option("-v", "--verbose", count=True,
              help="-v: more detail in a command's output; -vv: monitor's debug log lines; -vvv: the libraries' too.")
@click.version_option(package_name="monitor")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, log_format: str, verbose: int) -> None:
    """Watch news sources for reports on Ukrainian children deported, abducted or forcibly
    transferred by Russia, store them in SQLite and send digests.

    \b
    Start here:
      monitor init            write a commented starter sources.yaml (then edit it)
      monitor check           validate sources.yaml
      monitor poll            poll every source once and show what came in
      monitor run             run the service (polls on schedule until stopped)
    """
    setup_logging(log_format, verbose)
    ctx.obj = Context(config_path, log_format, verbose)


def main(argv: Sequence[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="monitor", standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
