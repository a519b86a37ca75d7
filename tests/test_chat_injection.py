"""Chat injection (issue 10, fault 7): feed text carrying mentions, Markdown, line breaks and hostile
URLs, rendered into a digest and delivered through each channel to a real local receiver; what
arrives must show the text as written and ping, style, link or break nothing.

Apprise's own Discord, Slack and Telegram code builds and POSTs each payload; only the service's
base address is pointed at the local receiver. Matrix (webhook mode) takes a host of its own.
"""

from __future__ import annotations

import asyncio
import html
import re
from dataclasses import replace
from datetime import datetime
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import markdown
import pytest

from monitor.digest import DigestView, Renderer
from monitor.notify import make_channel
from monitor.notify.markup import ZWJ, http_url, link_url, markdown_hits, markdown_text, one_line
from tests.support.digests import make_config, story
from tests.support.receiver import Receiver, SmtpInbox

GENERATED = datetime(2026, 11, 25, 8, 0, tzinfo=ZoneInfo("Europe/Kyiv"))
MENTIONS = "@everyone @here @room @channel <!channel> <!here> <!subteam^S1> <@U123> <#C123> <@&456> <@!789>"
TITLE = (f"Children deported\nfrom Kherson\r\n{MENTIONS} **x** _y_ `z` ~~s~~ ||spoiler|| [click](https://evil.example)"
         " &#64;everyone &#x40;here # not a heading")
SNIPPET = (f"**deported** to Russia {MENTIONS} &#64;room _y_ `z` [click](https://evil.example) ![i](https://evil.example/i)"
           "\n- list item\n# heading\n1. numbered\n> quoted\n    indented code")
URL = 'https://ledger.example/ukraine/a"b c(d)<e>\'f'
URL_ENCODED = "https://ledger.example/ukraine/a%22b%20c%28d%29%3Ce%3E%27f"
ALSO = [{"url": "javascript:alert(1)", "source": "Other outlet", "title": "same"},
        {"url": " JaVa\tScRiPt:alert(2)", "source": "Third outlet", "title": "same"},
        {"url": "https://other.example/same?x=(1)", "source": "Fourth outlet", "title": "same"}]

# A mention any of the services would act on: a bare @word, Slack/Discord <…> tokens, and entities
# that decode to "@" or "<".
LIVE = re.compile(r"(?<![\w\u200d])@(?:everyone|here|room|channel)\b|<[@#!]|&#0*64;|&#x0*40;|&lt;[@#!]", re.I)


def hostile_view() -> DigestView:
    s = replace(story(1, title=TITLE, snippet=SNIPPET), url=URL, also=ALSO)
    return DigestView("daily", GENERATED, [s], [])


def message(max_chars=None):
    [m] = Renderer("Europe/Kyiv").messages(hostile_view(), "c" * 32, max_chars)
    return m


def apprise_channel(tmp_path, url: str):
    config = make_config(tmp_path, f"""
        channels:
          chat: {{type: apprise, urls: ["{url}"]}}
    """)
    return make_channel("chat", config.channels["chat"], tmp_path)


def assert_inert_text(text: str) -> None:
    """What a reader of the service sees: every mention and markup shown, none live."""
    assert not LIVE.search(text), LIVE.search(text)
    assert "@" + ZWJ + "everyone" in text and "@" + ZWJ + "here" in text and "@" + ZWJ + "room" in text
    assert "javascript" not in text.lower()
    assert "evil.example" in text  # the fake link's target is shown as words


class Tags(HTMLParser):
    def __init__(self, source: str):
        super().__init__(convert_charrefs=True)
        self.tags, self.hrefs, self.text = [], [], []
        self.feed(source)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "a":
            self.hrefs.append(dict(attrs).get("href"))

    def handle_data(self, data):
        self.text.append(data)


def assert_inert_html(source: str, *, headings: int = 0) -> None:
    page = Tags(source)
    # One link per http(s) URL of the digest (the story and the one http also-reported-by), each
    # whole: the quote, space, parentheses and brackets did not cut the story's link.
    assert page.hrefs == [URL_ENCODED, "https://other.example/same?x=%281%29"], page.hrefs
    assert page.tags.count("em") == 1, page.tags  # the template's meta line; never the feed's _y_
    assert not {"li", "ol", "ul", "blockquote", "code", "pre", "img", "del", "s", "table"} & set(page.tags), page.tags
    assert page.tags.count("h1") + page.tags.count("h2") == headings, page.tags
    # Bold: the digest name, the story's title line and the one hit; never the feed's **x**.
    assert page.tags.count("strong") == 3, page.tags
    text = "".join(page.text)
    assert "**x**" in text and "`z`" in text and "[click](https://evil.example)" in text
    assert_inert_text(text)


def assert_title_on_one_line(markdown_body: str) -> None:
    [line] = [line for line in markdown_body.splitlines() if "Children deported" in line]
    assert "from Kherson" in line and line.startswith("**[") and line.endswith(f"]({URL_ENCODED})**")


# --- the rendered formats --------------------------------------------------------------------------

def test_markdown_digest_shows_hostile_feed_text_as_written():
    m = message()
    assert_title_on_one_line(m.markdown)
    [snippet_line] = [line for line in m.markdown.splitlines() if "to Russia" in line]
    assert "indented code" in snippet_line and snippet_line.startswith("**deported**")
    assert "Also reported by: Other outlet, Third outlet, [Fourth outlet](https://other.example/same?x=%281%29)" \
        in m.markdown
    assert_inert_html(markdown.markdown(m.markdown))


def test_plain_text_keeps_one_line_per_title_and_snippet():
    text = message().text
    lines = text.splitlines()
    [title_line] = [line for line in lines if "Children deported" in line]
    assert title_line.startswith("1. Children deported from Kherson @everyone")
    assert not any(line.startswith(("from Kherson", "- list", "# heading", "1. numbered", "> quoted"))
                   for line in lines)
    [snippet_line] = [line for line in lines if "to Russia" in line]
    assert snippet_line.strip().endswith("> quoted indented code")
    # The story's URL whole (a mail client links up to the first space or quote), and only http(s).
    assert f"   {URL_ENCODED}" in lines and "javascript" not in text.lower()
    assert "Also reported by: Other outlet, Third outlet, Fourth outlet (https://other.example/same?x=%281%29)" in text


def test_html_links_only_http_urls_and_keeps_them_whole():
    page = Tags(message().html)
    assert page.hrefs == [URL, "https://other.example/same?x=(1)"]
    assert "javascript" not in message().html.lower()
    assert "<strong>x</strong>" not in message().html and "**x**" in html.unescape(message().html)


# --- each service, through Apprise, to a local receiver -------------------------------------------

@pytest.fixture
def receiver():
    with Receiver() as hook:
        yield hook


def test_discord_gets_no_live_mention_and_allowed_mentions_none(tmp_path, receiver, monkeypatch):
    from apprise.plugins.discord import NotifyDiscord

    monkeypatch.setattr(NotifyDiscord, "notify_url", receiver.url("/api/webhooks"))
    m = message()
    asyncio.run(apprise_channel(tmp_path, "discord://111222333/webhook-token").send(m))
    [post] = receiver.accepted
    assert post.path == "/api/webhooks/111222333/webhook-token"
    body = post.json()
    assert body["allowed_mentions"] == {"parse": []}
    assert "allow_mentions" not in body
    content = body["content"]
    assert_inert_text(content)
    assert_title_on_one_line(content)
    assert "\\*\\*x\\*\\*" in content and "\\`z\\`" in content and "\\|\\|spoiler\\|\\|" in content


def test_discord_pings_only_what_the_url_asks_for(tmp_path, receiver, monkeypatch):
    from apprise.plugins.discord import NotifyDiscord

    monkeypatch.setattr(NotifyDiscord, "notify_url", receiver.url("/api/webhooks"))
    asyncio.run(apprise_channel(tmp_path, "discord://111222333/webhook-token?ping=@here").send(message()))
    [post] = receiver.accepted
    assert post.json()["allowed_mentions"] == {"parse": ["everyone"]}
    assert_inert_text(post.json()["content"].replace("👉 @here", ""))


def test_slack_gets_no_live_mention(tmp_path, receiver, monkeypatch):
    from apprise.plugins.slack import NotifySlack

    monkeypatch.setattr(NotifySlack, "api_url", receiver.url("/api/{}"))
    asyncio.run(apprise_channel(tmp_path, "slack://xoxb-1234-1234-abc124/#newsroom").send(message()))
    [post] = receiver.accepted
    assert post.path == "/api/chat.postMessage"
    text = post.json()["attachments"][0]["text"]
    assert_inert_text(text)
    # Slack's own markup: <url|label> is the story's link and the one http also-reported-by only.
    assert re.findall(r"<([^>|]+)\|", text) == [URL_ENCODED, "https://other.example/same?x=%281%29"]
    [title_line] = [line for line in text.splitlines() if "Children deported" in line]
    assert "from Kherson" in title_line and title_line.startswith(f"*<{URL_ENCODED}|Children deported")


def test_telegram_gets_no_live_mention(tmp_path, receiver, monkeypatch):
    from apprise.plugins.telegram import NotifyTelegram

    monkeypatch.setattr(NotifyTelegram, "notify_url", receiver.url("/bot"))
    asyncio.run(apprise_channel(tmp_path, "tgram://123456789:AAbbCCddEEff-GGhh_IIjj/987654").send(message()))
    [post] = [p for p in receiver.accepted if p.path.endswith("/sendMessage")]
    text = post.json()["text"]
    assert_inert_text(text)
    assert not re.search(r"(?<![\w\u200d])@\w", text)  # Telegram links any @username
    [title_line] = [line for line in text.splitlines() if "Children deported" in line]
    assert "from Kherson" in title_line and title_line.endswith(f"]({URL_ENCODED})*")


def test_matrix_gets_whole_links_and_no_live_mention(tmp_path, receiver):
    url = f"matrix://hooktoken@127.0.0.1:{receiver.port}/?mode=matrix"
    asyncio.run(apprise_channel(tmp_path, url).send(message()))
    [post] = receiver.accepted
    assert post.path == "/api/v1/matrix/hook/hooktoken"
    body = post.json()
    assert body["format"] == "html"
    assert_inert_html(body["text"], headings=1)  # Apprise's own heading: the subject


# --- the other channels ---------------------------------------------------------------------------

def test_email_plain_part_has_one_line_per_title(tmp_path):
    with SmtpInbox.serving() as (inbox, port):
        config = make_config(tmp_path, f"""
            channels:
              mail: {{type: email, host: 127.0.0.1, port: {port}, security: none,
                      from: monitor@digest.example, to: [editor@newsroom.example], timeout: 5}}
        """)
        m = Renderer("Europe/Kyiv").messages(hostile_view(), "c" * 32, None, "html")[0]
        asyncio.run(make_channel("mail", config.channels["mail"], tmp_path).send(m))
        [mail] = inbox.messages()
    plain, rich = mail.get_payload()
    lines = plain.get_content().splitlines()
    [title_line] = [line for line in lines if "Children deported" in line]
    assert "from Kherson" in title_line
    assert not any(line.startswith(("from Kherson", "- list", "# heading")) for line in lines)
    assert Tags(rich.get_content()).hrefs == [URL, "https://other.example/same?x=(1)"]


def test_file_channel_markdown_is_inert(tmp_path):
    config = make_config(tmp_path, 'channels:\n  files: {type: file, path: "out"}\n')
    m = message()
    asyncio.run(make_channel("files", config.channels["files"], tmp_path).send(m))
    [md] = (tmp_path / "out").glob("*.md")
    assert_inert_html(markdown.markdown(md.read_text("utf-8")))


def test_webhook_document_carries_the_data_with_one_line_titles(tmp_path, receiver):
    config = make_config(tmp_path, f'channels:\n  hook: {{type: webhook, url: "{receiver.url()}"}}\n')
    asyncio.run(make_channel("hook", config.channels["hook"], tmp_path).send(message()))
    [entry] = receiver.accepted[0].json()["stories"]
    # The contract is data, for the receiver to escape for its own use; a title is one line.
    assert entry["title"] == "Children deported from Kherson " + TITLE.split("\r\n", 1)[1]
    assert (entry["snippet"], entry["url"], entry["also"]) == (SNIPPET, URL, ALSO)


# --- the helpers ------------------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["javascript:alert(1)", "JAVASCRIPT:alert(1)", " javascript:alert(1)",
                                 "java\tscript:alert(1)", "java\nscript:alert(1)", "\x00javascript:alert(1)",
                                 "data:text/html,<script>", "vbscript:x", "mailto:a@b.example", "file:///etc/passwd",
                                 "//evil.example/x", "http:/no-host", "https://[::1", "", None])
def test_only_http_urls_become_links(url):
    assert http_url(url) == "" and link_url(url) == ""


def test_link_url_encodes_what_would_end_a_link():
    assert link_url('https://x.example/a b"c\'d(e)f<g>h\\i`j|k') == \
        "https://x.example/a%20b%22c%27d%28e%29f%3Cg%3Eh%5Ci%60j%7Ck"
    assert link_url(" https://x.example/a\n") == "https://x.example/a"
    assert link_url("HTTPS://x.example/%41?q=1&r=2#f") == "HTTPS://x.example/%41?q=1&r=2#f"


def test_one_line_folds_every_line_break():
    assert one_line("a\nb\r\nc\rd\te\x0bf\x0cg\x1ch\x85i\u2028j\u2029k \n  l") == "a b c d e f g h i j k l"
    assert one_line("keeps  double spaces and trailing ") == "keeps  double spaces and trailing "
    assert one_line(None) == ""


def test_markdown_text_escapes_block_markers_and_mentions():
    assert markdown_text("- item") == "\\- item"
    assert markdown_text("+ item") == "\\+ item"
    assert markdown_text("12. item") == "12\\. item"
    assert markdown_text("3) item") == "3\\) item"
    assert markdown_text("    code") == "code"
    assert markdown_text("=== x") == "\\=== x"
    assert markdown_text("U.S. and 1.5 - fine") == "U.S. and 1.5 - fine"  # only at a line's start
    assert markdown_text("@everyone a@b.example") == f"@{ZWJ}everyone a@{ZWJ}b.example"
    assert markdown_text("&#64;room &amp; Tom & Jerry") == f"&{ZWJ}\\#64;room &{ZWJ}amp; Tom & Jerry"
    assert markdown_text("<@U1> <!here>") == f"‹@{ZWJ}U1› ‹\\!here›"


def test_markdown_hits_keeps_hit_marks_only():
    assert markdown_hits("**deported** _x_ **Росії**") == "**deported** \\_x\\_ **Росії**"
    assert markdown_hits("- **hit** at the start\nnext") == "\\- **hit** at the start next"
    assert markdown_hits("an unpaired ** mark") == "an unpaired \\*\\* mark"
    assert markdown_hits("**@here**") == f"**@{ZWJ}here**"


def test_asterisks_in_feed_text_never_become_hit_marks():
    from monitor.topics import build_matcher

    result = build_matcher().classify(
        "Russia deported **12** Ukrainian children", "Russia deported 12 Ukrainian children from **occupied** Kherson.")
    assert result.match
    marked = result.snippet.replace("**", "")
    assert "*" not in marked and "∗∗12∗∗" in result.snippet
