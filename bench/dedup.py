"""Dedup benchmark: grouping quality on a labelled synthetic set, and the cost of one insert.

    .venv/bin/python -m bench.dedup [--seed S] [--days D] [--sizes 1000,10000,100000]
                                    [--probes N] [--rounds R] [--skip-cost] [--show-errors]

This bench calls monitor's inner functions (Store.add_items with a StoryIndex) in-process: its
figures are a diagnosis of the grouping code, not the figure of the command users run; that one
is bench.poll's and bench.history's (`monitor poll` as a subprocess).

Part 1 - quality
----------------
Builds a labelled set (bench/support/stories.py) from the templates in fixtures/dedup/templates.yaml (en/uk/ru; returns of
children, deportations, re-education camps, ICC warrants; imaginary outlets, people and quotes).
Every day (10 days by default), for every language and kind, an agency publishes 2-3 *distinct*
stories (different numbers, places, names; ICC stories name different people) that share its
boilerplate, its background paragraph and much of the kind's vocabulary; half of those pairs are
"formulaic" (the second story reuses the first one's sentence frames with other facts, the same
weekday, often the same official). Each story then gets 0-5 copies of these kinds:

  byline       another outlet, another byline (some outlets add a dateline) and site footer
  boilerplate  agency byline kept, other footer + "Read the original article on ..." + photo credit
  trim         one paragraph dropped (not the lead)
  add          one paragraph added (editor's note, "Read also: ...", an earlier return with numbers)
  edit         3-5 words changed (Росії → РФ, Russian → Russia's, ...), sometimes 7 → "seven"
  title        another (or translated) title; body verbatim, or with the copier's footer
  exact        verbatim copy on another site
  syndicated   new byline + dropped paragraph + source line + photo + footer (a portal copy)
  heavy        syndicated + added paragraph + light edits
  xcanonical   another site's copy whose page declares the original as canonical (cross-site:
               must not be used as the key; grouped by text)
  url-*        the same article at a URL variant: tracking params, /amp path, ?amp / outputType=amp,
               m. host, http + www toggled, amp. host with the page's canonical set
  short        feed items with title + one sentence only; copies verbatim (exact) or re-titled

Short stories come in formulaic pairs as well ("Another 5 children ..." / "Another 7 ...").

Every article goes through the real code path, in arrival order (copies arrive 10 min - 30 h after
the original; stories span 10 days, so the 7-day window expires entries as it goes):
`Item.url_key` looked up with `Store.known_keys` (what the pipeline's `_unseen` does), else
`Store.add_items(..., story_for=story_assigner(StoryIndex()))`, which keys by `Item.key` (the page
canonical when same-site), so a URL variant should land on the stored item without a second row,
and a text copy gets the story id of its first copy. Printed: pair precision / recall of the
grouping against the truth; distinct same-subject story pairs merged (must be 0); URL variants
that found the stored row by key (checked on the row, since an identical body would also join by
content hash and hide a URL bug); recall per copy kind; and the exact shingle Jaccard of copies vs.
originals and of distinct same-subject stories, which shows why a Jaccard threshold alone cannot
separate them (the fact check in monitor/dedup.py does). --show-errors lists every merge and miss.

Part 2 - cost per insert
------------------------
Three temporary SQLite stores are filled with 1k, 10k and 100k distinct filler articles through
`Store.add_items(..., story_for=...)` (a StoryIndex whose window holds them all). Fillers: 40-120
words drawn from a Zipf distribution over a 40k-word synthetic vocabulary (distinct general news:
pairwise Jaccard ~0), 2% of them topical stories from the templates, each with its outlet's footer.
Then the same sequence of probe articles (half new topical stories, a quarter near copies of stored
topical stories, a quarter near copies of fillers) is inserted one by one into each store, in
rounds that rotate between the three stores so machine load hits all sizes alike. The store is
filled once; the 1k and 10k stores are snapshots taken on the way (SQLite backup + a deep copy of
the index). Printed per size: median (mean) ms per insert for signature(), StoryIndex.find(), the
story_for callback (signature + find + add) and the whole store insert (`add_items` of one item
with story_for: INSERT, dedup, UPDATE, COMMIT); the ratios 100k/1k on the median (target <= 2x;
the mean, which carries garbage-collection pauses and same-subject candidate lists, beside it);
peak RSS; that every probe copy joined its story; and how long `load_index` takes to rebuild the
100k index from SQLite. Runs in about 2.5 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from bench.support.stories import START, Article, Corpus, Fillers, Text, make_probes
from monitor import dedup
from monitor.dedup import StoryIndex, load_index, shingles, story_assigner
from monitor.items import Item
from monitor.store import Store

TARGET_PRECISION, TARGET_RECALL, TARGET_COST_RATIO = 0.98, 0.95, 2.0
DIAGNOSIS = ("(inner functions in-process: a diagnosis of the grouping code, not the CLI figure; "
             "`python -m bench.poll` and `python -m bench.history` measure `monitor poll`)")


def item_of(text: Text) -> Item:
    return Item(url=text.url, title=text.title, summary=text.summary, content=text.content, author=text.author,
                published=text.published, lang=text.lang, canonical=text.canonical)


# --- running the set through the product -----------------------------------------------------------

def assign(articles: list[Article], folder: Path) -> dict[int, int]:
    """article uid → predicted story id, through the store and the story index, in arrival order."""
    store = Store(folder / "quality.db")
    index = StoryIndex()
    predicted, new_row = {}, {}
    try:
        for art in sorted(articles, key=lambda a: (a.arrival, a.uid)):
            item, source = item_of(art.text()), art.outlet["name"]
            at = art.arrival
            added = []
            if not store.known_keys([item.url_key(source)]):   # what pipeline._unseen does
                added = store.add_items(source, [item], at, story_for=story_assigner(index, at))
            new_row[art.uid] = bool(added)
            row = store.db.execute("SELECT story_id FROM items WHERE key = ? OR url_key = ? ORDER BY id LIMIT 1",
                                   [item.key(source), item.url_key(source)]).fetchone()
            predicted[art.uid] = row[0]
        stored = store.count_items()
    finally:
        store.close()
    return predicted, new_row, stored


def pair_counts(labels: dict[int, int], predicted: dict[int, int]) -> tuple[int, int, int]:
    """(true positive, predicted, actual) pair counts, from the contingency table."""
    def pairs(counter):
        return sum(c * (c - 1) // 2 for c in counter.values())
    joint = Counter((labels[a], predicted[a]) for a in labels)
    return pairs(joint), pairs(Counter(predicted.values())), pairs(Counter(labels.values()))


def jaccard(a: str, b: str) -> float:
    x, y = shingles(a), shingles(b)
    return len(x & y) / len(x | y) if x | y else 1.0


def dedup_text(art: Article) -> str:
    return dedup.dedup_text(art.title, art.summary, art.content)


def quality(seed: int, days: int, show_errors: bool) -> dict:
    corpus = Corpus(seed)
    corpus.build(days)
    arts = corpus.articles
    stories = {s.uid: s for s in corpus.stories}
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        predicted, new_row, stored = assign(arts, Path(tmp))
        seconds = time.perf_counter() - started
    labels = {a.uid: a.story for a in arts}
    tp, pred_pairs, true_pairs = pair_counts(labels, predicted)
    precision = tp / pred_pairs if pred_pairs else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    kinds = Counter(a.kind for a in arts)
    url_variants = [a for a in arts if a.kind.startswith("url-")]
    print(f"== quality: seed {seed}, {days} days; grouping through Store.add_items and StoryIndex {DIAGNOSIS} ==")
    print(f"set: {len(corpus.stories)} stories ({sum(s.short for s in corpus.stories)} short feed items), "
          f"{len(arts)} articles ({kinds['original']} originals, {len(arts) - kinds['original']} copies, "
          f"{len(url_variants)} of them URL variants); {true_pairs} same-story article pairs; "
          f"{len(arts) / seconds:.0f} articles/s through the store")

    originals = {a.story: a for a in arts if a.kind == "original"}
    print(f"pair precision {precision:.4f}  (target >= {TARGET_PRECISION})  "
          f"{'PASS' if precision >= TARGET_PRECISION else 'FAIL'}   [{tp} of {pred_pairs} predicted pairs right]")
    print(f"pair recall    {recall:.4f}  (target >= {TARGET_RECALL})  "
          f"{'PASS' if recall >= TARGET_RECALL else 'FAIL'}   [{tp} of {true_pairs} true pairs found]")

    # Same subject = same language and kind (the same agency, boilerplate and background, often the same day).
    subject = defaultdict(list)
    for s in corpus.stories:
        subject[(s.lang, s.kind, s.short)].append(s.uid)
    same_subject = [(a, b) for group in subject.values() for a, b in itertools.combinations(group, 2)]
    same_day = [(a, b) for a, b in same_subject if stories[a].day == stories[b].day]
    story_pred = defaultdict(set)
    for art in arts:
        story_pred[art.story].add(predicted[art.uid])
    merged = [(a, b) for a, b in same_subject if story_pred[a] & story_pred[b]]
    formulaic = [(a, b) for a, b in same_day if stories[b].sibling_of == a or stories[a].sibling_of == b]
    print(f"distinct same-subject story pairs merged: {len(merged)} of {len(same_subject)} "
          f"({len(same_day)} of them published the same day, {len(formulaic)} formulaic siblings)  "
          f"{'PASS' if not merged else 'FAIL'}")
    merged_any = sum(1 for a, b in itertools.combinations(sorted(story_pred), 2) if story_pred[a] & story_pred[b])
    print(f"distinct story pairs merged, any subject: {merged_any}")
    unfolded = [a for a in url_variants if new_row[a.uid]]
    print(f"URL variants that landed on the stored item by key (no second row): {len(url_variants) - len(unfolded)} "
          f"of {len(url_variants)}  {'PASS' if not unfolded else 'FAIL'}; rows stored: {stored} for {len(arts)} articles")
    for a in unfolded[:5]:
        print(f"  NOT FOLDED {a.kind}: {a.url} (original {originals[a.story].url})")

    print("recall per copy kind (copy in its original's story) | exact shingle Jaccard copy vs original: min / median")
    for kind in sorted(k for k in kinds if k != "original"):
        copies = [a for a in arts if a.kind == kind]
        joined = sum(1 for a in copies if predicted[a.uid] == predicted[originals[a.story].uid])
        js = sorted(jaccard(dedup_text(a), dedup_text(originals[a.story])) for a in copies)
        print(f"  {kind:18} {joined:4d} / {len(copies):<4d} {joined / len(copies):6.1%}   J {js[0]:.2f} / {statistics.median(js):.2f}")
    neg = sorted((jaccard(dedup_text(originals[a]), dedup_text(originals[b])), a, b)
                 for a, b in same_subject if not stories[a].short)
    neg_form = sorted(j for j, a, b in neg if (a, b) in set(formulaic))
    q = np.quantile([j for j, _, _ in neg], [0.5, 0.99])
    print(f"distinct same-subject originals, exact shingle Jaccard: median {q[0]:.2f}, p99 {q[1]:.2f}, max {neg[-1][0]:.2f}; "
          f"formulaic siblings: median {statistics.median(neg_form):.2f}, max {neg_form[-1]:.2f}; "
          f"pairs >= 0.5: {sum(1 for j, _, _ in neg if j >= 0.5)}")
    short_neg = [jaccard(dedup_text(originals[a]), dedup_text(originals[b])) for a, b in same_subject
                 if stories[a].short]
    print(f"short same-subject items: {len(short_neg)} pairs, max Jaccard {max(short_neg):.2f}, "
          f"{sum(1 for s in corpus.stories if s.short and dedup.signature(dedup_text(originals[s.uid])) is None)} "
          f"of {sum(s.short for s in corpus.stories)} too short for a signature (exact copies only)")
    if show_errors:
        for a, b in merged:
            print(f"  MERGED {a}/{b} ({stories[a].lang} {stories[a].kind}): {stories[a].title!r} | {stories[b].title!r} "
                  f"J={jaccard(dedup_text(originals[a]), dedup_text(originals[b])):.2f}")
        for art in arts:
            if art.kind != "original" and predicted[art.uid] != predicted[originals[art.story].uid]:
                print(f"  MISSED {art.kind} of story {art.story} ({art.lang} {stories[art.story].kind}) "
                      f"J={jaccard(dedup_text(art), dedup_text(originals[art.story])):.2f}: {art.url}")
    return {"precision": precision, "recall": recall, "merged": len(merged)}



# --- cost per insert --------------------------------------------------------------------------------

@dataclass
class Sized:
    size: int
    store: Store
    index: StoryIndex
    signature_ms: list[float] = field(default_factory=list)
    find_ms: list[float] = field(default_factory=list)
    dedup_ms: list[float] = field(default_factory=list)
    insert_ms: list[float] = field(default_factory=list)


CHUNK = 1000  # fillers are generated 1000 at a time, so every store holds the same first 1000


def fill(store: Store, index: StoryIndex, fillers: Fillers, upto: int, at: datetime) -> None:
    while store.count_items() < upto:
        by_source = defaultdict(list)
        for source, text in fillers.batch(CHUNK, at):
            by_source[source].append(item_of(text))
        for source, items in by_source.items():
            store.add_items(source, items, at, story_for=story_assigner(index, at))


def cost(sizes: list[int], probes_per_round: int, rounds: int, seed: int) -> dict:
    sizes = sorted(sizes)
    print(f"\n== cost per insert {DIAGNOSIS} ==")
    print(f"== stores of {', '.join(f'{s:,}' for s in sizes)} articles; "
          f"{rounds} rounds x {probes_per_round} probe inserts per store, rotating between stores ==")
    window = timedelta(days=3650)
    at = START
    tmp = tempfile.TemporaryDirectory()
    setups: list[Sized] = []
    store = Store(Path(tmp.name) / f"store-{sizes[-1]}.db")
    index = StoryIndex(window=window)
    fillers = Fillers(11, Corpus(11, unique_people=False))
    started = time.perf_counter()
    for size in sizes:
        fill(store, index, fillers, size, at)
        seconds = time.perf_counter() - started
        stories = store.db.execute("SELECT count(DISTINCT story_id) FROM items").fetchone()[0]
        print(f"filled {size:>7,}: {seconds:6.1f} s so far ({seconds / size * 1000:.2f} ms/article through add_items "
              f"with story_for, {CHUNK} per call); {stories:,} stories for {store.count_items():,} items")
        if size == sizes[-1]:
            setups.append(Sized(size, store, index))
        else:  # a snapshot: the same rows (SQLite backup) and the same index (a deep copy)
            path = Path(tmp.name) / f"store-{size}.db"
            target = sqlite3.connect(path)
            store.db.conn.backup(target)
            target.close()
            setups.append(Sized(size, Store(path), copy.deepcopy(index)))
    print(f"peak RSS after filling (all {len(sizes)} indexes in memory): "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")

    probes = [(source, item_of(text)) for source, text in make_probes(rounds * probes_per_round, seed)]
    for r in range(rounds):
        order = setups[r % len(setups):] + setups[:r % len(setups)]
        for setup in order:
            for source, item in probes[r * probes_per_round:(r + 1) * probes_per_round]:
                text = dedup.dedup_text(item.title, item.summary, item.content)
                t0 = time.perf_counter()
                sig = dedup.signature(text, item.title)
                t1 = time.perf_counter()
                setup.index.find(sig, item.content_hash, at)   # read-only: what the insert below will do
                t2 = time.perf_counter()
                setup.signature_ms.append((t1 - t0) * 1000)
                setup.find_ms.append((t2 - t1) * 1000)
                inner = story_assigner(setup.index, at)
                spent = []

                def story_for(it, item_id, inner=inner, spent=spent):
                    t0 = time.perf_counter()
                    result = inner(it, item_id)
                    spent.append(time.perf_counter() - t0)
                    return result
                t0 = time.perf_counter()
                setup.store.add_items(source, [item], at, story_for=story_for)
                setup.insert_ms.append((time.perf_counter() - t0) * 1000)
                setup.dedup_ms.append(spent[0] * 1000)

    print("ms per insert, median (mean); dedup = story_assigner's callback (signature + find + add),")
    print("store insert = Store.add_items of one item with story_for (INSERT, dedup, UPDATE, COMMIT)")
    print(f"{'stored':>9} | {'signature':>15} | {'find':>15} | {'dedup':>15} | {'store insert':>15}")
    for s in setups:
        cells = [f"{statistics.median(v):6.3f} ({statistics.fmean(v):6.3f})"
                 for v in (s.signature_ms, s.find_ms, s.dedup_ms, s.insert_ms)]
        print(f"{s.size:>9,} | " + " | ".join(cells))
    first, last = setups[0], setups[-1]
    ratios = {}
    for name, attr in (("find", "find_ms"), ("dedup", "dedup_ms"), ("store insert", "insert_ms")):
        med = statistics.median(getattr(last, attr)) / statistics.median(getattr(first, attr))
        mean = statistics.fmean(getattr(last, attr)) / statistics.fmean(getattr(first, attr))
        ratios[name] = med
        verdict = f"(target <= {TARGET_COST_RATIO}x)  {'PASS' if med <= TARGET_COST_RATIO else 'FAIL'}" if name != "find" else ""
        print(f"ratio {last.size // 1000}k/{first.size // 1000}k, {name:12}: median {med:.2f}x, mean {mean:.2f}x  {verdict}")
    for s in setups:
        joined = s.store.db.execute("SELECT count(*) FROM items WHERE story_id != id AND url LIKE 'https://probe.example/copy/%'").fetchone()[0]
        print(f"probe copies joined to their story in the {s.size:,} store: {joined} of "
              f"{sum(1 for _, item in probes if '/copy/' in item.url)}; probe stories merged with another: "
              + str(s.store.db.execute("SELECT count(*) FROM items WHERE story_id != id AND url LIKE 'https://probe.example/new/%'").fetchone()[0]))
    started = time.perf_counter()
    rebuilt = load_index(last.store, at + timedelta(hours=1), window=window)
    print(f"load_index from SQLite with {last.store.count_items():,} stored: {time.perf_counter() - started:.1f} s "
          f"({len(rebuilt):,} entries)")
    for s in setups:
        s.store.close()
    tmp.cleanup()
    return ratios


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--probes", type=int, default=60, help="probe inserts per store per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-cost", action="store_true")
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    print(f"monitor.dedup: NUM_PERM={dedup.NUM_PERM} SHINGLE={dedup.SHINGLE} THRESHOLD={dedup.THRESHOLD} "
          f"LSH_BANDS={getattr(dedup, 'LSH_BANDS', 'datasketch default')} "
          f"FACT_CONTEXT={getattr(dedup, 'FACT_CONTEXT', 'none')} MIN_SHINGLES={dedup.MIN_SHINGLES} "
          f"window={dedup.DEFAULT_WINDOW.days}d")
    quality(args.seed, args.days, args.show_errors)
    if not args.skip_cost:
        cost([int(s) for s in args.sizes.split(",")], args.probes, args.rounds, args.seed)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

