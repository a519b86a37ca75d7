"""`settings.fetch` and `settings.user_agent` of sources.yaml: the limits of the one HTTP client
(monitor/fetch.py). Apart from the client, so reading the configuration loads no networking."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, field_validator

from monitor import __version__
from monitor.options import Strict, duration_field

DEFAULT_USER_AGENT = f"monitor/{__version__} (+https://github.com/monitor-project/monitor)"


class FetchSettings(Strict):
    """Limits of the one HTTP client; the defaults suit a few hundred sources."""

    connect_timeout: timedelta = Field(default=timedelta(seconds=10))
    read_timeout: timedelta = Field(default=timedelta(seconds=20))
    total_timeout: timedelta = Field(default=timedelta(seconds=60))
    max_body_mb: float = Field(default=10.0, gt=0)
    max_redirects: int = Field(default=5, ge=0, le=20)
    concurrency: int = Field(default=20, ge=1, le=500)
    per_host_concurrency: int = Field(default=2, ge=1, le=50)
    retries: int = Field(default=2, ge=0, le=10)
    backoff: timedelta = Field(default=timedelta(seconds=1))
    respect_robots: bool = True

    _durations = field_validator(
        "connect_timeout", "read_timeout", "total_timeout", "backoff", mode="before"
    )(duration_field)
