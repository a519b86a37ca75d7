"""Compiled topics kept on disk between runs.

Compiling the shipped topic parses a long query and expands each Ukrainian and Russian word into
all its forms with pymorphy3's dictionaries: 0.6 s of CPU, in every process that classifies (each
`monitor poll`, the document workers' fork server, `monitor classify`). The result is plain data
(monitor.topics.query nodes), so it is pickled once and read back in milliseconds; pymorphy3 is
then not even loaded.

An entry is found by a digest of everything the result depends on: the topic's text and options,
this package's code, the Python version, and the installed parsing and morphology libraries (their
files' sizes and times: a reinstall or upgrade changes them). A change to any of these is a miss,
never a stale topic. The folder is `$MONITOR_CACHE_DIR/topics` (`off` turns the cache off), else
`$XDG_CACHE_HOME/monitor/topics`, else `~/.cache/monitor/topics`. A cache that cannot be read or
written is skipped: the topic is compiled as before. Entries are read only from a folder that
belongs to this user and that nobody else can write to, since unpickling runs what the file says.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import logging
import os
import pickle
import stat
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

CACHE_ENV = "MONITOR_CACHE_DIR"
KEEP = 64  # entries kept; the oldest are removed past that (each edit of a topic makes one)
# Libraries whose behaviour is part of a compiled topic: the query parser and the morphology.
_LIBRARIES = ("luqum", "ply", "snowballstemmer", "pymorphy3", "pymorphy3_dicts_ru", "pymorphy3_dicts_uk",
              "dawg_python")


def cache_folder() -> Path | None:
    configured = os.environ.get(CACHE_ENV)
    if configured is not None:
        return None if configured.strip() in ("", "off") else Path(configured) / "topics"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "monitor" / "topics"


@functools.cache
def _build_digest() -> bytes:
    """What every compiled topic depends on besides its own text (once per process: ~1 ms)."""
    digest = hashlib.sha256(sys.version.encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    for name in _LIBRARIES:
        spec = importlib.util.find_spec(name)  # finds the package without importing it
        origin = spec.origin if spec is not None else None
        try:
            info = os.stat(origin) if origin else None
        except OSError:
            info = None
        digest.update(f"{name}={origin}:{info and info.st_size}:{info and info.st_mtime_ns}\0".encode())
    return digest.digest()


def cached(key: tuple, build: Callable[[], T]) -> T:
    """build(), or what it returned for the same key before (in any process of this user)."""
    folder = cache_folder()
    if folder is None:
        return build()
    path = folder / (hashlib.sha256(_build_digest() + repr(key).encode()).hexdigest() + ".pickle")
    found = _read(folder, path)
    if found is not None:
        return found
    value = build()  # an error (a topic's syntax error) propagates, and nothing is kept
    _write(folder, path, value)
    return value


def _private(info: os.stat_result) -> bool:
    return info.st_uid == os.getuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _read(folder: Path, path: Path):
    try:
        if not _private(os.stat(folder)):
            log.debug("topic cache %s: not private to this user, not read", folder)
            return None
        with open(path, "rb") as f:
            if not _private(os.fstat(f.fileno())):
                return None
            return pickle.load(f)  # noqa: S301  (a private folder: see the module's docstring)
    except FileNotFoundError:
        return None
    except Exception as err:  # noqa: BLE001  a damaged or foreign entry is a miss: compiled again, rewritten
        log.debug("topic cache %s unreadable (%s): compiling", path, err)
        return None


def _write(folder: Path, path: Path, value: object) -> None:
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")  # mode 0600
        try:
            with os.fdopen(descriptor, "wb") as f:
                pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, path)  # whole or not at all, for a process reading it now
        except BaseException:
            os.unlink(temporary)
            raise
        _prune(folder)
    except Exception as err:  # noqa: BLE001  a full disk or a read-only home: the cache is an aid, not a need
        log.debug("topic cache %s not written (%s)", folder, err)


def _prune(folder: Path) -> None:
    """Past KEEP entries the oldest go, and so do the half-written files of a process killed while
    it wrote one. Another process may be pruning too: what is gone already is skipped."""
    entries, stale_before = [], time.time() - 3600
    for path in folder.glob("*.pickle"):
        with contextlib.suppress(FileNotFoundError):
            entries.append((path.stat().st_mtime_ns, path))
    for _, old in sorted(entries)[:-KEEP]:
        old.unlink(missing_ok=True)
    for partial in folder.glob(".*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            if partial.stat().st_mtime < stale_before:
                partial.unlink()
