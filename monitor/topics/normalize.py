"""Text normalization shared by documents and queries.

Both sides go through the same steps so that a query term written one way matches a text
written another way: HTML entities, invisible characters, NFKC, casefold, apostrophe
variants, ё→е, and Latin/Cyrillic look-alike letters mixed inside one word.

Tokens are found on the *display* text (entities decoded, invisible characters removed) so
that their character spans can be used to mark hits in snippets; normalization is then
applied to the token strings only.
"""

from __future__ import annotations

import html
import re
import unicodedata

# Soft hyphen, zero-width space/joiners, word joiner, BOM, combining acute (Russian stress marks
# split words otherwise): invisible in print, so dropping them changes nothing a reader sees.
_INVISIBLE_RE = re.compile("[\u00ad\u200b\u200c\u200d\u2060\ufeff\u0301]")
_TAG_RE = re.compile(r"<[^<>]{0,500}>")
_SPACE_RE = re.compile(r"\s+")

# Ukrainian writes the apostrophe (п'ять, дев'ять) with any of these; one canonical form.
APOSTROPHES = "'\u2019\u02bc`\u2018\u00b4\u02b9"
# A word: letters/digits, with apostrophes allowed *inside* (not at the edges, where they are quotes).
# Possessive: nothing follows the pattern, so its greedy match never gives anything back, and the
# engine need not keep the means to (a third faster on a 3 KB text).
TOKEN_RE = re.compile(r"\w++(?:[" + re.escape(APOSTROPHES) + r"]\w++)*+")

# Replaced with str.replace, which is much faster than str.translate on long texts.
_FOLD = [(a, "'") for a in APOSTROPHES[1:]] + [("ё", "е")]

# Look-alike letters (after casefold). A word mixing scripts is folded to its dominant script.
_LAT_TO_CYR = str.maketrans("aceiopxykmhtb", "асеіорхукмнтв")
_CYR_TO_LAT = str.maketrans("асеіорхукмнтвј", "aceiopxykmhtbj")
LATIN_LETTERS = "abcdefghijklmnopqrstuvwxyz"
CYRILLIC_LETTERS = "".join(map(chr, range(ord("а"), ord("я") + 1))) + "іїєґ"
_LAT_RE = re.compile(f"[{LATIN_LETTERS}]")
_CYR_RE = re.compile(f"[{CYRILLIC_LETTERS}]")
# Cheap pre-check over the whole normalized string: a Latin letter touching a Cyrillic one.
# (A leading \w* would make the scan quadratic-ish; real mixed words have such a seam.)
_SEAM_RE = re.compile(f"[{LATIN_LETTERS}][{CYRILLIC_LETTERS}]|[{CYRILLIC_LETTERS}][{LATIN_LETTERS}]")
# The same seams as two-letter strings (the screen finds them in its one pass over a text).
SCRIPT_SEAMS = frozenset(a + b for x in LATIN_LETTERS for y in CYRILLIC_LETTERS for a, b in ((x, y), (y, x)))


def clean_display(text: str) -> str:
    """Plain display text: HTML entities decoded, tags and invisible characters removed."""
    if "&" in text:
        text = html.unescape(text)
    if "<" in text:
        text = _TAG_RE.sub(" ", text)
    return _INVISIBLE_RE.sub("", text)


def squash_spaces(text: str) -> str:
    return _SPACE_RE.sub(" ", text).strip()


def fold_mixed_script(word: str) -> str:
    """Fold a word that mixes Latin and Cyrillic letters to the script most of its letters use
    ("дeпортація" with a Latin e → all Cyrillic): such words are typos or filter evasion."""
    lat = len(_LAT_RE.findall(word))
    cyr = len(_CYR_RE.findall(word))
    if not lat or not cyr:
        return word
    return word.translate(_LAT_TO_CYR if cyr >= lat else _CYR_TO_LAT)


def fold(text: str) -> str:
    """NFKC, casefold, one apostrophe, ё→е: what a word is compared as (mixed scripts aside)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    for old, new in _FOLD:
        if old in folded:
            folded = folded.replace(old, new)
    return folded


def has_script_seam(folded: str) -> bool:
    """A Latin letter touching a Cyrillic one somewhere in a folded text."""
    return _SEAM_RE.search(folded) is not None


def normalize_tokens(tokens: list[str], *, unmixed: bool = False) -> list[str]:
    """Normalize many tokens with one pass of each C-level operation (the hot path):
    join, NFKC, casefold, translate, split. "\\n" never appears inside a \\w token.
    `unmixed`: the caller knows that no token mixes Latin and Cyrillic letters."""
    if not tokens:
        return []
    joined = fold("\n".join(tokens))
    out = joined.split("\n")
    if not unmixed and has_script_seam(joined):
        out = [fold_mixed_script(t) if _SEAM_RE.search(t) else t for t in out]
    return out


def normalize_word(word: str) -> str:
    return normalize_tokens([word])[0]


def tokenize(text: str) -> list[str]:
    """Normalized tokens of a raw string (used for query words and phrases)."""
    return normalize_tokens(TOKEN_RE.findall(clean_display(text)))
