"""The benches' measuring of a command (bench/support/cli.py): what they report beside wall time."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from bench.support.cli import measure

# More busy processes than cores, for a moment: some must wait for one.
CROWD = """
import multiprocessing, os, time
def spin():
    end = time.process_time() + 0.4
    while time.process_time() < end:
        pass
if __name__ == "__main__":
    workers = [multiprocessing.Process(target=spin) for _ in range((os.cpu_count() or 1) + 2)]
    for w in workers: w.start()
    for w in workers: w.join()
"""


@pytest.mark.skipif(not Path("/proc/self/schedstat").exists(), reason="needs Linux schedstat (/proc/PID/task/TID/schedstat)")
def test_a_command_with_more_busy_processes_than_cores_is_seen_waiting_for_one(tmp_path):
    script = tmp_path / "crowd.py"
    script.write_text(CROWD)
    crowded = measure([sys.executable, str(script)]).check()
    assert crowded.cpu_seconds > 0.4 * (os.cpu_count() or 1)
    assert crowded.waited_seconds > 0

