"""The dedup bench's labelled set: stories in en/uk/ru from fixtures/dedup/templates.yaml, their
copies of every kind a news ecosystem makes, and distinct filler articles for the cost part.

  Corpus(seed).build(days)   stories and articles (originals and copies), each labelled with its story
  Fillers(seed, corpus)      distinct general news (Zipf words over a synthetic vocabulary), 2% topical
  near_copy, make_probes     the probe inserts of the cost part

Articles and fillers are plain records (Text); bench/dedup.py turns them into monitor's Item.
See bench/dedup.py for what each copy kind is.
"""

from __future__ import annotations

import itertools
import random
import re
import string
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

import numpy as np
import yaml

from bench.support.cli import ROOT

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




@dataclass(frozen=True)
class Text:
    """An article as the store would get it."""
    url: str
    title: str
    content: str
    published: datetime
    summary: str = ""
    author: str = ""
    lang: str = ""
    canonical: str = ""


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

    def text(self) -> Text:
        return Text(url=self.url, title=self.title, summary=self.summary, content=self.content,
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


# --- fillers and probes for the cost part ------------------------------------------------------------

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

    def batch(self, n: int, at: datetime) -> list[tuple[str, Text]]:
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
                out.append((outlet["name"], Text(url=f"https://{outlet['host']}/archive/{i}", title=" ".join(body[:8]),
                                                 content=text, published=at)))
            pos += length
        return out

    def topical(self, i: int, at: datetime) -> Text:
        c = self.corpus
        lang, kind = LANGS[i % 3], KINDS[(i // 3) % 4]
        agency = next(o for o in c.t["outlets"][lang] if o.get("agency"))
        story = c.new_story(lang, kind, 0, agency)
        text = "\n\n".join([c.byline(agency, lang), *story.paragraphs, *agency["footer"]])
        return Text(url=f"https://{agency['host']}/topical/{i}", title=story.title, content=text, published=at)


def near_copy(item: Text, rng: random.Random, i: int) -> Text:
    """Another site's copy: a paragraph dropped, a source line and another footer."""
    paragraphs = item.content.split("\n\n")
    if len(paragraphs) > 3:
        del paragraphs[rng.randrange(1, len(paragraphs) - 1)]
    paragraphs += ["Read the original article on the agency's site.", "Subscribe to our channel on Telegram."]
    return Text(url=f"https://copies.example/{i}", title=item.title, content="\n\n".join(paragraphs), published=item.published)


def make_probes(n: int, seed: int) -> list[tuple[str, Text]]:
    """New topical stories (1/2), copies of earlier probes (1/4), copies of fillers in every store (1/4)."""
    rng = random.Random(seed)
    fillers = Fillers(seed + 1, Corpus(seed, unique_people=False))
    early = [item for _, item in Fillers(11, Corpus(11, unique_people=False)).batch(1000, START)]  # the stores' first fillers
    probes: list[tuple[str, Text]] = []
    topical: list[Text] = []
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


