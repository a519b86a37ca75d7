"""What the matcher says of a text, in a module of its own: a poll's own process receives these
from its document workers, and unpickling one must not load the matcher (the query parser, the
screen's automaton) there."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Classification:
    match: bool
    topics: list[str]
    lang: str
    terms: list[str]
    snippet: str
