"""Relevance and throughput of the topic matcher on the labelled dev set.

    .venv/bin/python -m bench.relevance [CASES.jsonl] [--morphology pymorphy|snowball|both] [--articles N]

CASES defaults to ../shared/corpora/relevance-dev/cases.jsonl relative to the repository root.
The matcher is called in-process (monitor.topics): these are the matcher's own figures.
Prints precision / recall / F1 overall and per language, the misclassified ids with their
snippets, a morphology probe (a lemma-only query, where the two back-ends differ), and
throughput on ~5 KB texts beside a floor: one compiled regular expression scanned over the
same texts.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.support.cli import CORPORA
from monitor.topics import Matcher, compile_topic, default_topics
from monitor.topics.morphology import BACKENDS

DEFAULT_CASES = CORPORA / "relevance-dev" / "cases.jsonl"
TEXT_BYTES = 5_000

# Lemmas only, no wildcards: matching inflected forms is then entirely morphology's job.
PROBE_QUERY = """
(дитина OR ребёнок OR child OR children)
AND (депортація OR депортувати OR депортація OR вивезти OR викрасти OR повернути
     OR депортировать OR вывезти OR похитить OR вернуть OR deport OR deportation OR return)
AND (росія OR окупований OR россия OR оккупированный OR russia OR occupied OR білорусь OR беларусь)
"""

# The floor: one regex, a child stem or a deportation stem anywhere, scanned over the whole text.
FLOOR_RE = re.compile(
    r"\b(?:child|kid|orphan|депорт|deport|abduct|викрад|вивез|похищ|вывез|дит|діт|дет|ребен|ребён)\w*",
    re.IGNORECASE,
)


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    n: int = 0

    def add(self, label: bool, got: bool) -> None:
        self.n += 1
        self.tp += label and got
        self.fp += got and not label
        self.fn += label and not got

    def line(self, name: str) -> str:
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        return f"  {name:8} n={self.n:3}  precision={p:.3f}  recall={r:.3f}  F1={f:.3f}"


def load(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def evaluate(cases: list[dict], matcher: Matcher, title: str, verbose: bool) -> None:
    overall, per_lang = Score(), {}
    wrong = []
    for case in cases:
        c = matcher.classify(case.get("title", ""), case.get("text", ""))
        label = bool(case["label"])
        overall.add(label, c.match)
        per_lang.setdefault(case.get("lang", "?"), Score()).add(label, c.match)
        if c.match != label:
            wrong.append((case, c))
    print(title)
    print(overall.line("overall"))
    for lang in sorted(per_lang):
        print(per_lang[lang].line(lang))
    if verbose:
        print(f"  misclassified: {len(wrong)}")
        for case, c in wrong:
            kind = "false positive" if c.match else "false negative"
            print(f"    {case['id']} ({case.get('lang')}, {kind}, {case.get('why', '')})")
            print(f"      snippet: {c.snippet or '(none)'}")
            if not c.match:
                print(f"      title: {case.get('title', '')}")


def texts_of_5kb(cases: list[dict], count: int) -> list[tuple[str, str]]:
    """~5 KB articles made by concatenating dev texts in rotating order (each a different mix)."""
    out = []
    for i in range(count):
        parts, size, j = [], 0, i
        while size < TEXT_BYTES:
            t = cases[j % len(cases)]["text"]
            parts.append(t)
            size += len(t.encode("utf-8")) + 2
            j += 7  # co-prime with typical sizes: varied neighbours
        out.append((cases[i % len(cases)]["title"], "\n\n".join(parts)))
    return out


def throughput(cases: list[dict], matcher: Matcher, count: int) -> None:
    articles = texts_of_5kb(cases, count)
    avg_kb = sum(len(t.encode("utf-8")) for _, t in articles) / len(articles) / 1000
    matcher.classify(*articles[0])  # warm-up (lazy dictionaries)
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        for title, text in articles:
            matcher.classify(title, text)
        best = max(best, len(articles) / (time.perf_counter() - t0))
    floor = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        for title, text in articles:
            FLOOR_RE.findall(title)
            FLOOR_RE.findall(text)
        floor = max(floor, len(articles) / (time.perf_counter() - t0))
    print(f"throughput on {len(articles)} articles of {avg_kb:.1f} KB (one core, best of 3):")
    print(f"  matcher    {best:10.0f} articles/s   (target >= 200)")
    print(f"  regex floor{floor:10.0f} articles/s")
    print(f"  ratio      {floor / best:10.1f}x slower than the regex floor")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", nargs="?", type=Path, default=DEFAULT_CASES)
    ap.add_argument("--morphology", choices=[*BACKENDS, "both"], default="both")
    ap.add_argument("--articles", type=int, default=600, help="articles for the throughput run")
    args = ap.parse_args(argv)
    if not args.cases.exists():
        print(f"cases not found: {args.cases}", file=sys.stderr)
        return 2
    cases = load(args.cases)
    backends = BACKENDS if args.morphology == "both" else (args.morphology,)
    for backend in backends:
        print(f"=== morphology: {backend}")
        matcher = Matcher(default_topics(morphology=backend))
        evaluate(cases, matcher, "default topic deported-children:", verbose=True)
        probe = Matcher([compile_topic("probe", PROBE_QUERY, morphology=backend)])
        evaluate(cases, probe, "morphology probe (lemma-only query, no wildcards):", verbose=False)
        throughput(cases, matcher, args.articles)
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
