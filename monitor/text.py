"""HTML fragments from feeds → plain text. Nothing from a feed is kept as markup."""

from __future__ import annotations

import html
import re

from selectolax.lexbor import LexborHTMLParser

_WS = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
_BLOCK_TAGS = ("p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "tr", "section", "article")


def html_to_text(fragment: str | None) -> str:
    """Visible text of an HTML fragment, paragraphs kept as blank-line breaks."""
    if not fragment:
        return ""
    if "<" not in fragment:
        return _tidy(html.unescape(fragment))
    tree = LexborHTMLParser(f"<body>{fragment}</body>")
    tree.strip_tags(["script", "style", "noscript", "template", "iframe", "object", "embed"])
    body = tree.body
    if body is None:
        return ""
    for tag in _BLOCK_TAGS:
        for node in body.css(tag):
            node.insert_after("\n\n")
    return _tidy(body.text(separator=""))


def _tidy(text: str) -> str:
    lines = (_WS.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
