"""Query language: Lucene syntax parsed by luqum, turned into a small AST of our own, evaluated
over a document's normalized tokens.

Supported (everything else is a TopicSyntaxError naming the position):

* ``a AND b``, ``a OR b``, ``NOT a``, ``-a`` (= NOT), ``+a`` (= a), parentheses.
  Juxtaposition ``a b`` means AND (as in Media Cloud), not Lucene's OR.
* ``depor*``: trailing-``*`` prefix wildcard (no morphology). A word without ``*`` matches its
  inflected forms (see morphology.py).
* ``"exact phrase"``: the words adjacent and in order; each word still matches its inflected
  forms and may end with ``*`` (``"russian famil*"``), as with a stemming Lucene analyzer.
* ``"children deported"~8`` and ``a NEAR/8 b``: proximity, any order, at most 8 other words
  between neighbouring hits. ``NEAR/N`` works on any sub-expressions; when an operand is an
  AND/OR expression it must be in parentheses (otherwise the grouping would be surprising).
* ``title:term``, ``title:(...)``: match in the title only.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import Union

from luqum import tree
from luqum.exceptions import ParseError
from luqum.thread import parse as luqum_parse

from .morphology import DEFAULT_BACKEND, Backend, WordMatch, stem, word_match
from .normalize import tokenize


class TopicSyntaxError(ValueError):
    """A topic's query (or exclude) could not be compiled."""

    def __init__(self, topic: str, position: int, message: str):
        self.topic, self.position, self.message = topic, position, message
        super().__init__(f"topic {topic!r}: syntax error at position {position}: {message}")


# ---------------------------------------------------------------- AST


@dataclass(frozen=True, eq=False)  # identity hash: fast memo key; equal leaves are interned
class Term:
    """One query word. ``label`` is what the author wrote, reported in ``terms``."""

    label: str
    word: str  # normalized
    prefix: bool
    title_only: bool
    match: WordMatch


@dataclass(frozen=True, eq=False)  # identity hash: fast memo key; equal leaves are interned
class Phrase:
    label: str
    words: tuple[Term, ...]
    title_only: bool


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class Near:
    left: Node
    right: Node
    distance: int  # max number of other words between two hits


Node = Union[Term, Phrase, And, Or, Not, Near]


def leaves(node: Node) -> list[Term | Phrase]:
    if isinstance(node, (Term, Phrase)):
        return [node]
    if isinstance(node, Not):
        return leaves(node.child)
    if isinstance(node, Near):
        return leaves(node.left) + leaves(node.right)
    return [leaf for child in node.children for leaf in leaves(child)]


# ---------------------------------------------------------------- parsing

_NEAR_RE = re.compile(r"\bNEAR/(\d+)\b")
_NEAR_WORD_RE = re.compile(r"NEAR_(\d+)")
_LUQUM_POS_RE = re.compile(r"position (\d+)")


def _check_quotes_and_parens(topic: str, query: str) -> None:
    """luqum reports an unbalanced bracket only as 'unexpected end'; find the culprit ourselves."""
    stack: list[int] = []
    quote_at = -1
    i = 0
    while i < len(query):
        c = query[i]
        if c == "\\":
            i += 2
            continue
        if quote_at >= 0:
            if c == '"':
                quote_at = -1
        elif c == '"':
            quote_at = i
        elif c == "(":
            stack.append(i)
        elif c == ")":
            if not stack:
                raise TopicSyntaxError(topic, i, "unbalanced parenthesis")
            stack.pop()
        i += 1
    if quote_at >= 0:
        raise TopicSyntaxError(topic, quote_at, "unterminated phrase (missing closing quote)")
    if stack:
        raise TopicSyntaxError(topic, stack[-1], "unbalanced parenthesis")


def _mask_near(query: str) -> str:
    """luqum has no NEAR/N: rewrite it outside phrases as a same-length word NEAR_N, which luqum
    keeps as an operand of an implicit operation, so that positions stay those of the query."""
    parts = query.split('"')
    for i in range(0, len(parts), 2):  # even parts are outside quotes
        parts[i] = _NEAR_RE.sub(lambda m: "NEAR_" + m.group(1), parts[i])
    return '"'.join(parts)


def parse_query(topic: str, query: str, backend: Backend = DEFAULT_BACKEND) -> Node:
    if not query.strip():
        raise TopicSyntaxError(topic, 0, "empty query")
    _check_quotes_and_parens(topic, query)
    try:
        parsed = luqum_parse(_mask_near(query))
    except ParseError as err:
        msg = str(err)
        m = _LUQUM_POS_RE.search(msg)
        pos = int(m.group(1)) if m else len(query)
        msg = re.sub(r"^Syntax error in input : |(?: at position \d+| at the end)?!?$", "", msg)
        msg = re.sub(r"\s+", " ", msg).replace(" (maybe due to unmatched parenthesis)", "")
        raise TopicSyntaxError(topic, pos, msg.strip() or "syntax error") from None
    return _Converter(topic, query, backend).convert(parsed, title_only=False)


@dataclass
class _Converter:
    topic: str
    query: str
    backend: Backend
    # One object per distinct leaf, so repeated groups are evaluated once per document.
    interned: dict[tuple, Term | Phrase] = field(default_factory=dict)

    def intern(self, leaf: Term | Phrase) -> Term | Phrase:
        key = (type(leaf), leaf.label, leaf.title_only,
               tuple(map(id, leaf.words)) if isinstance(leaf, Phrase) else (leaf.word, leaf.prefix))
        return self.interned.setdefault(key, leaf)

    def error(self, item: tree.Item, message: str) -> TopicSyntaxError:
        return TopicSyntaxError(self.topic, item.pos or 0, message)

    def convert(self, item: tree.Item, title_only: bool) -> Node:
        if isinstance(item, (tree.Group, tree.FieldGroup)):
            return self.convert(item.expr, title_only)
        if isinstance(item, tree.AndOperation):
            return And(tuple(self.convert(c, title_only) for c in item.children))
        if isinstance(item, tree.OrOperation):
            return Or(tuple(self.convert(c, title_only) for c in item.children))
        if isinstance(item, (tree.Not, tree.Prohibit)):
            return Not(self.convert(item.a, title_only))
        if isinstance(item, tree.Plus):
            return self.convert(item.a, title_only)
        if isinstance(item, tree.Boost):  # relevance weights mean nothing to a yes/no match
            return self.convert(item.expr, title_only)
        if isinstance(item, tree.UnknownOperation):
            return self.implicit(item, title_only)
        if isinstance(item, tree.SearchField):
            if item.name.lower() != "title":
                raise self.error(item, f"unknown field {item.name!r} (only title: is supported)")
            if title_only:
                raise self.error(item, "nested field")
            return self.convert(item.expr, title_only=True)
        if isinstance(item, tree.Proximity):
            if not isinstance(item.term, tree.Phrase):
                raise self.error(item, "~N proximity applies to a \"phrase\"")
            # Each word is reported under the whole expression: '"з окупован*"~1', not 'з'.
            words = self.phrase_words(item.term, title_only, label=str(item))
            node: Node = words[0]
            for w in words[1:]:
                node = Near(node, w, int(item.degree))
            return node
        if isinstance(item, tree.Phrase):
            words = self.phrase_words(item, title_only)
            if len(words) == 1:
                return words[0]
            return self.intern(Phrase(item.value, tuple(words), title_only))
        if isinstance(item, tree.Word):
            return self.word(item, title_only)
        kind = type(item).__name__.lower()
        raise self.error(item, f"unsupported syntax ({kind})")

    def implicit(self, item: tree.UnknownOperation, title_only: bool) -> Node:
        """Juxtaposed operands: fold NEAR_N between neighbours, AND the rest."""
        out: list[Node] = []
        children = list(item.children)
        i = 0
        while i < len(children):
            child = children[i]
            m = _NEAR_WORD_RE.fullmatch(child.value) if isinstance(child, tree.Word) else None
            if m is None:
                if isinstance(child, tree.Word) and child.value == "NEAR":
                    raise self.error(child, "NEAR needs a distance, e.g. NEAR/8")
                out.append(self.convert(child, title_only))
                i += 1
                continue
            if not out or i + 1 >= len(children) or isinstance(out[-1], Not):
                raise self.error(child, "NEAR/N needs a positive operand on each side")
            left, right = children[i - 1], children[i + 1]
            for operand in (left, right):
                if isinstance(operand, (tree.AndOperation, tree.OrOperation)):
                    raise self.error(operand, "put parentheses around an AND/OR operand of NEAR/N")
            right_node = self.convert(right, title_only)
            if isinstance(right_node, Not):
                raise self.error(right, "NEAR/N needs a positive operand on each side")
            out[-1] = Near(out[-1], right_node, int(m.group(1)))
            i += 2
        return out[0] if len(out) == 1 else And(tuple(out))

    def phrase_words(self, item: tree.Phrase, title_only: bool, label: str = "") -> list[Term]:
        raw = item.value[1:-1]
        words = [self.term(w, item, title_only, label) for w in re.findall(r"[^\s]+", raw)]
        flat = [t for w in words for t in (w.words if isinstance(w, Phrase) else (w,))]
        if not flat:
            raise self.error(item, "empty phrase")
        return flat

    def word(self, item: tree.Word, title_only: bool) -> Node:
        if item.value in ("AND", "OR", "NOT"):
            raise self.error(item, f"{item.value} without an operand")
        return self.term(item.value, item, title_only)

    def term(self, text: str, item: tree.Item, title_only: bool, label: str = "") -> Term | Phrase:
        prefix = text.endswith("*")
        body = text[:-1] if prefix else text
        if "*" in body or "?" in body:
            raise self.error(item, f"wildcards are only supported at the end of a word: {text!r}")
        words = tokenize(body)
        if not words:
            raise self.error(item, f"no searchable word in {text!r}")
        # "Lvova-Belova" is two tokens in a text, so as a query word it is a two-word phrase.
        terms = []
        for i, w in enumerate(words):
            is_prefix = prefix and i == len(words) - 1
            shown = label or (text if len(words) == 1 else w + "*" * is_prefix)
            match = WordMatch(frozenset()) if is_prefix else word_match(w, self.backend)
            terms.append(self.intern(Term(shown, w, is_prefix, title_only, match)))
        return terms[0] if len(terms) == 1 else self.intern(Phrase(text, tuple(terms), title_only))


# ---------------------------------------------------------------- evaluation

TITLE_GAP = 100_000  # text positions start after the title plus this gap: no NEAR across them


@dataclass
class Doc:
    """Normalized tokens of title + text with a word → positions index."""

    tokens: list[str]
    title_len: int
    stem_cache: dict[tuple[str, str], str]
    index: dict[str, list[int]] = field(init=False)
    vocab: list[str] = field(init=False)

    def __post_init__(self) -> None:
        index: dict[str, list[int]] = {}
        n = self.title_len
        for pos, tok in enumerate(self.tokens[:n]):
            index.setdefault(tok, []).append(pos)
        for pos, tok in enumerate(self.tokens[n:], n + TITLE_GAP):
            index.setdefault(tok, []).append(pos)
        self.index = index
        self.vocab = sorted(index)

    def position(self, i: int) -> int:
        return i if i < self.title_len else i + TITLE_GAP

    def starting_with(self, prefix: str) -> list[str]:
        lo = bisect_left(self.vocab, prefix)
        hi = bisect_left(self.vocab, prefix + "\U0010ffff", lo)
        return self.vocab[lo:hi]

    def stem_of(self, stemmer: str, word: str) -> str:
        key = (stemmer, word)
        s = self.stem_cache.get(key)
        if s is None:
            s = self.stem_cache[key] = stem(stemmer, word)
        return s


Positions = list[int]  # sorted; [] = matched but holds no positions (e.g. a NOT)
Memo = dict[Union[Term, Phrase], Positions]


def _term_positions(term: Term, doc: Doc) -> Positions:
    if term.prefix:
        words: list[str] = doc.starting_with(term.word)
    else:
        m = term.match
        words = [f for f in m.forms if f in doc.index]
        if m.stemmer:
            # Snowball stems are (nearly) prefixes of their words: only look at candidates.
            for w in doc.starting_with(m.stem[:3]):
                if w not in m.forms and doc.stem_of(m.stemmer, w) == m.stem:
                    words.append(w)
    if not words:
        return []
    if len(words) == 1:
        out = doc.index[words[0]]
    else:
        out = sorted(p for w in words for p in doc.index[w])
    if term.title_only:
        out = [p for p in out if p < doc.title_len]
    return out


def leaf_positions(leaf: Term | Phrase, doc: Doc, memo: Memo) -> Positions:
    got = memo.get(leaf)
    if got is not None:
        return got
    if isinstance(leaf, Term):
        out = _term_positions(leaf, doc)
    else:
        per_word = [_term_positions(w, doc) for w in leaf.words]
        out = []
        if all(per_word):
            rest = [set(p) for p in per_word[1:]]
            for start in per_word[0]:
                if all(start + k + 1 in s for k, s in enumerate(rest)):
                    out.extend(range(start, start + len(leaf.words)))
    memo[leaf] = out
    return out


def _near(a: Positions, b: Positions, distance: int) -> Positions:
    span = distance + 1

    def close(xs: Positions, ys: Positions) -> list[int]:
        return [x for x in xs if bisect_right(ys, x + span) > bisect_left(ys, x - span)]

    return sorted(set(close(a, b)) | set(close(b, a)))


def evaluate(node: Node, doc: Doc, memo: Memo) -> Positions | None:
    """None when the node does not match; otherwise the positions of the hits that make it match."""
    if isinstance(node, (Term, Phrase)):
        return leaf_positions(node, doc, memo) or None
    if isinstance(node, And):
        hits: set[int] = set()
        for child in node.children:
            got = evaluate(child, doc, memo)
            if got is None:
                return None
            hits.update(got)
        return sorted(hits)
    if isinstance(node, Or):
        hits = set()
        matched = False
        for child in node.children:
            got = evaluate(child, doc, memo)
            if got is not None:
                matched = True
                hits.update(got)
        return sorted(hits) if matched else None
    if isinstance(node, Not):
        return None if evaluate(node.child, doc, memo) is not None else []
    left = evaluate(node.left, doc, memo)
    if not left:
        return None
    right = evaluate(node.right, doc, memo)
    if not right:
        return None
    return _near(left, right, node.distance) or None
