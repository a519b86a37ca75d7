"""One test on both storage backends: the `backend` fixture (parametrized sqlite | postgresql)
gives the settings.database value a test writes into its sources.yaml (a SQLite file beside it, or
a fresh database on the session's PostgreSQL server, tests/support/postgres.py), and reads or
changes that database with plain SQL whichever it is (`?` placeholders on both). `module_backend`
is the same for a module's shared fixtures; its `copy()` is a second database as the first was
when copied (for a test that changes it). Without a PostgreSQL server, the postgresql runs skip.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.postgres import create_database, drop_database, with_database

BACKENDS = ["sqlite", "postgresql"]
SQLITE_FILE = "data/monitor.db"   # relative to the folder of sources.yaml


@dataclass
class Backend:
    name: str
    folder: Path                      # where sources.yaml is
    url: str | None = None            # the PostgreSQL database's, else None
    admin_url: str | None = None
    made: list[str] = field(default_factory=list)  # databases to drop at the end

    @property
    def database(self) -> str:
        """What settings.database says."""
        return self.url or SQLITE_FILE

    @property
    def sqlite_path(self) -> Path:
        return self.folder / SQLITE_FILE

    def rows(self, sql: str, params=()) -> list[dict]:
        if self.url is None:
            with sqlite3.connect(self.sqlite_path) as conn:
                conn.row_factory = sqlite3.Row
                return [dict(row) for row in conn.execute(sql, list(params))]
        import psycopg
        from psycopg.rows import dict_row

        with psycopg.connect(self.url, autocommit=True, row_factory=dict_row) as conn:
            cursor = conn.execute(sql.replace("?", "%s"), list(params))
            return cursor.fetchall() if cursor.description else []

    def execute(self, sql: str, params=()) -> None:
        if self.url is None:
            with sqlite3.connect(self.sqlite_path) as conn:
                conn.execute(sql, list(params))
            return
        self.rows(sql, params)

    def value(self, sql: str, params=()):
        [row] = self.rows(sql, params)
        return next(iter(row.values()))

    def copy(self, folder: Path) -> Backend:
        """The same database for a test that changes it: the SQLite file copied into `folder`'s
        data/ (the caller copies the rest), or a new PostgreSQL database made from this one."""
        if self.url is None:
            if self.sqlite_path.exists():
                (folder / "data").mkdir(parents=True, exist_ok=True)
                shutil.copy2(self.sqlite_path, folder / SQLITE_FILE)
            return Backend(self.name, folder)
        name = "t_" + uuid.uuid4().hex[:12]
        _copy_database(self.admin_url, self.url, name)
        other = Backend(self.name, folder, with_database(self.admin_url, name), self.admin_url)
        self.made.append(other.url)
        return other

    def close(self) -> None:
        for url in self.made + ([self.url] if self.url else []):
            drop_database(self.admin_url, url)
        self.made.clear()


def _copy_database(admin_url: str, url: str, name: str) -> None:
    """CREATE DATABASE … TEMPLATE, which needs the template to itself: a connection just closed
    may still be leaving, so a few tries."""
    import psycopg

    template = url.rsplit("/", 1)[1]
    for attempt in range(50):
        try:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            return
        except psycopg.errors.ObjectInUse:
            if attempt == 49:
                raise
            time.sleep(0.1)


def make_backend(request, name: str, folder: Path) -> Backend:
    if name == "sqlite":
        return Backend(name, folder)
    admin = request.getfixturevalue("postgres_server")
    return Backend(name, folder, create_database(admin), admin)


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path) -> Backend:
    made = make_backend(request, request.param, tmp_path)
    yield made
    made.close()


@pytest.fixture(scope="module", params=BACKENDS)
def module_backend(request, tmp_path_factory) -> Backend:
    made = make_backend(request, request.param, tmp_path_factory.mktemp(f"{request.param}-site"))
    yield made
    made.close()
