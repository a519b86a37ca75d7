"""Main-text extraction quality and speed on the article-extraction-benchmark corpus.

    .venv/bin/python -m bench.extraction [CORPUS_DIR] [--worst N]

CORPUS_DIR defaults to ../shared/corpora/article-extraction-benchmark relative to the repository
root: `html/<id>.html.gz` pages and `ground-truth.json` ({id: {"articleBody", "url"}}).

The metric is the benchmark's own, reimplemented: a text is the multiset of its 4-token shingles
(tokens are Unicode \\w+ runs, case kept); per page, true positives, false positives and false
negatives are the shingle-count overlaps normalised to sum to 1; precision is the mean of per-page
precisions over pages where something was extracted, recall the mean of per-page recalls over pages
with a ground truth, F1 = 2PR/(P+R).

Two extractors run page by page, alternating, so a busy machine slows both alike: monitor.extract
(what the service uses: trafilatura plus metadata, "read also" removal, charset repair) and, as the
floor, plain trafilatura.extract(include_comments=False). Times are of the extraction call alone
(file reading and decompression excluded): median and 90th percentile ms per page, and the ratio
of the medians to the floor's.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from bench.support.cli import CORPORA

DEFAULT_CORPUS = CORPORA / "article-extraction-benchmark"
SHINGLE = 4
_TOKEN = re.compile(r"\w+")


def shingles(text: str, n: int = SHINGLE) -> Counter[str]:
    tokens = _TOKEN.findall(text or "")
    # A text shorter than n tokens is one (short) shingle, as in the benchmark's reference code.
    return Counter(" ".join(tokens[i:i + n]) for i in range(max(1, len(tokens) - n + 1)) if tokens)


def overlap(truth: str, predicted: str) -> tuple[float, float, float]:
    """Normalised (tp, fp, fn) for one page."""
    expected, got = shingles(truth), shingles(predicted)
    tp = sum((expected & got).values())
    fp = sum((got - expected).values())
    fn = sum((expected - got).values())
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def score(pairs: list[tuple[str, str]]) -> tuple[float, float, float, list[float]]:
    """(precision, recall, F1, per-page F1) over (truth, predicted) pairs."""
    precisions, recalls, per_page = [], [], []
    for truth, predicted in pairs:
        tp, fp, fn = overlap(truth, predicted)
        p = tp / (tp + fp) if tp + fp > 0 else None
        r = tp / (tp + fn) if tp + fn > 0 else None
        if p is not None:
            precisions.append(p)
        if r is not None:
            recalls.append(r)
        p, r = p or 0.0, r or 0.0
        per_page.append(2 * p * r / (p + r) if p + r else 0.0)
    precision = statistics.fmean(precisions) if precisions else 0.0
    recall = statistics.fmean(recalls) if recalls else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1, per_page


def extractors() -> dict[str, Callable[[bytes, str], str]]:
    import trafilatura

    from monitor.extract import extract

    return {"monitor": lambda body, url: extract(body, url).text,
            "trafilatura": lambda body, url: trafilatura.extract(body, url=url, include_comments=False) or ""}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--worst", type=int, default=5, help="list monitor's N pages with the lowest F1")
    args = parser.parse_args(argv)
    truth_file = args.corpus / "ground-truth.json"
    if not truth_file.is_file():
        print(f"corpus not found: {truth_file}", file=sys.stderr)
        return 2
    truth = json.loads(truth_file.read_text(encoding="utf-8"))
    runs = extractors()
    pairs: dict[str, list[tuple[str, str]]] = {name: [] for name in runs}
    timings: dict[str, list[float]] = {name: [] for name in runs}
    ids = sorted(truth)
    for page_id in ids:
        body = gzip.decompress((args.corpus / "html" / f"{page_id}.html.gz").read_bytes())
        url = truth[page_id].get("url") or ""
        for name, extract in runs.items():
            started = time.perf_counter()
            text = extract(body, url)
            timings[name].append((time.perf_counter() - started) * 1000)
            pairs[name].append((truth[page_id].get("articleBody") or "", text))

    floor = statistics.median(timings["trafilatura"])
    print(f"{len(ids)} pages from {args.corpus}")
    per_page: list[float] = []
    for name in runs:
        precision, recall, f1, page_f1 = score(pairs[name])
        per_page = page_f1 if name == "monitor" else per_page
        ordered = sorted(timings[name])
        median = statistics.median(ordered)
        print(f"{name:12} F1 {f1:.3f}  precision {precision:.3f}  recall {recall:.3f}  "
              f"median {median:.1f} ms/page (x{median / floor:.2f} the floor), "
              f"p90 {ordered[int(len(ordered) * 0.9)]:.1f} ms")
    if args.worst:
        print(f"monitor's worst {args.worst} pages by F1:")
        for page_f1, page_id in sorted(zip(per_page, ids, strict=True))[:args.worst]:
            print(f"  {page_f1:.3f}  {page_id[:16]}  {truth[page_id].get('url', '')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
