"""Logs (issue 15): times in UTC with a `Z` (text and JSON), `-vv` shows monitor's debug lines but
not the HTTP library's (those at `-vvv`), settings.log_file with rotation (secrets redacted there
too), and the progress line of a terminal kept below the log lines."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.config import load_config
from monitor.logs import StatusLine, setup_logging
from monitor.secrets import Redactor
from tests.conftest import fixture_bytes
from tests.support.server import Reply

ROOT = Path(__file__).resolve().parent.parent
TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (DEBUG|INFO|WARNING|ERROR) ")


@pytest.fixture(autouse=True)
def _restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in ("monitor", "httpx", "httpcore", "trafilatura")}
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, value in levels.items():
        logging.getLogger(name).setLevel(value)


def test_text_lines_are_in_utc_with_a_z_whatever_the_machine_zone(tmp_path):
    code = ("import logging, time; from monitor.logs import setup_logging; setup_logging('text', 0); "
            "logging.getLogger('monitor.x').warning('hello'); print(time.time())")
    env = {**os.environ, "TZ": "America/New_York", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    line = done.stderr.strip()
    assert TEXT_LINE.match(line) and line.endswith("WARNING hello"), line
    stamp = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(float(done.stdout)))
    assert line.startswith(stamp), (line, stamp)  # UTC, not New York's clock


def test_json_lines_carry_utc_milliseconds_and_a_z(capfd):
    setup_logging("json", 0)
    logging.getLogger("monitor.x").info("hello")
    record = json.loads(capfd.readouterr().err.strip())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["time"]), record
    assert record["message"] == "hello" and record["logger"] == "monitor.x"


def _emit_everything() -> None:
    logging.getLogger("monitor.pipeline").debug("monitor debug line")
    logging.getLogger("monitor.pipeline").info("monitor info line")
    logging.getLogger("httpx").info("HTTP Request: GET https://x.example/ 200 OK")
    logging.getLogger("httpcore.connection").debug("connect_tcp.started host='x.example'")
    logging.getLogger("trafilatura.core").warning("not enough text")
    logging.getLogger("apscheduler.scheduler").info("Added job")


@pytest.mark.parametrize("verbose, shown, hidden", [
    (0, ["monitor info line"], ["monitor debug line", "HTTP Request", "connect_tcp", "not enough text", "Added job"]),
    (1, ["monitor info line"], ["monitor debug line", "HTTP Request", "connect_tcp"]),
    (2, ["monitor debug line", "monitor info line", "HTTP Request"], ["connect_tcp", "not enough text", "Added job"]),
    (3, ["monitor debug line", "HTTP Request", "connect_tcp", "not enough text", "Added job"], []),
])
def test_verbosity_levels(capfd, verbose, shown, hidden):
    setup_logging("text", verbose)
    _emit_everything()
    err = capfd.readouterr().err
    for text in shown:
        assert text in err, (verbose, text)
    for text in hidden:
        assert text not in err, (verbose, text)
    assert all(TEXT_LINE.match(line) for line in err.splitlines())


def test_the_cli_passes_its_verbosity_on(tmp_path, server):
    server.route("/en", Reply(body=fixture_bytes("feeds/en-rss2.xml"), headers={"Content-Type": "application/rss+xml"}))
    path = tmp_path / "sources.yaml"
    path.write_text(f"settings: {{database: {tmp_path / 'm.db'}}}\nsources:\n"
                    f"  - {{name: Ledger, type: rss, url: '{server.url('/en')}'}}\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("MONITOR_CONFIG", None)
    outputs = {}
    for flag in ("-v", "-vv", "-vvv"):
        (tmp_path / "m.db").unlink(missing_ok=True)
        outputs[flag] = subprocess.run([sys.executable, "-m", "monitor", "--config", str(path), flag, "poll"],
                                       capture_output=True, text=True, env=env, timeout=120).stderr
    assert " DEBUG " not in outputs["-v"] and "HTTP Request" not in outputs["-v"]
    assert " DEBUG " in outputs["-vv"] and "HTTP Request: GET" in outputs["-vv"]
    assert "httpcore" not in outputs["-vv"] and "connect_tcp" not in outputs["-vv"]
    assert "connect_tcp" in outputs["-vvv"]


def test_a_log_file_is_written_rotated_and_redacted(tmp_path):
    log_file = tmp_path / "logs" / "monitor.log"
    setup_logging("text", 0, Redactor({"TOKEN": "tok-5e3c9a71b2"}), log_file=log_file, max_bytes=2000, backups=2)
    log = logging.getLogger("monitor.x")
    for n in range(200):
        log.info("line %03d with tok-5e3c9a71b2 in it", n)
    files = sorted(p.name for p in log_file.parent.iterdir())
    assert files == ["monitor.log", "monitor.log.1", "monitor.log.2"]  # two kept, the oldest dropped
    assert all(p.stat().st_size <= 2000 for p in log_file.parent.iterdir())
    current = log_file.read_text("utf-8")
    assert "line 199 with ${TOKEN} in it" in current and "tok-5e3c9a71b2" not in current
    assert all(TEXT_LINE.match(line) for line in current.splitlines())
    newest_rotated = (log_file.parent / "monitor.log.1").read_text("utf-8")
    assert int(re.findall(r"line (\d+)", newest_rotated)[-1]) < 199


def test_settings_log_file_is_read_and_relative_to_the_configuration(tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_text("settings: {log_file: logs/monitor.log, log_max_mb: 0.5, log_keep: 3}\n"
                    "sources:\n  - {name: A, type: rss, url: 'https://a.example/'}\n", encoding="utf-8")
    config = load_config(path)
    assert config.log_file_path == tmp_path / "logs" / "monitor.log"
    assert (config.settings.log_max_mb, config.settings.log_keep) == (0.5, 3)
    path.write_text("settings: {log_keep: 0}\nsources:\n  - {name: A, type: rss, url: 'https://a.example/'}\n")
    result = CliRunner().invoke(cli, ["--config", str(path), "check"])
    assert result.exit_code == 2 and f"{path}:1: settings.log_keep: " in result.stderr


def test_run_says_so_when_it_cannot_write_its_log_file(tmp_path):
    (tmp_path / "afile").write_text("x")
    path = tmp_path / "sources.yaml"
    path.write_text("settings: {log_file: afile/monitor.log}\n"
                    "sources:\n  - {name: A, type: rss, url: 'https://a.example/'}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(path), "run"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}: settings.log_file: cannot write {tmp_path / 'afile' / 'monitor.log'}")


def test_the_service_writes_its_log_file(tmp_path, server):
    server.route("/en", Reply(body=fixture_bytes("feeds/en-rss2.xml"), headers={"Content-Type": "application/rss+xml"}))
    path = tmp_path / "sources.yaml"
    path.write_text(f"settings: {{database: data/m.db, log_file: logs/monitor.log, fetch: {{retries: 0}}}}\n"
                    f"sources:\n  - {{name: Ledger, type: rss, url: '{server.url('/en')}'}}\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("MONITOR_CONFIG", None)
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(path), "run"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    log_file = tmp_path / "logs" / "monitor.log"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if log_file.exists() and "source 'Ledger': ok" in log_file.read_text("utf-8"):
                break
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    text = log_file.read_text("utf-8")
    assert "monitor running: 1 sources" in text and "source 'Ledger': ok" in text, (text, err)
    assert all(TEXT_LINE.match(line) for line in text.splitlines() if line and not line.startswith(" "))
    assert "monitor running" in err  # stderr too


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_lines_are_written_above_the_progress_line(monkeypatch):
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    setup_logging("text", 0)
    with StatusLine(terminal) as status:
        status.show("polling: 1/3 sources done")
        logging.getLogger("monitor.x").warning("source 'A' failing: timeout")
        status.show("polling: 2/3 sources done")
    out = terminal.getvalue()
    erase = "\r\x1b[K"
    # The line is erased, the log line written whole on its own line, the progress drawn again.
    assert f"{erase}polling: 1/3 sources done{erase}" in out
    log_at = out.index("WARNING source 'A' failing: timeout\n")
    assert out[log_at:].startswith("WARNING source 'A' failing: timeout\n" + erase + "polling: 1/3 sources done")
    assert out.endswith(erase)  # cleared when done: the next output starts on a clean line
