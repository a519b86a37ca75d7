"""What every verb is given: the CLI's options, the configuration (loaded once), and helpers."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from monitor.config import Config, ConfigError, load_config, resolve_config_path
from monitor.fetch import Fetcher
from monitor.logs import setup_logging

EXIT_USAGE = 2


class Context:
    def __init__(self, config_path: str | None, log_format: str, verbose: int):
        self.config_path: Path = resolve_config_path(config_path)
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


def optional_config(obj: Context) -> Config | None:
    """The configuration when there is a file to read (exit 2 if it is broken), else None."""
    return obj.config() if obj.config_path.is_file() else None


def make_fetcher(config: Config | None) -> Fetcher:
    """A Fetcher with the configured limits and User-Agent, or the defaults without a config."""
    if config is None:
        return Fetcher()
    return Fetcher(config.settings.fetch, config.user_agent)


def interval_text(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def table(header: list[str], rows: list[list[str]], max_width: int = 70) -> str:
    cells = [header] + [[c if len(c) <= max_width else c[: max_width - 1] + "…" for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
