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
* ``de:term``, ``de:(...)``, ``cs_sk:(...)``: the words match only in a text of that language (or
  those languages, joined by ``_``), as ``monitor.lang.detect_language`` tells it. For words that
  mean something else in another language (Estonian ``last``, "child", is English "last").
* Groups: ``@CHILD = ( ... )`` at the start of a line defines a group once; ``@CHILD`` anywhere
  in the query (or a later group) stands for it, in parentheses. A definition is not part of the
  query itself, and may come before or after its first use.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
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
    langs: frozenset[str] | None = None  # only in texts of these languages (None: any)


@dataclass(frozen=True, eq=False)  # identity hash: fast memo key; equal leaves are interned
class Phrase:
    label: str
    words: tuple[Term, ...]
    title_only: bool


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]
    # Where the expression is written in the query (start, end), for explanations; not compared.
    span: tuple[int, int] | None = field(default=None, compare=False)
    # On the root of a parsed query: its words arranged for one pass over a text (LeafIndex).
    index: LeafIndex | None = field(default=None, compare=False, repr=False)
    group: str | None = field(default=None, compare=False)  # the @NAME it was written as


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]
    span: tuple[int, int] | None = field(default=None, compare=False)
    index: LeafIndex | None = field(default=None, compare=False, repr=False)
    group: str | None = field(default=None, compare=False)


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


_QUOTE_OR_PAREN_RE = re.compile(r'[\\"()]')


def _check_quotes_and_parens(topic: str, query: str) -> None:
    """luqum reports an unbalanced bracket only as 'unexpected end'; find the culprit ourselves.
    Only the characters that matter are visited: a group is checked within the whole file's
    text, the rest blanked, so most of what is read is spaces."""
    stack: list[int] = []
    quote_at = -1
    at = 0
    while (m := _QUOTE_OR_PAREN_RE.search(query, at)) is not None:
        i = m.start()
        c = query[i]
        at = i + 1
        if c == "\\":
            at = i + 2  # the next character is escaped
        elif quote_at >= 0:
            if c == '"':
                quote_at = -1
        elif c == '"':
            quote_at = i
        elif c == "(":
            stack.append(i)
        elif not stack:
            raise TopicSyntaxError(topic, i, "unbalanced parenthesis")
        else:
            stack.pop()
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


_GROUP_DEF_RE = re.compile(r"^[ \t]*@([A-Za-z][A-Za-z0-9_]*)[ \t]*=[ \t\r\n]*", re.MULTILINE)
_GROUP_NAME_RE = re.compile(r"@[A-Za-z][A-Za-z0-9_]*")
# Field names that restrict words to texts of a language: the codes detect_language returns.
LANGUAGE_FIELDS = frozenset({"en", "uk", "ru", "pl", "de", "fr", "it", "es", "pt", "cs", "sk", "ro",
                             "nl", "lt", "lv", "et", "fi"})


def _closing_paren(query: str, start: int) -> int:
    """Index of the ``)`` matching the ``(`` at `start` (quotes respected), or -1."""
    depth, in_quote, i = 0, False, start
    while i < len(query):
        c = query[i]
        if c == "\\":
            i += 2
            continue
        if in_quote:
            in_quote = c != '"'
        elif c == '"':
            in_quote = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _blank(text: str) -> str:
    """Spaces for every character but line breaks: positions and line numbers stay as written."""
    return re.sub(r"[^\r\n]", " ", text)


def split_groups(topic: str, query: str) -> tuple[str, dict[str, tuple[int, int]]]:
    """The query with its ``@NAME = (...)`` definitions blanked out, and each group's body span."""
    groups: dict[str, tuple[int, int]] = {}
    out, cur = [], 0
    for m in _GROUP_DEF_RE.finditer(query):
        if m.start() < cur:
            continue  # inside a previous definition
        name, open_at = m.group(1), m.end()
        if open_at >= len(query) or query[open_at] != "(":
            raise TopicSyntaxError(topic, open_at, f"group @{name}: its definition must be in parentheses")
        close_at = _closing_paren(query, open_at)
        if close_at < 0:
            raise TopicSyntaxError(topic, open_at, "unbalanced parenthesis")
        if name in groups:
            raise TopicSyntaxError(topic, m.start(), f"group @{name} is defined twice")
        groups[name] = (open_at, close_at + 1)
        out += [query[cur:m.start()], _blank(query[m.start():close_at + 1])]
        cur = close_at + 1
    out.append(query[cur:])
    return "".join(out), groups


def _luqum(topic: str, query: str) -> tree.Item:
    _check_quotes_and_parens(topic, query)
    try:
        return luqum_parse(_mask_near(query))
    except ParseError as err:
        msg = str(err)
        m = _LUQUM_POS_RE.search(msg)
        pos = int(m.group(1)) if m else len(query.rstrip())
        msg = re.sub(r"^Syntax error in input : |(?: at position \d+| at the end)?!?$", "", msg)
        msg = re.sub(r"\s+", " ", msg).replace(" (maybe due to unmatched parenthesis)", "")
        raise TopicSyntaxError(topic, pos, msg.strip() or "syntax error") from None


def parse_query(topic: str, query: str, backend: Backend = DEFAULT_BACKEND) -> Node:
    if not query.strip():
        raise TopicSyntaxError(topic, 0, "empty query")
    main, spans = split_groups(topic, query) if "@" in query else (query, {})
    if not main.strip():
        raise TopicSyntaxError(topic, len(query.rstrip()), "empty query (only @group definitions)")
    # Each group is parsed in place (the rest of the text blanked), so positions stay the file's.
    groups = {name: _luqum(topic, _blank(query[:a]) + query[a:b] + _blank(query[b:]))
              for name, (a, b) in spans.items()}
    root = _Converter(topic, query, backend, groups).convert(_luqum(topic, main), title_only=False)
    if isinstance(root, (And, Or)):
        root = replace(root, index=LeafIndex(root))
    return root


@dataclass
class _Converter:
    topic: str
    query: str
    backend: Backend
    groups: dict[str, tree.Item] = field(default_factory=dict)  # @NAME → its parsed body
    # One object per distinct leaf, so repeated groups are evaluated once per document.
    interned: dict[tuple, Term | Phrase] = field(default_factory=dict)
    expanded: dict[tuple, Node] = field(default_factory=dict)  # (group, title_only, langs) → node
    expanding: list[str] = field(default_factory=list)
    langs: frozenset[str] | None = None  # the language field being converted, if any

    def intern(self, leaf: Term | Phrase) -> Term | Phrase:
        key = (type(leaf), leaf.label, leaf.title_only,
               tuple(map(id, leaf.words)) if isinstance(leaf, Phrase) else (leaf.word, leaf.prefix, leaf.langs))
        return self.interned.setdefault(key, leaf)

    def error(self, item: tree.Item, message: str) -> TopicSyntaxError:
        return TopicSyntaxError(self.topic, item.pos or 0, message)

    def convert(self, item: tree.Item, title_only: bool) -> Node:
        if isinstance(item, (tree.Group, tree.FieldGroup)):
            node = self.convert(item.expr, title_only)
            if isinstance(node, (And, Or)) and item.pos is not None:
                node = replace(node, span=(item.pos, item.pos + item.size))
            return node
        span = (item.pos, item.pos + item.size) if item.pos is not None else None
        if isinstance(item, tree.AndOperation):
            return And(tuple(self.convert(c, title_only) for c in item.children), span)
        if isinstance(item, tree.OrOperation):
            return Or(tuple(self.convert(c, title_only) for c in item.children), span)
        if isinstance(item, (tree.Not, tree.Prohibit)):
            return Not(self.convert(item.a, title_only))
        if isinstance(item, tree.Plus):
            return self.convert(item.a, title_only)
        if isinstance(item, tree.Boost):  # relevance weights mean nothing to a yes/no match
            return self.convert(item.expr, title_only)
        if isinstance(item, tree.UnknownOperation):
            return self.implicit(item, title_only)
        if isinstance(item, tree.SearchField):
            name = item.name.lower()
            codes = frozenset(name.split("_"))
            if codes <= LANGUAGE_FIELDS:
                if self.langs is not None:
                    raise self.error(item, "nested language field")
                self.langs = codes
                try:
                    return self.convert(item.expr, title_only)
                finally:
                    self.langs = None
            if name != "title":
                known = ", ".join(sorted(LANGUAGE_FIELDS))
                raise self.error(item, f"unknown field {item.name!r} (title: or a language: {known})")
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
            if item.value.startswith("@"):
                return self.group(item, title_only)
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

    def group(self, item: tree.Word, title_only: bool) -> Node:
        name = item.value[1:]
        if not _GROUP_NAME_RE.fullmatch(item.value):
            raise self.error(item, f"not a group name: {item.value!r}")
        if name not in self.groups:
            raise self.error(item, f"unknown group @{name} (define it with @{name} = ( ... ))")
        if name in self.expanding:
            raise self.error(item, f"group @{name} refers to itself")
        key = (name, title_only, self.langs)
        node = self.expanded.get(key)
        if node is None:
            self.expanding.append(name)
            try:
                node = self.convert(self.groups[name], title_only)
            finally:
                self.expanding.pop()
            if isinstance(node, (And, Or)):
                node = replace(node, group=name)
            self.expanded[key] = node
        return node

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
            terms.append(self.intern(Term(shown, w, is_prefix, title_only, match, self.langs)))
        return terms[0] if len(terms) == 1 else self.intern(Phrase(text, tuple(terms), title_only))


# ---------------------------------------------------------------- evaluation

TITLE_GAP = 100_000  # text positions start after the title plus this gap: no NEAR across them
# Articles and prepositions French and Italian write with an apostrophe before a vowel.
ELISIONS = frozenset({"l", "d", "qu", "j", "n", "s", "c", "m", "t", "dell", "all", "dall", "nell",
                      "sull", "coll", "un", "quest", "quell", "lorsqu", "puisqu", "jusqu"})


@dataclass
class Doc:
    """Normalized tokens of title + text with a word → positions index."""

    tokens: list[str]
    title_len: int
    stem_cache: dict[tuple[str, str], str]
    lang: str = "und"  # detect_language's code: language-field terms match only in their language
    index: dict[str, list[int]] = field(init=False)
    _vocab: list[str] | None = field(init=False, default=None, repr=False)
    _heads: set[str] | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        index: defaultdict[str, list[int]] = defaultdict(list)
        n = self.title_len
        for first, tokens in ((0, self.tokens[:n]), (n + TITLE_GAP, self.tokens[n:])):
            for pos, tok in enumerate(tokens, first):
                index[tok].append(pos)
        index.default_factory = None  # built: a word the text lacks is a KeyError, as in a dict
        # French and Italian elisions: "d'enfants", "l'Ucraina" are also found as the word itself.
        for word in [w for w in index if "'" in w]:
            head, _, tail = word.partition("'")
            if head in ELISIONS and tail:
                got = index.get(tail)
                index[tail] = sorted(got + index[word]) if got else index[word]
        self.index = index

    @property
    def vocab(self) -> list[str]:
        """The text's words in order, for prefix lookups: sorted only where one is made (the
        matcher's LeafIndex reads the index itself)."""
        if self._vocab is None:
            self._vocab = sorted(self.index)
        return self._vocab

    @property
    def heads(self) -> set[str]:
        """Every word's first 1, 2 and 3 letters: a quick "not in this text" for a query word."""
        if self._heads is None:
            v = self.vocab
            self._heads = {w[:3] for w in v} | {w[:2] for w in v} | {w[:1] for w in v}
        return self._heads

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
# Leaves → their positions; id() of other nodes → their result (None: no match).
Memo = dict[Union[Term, Phrase, int], Union[Positions, None]]


def _term_positions(term: Term, doc: Doc) -> Positions:
    if term.langs is not None and doc.lang not in term.langs:
        return []
    heads = doc.heads
    if term.prefix:
        if term.word[:3] not in heads:
            return []  # most query words share no first three letters with any word of the text
        words: list[str] = doc.starting_with(term.word)
    else:
        m = term.match
        if m.heads.isdisjoint(heads) and not (m.stemmer and m.stem[:3] in heads):
            return []
        words = [f for f in m.forms if f in doc.index]
        if m.stemmer:
            # Snowball stems are (nearly) prefixes of their words: only look at candidates.
            for w in doc.starting_with(m.stem[:3]):
                if w not in m.forms and doc.stem_of(m.stemmer, w) == m.stem:
                    words.append(w)
    return _positions_of(term, words, doc) if words else []


def _positions_of(term: Term, words: list[str], doc: Doc) -> Positions:
    if term.langs is not None and doc.lang not in term.langs:
        return []
    if len(words) == 1:
        out = doc.index[words[0]]
    else:
        out = sorted(p for w in words for p in doc.index[w])
    if term.title_only:
        out = [p for p in out if p < doc.title_len]
    return out


_PREFILLED = "prefilled"  # memo key: every word of the query that is in the text is in the memo
WORD_CACHE_LIMIT = 200_000  # text words whose query words are remembered (a few MB), then forgotten


class LeafIndex:
    """The words of a compiled query arranged so that a text's vocabulary is read once: each text
    word is looked up (its forms, its own prefixes, its stem) rather than each of the query's words
    searched for in the text, and what it matched is remembered for the next text. The cost then
    follows the text's new words, not the query's size: a topic may list many languages' words."""

    def __init__(self, root: Node):
        terms: dict[Term, None] = {}
        self.phrases: dict[Term, list[tuple[Phrase, frozenset[Term]]]] = {}  # by their first word
        for leaf in dict.fromkeys(leaves(root)):
            if isinstance(leaf, Phrase):
                self.phrases.setdefault(leaf.words[0], []).append((leaf, frozenset(leaf.words)))
            for t in leaf.words if isinstance(leaf, Phrase) else (leaf,):
                terms[t] = None
        self.by_form: dict[str, list[Term]] = {}
        # Prefix words (three letters or more) by the prefix, and the lengths of the prefixes
        # that begin with each first three letters: a text word is looked up by its own prefixes.
        self.by_prefix: dict[str, list[Term]] = {}
        self.prefix_lengths: dict[str, tuple[int, ...]] = {}
        # Stemmed words by (stemmer, stem), and the stemmers of the stems that begin with each
        # first three letters: a text word is stemmed once per stemmer, not once per query word.
        self.by_stem: dict[tuple[str, str], list[Term]] = {}
        self.stemmers: dict[str, tuple[str, ...]] = {}
        self.short: list[Term] = []  # prefixes and stems of one or two letters
        lengths: dict[str, set[int]] = {}
        stemmers: dict[str, set[str]] = {}
        for t in terms:
            if t.prefix:
                if len(t.word) >= 3:
                    self.by_prefix.setdefault(t.word, []).append(t)
                    lengths.setdefault(t.word[:3], set()).add(len(t.word))
                else:
                    self.short.append(t)
                continue
            for form in t.match.forms:
                self.by_form.setdefault(form, []).append(t)
            if t.match.stemmer:
                if len(t.match.stem) >= 3:
                    self.by_stem.setdefault((t.match.stemmer, t.match.stem), []).append(t)
                    stemmers.setdefault(t.match.stem[:3], set()).add(t.match.stemmer)
                else:
                    self.short.append(t)
        self.prefix_lengths = {head: tuple(sorted(n)) for head, n in lengths.items()}
        self.stemmers = {head: tuple(sorted(names)) for head, names in stemmers.items()}
        self._matching: dict[str, tuple[Term, ...]] = {}  # text word → the query words it matches
        self._nothing: set[str] = set()  # text words that match none

    def terms_of(self, word: str, stem_of: Callable[[str, str], str]) -> tuple[Term, ...]:
        """The query's words (of three letters or more) that a text word matches: by one of
        their forms, as a prefix, or by stem."""
        out = list(self.by_form.get(word, ()))
        head = word[:3]
        for n in self.prefix_lengths.get(head, ()):
            if n > len(word):
                break
            out.extend(self.by_prefix.get(word[:n], ()))
        for name in self.stemmers.get(head, ()):
            out.extend(t for t in self.by_stem.get((name, stem_of(name, word)), ()) if word not in t.match.forms)
        for t in self.short:  # a prefix or stem of one or two letters
            if t.prefix:
                if word.startswith(t.word):
                    out.append(t)
            elif word.startswith(t.match.stem) and word not in t.match.forms \
                    and stem_of(t.match.stemmer, word) == t.match.stem:
                out.append(t)
        return tuple(out)

    def prefill(self, doc: Doc, memo: Memo) -> set[Term | Phrase]:
        """Put every word and phrase of the query that the text holds in `memo`, with its
        positions; returns those that have positions."""
        # What each text word matches is worked out once and remembered across texts (news
        # repeats its vocabulary); the words known to match nothing are set aside in one C-level
        # set difference, so Python looks only at the few words a text shares with the query.
        matching, nothing = self._matching, self._nothing
        if len(matching) + len(nothing) > WORD_CACHE_LIMIT:
            matching.clear()
            nothing.clear()
        found: dict[Term, list[str]] = {}
        for w in doc.index.keys() - nothing:
            terms = matching.get(w)
            if terms is None:
                terms = self.terms_of(w, doc.stem_of)
                if not terms:
                    nothing.add(w)
                    continue
                matching[w] = terms
            for t in terms:
                found.setdefault(t, []).append(w)
        for t, words in found.items():
            memo[t] = _positions_of(t, words, doc)
        memo[_PREFILLED] = []
        phrases = self.phrases
        have: set[Term | Phrase] = {t for t, got in memo.items() if got}
        found_phrases: list[Phrase] = []
        for first in phrases.keys() & have:  # a phrase can only start with a word found
            for phrase, words in phrases[first]:
                if words <= have and leaf_positions(phrase, doc, memo):  # most lack a later word
                    found_phrases.append(phrase)
                else:
                    memo[phrase] = []
        have.update(found_phrases)
        return have


def leaf_positions(leaf: Term | Phrase, doc: Doc, memo: Memo) -> Positions:
    got = memo.get(leaf)
    if got is not None:
        return got
    prefilled = _PREFILLED in memo
    if isinstance(leaf, Term):
        out = [] if prefilled else _term_positions(leaf, doc)
    else:
        per_word = [(memo.get(w) or []) if prefilled else _term_positions(w, doc) for w in leaf.words]
        out = []
        if all(per_word):
            # Where the phrase can start: each later word's positions moved back by its offset.
            starts = set(per_word[0])
            for k, positions in enumerate(per_word[1:], 1):
                starts.intersection_update([p - k for p in positions])
                if not starts:
                    break
            n = len(leaf.words)
            for start in per_word[0] if starts else ():
                if start in starts:
                    out.extend(range(start, start + n))
    memo[leaf] = out
    return out


def near_positions(a: Positions, b: Positions, distance: int) -> Positions:
    """The positions of `a` and of `b` that have a position of the other within `distance` words."""
    span = distance + 1

    def close(xs: Positions, ys: Positions) -> list[int]:
        return [x for x in xs if bisect_right(ys, x + span) > bisect_left(ys, x - span)]

    return sorted(set(close(a, b)) | set(close(b, a)))


_UNSEEN = object()


def evaluate(node: Node, doc: Doc, memo: Memo) -> Positions | None:
    """None when the node does not match; otherwise the positions of the hits that make it match."""
    index = getattr(node, "index", None)
    if index is not None and _PREFILLED not in memo:
        index.prefill(doc, memo)
    return _eval(node, doc, memo)


def _eval(node: Node, doc: Doc, memo: Memo) -> Positions | None:
    if isinstance(node, (Term, Phrase)):
        return leaf_positions(node, doc, memo) or None
    # A group (@NAME) is one node used in many places: evaluated once per document. Keyed by
    # identity (a node's own hash would walk its whole subtree).
    key = id(node)
    got = memo.get(key, _UNSEEN)
    if got is _UNSEEN:
        got = memo[key] = _evaluate_inner(node, doc, memo)
    return got


def _evaluate_inner(node: Node, doc: Doc, memo: Memo) -> Positions | None:
    if isinstance(node, And):
        hits: set[int] = set()
        for child in node.children:
            got = _eval(child, doc, memo)
            if got is None:
                return None
            hits.update(got)
        return sorted(hits)
    if isinstance(node, Or):
        hits = set()
        matched = False
        prefilled = _PREFILLED in memo
        for child in node.children:
            if isinstance(child, (Term, Phrase)):  # inlined: groups are long lists of words
                got = memo.get(child)
                if got is None:
                    if prefilled:
                        continue  # a word (or phrase) the text does not have
                    got = leaf_positions(child, doc, memo)
                if not got:
                    continue
            else:
                got = _eval(child, doc, memo)
                if got is None:
                    continue
            matched = True
            hits.update(got)
        return sorted(hits) if matched else None
    if isinstance(node, Not):
        return None if _eval(node.child, doc, memo) is not None else []
    left = _eval(node.left, doc, memo)
    if not left:
        return None
    right = _eval(node.right, doc, memo)
    if not right:
        return None
    return near_positions(left, right, node.distance) or None
