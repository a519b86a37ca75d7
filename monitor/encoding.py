"""Bytes → text, trusting a declared charset only when the bytes agree with it.

Feeds and pages often declare the wrong charset (windows-1251 bytes labelled UTF-8 or ISO-8859-1,
UTF-8 labelled windows-1251). Order: a byte-order mark; valid UTF-8 (legacy Cyrillic text is
practically never valid UTF-8 by accident); the declared charset if the text it gives looks like
language; otherwise charset-normalizer's best guess.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_XML_DECL = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""", re.IGNORECASE)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_HTTP_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.IGNORECASE)
# Above this share of "mess" the declared charset produced gibberish.
_MESS_LIMIT = 0.1


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str          # Python codec name actually used
    declared: str | None   # what the HTTP header or the document claimed
    how: str               # bom | utf-8 | declared | detected | fallback

    @property
    def overridden(self) -> bool:
        return self.declared is not None and _same_codec(self.declared, self.encoding) is False


def declared_charset(body: bytes, content_type: str | None = None) -> str | None:
    """The charset named by the Content-Type header, else by the XML declaration or HTML meta tag."""
    if content_type:
        match = _HTTP_CHARSET.search(content_type)
        if match:
            return match.group(1)
    head = body[:2048]
    for pattern in (_XML_DECL, _META_CHARSET):
        match = pattern.search(head)
        if match:
            return match.group(1).decode("ascii", "replace")
    return None


def decode(body: bytes, content_type: str | None = None) -> Decoded | None:
    """Decode a document; None when it is in a wide encoding without a BOM (leave it to the parser)."""
    declared = declared_charset(body, content_type)
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return Decoded(body[len(bom):].decode(codec, errors="replace"), codec, declared, "bom")
    if body[:4] in (b"<\x00?\x00", b"\x00<\x00?", b"<\x00\x00\x00", b"\x00\x00\x00<", b"\x4c\x6f\xa7\x94"):
        return None  # UTF-16/32 without BOM or EBCDIC: feedparser's own sniffing handles these
    try:
        text = body.decode("utf-8")
        return Decoded(text, "utf-8", declared, "utf-8")
    except UnicodeDecodeError:
        pass
    codec = _codec(declared) if declared else None
    if declared and codec is None:
        return None  # a name Python lacks (VISCII, TCVN, ms-cyrl): feedparser knows more aliases
    # Only a document that is not UTF-8 gets this far: charset-normalizer is loaded here, not by
    # every command that reads a parser's module (`monitor check` among them).
    from charset_normalizer import from_bytes
    from charset_normalizer.md import mess_ratio

    declared_text, declared_mess = None, 1.0
    if codec and codec not in ("utf-8", "ascii"):
        try:
            declared_text = body.decode(codec)
            declared_mess = mess_ratio(declared_text[:20000], maximum_threshold=1.0)
        except (UnicodeDecodeError, LookupError):
            declared_text = None
        if declared_text is not None and declared_mess < _MESS_LIMIT:
            return Decoded(declared_text, codec, declared, "declared")
    best = from_bytes(body[:200_000]).best()
    guessed = _codec(best.encoding) if best is not None else None
    # Overrule a declaration only on clear evidence: the guess must read much cleaner.
    if guessed and (declared_text is None or best.chaos < declared_mess / 2):
        return Decoded(body.decode(guessed, errors="replace"), guessed, declared, "detected")
    if declared_text is not None:
        return Decoded(declared_text, codec, declared, "declared")
    return Decoded(body.decode("utf-8", errors="replace"), "utf-8", declared, "fallback")


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip()).name
    except LookupError:
        return None


def _same_codec(a: str, b: str) -> bool:
    return _codec(a) == _codec(b)
