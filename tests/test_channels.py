"""Channels against real local servers: SMTP (aiosmtpd), a webhook receiver, Apprise's JSON webhook,
files on disk; the registry and the `channels` verbs."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from datetime import datetime, timedelta
from email.utils import parseaddr, parsedate_to_datetime
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.config import ConfigError
from monitor.digest import DigestView, Renderer
from monitor.notify import DeliveryError, channel_types, make_channel
from monitor.notify.webhook import DELIVERY_HEADER, SIGNATURE_HEADER
from tests.support.digests import health, make_config, story
from tests.support.receiver import Receiver, SmtpInbox
from tests.support.server import free_port

KYIV = ZoneInfo("Europe/Kyiv")
GENERATED = datetime(2026, 11, 25, 8, 0, tzinfo=KYIV)
SCRIPT_TITLE = "<script>alert(1)</script> Children deported from Mariupol"
UK_TITLE = "Росія депортувала 12 українських дітей з окупованого Херсона"
RU_TITLE = "Россия депортировала 12 украинских детей из оккупированного Херсона"


def digest_view(name: str = "Ранковий огляд") -> DigestView:
    stories = [story(1, title=SCRIPT_TITLE),
               story(2, title=UK_TITLE, lang="uk", source="Вісник", snippet="**Росія депортувала** 12 дітей"),
               story(3, title=RU_TITLE, lang="ru", source="Правда Севера", snippet="**детей вывезли** в Россию")]
    return DigestView(name, GENERATED, stories,
                      [health("Ledger"), health("Мовчун", "failing", "HTTP 503", GENERATED - timedelta(days=3))])


def render(markup: str = "markdown", max_chars: int | None = None, delivery_id: str = "a1b2c3d4" * 4):
    return Renderer("Europe/Kyiv").messages(digest_view(), delivery_id, max_chars, markup)


# --- email ---------------------------------------------------------------------------------------

@pytest.fixture
def smtp():
    with SmtpInbox.serving() as (inbox, port):
        yield inbox, port


def email_channel(tmp_path, port: int, **extra):
    config = make_config(tmp_path, f"""
        channels:
          mail:
            type: email
            host: 127.0.0.1
            port: {port}
            security: none
            from: "Монітор дітей <monitor@digest.example>"
            to: [editor@newsroom.example, "Олена <olena@newsroom.example>"]
            timeout: 5
    """)
    return make_channel("mail", config.channels["mail"], tmp_path)


def test_email_through_a_real_smtp_server(tmp_path, smtp):
    inbox, port = smtp
    channel = email_channel(tmp_path, port)
    [message] = render("html")
    asyncio.run(channel.send(message))

    [envelope] = inbox.envelopes
    assert envelope.mail_from == "monitor@digest.example"
    assert envelope.rcpt_tos == ["editor@newsroom.example", "olena@newsroom.example"]
    [mail] = inbox.messages()
    assert mail.get_content_type() == "multipart/alternative"
    plain, html = mail.get_payload()
    assert plain.get_content_type() == "text/plain" and html.get_content_type() == "text/html"
    assert plain.get_content_charset() == "utf-8" and html.get_content_charset() == "utf-8"

    # Headers: Cyrillic survives the RFC 2047 round trip.
    assert str(mail["Subject"]) == message.subject and "Ранковий огляд" in str(mail["Subject"])
    assert parseaddr(str(mail["From"])) == ("Монітор дітей", "monitor@digest.example")
    assert [parseaddr(a.strip())[1] for a in str(mail["To"]).split(",")] == \
        ["editor@newsroom.example", "olena@newsroom.example"]
    assert "Олена" in str(mail["To"])
    sent = parsedate_to_datetime(str(mail["Date"]))
    assert sent.tzinfo is not None
    assert str(mail["Message-ID"]) == f"<{message.delivery_id}.1@digest.example>"
    assert mail["Auto-Submitted"] == "auto-generated"

    # Bodies: Cyrillic intact, the <script> title escaped in HTML and plain words in text.
    text_body, html_body = plain.get_content(), html.get_content()
    for body in (text_body, html_body):
        assert UK_TITLE in body and RU_TITLE in body and "Вісник" in body
    assert "<script>" not in html_body and "&lt;script&gt;alert(1)&lt;/script&gt;" in html_body
    assert SCRIPT_TITLE in text_body
    assert "Мовчун" in html_body and "HTTP 503" in html_body  # failing > 24 h footer
    assert '<meta name="viewport"' in html_body and "style=" in html_body  # inline CSS, phone-friendly


def test_email_retry_carries_the_same_message_id_and_parts_are_numbered(tmp_path, smtp):
    inbox, port = smtp
    channel = email_channel(tmp_path, port)
    whole = len(render("html")[0].html)
    messages = render("html", max_chars=whole * 3 // 4)
    assert len(messages) >= 2
    for message in messages:
        asyncio.run(channel.send(message))
    asyncio.run(channel.send(messages[0]))  # a retry after a crash before the outbox write
    mails = inbox.messages()
    ids = [str(m["Message-ID"]) for m in mails]
    assert ids[0] == ids[-1] and len(set(ids)) == len(messages)
    assert str(mails[0]["Subject"]).endswith(f"(1/{len(messages)})")
    assert str(mails[1]["Subject"]).endswith(f"(2/{len(messages)})")


def test_email_rejected_or_unreachable_is_a_delivery_error(tmp_path, smtp):
    inbox, port = smtp
    inbox.answer = "554 Transaction failed: spam"
    with pytest.raises(DeliveryError, match="554"):
        asyncio.run(email_channel(tmp_path, port).send(render("html")[0]))
    with pytest.raises(DeliveryError, match="mail"):
        asyncio.run(email_channel(tmp_path, free_port()).send(render("html")[0]))


# --- webhook -------------------------------------------------------------------------------------

def webhook_channel(tmp_path, url: str, secret: str | None = "s3cret-ключ"):
    secret_line = f'secret: "{secret}"' if secret else ""
    config = make_config(tmp_path, f"""
        channels:
          hook:
            type: webhook
            url: "{url}"
            headers: {{X-Team: documentation}}
            {secret_line}
            timeout: 5
    """)
    return make_channel("hook", config.channels["hook"], tmp_path)


def test_webhook_posts_the_json_document_signed(tmp_path):
    with Receiver() as hook:
        [message] = render()
        asyncio.run(webhook_channel(tmp_path, hook.url("/digest")).send(message))
        [post] = hook.accepted
    assert post.path == "/digest"
    assert post.headers["content-type"] == "application/json; charset=utf-8"
    assert post.headers["x-team"] == "documentation"
    assert post.headers[DELIVERY_HEADER.lower()] == f"{message.delivery_id}-1"
    expected = "sha256=" + hmac.new("s3cret-ключ".encode(), post.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(post.headers[SIGNATURE_HEADER.lower()], expected)
    body = post.json()
    assert body == {**message.payload, "part": 1, "parts": 1, "delivery_id": message.delivery_id}
    assert [s["title"] for s in body["stories"]] == [SCRIPT_TITLE, UK_TITLE, RU_TITLE]  # JSON carries raw text
    assert "Росія" in post.body.decode("utf-8")  # UTF-8, not \u escapes


def test_webhook_without_secret_sends_no_signature(tmp_path):
    with Receiver() as hook:
        asyncio.run(webhook_channel(tmp_path, hook.url(), secret=None).send(render()[0]))
        [post] = hook.accepted
    assert SIGNATURE_HEADER.lower() not in post.headers


def test_webhook_error_status_and_refused_connection_are_delivery_errors(tmp_path):
    with Receiver() as hook:
        hook.script = [500]
        with pytest.raises(DeliveryError, match="HTTP 500"):
            asyncio.run(webhook_channel(tmp_path, hook.url()).send(render()[0]))
        assert len(hook.posts) == 1 and not hook.accepted
    with pytest.raises(DeliveryError, match="hook"):
        asyncio.run(webhook_channel(tmp_path, f"http://127.0.0.1:{free_port()}/hook").send(render()[0]))


# --- apprise -------------------------------------------------------------------------------------

def apprise_channel(tmp_path, *urls: str, max_chars: int | None = None):
    listed = ", ".join(f'"{u}"' for u in urls)
    extra = f"max_chars: {max_chars}" if max_chars else ""
    config = make_config(tmp_path, f"""
        channels:
          chat:
            type: apprise
            urls: [{listed}]
            {extra}
    """)
    return make_channel("chat", config.channels["chat"], tmp_path)


def test_apprise_json_webhook_receives_the_markdown_digest(tmp_path):
    with Receiver() as hook:
        channel = apprise_channel(tmp_path, f"json://127.0.0.1:{hook.port}/apprise")
        [message] = render(max_chars=channel.max_chars)
        asyncio.run(channel.send(message))
        [post] = hook.accepted
    assert post.path == "/apprise"
    body = post.json()
    assert body["title"] == message.subject
    assert body["message"] == message.markdown.strip()  # Apprise trims the body's ends
    assert UK_TITLE in body["message"] and "<script" not in body["message"]


def test_apprise_failure_and_bad_url_are_delivery_errors(tmp_path):
    with Receiver() as hook:
        hook.script = [500]
        with pytest.raises(DeliveryError, match="did not accept"):
            asyncio.run(apprise_channel(tmp_path, f"json://127.0.0.1:{hook.port}/a").send(render()[0]))
    with pytest.raises(DeliveryError, match="did not accept"):
        asyncio.run(apprise_channel(tmp_path, f"json://127.0.0.1:{free_port()}/a").send(render()[0]))
    with pytest.raises(DeliveryError, match="unsupported or malformed"):
        asyncio.run(apprise_channel(tmp_path, "nosuchservice://token").send(render()[0]))


def test_apprise_size_limit_follows_the_strictest_service(tmp_path):
    assert apprise_channel(tmp_path, "json://127.0.0.1/a").max_chars == 3500
    assert apprise_channel(tmp_path, "tgram://123:abc/456", "discord://1/2").max_chars == 1900
    assert apprise_channel(tmp_path, "tgram://123:abc/456", max_chars=800).max_chars == 800


def test_apprise_parts_carry_their_number_in_the_title(tmp_path):
    with Receiver() as hook:
        channel = apprise_channel(tmp_path, f"json://127.0.0.1:{hook.port}/a", max_chars=700)
        messages = render(max_chars=channel.max_chars)
        assert len(messages) >= 2
        for message in messages:
            asyncio.run(channel.send(message))
        titles = [p.json()["title"] for p in hook.accepted]
    assert titles == [f"{messages[0].subject} ({n}/{len(messages)})" for n in range(1, len(messages) + 1)]
    assert all(len(p.json()["message"]) <= 700 for p in hook.accepted)


# --- file ----------------------------------------------------------------------------------------

def file_channel(tmp_path, path: str = "out"):
    config = make_config(tmp_path, f"""
        channels:
          files: {{type: file, path: "{path}"}}
    """)
    return make_channel("files", config.channels["files"], tmp_path)


def test_file_channel_writes_html_md_json_with_the_contract(tmp_path):
    [message] = render()
    asyncio.run(file_channel(tmp_path).send(message))
    files = sorted((tmp_path / "out").iterdir())
    assert [f.suffix for f in files] == [".html", ".json", ".md"]
    assert len({f.stem for f in files}) == 1 and message.delivery_id[:8] in files[0].stem
    document = json.loads((tmp_path / "out" / f"{files[0].stem}.json").read_text("utf-8"))
    assert document == message.payload
    assert list(document) == ["digest", "generated_at", "stories", "source_health"]
    for entry in document["stories"]:
        assert list(entry) == ["title", "url", "source", "published", "lang", "topics", "snippet", "also"]
    for entry in document["source_health"]:
        assert list(entry) == ["source", "status", "error", "failing_since"]
    html = (tmp_path / "out" / f"{files[0].stem}.html").read_text("utf-8")
    assert "&lt;script&gt;" in html and "<script>" not in html and UK_TITLE in html
    assert (tmp_path / "out" / f"{files[0].stem}.md").read_text("utf-8") == message.markdown


def test_file_channel_retry_replaces_and_parts_get_their_own_files(tmp_path):
    channel = file_channel(tmp_path)
    [message] = render()
    asyncio.run(channel.send(message))
    asyncio.run(channel.send(message))
    assert len(list((tmp_path / "out").iterdir())) == 3  # a retry replaces, never adds
    parts = render(max_chars=700, delivery_id="f" * 32)
    for part in parts:
        asyncio.run(channel.send(part))
    assert len(list((tmp_path / "out").glob("*-part*.json"))) == len(parts) >= 2
    assert not list((tmp_path / "out").glob("*.tmp"))


def test_file_channel_unwritable_folder_is_a_delivery_error(tmp_path):
    (tmp_path / "blocked").write_text("a file where the folder should be")
    with pytest.raises(DeliveryError, match="cannot write digest"):
        asyncio.run(file_channel(tmp_path, "blocked/sub").send(render()[0]))


# --- registry and configuration ------------------------------------------------------------------

def test_registry_knows_the_four_channel_types():
    assert {"file", "email", "webhook", "apprise"} <= set(channel_types())


def test_defaults_are_a_files_channel_and_a_daily_0800_digest(tmp_path):
    config = make_config(tmp_path, "")
    assert list(config.channels) == ["files"] and config.channels["files"].type == "file"
    [daily] = config.digests
    assert (daily.name, daily.schedule, daily.channels, daily.send_empty) == ("daily", "0 8 * * *", None, False)


def test_unknown_channel_type_and_unknown_channel_reference_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown channel type 'emial'; did you mean 'email'"):
        make_config(tmp_path, "channels:\n  x: {type: emial}\n")
    with pytest.raises(ConfigError, match="unknown channel 'nope'"):
        make_config(tmp_path, "digests:\n  - {name: d, channels: [nope]}\n")


# --- CLI -----------------------------------------------------------------------------------------

def test_cli_channels_list_and_test_against_the_local_receiver(tmp_path):
    with Receiver() as hook:
        make_config(tmp_path, f"""
            channels:
              hook: {{type: webhook, url: "{hook.url('/test')}", secret: "k"}}
              files: {{type: file}}
            digests:
              - {{name: morning, channels: [hook]}}
              - {{name: evening}}
        """)
        path = str(tmp_path / "sources.yaml")
        listing = CliRunner().invoke(cli, ["--config", path, "channels", "list"])
        assert listing.exit_code == 0, listing.output
        rows = {line.split()[0]: line.split(None, 2)[1:] for line in listing.stdout.splitlines()[2:]}
        assert rows == {"hook": ["webhook", "morning, evening"], "files": ["file", "evening"]}

        result = CliRunner().invoke(cli, ["--config", path, "channels", "test", "hook"])
        assert result.exit_code == 0, result.output
        assert "channel 'hook': test message accepted" in result.stdout
        [post] = hook.accepted
        assert post.path == "/test"
        assert post.headers[SIGNATURE_HEADER.lower()] == \
            "sha256=" + hmac.new(b"k", post.body, hashlib.sha256).hexdigest()
        assert post.json()["stories"][0]["title"] == "Test message from monitor"

        hook.script = [502]
        failed = CliRunner().invoke(cli, ["--config", path, "channels", "test", "hook"])
        assert failed.exit_code == 1 and "HTTP 502" in failed.output
        unknown = CliRunner().invoke(cli, ["--config", path, "channels", "test", "nope"])
        assert unknown.exit_code == 2 and "no channel named 'nope'" in unknown.output
    assert not (tmp_path / "digests").exists()  # a channel test writes nothing to the outbox or files
