"""The shipped topic on the issue-12 sets (fixtures/topics/, see its README): families 1–4 in
en/uk/ru (a place instead of a country, return and reunification wording, Russia's own
repatriations, passing mentions) and fourteen European languages with their own hard
negatives; language detection for them; and the second hold-out, figures only.

Targets on the development sets (cases.jsonl + families.jsonl + families2.jsonl for en/uk/ru,
european.jsonl for the others): en/uk/ru precision and recall ≥ 0.97 each; every other language
recall ≥ 0.9 and precision ≥ 0.95.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from monitor.topics import Matcher, default_topics, detect_language

ROOT = Path(__file__).resolve().parents[1]
TOPICS = ROOT / "fixtures" / "topics"
EU_LANGS = ("pl", "de", "fr", "it", "es", "pt", "cs", "sk", "ro", "nl", "lt", "lv", "et", "fi")


def load(name: str) -> list[dict]:
    return [json.loads(line) for line in (TOPICS / name).read_text("utf-8").splitlines() if line.strip()]


CASES, FAMILIES, FAMILIES2, EUROPEAN, HOLDOUT, HOLDOUT2 = (load(n) for n in (
    "cases.jsonl", "families.jsonl", "families2.jsonl", "european.jsonl", "holdout.jsonl",
    "holdout2.jsonl"))
FOUR_FAMILIES = {"place", "return", "russia_repatriation", "passing_mention"}
OWN = FAMILIES + FAMILIES2  # the issue-12 dev sets for en/uk/ru


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(default_topics())


def scores(matcher: Matcher, cases: list[dict]) -> dict[str, list[int]]:
    stats: dict[str, list[int]] = {}
    for case in cases:
        got = matcher.classify(case["title"], case["text"]).match
        for key in ("all", case["lang"]):
            s = stats.setdefault(key, [0, 0, 0])  # tp fp fn
            s[0] += got and case["label"] == 1
            s[1] += got and case["label"] == 0
            s[2] += (not got) and case["label"] == 1
    return stats


def pr(s: list[int]) -> tuple[float, float]:
    tp, fp, fn = s
    return (tp / (tp + fp) if tp + fp else 1.0), tp / (tp + fn)


def test_the_labelled_set_is_large_enough_and_new():
    everything = CASES + FAMILIES + FAMILIES2 + EUROPEAN + HOLDOUT + HOLDOUT2
    assert len(everything) >= 300
    ids = [c["id"] for c in everything]
    assert len(ids) == len(set(ids))
    assert len({c["text"] for c in everything}) == len(everything)
    four = [c for c in FAMILIES + HOLDOUT2 if c["lang"] in ("en", "uk", "ru")]
    assert len(four) >= 100
    assert FOUR_FAMILIES <= {c["family"] for c in four}
    # our own cases in families 1-4 (the issue asks for at least 100), every family in every
    # language, and more hard negatives than the first set had
    own = Counter((c["lang"], c["family"]) for c in OWN if c["family"] in FOUR_FAMILIES)
    assert sum(own.values()) >= 100
    assert all(own[lang, f] >= 5 for lang in ("en", "uk", "ru") for f in FOUR_FAMILIES), own
    second = Counter(c["family"] for c in FAMILIES2)
    assert second["russia_repatriation"] >= 12 and second["passing_mention"] >= 12, second
    for lang in EU_LANGS:
        of_lang = [c for c in EUROPEAN + HOLDOUT2 if c["lang"] == lang]
        assert len(of_lang) >= 20, lang
        negatives = {c["family"] for c in of_lang if c["label"] == 0}
        assert {"immigration", "evacuation", "other_war"} <= negatives, (lang, negatives)


@pytest.mark.parametrize("case", OWN + EUROPEAN, ids=[c["id"] for c in OWN + EUROPEAN])
def test_language_is_detected(case):
    assert detect_language(case["title"], case["text"]) == case["lang"]


@pytest.mark.parametrize("lang", ["en", "uk", "ru"])
def test_en_uk_ru_targets_on_the_development_sets(matcher, lang):
    p, r = pr(scores(matcher, CASES + OWN)[lang])
    assert p >= 0.97 and r >= 0.97, (lang, p, r)


@pytest.mark.parametrize("lang", EU_LANGS)
def test_european_targets_on_the_development_set(matcher, lang):
    p, r = pr(scores(matcher, EUROPEAN)[lang])
    assert r >= 0.9 and p >= 0.95, (lang, p, r)


@pytest.mark.parametrize("case", [c for c in OWN + EUROPEAN if c["label"] == 0],
                         ids=[c["id"] for c in OWN + EUROPEAN if c["label"] == 0])
def test_hard_negatives_stay_out(matcher, case):
    c = matcher.classify(case["title"], case["text"])
    assert not c.match, (case["family"], c.terms)


# --- the second hold-out: written before the rules of issue 12, never read to change one -------

# Per language group: (positives, negatives). Pinned, as in test_topics_holdout.py.
COMPOSITION2 = {"en": (7, 5), "uk": (7, 5), "ru": (7, 5), "eu": (42, 42)}
# Measured with the shipped topic when the set was added (tp, fp, fn):
#   en  tp 6  fp 0 fn 1    precision 1.000  recall 0.857
#   uk  tp 6  fp 0 fn 1    precision 1.000  recall 0.857
#   ru  tp 6  fp 0 fn 1    precision 1.000  recall 0.857
#   eu  tp 41 fp 0 fn 1    precision 1.000  recall 0.976  (14 languages, 3 + 3 cases each)
#   all tp 59 fp 0 fn 4    precision 1.000  recall 0.937
# After the families2 rules (families2.jsonl, never this set): en 1.000/1.000, uk 1.000/0.857,
# ru 1.000/1.000, eu 1.000/0.976, all 1.000/0.968. The floors follow what was reached.
FLOORS2 = {"en": (1.000, 1.000), "uk": (1.000, 0.857), "ru": (1.000, 1.000), "eu": (1.000, 0.976),
           "all": (1.000, 0.968)}


def group(lang: str) -> str:
    return lang if lang in ("en", "uk", "ru") else "eu"


def test_second_holdout_is_what_the_figures_were_measured_on():
    counts = Counter((group(c["lang"]), c["label"]) for c in HOLDOUT2)
    assert {g: (counts[g, 1], counts[g, 0]) for g in COMPOSITION2} == COMPOSITION2
    tuning = CASES + OWN + EUROPEAN
    assert not {c["id"] for c in HOLDOUT2} & {c["id"] for c in tuning}
    assert not {c["title"] for c in HOLDOUT2} & {c["title"] for c in tuning}
    assert {c["lang"] for c in HOLDOUT2} == {"en", "uk", "ru", *EU_LANGS}


@pytest.mark.parametrize("key", ["en", "uk", "ru", "eu", "all"])
def test_second_holdout_precision_and_recall_do_not_fall(matcher, key):
    # Figures only, no ids: which cases fail is not for reading while the topic is edited.
    stats: dict[str, list[int]] = {}
    for case in HOLDOUT2:
        got = matcher.classify(case["title"], case["text"]).match
        for k in ("all", group(case["lang"])):
            s = stats.setdefault(k, [0, 0, 0])
            s[0] += got and case["label"] == 1
            s[1] += got and case["label"] == 0
            s[2] += (not got) and case["label"] == 1
    p, r = pr(stats[key])
    floor_p, floor_r = FLOORS2[key]
    assert p >= floor_p and r >= floor_r, f"{key}: precision {p:.3f} (floor {floor_p}), recall {r:.3f} (floor {floor_r})"
