"""Digests: the stories of a batch, rendered as HTML, plain text, Markdown and JSON.

Everything that came from a feed is text; the HTML template autoescapes it, and the Markdown
filter neutralises the characters chat services would read as markup, so a title like
`<script>` arrives as the words, never as code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from monitor.items import SourceHealth, Story
from monitor.notify import Message
from monitor.notify.markup import http_url, link_url, markdown_hits, markdown_text, one_line
from monitor.secrets import redact

LANGUAGE_NAMES = {"en": "English", "uk": "Ukrainian", "ru": "Russian"}
FAILING_FOOTER_AFTER = timedelta(hours=24)
_HIT = re.compile(r"\*\*(.+?)\*\*")


@dataclass(frozen=True)
class DigestView:
    name: str
    generated_at: datetime             # aware, in the user's time zone
    stories: list[Story]
    health: list[SourceHealth]

    @property
    def long_failing(self) -> list[SourceHealth]:
        cutoff = self.generated_at - FAILING_FOOTER_AFTER
        return [h for h in self.health if h.status == "failing" and h.failing_since and h.failing_since <= cutoff]


def _shown(health: list[SourceHealth]) -> list[SourceHealth]:
    """Source health as a digest shows it: no error carries a ${VAR} value. The store keeps them out
    of what it writes; a row written before it did is redacted here."""
    return [replace(h, error=redact(h.error), note=redact(h.note)) for h in health]


# --- rendering ---------------------------------------------------------------------------------

def _environment() -> Environment:
    env = Environment(loader=PackageLoader("monitor", "templates"),
                      autoescape=select_autoescape(["html"], default_for_string=False, default=False),
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    # Feed text is folded to one line in every format (a line break in a title forged lines in
    # plain-text mail and broke Markdown links); only http(s) URLs become links (`link` is "").
    env.filters["line"] = one_line
    env.filters["link"] = link_url    # Markdown, text: also percent-encodes what would end the link
    env.filters["href"] = http_url    # for HTML, which autoescapes
    env.filters["hits_html"] = lambda text: Markup(_HIT.sub(
        lambda m: f'<mark style="background:#fff3b0;padding:0 2px">{m.group(1)}</mark>', str(escape(one_line(text)))))
    env.filters["md"] = markdown_escape
    env.filters["hits_md"] = markdown_hits  # escapes everything but our own **hit** marks
    return env


def markdown_escape(text: str) -> str:
    """Text that chat Markdown shows as written, on one line: every Markdown-significant character
    escaped, angle brackets as look-alikes (Slack and Discord read <…> as mentions and links, some
    renderers pass raw HTML through), `@` followed by a zero-width joiner (no mention)."""
    return markdown_text(text)


class Renderer:
    def __init__(self, timezone_name: str):
        self.tz = ZoneInfo(timezone_name)
        self.env = _environment()

    def local(self, moment: datetime | None) -> str:
        if moment is None:
            return ""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.astimezone(self.tz).strftime("%d %b %Y, %H:%M")

    def subject(self, view: DigestView) -> str:
        count = len(view.stories)
        noun = "report" if count == 1 else "reports"
        return f"{view.name}: {count} new {noun} on deported Ukrainian children — {view.generated_at:%d %b %Y}"

    def payload(self, view: DigestView, stories: list[Story]) -> dict:
        """The JSON document (file channel, webhook): the contract external tools read."""
        return {
            "digest": view.name,
            "generated_at": view.generated_at.isoformat(timespec="seconds"),
            "stories": [{
                "title": one_line(s.title), "url": s.url, "source": s.source,
                "published": s.published.isoformat(timespec="seconds") if s.published else None,
                "lang": s.lang, "topics": s.topics, "snippet": s.snippet, "also": s.also,
            } for s in stories],
            "source_health": [{
                "source": h.source, "status": h.status, "error": redact(h.error),
                "failing_since": h.failing_since.isoformat(timespec="seconds") if h.failing_since else None,
            } for h in view.health],
        }

    def render(self, template: str, view: DigestView, stories: list[Story], part: int = 1, parts: int = 1,
               footer: bool = True) -> str:
        return self.env.get_template(template).render(
            view=view, stories=stories, part=part, parts=parts, local=self.local, subject=self.subject(view),
            languages=LANGUAGE_NAMES, failing=_shown(view.long_failing) if footer else [])

    def messages(self, view: DigestView, delivery_id: str, max_chars: int | None, markup: str = "markdown") -> list[Message]:
        """The digest as one message, or as several when a channel limits the size: stories are
        never cut in half (a single story longer than the limit goes alone).

        The grouping of stories depends on the stories alone, never on source health: a retry
        re-renders the batch and resumes after the parts already sent, so a footer that appeared
        or vanished in between (a source recovered) must not move a story into a part already
        sent (dropped) or back out of one (repeated). The footer goes in the last part, or in a
        part of its own when it does not fit there.
        """
        template = {"markdown": "digest.md", "html": "digest.html", "text": "digest.txt"}[markup]
        bare = replace(view, health=[])
        groups: list[list[Story]] = [[]]
        if max_chars:
            for story in view.stories:
                candidate = groups[-1] + [story]
                if groups[-1] and len(self.render(template, bare, candidate, 99, 99)) > max_chars:
                    groups.append([story])
                else:
                    groups[-1] = candidate
            if groups[-1] and view.long_failing and len(self.render(template, view, groups[-1], 99, 99)) > max_chars:
                groups.append([])  # the footer alone
        else:
            groups = [list(view.stories)]
        parts = len(groups)
        return [Message(
            delivery_id=delivery_id, digest=view.name, subject=self.subject(view),
            text=self.render("digest.txt", view, group, n, parts, footer=n == parts),
            markdown=self.render("digest.md", view, group, n, parts, footer=n == parts),
            html=self.render("digest.html", view, group, n, parts, footer=n == parts),
            payload=self.payload(view, group), part=n, parts=parts,
        ) for n, group in enumerate(groups, start=1)]
