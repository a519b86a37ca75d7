"""What every channel shares: its options, the message it is given, the registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from monitor.options import Strict
from monitor.registry import Registry


class DeliveryError(Exception):
    """The channel did not accept the message; the outbox will try again later."""


class ChannelConfig(Strict):
    type: str
    max_chars: int | None = None  # split longer digests into several messages; None: channel default


@dataclass(frozen=True)
class Message:
    """One part of a rendered digest, in every format a channel may want."""

    delivery_id: str          # stable across retries: receivers can drop a repeat
    digest: str
    subject: str
    text: str                 # plain text
    markdown: str             # chat
    html: str                 # e-mail, files
    payload: dict[str, Any]   # the JSON document (webhook, file)
    part: int = 1
    parts: int = 1
    headers: dict[str, str] = field(default_factory=dict)


class Channel:
    type_name: ClassVar[str]
    options: ClassVar[type[ChannelConfig]] = ChannelConfig
    default_max_chars: ClassVar[int | None] = None  # None: never split
    markup: ClassVar[str] = "markdown"             # the format whose length max_chars limits

    def __init__(self, name: str, config: ChannelConfig, *, base_dir: Path):
        self.name = name
        self.config = config
        self.base_dir = base_dir

    @property
    def max_chars(self) -> int | None:
        return self.config.max_chars or self.default_max_chars

    async def send(self, message: Message) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        pass


CHANNEL_TYPES: Registry[type[Channel]] = Registry("channel type")
register = CHANNEL_TYPES.register


def channel_types() -> Registry[type[Channel]]:
    return CHANNEL_TYPES


def make_channel(name: str, config: ChannelConfig, base_dir: Path) -> Channel:
    return CHANNEL_TYPES[config.type](name, config, base_dir=base_dir)
