"""Channels, registered by the name used as `type:` under `channels:` in sources.yaml.

A channel delivers one rendered message and raises DeliveryError when the other side did not
accept it; it knows nothing of polling, stories or the outbox. To add one, subclass Channel
(monitor/notify/base.py) in a module here, decorate it with @register("name"), give it an
`options` model, and import the module below.
"""

from monitor.notify import apprise_channel, email, file, webhook  # noqa: F401  (each registers its type)
from monitor.notify.base import (CHANNEL_TYPES, Channel, ChannelConfig, DeliveryError, Message, channel_types,
                                 make_channel, register)

__all__ = ["CHANNEL_TYPES", "Channel", "ChannelConfig", "DeliveryError", "Message", "channel_types", "make_channel",
           "register"]
