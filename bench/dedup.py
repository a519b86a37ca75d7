"""Dedup benchmark: grouping quality on a labelled synthetic set, and the cost of one insert.

    .venv/bin/python bench/dedup.py [--seed S] [--days D] [--sizes 1000,10000,100000]
                                    [--probes N] [--rounds R] [--skip-cost] [--show-errors]

Part 1 - quality
----------------
Builds a labelled set from the templates in fixtures/dedup/templates.yaml (en/uk/ru; returns of
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
import random
import re
import resource
import sqlite3
import statistics
import string
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor import dedup  # noqa: E402
from monitor.dedup import StoryIndex, load_index, shingles, story_assigner  # noqa: E402
from monitor.items import Item  # noqa: E402
from monitor.store import Store  # noqa: E402

TEMPLATES = ROOT / "fixtures" / "dedup" / "templates.yaml"
LANGS = ("en", "uk", "ru")
KINDS = ("return", "deportation", "camp", "icc")
COUNTS = [*range(5, 21), *range(25, 31), *range(35, 41), *range(45, 51)]  # "5 дітей", not "22 дитини"
START = datetime(2026, 11, 16, 0, 0, tzinfo=timezone.utc)
TARGET_PRECISION, TARGET_RECALL, TARGET_COST_RATIO = 0.98, 0.95, 2.0

COPY_KINDS = {  # kind → weight when drawing a story's copies
    "byline": 3, "boilerplate": 3, "trim": 3, "add": 3, "edit": 3, "title": 2, "exact": 2,
    "syndicated": 4, "heavy": 2, "xcanonical": 1,
    "url-tracking": 2, "url-amp-path": 1, "url-amp-param": 1, "url-mobile": 1, "url-www-http": 1,
    "url-amp-canonical": 1,
}


# --- the synthetic set -----------------------------------------------------------------------------

@dataclass
class Story:
    uid: int
    lang: str
    kind: str
    day: int
    agency: dict
    values: dict            # slot → index, number slots → int
    frames: list[int]
    title: str
    paragraphs: list[str]
    short: bool = False
    sibling_of: int | None = None


@dataclass
class Article:
    uid: int
    story: int
    kind: str               # original | a copy kind
    lang: str
    outlet: dict
    url: str
    title: str
    byline: str | None
    paragraphs: list[str]
    extra: list[str] = field(default_factory=list)     # source / photo lines
    footer: list[str] = field(default_factory=list)
    canonical: str = ""
    arrival: datetime = START
    summary: str = ""

    @property
    def content(self) -> str:
        if self.summary:
            return ""
        lines = ([self.byline] if self.byline else []) + self.paragraphs + self.extra + self.footer
        return "\n\n".join(lines)

    def item(self) -> Item:
        return Item(url=self.url, title=self.title, summary=self.summary, content=self.content,
                    author=(self.byline or ""), published=self.arrival, lang=self.lang, canonical=self.canonical)


class Corpus:
    def __init__(self, seed: int, unique_people: bool = True):
        self.unique_people = unique_people   # the labelled set: one ICC warrant per person
        self.t = yaml.safe_load(TEMPLATES.read_text(encoding="utf-8"))
        self.rng = random.Random(seed)
        self.stories: list[Story] = []
        self.articles: list[Article] = []
        self._ids = itertools.count(1000)

    # -- filling templates --

    def draw_values(self, avoid: dict | None = None, keep: tuple[str, ...] = ()) -> dict:
        rng, slots = self.rng, self.t["slots"]
        values = {}
        for name, options in slots.items():
            if avoid and name in keep:
                values[name] = avoid[name]
                continue
            choices = [i for i in range(len(options)) if not avoid or i != avoid.get(name)]
            values[name] = rng.choice(choices)
        for name, pool in (("n", COUNTS), ("n2", COUNTS), ("age", range(5, 18)), ("age_lo", range(5, 10)),
                           ("age_hi", range(12, 18)), ("months", range(5, 21))):
            choices = [v for v in pool if not avoid or v != avoid.get(name)]
            values[name] = rng.choice(choices)
        return values

    def new_person(self, values: dict, lang: str) -> None:
        """A Russian official no other ICC story of this language names (nor shares a surname with)."""
        if not self.unique_people:
            return
        used = {s.values["ru_last"] for s in self.stories if s.kind == "icc" and s.lang == lang}
        free = [i for i in range(len(self.t["slots"]["ru_last"])) if i not in used]
        if not free:  # more ICC stories than surnames: any new first+last pair
            pairs = {(s.values["ru_first"], s.values["ru_last"]) for s in self.stories if s.kind == "icc" and s.lang == lang}
            options = [(f, l) for f in range(len(self.t["slots"]["ru_first"])) for l in range(len(self.t["slots"]["ru_last"]))
                       if (f, l) not in pairs]
            values["ru_first"], values["ru_last"] = self.rng.choice(options)
        else:
            values["ru_last"] = self.rng.choice(free)

    def fill(self, template: str, lang: str, values: dict) -> str:
        s = self.t["slots"]

        def pick(name):
            return s[name][values[name]][lang]
        official, mediator, org, dest = pick("official"), pick("mediator"), pick("org"), pick("dest")
        mapping = {
            "region": pick("region"), "town": pick("town"), "dest_to": dest["to"], "dest_in": dest["in"],
            "child": pick("child"), "official": official["name"], "official_title": official["title"],
            "official_title_gen": official.get("title_gen", official["title"]), "ru_official": f"{pick('ru_first')} {pick('ru_last')}",
            "mediator_gen": mediator["gen"], "mediator_dat": mediator["dat"], "org": org["nom"], "org_nom": org["nom"],
            "org_loc": org["loc"], "crossing": pick("crossing"), "meeting_city": pick("meeting_city"),
            "weekday": pick("weekday"), "ordinal": pick("ordinal"),
            **{k: values[k] for k in ("n", "n2", "age", "age_lo", "age_hi", "months")},
        }
        text = template.format(**mapping)
        return text[0].upper() + text[1:]

    # -- stories --

    def new_story(self, lang: str, kind: str, day: int, agency: dict, *, like: Story | None = None,
                  short: bool = False) -> Story:
        rng = self.rng
        spec = self.t["kinds"][kind][lang]
        nframes = len(spec["frames"])
        if like is None:
            values = self.draw_values()
            if kind == "icc":  # a warrant for one person is one event: distinct ICC stories name distinct people
                self.new_person(values, lang)
            frames = sorted(rng.sample(range(1, nframes), rng.randint(4, 6)))
            title_idx = rng.randrange(len(spec["titles"]))
        else:
            # Formulaic sibling: the same sentence frames (one swapped), other facts. Same day, so
            # the same weekday; the official and the organisation are often the same people.
            keep = ("weekday",) + tuple(name for name in ("official", "org", "mediator") if rng.random() < 0.5)
            values = self.draw_values(avoid=like.values, keep=keep)
            if kind == "icc":
                self.new_person(values, lang)
            frames = list(like.frames)
            unused = [i for i in range(1, nframes) if i not in frames]
            if unused:
                frames[rng.randrange(len(frames))] = rng.choice(unused)
            frames = sorted(frames)
            title_idx = rng.randrange(len(spec["titles"]))
        values["_title"] = title_idx
        sentences = [self.fill(spec["frames"][0], lang, values)] + [self.fill(spec["frames"][i], lang, values) for i in frames]
        paragraphs, rest = [sentences[0]], sentences[1:]
        while rest:
            take = 1 if len(rest) == 1 or rng.random() < 0.4 else 2
            paragraphs.append(" ".join(rest[:take]))
            rest = rest[take:]
        background = self.t["background"][lang]
        if rng.random() < 0.85:
            paragraphs.append(background[0] if rng.random() < 0.75 else background[1])
        story = Story(len(self.stories), lang, kind, day, agency, values, frames,
                      self.fill(spec["titles"][title_idx], lang, values), paragraphs, short=short,
                      sibling_of=like.uid if like else None)
        self.stories.append(story)
        return story

    def url(self, outlet: dict, story: Story, article_uid: int) -> str:
        if outlet.get("query_ids"):
            return f"https://{outlet['host']}/news.php?id={article_uid}"
        day = (START + timedelta(days=story.day)).strftime("%Y/%m/%d")
        return f"https://{outlet['host']}/{day}/{story.kind}-story-{article_uid}/"

    def byline(self, outlet: dict, lang: str, when: datetime | None = None) -> str:
        line = outlet["byline"].format(author=self.rng.choice(self.t["authors"][lang]))
        if outlet.get("dateline") and when is not None:  # "23 November 2026, 14:05"
            line += f"\n{when.day} {self.t['months'][lang][when.month - 1]} {when.year}, {when:%H:%M}"
        return line

    def publish(self, story: Story, hour: float) -> Article:
        """The original: on the agency's site (70%) or another outlet's."""
        outlets = self.t["outlets"][story.lang]
        outlet = story.agency if self.rng.random() < 0.7 else self.rng.choice([o for o in outlets if not o.get("agency")])
        uid = next(self._ids)
        arrival = START + timedelta(days=story.day, hours=hour)
        art = Article(uid, story.uid, "original", story.lang, outlet, self.url(outlet, story, uid), story.title,
                      self.byline(outlet, story.lang, arrival), list(story.paragraphs), footer=list(outlet["footer"]),
                      arrival=arrival)
        if story.short:
            art.summary, art.paragraphs, art.byline, art.footer = story.paragraphs[0], [], None, []
        self.articles.append(art)
        return art

    def other_outlet(self, lang: str, not_this: dict) -> dict:
        return self.rng.choice([o for o in self.t["outlets"][lang] if o["name"] != not_this["name"]])

    def copy(self, orig: Article, story: Story, kind: str) -> Article:
        rng, lang = self.rng, orig.lang
        uid = next(self._ids)
        arrival = orig.arrival + timedelta(minutes=rng.randint(10, 30 * 60))
        outlet = self.other_outlet(lang, orig.outlet)
        art = replace(orig, uid=uid, kind=kind, outlet=outlet, url=self.url(outlet, story, uid), arrival=arrival,
                      paragraphs=list(orig.paragraphs), extra=[], footer=list(outlet["footer"]), canonical="")
        source_line = rng.choice(self.t["source_lines"][lang]).format(orig=orig.outlet["name"])
        photo = rng.choice(self.t["photo_lines"][lang])
        if kind == "short-exact":
            art.footer = []
        elif kind == "short-retitled":
            art.footer, art.title = [], self.other_title(story)
        elif kind == "byline":
            art.byline = self.byline(outlet, lang, arrival)
        elif kind == "boilerplate":
            art.extra = [photo, source_line]
        elif kind == "trim":
            self.drop_paragraph(art)
        elif kind == "add":
            self.add_paragraph(art)
        elif kind == "edit":
            self.light_edits(art)
        elif kind == "title":
            art.title = self.other_title(story)
            if rng.random() < 0.5:
                art.footer = list(orig.footer)  # verbatim body
        elif kind == "exact":
            art.footer = list(orig.footer)
        elif kind == "syndicated":
            art.byline = self.byline(outlet, lang, arrival)
            self.drop_paragraph(art)
            art.extra = [photo, source_line]
        elif kind == "heavy":
            art.byline = self.byline(outlet, lang, arrival)
            self.drop_paragraph(art)
            self.add_paragraph(art)
            self.light_edits(art)
            art.extra = [source_line]
        elif kind == "xcanonical":
            art.extra = [source_line]
            art.canonical = orig.url
        elif kind.startswith("url-"):
            art = replace(orig, uid=uid, kind=kind, arrival=arrival, url=self.url_variant(orig.url, kind))
            if kind == "url-amp-canonical":
                art.canonical = orig.url
        else:
            raise ValueError(kind)
        self.articles.append(art)
        return art

    def other_title(self, story: Story) -> str:
        """Another title of the same story: another template, or the title in another language."""
        rng = self.rng
        if rng.random() < 0.5:
            lang = rng.choice([l for l in LANGS if l != story.lang])
            titles = self.t["kinds"][story.kind][lang]["titles"]
            return self.fill(rng.choice(titles), lang, story.values)
        titles = self.t["kinds"][story.kind][story.lang]["titles"]
        others = [t for i, t in enumerate(titles) if i != story.values["_title"]]
        return self.fill(rng.choice(others), story.lang, story.values)

    def drop_paragraph(self, art: Article) -> None:
        if len(art.paragraphs) > 2:
            del art.paragraphs[self.rng.randrange(1, len(art.paragraphs))]

    def add_paragraph(self, art: Article) -> None:
        extra = self.rng.choice(self.t["added"][art.lang])
        art.paragraphs.insert(self.rng.randint(1, len(art.paragraphs)), extra)

    def light_edits(self, art: Article) -> None:
        edits = self.t["edits"][art.lang]
        text = "\n\x00".join(art.paragraphs)
        present = [w for w in edits if w in text]
        self.rng.shuffle(present)
        for word in present[:self.rng.randint(3, 5)]:
            text = text.replace(word, edits[word], 1)
        if self.rng.random() < 0.4:  # "7 children" → "seven children"
            for number, word in self.t["number_words"][art.lang].items():
                spelled = re.sub(rf"(?<![\d,]){number} ", word + " ", text, count=1)
                if spelled != text:
                    text = spelled
                    break
        art.paragraphs = text.split("\n\x00")

    def url_variant(self, url: str, kind: str) -> str:
        rng = self.rng
        scheme, rest = url.split("://", 1)
        host, _, path = rest.partition("/")
        path = "/" + path
        if kind == "url-tracking":
            params = rng.choice(["utm_source=telegram&utm_medium=social&utm_campaign=morning",
                                 "fbclid=IwAR0" + "".join(rng.choices(string.ascii_letters, k=12)),
                                 "utm_source=rss&utm_medium=feed", "gclid=Cj0KCQ" + str(rng.randint(10**6, 10**7)),
                                 "at_medium=RSS&at_campaign=KARANGA", "mc_cid=" + str(rng.randint(10**5, 10**6))])
            return f"{scheme}://{host}{path}{'&' if '?' in path else '?'}{params}"
        if kind == "url-amp-path":
            if "?" in path:
                base, query = path.split("?", 1)
                return f"{scheme}://{host}/amp{base}?{query}"
            return f"{scheme}://{host}{path}amp/" if rng.random() < 0.5 else f"{scheme}://{host}/amp{path}"
        if kind == "url-amp-param":
            param = rng.choice(["amp", "amp=1", "outputType=amp"])
            return f"{scheme}://{host}{path}{'&' if '?' in path else '?'}{param}"
        if kind == "url-mobile":
            bare = host[4:] if host.startswith("www.") else host
            return f"{scheme}://{rng.choice(['m.', 'mobile.'])}{bare}{path}"
        if kind == "url-www-http":
            toggled = host[4:] if host.startswith("www.") else "www." + host
            return f"http://{toggled}{path.rstrip('/') if rng.random() < 0.5 else path}"
        if kind == "url-amp-canonical":
            bare = host[4:] if host.startswith("www.") else host
            return f"{scheme}://amp.{bare}{path}"
        raise ValueError(kind)

    # -- the whole set --

    def build(self, days: int) -> None:
        rng = self.rng
        for day, lang, kind in itertools.product(range(days), LANGS, KINDS):
            agency = next(o for o in self.t["outlets"][lang] if o.get("agency"))
            first = self.new_story(lang, kind, day, agency)
            group = [first, self.new_story(lang, kind, day, agency, like=first if rng.random() < 0.5 else None)]
            if rng.random() < 0.5:
                group.append(self.new_story(lang, kind, day, agency, like=first if rng.random() < 0.5 else None))
            for story in group:
                self.add_copies(story)
        for day, lang in itertools.product(range(days), LANGS):  # feed items with a sentence only
            agency = next(o for o in self.t["outlets"][lang] if o.get("agency"))
            kind = rng.choice(("return", "deportation"))
            first = self.new_story(lang, kind, day, agency, short=True)
            second = self.new_story(lang, kind, day, agency, like=first, short=True)
            for story in (first, second):
                orig = self.publish(story, rng.uniform(6, 20))
                for _ in range(rng.randint(0, 2)):
                    self.copy(orig, story, "short-exact")
                if rng.random() < 0.3:
                    self.copy(orig, story, "short-retitled")

    def add_copies(self, story: Story) -> None:
        rng = self.rng
        orig = self.publish(story, rng.uniform(6, 20))
        ncopies = rng.choice([0, 1, 1, 2, 2, 3, 3, 4, 5])
        kinds, weights = zip(*COPY_KINDS.items())
        for kind in rng.choices(kinds, weights, k=ncopies):
            self.copy(orig, story, kind)


# --- running the set through the product -----------------------------------------------------------

def assign(articles: list[Article], folder: Path) -> dict[int, int]:
    """article uid → predicted story id, through the store and the story index, in arrival order."""
    store = Store(folder / "quality.db")
    index = StoryIndex()
    predicted, new_row = {}, {}
    try:
        for art in sorted(articles, key=lambda a: (a.arrival, a.uid)):
            item, source = art.item(), art.outlet["name"]
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
    print(f"== quality: seed {seed}, {days} days ==")
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

class Fillers:
    """Distinct articles, fast: Zipf-distributed words over a synthetic vocabulary, plus an outlet footer;
    every 50th is a topical story from the templates."""

    def __init__(self, seed: int, corpus: Corpus):
        self.np = np.random.default_rng(seed)
        syllables = [a + b for a in "bcdfghklmnprstvz" for b in "aeiou"] + ["ка", "ні", "ро", "ла", "ми", "ть", "ва", "до"]
        rng = random.Random(seed)
        vocab = set()
        while len(vocab) < 40_000:
            vocab.add("".join(rng.choices(syllables, k=rng.randint(1, 4))))
        self.vocab = np.array(sorted(vocab))
        ranks = np.arange(1, len(self.vocab) + 1)
        p = 1.0 / (ranks + 2.7) ** 1.07
        self.p = p / p.sum()
        self.corpus = corpus
        self.outlets = [o for lang in LANGS for o in corpus.t["outlets"][lang]]
        self.counter = itertools.count()

    def batch(self, n: int, at: datetime) -> list[tuple[str, Item]]:
        lengths = self.np.integers(40, 121, size=n)
        words = self.vocab[self.np.choice(len(self.vocab), size=int(lengths.sum()), p=self.p)]
        out, pos = [], 0
        for length in lengths:
            i = next(self.counter)
            outlet = self.outlets[i % len(self.outlets)]
            if i % 50 == 7:
                out.append((outlet["name"], self.topical(i, at)))
            else:
                body = words[pos:pos + length]
                text = " ".join(body[:length // 2]) + ".\n\n" + " ".join(body[length // 2:]) + ".\n\n" + "\n".join(outlet["footer"])
                out.append((outlet["name"], Item(url=f"https://{outlet['host']}/archive/{i}", title=" ".join(body[:8]),
                                                 content=text, published=at)))
            pos += length
        return out

    def topical(self, i: int, at: datetime) -> Item:
        c = self.corpus
        lang, kind = LANGS[i % 3], KINDS[(i // 3) % 4]
        agency = next(o for o in c.t["outlets"][lang] if o.get("agency"))
        story = c.new_story(lang, kind, 0, agency)
        text = "\n\n".join([c.byline(agency, lang), *story.paragraphs, *agency["footer"]])
        return Item(url=f"https://{agency['host']}/topical/{i}", title=story.title, content=text, published=at)


def near_copy(item: Item, rng: random.Random, i: int) -> Item:
    """Another site's copy: a paragraph dropped, a source line and another footer."""
    paragraphs = item.content.split("\n\n")
    if len(paragraphs) > 3:
        del paragraphs[rng.randrange(1, len(paragraphs) - 1)]
    paragraphs += ["Read the original article on the agency's site.", "Subscribe to our channel on Telegram."]
    return Item(url=f"https://copies.example/{i}", title=item.title, content="\n\n".join(paragraphs), published=item.published)


def make_probes(n: int, seed: int) -> list[tuple[str, Item]]:
    """New topical stories (1/2), copies of earlier probes (1/4), copies of fillers in every store (1/4)."""
    rng = random.Random(seed)
    fillers = Fillers(seed + 1, Corpus(seed, unique_people=False))
    early = [item for _, item in Fillers(11, Corpus(11, unique_people=False)).batch(1000, START)]  # the stores' first fillers
    probes: list[tuple[str, Item]] = []
    topical: list[Item] = []
    for i in range(n):
        if i % 4 in (0, 2) or not topical:
            item = fillers.topical(3 * i + (i // 4) % 3, START)
            item = replace(item, url=f"https://probe.example/new/{i}")
            topical.append(item)
        elif i % 4 == 1:
            item = near_copy(rng.choice(topical), rng, i)
        else:
            item = near_copy(rng.choice(early), rng, i)
        probes.append(("Probe", replace(item, url=item.url if "probe" in item.url else f"https://probe.example/copy/{i}")))
    return probes


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
        for source, item in fillers.batch(CHUNK, at):
            by_source[source].append(item)
        for source, items in by_source.items():
            store.add_items(source, items, at, story_for=story_assigner(index, at))


def cost(sizes: list[int], probes_per_round: int, rounds: int, seed: int) -> dict:
    sizes = sorted(sizes)
    print(f"\n== cost per insert: stores of {', '.join(f'{s:,}' for s in sizes)} articles; "
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

    probes = make_probes(rounds * probes_per_round, seed)
    for r in range(rounds):
        order = setups[r % len(setups):] + setups[:r % len(setups)]
        for setup in order:
            for source, item in probes[r * probes_per_round:(r + 1) * probes_per_round]:
                text = dedup.dedup_text(item.title, item.summary, item.content)
                t0 = time.perf_counter()
                sig = dedup.signature(text)
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
