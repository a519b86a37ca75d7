from __future__ import annotations

import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from monitor.fetch import FetchSettings
from monitor.sources import SourceConfig
from monitor.fetch import Fetcher
from monitor.store import Store
from tests.support.server import LocalServer

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
CORPORA = ROOT.parent / "shared" / "corpora"


def pytest_configure(config):
    # Compiled topics are cached per user (monitor/topics/cache.py): the tests, and the commands
    # they start, keep theirs in a folder of their own, never in the home of whoever runs them.
    if "MONITOR_CACHE_DIR" not in os.environ:
        config._monitor_cache = tempfile.mkdtemp(prefix="monitor-tests-cache-")
        os.environ["MONITOR_CACHE_DIR"] = config._monitor_cache


def pytest_unconfigure(config):
    folder = getattr(config, "_monitor_cache", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        del os.environ["MONITOR_CACHE_DIR"]


def fixture_bytes(relative: str) -> bytes:
    return (FIXTURES / relative).read_bytes()


def corpus(name: str) -> Path:
    """A folder of ../shared/corpora, or skip: a user's clone does not have it."""
    path = CORPORA / name
    if not path.is_dir():
        pytest.skip(f"corpus {name!r} not found at {path} (it sits beside the checkout in CI only)")
    return path


# Short limits and no real backoff: failures show up in milliseconds, not seconds.
FAST = FetchSettings(connect_timeout="2s", read_timeout="1s", total_timeout="5s", retries=0, backoff="0.01s",
                     respect_robots=True)


@pytest.fixture
def server():
    with LocalServer() as srv:
        yield srv


@pytest.fixture
def store(tmp_path):
    db = Store(tmp_path / "monitor.db")
    yield db
    db.close()


@pytest.fixture
def make_fetcher():
    def make(**overrides) -> Fetcher:
        settings = FetchSettings(**{**FAST.model_dump(), **overrides})
        return Fetcher(settings, "monitor-tests/0.1")
    return make


def rss_source(name: str, url: str, **extra) -> SourceConfig:
    return SourceConfig(name=name, type="rss", url=url, **extra)


class FixedClock:
    def __init__(self, when: datetime | None = None):
        self.when = when or datetime(2026, 11, 25, 6, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.when
