"""The shipped topic per language, and the options weighed for the European languages (issue 12).

    .venv/bin/python -m bench.relevance_languages [--no-options]

1. Precision / recall per language on the project's labelled sets (fixtures/topics/: dev sets
   and hold-outs, reported apart) and on ../shared/corpora/relevance-dev when present.
2. Cost: ms per ~5 KB article (process CPU time, best of 5) for on-topic and off-topic texts, in
   English (the article-extraction benchmark's real pages when present) and European languages.
3. Options for the European languages, on the same cases: A, the topic's prefixes (shipped);
   B, simplemma lemmas added to each text's word index (only if simplemma is installed: it is not
   a dependency), with the shipped topic and with a probe query written once as lemmas and once as
   prefixes; the probe as bare words shows what an inflecting language loses without either.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench.support.cli import CORPORA
from monitor.topics import Matcher, compile_topic, default_topics
from monitor.topics import query as Q
from monitor.topics.normalize import normalize_tokens

ROOT = Path(__file__).resolve().parents[1]
SETS = ROOT / "fixtures" / "topics"
EN_UK_RU = ("en", "uk", "ru")


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def score(matcher: Matcher, cases: list[dict]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for c in cases:
        got = matcher.classify(c.get("title", ""), c.get("text", "")).match
        for key in ("all", c.get("lang", "?")):
            s = out.setdefault(key, [0, 0, 0, 0])
            s[0] += got and c["label"] == 1
            s[1] += got and c["label"] == 0
            s[2] += (not got) and c["label"] == 1
            s[3] += 1
    return out


def line(name: str, s: list[int]) -> str:
    tp, fp, fn, n = s
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return f"  {name:6} n={n:3}  tp={tp:3} fp={fp:2} fn={fn:2}  precision={p:.3f}  recall={r:.3f}"


def articles(texts: list[str], n: int, size: int = 5000) -> list[tuple[str, str]]:
    out = []
    for i in range(n):
        parts, total, j = [], 0, i
        while total < size:
            parts.append(texts[j % len(texts)])
            total += len(parts[-1]) + 2
            j += 7
        out.append((f"Title {i}", "\n\n".join(parts)[: size + 500]))
    return out


def ms_per_article(matcher: Matcher, arts: list[tuple[str, str]]) -> float:
    for a in arts[:10]:
        matcher.classify(*a)
    best = float("inf")
    for _ in range(5):
        t0 = time.process_time()
        for a in arts:
            matcher.classify(*a)
        best = min(best, (time.process_time() - t0) / len(arts) * 1000)
    return best


PROBE = {  # one concept list, written as lemmas and as prefixes
    "lemmas": ("dziecko kind enfant bambino niño criança dítě dieťa copil vaikas bērns laps lapsi",
               "deportować deportacja deportieren deportation verschleppen déporter déportation deportare "
               "deportazione deportar deportación deportação deportovat deportace deportovať deportácia "
               "deporta deportare deporteren deportatie deportuoti deportacija deportēt deportācija küüditama "
               "küüditamine kyyditä karkottaa wywieźć uprowadzić bringen entführen emmener enlever portare "
               "rapire llevar secuestrar levar raptar odvézt unést odviezť uniesť duce răpi brengen ontvoeren "
               "išvežti pagrobti aizvest nolaupīt viima röövima viedä siepata",
               "rosja ukraina russland ukraine russie russia ucraina rusia ucrania rússia ucrânia rusko "
               "ukrajina rusland oekraïne rusija krievija venemaa venäjä okupowany besetzt occupé occupato "
               "ocupado okupovaný ocupat bezet okupuotas okupēts okupeeritud miehitetty"),
    "prefixes": ("dziec* kind* enfant* bambin* niñ* crianç* dět* dít* deti* diet* copi* vaik* bērn* laps* last* lasten",
                 "deport* déport* gedeporteerd* verschlepp* küüdit* kyydit* karkot* wywie* uprowadz* gebracht* "
                 "entführ* emmen* enlev* portat* rapit* llevad* secuestr* levad* raptad* odvez* unes* odviez* "
                 "duș* răpi* ontvoer* išvež* pagrob* aizved* nolaupīt* viidud* viinud* viidi* röövi* viety* "
                 "vietiin* veivät* siepat*",
                 "ros* ukrai* russ* ucrain* rusi* ucrani* rúss* ucrân* rusk* ukrajin* oekraï* rusland* kriev* "
                 "venemaa* vene* venäj* okupow* besetzt* occup* ocupa* okupova* bezet* okupuot* okupēt* "
                 "okupeeri* miehit*"),
}


def probe(kind: str) -> Matcher:
    groups = ["(" + " OR ".join(words.split()) + ")" for words in PROBE[kind]]
    return Matcher([compile_topic(f"probe-{kind}", " AND ".join(groups))])


def options(eu: list[dict]) -> None:
    try:
        import simplemma
    except ImportError:
        simplemma = None
    langs = {c["lang"] for c in eu}
    arts = []
    for lang in sorted(langs):
        arts += articles([c["text"] for c in eu if c["lang"] == lang], 8)
    original = Q.Doc.__post_init__

    def with_lemmas(self) -> None:
        original(self)
        if self.lang not in langs:
            return
        words = list(self.index)
        for w, lemma in zip(words, normalize_tokens([simplemma.lemmatize(w, lang=self.lang) for w in words])):
            if lemma != w:
                got = self.index.get(lemma)
                self.index[lemma] = sorted(got + self.index[w]) if got else self.index[w]
        self.vocab = sorted(self.index)

    print("options for the European languages (dev + hold-out cases; ms per ~5 KB article):")
    for tag, patch in (("A prefixes, no lemmas", None), ("B simplemma lemmas in the index", with_lemmas)):
        if patch is not None and simplemma is None:
            print(f"  {tag}: simplemma is not installed (.venv/bin/pip install simplemma)")
            continue
        Q.Doc.__post_init__ = patch or original
        try:
            for name, matcher in (("shipped topic", Matcher(default_topics())),
                                  ("probe as lemmas", probe("lemmas")), ("probe as prefixes", probe("prefixes"))):
                s = score(matcher, eu)["all"]
                print(f"  {tag:32} {name:18} {line('', s).strip()}  {ms_per_article(matcher, arts):.2f} ms")
        finally:
            Q.Doc.__post_init__ = original


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-options", action="store_true", help="skip the options comparison")
    args = ap.parse_args(argv)
    matcher = Matcher(default_topics())
    dev = load(SETS / "cases.jsonl") + load(SETS / "families.jsonl") + load(SETS / "european.jsonl")
    holdout = load(SETS / "holdout.jsonl") + load(SETS / "holdout2.jsonl")
    shared = CORPORA / "relevance-dev" / "cases.jsonl"
    for name, cases in (("development sets", dev), ("hold-outs (figures only)", holdout),
                        ("relevance-dev (shared corpus)", load(shared) if shared.exists() else [])):
        if not cases:
            print(f"{name}: not found")
            continue
        s = score(matcher, cases)
        print(f"{name}:")
        for key in ["all", *EN_UK_RU, *sorted(k for k in s if k not in (*EN_UK_RU, "all"))]:
            if key in s:
                print(line(key, s[key]))
    eu = [c for c in dev + holdout if c["lang"] not in EN_UK_RU]
    gt = CORPORA / "article-extraction-benchmark" / "ground-truth.json"
    off = ([v["articleBody"] for v in json.loads(gt.read_text("utf-8")).values() if len(v["articleBody"]) > 1500]
           if gt.exists() else [c["text"] for c in dev if c["label"] == 0])
    print("cost (ms per ~5 KB article, CPU time, best of 5):")
    for name, arts in (("on-topic en/uk/ru", articles([c["text"] for c in dev if c["label"] == 1
                                                       and c["lang"] in EN_UK_RU], 300)),
                       ("on-topic european", articles([c["text"] for c in eu if c["label"] == 1], 200)),
                       ("off-topic european", articles([c["text"] for c in eu if c["label"] == 0], 200)),
                       ("off-topic real pages", [("t", b[:5000]) for b in off][:300])):
        print(f"  {name:22} {ms_per_article(matcher, arts):.3f}")
    if not args.no_options:
        options(eu)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
