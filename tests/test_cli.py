"""The `monitor` verbs, run as a user would (click's runner, real server, real SQLite file)."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from monitor.cli import cli
from tests.conftest import fixture_bytes
from tests.support.server import Reply, free_port

RSS = {"Content-Type": "application/rss+xml"}


def config_file(tmp_path, server) -> str:
    server.route("/en", Reply(body=fixture_bytes("feeds/en-rss2.xml"), headers=RSS))
    server.route("/ru", Reply(body=fixture_bytes("feeds/ru-rss1.xml"), headers=RSS))
    path = tmp_path / "sources.yaml"
    path.write_text(f"""
settings:
  database: data/test.db
  fetch: {{retries: 0}}
sources:
  - {{name: Ledger, type: rss, url: "{server.url('/en')}", tags: [en]}}
  - {{name: Pravo, type: rss, url: "{server.url('/ru')}", interval: 2h}}
  - {{name: Down, type: rss, url: "http://127.0.0.1:{free_port()}/feed"}}
""")
    return str(path)


def test_poll_prints_a_table_and_a_failing_source_does_not_fail_the_command(tmp_path, server):
    path = config_file(tmp_path, server)
    result = CliRunner().invoke(cli, ["--config", path, "poll"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["source", "status", "new", "matched", "time", "note"]
    rows = {line.split()[0]: line.split() for line in lines[2:5]}
    assert rows["Ledger"][1:3] == ["ok", "3"] and rows["Pravo"][1:3] == ["ok", "2"]
    assert rows["Down"][1] == "failing" and "connection refused" in result.stdout
    assert lines[-1] == "3 sources polled, 5 new items, 2 matched, 1 failing"
    assert (tmp_path / "data" / "test.db").exists()  # relative to the config file


def test_poll_one_source_then_list_sources_with_health(tmp_path, server):
    path = config_file(tmp_path, server)
    result = CliRunner().invoke(cli, ["--config", path, "poll", "--source", "Pravo"])
    assert result.exit_code == 0 and "1 sources polled, 2 new items, 1 matched, 0 failing" in result.stdout
    listing = CliRunner().invoke(cli, ["--config", path, "sources", "list"])
    assert listing.exit_code == 0
    rows = {line.split()[0]: line.split() for line in listing.stdout.splitlines()[2:]}
    assert rows["Pravo"][1:5] == ["rss", "2h", "ok", "2"]
    assert rows["Ledger"][1:4] == ["rss", "30m", "new"]


def test_poll_unknown_source_is_a_usage_error(tmp_path, server):
    result = CliRunner().invoke(cli, ["--config", config_file(tmp_path, server), "poll", "--source", "Nope"])
    assert result.exit_code == 2 and "no source named 'Nope'" in result.output


def test_json_logs_for_machines(tmp_path, server):
    path = config_file(tmp_path, server)
    done = subprocess.run([sys.executable, "-m", "monitor", "--config", path, "--log-format", "json", "poll"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stderr.splitlines()]
    assert any(r["level"] == "warning" and "Down" in r["message"] for r in records)
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)


def test_help_reads_without_a_config(tmp_path):
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0 and "monitor poll" in result.output


def test_the_help_line_of_each_verb_is_the_verbs_own():
    from monitor.commands import VERBS

    for name in VERBS:
        command = cli.get_command(None, name)
        assert command is not None and command.name == name
        assert VERBS[name][1] == command.get_short_help_str(limit=500), name


def test_the_help_line_of_each_lazy_subcommand_is_its_own():
    from monitor.commands.sources import ADD, sources

    for name in ADD:
        command = sources.get_command(None, name)
        assert command is not None and ADD[name][1] == command.get_short_help_str(limit=500), name


def test_help_loads_no_library_the_verbs_need():
    """`monitor --help` imports no verb's module: not the configuration's models (pydantic), the
    HTTP client, the feed parser or the store."""
    code = ("import sys\nfrom monitor.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = ('pydantic', 'httpx', 'feedparser', 'monitor.store', 'monitor.config', 'monitor.topics')\n"
            "print('loaded:', *[m for m in heavy if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "loaded:"


def test_check_and_sources_list_load_no_library_only_a_poll_needs(tmp_path, server):
    """The two commands a person runs after editing sources.yaml read the configuration and the
    database only: not numpy (the story index needs it), the story index, the matcher, the HTTP
    client, the process pool, the charset detector or the feed parser. The database holds what a
    poll stored, stories included."""
    path = config_file(tmp_path, server)
    assert CliRunner().invoke(cli, ["--config", path, "poll"]).exit_code == 0
    heavy = ("numpy", "datasketch", "monitor.dedup", "monitor.topics.match", "monitor.fetch", "httpx",
             "multiprocessing", "charset_normalizer", "feedparser", "trafilatura")
    for verb in (["check"], ["sources", "list"]):
        code = (f"import sys\nfrom monitor.cli import main\ntry:\n    main(['--config', {path!r}, *{verb!r}])\n"
                f"except SystemExit as exit:\n    assert not exit.code, exit.code\n"
                f"print('loaded:', *[m for m in {heavy!r} if m in sys.modules])")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert out.splitlines()[-1] == "loaded:", verb


def test_a_poll_that_brings_nothing_new_loads_neither_the_matcher_nor_numpy(tmp_path, server):
    """Most polls of a running service find every feed unchanged: they fetch and remember, and
    need neither the matcher (nor its topics compiled), the story index's numpy, the extractor nor
    a document worker."""
    path = config_file(tmp_path, server)
    assert CliRunner().invoke(cli, ["--config", path, "poll"]).exit_code == 0
    heavy = ("numpy", "monitor.topics.match", "monitor.judge", "trafilatura")
    code = (f"import sys\nfrom monitor.cli import main\ntry:\n    main(['--config', {path!r}, 'poll'])\n"
            f"except SystemExit as exit:\n    assert not exit.code, exit.code\n"
            f"print('loaded:', *[m for m in {heavy!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "0 new items" in out
    assert out.splitlines()[-1] == "loaded:"
