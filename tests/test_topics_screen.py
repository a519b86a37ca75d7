"""The matcher's first screen (monitor/topics/screen.py) never turns away a text the full
evaluator matches, and does turn away ordinary news."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from monitor.topics import Matcher, compile_topic, default_topics
from monitor.topics.morphology import stem
from monitor.topics.normalize import has_script_seam
from monitor.topics.screen import PASSED, PASSED_UNMIXED, REJECTED, Screen, screen_text, stem_key
from tests.conftest import CORPORA, FIXTURES

# The screen once read a text in pieces of this many characters: words and seams cut
# at that point stay tested.
FORMER_PIECE = 600

LABELLED = sorted((FIXTURES / "topics").glob("*.jsonl"))


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def matchers() -> tuple[Matcher, Matcher]:
    topics = default_topics()
    return Matcher(topics), Matcher(topics, screened=False)


def labelled_sets() -> list[Path]:
    dev = CORPORA / "relevance-dev" / "cases.jsonl"
    return LABELLED + ([dev] if dev.is_file() else [])


@pytest.mark.parametrize("path", labelled_sets(), ids=lambda p: p.name)
def test_the_screen_passes_every_text_the_full_matcher_matches(matchers, path):
    screened, full = matchers
    cases = lines(path)
    missed = [c["id"] for c in cases if full.classify(c["title"], c["text"]).match
              and not screened.screen.passes(c["title"], c["text"])]
    assert not missed
    # Same decisions, topics and terms with the screen as without it.
    for c in cases:
        a, b = screened.classify(c["title"], c["text"]), full.classify(c["title"], c["text"])
        assert (a.match, a.topics, a.terms, a.snippet, a.lang) == (b.match, b.topics, b.terms, b.snippet, b.lang)


def test_the_screen_turns_away_most_of_the_off_topic_news(matchers):
    screened, full = matchers
    negatives = [c for path in LABELLED for c in lines(path) if not c["label"]]
    rejected = [c for c in negatives if not screened.screen.passes(c["title"], c["text"])]
    # The labelled negatives are hard on purpose (children, Russia, deportation words); everyday
    # news has fewer of them still. A screen that passes everything would screen nothing.
    assert len(rejected) >= 0.3 * len(negatives), (len(rejected), len(negatives))
    everyday = [("Council approves the new tram line", "The city council voted on Tuesday to build a tram line "
                 "across the river, with the first stop opening in 2028."),
                ("Погода на вихідні", "Синоптики обіцяють сонячну погоду та до двадцяти градусів тепла у Львові."),
                ("Курс рубля", "Центробанк сохранил ключевую ставку, аналитики ждут роста цен на топливо.")]
    assert not any(screened.screen.passes(title, text) for title, text in everyday)


def test_a_phrase_needs_more_than_its_longest_word_to_pass(matchers):
    # "14 year old" was looked for as "year" alone, in nearly every English text: with the
    # other clauses' everyday words ("taken part", "region", "official") this museum passed.
    screened, full = matchers
    title = "Museum in Odesa reopens its gallery of icons"
    text = ("During the winter closure the museum restored 25 paintings, and this year it has taken "
            "part in a programme with museums of the region. The official opening is on Sunday.")
    assert not screened.screen.passes(title, text)
    assert screened.screen.passes("A 14-year-old boy was taken to Russia", "Occupation officials took "
                                  "the 14-year-old boy from Kherson to a camp in Crimea, his mother said.")


@pytest.mark.parametrize("title, text", [
    # French elision: the matcher also finds "enfants" inside "d'enfants".
    ("Déportation d'enfants ukrainiens", "La Russie a déporté des milliers d'enfants ukrainiens depuis l'Ukraine occupée."),
    # A Latin "e" inside a Cyrillic word: the matcher folds the word, a substring search would not.
    ("Дeпортація дітей", "Росія дeпортувала дітей з окупованого Херсона."),
    # A combining mark (a decomposed letter): the text is screened on the matcher's tokens.
    ("Russia deported children", "Russia deported Ukrainian children from occupied Kherson\u0308."),
    # A soft hyphen and an entity inside words.
    ("Children depor\u00adted", "Russia depor&shy;ted Ukrainian children from occupied Kherson, officials said."),
    ("Викрадені діти", "Росія викрала дітей з окупованих територій України, заявив омбудсман."),
])
def test_the_screen_passes_what_the_matcher_matches_in_odd_spellings(matchers, title, text):
    screened, full = matchers
    assert full.classify(title, text).match
    assert screened.screen.passes(title, text)
    assert screened.classify(title, text).match


def test_a_key_counts_at_the_start_of_a_word_only():
    screen = Matcher([compile_topic("t", "teen AND deport*")]).screen
    assert screen.passes("", "A teen was deported.")
    assert not screen.passes("", "Fifteen people were deported.")   # "teen" inside a word
    assert not screen.passes("", "A teen was redeported.")
    assert screen.passes("", "Підліток? no: a teen (deported) left.")


def test_a_combining_mark_ends_a_word_for_the_screen_as_for_the_matcher():
    # The matcher's tokens split at the mark ("de", "portation"), NFKC would join "dè" to the rest.
    topic = Matcher([compile_topic("t", "port* AND enfant*")])
    assert topic.classify("", "de\u0300portation d'enfants").match
    assert topic.screen.passes("", "de\u0300portation d'enfants")


def test_a_topic_that_needs_no_word_passes_every_text():
    assert Screen([compile_topic("t", "NOT weather").node]).passes("", "anything at all")
    assert Screen([]).passes("", "anything")


def _english_words() -> set[str]:
    """Every English-looking word of the labelled sets, and of the shared corpora when they are here."""
    texts = [f"{c['title']} {c['text']}" for path in labelled_sets() for c in lines(path)]
    if CORPORA.is_dir():
        texts += [p.read_text("utf-8", errors="replace") for p in sorted(CORPORA.rglob("*"))
                  if p.is_file() and p.suffix in (".html", ".xml", ".json", ".jsonl", ".txt") and p.stat().st_size < 5_000_000]
    return {w for text in texts for w in re.findall(r"[a-z]+", text.lower())}


def test_english_stems_start_as_the_screen_assumes():
    # The screen looks for a stemmed word's key (stem_key: the stem, less its last letter where
    # Porter2 rewrites a word's end). Check that on every English word at hand: each word whose
    # stem the matcher would look up (the word starts with the stem's first three letters) starts
    # with that stem's key.
    words = _english_words() | {"skies", "dying", "happily", "possibility", "writing", "relational", "valency"}
    assert len(words) > 1000
    wrong = [(w, s) for w in words if w.startswith((s := stem("english", w))[:3]) and not w.startswith(stem_key(s))]
    assert not wrong
    assert stem_key(stem("english", "forced")) == "forc" and stem_key(stem("english", "happy")) == "happ"


def test_a_word_mixing_scripts_anywhere_is_seen_and_reported():
    """The screen finds Latin letters touching Cyrillic ones in the same pass as the topic's words;
    a text it passes early (its first piece matches) is still read to the end for them, since the
    matcher folds a mixed word only when told the text has one (PASSED, not PASSED_UNMIXED)."""
    screen = Matcher([compile_topic("t", "діт* AND депорт*")]).screen
    opening = "Росія депортувала дітей з Херсона. "
    filler = "Новини дня без жодного слова теми. " * (4 * FORMER_PIECE // 35)
    assert screen.read("", opening + filler) is PASSED_UNMIXED
    assert screen.read("", opening + filler + "Кийiв") is PASSED          # a Latin "i", at the very end
    assert screen.read("", opening + "Кийiв" + filler) is PASSED
    assert screen.read("", filler + "Кийiв") is PASSED                    # rejected but for the seam
    assert screen.read("", filler) is REJECTED
    assert screen.read("", filler + "Kyiv i Київ, BBC та Reuters") is REJECTED  # scripts side by side only
    for at in range(FORMER_PIECE - 12, FORMER_PIECE + 12):  # a seam around the end of the first piece
        assert screen.read("", opening + filler[:at - len(opening)] + "аb" + filler) is PASSED, at
        assert screen.read("", filler[:at] + "аb" + filler) is PASSED, at


def _read_by_hand(screen: Screen, keys: dict[str, tuple[int, int]], title: str, text: str):
    """Screen.read as its docstring says, without an automaton: every key at the start of each
    word (a whole form only where the word ends there), any Latin letter touching a Cyrillic one."""
    folded = f"{screen_text(title)}\n{screen_text(text)}"
    if has_script_seam(folded):
        return PASSED
    longest = max(map(len, keys))
    found = 0
    for start in range(len(folded)):
        if start and (folded[start - 1].isalnum() or folded[start - 1] == "_"):
            continue
        for end in range(start + 1, min(len(folded), start + longest) + 1):
            meaning = keys.get(folded[start:end])
            if meaning is not None:
                found |= meaning[0]
                if end == len(folded) or not (folded[end].isalnum() or folded[end] == "_"):
                    found |= meaning[1]
    return PASSED_UNMIXED if screen._check(found) else REJECTED


def test_the_screen_reads_each_text_as_a_plain_scan_of_its_words_would(matchers):
    """The automaton is a fast way to do what _read_by_hand does; the two agree on every labelled
    text, on its tail (a text starting inside a word), and with a Cyrillic letter put inside it."""
    screen = matchers[0].screen
    keys = {key: meaning for key, meaning in zip(screen._keys, screen._meanings) if meaning is not None}
    rng = random.Random(3)
    checked = 0
    for path in labelled_sets():
        for case in lines(path):
            title, text = case["title"], case["text"]
            cut = rng.randrange(len(text) + 1)
            for variant in ((title, text), ("", text[cut:]), (title, text[:cut] + "і" + text[cut:])):
                assert screen.read(*variant) is _read_by_hand(screen, keys, *variant), (case["id"], variant[1][:80])
                checked += 1
    assert checked > 1000
