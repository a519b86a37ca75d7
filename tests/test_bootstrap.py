"""scripts/bootstrap (issue 10, fault 11): with a complete .venv it calls no pip, so ./scripts/run
starts offline; it installs again when pyproject.toml, the extra or the install itself changed.

Each test builds its own small checkout in tmp_path (the real scripts, the real pyproject.toml, a
stand-in `monitor` package) with a venv made without pip whose site-packages also reads this
suite's installed dependencies. `python -m pip` there is a recorder that fails unless told
otherwise, and the package index is a closed local port with PIP_NO_INDEX set: the real .venv is
never touched and nothing can reach a registry.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.support.server import free_port

ROOT = Path(__file__).resolve().parent.parent
FAKE_PIP = '''import json, os, shutil, sys
with open(os.environ["FAKE_PIP_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
if os.environ.get("FAKE_PIP_EXIT", "1") == "0":  # "installed": the console script appears
    shutil.copy2(os.environ["FAKE_PIP_SCRIPT"], os.path.join(".venv", "bin", "monitor"))
sys.exit(int(os.environ.get("FAKE_PIP_EXIT", "1")))
'''

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="bash scripts")


class Checkout:
    def __init__(self, base: Path):
        self.root = base / "checkout"
        (self.root / "scripts").mkdir(parents=True)
        for script in ("bootstrap", "run"):
            shutil.copy2(ROOT / "scripts" / script, self.root / "scripts" / script)
        shutil.copy2(ROOT / "pyproject.toml", self.root / "pyproject.toml")
        (self.root / "monitor").mkdir()
        (self.root / "monitor" / "__init__.py").write_text('__version__ = "0.1.0"\n')
        venv = self.root / ".venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        purelib = subprocess.run([str(venv / "bin" / "python"), "-c",
                                  "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 check=True, capture_output=True, text=True).stdout.strip()
        # The checkout first (it is what an editable install points at), then this suite's packages.
        Path(purelib, "a_checkout.pth").write_text(f"{self.root}\n")
        Path(purelib, "z_dependencies.pth").write_text(f"{sysconfig.get_paths()['purelib']}\n")
        # The console script pip makes (the recorder copies it in when it "succeeds"); it says so
        # when ./scripts/run starts it. Until then the install is incomplete, as before a first run.
        self.script = venv / "bin" / "monitor"
        self.script_source = base / "monitor-script"
        self.script_source.write_text('#!/bin/sh\necho "monitor started: $*"\n')
        self.script_source.chmod(0o755)
        fake = base / "fake-pip" / "pip"
        fake.mkdir(parents=True)
        (fake / "__init__.py").write_text("")
        (fake / "__main__.py").write_text(FAKE_PIP)
        self.pip_log = base / "pip-calls.jsonl"
        self.env = {
            "PATH": "/usr/bin:/bin", "HOME": str(base), "LANG": "C.UTF-8",
            "PYTHONPATH": str(base / "fake-pip"),   # `python -m pip` finds the recorder first
            "FAKE_PIP_LOG": str(self.pip_log), "FAKE_PIP_SCRIPT": str(self.script_source),
            "PIP_NO_INDEX": "1", "PIP_INDEX_URL": f"http://127.0.0.1:{free_port()}/simple",
            "PIP_RETRIES": "0", "PIP_TIMEOUT": "1",
        }
        self.stamp = venv / ".monitor-bootstrap.json"

    def run(self, *args: str, script: str = "bootstrap", pip_exit: int = 1) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.root / "scripts" / script), *args], cwd=self.root,
                              env={**self.env, "FAKE_PIP_EXIT": str(pip_exit)},
                              capture_output=True, text=True, timeout=60)

    def pip_calls(self) -> list[list[str]]:
        if not self.pip_log.exists():
            return []
        return [json.loads(line) for line in self.pip_log.read_text().splitlines()]


@pytest.fixture
def checkout(tmp_path) -> Checkout:
    return Checkout(tmp_path)


def test_bootstrapped_venv_starts_offline_without_pip(checkout):
    # The first install (pip succeeds) leaves the stamp.
    first = checkout.run(pip_exit=0)
    assert first.returncode == 0, first.stderr
    assert checkout.pip_calls() == [["install", "--quiet", "--disable-pip-version-check", "-e", "."]]
    assert json.loads(checkout.stamp.read_text())["extras"] == [""]

    # Offline now: pip would fail and the index is a closed port. Nothing calls either.
    again = checkout.run()
    assert again.returncode == 0, again.stderr
    started = checkout.run("--flag", script="run")
    assert started.returncode == 0, started.stderr
    assert "monitor started: --config sources.yaml run --flag" in started.stdout
    assert len(checkout.pip_calls()) == 1


def test_an_extra_is_installed_once_and_holds_the_plain_install(checkout):
    assert checkout.run(pip_exit=0).returncode == 0
    failed = checkout.run("test")  # never installed: pip is needed, and offline it fails
    assert failed.returncode != 0 and "installing the 'test' extra" in failed.stderr
    assert checkout.pip_calls()[-1][-1] == ".[test]"
    assert checkout.run("test", pip_exit=0).returncode == 0
    assert sorted(json.loads(checkout.stamp.read_text())["extras"]) == ["", "test"]
    calls = len(checkout.pip_calls())
    assert checkout.run("test").returncode == 0 and checkout.run().returncode == 0
    assert len(checkout.pip_calls()) == calls


def test_a_changed_pyproject_installs_again(checkout):
    assert checkout.run(pip_exit=0).returncode == 0
    pyproject = checkout.root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"click>=8.1",', '"click>=8.1",\n    "Markdown>=3",'))
    offline = checkout.run()
    assert offline.returncode != 0 and "pyproject.toml changed since the last install" in offline.stderr
    assert len(checkout.pip_calls()) == 2
    assert checkout.run(pip_exit=0).returncode == 0
    assert checkout.run().returncode == 0 and len(checkout.pip_calls()) == 3


def test_a_broken_install_is_repaired_even_with_a_matching_stamp(checkout):
    assert checkout.run(pip_exit=0).returncode == 0
    checkout.script.unlink()
    broken = checkout.run()
    assert broken.returncode != 0 and ".venv/bin/monitor is missing" in broken.stderr
    assert len(checkout.pip_calls()) == 2


def test_a_dependency_outside_the_allowed_versions_installs_again(checkout):
    assert checkout.run(pip_exit=0).returncode == 0
    pyproject = checkout.root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"click>=8.1",', '"click>=999",'))
    checkout.stamp.unlink()  # no stamp: only the check of the install decides
    result = checkout.run()
    assert result.returncode != 0 and len(checkout.pip_calls()) == 2


def test_a_complete_venv_from_before_the_stamp_is_adopted(checkout):
    # A .venv installed by an earlier bootstrap has no stamp; complete, it needs no pip either.
    shutil.copy2(checkout.script_source, checkout.script)
    assert not checkout.stamp.exists()
    result = checkout.run()
    assert result.returncode == 0, result.stderr
    assert checkout.pip_calls() == [] and checkout.stamp.exists()


def test_a_missing_venv_is_created_and_installed_as_before(checkout, tmp_path):
    shutil.rmtree(checkout.root / ".venv")
    # PYTHON as bootstrap reads it; this one makes the venv without pip (ensurepip takes seconds).
    python = tmp_path / "python-for-venv"
    python.write_text(f'#!/bin/sh\nexec "{getattr(sys, "_base_executable", sys.executable)}" "$@" --without-pip\n')
    python.chmod(0o755)
    result = subprocess.run([str(checkout.root / "scripts" / "bootstrap")], cwd=checkout.root,
                            env={**checkout.env, "PYTHON": str(python)}, capture_output=True, text=True, timeout=60)
    assert (checkout.root / ".venv" / "bin" / "python").exists()
    # A new venv holds nothing yet: pip is called (and, being the failing recorder, fails the run).
    assert result.returncode != 0
    assert checkout.pip_calls() == [["install", "--quiet", "--disable-pip-version-check", "-e", "."]]
    assert not checkout.stamp.exists()
