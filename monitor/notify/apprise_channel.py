"""`type: apprise`: Slack, Discord, Telegram, Teams, Matrix, ntfy and the rest, through Apprise.

The body is the digest's Markdown, in which feed text is already inert (monitor/notify/markup.py:
escaped, one line, no `<…>`, no live `@`); Apprise turns it into each service's dialect. Discord
also gets `allowed_mentions`, so nothing in a message pings but what the URL's `?ping=` asks for.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from monitor.notify.base import Channel, ChannelConfig, DeliveryError, Message, register

# Message size limits of common services (characters), with room for Apprise's own framing.
_LIMITS = {"discord": 1900, "tgram": 4000, "slack": 3500, "msteams": 20000, "matrix": 16000,
           "matrixs": 16000, "ntfy": 3500, "ntfys": 3500}
_DEFAULT_LIMIT = 3500


class AppriseChannelConfig(ChannelConfig):
    urls: list[str]


@register("apprise")
class AppriseChannel(Channel):
    options = AppriseChannelConfig

    @property
    def max_chars(self) -> int | None:
        if self.config.max_chars:
            return self.config.max_chars
        schemes = [urlsplit(url).scheme.lower() for url in self.config.urls]
        return min((_LIMITS.get(s, _DEFAULT_LIMIT) for s in schemes), default=_DEFAULT_LIMIT)

    async def send(self, message: Message) -> None:
        import apprise  # heavy import, only when a chat channel is used

        logging.getLogger("apprise").setLevel(logging.ERROR)  # its URLs may carry tokens
        notifier = apprise.Apprise()
        for url in self.config.urls:
            if not notifier.add(url):
                raise DeliveryError(f"apprise {self.name}: unsupported or malformed URL "
                                    f"(scheme {urlsplit(url).scheme!r})")
        for server in notifier:
            _allow_only_configured_mentions(server)
        title = message.subject if message.parts == 1 else f"{message.subject} ({message.part}/{message.parts})"
        ok = await notifier.async_notify(body=message.markdown, title=title,
                                         body_format=apprise.NotifyFormat.MARKDOWN)
        if not ok:
            raise DeliveryError(f"apprise {self.name}: the service did not accept the message")


def _allow_only_configured_mentions(server) -> None:
    """Discord pings whatever mention its webhook content holds unless the payload carries
    `allowed_mentions`, and Apprise sends none (its own field is spelt `allow_mentions`, which
    Discord ignores). Every payload of this server gets one: no pings (`{"parse": []}`), or only
    those the URL's own `?ping=` names."""
    from apprise.plugins.discord import NotifyDiscord

    if not isinstance(server, NotifyDiscord):
        return
    allowed: dict = {"parse": []}
    configured = getattr(server, "ping", None)
    if configured:
        asked = server.ping_payload(" ".join(configured)).get("allow_mentions") or {}
        if {"everyone", "here"} & set(asked.get("parse") or ()):
            allowed["parse"] = ["everyone"]  # Discord's name for both @everyone and @here
        for kind in ("users", "roles"):
            if asked.get(kind):
                allowed[kind] = sorted(asked[kind])[:100]
    send = server._send

    def send_with_allowed_mentions(payload, *args, **kwargs):
        payload = {key: value for key, value in payload.items() if key != "allow_mentions"}
        return send({**payload, "allowed_mentions": allowed}, *args, **kwargs)

    server._send = send_with_allowed_mentions
