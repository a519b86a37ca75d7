"""A real PostgreSQL server for tests: Debian's binaries (initdb, pg_ctl), a throwaway data
directory, a free port on 127.0.0.1, trust authentication; started once per test session and
stopped at its end. Each test that asks for `pg_url` gets a database of its own, dropped after it.

PostgreSQL refuses to run as root: when the tests run as root, the server runs as the `postgres`
system user (Debian's package makes it), else as `nobody`. Without the binaries, or without psycopg,
the tests that need the server skip and say why.

MONITOR_TEST_POSTGRESQL=postgresql://user:password@host:port/db uses a server already running
instead (its user must be allowed to create databases); MONITOR_PG_BIN names the binaries' folder.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.support import waiting

START_PATIENCE = 60  # seconds: a guard against a server that never comes up, not a measurement


def find_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl: $MONITOR_PG_BIN, Debian's /usr/lib/postgresql/N/bin
    (the newest), or PATH."""
    candidates = [os.environ.get("MONITOR_PG_BIN", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                         key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    for folder in filter(None, candidates):
        if all(os.access(Path(folder) / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres")):
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unprivileged_user() -> pwd.struct_passwd | None:
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    return None


class PostgresServer:
    """One throwaway cluster. `admin_url` connects as its superuser to the `postgres` database."""

    def __init__(self, binaries: Path):
        self.binaries = binaries
        self.port = 0
        self.directory: Path | None = None
        self.user: pwd.struct_passwd | None = None
        self.admin_url = ""

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        options = {}
        if self.user is not None:
            options = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        return subprocess.run([str(self.binaries / args[0]), *args[1:]], capture_output=True, text=True,
                              check=check, cwd=self.directory, timeout=START_PATIENCE,
                              env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "HOME": str(self.directory)},
                              **options)

    def start(self) -> PostgresServer:
        if os.geteuid() == 0:
            self.user = _unprivileged_user()
            if self.user is None:
                raise RuntimeError("running as root and no unprivileged user (postgres, nobody) to run PostgreSQL as")
        # Not below pytest's tmp_path: /tmp/pytest-of-root is 0700 and the server's user must reach it.
        self.directory = Path(tempfile.mkdtemp(prefix="monitor-pg-"))
        if self.user is not None:
            os.chown(self.directory, self.user.pw_uid, self.user.pw_gid)
        data, sockets = self.directory / "data", self.directory / "sockets"
        self._run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8",
                  "--no-sync")
        sockets.mkdir()
        if self.user is not None:
            os.chown(sockets, self.user.pw_uid, self.user.pw_gid)
        # Durability off: a test cluster is thrown away, and fsyncs would cost every test seconds.
        settings = (f"-c listen_addresses=127.0.0.1 -c unix_socket_directories={sockets} "
                    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=60 "
                    "-c shared_buffers=32MB")
        last = ""
        for _ in range(5):  # another process may take the free port between the check and the start
            self.port = _free_port()
            done = self._run("pg_ctl", "start", "-w", "-t", str(START_PATIENCE), "-D", str(data),
                             "-l", str(self.directory / "server.log"), "-o", f"-p {self.port} {settings}",
                             check=False)
            if done.returncode == 0:
                break
            last = done.stdout + done.stderr + self.log()
        else:
            raise RuntimeError(f"PostgreSQL did not start: {last.strip()[-2000:]}")
        self.admin_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        return self

    def log(self) -> str:
        try:
            return (self.directory / "server.log").read_text(errors="replace")
        except (OSError, TypeError):
            return ""

    def stop(self) -> None:
        if self.directory is None:
            return
        if (self.directory / "data" / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "-D", str(self.directory / "data"), "-m", "immediate", "-w", check=False)
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory = None


class _Shared:
    """The session's server: started by the first test that needs it, stopped when the last
    module's fixture is finalized (each test module that imports the fixture holds a reference),
    or at exit at the latest."""

    lock = threading.Lock()
    server: PostgresServer | None = None
    admin_url: str | None = None
    failure: str | None = None
    users = 0

    @classmethod
    def acquire(cls) -> str:
        with cls.lock:
            if cls.failure:
                pytest.skip(cls.failure)
            if cls.admin_url is None:
                external = os.environ.get("MONITOR_TEST_POSTGRESQL")
                if external:
                    cls.admin_url = external
                else:
                    binaries = find_binaries()
                    if binaries is None:
                        cls.failure = ("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: install "
                                       "Debian's postgresql package, set MONITOR_PG_BIN to their folder, or set "
                                       "MONITOR_TEST_POSTGRESQL to a server's URL")
                        pytest.skip(cls.failure)
                    try:
                        cls.server = PostgresServer(binaries).start()
                    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                        detail = getattr(exc, "stderr", "") or ""
                        cls.failure = f"could not start a test PostgreSQL server: {exc} {detail}".strip()
                        pytest.skip(cls.failure)
                    atexit.register(cls.release, everything=True)
                    cls.admin_url = cls.server.admin_url
            cls.users += 1
            return cls.admin_url

    @classmethod
    def release(cls, everything: bool = False) -> None:
        with cls.lock:
            cls.users = 0 if everything else cls.users - 1
            if cls.users <= 0 and cls.server is not None:
                cls.server.stop()
                cls.server = None
                cls.admin_url = None


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin URL of the session's PostgreSQL server (skips without one)."""
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'monitor[postgresql]')")
    url = _Shared.acquire()
    yield url
    _Shared.release()


def create_database(admin_url: str) -> str:
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return with_database(admin_url, name)


def drop_database(admin_url: str, url: str) -> None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(postgres_server) -> str:
    """A fresh, empty database on the session's server, dropped after the test."""
    url = create_database(postgres_server)
    yield url
    drop_database(postgres_server, url)


@pytest.fixture(name="store")
def postgres_store(pg_url):
    """A PostgresStore on a fresh database (the fixture is named `store`, as the SQLite tests' is)."""
    from monitor.postgres.store import PostgresStore

    db = PostgresStore(pg_url)
    yield db
    db.close()


def wait_until(condition, what: str, timeout: float = START_PATIENCE) -> None:
    waiting.wait_until(condition, what, timeout)


def race(folder: Path, url: str, runs: list[list[str]]) -> list[dict]:
    """Start one process per run (tests/support/postgres_workers.py: [action, *args]) against the
    database at `url`, let them all go at once, and return what each printed (in run order)."""
    import json
    import sys

    root = Path(__file__).resolve().parents[2]
    folder.mkdir(parents=True, exist_ok=True)
    processes = [subprocess.Popen([sys.executable, "-m", "tests.support.postgres_workers", action, str(folder), url,
                                   *args], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for action, *args in runs]
    try:
        wait_until(lambda: len(list(folder.glob("ready-*"))) == len(processes)
                   or any(p.poll() is not None for p in processes), "the racing processes to be ready")
        (folder / "go").touch()
        results = []
        for process in processes:
            out, err = process.communicate(timeout=START_PATIENCE)
            assert process.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


ROOT = Path(__file__).resolve().parent.parent.parent


def start_monitor(config: Path, verb: str, log: Path, *args: str) -> subprocess.Popen:
    """`python -m monitor --config CONFIG VERB ARGS` from the checkout, its output in `log`, in a
    process group of its own (stop_monitors ends its document readers with it)."""
    return subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), verb, *args], cwd=ROOT,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)


def stop_monitors(processes: list[subprocess.Popen], patience: float = 40) -> None:
    """SIGTERM to those still running, `patience` seconds to finish, then SIGKILL to every one's
    process group: nothing a test started outlives it."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(patience)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def a_source_was_polled(url: str, process: subprocess.Popen, log: Path) -> bool:
    """Whether a source of the database at `url` has been polled; the process must still run."""
    import psycopg

    assert process.poll() is None, log.read_text(errors="replace")
    with psycopg.connect(url) as conn:
        if conn.execute("SELECT to_regclass('sources')").fetchone()[0] is None:
            return False
        return bool(conn.execute("SELECT count(*) FROM sources WHERE last_polled IS NOT NULL").fetchone()[0])
