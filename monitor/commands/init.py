"""`monitor init [DIR]`: a commented starter sources.yaml (and its JSON Schema), checked."""

from __future__ import annotations

import os
import sys
from importlib import resources
from pathlib import Path

import click

from monitor.commands.context import EXIT_USAGE, Context
from monitor.commands.schema import SCHEMA_FILE, schema_text
from monitor.config import DEFAULT_CONFIG_NAME, ConfigError, parse_config

STARTER = "starter-sources.yaml"


def starter_text() -> str:
    """The starter configuration, as shipped with the package."""
    return (resources.files("monitor") / "templates" / STARTER).read_text(encoding="utf-8")


@click.command("init")
@click.argument("directory", required=False, type=click.Path(file_okay=False), metavar="[DIR]")
@click.option("--force", is_flag=True, help="Replace an existing file.")
@click.pass_obj
def init(obj: Context, directory: str | None, force: bool) -> None:
    """Write a commented starter sources.yaml in DIR (default: where --config points, ./sources.yaml),
    with sources.schema.json beside it for editors, and check it.

    \b
      monitor init                 ./sources.yaml
      monitor init /etc/monitor    /etc/monitor/sources.yaml
    """
    target = Path(directory) / DEFAULT_CONFIG_NAME if directory else obj.config_path
    if target.exists() and not force:
        click.echo(f"error: {target} already exists; edit it, or pass --force to replace it with the starter",
                   err=True)
        sys.exit(EXIT_USAGE)
    text = starter_text()
    try:
        parse_config(text, target)  # the starter is valid as shipped: a failure here is a bug in it
    except ConfigError as exc:
        for line in exc.lines():
            click.echo(f"error: starter configuration: {line}", err=True)
        sys.exit(EXIT_USAGE)
    schema_path = target.parent / SCHEMA_FILE
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _write(target, text)
        _write(schema_path, schema_text())
    except OSError as exc:
        click.echo(f"error: cannot write {target}: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_USAGE)
    config = parse_config(text, target)
    option = "" if target == Path(DEFAULT_CONFIG_NAME) else f" --config {target}"
    click.echo(f"wrote {target} ({len(config.sources)} sources; digests go to {target.parent / 'digests'}/) "
               f"and {schema_path} (for editors)")
    click.echo("next:")
    click.echo(f"  monitor{option} check        validate it (after each edit)")
    click.echo(f"  monitor{option} poll         poll every source once and show what came in")
    click.echo(f"  monitor{option} run          run the service (see README: Running as a service)")


def _write(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
