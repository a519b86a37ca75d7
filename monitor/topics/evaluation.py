"""`monitor classify --eval`: precision, recall and F1 per language on lines that carry a label,
and the lines the topics got wrong. Labelled lines are classify's input plus ``label``: 1 / 0,
true / false, or "relevant" / "not_relevant" (what `monitor labels export` writes).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .explain import explain
from .match import Matcher, json_objects

RELEVANT = ("1", "true", "yes", "relevant", "on_topic")
NOT_RELEVANT = ("0", "false", "no", "not_relevant", "not relevant", "irrelevant", "off_topic")


def parse_label(value: object) -> bool | None:
    """True (on topic), False (not), or None: no label, or one this does not know."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        v = value.strip().lower().replace("-", "_")
        if v in RELEVANT:
            return True
        if v in NOT_RELEVANT or v.replace("_", " ") in NOT_RELEVANT:
            return False
    return None


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None or p + r == 0:
            return None
        return 2 * p * r / (p + r)

    def add(self, label: bool, got: bool) -> None:
        if label and got:
            self.tp += 1
        elif got:
            self.fp += 1
        elif label:
            self.fn += 1
        else:
            self.tn += 1


@dataclass
class Error:
    id: object
    lang: str
    label: bool
    title: str
    why: str  # the matched clause and its terms (a false positive), or the nearest clause


@dataclass
class Evaluation:
    per_lang: dict[str, Score] = field(default_factory=dict)
    overall: Score = field(default_factory=Score)
    errors: list[Error] = field(default_factory=list)
    unlabelled: int = 0
    invalid: list[str] = field(default_factory=list)  # "line N: reason"

    def report(self) -> str:
        def f(x: float | None) -> str:
            return "—" if x is None else f"{x:.3f}"

        rows = [("language", "n", "tp", "fp", "fn", "precision", "recall", "F1")]
        for lang in sorted(self.per_lang):
            s = self.per_lang[lang]
            rows.append((lang, str(s.n), str(s.tp), str(s.fp), str(s.fn), f(s.precision), f(s.recall), f(s.f1)))
        s = self.overall
        rows.append(("all", str(s.n), str(s.tp), str(s.fp), str(s.fn), f(s.precision), f(s.recall), f(s.f1)))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
                 for r in rows]
        if self.unlabelled:
            lines.append(f"{self.unlabelled} line(s) without a label were left out")
        for problem in self.invalid:
            lines.append(f"skipped {problem}")
        lines.append(f"errors: {len(self.errors)}")
        for e in self.errors:
            kind = "missed (labelled relevant)" if e.label else "false match (labelled not relevant)"
            lines.append(f"  {e.id}  [{e.lang}]  {kind}: {e.title}")
            if e.why:
                lines.append(f"      {e.why}")
        return "\n".join(lines)


def _why(matcher: Matcher, title: str, text: str, matched: bool) -> str:
    parts = []
    for topic in matcher.topics:
        ex = explain(topic, title, text)
        if matched and ex.match:
            for c in ex.clauses:
                parts.append(f"matched {topic.name} / {c.clause}: {', '.join(c.terms)}")
        elif not matched and ex.clauses:
            c = ex.clauses[0]
            lacked = "; ".join(c.lacked) or ("excluded by " + ", ".join(ex.excluded_by))
            parts.append(f"nearest {topic.name} / {c.clause}: lacked {lacked}")
    return "\n      ".join(parts)


def evaluate_jsonl(lines: Iterable[str], matcher: Matcher, *, explain_errors: bool = True) -> Evaluation:
    ev = Evaluation()
    for lineno, obj, err in json_objects(lines):
        if obj is None:
            ev.invalid.append(f"line {lineno}: {err}")
            continue
        label = parse_label(obj.get("label"))
        if label is None:
            if obj.get("label") is not None:
                ev.invalid.append(f"line {lineno}: unknown label {obj.get('label')!r}")
            else:
                ev.unlabelled += 1
            continue
        title, text = str(obj.get("title") or ""), str(obj.get("text") or "")
        c = matcher.classify(title, text)
        lang = str(obj.get("lang") or c.lang)
        ev.overall.add(label, c.match)
        ev.per_lang.setdefault(lang, Score()).add(label, c.match)
        if c.match != label:
            why = _why(matcher, title, text, c.match) if explain_errors else ""
            ev.errors.append(Error(obj.get("id"), lang, label, title or text[:80], why))
    return ev
