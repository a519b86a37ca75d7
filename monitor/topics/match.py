"""Topics, classification of articles, snippets and the JSONL contract of `monitor classify`.

Snippet format: plain text (never HTML), the sentence(s) holding the hits, each hit wrapped in
``**…**`` (Markdown bold, readable as is in a terminal or an e-mail). Sentences are joined with
" … "; a title used as a snippet sentence is followed by " — ".
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources

from monitor.lang import detect_language

from .cache import cached
from .result import Classification
from .morphology import DEFAULT_BACKEND, Backend
from .normalize import TOKEN_RE, clean_display, normalize_tokens, squash_spaces
from .compiled import Evaluator
from .spec import TopicOptions, TopicsSpec
from .screen import PASSED_UNMIXED, REJECTED, Screen
from .shipped import DEFAULT_TOPIC_FILES
from .query import (TITLE_GAP, Doc, LeafIndex, Memo, Node, Or, Phrase, Term,
                    leaves, parse_query)

MARK = "**"
SNIPPET_SENTENCES = 2
SNIPPET_MAX_CHARS = 600  # per sentence; longer ones are cut around their hits


@dataclass(frozen=True)
class Topic:
    name: str
    query: str
    node: Node
    languages: tuple[str, ...] | None = None  # None: every language
    exclude: Node | None = None
    terms: tuple[Term | Phrase, ...] = ()  # leaves of `node`, for reporting matched terms
    source: str = ""  # the topic file as written, comments included (explanations name clauses)
    # Context words (NAME.context beside a shipped topic): the setting most news shares (children,
    # Ukraine, Russia, places). A snippet marks only the other hits, those that decided the match.
    context: tuple[Term | Phrase, ...] = ()

    @functools.cached_property
    def leaves_by_label(self) -> dict[str, tuple[Term | Phrase, ...]]:
        """Each reported label's leaves, labels in the order of the query."""
        out: dict[str, list[Term | Phrase]] = {}
        for leaf in self.terms:
            out.setdefault(leaf.label, []).append(leaf)
        return {label: tuple(leaves_of) for label, leaves_of in out.items()}

    @functools.cached_property
    def label_order(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.leaves_by_label)}

    @functools.cached_property
    def evaluate(self) -> Evaluator:
        """The topic's evaluator. Its memo also holds the positions of the context words the
        topic lacks (the snippet needs them for a match): one pass over the text reads both."""
        others = self.context_split[1] if self.context else ()
        if not others:
            return Evaluator(self.node)
        return Evaluator(self.node, LeafIndex(Or((self.node, *others))))

    @functools.cached_property
    def evaluate_exclude(self) -> Evaluator | None:
        return Evaluator(self.exclude) if self.exclude is not None else None

    @functools.cached_property
    def term_set(self) -> frozenset[Term | Phrase]:
        return frozenset(self.terms)

    @functools.cached_property
    def context_split(self) -> tuple[tuple[Term | Phrase, ...], frozenset[Term | Phrase]]:
        """The context words as the topic's own leaves where the topic has the same word (their
        positions are then in the topic's memo already), and the few others."""
        own = {_leaf_key(leaf): leaf for leaf in reversed(self.terms)}
        for leaf in self.terms:
            for word in getattr(leaf, "words", ()):
                own.setdefault(_leaf_key(word), word)
        shared = tuple(dict.fromkeys(own[_leaf_key(c)] for c in self.context if _leaf_key(c) in own))
        return shared, frozenset(c for c in self.context if _leaf_key(c) not in own)

    def hit_leaves(self, memo: Memo) -> list[Term | Phrase]:
        """The topic's words and phrases found in the text evaluated with `memo`: a text holds a
        few dozen of a long topic's thousands."""
        terms = self.term_set
        return [leaf for leaf, got in memo.items() if got and leaf in terms]


def compile_topic(
    name: str,
    query: str,
    *,
    languages: list[str] | None = None,
    exclude: str | None = None,
    morphology: Backend = DEFAULT_BACKEND,
) -> Topic:
    """Compile a query; raises TopicSyntaxError naming the topic and the 0-based position.
    A syntax error in ``exclude`` is reported for topic "NAME (exclude)". Compiled once per
    machine and user, then read from the cache (monitor/topics/cache.py)."""
    langs = tuple(languages) if languages else None
    return cached(("topic", name, query, langs, exclude, morphology),
                  lambda: _compile_topic(name, query, langs, exclude, morphology))


def _compile_topic(name: str, query: str, languages: tuple[str, ...] | None, exclude: str | None,
                   morphology: Backend) -> Topic:
    node = parse_query(name, query, morphology)
    excl = parse_query(f"{name} (exclude)", exclude, morphology) if exclude else None
    seen: dict[Term | Phrase, None] = dict.fromkeys(leaves(node))
    langs = tuple(l.strip().lower() for l in languages) if languages else None
    return Topic(name, query, node, langs, excl, tuple(seen))


def strip_comments(source: str) -> str:
    """Blank out ``#`` comments (to the end of the line, outside phrases) with spaces, so that
    syntax-error positions still point into the file as written."""
    out = []
    for line in source.splitlines(keepends=True):
        in_quote = False
        for i, c in enumerate(line):
            if c == '"':
                in_quote = not in_quote
            elif c == "#" and not in_quote:
                end = len(line.rstrip("\r\n"))
                line = line[:i] + " " * (end - i) + line[end:]
                break
        out.append(line)
    return "".join(out)


def load_topic_file(name: str, source: str, *, morphology: Backend = DEFAULT_BACKEND) -> Topic:
    topic = compile_topic(name, strip_comments(source), morphology=morphology)
    return dataclasses.replace(topic, source=source)


def default_topics(*, morphology: Backend = DEFAULT_BACKEND) -> list[Topic]:
    """The topics shipped with the package (``*.topic`` files next to this module, each with its
    context words from ``NAME.context`` when there is one)."""
    pkg = resources.files(__package__)
    topics = []
    for f in DEFAULT_TOPIC_FILES:
        name = f.removesuffix(".topic")
        topic = load_topic_file(name, (pkg / f).read_text(encoding="utf-8"), morphology=morphology)
        context_file = pkg / f"{name}.context"
        if context_file.is_file():
            words = compile_topic(f"{name} (context)", strip_comments(context_file.read_text(encoding="utf-8")),
                                  morphology=morphology)
            topic = dataclasses.replace(topic, context=words.terms)
        topics.append(topic)
    return topics


# ---------------------------------------------------------------- articles


@dataclass
class Article:
    """Display text (for snippets) and the normalized token index."""

    title: str
    text: str
    lang: str
    doc: Doc


def prepare(title: str, text: str, stem_cache: dict[tuple[str, str], str], *, unmixed: bool = False) -> Article:
    title = squash_spaces(clean_display(title or ""))
    text = clean_display(text or "")
    title_tokens = TOKEN_RE.findall(title)
    lang = detect_language(title, text)
    doc = Doc(normalize_tokens(title_tokens + TOKEN_RE.findall(text), unmixed=unmixed), len(title_tokens),
              stem_cache, lang)
    return Article(title, text, lang, doc)


@dataclass
class Matcher:
    topics: list[Topic]
    # Stems of text words, shared across articles: news vocabulary repeats, stemming is slow-ish.
    _stem_cache: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)
    screened: bool = True  # False: every text goes to the full evaluator (tests compare the two)
    _screen: Screen | None = field(default=None, repr=False)

    @property
    def screen(self) -> Screen:
        if self._screen is None:
            self._screen = Screen(topic.node for topic in self.topics if self.screened)
        return self._screen

    def classify(self, title: str, text: str, *, language: bool = True) -> Classification:
        """Whether the text is on any topic. Text the screen turns away (most news) is not read
        further; with `language` False (a poll, which needs no language for what it does not
        keep) not even its language is detected, and its Classification has lang ""."""
        verdict = self.screen.read(title or "", text or "")
        if verdict is REJECTED:
            lang = detect_language(squash_spaces(clean_display(title or "")), clean_display(text or "")) if language else ""
            return Classification(False, [], lang, [], "")
        if len(self._stem_cache) > 200_000:
            self._stem_cache.clear()
        art = prepare(title, text, self._stem_cache, unmixed=verdict is PASSED_UNMIXED)
        matched: list[str] = []
        hits: set[int] = set()
        decisive: set[int] = set()  # the hits a snippet marks: not the topics' context words
        terms: dict[str, int] = {}
        for topic in self.topics:
            if topic.languages is not None and art.lang not in topic.languages:
                continue
            memo: Memo = {}
            got = topic.evaluate(art.doc, memo)
            if got is None:
                continue
            if topic.evaluate_exclude is not None and topic.evaluate_exclude(art.doc, {}) is not None:
                continue
            matched.append(topic.name)
            hits.update(got)
            hit_set = set(got)
            hit_leaves = topic.hit_leaves(memo)
            decisive.update(_decisive(topic, art.doc, memo, hit_set, hit_leaves) or hit_set)
            # A label is reported when every leaf carrying it has a hit: the words of
            # '"з окупован*"~1' share that label, and "з" alone is not a matched term.
            found_labels = {leaf.label for leaf in hit_leaves}
            for label in sorted(found_labels, key=topic.label_order.__getitem__):
                got_firsts = []
                for leaf in topic.leaves_by_label[label]:
                    got_leaf = memo.get(leaf)
                    got_firsts.append(next((p for p in got_leaf if p in hit_set), None) if got_leaf else None)
                if None not in got_firsts:
                    first = min(got_firsts)
                    terms[label] = min(first, terms.get(label, first))
        if not matched:
            return Classification(False, [], art.lang, [], "")
        ordered_terms = sorted(terms, key=terms.__getitem__)
        return Classification(True, matched, art.lang, ordered_terms, snippet(art, decisive or hits))


def _leaf_key(leaf: Term | Phrase) -> tuple:
    """What a word's positions in a text depend on (not the label it is reported under)."""
    if isinstance(leaf, Phrase):
        return ("phrase", tuple(map(_leaf_key, leaf.words)), leaf.title_only)
    return ("word", leaf.word, leaf.prefix, leaf.title_only, leaf.langs, leaf.match)


def _decisive(topic: Topic, doc: Doc, memo: Memo, hit_set: set[int],
              hit_leaves: list[Term | Phrase]) -> set[int]:
    """The hit positions that decided the match: those of a word that is not one of the topic's
    context words, and every word of a phrase hit that has such a word ("Bring Kids Back": yes,
    "to Russia": no). Empty for a topic without context words (the caller marks every hit)."""
    if not topic.context:
        return set()
    context: set[int] = set()
    shared, others = topic.context_split
    # Both are in the memo (Topic.evaluate reads the others too); a context phrase counts whole,
    # not its words on their own.
    for leaf in (*shared, *others):
        got = memo.get(leaf)
        if got:
            context.update(got)
    out: set[int] = set()
    for leaf in hit_leaves:
        got = memo[leaf]
        positions = sorted(p for p in got if p in hit_set)
        if not isinstance(leaf, Phrase):
            out.update(p for p in positions if p not in context)
            continue
        run: list[int] = []
        for position in positions + [-2]:  # runs of consecutive positions: one hit of the phrase each
            if run and position != run[-1] + 1:
                if any(p not in context for p in run):
                    out.update(run)
                run = []
            run.append(position)
    return out


# ---------------------------------------------------------------- snippets

# The lookahead first: both forms start with a closing quote or a space, so the lookbehind is
# tried there only, not at every character of the text.
_SENTENCE_END_RE = re.compile(r"(?=[\s\"»”')\]])(?:(?<=[.!?…])[\"»”')\]]*\s+|\n\s*)")


def _sentences(text: str) -> list[tuple[int, int]]:
    out, start = [], 0
    for m in _SENTENCE_END_RE.finditer(text):
        if m.start() > start:
            out.append((start, m.start()))
        start = m.end()
    if start < len(text):
        out.append((start, len(text)))
    return out


_JOINABLE_RE = re.compile(r"[\s\-‐‑–]*")  # hits separated only by these are marked as one


def _merge(s: str, hits: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Adjacent hits (a phrase, Lvova-Belova) become one marked span: **Bring Kids Back**."""
    out: list[tuple[int, int]] = []
    for a, b in hits:
        if out and _JOINABLE_RE.fullmatch(s, out[-1][1], a):
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _mark(s: str, start: int, end: int, hits: list[tuple[int, int]]) -> str:
    """Sentence s[start:end] with hit spans wrapped in MARK, cut around hits if too long."""
    hits = _merge(s, hits)
    if end - start > SNIPPET_MAX_CHARS and hits:
        centre = (hits[0][0] + hits[-1][1]) // 2
        lo = max(start, min(centre - SNIPPET_MAX_CHARS // 2, end - SNIPPET_MAX_CHARS))
        hi = min(end, lo + SNIPPET_MAX_CHARS)
        hits = [(a, b) for a, b in hits if a >= lo and b <= hi]
        prefix, suffix = ("…" if lo > start else ""), ("…" if hi < end else "")
        start, end = lo, hi
    else:
        prefix = suffix = ""
    parts, cur = [], start
    for a, b in hits:
        parts += [_unmarked(s[cur:a]), MARK, _unmarked(s[a:b]), MARK]
        cur = b
    parts.append(_unmarked(s[cur:end]))
    return prefix + squash_spaces("".join(parts)) + suffix


def _unmarked(text: str) -> str:
    """Feed text with its own asterisks shown as look-alikes: only our marks are ** in a snippet."""
    return text.replace("*", "∗")


def snippet(art: Article, hits: set[int]) -> str:
    doc = art.doc
    # Token spans are only needed here, for matching articles: found again rather than stored.
    spans_by_source: dict[int, list[tuple[int, int, str]]] = {0: [], 1: []}
    n = doc.title_len
    wanted = {p if p < n else p - TITLE_GAP for p in hits}  # token indices
    last = max(wanted, default=-1)
    for source, s, first in ((0, art.title, 0), (1, art.text, n)):
        if first > last:
            break
        for i, m in enumerate(TOKEN_RE.finditer(s), first):
            if i in wanted:
                spans_by_source[source].append((m.start(), m.end(), doc.tokens[i]))
                if i == last:
                    break  # the rest of the text holds no hit
    # Candidate sentences: the title as one sentence, then the text's sentences.
    candidates = []  # (distinct hit words, -order, source, start, end, hit spans)
    order = 0
    for source, s in ((0, art.title), (1, art.text)):
        sentences = [(0, len(s))] if source == 0 else _sentences(s)
        spans, k = spans_by_source[source], 0
        for start, end in sentences:  # both sorted: walk them together
            inside = []
            while k < len(spans) and spans[k][0] < end:
                if spans[k][0] >= start:
                    inside.append(spans[k])
                k += 1
            if inside:
                candidates.append((len({w for *_, w in inside}), -order, source, start, end,
                                   [(a, b) for a, b, _ in inside]))
            order += 1
    best = sorted(candidates, reverse=True)[:SNIPPET_SENTENCES]
    best.sort(key=lambda c: -c[1])  # back to reading order
    pieces = []
    for _, _, source, start, end, spans in best:
        text = art.title if source == 0 else art.text
        pieces.append((source, _mark(text, start, end, spans)))
    out = ""
    for i, (source, piece) in enumerate(pieces):
        if i:
            out += " — " if pieces[i - 1][0] == 0 else " … "
        out += piece
    return out


# ---------------------------------------------------------------- JSONL


def json_objects(lines: Iterable[str]) -> Iterator[tuple[int, dict | None, str | None]]:
    """(line number, object, None) per non-blank JSON-object line; (line number, None, why) else."""
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
        except ValueError as err:
            yield lineno, None, str(err)
            continue
        yield lineno, obj, None


def classify_jsonl(lines: Iterable[str], matcher: Matcher) -> Iterator[str]:
    """One output line per non-blank input line. A line that is not a JSON object yields
    ``{"id": null, "match": false, ..., "error": "..."}`` so that outputs stay aligned."""
    for lineno, obj, err in json_objects(lines):
        if obj is None:
            yield json.dumps({"id": None, "match": False, "topics": [], "lang": "und", "terms": [],
                              "snippet": "", "error": f"line {lineno}: {err}"}, ensure_ascii=False)
            continue
        c = matcher.classify(str(obj.get("title") or ""), str(obj.get("text") or ""))
        yield json.dumps({"id": obj.get("id"), "match": c.match, "topics": c.topics,
                          "lang": c.lang, "terms": c.terms, "snippet": c.snippet},
                         ensure_ascii=False)


@functools.cache
def shipped_topics() -> tuple[Topic, ...]:
    """default_topics(), once per process: every matcher built here shares them and what they
    compile on first use. Workers forked from the fork server inherit them compiled
    (monitor/preload.py)."""
    return tuple(default_topics())


def build_matcher(overrides: Mapping[str, TopicOptions] | None = None) -> Matcher:
    """The shipped topics, overridden or extended by the `topics:` of sources.yaml."""
    topics = {topic.name: topic for topic in shipped_topics()}
    for name, options in (overrides or {}).items():
        topics[name] = compile_topic(name, options.query, languages=options.languages, exclude=options.exclude)
    return Matcher(list(topics.values()))


_WORKER_MATCHERS: dict[TopicsSpec, Matcher] = {}   # in a worker process (monitor/offload.py) only


def build_from_spec(spec: TopicsSpec) -> Matcher:
    """build_matcher() of a configuration sent as plain data (monitor/topics/lazy.py)."""
    return build_matcher({name: _Options(query, list(langs) if langs else None, exclude)
                          for name, query, langs, exclude in spec})


def matcher_for(spec: TopicsSpec) -> Matcher:
    """In a worker process: the matcher of this configuration, compiled once per worker."""
    if spec not in _WORKER_MATCHERS:
        _WORKER_MATCHERS[spec] = build_from_spec(spec)
    return _WORKER_MATCHERS[spec]


def classify_batch(spec: TopicsSpec, texts: list[tuple[str, str]]) -> list[Classification]:
    """classify() of each (title, text), in a worker process."""
    matcher = matcher_for(spec)
    return [matcher.classify(title, text, language=False) for title, text in texts]


@dataclass(frozen=True)
class _Options:
    query: str
    languages: list[str] | None
    exclude: str | None
