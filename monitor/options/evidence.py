"""`settings.evidence` of sources.yaml: where captures go, when pages are rechecked, timestamps."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field, field_validator

from monitor.options import Strict, parse_duration


class EvidenceSettings(Strict):
    """Evidence capture of every matched article (monitor/evidence/).

    `dir` is relative to sources.yaml unless absolute. `recheck`: how long after the first capture
    each recheck of the page is due. `timestamp_url`: an RFC 3161 time-stamping authority; each
    day's WARC file is timestamped once the day is over (None: no timestamps)."""

    enabled: bool = True
    dir: str = "data/evidence"
    recheck: list[timedelta] = Field(default_factory=lambda: [timedelta(days=1), timedelta(days=7),
                                                              timedelta(days=30)])
    # A capture that failed (full disk, a timeout) is tried again after retry, 2 x retry, … (at most 6 h).
    retry: timedelta = Field(default=timedelta(minutes=5))
    timestamp_url: str | None = None

    @field_validator("recheck", mode="before")
    @classmethod
    def _durations(cls, value):
        if not isinstance(value, list):
            raise ValueError("expected a list of durations such as [1d, 7d, 30d]")
        return [v if isinstance(v, timedelta) else parse_duration(v) for v in value]

    @field_validator("recheck")
    @classmethod
    def _ascending(cls, value: list[timedelta]) -> list[timedelta]:
        if value != sorted(value):
            raise ValueError("recheck delays must be in ascending order, e.g. [1d, 7d, 30d]")
        return value

    @field_validator("retry", mode="before")
    @classmethod
    def _retry(cls, value):
        return value if isinstance(value, timedelta) else parse_duration(value)

    @field_validator("dir")
    @classmethod
    def _dir_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank (a folder such as data/evidence)")
        return value

    @field_validator("timestamp_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().startswith(("http://", "https://")):
            raise ValueError(f"expected an http(s) URL of an RFC 3161 time-stamping authority, got {value!r}")
        return value

    def folder(self, config_dir: Path) -> Path:
        """The evidence folder: `dir`, relative to the folder of sources.yaml."""
        path = Path(self.dir).expanduser()
        return path if path.is_absolute() else config_dir / path
