"""Feed text made inert for the markup each channel reads.

Everything a digest quotes from a feed (titles, snippets, source errors) is untrusted: it may carry
line breaks that forge new lines, Markdown that restyles or fakes links, and chat mentions that
would ping a whole room (`@everyone`, `@here`, `@room`, Slack's `<!channel>`, `<@U…>`, `<#C…>`,
Discord's `<@&role>`). The helpers here make such text read as written:

- `one_line`: line breaks and other control characters folded to one space (every format);
- `markdown_text` / `markdown_hits`: Markdown for chat, every Markdown-significant character
  escaped, angle brackets as look-alikes (Slack and Discord read `<…>` as mentions and links),
  and a zero-width joiner after `@` so no service reads a mention;
- `http_url` / `link_url`: an http(s) URL for an href / a Markdown link, or "" (render no link).
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

ZWJ = "\u200d"  # after "@": reads the same, is no mention anywhere

_BREAKS = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
_FOLD = re.compile(rf"[ {_BREAKS}]*[{_BREAKS}][ {_BREAKS}]*")
_URL_EDGES = re.compile(r"^[\x00-\x20]+|[\x00-\x20]+$")
_HIT = re.compile(r"\*\*(.+?)\*\*")
# Inline Markdown (CommonMark, GFM, Discord, Slack): emphasis, code, links, images, strikethrough,
# spoilers and tables, headings.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]()#|~!])")
# "&" where it would start an entity (&#64;room is "@room" once decoded): a backslash does not hold
# it everywhere (Apprise's Markdown-to-HTML emits the bare "&"), a joiner after it does.
_ENTITY = re.compile(r"&(?=#?[0-9A-Za-z]{1,32};)")
# Block markers that only count at the start of a line: lists, breaks, setext underlines, quotes.
_MD_LEADING = re.compile(r"^(?:([-+=])|(\d{1,9})([.)]))")
_MENTION = re.compile(r"@(?=[\w&!#])")
# Characters that end or split a link destination, an href or Slack's <url|label>, or are invisible.
_URL_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f-\x9f\"'()<>\\`|\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")
LINK_SCHEMES = ("http", "https")


def one_line(text: object) -> str:
    """The text on one line: line breaks, tabs and control characters become one space."""
    return _FOLD.sub(" ", str(text or ""))


def no_mentions(text: str) -> str:
    """`@everyone`, `@here`, `@room`, `@user` (and `&#64;room`) shown as written, read by no service
    as a mention or an entity."""
    return _ENTITY.sub("&" + ZWJ, _MENTION.sub("@" + ZWJ, text))


def _inline(text: str, *, line_start: bool) -> str:
    # Look-alikes first: escaping ">" and then replacing it left a stray backslash before "›".
    text = text.replace("<", "‹").replace(">", "›")
    text = _MD_SPECIAL.sub(lambda m: "\\" + m.group(), text)
    if line_start:  # indentation would make a code block, a leading "-" or "1." a list
        text = _MD_LEADING.sub(lambda m: f"\\{m[1]}" if m[1] else f"{m[2]}\\{m[3]}", text.lstrip(" "))
    return text


def markdown_text(text: object) -> str:
    """Feed text as chat Markdown that shows it as written: one line, nothing it could style,
    link, quote, list or mention."""
    return _inline(no_mentions(one_line(text)), line_start=True)


def markdown_hits(text: object) -> str:
    """A snippet as chat Markdown: its **hit** marks stay bold, everything else is `markdown_text`."""
    text = no_mentions(one_line(text))
    out, position = [], 0
    for hit in _HIT.finditer(text):
        out += [_inline(text[position:hit.start()], line_start=position == 0),
                "**", _inline(hit.group(1), line_start=False), "**"]
        position = hit.end()
    out.append(_inline(text[position:], line_start=position == 0))
    return "".join(out)


def http_url(url: object) -> str:
    """The URL when it is http(s), else "" (render no link): for an href, which autoescaping quotes.

    Browsers drop tabs and line breaks inside a URL and spaces around it, so they are dropped
    before the scheme is read (`java\\tscript:` is javascript:).
    """
    url = _URL_EDGES.sub("", re.sub(r"[\t\r\n]", "", str(url or "")))
    try:
        parts = urlsplit(url)
    except ValueError:      # e.g. an unbalanced IPv6 bracket
        return ""
    return url if parts.scheme.lower() in LINK_SCHEMES and parts.netloc else ""


def link_url(url: object) -> str:
    """`http_url`, ready for a Markdown link: quotes, spaces, parentheses, angle brackets,
    backslashes, backticks and pipes percent-encoded, as each could end the link early (a `"` cut
    Matrix links, a `)` Markdown's) or start markup of its own."""
    return _URL_UNSAFE.sub(lambda m: quote(m.group(), safe=""), http_url(url))
