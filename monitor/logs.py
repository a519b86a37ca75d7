"""Logging to stderr: readable lines for people, JSON lines for machines, secrets never shown."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

from monitor.secrets import Redactor, current

_EXCEPTIONS = logging.Formatter()  # formats a traceback as every handler would


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


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info or record.exc_text:  # exc_text: the traceback as the filter redacted it
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(fmt: str = "text", verbose: int = 0, redactor: Redactor | None = None) -> None:
    """One handler on the root logger, on stderr. Secrets are redacted by `redactor`, or without one
    by the process's Redactor (monitor.secrets.install), whatever it is when a record is logged."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%Y-%m-%d %H:%M:%S"))
    handler.addFilter(RedactSecrets(redactor))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    # Libraries speak only when asked for -vv.
    for noisy in ("httpx", "httpcore", "apscheduler", "pymorphy3", "apprise", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose > 1 else logging.WARNING)
    # The extractor reports every page it finds thin at WARNING: not news for a user.
    for chatty in ("trafilatura", "htmldate", "courlan", "justext"):
        logging.getLogger(chatty).setLevel(logging.DEBUG if verbose > 1 else logging.ERROR)
