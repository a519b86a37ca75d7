"""A hang guard for tests on hostile documents: no timing assertion, a limit on a hang.

The work runs in a fresh process, killed once the limit passes, so a quadratic parse fails its
test in seconds instead of holding up the suite (or the machine) for minutes. Limits are generous
(many times what the fixed code takes), so a slow or busy machine does not fail them.
"""

from __future__ import annotations

import multiprocessing
import resource
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


MEMORY_LIMIT = 3 << 30  # bytes of address space for the child: a parse that explodes fails, the machine does not


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def finishes_within(seconds: float, work: Callable[..., T], *args) -> T:
    """`work(*args)` in a child process: its result (or its exception, raised here), or a test
    failure when it is still running after `seconds`. `work` must be a module-level function; it
    should build the hostile document itself, so that no megabytes cross between processes."""
    with multiprocessing.get_context("spawn").Pool(1, initializer=_limit_memory) as pool:
        pending = pool.apply_async(work, args)
        try:
            return pending.get(seconds)
        except multiprocessing.TimeoutError:
            pytest.fail(f"{work.__name__}{args!r} did not finish within {seconds:g} s: the work is not linear "
                        f"in the document (or the process died)", pytrace=False)
        finally:
            pool.terminate()
