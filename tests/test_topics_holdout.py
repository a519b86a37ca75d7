"""The shipped topic scored on a hold-out set that no rule was tuned on.

`fixtures/topics/holdout.jsonl` (see `fixtures/topics/holdout.md`) was written after the topic, and
its cases were never used to change it. The figures below are what the shipped topic reached when
the set was added. A change that lowers one fails here: improve the topic for the label definition,
never for these ids (do not read which hold-out cases fail while editing the topic). A change that
raises one may raise the floor with it, in the same commit, saying so.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from monitor.topics import Matcher, default_topics

ROOT = Path(__file__).resolve().parents[1]
HOLDOUT = ROOT / "fixtures" / "topics" / "holdout.jsonl"
TUNING = ROOT / "fixtures" / "topics" / "cases.jsonl"

# Per language: (positives, negatives) in the set. Pinned, so that dropping the cases the matcher
# gets wrong cannot raise the figures; adding cases means measuring and recording them again.
COMPOSITION = {"en": (13, 11), "uk": (12, 12), "ru": (12, 12)}

# Measured with the shipped topic when the set was added (tp, fp, fn per language):
#   en  tp 9  fp 0 fn 4   precision 1.000  recall 0.692
#   uk  tp 11 fp 0 fn 1   precision 1.000  recall 0.917
#   ru  tp 11 fp 1 fn 1   precision 0.917  recall 0.917
#   all tp 31 fp 1 fn 6   precision 0.969  recall 0.838
# Raised with issue 12 (place names, return wording, groups, the European languages; no rule was
# written from these cases):
#   en  tp 12 fp 0 fn 1   precision 1.000  recall 0.923
#   uk  tp 12 fp 0 fn 0   precision 1.000  recall 1.000
#   ru  tp 11 fp 1 fn 1   precision 0.917  recall 0.917
#   all tp 35 fp 1 fn 2   precision 0.972  recall 0.946
FLOORS = {  # language: (precision, recall), rounded down
    "en": (1.000, 0.923),
    "uk": (1.000, 1.000),
    "ru": (0.916, 0.916),
    "all": (0.972, 0.945),
}

# Every hard-negative family named in the topic's definition, in every language.
HARD_NEGATIVE_FAMILIES = {"immigration", "evacuation", "shelling", "adult", "pow", "russia_internal",
                          "other_war", "historic"}


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


CASES = load(HOLDOUT)


def test_holdout_set_is_what_the_figures_were_measured_on():
    assert len(CASES) >= 60
    assert len({c["id"] for c in CASES}) == len(CASES)
    for case in CASES:
        assert set(case) >= {"id", "title", "text", "label", "lang"}, case["id"]
        assert case["label"] in (0, 1) and case["lang"] in COMPOSITION, case["id"]
    counts = Counter((c["lang"], c["label"]) for c in CASES)
    assert {lang: (counts[lang, 1], counts[lang, 0]) for lang in COMPOSITION} == COMPOSITION
    for lang in COMPOSITION:
        families = {c["family"] for c in CASES if c["lang"] == lang and c["label"] == 0}
        assert HARD_NEGATIVE_FAMILIES <= families, (lang, HARD_NEGATIVE_FAMILIES - families)
    # Nothing in it is one of the cases the topic was developed on.
    tuning = load(TUNING)
    assert not {c["id"] for c in CASES} & {c["id"] for c in tuning}
    assert not {c["text"] for c in CASES} & {c["text"] for c in tuning}
    assert not {c["title"] for c in CASES} & {c["title"] for c in tuning}


@pytest.fixture(scope="module")
def scores() -> dict[str, list[int]]:
    matcher = Matcher(default_topics())
    stats: dict[str, list[int]] = {}
    for case in CASES:
        got = matcher.classify(case["title"], case["text"]).match
        for key in ("all", case["lang"]):
            s = stats.setdefault(key, [0, 0, 0])  # tp fp fn
            s[0] += got and case["label"] == 1
            s[1] += got and case["label"] == 0
            s[2] += (not got) and case["label"] == 1
    return stats


@pytest.mark.parametrize("lang", ["en", "uk", "ru", "all"])
def test_holdout_precision_and_recall_do_not_fall(scores, lang):
    # Figures only, no ids: which cases fail is not for reading while the topic is edited.
    tp, fp, fn = scores[lang]
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn)
    floor_p, floor_r = FLOORS[lang]
    assert precision >= floor_p and recall >= floor_r, (
        f"{lang}: precision {precision:.3f} (floor {floor_p}), recall {recall:.3f} (floor {floor_r}); "
        f"tp {tp} fp {fp} fn {fn}")
