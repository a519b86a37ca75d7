"""Digests: the stories of a batch, rendered as HTML, plain text, Markdown and JSON.

Everything that came from a feed is text; the HTML template autoescapes it, and the Markdown
filter neutralises the characters chat services would read as markup, so a title like
`<script>` arrives as the words, never as code.

What a reader sees: a heading naming the digest and the period it covers (times with their zone,
everywhere); the stories grouped by topic, newest first; a snippet only when it adds to the
headline (a first sentence that repeats it is dropped), its hits marked (the matcher marks the
words that decided the match); links without tracking parameters. The plain-text form carries no
`**` marks. The JSON document lists the stories of a part oldest first, as the store gives them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote_plus, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from monitor.items import SourceHealth, Story
from monitor.notify import Message
from monitor.notify.markup import http_url, link_url, markdown_hits, markdown_text, one_line
from monitor.secrets import redact
from monitor.urls import is_tracking_param

LANGUAGE_NAMES = {"en": "English", "uk": "Ukrainian", "ru": "Russian"}
FAILING_FOOTER_AFTER = timedelta(hours=24)
_HIT = re.compile(r"\*\*(.+?)\*\*")
_WORD = re.compile(r"\w+")
TIME_FORMAT = "%d %b %Y, %H:%M %Z"   # 24 Nov 2026, 08:05 EET


@dataclass(frozen=True)
class DigestView:
    name: str
    generated_at: datetime             # aware, in the user's time zone
    stories: list[Story]
    health: list[SourceHealth]
    since: datetime | None = None      # start of the period covered: the last batch to this channel
    kind: str = "digest"               # or "alert": what the heading calls it

    @property
    def long_failing(self) -> list[SourceHealth]:
        cutoff = self.generated_at - FAILING_FOOTER_AFTER
        return [h for h in self.health if h.status == "failing" and h.failing_since and h.failing_since <= cutoff]


def _shown(health: list[SourceHealth]) -> list[SourceHealth]:
    """Source health as a digest shows it: no error carries a ${VAR} value. The store keeps them out
    of what it writes; a row written before it did is redacted here."""
    return [replace(h, error=redact(h.error), note=redact(h.note)) for h in health]


def display_url(url: str) -> str:
    """The link as the outlet published it, without its tracking parameters (utm_*, fbclid, …:
    monitor/urls.py); everything else, the order of the rest of the query included, as written."""
    if "?" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    pairs = parts.query.split("&")
    kept = [pair for pair in pairs if pair and not is_tracking_param(unquote_plus(pair.split("=", 1)[0]))]
    if len(kept) == len(pairs):
        return url
    return urlunsplit(parts._replace(query="&".join(kept)))


def _words(text: str) -> list[str]:
    return [word.casefold() for word in _WORD.findall(text.replace("**", ""))]


def _repeats(piece: str, title: str) -> bool:
    """Whether a snippet's first sentence(s) are the headline again: its words are the title's, in
    order, most of them (a title's markup or a cut long title leaves some out)."""
    words, title_words = _words(piece), _words(title)
    if not words or not title_words:
        return False
    remaining = iter(title_words)
    return all(word in remaining for word in words) and len(words) >= 0.6 * len(title_words)


def without_headline(snippet: str, title: str) -> str:
    """The snippet, less a first sentence that repeats the headline (the matcher starts a snippet
    with the title when the title holds hits, joined by " — "); "" when nothing else is left."""
    pieces = snippet.split(" — ")
    for count in range(1, len(pieces) + 1):
        if _repeats(" — ".join(pieces[:count]), title):
            return " — ".join(pieces[count:]).strip()
    return snippet


def plain(text: str) -> str:
    """A snippet for plain text: its **hit** marks dropped (an e-mail's text part shows no Markdown)."""
    return _HIT.sub(lambda m: m.group(1), one_line(text))


def _readable(story: Story) -> Story:
    """A story as a reader is shown it: links without tracking parameters, no snippet repeating
    the headline."""
    return replace(story, url=display_url(story.url), snippet=without_headline(story.snippet, story.title),
                   also=[{**other, "url": display_url(str(other.get("url") or ""))} for other in story.also])


def _newest_first(story: Story) -> tuple:
    published = story.published
    if published is not None and published.tzinfo is None:
        published = published.replace(tzinfo=timezone.utc)
    return (published is not None, published or datetime.min.replace(tzinfo=timezone.utc), story.item_id)


def by_topic(stories: list[Story]) -> list[tuple[str, list[Story]]]:
    """Stories grouped by topic (a story with several under the first), topics by name, newest
    first within each; stories without a topic last, under ""."""
    groups: dict[str, list[Story]] = {}
    for story in stories:
        groups.setdefault(story.topics[0] if story.topics else "", []).append(story)
    return [(topic, sorted(groups[topic], key=_newest_first, reverse=True))
            for topic in sorted(groups, key=lambda name: (name == "", name))]


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
    env.filters["plain"] = plain            # text: the hit marks dropped
    return env


def markdown_escape(text: str) -> str:
    """Text that chat Markdown shows as written, on one line: every Markdown-significant character
    escaped, angle brackets as look-alikes (Slack and Discord read <…> as mentions and links, some
    renderers pass raw HTML through), `@` followed by a zero-width joiner (no mention)."""
    return markdown_text(text)


class Renderer:
    def __init__(self, timezone_name: str):
        self.tz = ZoneInfo(timezone_name)
        self.timezone_name = timezone_name
        self.env = _environment()

    def local(self, moment: datetime | None) -> str:
        """A time in the user's zone, with the zone: `24 Nov 2026, 08:05 EET`."""
        if moment is None:
            return ""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.astimezone(self.tz).strftime(TIME_FORMAT)

    def period(self, view: DigestView) -> str:
        """What the digest covers: from the last digest to this channel (or its oldest story) to
        when it was made, in the user's zone, named: `24 Nov 2026, 08:00 EET – 25 Nov 2026, 08:00 EET
        (Europe/Kyiv)`."""
        end = view.generated_at.astimezone(self.tz)
        start = view.since
        if start is None:
            times = [s.published for s in view.stories if s.published is not None]
            start = min(times, key=lambda t: t if t.tzinfo else t.replace(tzinfo=timezone.utc)) if times else None
        if start is None:
            return f"up to {self.local(end)} ({self.timezone_name})"
        return f"{self.local(start)} – {self.local(end)} ({self.timezone_name})"

    def subject(self, view: DigestView) -> str:
        count = len(view.stories)
        noun = "report" if count == 1 else "reports"
        return f"{view.name}: {count} new {noun} on deported Ukrainian children — {view.generated_at:%d %b %Y}"

    def ordered(self, stories: list[Story]) -> list[Story]:
        """The order a reader meets the stories in: by topic, newest first (monitor.digest.by_topic)."""
        return [story for _, group in by_topic(stories) for story in group]

    def payload(self, view: DigestView, stories: list[Story]) -> dict:
        """The JSON document (file channel, webhook): the contract external tools read. Its stories
        keep the store's order (oldest first); links lose their tracking parameters."""
        position = {id(story): index for index, story in enumerate(view.stories)}
        stories = sorted(stories, key=lambda story: position.get(id(story), len(position)))
        return {
            "digest": view.name,
            "generated_at": view.generated_at.isoformat(timespec="seconds"),
            "stories": [{
                "title": one_line(s.title), "url": display_url(s.url), "source": s.source,
                "published": s.published.isoformat(timespec="seconds") if s.published else None,
                "lang": s.lang, "topics": s.topics, "snippet": s.snippet,
                "also": [{**other, "url": display_url(str(other.get("url") or ""))} if other.get("url") else other
                         for other in s.also],
                **({"removed_at": s.removed_at.isoformat(timespec="seconds")} if s.removed_at else {}),
            } for s in stories],
            "source_health": [{
                "source": h.source, "status": h.status, "error": redact(h.error),
                "failing_since": h.failing_since.isoformat(timespec="seconds") if h.failing_since else None,
            } for h in view.health],
        }

    def render(self, template: str, view: DigestView, stories: list[Story], part: int = 1, parts: int = 1,
               footer: bool = True) -> str:
        groups = [(topic, [_readable(story) for story in group]) for topic, group in by_topic(stories)]
        return self.env.get_template(template).render(
            view=view, groups=groups, stories=stories, part=part, parts=parts, local=self.local,
            period=self.period(view), zone=self.timezone_name, subject=self.subject(view),
            languages=LANGUAGE_NAMES, failing=_shown(view.long_failing) if footer else [])

    def messages(self, view: DigestView, delivery_id: str, max_chars: int | None, markup: str = "markdown") -> list[Message]:
        """The digest as one message, or as several when a channel limits the size: stories are
        never cut in half (a single story longer than the limit goes alone), and go in the order
        a reader meets them (by topic, newest first).

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
            for story in self.ordered(view.stories):
                candidate = groups[-1] + [story]
                if groups[-1] and len(self.render(template, bare, candidate, 99, 99)) > max_chars:
                    groups.append([story])
                else:
                    groups[-1] = candidate
            if groups[-1] and view.long_failing and len(self.render(template, view, groups[-1], 99, 99)) > max_chars:
                groups.append([])  # the footer alone
        else:
            groups = [self.ordered(view.stories)]
        parts = len(groups)
        return [Message(
            delivery_id=delivery_id, digest=view.name, subject=self.subject(view),
            text=self.render("digest.txt", view, group, n, parts, footer=n == parts),
            markdown=self.render("digest.md", view, group, n, parts, footer=n == parts),
            html=self.render("digest.html", view, group, n, parts, footer=n == parts),
            payload=self.payload(view, group), part=n, parts=parts,
        ) for n, group in enumerate(groups, start=1)]
