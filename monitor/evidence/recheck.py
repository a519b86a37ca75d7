"""What a recheck of a captured page found: live, changed or gone.

`live`: the same payload (SHA-256) as the latest capture. `changed`: another payload, with the
article's text still on the page (the new page is captured beside the old). `gone`: the page
answers 404, 410 or 451, or its text is no longer on the page (a removed article often redirects
to the home page, or leaves a "page not found" page that answers 200). `unreachable`: no answer
worth judging (a timeout, a 5xx, a refused connection): the page's state is unknown, and the
recheck is tried again later.
"""

from __future__ import annotations

import re

from monitor.text import parse_html

GONE_STATUSES = frozenset({404, 410, 451})
# The text of an item is "still on the page" when at least this share of its passages is.
STILL_THERE = 0.5
_PASSAGE_WORDS = 8
_MAX_PASSAGES = 40
_NON_WORD = re.compile(r"\W+")


def words(text: str) -> list[str]:
    return _NON_WORD.sub(" ", text.casefold()).split()


def page_words(body: bytes, content_type: str) -> str:
    """The visible text of a page, as one line of casefolded words."""
    try:
        tree = parse_html(body, content_type)
        for node in tree.css("script, style, noscript, template"):
            node.decompose()
        text = tree.body.text(separator=" ") if tree.body is not None else ""
    except Exception:  # not HTML, or a page the parser chokes on: read it as text
        text = body.decode("utf-8", errors="replace")
    return " " + " ".join(words(text)) + " "


def still_there(item_text: str, body: bytes, content_type: str) -> bool:
    """Whether the item's text is (mostly) on the page: at least half of its passages of eight
    words (evenly spread over the text, at most 40) appear on it word for word."""
    said = words(item_text)
    if not said:
        return True  # nothing to look for: a changed page is "changed", not "gone"
    page = page_words(body, content_type)
    if len(said) < _PASSAGE_WORDS:
        return f" {' '.join(said)} " in page
    starts = range(0, len(said) - _PASSAGE_WORDS + 1, _PASSAGE_WORDS)
    step = max(1, len(starts) // _MAX_PASSAGES)
    passages = [" " + " ".join(said[start:start + _PASSAGE_WORDS]) + " " for start in starts[::step]]
    found = sum(1 for passage in passages if passage in page)
    return found >= STILL_THERE * len(passages)
