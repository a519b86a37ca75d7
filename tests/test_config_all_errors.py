"""Config errors (issue 15): every mistake of sources.yaml at once (up to 20), each with file, line
and key; a ${SECRET} that is not set blocks only what uses it (that source, that channel): poll,
classify, extract and sources list run on, `monitor check` reports it as an error."""

from __future__ import annotations

import asyncio
import json
import logging
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.clock import utc_now
from monitor.delivery import Dispatcher
from monitor.store import Store
from monitor.config import MAX_ERRORS, ConfigError, ConfigErrors, load_config, parse_config
from tests.conftest import FixedClock, fixture_bytes
from tests.support.receiver import Receiver
from tests.support.server import Reply

UNSET = "MONITOR_TEST_UNSET_SECRET"
RSS = {"Content-Type": "application/rss+xml"}


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    monkeypatch.delenv(UNSET, raising=False)
    monkeypatch.delenv("MONITOR_CONFIG", raising=False)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def write(folder: Path, text: str) -> Path:
    path = folder / "sources.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


MANY = """
    settings:
      timezone: Europe/Kyiw
      fetch: {retries: -1, conect_timeout: 5s}
    sources:
      - name: A
        type: rss
        url: ftp://a.example/feed
        intervall: 5m
      - name: B
        type: rsss
        url: https://b.example/
      - name: A
        type: rss
        url: https://a.example/other
        tags: [en]
    channels:
      chat: {type: slak}
      mail: {type: email, host: smtp.example.org, from: a@example.org}
    digests:
      - name: daily
        schedule: "0 25 * * *"
      - name: weekly
        channels: [chat, nope]
        tags: [en, xx]
    alerts:
      - name: urgent
        topics: [deported-kids]
    """

EXPECTED = [  # (line, key, a phrase): in the order of the file
    (2, "settings.timezone", "did you mean 'Europe/Kyiv'?"),
    (3, "settings.fetch.retries", "greater than or equal to 0"),
    (3, "settings.fetch.conect_timeout", "did you mean 'connect_timeout'?"),
    (7, "sources[0].url", "must start with http:// or https://"),
    (8, "sources[0].intervall", "did you mean 'interval'?"),
    (10, "sources[1].type", "unknown source type 'rsss'"),
    (12, "sources[2].name", "duplicate source name 'A' (first used on line 5)"),
    (17, "channels.chat.type", "unknown channel type 'slak'"),
    (18, "channels.mail.to", "required key 'to' is missing"),
    (21, "digests[0].schedule", "not a valid cron schedule"),
    (23, "digests[1].channels[1]", "unknown channel 'nope'"),
    (24, "digests[1].tags[1]", "unknown tag 'xx'"),
    (27, "alerts[0].topics[0]", "unknown topic 'deported-kids'"),
]


def test_every_error_of_the_file_is_reported_at_once_in_file_order(tmp_path):
    path = write(tmp_path, MANY)
    with pytest.raises(ConfigErrors) as caught:
        load_config(path)
    errors = caught.value.errors
    assert [(e.line, e.key) for e in errors] == [(line, key) for line, key, _ in EXPECTED]
    for error, (_, _, phrase) in zip(errors, EXPECTED):
        assert phrase in error.message and error.path == str(path)
    # Read as a single ConfigError, it is the first one.
    assert (caught.value.line, caught.value.key) == (2, "settings.timezone")

    result = CliRunner().invoke(cli, ["--config", str(path), "check"])
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == len(EXPECTED)
    for line, (number, key, phrase) in zip(lines, EXPECTED):
        assert line.startswith(f"error: {path}:{number}: {key}: ") and phrase in line, line


def test_a_mistake_is_reported_once_not_again_by_what_follows_from_it(tmp_path):
    # A source that fails to validate still lends its tags; a channel that fails, its name; an
    # unknown key offered as 'sources' needs no "sources is missing" as well.
    path = write(tmp_path, """
        source:
          - {name: A, type: rss, url: "https://a.example/"}
        """)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert not isinstance(caught.value, ConfigErrors)
    assert "did you mean 'sources'?" in caught.value.message
    path = write(tmp_path, """
        sources:
          - {name: A, type: rss, url: "ftp://a.example/", tags: [en]}
        channels:
          mail: {type: email, host: smtp.example.org, from: a@example.org}
        digests:
          - {name: daily, channels: [mail], tags: [en]}
        """)
    with pytest.raises(ConfigErrors) as caught:
        load_config(path)
    assert [e.key for e in caught.value.errors] == ["sources[0].url", "channels.mail.to"]


def test_at_most_20_errors_are_shown_then_how_many_more(tmp_path):
    entries = "".join(f"  - {{name: S{n}, type: rss, url: 'ftp://s{n}.example/'}}\n" for n in range(30))
    path = tmp_path / "sources.yaml"
    path.write_text("sources:\n" + entries, encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(path), "check"])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == MAX_ERRORS + 1 == 21
    assert lines[0].startswith(f"error: {path}:2: sources[0].url: ")
    assert lines[19].startswith(f"error: {path}:21: sources[19].url: ")
    assert lines[20] == f"error: {path}: … and 10 more errors not shown; fix these first"


def test_a_yaml_syntax_error_ends_the_list_where_reading_stops(tmp_path):
    path = write(tmp_path, """
        sources:
          - name: A
            url: https://a.example/feed: x
        """)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "YAML syntax error" in caught.value.message and caught.value.line == 3


# --- a ${SECRET} that is not set ------------------------------------------------------------------

def secret_config(tmp_path, server, hook_url: str = "http://127.0.0.1:9/") -> Path:
    server.route("/en", Reply(body=fixture_bytes("feeds/en-rss2.xml"), headers=RSS))
    return write(tmp_path, f"""
        settings:
          database: data/monitor.db
          fetch: {{retries: 0}}
        sources:
          - {{name: Ledger, type: rss, url: "{server.url('/en')}"}}
          - name: Private
            type: rss
            url: "{server.url('/private')}?token=${{{UNSET}}}"
        channels:
          files: {{type: file, path: digests}}
          hook: {{type: webhook, url: "{hook_url}", secret: "${{{UNSET}}}"}}
        digests:
          - {{name: daily, send_empty: true}}
        """)


def test_check_reports_each_unset_variable_as_an_error(tmp_path, server):
    path = secret_config(tmp_path, server)
    result = CliRunner().invoke(cli, ["--config", str(path), "check"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {path}:8: sources[1].url: environment variable {UNSET} is not set (referenced as ${{{UNSET}}}; "
        f"set it or write ${{{UNSET}:-default}})",
        f"error: {path}:11: channels.hook.secret: environment variable {UNSET} is not set (referenced as "
        f"${{{UNSET}}}; set it or write ${{{UNSET}:-default}})",
    ]


def test_an_unset_variable_blocks_only_its_source_and_its_channel(tmp_path, server):
    path = secret_config(tmp_path, server)
    config = load_config(path, strict=False)
    assert set(config.unavailable_sources) == {"Private"} and set(config.unavailable_channels) == {"hook"}
    assert not config.source("Private").enabled and config.source("Ledger").enabled
    assert [e.key for e in config.missing] == ["sources[1].url", "channels.hook.secret"]

    run = CliRunner()
    polled = run.invoke(cli, ["--config", str(path), "poll"])
    assert polled.exit_code == 0, polled.output
    assert f"warning: {path}:8: sources[1].url: environment variable {UNSET} is not set" in polled.stderr
    assert "source 'Private' is not polled until it is set" in polled.stderr
    assert "channel 'hook' delivers nothing until it is set" in polled.stderr
    rows = {line.split()[0]: line.split() for line in polled.stdout.splitlines()[2:4]}
    assert rows["Ledger"][1:3] == ["ok", "3"] and rows["Private"][1] == "skipped"
    assert polled.stdout.splitlines()[-1] == "1 sources polled, 3 new items, 1 matched, 0 failing, 1 skipped"
    assert not any(r.path.startswith("/private") for r in server.requests)  # never asked for

    listed = run.invoke(cli, ["--config", str(path), "sources", "list"])
    assert listed.exit_code == 0
    assert any(line.split()[:4] == ["Private", "rss", "30m", "unavailable"] for line in listed.stdout.splitlines())

    classified = run.invoke(cli, ["--config", str(path), "classify", "-"],
                            input=json.dumps({"id": 1, "title": "Russia deported Ukrainian children",
                                              "text": "Children were deported to Russia from occupied Kherson."}))
    assert classified.exit_code == 0 and json.loads(classified.stdout)["match"] is True

    page = tmp_path / "page.html"
    page.write_text("<html><head><title>A page</title></head><body><article><p>Some words of text.</p>"
                    "</article></body></html>", encoding="utf-8")
    extracted = run.invoke(cli, ["--config", str(path), "extract", str(page)])
    assert extracted.exit_code == 0 and "title:     A page" in extracted.stdout

    # The digest reaches the files; the hook's batch waits for its secret, and says why.
    sent = run.invoke(cli, ["--config", str(path), "digest", "--now"])
    assert sent.exit_code == 0, sent.output
    assert "→ files: 1 stories, delivered" in sent.stdout
    assert f"→ hook: 1 stories, NOT delivered (will retry): channel 'hook' cannot be used: environment variable " \
           f"{UNSET} is not set" in sent.stdout
    tested = run.invoke(cli, ["--config", str(path), "channels", "test", "hook"])
    assert tested.exit_code == 2 and "channel 'hook' cannot be used until it is set" in tested.stderr


def test_once_the_variable_is_set_the_waiting_digest_goes_out(tmp_path, server, monkeypatch):
    with Receiver() as hook:
        path = secret_config(tmp_path, server, hook.url("/hook"))
        run = CliRunner()
        assert run.invoke(cli, ["--config", str(path), "poll"]).exit_code == 0
        first = run.invoke(cli, ["--config", str(path), "digest", "--now"])
        assert "→ hook: 1 stories, NOT delivered" in first.stdout and hook.accepted == []
        monkeypatch.setenv(UNSET, "s3cret-value-9")
        assert run.invoke(cli, ["--config", str(path), "check"]).exit_code == 0
        # The batch kept its place in the outbox and goes out at its next attempt.
        config = load_config(path)
        store = Store(config.database_path)
        try:
            [waiting] = store.pending_batches()
            assert waiting.channel == "hook" and f"environment variable {UNSET} is not set" in waiting.last_error
            later = FixedClock(utc_now() + timedelta(hours=2))
            [report] = asyncio.run(Dispatcher(config, store, now=later).flush())
        finally:
            store.close()
        assert report.delivered and report.channel == "hook"
        [post] = hook.accepted
    assert len(post.json()["stories"]) == 1


def test_an_unset_variable_anywhere_else_is_an_error_for_every_command(tmp_path):
    path = write(tmp_path, f"""
        settings:
          contact: "${{{UNSET}}}"
        sources:
          - {{name: A, type: rss, url: "https://a.example/"}}
        """)
    for args in (["poll"], ["sources", "list"], ["check"]):
        result = CliRunner().invoke(cli, ["--config", str(path), *args])
        assert result.exit_code == 2, args
        assert result.stderr.startswith(f"error: {path}:2: settings.contact: environment variable {UNSET} is not set")
    with pytest.raises(ConfigError):
        parse_config(path.read_text("utf-8"), path, strict=False)
