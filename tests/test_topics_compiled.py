"""The matcher's fast paths give the answers of the plain ones, on every labelled set and on long
texts: the compiled evaluator and the one-pass word index (monitor/topics/compiled.py,
query.LeafIndex) against a word-by-word evaluation of the query tree, the screen read in pieces
against the full matcher, and the byte-counting language detection against its definition."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from monitor.lang import detect_language
from monitor.topics import Matcher, compile_topic, default_topics
from monitor.topics.compiled import Evaluator
from monitor.topics.match import prepare
from monitor.topics.query import Phrase, Term, evaluate, leaf_positions, leaves
from tests.conftest import CORPORA, FIXTURES

# The screen once read a text in pieces of this many characters: words and seams cut
# at that point stay tested.
FORMER_PIECE = 600


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def labelled_cases() -> list[dict]:
    paths = sorted((FIXTURES / "topics").glob("*.jsonl"))
    dev = CORPORA / "relevance-dev" / "cases.jsonl"
    return [case for path in paths + ([dev] if dev.is_file() else []) for case in lines(path)]


def long_texts(cases: list[dict], count: int = 60) -> list[tuple[str, str]]:
    """~5 KB texts: labelled texts one after another, in a different mix each time."""
    out = []
    for i in range(count):
        parts, j = [], i
        while sum(map(len, parts)) < 5000:
            parts.append(cases[j % len(cases)]["text"])
            j += 11
        out.append((cases[i % len(cases)]["title"], "\n\n".join(parts)))
    return out


@pytest.fixture(scope="module")
def topics():
    return default_topics()


@pytest.fixture(scope="module")
def texts() -> list[tuple[str, str]]:
    cases = labelled_cases()
    return [(c["title"], c["text"]) for c in cases] + long_texts(cases)


def found_leaves(memo) -> dict:
    return {leaf: got for leaf, got in memo.items() if got and isinstance(leaf, (Term, Phrase))}


def test_the_compiled_evaluator_gives_the_word_by_word_answer(topics, texts):
    checked = matched = 0
    words = {id(root): {w: None for leaf in leaves(root) for w in (leaf, *getattr(leaf, "words", ()))}
             for topic in topics for root in filter(None, (topic.node, topic.exclude))}
    for topic in topics:
        for root in filter(None, (topic.node, topic.exclude)):
            fast = Evaluator(root)
            plain_root = dataclasses.replace(root, index=None)  # no index: each word searched for
            stems: dict = {}
            for title, text in texts:
                doc = prepare(title, text, stems).doc
                memo, plain_memo = {}, {}
                got, want = fast(doc, memo), evaluate(plain_root, doc, plain_memo)
                assert got == want, (title, text[:80])
                # The words the matcher reports and marks come from the memo: each word and
                # phrase of the query with the positions a search for it alone finds.
                matched += got is not None
                checked += 1
                assert found_leaves(memo) == {leaf: alone for leaf in words[id(root)]
                                              if (alone := leaf_positions(leaf, doc, {}))}
    assert checked > 700 and matched > 300  # both answers met many times


def test_the_screen_read_in_pieces_finds_a_word_cut_by_a_piece_boundary():
    topic = compile_topic("t", "deportation AND orphanage")
    full, screened = Matcher([topic], screened=False), Matcher([topic])
    for start in range(FORMER_PIECE - 12, FORMER_PIECE + 3):  # "orphanage" across the boundary
        text = "deportation " + "x" * (start - len("deportation ") - 1) + " orphanage and more text"
        assert text.index("orphanage") == start
        assert full.classify("", text).match
        assert screened.screen.passes("", text), start


_CYR_RE = re.compile(r"[а-яёіїєґ]")
_LAT_RE = re.compile(r"[a-z]")


def reference_counts(sample: str) -> tuple[int, int]:
    """The letters detect_language counts, by their definition: one regular expression each."""
    return len(_CYR_RE.findall(sample)), len(_LAT_RE.findall(sample))


@pytest.mark.parametrize("text", [
    "Діти з'явилися у Маріуполі, і їх вивезли до Росії.",
    "Дети были вывезены из Херсона; это подтвердил омбудсмен. Ёлка, подъезд, объём.",
    "ЩО І ЇХ Є ҐАНОК",                       # upper case: lower-cased before counting
    "Ђорђе, Јована, ѓ, ў, ѐ, ѝ, ѳ, і ї є ґ",  # Cyrillic letters of other languages do not count
    "Kyiv says 19,546 children were deported; Kinder wurden verschleppt, enfants déportés.",
    "mixed дети and children 123 _ ÿ ß",
])
def test_language_detection_counts_letters_as_their_definition_does(text):
    from monitor import lang

    sample = text.lower()
    encoded = sample.encode("utf-8")
    cyr = encoded.count(b"\xd0") + sum(map(sample.count, lang._CYR_AFTER_P))
    lat = len(encoded.translate(None, lang._NOT_LATIN_BYTES))
    assert (cyr, lat) == reference_counts(sample)
    assert detect_language("", text) in {"uk", "ru", "und", *lang.LATIN_LANGUAGES}


def test_the_remembered_words_are_forgotten_past_their_limit_and_answers_stay_the_same(monkeypatch, texts):
    from monitor.topics import query

    topic = default_topics()[0]
    index = topic.node.index
    first = [Matcher([topic]).classify(title, text) for title, text in texts[:80]]
    monkeypatch.setattr(query, "WORD_CACHE_LIMIT", 50)
    again = [Matcher([topic]).classify(title, text) for title, text in texts[:80]]
    assert again == first
    assert len(index._matching) + len(index._nothing) <= 50 + max(len(prepare(t, x, {}).doc.vocab) for t, x in texts[:80])


def test_a_text_the_screen_calls_unmixed_has_no_token_that_needs_look_alike_folding(topics, texts):
    from monitor.topics.normalize import TOKEN_RE, clean_display, normalize_tokens
    from monitor.topics.screen import PASSED, PASSED_UNMIXED

    screen = Matcher(topics).screen
    mixed = ("Окупанти дeпортували дітей", "Росія вивезла дiтей з Херсона до табору в Криму.")  # Latin e, i
    assert screen.read(*mixed) is PASSED and Matcher(topics).classify(*mixed).match
    unmixed = 0
    for title, text in texts + [mixed]:
        if screen.read(title, text) is PASSED_UNMIXED:
            tokens = TOKEN_RE.findall(clean_display(f"{title}\n{text}"))
            assert normalize_tokens(tokens, unmixed=True) == normalize_tokens(tokens)
            unmixed += 1
    assert unmixed > 300


def _reference_check(query: str) -> tuple[int, str] | None:
    """Quotes and parentheses checked one character at a time: what the query checker must say."""
    stack, quote_at, i = [], -1, 0
    while i < len(query):
        c = query[i]
        if c == "\\":
            i += 2
            continue
        if quote_at >= 0:
            quote_at = -1 if c == '"' else quote_at
        elif c == '"':
            quote_at = i
        elif c == "(":
            stack.append(i)
        elif c == ")":
            if not stack:
                return i, "unbalanced parenthesis"
            stack.pop()
        i += 1
    if quote_at >= 0:
        return quote_at, "unterminated phrase (missing closing quote)"
    return (stack[-1], "unbalanced parenthesis") if stack else None


def test_the_quote_and_parenthesis_check_says_what_a_character_by_character_reading_says():
    import random

    from monitor.topics.query import TopicSyntaxError, _check_quotes_and_parens

    rng = random.Random(7)
    for _ in range(5000):
        query = "".join(rng.choice('ab ()"\\\\') for _ in range(rng.randrange(0, 14)))
        try:
            _check_quotes_and_parens("t", query)
            got = None
        except TopicSyntaxError as exc:
            got = (exc.position, exc.message)
        assert got == _reference_check(query), query


def test_a_lone_angle_bracket_in_the_title_hides_no_mixed_script_word_of_the_text(topics):
    """The screen cleans title and text apart, as the matcher does: "<" in the title and ">" in
    the text are no tag, and the Latin "e" in "дeпортували" is still seen and folded."""
    title = "Звіт < омбудсмана"
    text = "Окупанти дeпортували дітей з Херсона до Росії > так повідомили."
    assert Matcher(topics, screened=False).classify(title, text).match
    assert Matcher(topics).classify(title, text).match
