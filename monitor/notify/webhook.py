"""`type: webhook`: the digest's JSON document POSTed to a URL, optionally signed."""

from __future__ import annotations

import hashlib
import hmac
import json


from monitor import __version__
from monitor.notify.base import Channel, ChannelConfig, DeliveryError, Message, register

SIGNATURE_HEADER = "X-Monitor-Signature"
DELIVERY_HEADER = "X-Monitor-Delivery"


class WebhookChannelConfig(ChannelConfig):
    url: str
    headers: dict[str, str] = {}
    secret: str | None = None     # HMAC-SHA256 of the body, sent as "sha256=<hex>"
    timeout: float = 20.0


@register("webhook")
class WebhookChannel(Channel):
    options = WebhookChannelConfig

    async def send(self, message: Message) -> None:
        body = json.dumps({**message.payload, "part": message.part, "parts": message.parts,
                           "delivery_id": message.delivery_id}, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": f"monitor/{__version__}",
                   DELIVERY_HEADER: f"{message.delivery_id}-{message.part}", **self.config.headers}
        if self.config.secret:
            digest = hmac.new(self.config.secret.encode(), body, hashlib.sha256).hexdigest()
            headers[SIGNATURE_HEADER] = f"sha256={digest}"
        import httpx  # loaded by the first delivery, not by every command

        try:
            async with httpx.AsyncClient(timeout=self.config.timeout, trust_env=False) as client:
                response = await client.post(self.config.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"webhook {self.name}: {type(exc).__name__}: {exc or 'no answer'}") from exc
        if not response.is_success:
            raise DeliveryError(f"webhook {self.name}: HTTP {response.status_code} {response.reason_phrase}")
