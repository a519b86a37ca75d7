"""HTML fragments from feeds → plain text. Nothing from a feed is kept as markup."""

from __future__ import annotations

import html
import re

from selectolax.lexbor import LexborHTMLParser

from monitor import encoding
from monitor.markup import bounded

# Runs of spaces that change when folded to one space: a lone space is not a match (most are, and
# each match is a substitution).
_WS = re.compile(r"[\t\r\f\v\u00a0][ \t\r\f\v\u00a0]*+| [ \t\r\f\v\u00a0]++")
_BLANK_LINES = re.compile(r"\n\s*\n+")
_AROUND_NEWLINE = re.compile(r" *\n *")
_BLOCK_TAGS = frozenset({"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "tr", "section",
                         "article"})
_INVISIBLE_TAGS = ("script", "style", "noscript", "template", "iframe", "object", "embed")
# The start of one of them, in any ASCII case (as lowering the fragment found them): one scan
# instead of a lowered copy searched seven times, a tenth of reading a summary.
_INVISIBLE_START = re.compile("<(?:" + "|".join(_INVISIBLE_TAGS) + ")", re.IGNORECASE | re.ASCII)


def html_to_text(fragment: str | None) -> str:
    """Visible text of an HTML fragment, paragraphs kept as blank-line breaks."""
    if not fragment:
        return ""
    if "<" not in fragment:
        return _tidy(html.unescape(fragment))
    invisible = _INVISIBLE_START.search(fragment) is not None
    if not invisible:
        stripped = _strip_tags(fragment)
        if "<" not in stripped:  # every '<' opened a plain tag
            return _tidy(html.unescape(stripped))
    if fragment.count("<") > _PARSER_MAX_TAGS:
        return _text_by_scan(fragment, fragment.lower())
    return html_to_text_parsed(fragment, invisible)


# A summary holds tens of tags, an article's full text a few hundred; past this many, a tree is not
# worth building (a megabyte of tags costs the parser and the walk below seconds, linear as they
# are) and the text is read by a scan at regular-expression speed.
_PARSER_MAX_TAGS = 20_000
_HIDDEN = re.compile(r"<!--|<[!?]|</(?![A-Za-z])|<(" + "|".join(_INVISIBLE_TAGS) + r")(?![A-Za-z0-9])", re.IGNORECASE)


def _text_by_scan(fragment: str, lowered: str) -> str:
    """Visible text without a parser: comments and invisible elements cut out, plain tags read as
    on the quick path, any other '<' kept as text. Linear, however the fragment is made."""
    parts, pos = [], 0
    while True:
        match = _HIDDEN.search(fragment, pos)
        if match is None:
            parts.append(fragment[pos:])
            break
        parts.append(fragment[pos:match.start()])
        hidden = (match.group(1) or "").lower()
        if match.group(0) == "<!--":
            close, length = fragment.find("-->", match.end()), 3
        elif hidden and hidden != "embed":  # the element and all inside it, to the end of its end tag
            end_tag = lowered.find("</" + hidden, match.end())
            close, length = (fragment.find(">", end_tag), 1) if end_tag >= 0 else (-1, 0)
        else:  # a bogus comment (<!DOCTYPE>, <?...>, </ x>) or an <embed> tag
            close, length = fragment.find(">", match.end()), 1
        if close < 0:
            break  # open to the end: nothing more is visible
        pos = close + length
    return _tidy(html.unescape(_strip_tags("".join(parts))))


def html_to_text_parsed(fragment: str, invisible: bool = True) -> str:
    """The same through a real HTML parser (for anything beyond simple markup)."""
    tree = LexborHTMLParser(f"<body>{bounded(fragment)}</body>")  # bounded: linear time on any markup
    if invisible:  # skip the costly pass when none can be there
        tree.strip_tags(list(_INVISIBLE_TAGS))
    body = tree.body
    if body is None:
        return ""
    # One walk over the elements, rather than a CSS query per block tag (3x faster on feed summaries).
    for node in [n for n in body.traverse(include_text=False) if n.tag in _BLOCK_TAGS]:
        node.insert_after("\n\n")
    return _tidy(body.text(separator=""))


# Most feed summaries are plain tags around text (<p>, <b>, <a href>, <img>): those are read with
# a regular expression, five times faster than building a DOM. Anything an HTML parser would read
# differently (comments, CDATA, scripts, a '<' that does not open a tag, '>' inside an attribute
# value) takes the parser.
# Every quantifier is possessive, so the pattern never backtracks: one attempt scans at most to the
# next '<' (no part of it crosses one), and a whole fragment is read in linear time. The old form,
# `\s+[^<>"']*`, let two quantifiers share the same spaces: `<a` and 30,000 spaces took seconds.
# Possessive matching accepts exactly the same tags: giving a character back could never let
# the next part match, since each stops only at a character the next must begin with.
_TAG_TAIL = r"(?:\s[^<>\"']*+(?:(?:\"[^\"<>]*+\"|'[^'<>]*+')[^<>\"']*+)*+)?+/?>"
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*+)" + _TAG_TAIL)
# The tags that end a block (and <br>) become a paragraph break, the others nothing: substitutions
# by a string, no Python call per tag (a megabyte of tags in a tenth of the time). A match holds
# one '<', its first character, so _BREAK finds exactly the block tags _TAG would find. They are
# first marked "<\0", which stops a tag left open before them as their '<' did and opens none.
_BREAK = re.compile(r"<(?:/(?:" + "|".join(sorted(_BLOCK_TAGS)) + r")|br)(?![A-Za-z0-9])" + _TAG_TAIL, re.IGNORECASE)


def _strip_tags(fragment: str) -> str:
    if "\0" in fragment:
        return _TAG.sub(_tag_break, fragment)
    return _TAG.sub("", _BREAK.sub("<\0", fragment)).replace("<\0", "\n\n")


def _tag_break(match: re.Match) -> str:
    return "\n\n" if match.group(2).lower() in _BLOCK_TAGS and (match.group(1) or match.group(2).lower() == "br") \
        else ""


def _tidy(text: str) -> str:
    """Runs of spaces to one, lines trimmed, blank lines to one."""
    # Each regular expression is run only where it can change something: finding a substring is
    # fifteen times faster than a scan by the regex engine, and most text has nothing to fold.
    if "  " in text or any(space in text for space in _OTHER_SPACES):
        text = _WS.sub(" ", text)
    if "\n" not in text:
        return text.strip()
    if " \n" in text or "\n " in text:
        text = _AROUND_NEWLINE.sub("\n", text)
    return _BLANK_LINES.sub("\n\n", text).strip()


_OTHER_SPACES = ("\t", "\r", "\f", "\v", "\u00a0")  # what _WS folds beside a run of spaces


# --- helpers shared by the source types, extraction and digests ---------------------------------

# A URL sources.yaml or a user may give: http(s), a host, no spaces.
HTTP_URL = re.compile(r"^https?://[^/\s?#]+\S*$", re.IGNORECASE)


def truncate_at_word(text: str, limit: int, ellipsis: str = "…") -> str:
    """The text with its runs of spaces folded, cut at the last whole word within `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + ellipsis


def node_text(node) -> str:
    """The visible text of an HTML node (selectolax), spaces folded; "" for no node."""
    return " ".join(node.text(deep=True, separator=" ").split()) if node is not None else ""


def parse_html(body: bytes, content_type: str = "") -> LexborHTMLParser:
    """An HTML page as a tree, decoded by its declared or detected charset, in linear time whatever
    the markup (monitor.markup.bounded: nesting, options and attributes kept within limits)."""
    decoded = encoding.decode(body, content_type)
    return LexborHTMLParser(bounded(decoded.text if decoded is not None else body.decode("utf-8", errors="replace")))
