"""Dates as feeds, sitemaps and pages write them → timezone-aware datetimes."""

from __future__ import annotations

import email.utils
import re
from datetime import datetime, timezone


def iso_date(value: str | None) -> datetime | None:
    """An ISO 8601 date or moment (UTC when it names no zone), else None."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def parse_date(text: str | None, languages: tuple[str, ...] = ("uk", "ru", "en")) -> datetime | None:
    """A date as pages write it: ISO 8601 / W3C, RFC 2822, or words ("24 листопада 2026, 09:30").

    Timezone-aware; UTC is assumed when the text names none. With no `languages`, only the
    machine formats are tried (sitemaps: fast on 50,000 entries).
    """
    text = " ".join((text or "").split())
    if not text:
        return None
    when = iso_date(text)
    if when is None:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            when = None
    if when is None and languages and len(text) <= 80:
        import dateparser  # imported on first use: it is slow to load and most dates are ISO

        settings = {"RETURN_AS_TIMEZONE_AWARE": True, "TIMEZONE": "UTC", "PREFER_DATES_FROM": "past"}
        if re.search(r"\b\d{1,2}\.\d{1,2}\.\d{2,4}\b", text):
            settings["DATE_ORDER"] = "DMY"  # 05.11.2026 is the 5th of November wherever dots are used
        when = dateparser.parse(text, languages=list(languages), settings=settings)
    if when is None:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
