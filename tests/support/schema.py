"""A database as an older monitor left it, for the tests of a migration."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from monitor.dbfile import Database
from monitor.migrations import MIGRATIONS


def sqlite_at_version(path: Path, version: int) -> sqlite3.Connection:
    """A SQLite database at `path` with the first `version` migrations applied (autocommit)."""
    conn = sqlite3.connect(path, isolation_level=None)
    for migration in MIGRATIONS[:version]:
        migration(Database(conn))
    conn.execute(f"PRAGMA user_version = {int(version)}")
    return conn


def postgres_at_version(cur, version: int) -> None:
    """PostgreSQL's first `version` migrations, recorded as an older monitor recorded them."""
    from monitor.postgres.migrations import MIGRATIONS as POSTGRES_MIGRATIONS

    cur.execute("CREATE TABLE monitor_schema (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL, "
                "monitor_version TEXT NOT NULL)")
    for n, migration in enumerate(POSTGRES_MIGRATIONS[:version], 1):
        migration(cur)
        cur.execute("INSERT INTO monitor_schema VALUES (%s, 'then', 'old')", [n])
