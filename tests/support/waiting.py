"""Waiting in tests for something another process or thread does: a guard against hanging, never
a measurement (no test asserts how long it took)."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], what: str, timeout: float, *, every: float = 0.02) -> None:
    """Ask `condition` every `every` seconds until it holds; AssertionError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(every)
