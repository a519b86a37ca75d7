"""PostgreSQL connection URLs: which settings.database values name one, and how to show one
without its password."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(value: object) -> bool:
    """settings.database names a PostgreSQL database (postgresql://… or postgres://…), not a file."""
    return isinstance(value, str) and value.strip().lower().startswith(SCHEMES)


def redact_url(url: str) -> str:
    """The URL with its password (and any password= parameter) replaced by ***, for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "postgresql://***"
    netloc = parts.netloc
    if "@" in netloc:
        credentials, _, host = netloc.rpartition("@")
        user, colon, _ = credentials.partition(":")
        netloc = f"{user}{':***' if colon else ''}@{host}"
    query = "&".join("password=***" if pair.lower().startswith("password=") else pair
                     for pair in parts.query.split("&")) if parts.query else ""
    return urlunsplit(parts._replace(netloc=netloc, query=query))
