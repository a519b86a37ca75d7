"""Language detection for en / uk / ru by script and by the letters only one of the two
Cyrillic languages uses. No model needed: the service only has to tell these three apart."""

from __future__ import annotations

import re

_CYR_RE = re.compile(r"[а-яёіїєґ]")
_LAT_RE = re.compile(r"[a-z]")
_UK_RE = re.compile(r"[іїєґ]")  # not in Russian
_RU_RE = re.compile(r"[ыэъё]")  # not in Ukrainian
# Short frequent words only one of the two languages has: decide texts that lack ы/і letters.
_UK_WORDS_RE = re.compile(r"(?<!\w)(?:і|й|що|та|з|із|зі|це|як|його|або|був|була|були|також|після|лише)(?!\w)")
_RU_WORDS_RE = re.compile(r"(?<!\w)(?:и|что|из|это|как|его|или|был|была|были|также|после|только)(?!\w)")
_EN_WORDS_RE = re.compile(r"\b(?:the|and|of|to|in|is|was|for|that|with|from|by|on)\b")
# Function words of other Latin-script languages common in European news (de, fr, es, it, pl).
_OTHER_WORDS_RE = re.compile(
    r"\b(?:der|die|und|das|nicht|le|la|les|des|et|est|une|el|los|las|y|que|il|della|di|che"
    r"|w|z|i|się|nie|na)\b"
)

SAMPLE = 4000  # characters: plenty to decide, and keeps the cost flat on long articles


def detect_language(title: str, text: str) -> str:
    """Return "en", "uk", "ru", or "und" when the text gives no evidence."""
    sample = (title + "\n" + text[:SAMPLE]).lower()
    cyr = len(_CYR_RE.findall(sample))
    lat = len(_LAT_RE.findall(sample))
    if cyr == 0 and lat == 0:
        return "und"
    if cyr >= lat:
        uk = len(_UK_RE.findall(sample)) + len(_UK_WORDS_RE.findall(sample))
        ru = len(_RU_RE.findall(sample)) + len(_RU_WORDS_RE.findall(sample))
        if uk == ru:
            return "und"
        return "uk" if uk > ru else "ru"
    # Latin script: English unless another language's function words dominate (German...).
    en = len(_EN_WORDS_RE.findall(sample))
    other = len(_OTHER_WORDS_RE.findall(sample))
    return "und" if other > en else "en"
