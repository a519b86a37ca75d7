"""`type: email`: HTML e-mail with a plain-text alternative, over SMTP."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Literal

from pydantic import ConfigDict, Field

from monitor.notify.base import Channel, ChannelConfig, DeliveryError, Message, register


class EmailChannelConfig(ChannelConfig):
    host: str
    port: int = 587
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: str | None = None
    from_: str = Field(alias="from")
    to: list[str] = Field(min_length=1)
    timeout: float = 30.0

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def build_email(message: Message, sender: str, recipients: list[str]) -> EmailMessage:
    email = EmailMessage()
    email["Subject"] = message.subject if message.parts == 1 else f"{message.subject} ({message.part}/{message.parts})"
    email["From"] = sender
    email["To"] = ", ".join(recipients)
    email["Date"] = formatdate(localtime=False, usegmt=True)
    address = parseaddr(sender)[1]
    domain = address.rsplit("@", 1)[-1] if "@" in address else "monitor.local"
    # Derived from the delivery id only (make_msgid adds the time and a random number): a retried
    # send carries the same Message-ID, so the receiving side can drop the repeat.
    email["Message-ID"] = f"<{message.delivery_id}.{message.part}@{domain}>"
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(message.text, charset="utf-8")
    email.add_alternative(message.html, subtype="html", charset="utf-8")
    return email


@register("email")
class EmailChannel(Channel):
    options = EmailChannelConfig
    markup = "html"

    async def send(self, message: Message) -> None:
        import asyncio  # here: reading sources.yaml (`monitor check`) must not load it

        email = build_email(message, self.config.from_, self.config.to)
        try:
            await asyncio.to_thread(self._send_sync, email)
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"email {self.name}: {type(exc).__name__}: {exc}") from exc

    def _send_sync(self, email: EmailMessage) -> None:
        config = self.config
        if config.security == "ssl":
            smtp = smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout,
                                    context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
        with smtp:
            if config.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if config.username:
                smtp.login(config.username, config.password or "")
            smtp.send_message(email)
