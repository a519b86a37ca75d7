"""sources.yaml → typed configuration.

Every problem is reported as one ConfigError naming the file, the line and the key, so the CLI can
print a single readable line and exit 2. Line numbers come from PyYAML's node marks: the YAML is
composed into nodes first, converted to plain data while remembering where each value stood, and
only then validated by pydantic; a validation error's location is mapped back to a line.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_CONFIG_NAME = "sources.yaml"
DEFAULT_USER_AGENT = "monitor/0.1 (+https://github.com/monitor-project/monitor)"


class ConfigError(Exception):
    """A configuration problem, located in the file."""

    def __init__(self, path: Path | str, message: str, line: int | None = None, key: str | None = None):
        self.path = str(path)
        self.line = line
        self.key = key
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key} {self.message}"


# --- durations ---------------------------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


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
    if seconds <= 0:
        raise ValueError(f"duration must be greater than zero, got {value!r}")
    return timedelta(seconds=seconds)


def _duration_field(value: Any) -> timedelta:
    return value if isinstance(value, timedelta) else parse_duration(value)


# --- models ------------------------------------------------------------------------------------

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FetchSettings(_Strict):
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
    )(_duration_field)


class Settings(_Strict):
    database: str = "data/monitor.db"
    timezone: str = "Europe/Kyiv"
    user_agent: str = DEFAULT_USER_AGENT
    contact: str | None = None
    fetch: FetchSettings = Field(default_factory=FetchSettings)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Kyiv)")
        return value


class SourceConfig(_Strict):
    """Keys every source has. A source type adds its own keys by subclassing this model."""

    name: str = Field(min_length=1)
    type: str
    url: str
    interval: timedelta = Field(default=timedelta(minutes=30))
    tags: list[str] = Field(default_factory=list)
    fetch_article: Literal["auto", "always", "never"] = "auto"
    allow_private: bool = False
    respect_robots: bool | None = None  # None: follow settings.fetch.respect_robots
    enabled: bool = True

    _interval = field_validator("interval", mode="before")(_duration_field)

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("name must not be blank")
        return value.strip()

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value, re.IGNORECASE):
            raise ValueError(f"url must start with http:// or https:// and name a host, got {value!r}")
        return value


@dataclass(frozen=True)
class Config:
    path: Path
    settings: Settings
    sources: list[SourceConfig]
    # Values that came from ${VAR} expansion: logging redacts them wherever they appear.
    secrets: frozenset[str] = field(default_factory=frozenset)
    # Sections owned by later stages (topics, channels, digests), validated by their owners.
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def database_path(self) -> Path:
        db = Path(self.settings.database).expanduser()
        return db if db.is_absolute() else self.path.parent / db

    def source(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(name)


TOP_LEVEL_KEYS = {"settings", "sources", "topics", "channels", "digests"}


# --- YAML with positions -----------------------------------------------------------------------

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Located:
    """Plain data converted from YAML nodes, plus the line of every path in it."""

    def __init__(self, path: Path):
        self.path = path
        self.lines: dict[tuple, int] = {}
        self.secrets: set[str] = set()

    def convert(self, node: yaml.Node, loc: tuple = ()) -> Any:
        self.lines[loc] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = self._scalar(key_node, loc)
                if not isinstance(key, str):
                    key = str(key)
                if key in result:
                    raise ConfigError(self.path, f"key '{key}' appears twice", key_node.start_mark.line + 1,
                                      _dotted(loc + (key,)))
                self.lines[loc + (key,)] = key_node.start_mark.line + 1
                result[key] = self.convert(value_node, loc + (key,))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, loc + (i,)) for i, item in enumerate(node.value)]
        return self._scalar(node, loc)

    def _scalar(self, node: yaml.Node, loc: tuple) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise ConfigError(self.path, "a key must be plain text", node.start_mark.line + 1, _dotted(loc))
        if node.tag == "tag:yaml.org,2002:str":
            return self._expand(node.value, node, loc)
        # The composer already resolved the implicit tag (int, bool, null, ...): construct it.
        return yaml.safe_load(node.value) if node.value.strip() else None

    def _expand(self, text: str, node: yaml.Node, loc: tuple) -> str:
        def substitute(match: re.Match) -> str:
            name, default = match.group(1), match.group(2)
            value = os.environ.get(name)
            if value is None:
                if default is not None:
                    return default
                raise ConfigError(self.path, f"environment variable {name} is not set (referenced as ${{{name}}})",
                                  node.start_mark.line + 1, _dotted(loc))
            if value:
                self.secrets.add(value)
            return value

        return _ENV_REF.sub(substitute, text)


def _dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _line_for(located: _Located, loc: tuple) -> int | None:
    # Walk up the path until a located ancestor is found (pydantic may name a missing key).
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in located.lines:
            return located.lines[loc[:cut]]
    return None


# --- loading -----------------------------------------------------------------------------------

def resolve_config_path(explicit: str | os.PathLike | None) -> Path:
    if explicit:
        return Path(explicit)
    if os.environ.get("MONITOR_CONFIG"):
        return Path(os.environ["MONITOR_CONFIG"])
    return Path(DEFAULT_CONFIG_NAME)


def load_config(path: str | os.PathLike) -> Config:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(path, "file not found (pass --config PATH or set MONITOR_CONFIG)")
    except IsADirectoryError:
        raise ConfigError(path, "is a directory, expected a YAML file")
    except OSError as exc:
        raise ConfigError(path, f"cannot read: {exc.strerror}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(path, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save the file as UTF-8", line)
    return parse_config(text, path)


def parse_config(text: str, path: Path) -> Config:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "invalid YAML"
        context = f" ({exc.context})" if exc.context else ""
        raise ConfigError(path, f"YAML syntax error: {problem}{context}", mark.line + 1 if mark else None)
    except yaml.YAMLError as exc:
        raise ConfigError(path, f"YAML error: {exc}")
    if node is None:
        raise ConfigError(path, "file is empty; it needs at least a 'sources:' list", 1)
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(path, "the top level must be a mapping with 'settings:' and 'sources:'",
                          node.start_mark.line + 1)

    located = _Located(path)
    data = located.convert(node)

    for key in data:
        if key not in TOP_LEVEL_KEYS:
            raise ConfigError(path, f"unknown top-level key {key!r}{_did_you_mean(key, TOP_LEVEL_KEYS)}",
                              located.lines.get((key,)), key)

    settings = _validate(Settings, data.get("settings") or {}, ("settings",), located)

    raw_sources = data.get("sources")
    if raw_sources is None:
        raise ConfigError(path, "no 'sources:' list; add at least one source", 1, "sources")
    if not isinstance(raw_sources, list):
        raise ConfigError(path, "must be a list of sources (each item starting with '- name:')",
                          located.lines.get(("sources",)), "sources")

    from monitor.sources import source_types  # late import: source types register on import

    registry = source_types()
    sources: list[SourceConfig] = []
    seen: dict[str, int] = {}
    for index, raw_source in enumerate(raw_sources):
        loc = ("sources", index)
        if not isinstance(raw_source, dict):
            raise ConfigError(path, "each source must be a mapping with name, type and url",
                              located.lines.get(loc), _dotted(loc))
        kind = raw_source.get("type")
        if kind is None:
            raise ConfigError(path, "missing 'type' (one of: " + ", ".join(sorted(registry)) + ")",
                              located.lines.get(loc), _dotted(loc + ("type",)))
        if kind not in registry:
            raise ConfigError(path, f"unknown source type {kind!r}{_did_you_mean(str(kind), registry)}"
                              f" (known: {', '.join(sorted(registry))})",
                              located.lines.get(loc + ("type",)), _dotted(loc + ("type",)))
        source = _validate(registry[kind].options, raw_source, loc, located)
        if source.name in seen:
            raise ConfigError(path, f"duplicate source name {source.name!r} (first used on line {seen[source.name]})",
                              located.lines.get(loc + ("name",)), _dotted(loc + ("name",)))
        seen[source.name] = located.lines.get(loc + ("name",)) or 0
        sources.append(source)

    extra = {key: data[key] for key in data if key not in ("settings", "sources")}
    return Config(path=path, settings=settings, sources=sources, secrets=frozenset(located.secrets), extra=extra)


def _validate(model: type[BaseModel], data: Any, loc: tuple, located: _Located):
    if not isinstance(data, dict):
        raise ConfigError(located.path, "must be a mapping", located.lines.get(loc), _dotted(loc))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        err_loc = loc + tuple(error["loc"])
        key = _dotted(err_loc)
        line = _line_for(located, err_loc)
        kind = error["type"]
        if kind == "extra_forbidden":
            known = _model_keys(model, error["loc"][:-1])
            message = f"unknown key {error['loc'][-1]!r}{_did_you_mean(str(error['loc'][-1]), known)}"
        elif kind == "missing":
            message = "required key is missing"
        else:
            message = error["msg"].removeprefix("Value error, ")
            if "input" in error and kind not in ("value_error",) and not isinstance(error["input"], (dict, list)):
                message += f" (got {error['input']!r})"
        raise ConfigError(located.path, message, line, key) from None


def _model_keys(model: type[BaseModel], sub_loc: tuple) -> set[str]:
    # Descend into nested models (e.g. settings.fetch) to offer the right suggestions.
    for part in sub_loc:
        annotation = model.model_fields.get(part)
        if annotation is None or not isinstance(annotation.annotation, type) or not issubclass(
            annotation.annotation, BaseModel
        ):
            return set()
        model = annotation.annotation
    return set(model.model_fields)


def _did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
