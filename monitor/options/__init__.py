"""What every options model of sources.yaml shares (strict models, durations), and the option
models of the parts that are not registries: settings.web (web.py) and settings.evidence (evidence.py).

Each registry owns the options of its own kinds (source types in monitor/sources/, channels in
monitor/notify/, fetch limits in monitor/fetch.py); they all build on this module, and
monitor/config.py assembles them into one Config.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

_DURATION = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_MAX_DURATION_SECONDS = 366 * 86400


class Strict(BaseModel):
    """Unknown keys are errors (a typo must not be ignored silently); values never change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_duration(value: Any) -> timedelta:
    """'90s', '15m', '2h', '1d' (or a bare number of seconds) → timedelta > 0."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 15m, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"expected a duration like 30s, 15m, 2h or 1d, got {value!r}")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if not math.isfinite(seconds):
        raise ValueError(f"expected a duration like 30s, 15m, 2h or 1d, got {value!r}")
    if seconds <= 0:
        raise ValueError(f"duration must be greater than zero, got {value!r}")
    if seconds > _MAX_DURATION_SECONDS:
        raise ValueError(f"duration must be at most 366d, got {value!r}")
    return timedelta(seconds=seconds)


def duration_field(value: Any) -> timedelta:
    """A pydantic `mode="before"` validator for duration fields."""
    return value if isinstance(value, timedelta) else parse_duration(value)
