"""What every verb is given: the CLI's options, the configuration (loaded once), and helpers."""

from __future__ import annotations

import logging
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from monitor.dbfile import StoreError, explain, is_database_fault
from monitor.logs import setup_logging
from monitor.secrets import install, redact

if TYPE_CHECKING:  # imported where used: `monitor --help` then loads neither pydantic nor httpx
    from monitor.config import Config, ConfigError
    from monitor.fetch import Fetcher
    from monitor.store import Store

EXIT_USAGE = 2
EXIT_DATABASE = 3  # the database cannot be used: corrupt, newer schema, read-only, bad path

log = logging.getLogger(__name__)


class Context:
    def __init__(self, config_path: str | None, log_format: str, verbose: int):
        from monitor.config import resolve_config_path

        self.config_path: Path = resolve_config_path(config_path)
        self.log_format = log_format
        self.verbose = verbose
        self._config: Config | None = None

    def config(self, *, strict: bool = False) -> Config:
        """Load and validate sources.yaml once; problems end the command with exit code 2, every one
        of them printed (file, line, key). A ${VAR} that is not set in a source or a channel blocks
        only that source or channel (a warning says so), unless `strict` (monitor check)."""
        if self._config is None:
            from monitor.config import ConfigError, load_config

            try:
                self._config = load_config(self.config_path, strict=strict)
            except ConfigError as exc:
                for line in exc.lines():
                    click.echo(f"error: {line}", err=True)
                hint = missing_file_hint(self.config_path, exc)
                if hint:
                    click.echo(f"hint: {hint}", err=True)
                sys.exit(EXIT_USAGE)
            for name, error in self._config.unavailable_sources.items():
                click.echo(f"warning: {error}; source {name!r} is not polled until it is set", err=True)
            for name, error in self._config.unavailable_channels.items():
                click.echo(f"warning: {error}; channel {name!r} delivers nothing until it is set "
                           f"(its digests wait)", err=True)
            # The configuration's secrets are the process's from here on: the log handler, the
            # store's error text and the digests redact them (monitor/secrets.py). Put back when
            # the command is done, for a caller that runs several commands in one process (tests).
            previous = install(self._config.redactor)
            click_context = click.get_current_context(silent=True)
            if click_context is not None:
                click_context.find_root().call_on_close(lambda: install(previous))
            setup_logging(self.log_format, self.verbose)
        return self._config


def missing_file_hint(path: Path, error: ConfigError) -> str | None:
    """How to get a configuration, when there is none where one was looked for."""
    from monitor.config import DEFAULT_CONFIG_NAME

    if not error.message.startswith("file not found"):
        return None
    if path == Path(DEFAULT_CONFIG_NAME):
        return "'monitor init' writes a commented starter sources.yaml in this folder ('monitor init DIR' elsewhere)"
    return f"'monitor --config {path} init' writes a commented starter configuration there"


def log_to_file(obj: Context, config: Config) -> None:
    """settings.log_file, for the long-running commands: logs there too (rotated), beside stderr.
    A file that cannot be written ends the command with one line, exit code 2."""
    log_file = config.log_file_path
    if log_file is None:
        return
    try:
        setup_logging(obj.log_format, obj.verbose, log_file=log_file,
                      max_bytes=int(config.settings.log_max_mb * 1024 * 1024), backups=config.settings.log_keep)
    except OSError as exc:
        click.echo(f"error: {config.path}: settings.log_file: cannot write {log_file}: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_USAGE)


def optional_config(obj: Context) -> Config | None:
    """The configuration when there is a file to read (exit 2 if it is broken), else None."""
    return obj.config() if obj.config_path.is_file() else None


def database_failed(error: StoreError) -> None:
    """End the command: one line on stderr, exit code 3 (the traceback only with -vv)."""
    log.debug("database error", exc_info=error)
    click.echo(f"error: {redact(str(error))}", err=True)  # a path may hold a ${VAR} value
    sys.exit(EXIT_DATABASE)


@contextmanager
def database_errors(path: Path | str) -> Iterator[None]:
    """A StoreError, or SQLite saying the file is unusable, ends the command with one line and exit 3."""
    try:
        yield
    except StoreError as exc:
        database_failed(exc)
    except sqlite3.DatabaseError as exc:
        if not is_database_fault(exc):
            raise
        log.debug("database error", exc_info=True)
        database_failed(explain(path, exc))


@contextmanager
def open_store(config: Config, *, read_only: bool = False) -> Iterator[Store]:
    """`with open_store(config) as store:` the configured database, closed at the end.

    Write commands create its directory and migrate it; read_only=True never writes (a
    read-only file, directory or mount is fine) and notes on stderr when the schema is older
    than this monitor. Any problem with the file ends the command: one line, exit code 3.
    settings.database: postgresql://… opens a monitor.postgres.store.PostgresStore instead
    (its errors are StoreErrors too, the password never shown).
    """
    from monitor.postgres import open_database

    path = config.database  # the SQLite file's path, or the PostgreSQL URL
    with database_errors(path if isinstance(path, Path) else config.database_display):
        store = open_database(path, read_only=read_only)
        try:
            if store.upgrade_note:
                click.echo(f"note: {redact(store.upgrade_note)}", err=True)
            try:
                yield store
            except sqlite3.OperationalError as exc:
                # A read-only command on an older schema: a table or column it reads is not there yet.
                if store.upgrade_note and "no such" in str(exc):
                    raise store.too_old() from exc
                raise
        finally:
            store.close()


def make_fetcher(config: Config | None) -> Fetcher:
    """A Fetcher with the configured limits and User-Agent, or the defaults without a config."""
    from monitor.fetch import Fetcher

    return Fetcher() if config is None else config.fetcher()


def interval_text(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def table(header: list[str], rows: list[list[str]], max_width: int = 70) -> str:
    """Rows as aligned columns. Each cell is redacted (monitor/secrets.py) before it is cut to
    `max_width`: cut first, a token at the edge would be left half-shown and unrecognised."""
    rows = [[redact(c) for c in row] for row in rows]
    cells = [header] + [[c if len(c) <= max_width else c[: max_width - 1] + "…" for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
