"""sources.yaml → typed configuration.

Every problem of the file is reported at once (a ConfigErrors, up to MAX_ERRORS shown), each naming
the file, the line and the key, so the CLI prints one readable line per mistake and exits 2; one
problem alone is a plain ConfigError. A ${VAR} that is not set blocks only the source or channel
that holds it (strict=False, what the commands use; `monitor check` is strict).

Line numbers come from PyYAML's node marks: the YAML is composed into nodes first, converted to
plain data while remembering where each value stood, and only then validated by pydantic; a
validation error's location is mapped back to a line.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from monitor.options.evidence import EvidenceSettings
from monitor.notify import channel_types
from monitor.options import Strict, duration_field
from monitor.options.fetch import DEFAULT_USER_AGENT, FetchSettings
from monitor.secrets import Redactor
from monitor.sources import SourceConfig, reads_articles, source_types
from monitor.topics.shipped import default_topic_names
from monitor.options.web import WebSettings
from monitor.dburl import is_postgres_url, postgres_url_problem, redact_url

if TYPE_CHECKING:
    from monitor.fetch import Fetcher

DEFAULT_CONFIG_NAME = "sources.yaml"

log = logging.getLogger(__name__)


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

    def lines(self) -> list[str]:
        """The problem as lines to print, one per error."""
        return [str(self)]


MAX_ERRORS = 20  # shown at once; a file with more says how many more


class ConfigErrors(ConfigError):
    """Every problem found in the file, in the order of the file. Its own path, line, key and
    message are the first one's, so code that reads a single ConfigError still can."""

    def __init__(self, errors: list[ConfigError]):
        self.errors = list(errors)
        first = self.errors[0]
        super().__init__(first.path, first.message, first.line, first.key)

    def lines(self) -> list[str]:
        shown = [str(error) for error in self.errors[:MAX_ERRORS]]
        if len(self.errors) > MAX_ERRORS:
            shown.append(f"{self.path}: … and {len(self.errors) - MAX_ERRORS} more errors not shown; fix these first")
        return shown

    def __str__(self) -> str:
        return "\n".join(self.lines())


# --- models ------------------------------------------------------------------------------------

class Settings(Strict):
    database: str = "data/monitor.db"
    timezone: str = "Europe/Kyiv"
    user_agent: str = DEFAULT_USER_AGENT
    contact: str | None = None
    fetch: FetchSettings = Field(default_factory=FetchSettings)
    evidence: EvidenceSettings = Field(default_factory=EvidenceSettings)  # monitor/evidence/
    web: WebSettings = Field(default_factory=WebSettings)  # monitor/web/
    # Longest a feed, page or article may take to read (in a worker process); past it the
    # document is abandoned and its source fails with that reason.
    document_timeout: timedelta = Field(default=timedelta(seconds=20))
    # Items that matched no topic keep their key (so they never come back as new) but lose their
    # text after this long; matched items and their evidence are kept whole.
    retention: timedelta = Field(default=timedelta(days=90))
    # The service's log (`monitor run`), beside stderr: relative to this file's folder unless
    # absolute. Rotated when it reaches log_max_mb; log_keep older files are kept (.1 the newest).
    log_file: str | None = None
    log_max_mb: float = Field(default=10.0, gt=0, le=10_000)  # size at which the log file is rotated
    log_keep: int = Field(default=5, ge=1, le=100)  # rotated log files kept

    _document_timeout = field_validator("document_timeout", "retention", mode="before")(duration_field)

    @field_validator("database")
    @classmethod
    def _database_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank (a file path such as data/monitor.db)")
        if is_postgres_url(value):  # PostgreSQL (monitor/postgres/): the value itself is never quoted back
            problem = postgres_url_problem(value)
            if problem:
                raise ValueError(f"is not a usable PostgreSQL URL: {problem} (expected "
                                 f"postgresql://user:${{PGPASSWORD}}@host:port/database)")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder such as "Europe"
            hint = _did_you_mean(value, available_timezones(), cutoff=0.8) or " (use an IANA name such as Europe/Kyiv)"
            raise ValueError(f"unknown time zone {value!r}{hint}") from None
        return value


class TopicConfig(Strict):
    """A user topic (or an override of a shipped one) under `topics:`."""

    query: str
    languages: list[str] | None = None
    exclude: str | None = None


_CRON_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]  # crontab numbers: 0 and 7 are Sunday
# A crontab item of numbers: *, N, N-M, with /STEP after either
_CRON_NUMBERS = re.compile(r"(\*|\d+)(?:-(\d+))?(?:/(\d+))?")


def _crontab_weekdays(field: str) -> str:
    """The crontab day-of-week field in APScheduler's terms. APScheduler 3 counts 0 as Monday
    (crontab: Sunday), so numbers are turned into day names, which both read the same way."""
    if field == "*" or not any(ch.isdigit() for ch in field):
        return field
    days: list[str] = []
    for item in field.split(","):
        match = _CRON_NUMBERS.fullmatch(item)
        if not match:
            if any(ch.isdigit() for ch in item):
                raise ValueError(f"day of week {item!r} is not a number 0-7, a range such as 1-5 or a name such as mon")
            days.append(item)
            continue
        start, end, step = match.groups()
        first, last = (0, 6) if start == "*" else (int(start), int(end) if end else (6 if step else int(start)))
        if not (0 <= first <= 7 and 0 <= last <= 7 and first <= last) or (step and int(step) == 0):
            raise ValueError(f"day of week {item!r} is out of range (0-7, 0 and 7 are Sunday)")
        days += [_CRON_DAYS[n] for n in range(first, last + 1, int(step or 1))]
    return ",".join(dict.fromkeys(days))


_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12))
_CRON_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_CRON_WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]  # APScheduler's order
_CRON_NAMES = re.compile(r"([a-z]+)(?:-([a-z]+))?", re.IGNORECASE)


def check_crontab(expression: str) -> None:
    """Raise ValueError unless `expression` is a crontab line (minute hour day month weekday)
    that cron_trigger turns into a schedule: numbers, *, ranges, steps and lists, month and day
    names, by APScheduler's own rules (tests/test_digest_schedule.py holds the two to each
    other). Checked without APScheduler, which every command that reads the configuration
    imported for it (with tzlocal and asyncio: 47 ms of `monitor check`'s imports under
    -X importtime). Of APScheduler's extensions to crontab only "last" (the month's last day) is
    taken, and a name stands alone ("jan5", which APScheduler reads as "jan", is refused)."""
    values = expression.split()
    if len(values) != 5:
        raise ValueError(f"wrong number of fields; got {len(values)}, expected 5")
    for (field, low, high), value in zip(_CRON_FIELDS, values):
        for item in value.split(","):
            if field == "day" and item.lower() == "last":
                continue  # APScheduler's: the month's last day (accepted before this check existed)
            _check_cron_item(field, item, low, high, _CRON_MONTHS if field == "month" else None)
    for item in _crontab_weekdays(values[4]).split(","):  # numbers become names there
        if item != "*":
            _check_cron_item("day of week", item, 0, 6, _CRON_WEEKDAYS, numbers=False)


def _check_cron_item(field: str, item: str, low: int, high: int, names: list[str] | None,
                     numbers: bool = True) -> None:
    match = _CRON_NUMBERS.fullmatch(item) if numbers else None
    if match:
        first, last, step = match.groups()
        if step is not None and int(step) == 0:
            raise ValueError(f"the step in {item!r} must be higher than 0")
        if first == "*":
            if last is not None:
                raise ValueError(f"{item!r} is not a {field} value, range or step")
            span = high - low
        else:
            start, end = int(first), int(last) if last is not None else None
            if end is None and step is None:
                end = start
            if end is not None and start > end:
                raise ValueError(f"the range {item!r} runs backwards")
            if start < low or (end is not None and end > high):
                raise ValueError(f"{field} {item!r} is out of range ({low}-{high})")
            span = (end or high) - start  # as APScheduler measures it
        if step is not None and int(step) > span:
            raise ValueError(f"the step in {item!r} is larger than the range it steps through ({span})")
        return
    match = _CRON_NAMES.fullmatch(item) if names else None
    if match:
        first, last = (name.lower() if name else None for name in match.groups())
        for name in (first, last):
            if name is not None and name not in names:
                raise ValueError(f"{name!r} is not a {field} name ({', '.join(names)})")
        if last is not None and names.index(first) > names.index(last):
            raise ValueError(f"the range {item!r} runs backwards")
        return
    raise ValueError(f"{item!r} is not a {field} value, range or step")


def cron_trigger(expression: str, timezone: str | None = None):
    """A CronTrigger for a standard crontab line (minute hour day month weekday)."""
    from apscheduler.triggers.cron import CronTrigger

    values = expression.split()
    if len(values) != 5:
        raise ValueError(f"wrong number of fields; got {len(values)}, expected 5")
    return CronTrigger(minute=values[0], hour=values[1], day=values[2], month=values[3],
                       day_of_week=_crontab_weekdays(values[4]), timezone=timezone)


class DigestConfig(Strict):
    name: str
    schedule: str = "0 8 * * *"          # cron: minute hour day month weekday, in settings.timezone
    channels: list[str] | None = None    # None: every configured channel
    topics: list[str] | None = None      # None: every topic
    tags: list[str] | None = None        # None: every source; else sources with any of these tags
    send_empty: bool = False

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        try:
            check_crontab(value)
        except ValueError as exc:
            raise ValueError(f"not a valid cron schedule {value!r} ({exc}); e.g. '0 8 * * *' for 08:00 daily")
        return value


class AlertConfig(Strict):
    """Immediate messages, one per newly matched story (no schedule)."""

    name: str
    channels: list[str] | None = None
    topics: list[str] | None = None
    tags: list[str] | None = None


DEFAULT_CHANNEL = "files"
DEFAULT_DIGEST = "daily"


@dataclass(frozen=True)
class Config:
    path: Path
    settings: Settings
    sources: list[SourceConfig]
    topics: dict[str, TopicConfig] = field(default_factory=dict)
    channels: dict[str, Any] = field(default_factory=dict)   # name → a channel type's options model
    digests: list[DigestConfig] = field(default_factory=list)
    alerts: list[AlertConfig] = field(default_factory=list)
    # Environment variables that ${VAR} expanded, name → value as the environment holds it: the
    # redactor hides each value wherever text leaves the process (logs, the database, digests, tables).
    secrets: dict[str, str] = field(default_factory=dict, repr=False)  # never in a printed Config
    # ${VAR}s that are not set, in a source or a channel: that source is not polled (it is loaded
    # with enabled: false) and that channel delivers nothing, until the variable is set; everything
    # else works. `monitor check` reports each as an error. Name → the located error.
    unavailable_sources: dict[str, ConfigError] = field(default_factory=dict)
    unavailable_channels: dict[str, ConfigError] = field(default_factory=dict)
    missing: list[ConfigError] = field(default_factory=list)   # each unset ${VAR}, where it is used

    @property
    def log_file_path(self) -> Path | None:
        if not self.settings.log_file:
            return None
        log_file = Path(self.settings.log_file).expanduser()
        return log_file if log_file.is_absolute() else self.path.parent / log_file

    @cached_property
    def redactor(self) -> Redactor:
        """Replaces each secret (in any encoding of it) by `${NAME}`; see monitor/secrets.py."""
        return Redactor(self.secrets)

    @property
    def database_url(self) -> str | None:
        """settings.database when it names a PostgreSQL database (postgresql://…, its ${VAR}s
        expanded), else None: the database is the SQLite file at database_path."""
        value = self.settings.database.strip()
        return value if is_postgres_url(value) else None

    @property
    def database(self) -> str | Path:
        """What monitor.postgres.open_database opens: the PostgreSQL URL, or the SQLite file's path."""
        return self.database_url or self.database_path

    @property
    def database_display(self) -> str:
        """The database as messages name it: the URL without its password, or the file's path."""
        url = self.database_url
        return redact_url(url) if url else str(self.database_path)

    @property
    def database_path(self) -> Path:
        """The SQLite file. For a PostgreSQL URL there is none (the commands open either through
        monitor.postgres.open_database): a StoreError, one line and exit code 3 under the
        commands' database_errors, rather than a path made of the URL."""
        if self.database_url:
            from monitor.dbfile import StoreError

            raise StoreError(self.database_display, "is a PostgreSQL database, and this command works on a "
                             "SQLite file only", "open it with monitor.postgres.open_database(config.database)")
        db = Path(self.settings.database).expanduser()
        return db if db.is_absolute() else self.path.parent / db

    @property
    def user_agent(self) -> str:
        """The User-Agent of every request: the configured one, with the contact address."""
        agent, contact = self.settings.user_agent, self.settings.contact
        return f"{agent} (contact: {contact})" if contact and contact not in agent else agent

    def fetcher(self) -> Fetcher:
        """The one HTTP client, with the configured limits and User-Agent."""
        from monitor.fetch import Fetcher  # here: commands that only read the file load no client

        return Fetcher(self.settings.fetch, self.user_agent)

    @property
    def reads_articles(self) -> bool:
        """Whether any source may have its article pages read (fetch_article other than never)."""
        return reads_articles(self.sources)

    def source(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(name)


TOP_LEVEL_KEYS = {"settings", "sources", "topics", "channels", "digests", "alerts"}


# --- YAML with positions -----------------------------------------------------------------------

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
# Far more than any real sources.yaml; stops an alias "bomb" (or a self-referencing alias) early.
_MAX_NODES = 200_000


class _Located:
    """Plain data converted from YAML nodes, plus the line of every path in it."""

    def __init__(self, path: Path):
        self.path = path
        self.lines: dict[tuple, int] = {}
        self.secrets: dict[str, str] = {}                    # variable name → its value
        self.expanded: list[tuple[tuple, str, str]] = []     # (loc, text as written, text expanded)
        self.errors: list[ConfigError] = []                  # every problem found, in the order found
        self.missing: list[tuple[tuple, ConfigError]] = []   # (loc, error) of each ${VAR} not set
        self._nodes = 0
        self._constructor = yaml.SafeLoader("")  # builds scalars exactly as yaml.safe_load would

    def add(self, error: ConfigError) -> None:
        """Record a problem and go on. One per place: nothing more is said of a key already
        reported (or inside one), nor of a value holding a ${VAR} that is not set (its own error
        says why the value is wrong)."""
        for earlier in self.errors + [missing for _, missing in self.missing]:
            if earlier.key and error.key and _within(error.key, earlier.key):
                return
            if earlier.key is None and error.key is None and earlier.line == error.line \
                    and earlier.message == error.message:
                return
        self.errors.append(error)

    def convert(self, node: yaml.Node, loc: tuple = ()) -> Any:
        """Plain data for `node`. The caller has recorded the line of `loc` itself: for a mapping entry
        that is the line of its key (not of a block value starting below it), for a list item the item's."""
        self._nodes += 1
        if self._nodes > _MAX_NODES:
            raise ConfigError(self.path, "too many values (an alias expands into a huge or endless structure?)",
                              node.start_mark.line + 1, _dotted(loc) or None)
        if not loc:
            self.lines[loc] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            result = self._merged(node, loc)
            explicit: dict[str, int] = {}
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                key = self._scalar(key_node, loc)
                if not isinstance(key, str):
                    key = str(key)
                key_line = key_node.start_mark.line + 1
                if key in explicit:
                    self.add(ConfigError(self.path, f"key '{key}' appears twice (first on line {explicit[key]})",
                                         key_line, _dotted(loc + (key,))))
                    continue
                explicit[key] = key_line
                self.lines[loc + (key,)] = key_line
                result[key] = self.convert(value_node, loc + (key,))
            return result
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                self.lines[loc + (index,)] = item.start_mark.line + 1
                items.append(self.convert(item, loc + (index,)))
            return items
        return self._scalar(node, loc)

    def _merged(self, node: yaml.MappingNode, loc: tuple) -> dict[str, Any]:
        """Keys brought in by YAML merge keys (`<<: *defaults`); the mapping's own keys override them."""
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE_TAG:
                continue
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            # The first mapping listed wins, so convert in reverse and let earlier ones overwrite.
            for source in reversed(sources):
                if not isinstance(source, yaml.MappingNode):
                    self.add(ConfigError(self.path, "'<<' must merge a mapping, such as an alias '*defaults'",
                                         source.start_mark.line + 1, _dotted(loc + ("<<",))))
                    continue
                result.update(self.convert(source, loc))
        return result

    def _scalar(self, node: yaml.Node, loc: tuple) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise ConfigError(self.path, "a key must be plain text", node.start_mark.line + 1, _dotted(loc) or None)
        if node.tag == _STR_TAG:
            return self._expand(node.value, node, loc)
        if node.tag == _TIMESTAMP_TAG:
            return node.value  # dates stay text: no setting wants a date object
        try:
            return self._constructor.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError:
            self.add(ConfigError(self.path, f"unsupported YAML tag {node.tag!r} (remove it, or quote the value)",
                                 node.start_mark.line + 1, _dotted(loc) or None))
            return node.value
        except (ValueError, TypeError):
            return node.value

    def _expand(self, text: str, node: yaml.Node, loc: tuple) -> str:
        """`text` with each ${VAR} (or ${VAR:-default}) replaced; every value is remembered as a secret.
        A variable that is not set stays as written (`${VAR}`), and the place is remembered: what
        needs the value cannot be used (parse_config decides what that blocks)."""
        line, key = node.start_mark.line + 1, _dotted(loc) or None

        def substitute(match: re.Match) -> str:
            name, default = match.group(1), match.group(2)
            value = os.environ.get(name)
            if value is None:
                if default is not None:
                    return default
                if not any(where == loc and f"${{{name}}}" in error.message for where, error in self.missing):
                    self.missing.append((loc, ConfigError(
                        self.path, f"environment variable {name} is not set (referenced as ${{{name}}};"
                        f" set it or write ${{{name}:-default}})", line, key)))
                return match.group(0)
            if not value:
                return value
            first = name not in self.secrets
            self.secrets[name] = value
            usable = _TRAILING_LINE_BREAK.sub("", value)
            for position, ch in enumerate(usable):
                if unicodedata.category(ch) == "Cc":
                    self.add(ConfigError(self.path, f"environment variable {name} (referenced as ${{{name}}}) contains "
                                         f"{_CONTROL_NAMES.get(ch, 'a control character')} (U+{ord(ch):04X}, character "
                                         f"{position + 1}); control characters are not allowed in a value: set the "
                                         f"variable again without it (its value is not shown here)", line, key))
                    return usable
            if usable != value and first:
                log.warning("environment variable %s (referenced as ${%s} at %s:%d) ends with a line break; "
                            "it is used without it", name, name, self.path, line)
            return usable

        expanded = _ENV_REF.sub(substitute, text)
        if expanded != text:
            self.expanded.append((loc, text, expanded))
        return expanded

    def hide_secrets(self, error: ConfigError) -> None:
        """A message that quotes a value from ${VAR} quotes the text as written (`${VAR}`, or
        `https://feeds.example/x?token=${TOKEN}`) instead; any other trace of a value, in any
        encoding, becomes `${VAR}` (monitor/secrets.py)."""
        message = error.message
        for loc, written, expanded in sorted(self.expanded, key=lambda e: len(e[2]), reverse=True):
            if error.key is None or _within(_dotted(loc), error.key):
                # Quoted, as pydantic and our messages quote values: short values too ("got '5x'").
                for quote in ("'", '"'):
                    message = message.replace(f"{quote}{expanded}{quote}", f"{quote}{written}{quote}")
        error.message = Redactor(self.secrets)(message)
        error.args = (str(error),)


def _within(key: str, ancestor: str) -> bool:
    return key == ancestor or key.startswith((ancestor + ".", ancestor + "["))


# A value read from a file into a variable often keeps the file's last line break: one is dropped,
# with a warning. Any other control character (a line break inside, a tab, an escape) is refused.
_TRAILING_LINE_BREAK = re.compile(r"\r?\n\Z")
_CONTROL_NAMES = {"\n": "a line break", "\r": "a carriage return", "\t": "a tab"}


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


def load_config(path: str | os.PathLike, *, strict: bool = True) -> Config:
    """The configuration at `path`; a ConfigError (a ConfigErrors when there are several) names
    every problem. strict=False lets a ${VAR} that is not set in a source or a channel through: that
    source or channel is unavailable (Config.unavailable_sources / unavailable_channels), the rest
    works. strict=True (`monitor check`, and the default) makes it an error like any other."""
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
    return parse_config(text, path, strict=strict)


def parse_config(text: str, path: Path, *, strict: bool = True) -> Config:
    """Every problem of the file is collected, each with its line and key; a problem that stops
    the reading (a YAML syntax error, a top level that is not a mapping) ends the list there."""
    located = _Located(path)
    config = None
    try:
        config = _parse(text, path, located, strict)
    except ConfigError as exc:
        located.errors.append(exc)
    except RecursionError:
        located.errors.append(ConfigError(path, "nested too deeply (or an alias refers to itself)"))
    if not located.errors:
        assert config is not None
        return config
    # A value from ${VAR} may be quoted back in a message ("got '...'"): never the value.
    for error in located.errors:
        located.hide_secrets(error)
    errors = sorted(located.errors, key=lambda e: e.line or 0)
    if len(errors) == 1:
        raise errors[0]
    raise ConfigErrors(errors)


def _parse(text: str, path: Path, located: _Located, strict: bool = True) -> Config | None:
    node = _compose(text, path)
    if node is None:
        raise ConfigError(path, "file is empty; it needs at least a 'sources:' list", 1)
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(path, "the top level must be a mapping with 'settings:' and 'sources:'",
                          node.start_mark.line + 1)

    data = located.convert(node)

    suggested_sources = False
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            hint = _did_you_mean(key, TOP_LEVEL_KEYS)
            suggested_sources = suggested_sources or "'sources'" in hint
            located.add(ConfigError(path, f"unknown top-level key {key!r}{hint}", located.lines.get((key,)), key))

    raw_settings = data.get("settings")
    settings = _validate(Settings, {} if raw_settings is None else raw_settings, ("settings",), located)

    raw_sources = data.get("sources")
    if "sources" not in data:
        if not suggested_sources:  # "unknown key 'source'; did you mean 'sources'?" says it already
            located.add(ConfigError(path, "required key 'sources' is missing; add a list with at least one source",
                                    1, "sources"))
        raw_sources = []
    elif raw_sources is None or raw_sources == []:
        located.add(ConfigError(path, "the list is empty; add at least one source ('- name: ...', 'type: rss', "
                                "'url: ...')", located.lines.get(("sources",)), "sources"))
        raw_sources = []
    elif not isinstance(raw_sources, list):
        located.add(ConfigError(path, "must be a list of sources (each item starting with '- name:')",
                                located.lines.get(("sources",)), "sources"))
        raw_sources = []

    registry = source_types()
    sources: dict[int, SourceConfig] = {}
    raw_tags: set[str] = set()  # of every source, valid or not: a digest naming one is not also wrong
    seen: dict[str, int] = {}
    for index, raw_source in enumerate(raw_sources):
        loc = ("sources", index)
        if not isinstance(raw_source, dict):
            located.add(ConfigError(path, "each source must be a mapping with name, type and url",
                                    located.lines.get(loc), _dotted(loc)))
            continue
        if isinstance(raw_source.get("tags"), list):
            raw_tags.update(tag for tag in raw_source["tags"] if isinstance(tag, str))
        # Names are compared as written (stripped), whether or not the rest of the entry is valid.
        name = raw_source.get("name").strip() if isinstance(raw_source.get("name"), str) else None
        duplicate = bool(name) and name in seen
        if duplicate:
            located.add(ConfigError(path, f"duplicate source name {name!r} (first used on line {seen[name]})",
                                    located.lines.get(loc + ("name",)), _dotted(loc + ("name",))))
        elif name:
            seen[name] = located.lines.get(loc + ("name",)) or 0
        plugin = _plugin(registry, raw_source, loc, located)
        source = _validate(plugin.options, raw_source, loc, located) if plugin else None
        if source is not None and not duplicate:
            sources[index] = source

    topics = _parse_topics(data.get("topics"), located)
    raw_channels = data.get("channels")
    channels = _parse_channels(raw_channels, located)
    channel_names = {str(name) for name in raw_channels} if isinstance(raw_channels, dict) else set(channels)
    digests = _parse_named(DigestConfig, data.get("digests"), "digests", located)   # [(index, entry)]
    alerts = _parse_named(AlertConfig, data.get("alerts"), "alerts", located)
    if not channel_names:  # digests are written to files until a channel is configured
        channels = {DEFAULT_CHANNEL: channel_types()["file"].options(type="file")}
        channel_names = set(channels)
    if "digests" not in data:
        digests = [(0, DigestConfig(name=DEFAULT_DIGEST))]
    raw_topics = data.get("topics")
    topic_names = {str(name) for name in raw_topics} if isinstance(raw_topics, dict) else set(topics)
    _check_references(digests, alerts, channel_names, topic_names, raw_tags, located)

    # A ${VAR} that is not set blocks what holds it: a source is not polled, a channel delivers
    # nothing. Anywhere else (settings, topics, digests), or for `monitor check`, it is an error.
    unavailable_sources: dict[str, ConfigError] = {}
    unavailable_channels: dict[str, ConfigError] = {}
    for loc, error in located.missing:
        section = loc[0] if loc else None
        if strict or len(loc) < 2 or section not in ("sources", "channels"):
            located.errors.append(error)  # not add(): its own place holds an earlier note of it
        elif section == "sources":
            source = sources.get(loc[1])
            if source is not None:
                sources[loc[1]] = source.model_copy(update={"enabled": False})
                unavailable_sources.setdefault(source.name, error)
        else:
            unavailable_channels.setdefault(str(loc[1]), error)
    if located.errors:
        return None
    return Config(path=path, settings=settings, sources=list(sources.values()), topics=topics, channels=channels,
                  digests=[entry for _, entry in digests], alerts=[entry for _, entry in alerts],
                  secrets=dict(located.secrets),
                  unavailable_sources=unavailable_sources, unavailable_channels=unavailable_channels,
                  missing=sorted((error for _, error in located.missing), key=lambda e: e.line or 0))


def _parse_topics(raw: Any, located: _Located) -> dict[str, TopicConfig]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        located.add(ConfigError(located.path, "must be a mapping of topic name to {query: ...}",
                                located.lines.get(("topics",)), "topics"))
        return {}
    topics = {}
    for name, body in raw.items():
        loc = ("topics", name)
        if isinstance(body, str):
            body = {"query": body}
        topic = _validate(TopicConfig, body, loc, located)
        if topic is None:
            continue
        for key in ("query", "exclude"):
            text = getattr(topic, key)
            if text is None:
                continue
            from monitor.topics import TopicSyntaxError, compile_topic  # the matcher only when topics are set

            try:
                compile_topic(str(name), text if key == "query" else topic.query,
                              languages=topic.languages, exclude=text if key == "exclude" else None)
            except TopicSyntaxError as exc:
                located.add(ConfigError(located.path, f"topic {name!r}: syntax error at position {exc.position}: "
                                        f"{exc.message}", _line_for(located, loc + (key,)), _dotted(loc + (key,))))
                break
        else:
            topics[str(name)] = topic
    return topics


def _parse_channels(raw: Any, located: _Located) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        located.add(ConfigError(located.path, "must be a mapping of channel name to its settings (type: email, ...)",
                                located.lines.get(("channels",)), "channels"))
        return {}
    registry = channel_types()
    channels = {}
    for name, body in raw.items():
        loc = ("channels", name)
        if not isinstance(body, dict):
            located.add(ConfigError(located.path, f"each channel must be a mapping with a 'type' (one of: "
                                    f"{', '.join(registry.names())})", located.lines.get(loc), _dotted(loc)))
            continue
        plugin = _plugin(registry, body, loc, located)
        options = _validate(plugin.options, body, loc, located) if plugin else None
        if options is not None:
            channels[str(name)] = options
    return channels


def _plugin(registry, body: dict, loc: tuple, located: _Located):
    """The registered class named by an entry's `type:` (a source type, a channel type), or None
    (the problem recorded)."""
    known = ", ".join(registry.names())
    type_loc = loc + ("type",)
    if "type" not in body:
        located.add(ConfigError(located.path, f"required key 'type' is missing (one of: {known})",
                                located.lines.get(loc), _dotted(type_loc)))
        return None
    kind = body["type"]
    if kind is None or kind == "":
        located.add(ConfigError(located.path, f"is empty (one of: {known})", located.lines.get(type_loc),
                                _dotted(type_loc)))
        return None
    if not isinstance(kind, str) or kind not in registry:
        located.add(ConfigError(located.path, f"unknown {registry.kind} {kind!r}{_did_you_mean(str(kind), registry)}"
                                f" (known: {known})", located.lines.get(type_loc), _dotted(type_loc)))
        return None
    return registry[kind]


def _parse_named(model: type[BaseModel], raw: Any, section: str, located: _Located) -> list:
    if raw is None:
        return []
    if not isinstance(raw, list):
        located.add(ConfigError(located.path, "must be a list (each item starting with '- name:')",
                                located.lines.get((section,)), section))
        return []
    entries, seen = [], {}
    for index, body in enumerate(raw):
        loc = (section, index)
        entry = _validate(model, body, loc, located)
        if entry is None:
            continue
        if entry.name in seen:
            located.add(ConfigError(located.path, f"duplicate name {entry.name!r} (first used on line "
                                    f"{seen[entry.name]})", _line_for(located, loc + ("name",)),
                                    _dotted(loc + ("name",))))
            continue
        seen[entry.name] = _line_for(located, loc + ("name",))
        entries.append((index, entry))
    return entries


def _check_references(digests, alerts, channels: set[str], topics: set[str], tags: set[str],
                      located: _Located) -> None:
    """Digests and alerts must name channels, topics and tags that exist."""
    topic_names = topics | set(default_topic_names())
    names: dict[str, str] = {}
    for section, entries in (("digests", digests), ("alerts", alerts)):
        for index, entry in entries:
            loc = (section, index)
            if entry.name in names:
                located.add(ConfigError(located.path, f"name {entry.name!r} is already used by one of the "
                                        f"{names[entry.name]}", _line_for(located, loc + ("name",)),
                                        _dotted(loc + ("name",))))
            names[entry.name] = section
            for key, known in (("channels", channels), ("topics", topic_names), ("tags", tags)):
                for position, value in enumerate(getattr(entry, key) or []):
                    if value not in known:
                        listed = ", ".join(sorted(known)) or "none"
                        located.add(ConfigError(located.path, f"unknown {key[:-1]} {value!r}"
                                                f"{_did_you_mean(value, known)} (known: {listed})",
                                                _line_for(located, loc + (key, position)),
                                                _dotted(loc + (key, position))))


# libyaml's parser composes the same nodes, marks included, ~13x faster (a 200-source file: 4 ms, not
# 50). A file it refuses is read again by PyYAML's own, whose messages are the ones explained below.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _compose(text: str, path: Path) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=_FAST_LOADER)
    except yaml.YAMLError:
        pass
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark, problem, context = exc.problem_mark or exc.context_mark, exc.problem or "invalid YAML", exc.context
        started = exc.context_mark
        if context and problem.startswith("but "):  # "expected a single document ..., but found another"
            message = f"{context}, {problem}"
        elif context and started is not None and "end of stream" in problem:
            # The file ended inside something left open: the place it was opened is what to fix.
            mark = started
            message = f"{problem} ({context} that starts on this line; is a quote or bracket left open?)"
        elif context and started is not None and mark is not None and started.line != mark.line:
            message = f"{problem} ({context} started on line {started.line + 1})"
        elif context:
            message = f"{problem} ({context})"
        else:
            message = problem
        if "\\t" in problem:
            message += "; YAML does not allow tabs for indentation, use spaces"
        raise ConfigError(path, f"YAML syntax error: {message}", mark.line + 1 if mark else None) from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise ConfigError(path, f"unacceptable character U+{code:04X} (control characters are not allowed in YAML)",
                          line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(path, f"YAML error: {exc}") from None


def _validate(model: type[BaseModel], data: Any, loc: tuple, located: _Located):
    """The model, or None when `data` does not make one (every problem recorded, in file order)."""
    if not isinstance(data, dict):
        located.add(ConfigError(located.path, "must be a mapping (indented 'key: value' lines)",
                                located.lines.get(loc), _dotted(loc)))
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = sorted(exc.errors(), key=lambda e: _line_for(located, loc + tuple(e["loc"])) or 0)
        for error in errors:
            err_loc = loc + tuple(error["loc"])
            located.add(ConfigError(located.path, _message(model, error), _line_for(located, err_loc),
                                    _dotted(err_loc)))
        return None


def _message(model: type[BaseModel], error: dict) -> str:
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        known = _model_keys(model, error["loc"][:-1])
        return f"unknown key {error['loc'][-1]!r}{_did_you_mean(str(error['loc'][-1]), known)}"
    if kind == "missing":
        return f"required key {error['loc'][-1]!r} is missing"
    if kind == "value_error":
        return error["msg"].removeprefix("Value error, ")
    if kind == "string_type":
        if isinstance(value, (bool, int, float)):
            return f"expected text, got {value!r}; put the value in quotes"
        return f"expected text, got {_describe(value)}"
    if kind == "list_type":
        return f"must be a list such as [a, b], got {_describe(value)}"
    if kind in ("model_type", "dict_type"):
        return f"must be a mapping (indented 'key: value' lines), got {_describe(value)}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {_describe(value)}"
    message = re.sub(r"^Input should be\b", "must be", error["msg"])
    if "input" in error and not isinstance(value, (dict, list)):
        message += f" (got {value!r})"
    return message


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


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


def _did_you_mean(word: str, choices, cutoff: float = 0.6) -> str:
    by_lower = {str(choice).lower(): str(choice) for choice in choices}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=cutoff)
    return f"; did you mean {by_lower[close[0]]!r}?" if close else ""
