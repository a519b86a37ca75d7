"""What a person types into the story search, read once for both backends, and what a story
listing asks of the store.

The syntax (the web's `?q=`, the API's `q`): each word must occur (any case, diacritics folded),
`"a phrase"` in that order, `word*` a prefix, `OR` between two words either (a space is AND, and
binds tighter: `a b OR c` is `(a b) OR c`), `-word` or `-"a phrase"` must not occur. Anything else
is words: nothing typed is ever passed on as the index's own syntax, so no query is a syntax
error. SQLite renders it as an FTS5 MATCH expression (monitor/browse.py), PostgreSQL as a tsquery
(monitor/postgres/browse.py); both tokenise on what is not a letter or a digit.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_WORD = re.compile(r'(-?)"([^"]*)"?|(\S+)')
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass(frozen=True)
class Term:
    """One word (`prefix`: the word's start) or a phrase of several, as typed (not folded)."""

    tokens: tuple[str, ...]
    prefix: bool = False


@dataclass(frozen=True)
class SearchQuery:
    """Any one of `alternatives` (each a group of terms that must all occur), and none of `excluded`.
    No alternatives: every item that has none of `excluded`."""

    alternatives: tuple[tuple[Term, ...], ...] = ()
    excluded: tuple[Term, ...] = ()


def term_of(text: str, *, phrase: bool = False) -> Term | None:
    """The term of a word (a trailing * makes it a prefix) or of a phrase; None without a letter or digit."""
    tokens = tuple(_TOKEN.findall(text))
    if not tokens:
        return None
    return Term(tokens, prefix=not phrase and text.endswith("*") and len(tokens) == 1)


def parse_search(text: str) -> SearchQuery | None:
    """The query in what a person typed; None when it holds no word at all."""
    groups: list[list[Term]] = [[]]
    excluded: list[Term] = []
    pending_or = False
    for match in _WORD.finditer(text):
        minus, phrase, word = match.groups()
        if word in ("OR", "AND"):
            # OR joins the groups on either side; AND is what a space says already.
            pending_or = pending_or or (word == "OR" and bool(groups[-1]))
            continue
        negated = bool(minus) if phrase is not None else word.startswith("-")
        term = term_of(phrase, phrase=True) if phrase is not None else term_of(word)
        if term is None:
            continue
        if negated:
            excluded.append(term)
            continue
        if pending_or:
            groups.append([])
            pending_or = False
        groups[-1].append(term)
    alternatives = tuple(tuple(group) for group in groups if group)
    if not alternatives and not excluded:
        return None
    return SearchQuery(alternatives, tuple(excluded))


@dataclass(frozen=True)
class StorySelection:
    """The stories a listing shows: those with a matched item that meets every filter given.
    Dates are ISO text compared with the item's published (else first seen) moment."""

    topic: str = ""
    lang: str = ""
    source: str = ""
    since: str | None = None          # from this day on (YYYY-MM-DD)
    before: str | None = None         # before this day
    search: SearchQuery | None = None
    hidden: tuple[int, ...] = ()      # story ids left out
    only: tuple[int, ...] | None = None  # when given, these story ids only

    def plain_conditions(self, mark: Callable[[str], str]) -> tuple[list[str], dict]:
        """SQL conditions for the filters that are the same on both backends (topic, language,
        source, dates) on `m` (matches) and `i` (items), with their parameters; `mark(name)` writes
        a named parameter as the backend wants it (":name" for SQLite, "%(name)s" for PostgreSQL)."""
        where, params = [], {}
        for column, name in (("m.topic", "topic"), ("i.lang", "lang"), ("i.source", "source")):
            if getattr(self, name):
                where.append(f"{column} = {mark(name)}")
                params[name] = getattr(self, name)
        if self.since:
            where.append(f"{STORY_DAY} >= {mark('since')}")
            params["since"] = self.since
        if self.before:
            where.append(f"{STORY_DAY} < {mark('before')}")
            params["before"] = self.before
        return where, params


# How a story sorts and is dated: its lead's date (published, else first seen), then its id.
STORY_DAY = "coalesce(i.published, i.first_seen)"


@dataclass(frozen=True)
class ListedStory:
    """One row of a listing: the story id, its lead (earliest-published matched copy), its day."""

    story: int
    lead: int
    day: str
