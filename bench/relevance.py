"""Relevance and throughput of the topic matcher on the labelled dev set.

    .venv/bin/python -m bench.relevance [CASES.jsonl] [--morphology pymorphy|snowball|both] [--articles N]

CASES defaults to ../shared/corpora/relevance-dev/cases.jsonl relative to the repository root.
The matcher is called in-process (monitor.topics): these are the matcher's own figures.
Prints precision / recall / F1 overall and per language, the misclassified ids with their
snippets, a morphology probe (a lemma-only query, where the two back-ends differ), and
throughput on ~5 KB texts (everyday news from the benches' synthetic corpus; the dev set's
positives, a dozen in each text; articles that each carry one of them among everyday news; and
the dev set's mix of hard negatives), with and without the matcher's first screen, beside a
floor: one compiled regular expression scanned over the same texts. These are the matcher's own
figures (a diagnosis); `monitor poll` as a whole is measured by bench/poll.py.
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


def off_topic_articles(count: int) -> list[tuple[str, str]]:
    """~5 KB everyday news (city, weather, culture, sport, economy; en/uk/ru) from the benches'
    synthetic corpus: what most of a real poll is."""
    from bench.support.corpus import LANGS, NewsWriter

    writer = NewsWriter(seed=7)
    items = [writer.item(f"off-{i}", LANGS[i % 3], False, path=f"/{i}.html", min_bytes=TEXT_BYTES) for i in range(count)]
    return [(item.title, item.text) for item in items]


def one_report_articles(cases: list[dict], count: int) -> list[tuple[str, str]]:
    """~5 KB articles that each carry one on-topic report: a dev positive, then everyday news
    paragraphs (the benches' synthetic corpus) to the article's length, as a long page reads."""
    positives = [c for c in cases if c.get("label")]
    filler = off_topic_articles(count)
    out = []
    for i in range(count):
        case = positives[i % len(positives)]
        parts, size = [case["text"]], len(case["text"].encode("utf-8"))
        for paragraph in filler[i][1].split("\n\n") * 4:
            if size >= TEXT_BYTES:
                break
            parts.append(paragraph)
            size += len(paragraph.encode("utf-8")) + 2
        out.append((case["title"], "\n\n".join(parts)))
    return out


def rate(matcher: Matcher, articles: list[tuple[str, str]]) -> float:
    """Articles per second on one core, best of 3, as a poll classifies (no language for misses)."""
    matcher.classify(*articles[0])  # warm-up (lazy dictionaries)
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        for title, text in articles:
            matcher.classify(title, text, language=False)
        best = max(best, len(articles) / (time.perf_counter() - t0))
    return best


def throughput(cases: list[dict], matcher: Matcher, count: int) -> None:
    on_topic = texts_of_5kb([c for c in cases if c.get("label")], count)
    mixed = texts_of_5kb(cases, count)
    off_topic = off_topic_articles(count)
    full = Matcher(matcher.topics, screened=False)
    floor = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        for title, text in mixed:
            FLOOR_RE.findall(title)
            FLOOR_RE.findall(text)
        floor = max(floor, len(mixed) / (time.perf_counter() - t0))
    print(f"throughput, one core, best of 3, {count} articles of ~{TEXT_BYTES / 1000:.0f} KB each:")
    one_report = one_report_articles(cases, count)
    for name, articles, target in (("off topic (everyday news)", off_topic, 5000),
                                   ("on topic (a dozen reports)", on_topic, 400),
                                   ("on topic (one report each)", one_report, 400),
                                   ("dev mix (hard negatives)", mixed, None)):
        passed = sum(matcher.screen.passes(title, text) for title, text in articles)
        got, unscreened = rate(matcher, articles), rate(full, articles)
        aim = f"target >= {target}" if target else "no target"
        print(f"  {name:28} {got:7.0f}/s ({aim}); without the screen {unscreened:6.0f}/s; "
              f"screen passed {passed}/{len(articles)}")
    print(f"  regex floor (dev mix)       {floor:7.0f}/s: one compiled pattern scanned over the same texts")


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
