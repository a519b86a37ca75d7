"""Database faults, made for real: a truncated or garbage file, a schema from a newer monitor, a
SQLite file that is not monitor's, a path below a regular file, a read-only file, directory or
mount. Every verb that opens the database says so in one line naming the file, exits 3, and
prints no traceback; the read-only verbs (`sources list`, `digest --preview`) still work on a
read-only database and never write to it. Run through the real CLI (click's runner, or a process).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.dbfile import Database
from monitor.migrations import MIGRATIONS
from monitor.store import Store, StoreError
from tests.conftest import fixture_bytes
from tests.support.server import Reply

RSS = {"Content-Type": "application/rss+xml"}

VERBS = {
    "check": ["check"],
    "poll": ["poll"],
    "run": ["run"],
    "sources list": ["sources", "list"],
    "digest --preview": ["digest", "--preview"],
    "digest --now": ["digest", "--now"],
}
READ_ONLY_VERBS = ["sources list", "digest --preview"]
WRITE_VERBS = ["poll", "run", "digest --now"]


# --- helpers -------------------------------------------------------------------------------------

def write_config(directory: Path, database: str, feed_url: str) -> Path:
    path = directory / "sources.yaml"
    path.write_text(f"""
settings:
  database: {database}
  fetch: {{retries: 0}}
sources:
  - {{name: Ledger, type: rss, url: "{feed_url}", tags: [en]}}
""")
    return path


def invoke(config: Path, verb: str):
    return CliRunner().invoke(cli, ["--config", str(config), *VERBS[verb]])


def populated(tmp_path: Path, server, database: str = "data/monitor.db") -> tuple[Path, Path]:
    """A config and the database a real poll stored (3 items), closed cleanly (no -wal left)."""
    server.route("/en", Reply(body=fixture_bytes("feeds/en-rss2.xml"), headers=RSS))
    config = write_config(tmp_path, database, server.url("/en"))
    result = invoke(config, "poll")
    assert result.exit_code == 0, result.output
    db = tmp_path / database
    assert db.is_file() and not Path(f"{db}-wal").exists()
    return config, db


def assert_database_error(result, db: Path, *phrases: str) -> None:
    """Exit 3, and stderr is one line: `error: database PATH …` with the phrases, no traceback."""
    assert result.exit_code == 3, (result.exit_code, result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: database {db} "), lines[0]
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    assert "Traceback" not in result.output + result.stderr


def truncate(db: Path) -> None:
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2])


def garbage(db: Path) -> None:
    db.write_bytes(b"<html><body>not a database at all</body></html>\n" * 40)


def newer_schema(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.commit()
    conn.close()


def foreign_sqlite(db: Path) -> None:
    db.unlink()
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.commit()
    conn.close()


FILE_FAULTS = {
    "truncated": (truncate, "is corrupt"),
    "garbage": (garbage, "is not a SQLite database"),
    "newer-schema": (newer_schema, f"newer than this monitor knows ({len(MIGRATIONS)})"),
    "not-monitors": (foreign_sqlite, "not monitor's"),
}


# --- a damaged file, a newer schema, a path below a file: every verb, one line, exit 3 ----------

@pytest.mark.parametrize("verb", list(VERBS))
@pytest.mark.parametrize("fault", list(FILE_FAULTS))
def test_every_verb_reports_a_bad_database_file_in_one_line_and_leaves_it_alone(tmp_path, server, fault, verb):
    config, db = populated(tmp_path, server)
    damage, phrase = FILE_FAULTS[fault]
    damage(db)
    before = db.read_bytes()
    result = invoke(config, verb)
    assert_database_error(result, db, phrase)
    assert db.read_bytes() == before  # nothing migrated over it, nothing overwritten


@pytest.mark.parametrize("verb", list(VERBS))
def test_every_verb_reports_a_database_path_below_a_regular_file(tmp_path, server, verb):
    (tmp_path / "notes.txt").write_text("just notes\n")
    config = write_config(tmp_path, "notes.txt/monitor.db", server.url("/en"))
    result = invoke(config, verb)
    assert_database_error(result, tmp_path / "notes.txt" / "monitor.db",
                          f"is below {tmp_path / 'notes.txt'}, which is a file, not a directory")
    assert (tmp_path / "notes.txt").read_text() == "just notes\n"


def test_a_real_process_prints_one_line_and_exits_3(tmp_path, server):
    config, db = populated(tmp_path, server)
    garbage(db)
    proc = subprocess.run([sys.executable, "-m", "monitor", "--config", str(config), "poll"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 3, proc
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"error: database {db} is not a SQLite database (corrupt, truncated or another kind of file): restore it "
        "from a backup, or move it aside and monitor starts an empty one (`sqlite3 FILE .recover` may save what "
        "is left)"]


def test_check_finds_a_damaged_page_that_opening_does_not(tmp_path, server):
    config, db = populated(tmp_path, server)
    data = bytearray(db.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    data[page_size:2 * page_size] = b"\xff" * page_size  # page 2: the first table's root
    db.write_bytes(bytes(data))
    result = invoke(config, "check")
    assert_database_error(result, db, "is corrupt")
    assert result.stdout.startswith(f"{config}: OK, 1 sources")  # the configuration itself is fine


def test_check_describes_a_usable_database_and_creates_nothing(tmp_path, server):
    config, db = populated(tmp_path, server)
    result = invoke(config, "check")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith(f"database {db} (schema version {len(MIGRATIONS)}, 3 items)")

    (tmp_path / "elsewhere").mkdir()
    fresh = write_config(tmp_path / "elsewhere", "state/new/monitor.db", "https://ledger.example/feed")
    result = invoke(fresh, "check")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith(f"database {tmp_path / 'elsewhere' / 'state/new/monitor.db'}")
    assert not (tmp_path / "elsewhere" / "state").exists()  # check writes nothing



def damage_page(db: Path, page: int) -> None:
    data = bytearray(db.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    data[(page - 1) * page_size:page * page_size] = b"\xff" * page_size
    db.write_bytes(bytes(data))


def test_check_reads_the_first_pages_of_a_large_databases_tables_and_says_so(tmp_path, server, monkeypatch):
    """A year of history is a gigabyte, and quick_check of every page took 15.7 s of `monitor check`
    on 480,000 items (0.25 s now). Beyond FULL_CHECK_BYTES check reads each table's first pages and
    says so; --full reads every page."""
    import monitor.store

    config, db = populated(tmp_path, server)
    monkeypatch.setattr(monitor.store, "FULL_CHECK_BYTES", 0)  # this database counts as a large one
    result = invoke(config, "check")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith(
        f"database {db} (schema version {len(MIGRATIONS)}, 3 items; the first pages of its tables read "
        "(`monitor check --full` reads every page))")
    full = CliRunner().invoke(cli, ["--config", str(config), "check", "--full"])
    assert full.exit_code == 0, full.output
    assert full.stdout.strip().endswith(f"database {db} (schema version {len(MIGRATIONS)}, 3 items)")

    damage_page(db, 2)  # the first table's root: still found
    assert_database_error(invoke(config, "check"), db, "is corrupt")


def test_check_full_finds_a_damaged_index_page(tmp_path, server, monkeypatch):
    import monitor.store

    config, db = populated(tmp_path, server)
    with sqlite3.connect(db) as conn:
        (page,) = conn.execute("SELECT max(rootpage) FROM sqlite_master WHERE type = 'index'").fetchone()
    conn.close()
    damage_page(db, page)
    monkeypatch.setattr(monitor.store, "FULL_CHECK_BYTES", 0)
    result = CliRunner().invoke(cli, ["--config", str(config), "check", "--full"])
    assert_database_error(result, db, "is corrupt")

# --- an older schema: read-only verbs read it as it is, the next write upgrades it ----------------

def test_an_older_schema_is_read_as_is_and_upgraded_by_the_next_write(tmp_path, server):
    server.route("/en", Reply(body=fixture_bytes("feeds/en-rss2.xml"), headers=RSS))
    config = write_config(tmp_path, "data/monitor.db", server.url("/en"))
    db = tmp_path / "data" / "monitor.db"
    db.parent.mkdir()  # a first-release database: schema version 1 only
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    MIGRATIONS[0](Database(conn))
    conn.execute("PRAGMA user_version = 1")
    conn.close()

    listing = invoke(config, "sources list")
    assert listing.exit_code == 0, listing.output
    assert listing.stderr.strip() == (
        f"note: database {db} has schema version 1, older than this monitor's ({len(MIGRATIONS)}); it is read as "
        "it is, and the next write command (monitor poll, monitor run, monitor digest --now) upgrades it")
    # The digest needs tables a later schema added: one line saying what to do.
    preview = invoke(config, "digest --preview")
    assert preview.exit_code == 3
    assert preview.stderr.strip().splitlines()[-1] == (
        f"error: database {db} has schema version 1, older than this monitor's ({len(MIGRATIONS)}), and a "
        "read-only command does not upgrade it: run a write command (monitor poll) once to upgrade it")
    assert _user_version(db) == 1  # the read-only verbs migrated nothing

    assert invoke(config, "poll").exit_code == 0
    assert _user_version(db) == len(MIGRATIONS)
    preview = invoke(config, "digest --preview")
    assert preview.exit_code == 0 and preview.stderr == ""


def _user_version(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


# --- missing directory -----------------------------------------------------------------------------

def test_a_write_command_creates_a_missing_directory_a_read_only_one_does_not(tmp_path, server):
    server.route("/en", Reply(body=fixture_bytes("feeds/en-rss2.xml"), headers=RSS))
    config = write_config(tmp_path, "state/deep/monitor.db", server.url("/en"))
    for verb in READ_ONLY_VERBS:
        result = invoke(config, verb)
        assert result.exit_code == 0, result.output
    assert not (tmp_path / "state").exists()
    assert invoke(config, "poll").exit_code == 0
    assert (tmp_path / "state" / "deep" / "monitor.db").is_file()
    listing = invoke(config, "sources list")
    assert listing.exit_code == 0 and "Ledger  rss   30m    ok      3" in listing.stdout


# --- SQLite's own read-only open (any user) --------------------------------------------------------

def test_a_read_only_store_reads_and_refuses_to_write(tmp_path, server):
    _, db = populated(tmp_path, server)
    before = db.read_bytes()
    store = Store(db, read_only=True)
    try:
        assert [h.items for h in store.source_health()] == [3]
        with pytest.raises(sqlite3.OperationalError):
            store.record_digest_time("daily", datetime.now(timezone.utc))
    finally:
        store.close()
    assert db.read_bytes() == before


def test_two_openers_migrating_at_once_do_not_collide(tmp_path):
    for attempt in range(10):
        path = tmp_path / f"m{attempt}.db"
        errors: list[BaseException] = []

        def open_it():
            try:
                Store(path).close()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=open_it) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert _user_version(path) == len(MIGRATIONS)


# --- a read-only mount (root in CI: chmod would not stop root, a mount does) -------------------------

@pytest.fixture
def mount_point(tmp_path):
    """A tmpfs at tmp_path/ro; call .freeze() to remount it read-only. Skips where mounting is not
    allowed (not root, or no CAP_SYS_ADMIN in this container)."""
    point = tmp_path / "ro"
    point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a read-only tmpfs needs root (the chmod tests cover read-only files for other users)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(point)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode})")

    class Mount:
        path = point

        @staticmethod
        def freeze():
            subprocess.run(["mount", "-o", "remount,ro", str(point)], check=True)

        @staticmethod
        def thaw():
            subprocess.run(["mount", "-o", "remount,rw", str(point)], check=True)

    try:
        yield Mount
    finally:
        if subprocess.run(["umount", str(point)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(point)], capture_output=True)


def test_read_only_mount_read_verbs_work_write_verbs_say_so(tmp_path, server, mount_point):
    config, db = populated(tmp_path, server, "ro/monitor.db")
    mount_point.freeze()
    before = db.read_bytes()

    listing = invoke(config, "sources list")
    assert listing.exit_code == 0, listing.output
    assert "Ledger  rss   30m    ok      3" in listing.stdout
    preview = invoke(config, "digest --preview")
    assert preview.exit_code == 0, preview.output
    assert "daily" in preview.stdout

    for verb in [*WRITE_VERBS, "check"]:
        assert_database_error(invoke(config, verb), db, f"is on a read-only file system ({db.parent})")
    assert db.read_bytes() == before
    assert sorted(p.name for p in db.parent.iterdir()) == ["monitor.db"]  # no -wal/-shm could be made


def test_read_only_mount_with_changes_still_in_the_wal(tmp_path, server, mount_point):
    config, db = populated(tmp_path, server, "ro/monitor.db")
    staged = tmp_path / "staged"
    staged.mkdir()
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("UPDATE sources SET items_total = 42 WHERE name = 'Ledger'")
    for suffix in ("", "-wal", "-shm"):
        staged.joinpath(f"monitor.db{suffix}").write_bytes(Path(f"{db}{suffix}").read_bytes())
    writer.close()  # checkpoints into the mount's file: put the staged, un-checkpointed state back
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").write_bytes(staged.joinpath(f"monitor.db{suffix}").read_bytes())
    Path(f"{db}-shm").unlink()
    mount_point.freeze()

    # Without its -shm, SQLite cannot read the -wal on a read-only mount: say so, never show stale data.
    assert_database_error(invoke(config, "sources list"), db, "has changes not yet written into it",
                          "run a write command (monitor poll) once where the directory is writable")

    mount_point.thaw()
    Path(f"{db}-shm").write_bytes(staged.joinpath("monitor.db-shm").read_bytes())
    mount_point.freeze()
    listing = invoke(config, "sources list")  # with both files there, mode=ro reads the -wal's changes
    assert listing.exit_code == 0, listing.output
    assert "Ledger  rss   30m    ok      42" in listing.stdout


# --- chmod: real for any user but root ----------------------------------------------------------------

def _not_root():
    if os.geteuid() == 0:
        pytest.skip("running as root: file modes do not stop root's writes, so chmod cannot make this fault "
                    "(the read-only mount tests cover it)")


def test_read_only_file_chmod_0444(tmp_path, server):
    _not_root()
    config, db = populated(tmp_path, server)
    db.chmod(0o444)
    try:
        listing = invoke(config, "sources list")
        assert listing.exit_code == 0, listing.output
        assert "Ledger  rss   30m    ok      3" in listing.stdout
        assert invoke(config, "digest --preview").exit_code == 0
        for verb in [*WRITE_VERBS, "check"]:
            assert_database_error(invoke(config, verb), db, "is read-only (file permissions)")
    finally:
        db.chmod(0o644)


def test_read_only_directory_chmod_0555(tmp_path, server):
    _not_root()
    config, db = populated(tmp_path, server)
    db.parent.chmod(0o555)
    try:
        listing = invoke(config, "sources list")  # read as immutable: no -shm can be created
        assert listing.exit_code == 0, listing.output
        assert "Ledger  rss   30m    ok      3" in listing.stdout
        assert invoke(config, "digest --preview").exit_code == 0
        for verb in [*WRITE_VERBS, "check"]:
            assert_database_error(invoke(config, verb), db, f"is in a directory this user cannot write to ({db.parent})")
        assert sorted(p.name for p in db.parent.iterdir()) == ["monitor.db"]
    finally:
        db.parent.chmod(0o755)


def test_store_error_is_one_line_naming_the_path(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(StoreError) as caught:
        Store(tmp_path / "f" / "m.db")
    assert str(caught.value) == (f"database {tmp_path / 'f' / 'm.db'} is below {tmp_path / 'f'}, which is a file, "
                                 "not a directory: set settings.database to a path inside a directory")


def test_an_opener_waits_while_another_process_holds_the_write_lock_of_a_new_database(tmp_path):
    # The switch to WAL mode needs the file to itself, and SQLite does not wait for it: an opener
    # that found another one writing the fresh (not yet WAL) file failed with "stayed locked".
    path = tmp_path / "fresh.db"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys, time\n"
         f"c = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
         "c.execute('CREATE TABLE t(x)'); c.execute('DROP TABLE t')\n"
         "c.execute('BEGIN IMMEDIATE')\n"
         "print('locked', flush=True)\n"
         "time.sleep(0.5)\n"
         "c.execute('COMMIT')\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        Store(path).close()
    finally:
        holder.wait(timeout=30)
    assert _user_version(path) == len(MIGRATIONS)
