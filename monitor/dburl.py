"""PostgreSQL connection URLs (settings.database, monitor/postgres/): which values name one, and
how to show one without its password."""

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


def postgres_url_problem(url: str) -> str | None:
    """What is wrong with a postgresql:// URL that libpq would refuse or misread, or None. The
    message never quotes the URL (it may hold a password)."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in 0-65535
    except ValueError as exc:
        return f"it cannot be read ({exc})" if "port" in str(exc).lower() else "it cannot be read"
    if not parts.path.strip("/") and "dbname=" not in parts.query:
        return "it names no database (add /DATABASE after the host)"
    if "/" in parts.path.strip("/"):
        return "the database name holds a '/' (percent-encode it as %2F)"
    return None
