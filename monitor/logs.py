"""Logging to stderr: readable lines for people, JSON lines for machines, secrets never shown."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import datetime, timezone


class RedactSecrets(logging.Filter):
    """Replaces every value that came from a ${VAR} in sources.yaml with '***'."""

    def __init__(self, secrets: Iterable[str]):
        super().__init__()
        # Longest first, so a secret containing another is hidden whole; very short values would
        # hide ordinary words, so they are left alone.
        self.secrets = sorted((s for s in set(secrets) if len(s) >= 4), key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            for secret in self.secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(fmt: str = "text", verbose: int = 0, secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%Y-%m-%d %H:%M:%S"))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    # Libraries speak only when asked for -vv.
    for noisy in ("httpx", "httpcore", "apscheduler", "pymorphy3", "apprise", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose > 1 else logging.WARNING)
    # The extractor reports every page it finds thin at WARNING: not news for a user.
    for chatty in ("trafilatura", "htmldate", "courlan", "justext"):
        logging.getLogger(chatty).setLevel(logging.DEBUG if verbose > 1 else logging.ERROR)
