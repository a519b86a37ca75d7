"""PostgreSQL as a second storage backend, for users who outgrow one machine and one SQLite file
(issue 16): several processes, on several machines, share one database.

    settings:
      database: postgresql://monitor:${PGPASSWORD}@db.example.org/monitor

open_database() is the one way in: a postgresql:// (or postgres://) URL opens a
monitor.postgres.store.PostgresStore (the same public methods as monitor.store.Store for the
pipeline, the outbox and delivery, labels; the same numbered migrations); anything else is a
SQLite file, opened by Store exactly as before. psycopg (`pip install 'monitor[postgresql]'`) is
imported only for a URL, so SQLite users need nothing more.

The commands open it through monitor.commands.context.open_store (`monitor poll`, `monitor
digest`, …); `monitor worker` (monitor/postgres/worker.py) runs polls, digests and deliveries as
Procrastinate tasks on it. `monitor run` and `monitor web` still need a SQLite file.
"""

from __future__ import annotations

import logging
from pathlib import Path

from monitor.dbfile import StoreError
from monitor.dburl import is_postgres_url, redact_url

__all__ = ["is_postgres_url", "open_database", "redact_url", "without_evidence"]

log = logging.getLogger(__name__)


def open_database(url_or_path: str | Path, *, read_only: bool = False):
    """The store for settings.database: PostgresStore for a postgresql:// URL, else Store (SQLite)."""
    if is_postgres_url(url_or_path):
        try:
            from monitor.postgres.store import PostgresStore
        except ImportError as exc:
            raise StoreError(redact_url(str(url_or_path)), "is a PostgreSQL database, and the PostgreSQL driver "
                                                          f"(psycopg) is not installed ({exc})",
                             "pip install 'monitor[postgresql]'") from exc
        return PostgresStore(str(url_or_path).strip(), read_only=read_only)
    from monitor.store import Store

    return Store(url_or_path, read_only=read_only)


def without_evidence(config, pipeline) -> None:
    """Evidence capture (monitor/evidence/) has no PostgreSQL queries yet: on PostgreSQL a poll
    stores and matches, and captures nothing (a warning says so once)."""
    if getattr(config, "database_url", None) and pipeline.capture is not None:
        log.warning("evidence capture is not available on PostgreSQL yet: settings.evidence is ignored")
        pipeline.capture = None
