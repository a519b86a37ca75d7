"""`monitor digest`: preview a digest, or send it now."""

from __future__ import annotations

import asyncio

import click

from monitor.commands.context import Context, open_store


@click.command()
@click.argument("name", required=False)
@click.option("--preview", is_flag=True, help="Render what the digest would hold now; send and mark nothing.")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), metavar="FILE",
              help="With --preview: write to FILE (.html, .md, .txt or .json) instead of stdout.")
@click.option("--now", "send_now", is_flag=True, help="Build the digest and deliver it now.")
@click.option("--channel", metavar="NAME", help="With --preview: preview for this channel.  [default: the first]")
@click.pass_obj
def digest(obj: Context, name: str | None, preview: bool, out: str | None, send_now: bool, channel: str | None) -> None:
    """Preview a digest, or send it now.

    \b
      monitor digest --preview              the first digest, as Markdown on stdout
      monitor digest daily --preview --out d.html
      monitor digest daily --now            build, deliver, mark the stories sent
    """
    from monitor.clock import utc_now
    from monitor.delivery import Dispatcher

    config = obj.config()
    if preview == send_now:
        raise click.UsageError("choose one of --preview or --now")
    entries = {d.name: d for d in config.digests}
    if name is None:
        entry = config.digests[0]
    elif name in entries:
        entry = entries[name]
    else:
        raise click.UsageError(f"no digest named {name!r} (known: {', '.join(entries)})")
    if channel and channel not in config.channels:
        raise click.UsageError(f"no channel named {channel!r} (known: {', '.join(config.channels)})")

    # --preview only reads (a read-only database is fine); --now claims and marks stories.
    with open_store(config, read_only=preview) as store:
        dispatcher = Dispatcher(config, store)
        if preview:
            view = dispatcher.preview(entry, channel)
            renderer = dispatcher.renderer
            kind = (out or "x.md").rsplit(".", 1)[-1].lower()
            if kind == "json":
                import json

                text = json.dumps(renderer.payload(view, view.stories), ensure_ascii=False, indent=2)
            else:
                template = {"html": "digest.html", "htm": "digest.html", "txt": "digest.txt"}.get(kind, "digest.md")
                text = renderer.render(template, view, view.stories)
            text = config.redactor(text)  # what the preview shows or writes holds no secret
            if out:
                with open(out, "w", encoding="utf-8") as handle:
                    handle.write(text)
                click.echo(f"{len(view.stories)} stories previewed to {out}", err=True)
            else:
                click.echo(text)
            return
        reports = asyncio.run(dispatcher.run_digest(entry, utc_now()))
    if not reports:
        click.echo(f"digest {entry.name!r}: nothing new to send")
    for report in reports:
        state = "delivered" if report.delivered else f"NOT delivered (will retry): {config.redactor(report.error)}"
        click.echo(f"digest {report.digest!r} → {report.channel}: {report.stories} stories, {state}")
