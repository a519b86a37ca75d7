"""Why a text matched a topic, or why not: `monitor classify --explain`.

A topic's *clauses* are the alternatives of its query: ``(A OR B OR C) AND NOT X`` has clauses
A, B and C, each under the exclusion X. A clause is named by the comment written right above it
in the topic file ("2. Children taken / sent / brought / moved TO or FROM Russia..."), else by
its number.

For a match: the clauses that matched, each with its words that hit. For a non-match: the
clause that came nearest (the largest share of its requirements met) with the words it had and
what it lacked ("@TOFROM: one of "to russia", "in russia", … (412 words)", "@CHILD within 12
words of @MOVE"), or the exclusion that removed the text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .match import Topic, prepare
from .query import And, Doc, Memo, Near, Node, Not, Or, Phrase, Term, evaluate, leaves

SHOWN_WORDS = 4  # of a group of words that did not occur, this many are named
LABEL_CHARS = 100


@dataclass
class ClauseExplanation:
    clause: str
    matched: bool
    terms: list[str] = field(default_factory=list)  # its words found in the text
    lacked: list[str] = field(default_factory=list)  # what it needed and did not get
    score: float = 0.0  # share of its requirements met (1.0 for a match)

    def as_dict(self) -> dict:
        out: dict = {"clause": self.clause, "terms": self.terms}
        if not self.matched:
            out["lacked"] = self.lacked
        return out


@dataclass
class Explanation:
    topic: str
    match: bool
    clauses: list[ClauseExplanation]  # the matched ones, or the nearest one
    excluded_by: list[str] = field(default_factory=list)  # exclusion words found, if one applied

    def as_dict(self) -> dict:
        out: dict = {"topic": self.topic, "match": self.match}
        if self.match:
            out["clauses"] = [c.as_dict() for c in self.clauses]
        else:
            out["nearest"] = self.clauses[0].as_dict() if self.clauses else None
        if self.excluded_by:
            out["excluded_by"] = self.excluded_by
        return out


def split_clauses(node: Node) -> tuple[list[Node], list[Node]]:
    """(clauses, exclusions): the alternatives a text may match, and the NOTs around them all."""
    exclusions: list[Node] = []
    while isinstance(node, And):
        positive = [c for c in node.children if not isinstance(c, Not)]
        if len(positive) != 1:
            break
        exclusions += [c.child for c in node.children if isinstance(c, Not)]
        node = positive[0]
    if isinstance(node, Or) and node.group is None:
        return list(node.children), exclusions
    return [node], exclusions


def clause_label(topic: Topic, node: Node, number: int) -> str:
    """The first line of the comment right above the clause in the topic file, or 'clause N'."""
    span = getattr(node, "span", None)
    if not topic.source or span is None:
        return f"clause {number}"
    source = topic.source
    line_start = source.rfind("\n", 0, span[0]) + 1
    comment: list[str] = []
    pos = line_start
    while pos > 0:
        prev_start = source.rfind("\n", 0, pos - 1) + 1
        line = source[prev_start:pos - 1].strip()
        if not line.startswith("#"):
            break
        comment.insert(0, line.lstrip("#").strip())
        pos = prev_start
    # The comment may start several lines up; its first line is the clause's title.
    title = next((c for c in comment if c), "")
    if not title:
        return f"clause {number}"
    title = title.rstrip(",;:")
    return title if len(title) <= LABEL_CHARS else title[: LABEL_CHARS - 1].rstrip() + "…"


def _hit(node: Node, doc: Doc, memo: Memo) -> list[int] | None:
    return evaluate(node, doc, memo)


def _leaf_labels(node: Node, memo: Memo, within: set[int] | None = None) -> list[str]:
    """Labels of the node's words that occur in the text (at `within` positions, if given). As in
    classify's terms, a label counts when every word carrying it does: '"з окупован*"~1'."""
    found: dict[str, bool] = {}
    for leaf in dict.fromkeys(leaves(node)):
        got = memo.get(leaf)
        hit = bool(got) and (within is None or not within.isdisjoint(got))
        found[leaf.label] = found.get(leaf.label, True) and hit
    return [label for label, hit in found.items() if hit]


def describe(node: Node) -> str:
    """A short name for a requirement: its @group, its word, or some of its words."""
    group = getattr(node, "group", None)
    if isinstance(node, (Term, Phrase)):
        return node.label
    words = list(dict.fromkeys(leaf.label for leaf in leaves(node)))
    if isinstance(node, Not):
        return "not " + describe(node.child)
    if isinstance(node, Near):
        return f"{describe(node.left)} within {node.distance} words of {describe(node.right)}"
    shown = ", ".join(words[:SHOWN_WORDS]) + (f", … ({len(words)} words)" if len(words) > SHOWN_WORDS else "")
    if group:
        return f"@{group}: one of {shown}"
    if isinstance(node, Or):
        return f"one of {shown}"
    return f"all of {shown}"


def diagnose(node: Node, doc: Doc, memo: Memo) -> tuple[float, list[str]]:
    """(share of the node's requirements met, what it lacked); (1.0, []) when it matches."""
    if _hit(node, doc, memo) is not None:
        return 1.0, []
    if isinstance(node, (Term, Phrase)):
        return 0.0, [describe(node)]
    if isinstance(node, Not):
        return 0.0, [f"excluded by {', '.join(_leaf_labels(node.child, memo)) or describe(node.child)}"]
    if isinstance(node, Near):
        left = _hit(node.left, doc, memo) is not None
        right = _hit(node.right, doc, memo) is not None
        if left and right:
            return 0.75, [describe(node) + " (both are in the text, farther apart)"]
        parts = [diagnose(side, doc, memo) for side in (node.left, node.right)]
        return sum(p[0] for p in parts) / 4, [lack for _, lacks in parts for lack in lacks]
    if isinstance(node, Or):
        if node.group is not None or all(isinstance(c, (Term, Phrase)) for c in node.children):
            return 0.0, [describe(node)]
        best = max((diagnose(c, doc, memo) for c in node.children), key=lambda d: d[0])
        return best
    # And: the share of its requirements met
    parts = [diagnose(c, doc, memo) for c in node.children]
    return sum(p[0] for p in parts) / len(parts), [lack for _, lacks in parts for lack in lacks]


def explain(topic: Topic, title: str, text: str) -> Explanation:
    art = prepare(title, text, {})
    doc = art.doc
    memo: Memo = {}
    root_hits = evaluate(topic.node, doc, memo)  # fills the memo with every word in the text
    clauses, exclusions = split_clauses(topic.node)
    excluded_by = []
    for ex in exclusions:
        if _hit(ex, doc, memo) is not None:
            excluded_by += _leaf_labels(ex, memo)
    if topic.exclude is not None:
        ex_memo: Memo = {}
        if evaluate(topic.exclude, doc, ex_memo) is not None:
            excluded_by += _leaf_labels(topic.exclude, ex_memo)
    reports = []
    for number, clause in enumerate(clauses, 1):
        label = clause_label(topic, clause, number)
        got = _hit(clause, doc, memo)
        if got is not None:
            reports.append(ClauseExplanation(label, True, _leaf_labels(clause, memo, set(got)), [], 1.0))
        else:
            score, lacked = diagnose(clause, doc, memo)
            reports.append(ClauseExplanation(label, False, _leaf_labels(clause, memo), lacked, score))
    matched = root_hits is not None and not (topic.exclude is not None and excluded_by)
    if matched:
        return Explanation(topic.name, True, [r for r in reports if r.matched])
    if any(r.matched for r in reports):  # a clause matched, and an exclusion removed the text
        return Explanation(topic.name, False, [r for r in reports if r.matched], excluded_by)
    nearest = sorted(reports, key=lambda r: (-r.score, -len(r.terms)))[:1]
    return Explanation(topic.name, False, nearest, excluded_by)
