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
digest`, `monitor export`, `monitor evidence`, …) and `monitor web` through open_database;
`monitor worker` (monitor/postgres/worker.py) runs polls, digests and deliveries as Procrastinate
tasks on it. Evidence captured on PostgreSQL (by `monitor poll`, `monitor worker`, `monitor evidence
recheck`) has its rows in the database and its WARC files in settings.evidence.dir on the machine
that captured (workers on several machines: make it one shared folder, see worker.py).
`monitor run` on it runs as one worker (with settings.web.listen); every process's requests keep to
per_host_concurrency together (monitor/postgres/hosts.py).
"""

from __future__ import annotations

from pathlib import Path

from monitor.dbfile import StoreError
from monitor.dburl import is_postgres_url, redact_url

__all__ = ["is_postgres_url", "open_database", "redact_url"]


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

