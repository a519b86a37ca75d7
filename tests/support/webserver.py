"""`monitor web` as a user starts it, in a subprocess, for the web tests and bench/web.py.

`with WebProcess(config_path) as web: httpx.get(web.url("/"))` starts `python -m monitor --config
PATH web --port 0 ...`, waits for the line naming the address it serves, and stops it at the end.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

_SERVING = re.compile(r"serving (http://\S+/) ")


class WebProcess:
    def __init__(self, config: str | Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60):
        self.command = [sys.executable, "-m", "monitor", "--config", str(config), "web", "--port", "0", *args]
        self.env = {**os.environ, **(env or {})}
        self.timeout = timeout
        self.base = ""
        self.lines: list[str] = []
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> WebProcess:
        self.process = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        env=self.env, cwd=Path(self.command[4]).parent)
        found = threading.Event()

        def read() -> None:
            for line in self.process.stderr:
                self.lines.append(line)
                match = _SERVING.search(line)
                if match and not found.is_set():
                    self.base = match.group(1).rstrip("/")
                    found.set()
            found.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + self.timeout
        while not found.wait(0.1):
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("monitor web did not start:\n" + "".join(self.lines))
        if not self.base:
            self.process.wait(10)
            raise RuntimeError(f"monitor web exited {self.process.returncode}:\n" + "".join(self.lines))
        return self

    def url(self, path: str = "/") -> str:
        return self.base + path

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def __exit__(self, *exc) -> None:
        self.stop()
