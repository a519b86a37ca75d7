"""A first screen before the matcher: most news is off topic, and most of it lacks words that
every way of matching a topic needs. The screen finds that out with one pass of an Aho-Corasick
automaton (compiled code) over the case-folded text and a few integer tests, instead of tokenizing,
normalizing, detecting the language and evaluating the query, which costs ten times more.

It never rejects what the full matcher accepts. Each query word gets keys the matcher's own
lookups imply are in a text it matches, at the start of a word:

* a form or a prefix (``word*``) matches a token that equals or starts with it: the whole form
  or prefix is there;
* a stemmed (English) word matches tokens of the same Snowball stem that start with its first
  three letters (the matcher's own candidate lookup), and those start with the whole stem but
  where the stemmer rewrote their end (stem_key); tests check this over the labelled sets'
  vocabulary.

The query is then read with "has one of its keys" for each word: AND, phrases and NEAR need all
their parts, OR one, NOT nothing (it matches where its operand does not). That is compiled once
into a Python function over the bits of the words found.

A key counts at the start of a word only (after a character that is not a letter or digit, as
the matcher's tokens start), so "teen" does not pass on "fifteen"; after an apostrophe counts
too ("d'enfants"). A text that mixes Latin and Cyrillic letters inside a word is folded by the
matcher in ways a substring search does not see, so such a text always passes.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable

import ahocorasick_rs

from .normalize import SCRIPT_SEAMS, TOKEN_RE, clean_display, fold, normalize_tokens
from .query import And, Near, Node, Or, Phrase, Term


def term_keys(term: Term) -> tuple[frozenset[str], frozenset[str]]:
    """What a text must contain for `term` to match one of its words: (prefixes that start a
    word, forms that are a whole word)."""
    if term.prefix:
        return frozenset({term.word}), frozenset()
    starts = {stem_key(term.match.stem)} if term.match.stemmer else set()
    forms = set(term.match.forms) or {term.word}
    return frozenset(starts), frozenset(forms)


def stem_key(stem: str) -> str:
    """What every word of this Snowball English stem starts with. The matcher looks only at words
    that start with the stem's first three letters; beyond those, a stem is the start of each of
    its words but where Porter2 rewrote their end: a final y or -ies became i (happy -> happi,
    skies -> sky), an e was kept or restored (writing -> write), -bility became -bl (possibility ->
    possibl). Every other rule only cuts a suffix or leaves a prefix of it. So a stem is its own
    key unless it ends in i, e or l, or is "sky": then all but its last letter. ("for", the key
    "forc" had before, is in every English text.)"""
    if len(stem) <= 3:
        return stem
    return stem[:-1] if stem[-1] in "iel" or stem == "sky" else stem


# A word of one letter ("в", "a", a digit in "6 year old") is inside most texts' words and found
# at the start of many: looking for it would cost more than it screens. Its word is taken as
# found (a screen that passes more is still right).
MIN_KEY = 3


def _shortest_key(term: Term) -> int:
    prefixes, forms = term_keys(term)
    return min(map(len, prefixes | forms))


class _Compiler:
    """Turns a query into a Python expression over `f`, the bits of the words found. A phrase
    needs its words of three letters or more ("з", "6" and "a" are taken as found), but for
    the commonest (_screened_words); an OR of words is one bit test, and its phrases are read
    only when one of their words is here."""

    def __init__(self) -> None:
        self.term_bits: dict[Term, int] = {}
        self.masks: list[int] = []
        self.done: dict[int, str] = {}
        self.cached: list[str] = []  # names of the results of @groups, computed once per text

    def bit(self, term: Term) -> int:
        return self.term_bits.setdefault(term, 1 << len(self.term_bits))

    def mask(self, terms: Iterable[Term]) -> str:
        self.masks.append(sum(self.bit(t) for t in set(terms)))
        return f"M[{len(self.masks) - 1}]"

    def expr(self, node: Node) -> str:
        got = self.done.get(id(node))
        if got is None:
            got = self._expr(node)
            if getattr(node, "group", None) and got != "True":  # used in many places: once a text
                name = f"g{len(self.cached)}"
                self.cached.append(name)
                got = f"({name} if {name} is not None else ({name} := {got}))"
            self.done[id(node)] = got
        return got

    def _expr(self, node: Node) -> str:
        if isinstance(node, (Term, Phrase)):
            words = _screened_words(node)
            return "True" if not words else f"(f & {(name := self.mask(words))} == {name})"
        if isinstance(node, Near):
            return self._and([self.expr(node.left), self.expr(node.right)])
        if isinstance(node, And):
            words = [w for c in node.children if isinstance(c, (Term, Phrase)) for w in _screened_words(c)]
            rest = [self.expr(c) for c in node.children if not isinstance(c, (Term, Phrase))]
            if words:
                name = self.mask(words)
                rest.insert(0, f"(f & {name} == {name})")
            return self._and(rest)
        if isinstance(node, Or):
            leaves = [_screened_words(c) for c in node.children if isinstance(c, (Term, Phrase))]
            if [] in leaves:
                return "True"  # one of its words is taken as found
            parts = self._any_of(leaves)
            parts += [self.expr(c) for c in node.children if not isinstance(c, (Term, Phrase))]
            return "True" if "True" in parts else "(" + " or ".join(parts) + ")"
        return "True"  # Not: needs no word at all

    def _any_of(self, leaves: list[list[Term]]) -> list[str]:
        """Tests for "one of these words or phrases is here": one bit test for the single words;
        the phrases behind one test of all their words' bits (most texts have none of them),
        then each phrase's own test of all of its words."""
        singles = [words[0] for words in leaves if len(words) == 1]
        phrases = list(dict.fromkeys(frozenset(words) for words in leaves if len(words) > 1))
        parts = [f"(f & {self.mask(singles)})"] if singles else []
        if phrases:
            each = " or ".join(f"(f & {(name := self.mask(words))} == {name})" for words in phrases)
            parts.append(f"((f & {self.mask(set().union(*phrases))}) and ({each}))")
        return parts

    @staticmethod
    def _and(parts: list[str]) -> str:
        parts = [part for part in parts if part != "True"]
        return "(" + " and ".join(parts) + ")" if parts else "True"


def _screened_words(leaf: Term | Phrase) -> list[Term]:
    """The words the screen looks for: a word; of a phrase, its longest word and each other
    one but the most common words of the press ("the", "new", "під"), whose keys would be found
    in nearly every text (the others are taken as found). Its longest word alone was "year" for
    "14 year old", which nearly every English text has; "old" is rare."""
    words = leaf.words if isinstance(leaf, Phrase) else (leaf,)
    keyed = {w: _shortest_key(w) for w in words}
    looked_for = [w for w, size in keyed.items() if size >= MIN_KEY]
    if len(looked_for) < 2:
        return looked_for
    longest = max(looked_for, key=lambda w: (keyed[w], -len(w.match.forms)))
    return [w for w in looked_for if w is longest or COMMON_KEYS.isdisjoint(frozenset().union(*term_keys(w)))]


# Words (and prefixes) of the European press so common that a key for them is found in most
# texts: a phrase's other words are not looked for when they are one of these.
COMMON_KEYS = frozenset("""
the and for with from that this new per con por par pour avec dans des les une sur und der die das den
del della dei von для від під при над про що это что под нов нове нових новых
""".split())


class Verdict(enum.Enum):
    REJECTED = 0
    PASSED = 1
    PASSED_UNMIXED = 2


REJECTED, PASSED, PASSED_UNMIXED = Verdict.REJECTED, Verdict.PASSED, Verdict.PASSED_UNMIXED


class Screen:
    """`passes(title, text)`: False only for a text no topic of `queries` can match."""

    def __init__(self, queries: Iterable[Node]):
        compiler = _Compiler()
        each = [compiler.expr(query) for query in queries]
        self.always = not each or "True" in each  # a topic that needs no word: every text may match
        expression = " or ".join(each) or "True"
        # Generated from the query's structure only (bit masks by index): no text of the topic
        # file reaches the code.
        cache = "".join(f"    {name} = None\n" for name in compiler.cached)
        source = f"def check(f, M=M):\n{cache}    return bool({expression})\n"
        namespace = {"M": tuple(compiler.masks)}
        exec(source, namespace)  # noqa: S102
        self._check: Callable[[int], bool] = namespace["check"]
        starts: dict[str, int] = {}
        wholes: dict[str, int] = {}
        for term, bit in compiler.term_bits.items():
            prefixes, forms = term_keys(term)
            for key in prefixes:
                starts[key] = starts.get(key, 0) | bit
            for key in forms:
                wholes[key] = wholes.get(key, 0) | bit
        keys = sorted(starts.keys() | wholes.keys())
        if not keys:
            self.always = True
            return
        # A Latin letter touching a Cyrillic one is found in the same pass. No query key is such a
        # pair: the matcher folds a mixed word to one script, and so do its queries.
        seams = sorted(SCRIPT_SEAMS - starts.keys() - wholes.keys())
        # What each key found means, by its index: the bits of the words it starts and of the
        # words it is whole; None for a seam.
        self._meanings: list[tuple[int, int] | None] = [(starts.get(key, 0), wholes.get(key, 0)) for key in keys]
        self._meanings += [None] * len(seams)
        self._keys = keys + seams
        self.automaton = ahocorasick_rs.AhoCorasick(self._keys, matchkind=ahocorasick_rs.MatchKind.Standard,
                                                    implementation=ahocorasick_rs.Implementation.DFA)

    def passes(self, title: str, text: str) -> bool:
        return self.read(title, text) is not REJECTED

    def read(self, title: str, text: str) -> Verdict:
        """REJECTED, PASSED, or PASSED_UNMIXED: passed, and no word of the text mixes Latin and
        Cyrillic letters (the matcher's tokens then need no look-alike folding: see
        normalize.normalize_tokens; a seam between letters of one token is a seam in the text)."""
        if self.always:
            return PASSED
        # Title and text cleaned apart, as the matcher cleans them: a "<" in one and a ">" in the
        # other must not read as a tag that hides words of both.
        folded = f"{screen_text(title)}\n{screen_text(text)}"
        # Every key in the text, overlapping ones too, in one call: a DFA in Rust walks a news
        # text in under half the time pyahocorasick's C automaton took (9 against 20 µs for
        # 700 characters here), and the hits come back at once; then a few tests on each.
        meanings, found, size = self._meanings, 0, len(folded)
        for index, start, end in self.automaton.find_matches_as_indexes(folded, overlapping=True):
            meaning = meanings[index]
            if meaning is None:
                return PASSED
            if start:
                before = folded[start - 1]
                if before.isalnum() or before == "_":
                    continue  # inside a word
            starts, wholes = meaning
            found |= starts
            if wholes and end < size:
                following = folded[end]
                if following.isalnum() or following == "_":
                    continue  # the start of a longer word
            found |= wholes
        return PASSED_UNMIXED if self._check(found) else REJECTED


def screen_text(text: str) -> str:
    """The text as the matcher's tokens see it, in one piece: display text, NFKC, case-folded.
    A combining mark ends a token for the matcher but composes with its letter under NFKC, so a
    text with one is screened on the matcher's own tokens instead (rare in news text)."""
    display = clean_display(text)
    if _COMBINING_RE.search(display):
        return "\n".join(normalize_tokens(TOKEN_RE.findall(display)))
    return fold(display)


# Combining marks of the Latin, Greek and Cyrillic blocks and the general ones.
_COMBINING_RE = re.compile("[\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
