"""`monitor channels list|test`: the notification channels."""

from __future__ import annotations

import asyncio
import sys

import click

from monitor.commands.context import Context, table
from monitor.secrets import redact


@click.group()
def channels() -> None:
    """Inspect and test notification channels."""


@channels.command("list")
@click.pass_obj
def channels_list(obj: Context) -> None:
    """List channels and the digests that use them."""
    config = obj.config()
    rows = []
    for name, options in config.channels.items():
        users = [d.name for d in config.digests + config.alerts if d.channels is None or name in d.channels]
        rows.append([name, options.type, ", ".join(users)])
    click.echo(table(["channel", "type", "used by"], rows))


@channels.command("test")
@click.argument("name")
@click.pass_obj
def channels_test(obj: Context, name: str) -> None:
    """Send a short test message through channel NAME (nothing is marked sent)."""
    import uuid

    from monitor.clock import utc_now
    from monitor.digest import DigestView, Renderer
    from monitor.items import Story
    from monitor.notify import DeliveryError, make_channel

    config = obj.config()
    if name in config.unavailable_channels:
        click.echo(f"error: {config.unavailable_channels[name]}; channel {name!r} cannot be used until it is set",
                   err=True)
        sys.exit(2)
    if name not in config.channels:
        raise click.UsageError(f"no channel named {name!r} (known: {', '.join(config.channels)})")
    renderer = Renderer(config.settings.timezone)
    story = Story(0, "Test message from monitor", "https://example.org/monitor-test", "monitor", utc_now(), "en",
                  ["test"], "If you can read this, the channel **works**.")
    view = DigestView("channel test", utc_now(), [story], [])
    channel = make_channel(name, config.channels[name], config.path.parent)
    message = renderer.messages(view, uuid.uuid4().hex, None)[0]
    try:
        asyncio.run(channel.send(message))
    except DeliveryError as exc:
        click.echo(redact(f"channel {name!r} failed: {exc}"), err=True)
        sys.exit(1)
    click.echo(f"channel {name!r}: test message accepted")
