"""The database file as a file: is its path usable, and what to tell a person when it is not.

Store (monitor/store.py) opens the database through these checks, and `monitor check` runs them
without opening anything for writing. Every problem is a StoreError whose message is one line:
the path, what is wrong, what to do.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

SQLITE_MAGIC = b"SQLite format 3\x00"

# What to say about a file SQLite cannot read as a database.
NOT_A_DATABASE = "is not a SQLite database (corrupt, truncated or another kind of file)"
CORRUPT = "is corrupt (SQLite: database disk image is malformed; a truncated or damaged file)"
RESTORE = ("restore it from a backup, or move it aside and monitor starts an empty one "
           "(`sqlite3 FILE .recover` may save what is left)")


class StoreError(Exception):
    """The database cannot be used. str() is one line: the path, the problem, what to do."""

    def __init__(self, path: str | Path, problem: str, advice: str = ""):
        self.path = Path(path)
        self.problem = problem
        self.advice = advice
        super().__init__(f"database {path} {problem}" + (f": {advice}" if advice else ""))


class Database:
    """The store's connection with the two calls it makes of it: execute() and query() (rows as
    dicts), and the connection itself as .conn, as sqlite-utils' Database gave them. The
    connection is in autocommit mode (isolation_level=None) and the store opens its transactions
    itself. sqlite-utils also wrapped every query in a savepoint, and importing it (pluggy, its
    plugin scan, numpy when installed) cost a read-only command such as `monitor sources list` a
    fifth of its start."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        conn.execute("PRAGMA recursive_triggers=on")  # as sqlite-utils set it: the schema's triggers were written under it

    def execute(self, sql: str, parameters: Sequence[Any] | Mapping[str, Any] | None = None) -> sqlite3.Cursor:
        return self.conn.execute(sql) if parameters is None else self.conn.execute(sql, parameters)

    def query(self, sql: str, parameters: Sequence[Any] | Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        cursor = self.execute(sql, parameters)
        keys = [column[0] for column in cursor.description]
        return (dict(zip(keys, row)) for row in cursor)


def sqlite_uri(path: Path, **params: str) -> str:
    """A `file:` URI for sqlite3.connect(uri=True); the path is quoted, so ?, # and % are safe."""
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return "file:" + quote(str(path.absolute())) + (f"?{query}" if query else "")


def blocking_file(path: Path) -> Path | None:
    """The ancestor of `path` that exists and is not a directory (database: notes.txt/monitor.db)."""
    for parent in path.absolute().parents:
        if parent.exists():  # False for anything below a regular file (ENOTDIR)
            return None if parent.is_dir() else parent
    return None


def read_only_reason(directory: Path) -> str | None:
    """Why files cannot be created in this existing directory, or None when they can."""
    try:
        if os.statvfs(directory).f_flag & os.ST_RDONLY:
            return f"is on a read-only file system ({directory})"
    except OSError:
        pass
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"is in a directory this user cannot write to ({directory})"
    return None


def check_location(path: Path) -> None:
    """The path can hold a database: nothing below a regular file, and a directory that exists or
    could be created. Raise StoreError when not."""
    blocker = blocking_file(path)
    if blocker is not None:
        raise StoreError(path, f"is below {blocker}, which is a file, not a directory",
                         "set settings.database to a path inside a directory")
    if path.exists() and not path.is_file():
        raise StoreError(path, "is not a regular file (a directory?)",
                         "set settings.database to a file path, e.g. data/monitor.db")


def make_directory(path: Path) -> None:
    """Create the database's directory (and its parents) as a write command needs it."""
    check_location(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(path, f"cannot be created: its directory {path.parent} cannot be made "
                               f"({exc.strerror or exc})",
                         "create the directory, or set settings.database to a writable place") from exc


def check_header(path: Path) -> None:
    """The file, if there is one, is readable and starts as a SQLite database does (an empty file
    is a new database). SQLite itself notices the rest: a truncated or damaged file on first read."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        return  # a new database
    except PermissionError as exc:
        raise StoreError(path, "cannot be read (permission denied)",
                         "make it readable for this user") from exc
    except OSError as exc:
        raise StoreError(path, f"cannot be read ({exc.strerror or exc})", "check the file and its disk") from exc
    if head and head != SQLITE_MAGIC:
        raise StoreError(path, NOT_A_DATABASE, RESTORE)


def check_writable(path: Path) -> None:
    """A write command can store here: the directory takes new files (SQLite keeps the -wal and
    -shm files beside the database) and an existing file can be written."""
    reason = read_only_reason(path.parent)
    if reason is not None:
        raise StoreError(path, f"{reason}, and SQLite needs to create files beside the database",
                         "make the directory writable for this user, or set settings.database to a writable "
                         "place (read-only commands such as `sources list` and `digest --preview` still work)")
    if path.exists() and not os.access(path, os.W_OK):
        raise StoreError(path, "is read-only (file permissions)",
                         "make it writable for this user (chmod u+w), or use only read-only commands "
                         "(`sources list`, `digest --preview`)")


def check_creatable(path: Path) -> None:
    """A missing database can be created: its nearest existing ancestor takes new files."""
    existing = next((p for p in path.absolute().parents if p.exists()), None)
    if existing is None:
        return
    reason = read_only_reason(existing)
    if reason is not None:
        raise StoreError(path, f"cannot be created: it {reason}",
                         "create the directory and make it writable, or set settings.database to a writable place")


def explain(path: Path, exc: sqlite3.Error) -> StoreError:
    """SQLite's error, said for a person."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    if name == "SQLITE_NOTADB" or "file is not a database" in text:
        return StoreError(path, NOT_A_DATABASE, RESTORE)
    if name.startswith("SQLITE_CORRUPT") or "malformed" in text:
        return StoreError(path, CORRUPT, RESTORE)
    if name.startswith("SQLITE_READONLY") or "readonly database" in text:
        return StoreError(path, "is read-only (file permissions or a read-only mount)",
                          "make the file and its directory writable for this user")
    if name.startswith("SQLITE_CANTOPEN") or "unable to open" in text:
        return StoreError(path, "cannot be opened", "check that its directory exists and that this user "
                                                    "may read and write there")
    if name.startswith("SQLITE_FULL") or "disk is full" in text:
        return StoreError(path, "cannot be written: the disk is full", "free some space and run the command again")
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        return StoreError(path, "stayed locked by another process", "run the command again in a moment")
    if name.startswith("SQLITE_IOERR") or name == "SQLITE_PERM":
        return StoreError(path, f"cannot be read or written (SQLite: {text})", "check the file and its disk")
    return StoreError(path, f"failed (SQLite: {text})")


def is_database_fault(exc: BaseException) -> bool:
    """An sqlite3 error that is about the file (not a bug in a query)."""
    return (isinstance(exc, sqlite3.DatabaseError)
            and not isinstance(exc, (sqlite3.ProgrammingError, sqlite3.IntegrityError, sqlite3.InterfaceError,
                                     sqlite3.DataError)))


def unreadable_wal(path: Path) -> bool:
    """Changes not yet checkpointed into the file sit in its -wal file."""
    try:
        return os.path.getsize(f"{path}-wal") > 0
    except OSError as exc:
        return exc.errno not in (errno.ENOENT, errno.ENOTDIR)
