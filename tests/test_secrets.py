"""Values from ${VAR} never leave the process: logs, the database, digests, payloads, tables, errors.

The acceptance test runs the real CLI in real processes against a local server whose private feed
answers 500, with the feed's token in its URL (and a trailing line break in the environment), then
looks for the token, in every encoding, in every output, every digest file and webhook payload, and
every column of every table of the SQLite file (and the file's raw bytes).
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import sqlite3
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote, quote_plus

import markupsafe
import pytest
from click.testing import CliRunner

from monitor import secrets
from monitor.cli import cli
from monitor.commands.context import table
from monitor.config import ConfigError, parse_config
from monitor.digest import DigestView, Renderer
from monitor.items import SourceHealth
from monitor.logs import setup_logging
from monitor.notify.markup import markdown_text
from monitor.secrets import Redactor
from tests.conftest import ROOT, fixture_bytes
from tests.support.receiver import Receiver
from tests.support.server import Reply

TOKEN = "tkn-7Hq2Zr9Wx+Lp4mQ/Vb8Ns=="
# Runs of letters and digits survive every encoding: finding one means part of the token leaked
# (a table cell cut in the middle of it, an encoding the redactor missed).
FRAGMENTS = ["7Hq2Zr9Wx", "Lp4mQ", "Vb8Ns"]
HOOK_SECRET = "hk-Sig9Kp3Lw7Tz"
HOOK_FRAGMENTS = ["Sig9Kp3Lw7Tz"]


def encoded_forms(value: str) -> set[str]:
    forms = set()
    for v in {value, value.strip()}:
        forms |= {v, quote(v), quote(v, safe=""), quote_plus(v), quote_plus(v, safe="/"),
                  json.dumps(v)[1:-1], json.dumps(v, ensure_ascii=False)[1:-1], repr(v)[1:-1], html.escape(v),
                  str(markupsafe.escape(v)), markdown_text(v), quote(quote(v, safe=""), safe="")}
    return forms


def leaks(text: str, value: str, fragments: list[str] | None = None) -> list[str]:
    """The forms of `value` (and the fragments of it, by default its runs of 4+ letters and digits)
    found in `text`."""
    fragments = re.findall(r"[^\W_]{4,}", value) if fragments is None else fragments
    return [form for form in encoded_forms(value) | set(fragments) if form and form in text]


@pytest.fixture(autouse=True)
def no_process_redactor():
    """Each test starts (and leaves the process) without installed secrets."""
    previous = secrets.install(Redactor())
    yield
    secrets.install(previous)


# --- the Redactor --------------------------------------------------------------------------------

ODD = 'Tok3n+/=s3cr "é&<x>@y_\'\\z🙂'


@pytest.mark.parametrize("value", [TOKEN, TOKEN + "\n", ODD, ODD + "\r\n", "ключ-доступу-42"])
def test_every_encoding_of_a_value_is_replaced_by_its_name(value: str):
    redactor = Redactor({"TOKEN": value})
    for form in encoded_forms(value):
        out = redactor(f"GET https://feeds.example/x?token={form} failed")
        # (Markdown folds a trailing line break to a space: "${TOKEN}  failed".)
        assert re.fullmatch(r"GET https://feeds\.example/x\?token=\$\{TOKEN\} +failed", out), (form, out)
        assert not leaks(out, value), (form, out)


def test_an_http_clients_own_query_encoding_and_lower_case_hex_are_found():
    import httpx

    redactor = Redactor({"TOKEN": ODD})
    for url in (str(httpx.URL("https://feeds.example/x", params={"token": ODD})),
                str(httpx.URL("https://feeds.example/x?token=" + ODD)),
                "https://feeds.example/x?token=" + re.sub("%..", lambda m: m[0].lower(), quote(ODD, safe=""))):
        assert redactor(url) == "https://feeds.example/x?token=${TOKEN}", url


def test_longest_secret_first_two_names_one_value_and_short_values_left_alone():
    redactor = Redactor({"HOST": "feeds.example", "URL": "https://feeds.example/x", "PORT": "80", "COPY": "feeds.example"})
    assert redactor("see https://feeds.example/x and feeds.example:80") == "see ${URL} and ${HOST}:80"
    assert redactor(None) is None and redactor("") == ""
    assert not Redactor() and not Redactor({"ON": "1"}) and Redactor({"K": "long enough"})
    assert "feeds" not in repr(redactor)  # a Redactor in a traceback shows names only


def test_the_process_redactor_is_installed_and_put_back():
    first = Redactor({"A": "alpha-secret"})
    previous = secrets.install(first)
    try:
        assert secrets.current() is first and secrets.redact("x alpha-secret") == "x ${A}"
    finally:
        assert secrets.install(previous) is first
    assert secrets.redact("x alpha-secret") == "x alpha-secret"


# --- configuration ------------------------------------------------------------------------------

def yaml_text(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


FEED = yaml_text("""
    sources:
      - name: Private
        type: rss
        url: https://feeds.example/x?token=${TOKEN}
    """)


def test_config_secrets_map_names_to_values_and_the_redactor_hides_them(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("TOKEN", TOKEN)
    config = parse_config(FEED, tmp_path / "sources.yaml")
    assert config.sources[0].url == f"https://feeds.example/x?token={TOKEN}"
    assert config.secrets == {"TOKEN": TOKEN}
    assert config.redactor(config.sources[0].url) == "https://feeds.example/x?token=${TOKEN}"


def test_a_single_trailing_line_break_is_dropped_with_a_warning_that_shows_no_value(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("TOKEN", TOKEN + "\n")
    with caplog.at_level(logging.WARNING, logger="monitor.config"):
        config = parse_config(FEED, tmp_path / "sources.yaml")
    assert config.sources[0].url == f"https://feeds.example/x?token={TOKEN}"
    (record,) = caplog.records
    assert "TOKEN" in record.getMessage() and "line break" in record.getMessage()
    assert not leaks(record.getMessage(), TOKEN, FRAGMENTS)
    # Both forms are secrets: the value as the environment holds it, and as it is used.
    assert config.redactor(f"{TOKEN}\n, {TOKEN} and {quote(TOKEN + chr(10))}") == "${TOKEN}, ${TOKEN} and ${TOKEN}"


@pytest.mark.parametrize("value, what", [
    ("tkn-7Hq2\tZr9Wx", "a tab (U+0009, character 9)"),
    ("tkn-7Hq2\nZr9Wx", "a line break (U+000A, character 9)"),
    (TOKEN + "\n\n", "a line break (U+000A"),
    ("tkn-7Hq2\x1b[31mZr9Wx", "a control character (U+001B"),
    ("tkn-7Hq2Zr9Wx\r", "a carriage return (U+000D"),
    ("tkn-7Hq2\x85Zr9Wx", "a control character (U+0085"),
])
def test_control_characters_in_a_value_are_refused_naming_the_variable_not_the_value(tmp_path, monkeypatch,
                                                                                     value, what):
    monkeypatch.setenv("TOKEN", value)
    path = tmp_path / "sources.yaml"
    path.write_text(FEED)
    result = CliRunner().invoke(cli, ["--config", str(path), "check"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}:4: sources[0].url: environment variable TOKEN "
                                    f"(referenced as ${{TOKEN}}) contains {what}")
    assert "value is not shown" in result.stderr
    assert "7Hq2" not in result.output + result.stderr


@pytest.mark.parametrize("yaml_body, env, quoted", [
    # A URL validator quotes the whole URL: the message shows it as written.
    ("sources:\n  - {name: A, type: rss, url: 'ftp://feeds.example/x?token=${TOKEN}'}\n",
     {"TOKEN": TOKEN}, "'ftp://feeds.example/x?token=${TOKEN}'"),
    # Short values are quoted back as ${VAR} too (the redactor alone leaves values under 4 characters).
    ("settings: {timezone: '${TZ_NAME}'}\nsources:\n  - {name: A, type: rss, url: 'https://a.example/'}\n",
     {"TZ_NAME": "Kyv"}, "'${TZ_NAME}'"),
    ("sources:\n  - {name: A, type: rss, url: 'https://a.example/', interval: '${EVERY}'}\n",
     {"EVERY": "5x"}, "${EVERY}"),
    ("sources:\n  - {name: A, type: '${KIND}', url: 'https://a.example/'}\n",
     {"KIND": "rsss"}, "'${KIND}'"),
])
def test_config_errors_quote_the_reference_never_the_value(tmp_path, monkeypatch, yaml_body, env, quoted):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        parse_config(yaml_body, tmp_path / "sources.yaml")
    message = str(caught.value)
    assert quoted in message, message
    for value in env.values():
        assert f"'{value}'" not in message and f'"{value}"' not in message and value not in caught.value.args[0]
        if len(value) >= 4:
            assert value not in message


# --- logs ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["text", "json"])
def test_logs_redact_messages_arguments_tracebacks_and_library_loggers_at_every_level(fmt, capfd):
    redactor = Redactor({"TOKEN": TOKEN + "\n"})
    setup_logging(fmt, 3, redactor)  # -vvv: every library at every level (-vv: monitor's own debug lines)
    url = f"https://feeds.example/x?token={quote_plus(TOKEN)}"
    logging.getLogger("monitor.fetch").debug("GET %s", url)
    logging.getLogger("httpx").info("HTTP Request: GET %r", url)
    logging.getLogger("httpcore.http11").debug(f"headers {json.dumps({'url': url})}")
    logging.getLogger("monitor.x").error("args %s %d", TOKEN, 3, stack_info=True)
    try:
        raise ValueError(f"bad {TOKEN}")
    except ValueError:
        logging.getLogger("monitor.pipeline").exception("source %r: unexpected error", "Private")
    logging.getLogger("monitor.x").warning("%s %s", "too few")  # arguments that do not fit
    setup_logging("text", 0)  # leave the root handler on the process redactor (none)
    err = capfd.readouterr().err
    assert not leaks(err, TOKEN, FRAGMENTS), err
    assert err.count("${TOKEN}") == 5 and "ValueError: bad ${TOKEN}" in err.replace("\\n", "\n")
    if fmt == "json":
        assert all(json.loads(line) for line in err.splitlines())


def test_without_a_redactor_of_its_own_the_handler_follows_the_installed_one(capfd):
    setup_logging("text", 0)
    log = logging.getLogger("monitor.x")
    log.warning("before %s", TOKEN)
    secrets.install(Redactor({"TOKEN": TOKEN}))
    log.warning("after %s", TOKEN)
    err = capfd.readouterr().err
    assert f"before {TOKEN}" in err and "after ${TOKEN}" in err


# --- what is stored and shown --------------------------------------------------------------------

def test_the_store_never_writes_a_secret_into_an_error_or_a_warning(store):
    secrets.install(Redactor({"TOKEN": TOKEN}))
    at = datetime(2026, 11, 25, tzinfo=timezone.utc)
    store.record_failure("Private", at, f"HTTP 500 from https://feeds.example/x?token={quote(TOKEN, safe='')}")
    store.record_success("Other", at, etag=None, last_modified=None, body_hash=None, new_items=0,
                         warning=f"truncated feed from https://feeds.example/y?key={TOKEN}")
    rows = {r["name"]: r["last_error"] for r in store.db.query("SELECT name, last_error FROM sources")}
    assert rows == {"Private": "HTTP 500 from https://feeds.example/x?token=${TOKEN}",
                    "Other": "truncated feed from https://feeds.example/y?key=${TOKEN}"}


def test_digest_health_parts_redact_rows_stored_before_the_store_did():
    secrets.install(Redactor({"TOKEN": TOKEN}))
    now = datetime(2026, 11, 25, 8, tzinfo=timezone.utc)
    error = f"HTTP 500 from https://feeds.example/x?token={TOKEN}"
    view = DigestView("daily", now, [], [SourceHealth("Private", "failing", error, now - timedelta(days=2), note=error)])
    renderer = Renderer("Europe/Kyiv")
    payload = renderer.payload(view, [])
    assert payload["source_health"][0]["error"] == "HTTP 500 from https://feeds.example/x?token=${TOKEN}"
    for template in ("digest.html", "digest.md", "digest.txt"):
        text = renderer.render(template, view, [])
        assert "Private" in text and not leaks(text, TOKEN, FRAGMENTS), (template, text)
    for message in renderer.messages(view, "d1", 500, "markdown"):
        assert not leaks(message.text + message.markdown + message.html + json.dumps(message.payload), TOKEN, FRAGMENTS)


def test_tables_redact_each_cell_before_cutting_it_to_width():
    secrets.install(Redactor({"TOKEN": TOKEN}))
    long_error = "HTTP 500 Internal Server Error from http://127.0.0.1:40000/private?token=" + TOKEN
    out = table(["source", "note"], [["Private", long_error]], max_width=100)
    assert not leaks(out, TOKEN, FRAGMENTS) and "token=${TOKEN}" in out
    cut = table(["source", "note"], [["Private", long_error]], max_width=70)
    assert not leaks(cut, TOKEN, FRAGMENTS) and cut.endswith("…")


def test_the_cli_puts_the_process_redactor_back_when_a_command_ends(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKEN", TOKEN)
    path = tmp_path / "sources.yaml"
    path.write_text(FEED)
    assert CliRunner().invoke(cli, ["--config", str(path), "check"]).exit_code == 0
    assert not secrets.current()


# --- acceptance: the real CLI, a failing private feed, every output ------------------------------

def _monitor(args: list[str], config: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "monitor", "--config", str(config), *args], capture_output=True,
                          text=True, env=env, cwd=config.parent, timeout=120)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


def _database_text(db: Path) -> str:
    """Every column of every row of every table, as text."""
    conn = sqlite3.connect(db)
    try:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        assert "sources" in tables and "items" in tables
        out = []
        for name in tables:
            for row in conn.execute(f'SELECT * FROM "{name}"'):
                out += [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in row]
        return "\n".join(out)
    finally:
        conn.close()


def test_acceptance_a_token_in_a_failing_sources_url_is_in_no_output_row_or_file(tmp_path: Path, server):
    server.route("/private", Reply(500, b"internal error", {"Content-Type": "text/plain"}))
    server.route("/en", Reply(body=fixture_bytes("feeds/en-rss2.xml"), headers={"Content-Type": "application/rss+xml"}))
    with Receiver() as hook:
        config = tmp_path / "sources.yaml"
        config.write_text(yaml_text(f"""
            settings:
              database: data/monitor.db
              fetch: {{retries: 0}}
            sources:
              - {{name: Ledger, type: rss, url: "{server.url('/en')}"}}
              - name: Private
                type: rss
                url: "{server.url('/private')}?token=${{TOKEN}}"
            channels:
              files: {{type: file, path: digests}}
              hook: {{type: webhook, url: "{hook.url('/hook')}", secret: "${{HOOK_SECRET}}"}}
            digests:
              - {{name: daily, send_empty: true}}
            """))
        env = {k: v for k, v in os.environ.items() if k != "MONITOR_CONFIG"}
        # Both as a file read into a variable leaves them: with a trailing line break.
        env |= {"TOKEN": TOKEN + "\n", "HOOK_SECRET": HOOK_SECRET + "\n", "PYTHONPATH": str(ROOT)}
        db = tmp_path / "data" / "monitor.db"

        outputs = {"poll -vv": _monitor(["-vv", "poll"], config, env)}
        # The source has been failing for two days: the digests' footers name it, with its error.
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE sources SET failing_since = ? WHERE name = 'Private'",
                         [(datetime.now(timezone.utc) - timedelta(days=2)).isoformat()])
        conn.close()
        outputs["poll json -vv"] = _monitor(["--log-format", "json", "-vv", "poll"], config, env)
        outputs["sources list"] = _monitor(["sources", "list"], config, env)
        outputs["preview md"] = _monitor(["digest", "--preview"], config, env)
        for kind in ("html", "json", "txt"):
            outputs[f"preview {kind}"] = _monitor(["digest", "--preview", "--out", str(tmp_path / f"p.{kind}")],
                                                  config, env)
        outputs["now"] = _monitor(["-vv", "digest", "daily", "--now"], config, env)
        posts = list(hook.posts)

    # The check means something: the failure and its (redacted) URL are in every place it is shown.
    poll_table = outputs["poll -vv"].stdout
    # (The table cuts the note to 70 characters: just before the token; test_tables_... cuts through it.)
    assert re.search(r"^Private\s+failing\s.*HTTP 500 Internal Server Error from http://127", poll_table, re.M)
    assert "token=${TOKEN}" in outputs["poll -vv"].stderr and "HTTP Request: GET" in outputs["poll -vv"].stderr
    assert "environment variable TOKEN" in outputs["poll -vv"].stderr  # the trailing line break, named
    records = [json.loads(line) for line in outputs["poll json -vv"].stderr.splitlines()]
    assert any(r["logger"] == "httpx" and "token=${TOKEN}" in r["message"] for r in records)
    assert any(r["level"] == "debug" for r in records)
    assert re.search(r"^Private\s+rss\s+30m\s+failing\s", outputs["sources list"].stdout, re.M)
    assert "Sources failing for more than 24 h" in outputs["preview md"].stdout
    assert "delivered" in outputs["now"].stdout and "NOT" not in outputs["now"].stdout
    assert len(posts) == 1 and posts[0].accepted
    payload = posts[0].json()
    (private,) = [h for h in payload["source_health"] if h["source"] == "Private"]
    assert private["status"] == "failing" and "token=${TOKEN}" in private["error"]
    files = sorted(p for p in (tmp_path / "digests").iterdir())
    assert {p.suffix for p in files} == {".html", ".md", ".json"}
    assert "token=${TOKEN}" in _database_text(db)

    # And the token (or the webhook secret), in any encoding or part, is nowhere.
    places = {f"{name} {stream}": getattr(done, stream) for name, done in outputs.items() for stream in ("stdout", "stderr")}
    places |= {f"file {p.name}": p.read_text(encoding="utf-8") for p in [*files, *tmp_path.glob("p.*")]}
    places |= {f"webhook post {n}": post.body.decode() + json.dumps(post.headers) for n, post in enumerate(posts)}
    places["database rows"] = _database_text(db)
    places |= {f"database file {p.name}": p.read_bytes().decode("latin-1") for p in db.parent.iterdir()}
    found = {place: leaked for place, text in places.items()
             if (leaked := leaks(text, TOKEN, FRAGMENTS) + leaks(text, HOOK_SECRET, HOOK_FRAGMENTS))}
    assert found == {}
