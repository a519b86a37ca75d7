"""Logging to stderr (and to settings.log_file for the service): readable lines for people, JSON
lines for machines, times in UTC with a `Z`, secrets never shown.

Verbosity: by default monitor's INFO lines and the libraries' warnings; `-vv` adds monitor's own
DEBUG lines and one line per HTTP request; `-vvv` adds the libraries' debug lines too (the HTTP
client's connection chatter, the scheduler's, the extractor's). A StatusLine (progress of a long poll on a terminal) keeps to
the last line of the terminal: log lines are written above it.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

from monitor.secrets import Redactor, current

_EXCEPTIONS = logging.Formatter()  # formats a traceback as every handler would

# Libraries that speak at INFO or DEBUG about every request or job: warnings only, unless -vvv.
NOISY = ("httpx", "httpcore", "hpack", "h11", "h2", "apscheduler", "pymorphy3", "apprise", "mail.log",
         "asyncio", "charset_normalizer", "urllib3", "filelock")
# The extractor reports every page it finds thin at WARNING: not news for a user (errors only, unless -vvv).
CHATTY = ("trafilatura", "htmldate", "courlan", "justext")
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(message)s"


def utc_timestamp(created: float, milliseconds: bool = False) -> str:
    """`2026-11-24T06:05:09Z` (or `…09.123Z`): a record's time in UTC, whatever the machine's zone."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    if milliseconds:
        stamp += f".{int(created * 1000) % 1000:03d}"
    return stamp + "Z"


class RedactSecrets(logging.Filter):
    """Replaces every value that came from a ${VAR} in sources.yaml with `${VAR}`: in the message,
    its arguments, the traceback and the stack of every record, whichever logger sent it (monitor's,
    httpx's, apprise's) and at every level. Without a Redactor of its own it uses the process's
    (monitor.secrets.install), as it stands when the record is logged."""

    def __init__(self, redactor: Redactor | None = None):
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        redactor = self.redactor if self.redactor is not None else current()
        if not redactor:
            return True
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the format: logged as they are, redacted
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = redactor(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = _EXCEPTIONS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redactor(record.exc_text)
        if record.stack_info:
            record.stack_info = redactor(record.stack_info)
        return True


class TextFormatter(logging.Formatter):
    """`2026-11-24T06:05:09Z WARNING source 'Ledger' failing: …`: the time in UTC, marked `Z`."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return utc_timestamp(record.created)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": utc_timestamp(record.created, milliseconds=True),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info or record.exc_text:  # exc_text: the traceback as the filter redacted it
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False)


class StatusLine:
    """One line of progress at the bottom of a terminal, redrawn in place (`\\r`, erase to the end
    of the line). Log lines sent to the same stream while it shows are written above it."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.text = ""
        self.lock = threading.RLock()

    def show(self, text: str) -> None:
        with self.lock:
            self.text = text[: self._width() - 1]
            self._draw()

    def clear(self) -> None:
        with self.lock:
            if self.text:
                self._erase()
                self.text = ""

    def _width(self) -> int:
        import shutil

        return max(20, shutil.get_terminal_size((100, 24)).columns)

    def _erase(self) -> None:
        self.stream.write("\r\x1b[K")
        self.stream.flush()

    def _draw(self) -> None:
        self.stream.write("\r\x1b[K" + self.text)
        self.stream.flush()

    def __enter__(self) -> StatusLine:
        global _status
        _status = self
        return self

    def __exit__(self, *exc) -> None:
        global _status
        self.clear()
        _status = None


_status: StatusLine | None = None


class _StderrHandler(logging.StreamHandler):
    """A StreamHandler that writes a log line above the StatusLine showing on its stream, if any."""

    def emit(self, record: logging.LogRecord) -> None:
        status = _status
        if status is None or status.stream is not self.stream or not status.text:
            super().emit(record)
            return
        with status.lock:
            status._erase()
            super().emit(record)
            status._draw()


def _formatter(fmt: str) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else TextFormatter()


def setup_logging(fmt: str = "text", verbose: int = 0, redactor: Redactor | None = None, *,
                  log_file: str | Path | None = None, max_bytes: int = 10 * 1024 * 1024,
                  backups: int = 5) -> None:
    """One handler on the root logger, on stderr, and with `log_file` a second one writing to that
    file, rotated when it would pass `max_bytes` (`backups` older files kept: .1 the newest).
    Secrets are redacted by `redactor`, or without one by the process's Redactor
    (monitor.secrets.install), whatever it is when a record is logged. An OSError (the file
    cannot be opened) is raised before the handlers change."""
    handlers: list[logging.Handler] = [_StderrHandler(sys.stderr)]
    if log_file is not None:
        path = Path(log_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.handlers.RotatingFileHandler(path, maxBytes=max(1, int(max_bytes)),
                                                             backupCount=max(1, int(backups)), encoding="utf-8"))
    redact = RedactSecrets(redactor)
    for handler in handlers:
        handler.setFormatter(_formatter(fmt))
        handler.addFilter(redact)
    root = logging.getLogger()
    for old in root.handlers:
        if isinstance(old, logging.FileHandler):
            old.close()
    root.handlers[:] = handlers
    everything = verbose >= 3
    root.setLevel(logging.DEBUG if everything else logging.INFO)
    # -vv: monitor's own debug lines; the libraries stay as quiet as by default until -vvv.
    logging.getLogger("monitor").setLevel(logging.DEBUG if verbose >= 2 else logging.NOTSET)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.DEBUG if everything else logging.WARNING)
    if verbose == 2:  # one line per request ("HTTP Request: GET … 200 OK"), not the connection chatter
        logging.getLogger("httpx").setLevel(logging.INFO)
    for chatty in CHATTY:
        logging.getLogger(chatty).setLevel(logging.DEBUG if everything else logging.ERROR)
