"""`type: apprise`: Slack, Discord, Telegram, Teams, Matrix, ntfy and the rest, through Apprise."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from monitor.notify import Channel, ChannelConfig, DeliveryError, Message, register

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
        title = message.subject if message.parts == 1 else f"{message.subject} ({message.part}/{message.parts})"
        ok = await notifier.async_notify(body=message.markdown, title=title,
                                         body_format=apprise.NotifyFormat.MARKDOWN)
        if not ok:
            raise DeliveryError(f"apprise {self.name}: the service did not accept the message")
