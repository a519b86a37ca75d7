"""Morphology: how a query word matches inflected forms of itself in a text.

Two back-ends, chosen per compiled topic (bench/relevance.py measures both):

* ``pymorphy`` (default): a Cyrillic query word is expanded *at compile time* into every form of
  every lexeme pymorphy3 finds for it in its Ukrainian and Russian dictionaries (дитина → дітей,
  дітям, ...; ребёнок → дети, детей, ...). Matching a text is then a set lookup per word, which
  keeps classification fast, and it handles suppletive/alternating stems (дитина/діти,
  ребёнок/дети) that no stemmer can.
* ``snowball``: Cyrillic words are compared by their Snowball Russian stem (Snowball has no
  Ukrainian algorithm, so Ukrainian gets the Russian stemmer too).

Latin-script words are compared by Snowball English (Porter2) stem in both back-ends.
Trailing-``*`` prefix terms bypass morphology entirely.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from .normalize import normalize_tokens

Backend = Literal["pymorphy", "snowball"]
DEFAULT_BACKEND: Backend = "pymorphy"
BACKENDS: tuple[Backend, ...] = ("pymorphy", "snowball")

_CYRILLIC_RE = re.compile(r"[а-яіїєґ]")
_LATIN_RE = re.compile(r"[a-z]")


@functools.lru_cache(maxsize=None)
def _pymorphy(lang: str):  # loaded lazily once per process: ~0.1 s and ~15 MB each
    import pymorphy3

    return pymorphy3.MorphAnalyzer(lang=lang)


@functools.lru_cache(maxsize=None)
def _snowball(lang: str) -> Callable[[str], str]:
    import snowballstemmer

    return snowballstemmer.stemmer(lang).stemWord


@dataclass(frozen=True)
class WordMatch:
    """How one (non-wildcard) query word matches text words: exact normalized forms, and/or
    equality of stems under ``stemmer`` (a Snowball algorithm name)."""

    forms: frozenset[str]
    stemmer: str | None = None
    stem: str = ""
    heads: frozenset[str] = frozenset()  # first three letters of the forms: a quick "not here"

    def __post_init__(self) -> None:
        if not self.heads and self.forms:
            object.__setattr__(self, "heads", frozenset(f[:3] for f in self.forms))


def stemmer_for(word: str, backend: Backend) -> str | None:
    if _LATIN_RE.search(word) and not _CYRILLIC_RE.search(word):
        return "english"
    if backend == "snowball" and _CYRILLIC_RE.search(word):
        return "russian"
    return None


def stem(stemmer: str, word: str) -> str:
    return _snowball(stemmer)(word)


def word_match(word: str, backend: Backend = DEFAULT_BACKEND) -> WordMatch:
    """Compile a normalized query word."""
    name = stemmer_for(word, backend)
    if name:
        return WordMatch(frozenset({word}), name, stem(name, word))
    if backend == "pymorphy" and _CYRILLIC_RE.search(word):
        return WordMatch(_lexeme_forms(word))
    return WordMatch(frozenset({word}))


@functools.lru_cache(maxsize=4096)
def _lexeme_forms(word: str) -> frozenset[str]:
    # All parses, both languages: the query author may write any form, and a word's language is
    # not known at compile time. Union over parses favours recall; authors should write lemmas.
    forms = {word}
    for lang in ("uk", "ru"):
        for parse in _pymorphy(lang).parse(word):
            if not parse.is_known:
                continue  # guessed by suffix only: its "lexeme" would be invented words
            forms.update(f.word for f in parse.lexeme)
    return frozenset(normalize_tokens(sorted(forms)))
