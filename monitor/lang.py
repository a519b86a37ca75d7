"""Language detection: en / uk / ru, and the European languages the press writes this story in
(pl, de, fr, it, es, pt, cs, sk, ro, nl, lt, lv, et, fi). No model needed: the script, the letters
only one language uses, and short frequent words each language has.

Cyrillic text is Ukrainian or Russian (the letters only one of them uses, then their function
words). Latin text is scored per language: each frequent function word counts for the languages
that have it (shared words are split between them), each letter only a few languages write counts
for those; the best score wins, and English wins ties, as it did before the others were known.
"""

from __future__ import annotations

import re
from collections import Counter

_LAT_RE = re.compile(r"[a-z]")
# Letters are counted with bytes.count, str.count and bytes.translate (C loops, a fraction of a
# regular expression's time; this runs on every article a poll keeps). In lower-cased text a
# character whose UTF-8 lead byte is D0 is one of а…п; the other letters are counted one by one.
_CYR_AFTER_P = "рстуфхцчшщъыьэюяёєіїґ"
_NOT_LATIN_BYTES = bytes(b for b in range(256) if not 0x61 <= b <= 0x7A)  # all bytes but a…z
_UK_LETTERS = "іїєґ"  # not in Russian
_RU_LETTERS = "ыэъё"  # not in Ukrainian
# Short frequent words only one of the two languages has: decide texts that lack ы/і letters.
_UK_RU_WORDS_RE = re.compile(r"(?<!\w)(?:(і|й|що|та|з|із|зі|це|як|його|або|був|була|були|також|після|лише)"
                             r"|(и|что|из|это|как|его|или|был|была|были|также|после|только))(?!\w)")

LATIN_LANGUAGES = ("en", "pl", "de", "fr", "it", "es", "pt", "cs", "sk", "ro", "nl", "lt", "lv", "et", "fi")

# Frequent function words of each Latin-script language (lower case). A word several languages
# share ("de", "la", "in") counts for each of them, split.
_FUNCTION_WORDS = {
    "en": "the and of to in is was for that with from by on are were has have it said its this "
          "which who their after been will would they not but an at as",
    "pl": "w z i się nie na do że jest o od po przez dla są to jak który która które oraz ich "
          "jego jej także już został została zostały był była było by ze we tym tych",
    "de": "der die das und nicht ist mit den dem von zu auf für ein eine einer eines sich auch "
          "wurde wurden nach sind aus bei im vom zum zur werden hat haben sie er es wie noch",
    "fr": "le la les des et est une un du dans pour que qui sur par au aux ont été avec ne pas "
          "ses leur leurs selon cette ces il elle sont a vers depuis avoir d l qu près contre entre "
          "ou où aussi plus",
    "it": "il della di che è la le del dei degli gli per con sono una un nel nella alla dalla "
          "stati stato anche ha hanno ai al dal sulla tra da dai dalle delle nei negli loro non si "
          "come dopo ma i questo questa sui l a",
    "es": "el los las y que de del en por con una un es se para al fue han sido según sus su "
          "como más este esta lo ha entre desde sobre tras pero también a",
    "pt": "o os as e que de do da dos das em no na nos nas um uma para com por foi são não foram "
          "ao à pelo pela seus suas segundo mais a",
    "cs": "a v se na je že z do od to o jsou byl byla bylo byly podle také který která které pro "
          "ve ze jako by již už jejich děti dětí dětmi ještě však nebo když při mezi jen více kteří "
          "tisíc let roku všechny všech dalších další si",
    "sk": "a v sa na je že z do od to o sú bol bola bolo boli podľa aj ktorý ktorá ktoré pre "
          "vo zo ako by už ich deti detí deťmi ešte však alebo keď pri medzi len viac ktorí tisíc "
          "rokov roku všetky všetkých ďalších ďalšie tiež si",
    "ro": "și de în la cu pe că a o un din pentru care au este fost mai ale lor sunt sau al ai "
          "după ca iar",
    "nl": "de het een en van in is op te dat die voor met zijn niet naar ook werd worden uit "
          "door er om bij nog hun aan",
    "lt": "ir į iš kad yra buvo su o bet kaip jų jo ar nuo apie per dar tai bei buvę kurie "
          "kurių teigia",
    "lv": "un ir no uz ka ar par bija tika kā arī vai lai pie līdz pēc viņu kas tiek tikuši "
          "kuri kurus",
    "et": "ja on ei et kui see oli ka mis ning aga nii veel üle oma need olid kes kus pärast "
          "koos seda või nad tema nende ta lapsed laste last lapsi andmetel",
    "fi": "ja on ei että oli se kun mutta myös ovat olivat jotka joka hän sen niiden mukaan "
          "ole kuin jo yli kanssa sekä vuonna tai heidän lasta lapsia lapset lasten",
}
_WORD_SCORES: dict[str, list[tuple[str, float]]] = {}
for _lang, _words in _FUNCTION_WORDS.items():
    for _w in set(_words.split()):
        _WORD_SCORES.setdefault(_w, []).append((_lang, 1.0))
_WORD_SCORES = {w: [(lang, 1.0 / len(v)) for lang, _ in v] for w, v in _WORD_SCORES.items()}

# Letters few languages write: each occurrence counts, split between those languages.
_LETTERS = {
    "ą": "pl lt", "ę": "pl lt", "ł": "pl", "ń": "pl", "ś": "pl", "ź": "pl", "ż": "pl lt lv",
    "ě": "cs", "ř": "cs", "ů": "cs", "ľ": "sk", "ĺ": "sk", "ŕ": "sk", "ô": "sk fr pt",
    "ă": "ro", "ș": "ro", "ş": "ro", "ț": "ro", "ţ": "ro", "ė": "lt", "į": "lt", "ų": "lt",
    "ā": "lv", "ē": "lv", "ī": "lv", "ģ": "lv", "ķ": "lv", "ļ": "lv", "ņ": "lv", "õ": "et pt",
    "ß": "de", "ñ": "es", "ã": "pt", "ç": "fr pt", "œ": "fr", "è": "fr it", "ì": "it", "ò": "it",
    "ä": "fi fi fi de et sk", "ö": "fi de et", "ü": "de et",
    # Letter groups frequent in one or two languages.
    "ää": "fi et", "yy": "fi", "uu": "fi et", "ii": "fi et", "ij": "nl", "oe": "nl", "sch": "de",
    "sz": "pl", "cz": "pl", "rz": "pl", "ção": "pt", "ões": "pt", "ž": "cs sk lt lv",
    "š": "cs sk lt lv et fi", "č": "cs sk lt lv",
    "ción": "es", "ão": "pt", "ê": "fr pt", "à": "fr it pt", "û": "fr", "ï": "fr nl", "ë": "nl fr",
    "ó": "es es pt pl", "ssä": "fi", "stä": "fi", "llä": "fi", "ään": "fi", "iin": "fi", "sse": "et", "ď": "cs sk",
    "ť": "cs sk",
}
# A language named twice for a letter gets twice the share (ä is far more frequent in Finnish).
_LETTER_SCORES = [(ch, [(lang, langs.split().count(lang) / len(langs.split()))
                        for lang in dict.fromkeys(langs.split())])
                  for ch, langs in _LETTERS.items()]
_LATIN_WORD_RE = re.compile(r"[^\W\d_]+")
_LETTER_WEIGHT = 0.5  # a letter is weaker evidence than a word

SAMPLE = 4000  # characters: plenty to decide, and keeps the cost flat on long articles
LATIN_SAMPLE = 1500  # Latin-script languages are told apart by their words: a few hundred do


def detect_language(title: str, text: str) -> str:
    """Return "en", "uk", "ru", one of the other LATIN_LANGUAGES, or "und" when the text gives
    no evidence (no letters; Cyrillic that is neither; Latin text two other languages tie on).
    Latin text that none of the word lists knows is "en", as it always was."""
    sample = (title + "\n" + text[:SAMPLE]).lower()
    encoded = sample.encode("utf-8")
    cyr = encoded.count(b"\xd0") + sum(map(sample.count, _CYR_AFTER_P))
    if cyr == 0:  # no need to count the Latin letters of a text that has no Cyrillic ones
        return _latin_language(sample[:LATIN_SAMPLE]) if _LAT_RE.search(sample) else "und"
    lat = len(encoded.translate(None, _NOT_LATIN_BYTES))
    if cyr >= lat:
        uk = sum(map(sample.count, _UK_LETTERS))
        ru = sum(map(sample.count, _RU_LETTERS))
        for uk_word, _ in _UK_RU_WORDS_RE.findall(sample):
            if uk_word:
                uk += 1
            else:
                ru += 1
        if uk == ru:
            return "und"
        return "uk" if uk > ru else "ru"
    return _latin_language(sample[:LATIN_SAMPLE])


def _latin_language(sample: str) -> str:
    scores = dict.fromkeys(LATIN_LANGUAGES, 0.0)
    counts = Counter(_LATIN_WORD_RE.findall(sample))
    for word in counts.keys() & _WORD_SCORES.keys():
        n = counts[word]
        for lang, weight in _WORD_SCORES[word]:
            scores[lang] += n * weight
    en = scores["en"]
    if en >= 3 and en >= 2 * max(score for lang, score in scores.items() if lang != "en"):
        return "en"  # the common case, decided by its words alone
    present = set(sample)
    for ch, shares in _LETTER_SCORES:
        if ch[0] in present:
            n = sample.count(ch)
            for lang, weight in shares:
                scores[lang] += n * weight * _LETTER_WEIGHT
    best = max(scores.values())
    if scores["en"] == best:  # English too when nothing tells: Latin script, as before
        return "en"
    winners = [lang for lang, score in scores.items() if score == best]
    return winners[0] if len(winners) == 1 else "und"
