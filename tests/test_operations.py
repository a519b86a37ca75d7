"""Running monitor for months (issue 15): the systemd unit in contrib/ (systemd-analyze verify, where
that program exists), the README's "Running as a service", alerts and shell completion documented,
and a LICENSE matching pyproject.toml."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "contrib" / "monitor.service"
README = (ROOT / "README.md").read_text("utf-8")


def unit_sections() -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in UNIT.read_text("utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


def test_the_unit_runs_the_service_as_its_own_user_and_stops_in_time():
    unit = unit_sections()
    service = unit["Service"]
    assert service["ExecStart"] == ["/opt/monitor/.venv/bin/monitor run"]
    assert service["User"] == ["monitor"] and service["StateDirectory"] == ["monitor"]
    assert "MONITOR_CONFIG=/etc/monitor/sources.yaml" in service["Environment"]
    assert service["EnvironmentFile"] == ["-/etc/monitor/env"]
    assert service["Restart"] == ["on-failure"] and service["RestartPreventExitStatus"] == ["2 3"]
    assert service["KillSignal"] == ["SIGTERM"]
    assert int(service["TimeoutStopSec"][0].rstrip("s")) > 30  # the service's own grace is 30 s
    assert "ExecStartPre" not in service  # `check` would refuse an unset ${VAR} the service can live with
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]
    assert "network-online.target" in unit["Unit"]["After"][0]


def test_systemd_analyze_verify_accepts_the_unit(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here (it comes with systemd); the unit is checked where it is")
    monitor = Path(sys.executable).with_name("monitor")
    if not monitor.exists():
        pytest.skip(f"{monitor} is not installed (scripts/bootstrap installs it)")
    # The unit names its installed path; verify checks that the program exists, so point it at ours.
    unit = tmp_path / "monitor.service"
    unit.write_text(UNIT.read_text("utf-8").replace("/opt/monitor/.venv/bin/monitor", str(monitor)), encoding="utf-8")
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})
    problems = [line for line in (done.stdout + done.stderr).splitlines() if str(unit) in line or "monitor" in line]
    assert done.returncode == 0 and problems == [], done.stdout + done.stderr


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README + "\n## ", re.S | re.M)
    assert match, f"README has no section {title!r}"
    return match.group(1)


def test_readme_explains_running_as_a_service():
    text = section("Running as a service")
    for needed in ("contrib/monitor.service", "systemctl enable --now monitor", "journalctl -u monitor",
                   "/etc/monitor/env", "monitor init /etc/monitor", "settings.log_file", "log_max_mb", "log_keep",
                   "/var/lib/monitor/monitor.db"):
        assert needed in text, needed


def test_readme_documents_alerts_completion_init_schema_and_the_license():
    assert "**Alerts** (`alerts:`)" in README and "name: urgent" in README
    assert "_MONITOR_COMPLETE=bash_source monitor" in README and "_MONITOR_COMPLETE=zsh_source" in README
    assert "monitor init" in README and "monitor schema" in README and "yaml-language-server" in README
    assert "## License" in README


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_shell_completion_as_documented(shell):
    monitor = Path(sys.executable).with_name("monitor")
    if not monitor.exists():
        pytest.skip(f"{monitor} is not installed (scripts/bootstrap installs it)")
    done = subprocess.run([str(monitor)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "_MONITOR_COMPLETE": f"{shell}_source"})
    assert done.returncode == 0 and "_MONITOR_COMPLETE" in done.stdout, done.stderr
    # And it completes: the verbs, for "monitor sch".
    if shell == "bash":
        words = subprocess.run([str(monitor)], capture_output=True, text=True, timeout=60,
                               env={**os.environ, "_MONITOR_COMPLETE": "bash_complete", "COMP_WORDS": "monitor sch",
                                    "COMP_CWORD": "1"})
        assert "schema" in words.stdout


def test_the_license_file_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    assert project["license"] == {"text": "MIT"}
    text = (ROOT / "LICENSE").read_text("utf-8")
    assert text.startswith("MIT License\n\nCopyright (c) ")
    assert "Permission is hereby granted, free of charge" in text and 'THE SOFTWARE IS PROVIDED "AS IS"' in text
