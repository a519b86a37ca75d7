"""Running monitor the way a user does: a sources.yaml on disk, the CLI as a subprocess.

  write_config(folder, sources, ...)    sources.yaml with the database in folder
  measure(cmd, ...)                     run a command; wall seconds and peak RSS (see below)
  monitor(config, *args)                measure `python -m monitor --config CONFIG ARGS...`
  PollSummary.parse(stdout)             the totals line `monitor poll` prints
  classify(texts)                       `monitor classify -`: which (title, text) pairs match

Two memory figures per run. peak_rss_mb comes from os.wait4 on the child: the kernel's ru_maxrss
of that process (or of the largest of its waited-for descendants), exact, never missed by
sampling; but a command that runs worker processes uses the memory of all of them at once, so
tree_rss_mb samples (psutil, every 50 ms) the RSS summed over the child and all its descendants
and keeps the highest sum; shared pages count once per process, so it is an upper bound. The
benches print both, as "largest process / whole tree" (`Measured.rss`).
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CORPORA = ROOT.parent / "shared" / "corpora"     # third-party corpora, absent on a user's clone


def write_config(folder: Path, sources: list[dict], *, fetch: dict | None = None, name: str = "sources.yaml",
                 database: str = "monitor.db", **sections) -> Path:
    """A sources.yaml in folder; `sections` adds top-level keys (channels, digests, alerts, topics)."""
    document = {
        "settings": {"database": str(folder / database), "timezone": "Europe/Kyiv",
                     "user_agent": "monitor-bench (+https://example.org/bench)", **({"fetch": fetch} if fetch else {})},
        "sources": sources,
        **sections,
    }
    path = folder / name
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=120), encoding="utf-8")
    return path


@dataclass
class Measured:
    cmd: list[str]
    seconds: float
    peak_rss_mb: float        # largest single process (kernel)
    tree_rss_mb: float        # highest sampled sum over the process tree (0 without psutil)
    returncode: int
    stdout: str
    stderr: str
    cpu_seconds: float = 0.0  # user + system time of the whole process tree
    # How long the tree's threads were ready to run but waited for a core (Linux schedstat; 0
    # elsewhere). Near 0: the cores had room. Large: the command is bound by the machine's CPU.
    waited_seconds: float = 0.0

    @property
    def rss_mb(self) -> float:
        """The whole tree's, or the kernel's figure where sampling saw less (or is unavailable)."""
        return max(self.peak_rss_mb, self.tree_rss_mb)

    @property
    def rss(self) -> str:
        return f"{self.peak_rss_mb:,.0f}/{self.rss_mb:,.0f} MB"

    def check(self) -> Measured:
        if self.returncode != 0:
            tail = "\n".join(self.stderr.strip().splitlines()[-15:])
            raise RuntimeError(f"{' '.join(self.cmd[-4:])} exited with {self.returncode}:\n{tail}")
        return self


def _wait(pid: int, timeout: float) -> tuple[int, object]:
    """wait4 on pid, SIGKILLing it after timeout seconds (pidfd: no polling, no race on reuse)."""
    fd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            signal.pidfd_send_signal(fd, signal.SIGKILL)
        _, status, usage = os.wait4(pid, 0)
    finally:
        os.close(fd)
    return status, usage


class _TreeSampler(threading.Thread):
    """The highest RSS summed over a process and its descendants, sampled until stopped, and the
    CPU time each of them had used when last seen (a process's last interval is missed: at most
    `interval` seconds of each), and how long each of their threads had waited for a core."""

    def __init__(self, pid: int, interval: float = 0.05):
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak = pid, interval, 0
        self.cpu: dict[int, float] = {}
        self.waited: dict[tuple[int, str], float] = {}  # (pid, thread id) → seconds runnable, not running
        self.done = threading.Event()

    def _read_waits(self, pid: int) -> None:
        """/proc/PID/task/TID/schedstat: time on a core, time waiting on a run queue, slices (ns)."""
        try:
            threads = os.listdir(f"/proc/{pid}/task")
        except OSError:
            return
        for tid in threads:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as stat:
                    self.waited[pid, tid] = int(stat.read().split()[1]) / 1e9
            except (OSError, ValueError, IndexError):
                pass

    def run(self) -> None:
        try:
            import psutil
        except ImportError:
            return
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self.done.is_set():
            total = 0
            try:
                for proc in [root, *root.children(recursive=True)]:
                    try:
                        total += proc.memory_info().rss
                        times = proc.cpu_times()
                        self.cpu[proc.pid] = times.user + times.system
                        self._read_waits(proc.pid)
                    except psutil.Error:
                        pass
            except psutil.Error:
                return
            self.peak = max(self.peak, total)
            self.done.wait(self.interval)


def measure(cmd: list[str], *, cwd: Path | None = None, timeout: float = 3600.0, env: dict | None = None,
            stdin: bytes | None = None) -> Measured:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as given:
        if stdin is not None:
            given.write(stdin)
            given.seek(0)
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err, env=env,
                                stdin=given if stdin is not None else subprocess.DEVNULL)
        sampler = _TreeSampler(proc.pid)
        sampler.start()
        try:
            status, usage = _wait(proc.pid, timeout)
        finally:
            sampler.done.set()
        seconds = time.perf_counter() - started
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)   # reaped here: Popen must not wait again
        out.seek(0)
        err.seek(0)
        # wait4 counts the process and every descendant reaped down the line (exact where all
        # were); the sampler also sees those nobody reaped (a fork server left to exit on its own).
        cpu = max(usage.ru_utime + usage.ru_stime, sum(sampler.cpu.values()))
        return Measured(cmd, seconds, usage.ru_maxrss / 1024, sampler.peak / 2**20, proc.returncode,
                        out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"), cpu,
                        sum(sampler.waited.values()))


def monitor(config: Path, *args: str, timeout: float = 3600.0, stdin: bytes | None = None) -> Measured:
    """The real command, from the config's folder (relative paths in it land there), as a user's
    install runs it: with its modules' compiled bytecode cached. Without PYTHONDONTWRITEBYTECODE,
    then, which this project's test machine sets: under it every run compiled monitor's own
    changed modules again (0.1-0.3 s of each run, in each worker too), a cost no user pays; the
    libraries, the floor's included, were compiled when pip installed them. Its compiled topics
    are read from the user's cache (monitor/topics/cache.py), as after any install's first run."""
    cmd = [sys.executable, "-m", "monitor", "--config", str(config), *args]
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    return measure(cmd, cwd=config.parent, timeout=timeout, stdin=stdin, env=env)


_TOTALS = re.compile(r"(\d+) sources? polled, (\d+) new items?, (\d+) matched, (\d+) failing")


@dataclass(frozen=True)
class PollSummary:
    sources: int
    new: int
    matched: int
    failing: int

    @classmethod
    def parse(cls, stdout: str) -> PollSummary:
        found = _TOTALS.findall(stdout)
        if not found:
            raise RuntimeError(f"no totals line in `monitor poll` output:\n{stdout[-800:]}")
        return cls(*map(int, found[-1]))


def classify(texts: list[tuple[str, str]], config: Path | None = None) -> list[bool]:
    """Whether the shipped topics (or config's) match each (title, text), by `monitor classify -`."""
    lines = "".join(json.dumps({"id": str(i), "title": t, "text": x}, ensure_ascii=False) + "\n"
                    for i, (t, x) in enumerate(texts))
    with tempfile.TemporaryDirectory(prefix="monitor-bench-") as tmp:
        where = config or Path(tmp) / "absent.yaml"   # no file: the shipped topics
        run = monitor(where, "classify", "-", stdin=lines.encode("utf-8"), timeout=600).check()
    verdicts = {row["id"]: bool(row["match"]) for row in map(json.loads, run.stdout.splitlines()) if row}
    return [verdicts[str(i)] for i in range(len(texts))]


def print_checks(problems: list[str]) -> None:
    """The closing lines of a bench: whether its checks of the run itself hold, and which do not."""
    print("checks: " + ("all hold" if not problems else "PROBLEMS"))
    for problem in problems:
        print(f"  {problem}")
