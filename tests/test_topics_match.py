"""The default topic on our own synthetic fixtures (every hard-negative family), snippets,
classify_jsonl, and the dev corpus when it is present."""

import json
from pathlib import Path

import pytest

from monitor.topics import Matcher, classify_jsonl, compile_topic, default_topics

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures" / "topics" / "cases.jsonl"
DEV = ROOT.parent / "shared" / "corpora" / "relevance-dev" / "cases.jsonl"


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


CASES = load(FIXTURES)


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(default_topics())


def test_default_topic_is_named_and_has_comments():
    (topic,) = default_topics()
    assert topic.name == "deported-children"
    source = (ROOT / "monitor" / "topics" / "deported-children.topic").read_text("utf-8")
    assert source.count("\n#") > 10


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_fixture_case(matcher, case):
    c = matcher.classify(case["title"], case["text"])
    assert c.match is bool(case["label"]), (case["family"], c.terms, c.snippet)
    assert c.lang == case["lang"]
    if c.match:
        assert c.topics == ["deported-children"] and c.terms and "**" in c.snippet


def test_every_hard_negative_family_is_covered():
    families = {c["family"] for c in CASES if not c["label"]}
    assert {"immigration", "evacuation", "shelling", "historic", "adult", "pow",
            "summer_camp", "russia_internal", "other_war"} <= families


def test_inflected_uk_ru_forms_match_default_topic(matcher):
    for text in [
        "Окупанти депортували дітей з Херсона до Криму.",
        "Окупанти депортують дитину з Херсона.",
        "Депортованих дітей шукають волонтери; депортація триває з боку Росії.",
        "Российские власти вывезли детей из Мариуполя в Россию.",
        "Вывезенных украинских детей разместили в Ростове; их вывоз в Россию продолжается.",
        "Ребёнка из Херсона незаконно вывезли в Россию.",
    ]:
        assert matcher.classify("", text).match, text


def test_snippet_marks_hits_in_plain_text():
    m = Matcher([compile_topic("t", '"deported children" AND russia')])
    c = m.classify(
        "Weather today",
        "It rained all day. Russia says the <i>deported</i> children are safe. Unrelated end.",
    )
    assert c.match and c.topics == ["t"]
    assert c.snippet == "**Russia** says the **deported children** are safe."
    assert "<" not in c.snippet
    assert c.terms == ["russia", '"deported children"']


def test_snippet_takes_title_and_best_sentence():
    m = Matcher([compile_topic("t", "deport* AND child*")])
    c = m.classify("Children deported", "First line. Second line has deportation of children.")
    assert c.snippet == "**Children deported** — Second line has **deportation** of **children**."


def test_snippet_cuts_long_sentences_around_hits():
    m = Matcher([compile_topic("t", "deported")])
    text = "word " * 400 + "children deported here " + "word " * 400
    snip = m.classify("", text).snippet
    assert "**deported**" in snip and snip.startswith("…") and snip.endswith("…")
    assert len(snip) < 700


def test_no_match_gives_empty_snippet(matcher):
    c = matcher.classify("Central bank holds rates", "Inflation slowed.")
    assert not c.match and c.topics == [] and c.terms == [] and c.snippet == ""


def test_classify_jsonl_contract(matcher):
    lines = [
        json.dumps({"id": 1, "title": "Діти", "text": "Окупанти депортували дітей до Росії.",
                    "url": "ignored"}, ensure_ascii=False),
        "",
        json.dumps({"id": "b", "title": "Rates", "text": "Inflation slowed."}),
        "not json",
    ]
    out = [json.loads(line) for line in classify_jsonl(lines, matcher)]
    assert len(out) == 3
    assert out[0]["id"] == 1 and out[0]["match"] is True and out[0]["lang"] == "uk"
    assert out[0]["topics"] == ["deported-children"] and "**" in out[0]["snippet"]
    assert set(out[0]) == {"id", "match", "topics", "lang", "terms", "snippet"}
    assert out[1] == {"id": "b", "match": False, "topics": [], "lang": "en", "terms": [],
                      "snippet": ""}
    assert out[2]["id"] is None and out[2]["match"] is False and "error" in out[2]


@pytest.mark.skipif(not DEV.exists(), reason=f"dev corpus not found at {DEV}")
def test_dev_corpus_targets(matcher):
    cases = load(DEV)
    stats: dict[str, list[int]] = {}
    for case in cases:
        got = matcher.classify(case["title"], case["text"]).match
        for key in ("all", case["lang"]):
            s = stats.setdefault(key, [0, 0, 0, 0])  # tp fp fn n
            s[0] += got and case["label"] == 1
            s[1] += got and case["label"] == 0
            s[2] += (not got) and case["label"] == 1
            s[3] += 1
    tp, fp, fn, _ = stats["all"]
    assert tp / (tp + fn) >= 0.97 and tp / (tp + fp) >= 0.95, stats
    for lang, (tp, fp, fn, n) in stats.items():
        if n >= 10 and tp + fp:
            assert tp / (tp + fp) >= 0.90, (lang, stats)


def test_sentence_ends_are_found_as_the_plain_pattern_finds_them():
    """The sentence pattern starts with a lookahead for speed: same spans as the plain form."""
    import random
    import re

    from monitor.topics.match import _SENTENCE_END_RE

    plain = re.compile(r"(?<=[.!?…])[\"»”')\]]*\s+|\n\s*")
    rng = random.Random(8)
    parts = [".", "!", "?", "…", '"', "»", "”", "'", ")", "]", " ", "\n", "a", "б", "\t", "\u00a0"]
    for _ in range(20_000):
        text = "".join(rng.choice(parts) for _ in range(rng.randint(0, 12)))
        assert [m.span() for m in _SENTENCE_END_RE.finditer(text)] == [m.span() for m in plain.finditer(text)]


def test_a_documents_index_is_a_plain_mapping_once_built():
    from monitor.topics.query import Doc

    doc = Doc(["children", "deported", "children"], 1, {})
    assert doc.index["children"] == [0, 100_002] and doc.vocab == ["children", "deported"]
    with pytest.raises(KeyError):
        doc.index["absent"]


def test_a_matching_text_is_read_once_for_the_topic_and_its_context_words(monkeypatch):
    """The context words the topic lacks (for the snippet) are found in the topic's own pass over
    the text's words: a second pass cost an on-topic article ~2% (bench.relevance), for the same snippet."""
    from monitor.topics.query import LeafIndex

    passes = []
    real = LeafIndex.prefill
    monkeypatch.setattr(LeafIndex, "prefill", lambda self, doc, memo: passes.append(self) or real(self, doc, memo))
    matcher = Matcher(default_topics())
    (topic,) = matcher.topics
    assert topic.context_split[1], "the shipped topic has context words of its own"
    got = matcher.classify("Russia deported 38 Ukrainian children from occupied Melitopol",
                           "Thirty-eight children were taken from occupied Melitopol to camps in Russia, "
                           "the ombudsman said; Bring Kids Back UA is looking for them.")
    assert got.match and "**" in got.snippet
    assert len(passes) == 1
