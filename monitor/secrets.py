"""Values that came from `${VAR}` in sources.yaml, kept out of everything that leaves the process.

A Redactor is built from the configuration's secrets (variable name → value) and replaces each
value with `${NAME}`, in every form it takes on its way out:

- as it is, and stripped of surrounding whitespace (a value ending in a line break);
- percent-encoded, whole or in part, in either hex case, once or twice (`quote`, `quote_plus`'s `+`
  for a space, an HTTP client's own encoding of a query, a URL inside another URL's query);
- escaped by JSON, `repr` or Markdown (`\\"`, `\\\\`, `\\/`, `\\n`, `\\u00e9`, `\\x0a`, `\\_`), by
  HTML (`&amp;`, `&#34;`) and by the chat filters of monitor/notify/markup.py (`‹›`, `@` + joiner).

Each character of a secret may appear in any of its forms independently, so a value is found
however much of it a library chose to encode. `${NAME}` rather than `***`: the reader learns which
variable was there, never what it holds.

Values shorter than MIN_LENGTH characters are left alone: `1`, `on` or `80` would otherwise be
replaced inside ordinary words and numbers, and such a value is no secret.

The process's Redactor: secrets come from the environment, which is the whole process's, so the
configuration a command runs with installs its Redactor (`install`) and code that writes text out
of the process without a configuration at hand calls `redact`. Nothing here imports from monitor.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping

MIN_LENGTH = 4

_SHORT_ESCAPES = {"\n": r"\n", "\r": r"\r", "\t": r"\t", "\b": r"\b", "\f": r"\f"}
# HTML's named entities, and the chat filters' look-alike brackets and joiner after "@" and "&".
_ENTITIES = {"&": ["&amp;", "&\u200d"], "<": ["&lt;", "‹"], ">": ["&gt;", "›"], '"': ["&quot;"],
             "'": ["&apos;"], "@": ["@\u200d"]}


def _hex(number: int, width: int) -> str:
    """Hex digits of `number` as a pattern that accepts either case."""
    return "".join(f"[{d}{d.lower()}]" if d.isalpha() else d for d in f"{number:0{width}X}")


def _char_pattern(ch: str) -> str:
    code = ord(ch)
    utf8 = ch.encode("utf-8")
    forms = [re.escape(ch), "".join("%" + _hex(byte, 2) for byte in utf8),
             "".join("%25" + _hex(byte, 2) for byte in utf8)]  # encoded twice: a URL inside a URL's query
    if ch == " ":
        forms.append(r"\+")
    if code < 0x10000:
        forms.append(r"\\u" + _hex(code, 4))
    else:  # JSON writes a surrogate pair, repr \U0001xxxx
        high, low = 0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)
        forms += [r"\\u" + _hex(high, 4) + r"\\u" + _hex(low, 4), r"\\U" + _hex(code, 8)]
    if code < 0x100:
        forms.append(r"\\x" + _hex(code, 2))
    if ch in _SHORT_ESCAPES:
        forms.append(re.escape(_SHORT_ESCAPES[ch]))
    if ch in string.punctuation:
        forms.append(r"\\" + re.escape(ch))
    forms += [re.escape(form) for form in _ENTITIES.get(ch, [])]
    if not ch.isalnum():
        forms += [f"&#0*{code};", f"&#[xX]0*{_hex(code, 1)};"]
    return "(?:" + "|".join(forms) + ")"


def _first_characters(ch: str) -> set[str]:
    """The characters any form of `ch` (see _char_pattern) can start with."""
    return {ch, "%", "\\", "&", "+"} | {entity[0] for entity in _ENTITIES.get(ch, [])}


def _value_pattern(value: str) -> str:
    return "".join(_char_pattern(ch) for ch in value)


class Redactor:
    """`redactor(text)`: the text with every secret, in any of its forms, replaced by `${NAME}`."""

    def __init__(self, secrets: Mapping[str, str] | None = None):
        self.secrets: dict[str, str] = dict(secrets or {})
        forms: dict[str, str] = {}  # form → the name it stands for (the first name, if two share a value)
        for name, value in self.secrets.items():
            for form in (value, value.strip()):
                if len(form) >= MIN_LENGTH:
                    forms.setdefault(form, name)
        # Longest first, so a secret containing another is hidden whole.
        ordered = sorted(forms, key=len, reverse=True)
        self._names = [forms[form] for form in ordered]
        # A look-ahead for the characters a form can start with lets the scan skip every other
        # position at once (ten secrets: ~5x faster on a log line).
        starts = set().union(*(_first_characters(form[0]) for form in ordered))
        lead = "(?=[" + "".join(re.escape(ch) for ch in sorted(starts)) + "])"
        self._pattern = (re.compile(lead + "(?:" + "|".join(f"({_value_pattern(form)})" for form in ordered) + ")")
                         if ordered else None)

    def __bool__(self) -> bool:
        return self._pattern is not None

    def __repr__(self) -> str:  # names only: a Redactor printed in a traceback shows no value
        return f"Redactor({sorted(self.secrets)})"

    def __call__(self, text):
        """`text` redacted; None (or anything not text) is returned as it is."""
        if self._pattern is None or not isinstance(text, str) or not text:
            return text
        return self._pattern.sub(lambda match: "${" + self._names[match.lastindex - 1] + "}", text)


_current = Redactor()


def install(redactor: Redactor) -> Redactor:
    """Make `redactor` the process's; returns the one it replaces (to put back when done)."""
    global _current
    previous, _current = _current, redactor
    return previous


def current() -> Redactor:
    return _current


def redact(text):
    """`text` through the process's Redactor (see `install`)."""
    return _current(text)
