"""The `monitor` command."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence

import click

from monitor.config import Config, ConfigError, load_config, resolve_config_path
from monitor.logs import setup_logging

log = logging.getLogger("monitor")

EXIT_USAGE = 2


class _Context:
    def __init__(self, config_path: str | None, log_format: str, verbose: int):
        self.config_path = resolve_config_path(config_path)
        self.log_format = log_format
        self.verbose = verbose
        self._config: Config | None = None

    def config(self) -> Config:
        """Load and validate sources.yaml once; a problem ends the command with exit code 2."""
        if self._config is None:
            try:
                self._config = load_config(self.config_path)
            except ConfigError as exc:
                click.echo(f"error: {exc}", err=True)
                sys.exit(EXIT_USAGE)
            setup_logging(self.log_format, self.verbose, self._config.secrets)
        return self._config


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "-c", "config_path", metavar="PATH", envvar="MONITOR_CONFIG", show_envvar=True,
              help="Configuration file.  [default: ./sources.yaml]")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Log lines on stderr: for people (text) or for machines (json).")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debugging).")
@click.version_option(package_name="monitor")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, log_format: str, verbose: int) -> None:
    """Watch news sources for reports on Ukrainian children deported, abducted or forcibly
    transferred by Russia, store them in SQLite and send digests.

    \b
    Start here:
      monitor check           validate sources.yaml
      monitor poll            poll every source once and show what came in
      monitor run             run the service (polls on schedule until stopped)
    """
    setup_logging(log_format, verbose)
    ctx.obj = _Context(config_path, log_format, verbose)


@cli.command()
@click.pass_obj
def check(obj: _Context) -> None:
    """Validate the configuration and exit (0 valid, 2 invalid)."""
    config = obj.config()
    by_type: dict[str, int] = {}
    for source in config.sources:
        by_type[source.type] = by_type.get(source.type, 0) + 1
    kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(by_type.items()))
    click.echo(f"{config.path}: OK, {len(config.sources)} sources ({kinds}); database {config.database_path}")


@cli.command()
@click.pass_obj
def run(obj: _Context) -> None:
    """Run the service in the foreground: poll every source on its interval until SIGTERM or Ctrl-C."""
    from monitor.service import run_service

    config = obj.config()
    asyncio.run(run_service(config))


@cli.command()
@click.option("--source", "-s", "names", multiple=True, metavar="NAME",
              help="Poll only this source (repeatable).  [default: all enabled sources]")
@click.pass_obj
def poll(obj: _Context, names: Sequence[str]) -> None:
    """Poll sources once, store new items, print a table and exit.

    A failing source is reported in the table; it does not make the command fail.
    """
    from monitor.fetch import Fetcher
    from monitor.article import complete_items
    from monitor.dedup import load_index
    from monitor.pipeline import build_matcher, poll_all, utc_now
    from monitor.service import user_agent_for
    from monitor.store import Store

    config = obj.config()
    if names:
        known = {s.name for s in config.sources}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise click.UsageError(f"no source named {unknown[0]!r} in {config.path} "
                                   f"(see 'monitor sources list')")
        selected = [config.source(n) for n in names]
    else:
        selected = [s for s in config.sources if s.enabled]

    matcher = build_matcher(config)

    async def go():
        store = Store(config.database_path)
        try:
            async with Fetcher(config.settings.fetch, user_agent_for(config)) as fetcher:
                return await poll_all(selected, fetcher=fetcher, store=store, matcher=matcher,
                                      enrich=complete_items, stories=load_index(store, utc_now()))
        finally:
            store.close()

    reports = asyncio.run(go())
    rows = [[r.source, r.status, str(r.new_items), str(len(r.matched_ids)), f"{r.seconds:.2f}s",
             r.error or r.warning or ""] for r in reports]
    click.echo(_table(["source", "status", "new", "matched", "time", "note"], rows))
    failing = sum(1 for r in reports if r.status == "failing")
    matched = sum(len(r.matched_ids) for r in reports)
    click.echo(f"{len(reports)} sources polled, {sum(r.new_items for r in reports)} new items, "
               f"{matched} matched, {failing} failing")


@cli.command()
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--topic", "-t", "topic_names", multiple=True, metavar="NAME",
              help="Only this topic (repeatable).  [default: every topic]")
@click.pass_obj
def classify(obj: _Context, file, topic_names: Sequence[str]) -> None:
    """Classify texts: FILE is JSON lines with id, title and text ('-' reads stdin).

    Writes one JSON line per input: {"id", "match", "topics", "lang", "terms", "snippet"}.
    Uses the topics of sources.yaml when it exists, else the shipped ones.
    """
    from monitor.pipeline import build_matcher
    from monitor.topics import Matcher, classify_jsonl, default_topics

    if obj.config_path.exists():
        matcher = build_matcher(obj.config())
    else:
        matcher = Matcher(default_topics())
    if topic_names:
        chosen = [t for t in matcher.topics if t.name in topic_names]
        missing = set(topic_names) - {t.name for t in chosen}
        if missing:
            known = ", ".join(sorted(t.name for t in matcher.topics))
            raise click.UsageError(f"unknown topic {sorted(missing)[0]!r} (known: {known})")
        matcher = Matcher(chosen)
    for line in classify_jsonl(file, matcher):
        click.echo(line)


@cli.command()
@click.argument("name", required=False)
@click.option("--preview", is_flag=True, help="Render what the digest would hold now; send and mark nothing.")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), metavar="FILE",
              help="With --preview: write to FILE (.html, .md, .txt or .json) instead of stdout.")
@click.option("--now", "send_now", is_flag=True, help="Build the digest and deliver it now.")
@click.option("--channel", metavar="NAME", help="With --preview: preview for this channel.  [default: the first]")
@click.pass_obj
def digest(obj: _Context, name: str | None, preview: bool, out: str | None, send_now: bool, channel: str | None) -> None:
    """Preview a digest, or send it now.

    \b
      monitor digest --preview              the first digest, as Markdown on stdout
      monitor digest daily --preview --out d.html
      monitor digest daily --now            build, deliver, mark the stories sent
    """
    from monitor.delivery import Dispatcher
    from monitor.pipeline import utc_now
    from monitor.store import Store

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

    store = Store(config.database_path)
    try:
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
            if out:
                with open(out, "w", encoding="utf-8") as handle:
                    handle.write(text)
                click.echo(f"{len(view.stories)} stories previewed to {out}", err=True)
            else:
                click.echo(text)
            return
        reports = asyncio.run(dispatcher.run_digest(entry, utc_now()))
    finally:
        store.close()
    if not reports:
        click.echo(f"digest {entry.name!r}: nothing new to send")
    for report in reports:
        state = "delivered" if report.delivered else f"NOT delivered (will retry): {report.error}"
        click.echo(f"digest {report.digest!r} → {report.channel}: {report.stories} stories, {state}")


@cli.group()
def channels() -> None:
    """Inspect and test notification channels."""


@channels.command("list")
@click.pass_obj
def channels_list(obj: _Context) -> None:
    """List channels and the digests that use them."""
    config = obj.config()
    rows = []
    for name, options in config.channels.items():
        users = [d.name for d in config.digests + config.alerts if d.channels is None or name in d.channels]
        rows.append([name, options.type, ", ".join(users)])
    click.echo(_table(["channel", "type", "used by"], rows))


@channels.command("test")
@click.argument("name")
@click.pass_obj
def channels_test(obj: _Context, name: str) -> None:
    """Send a short test message through channel NAME (nothing is marked sent)."""
    import uuid

    from monitor.digest import DigestView, Renderer, Story
    from monitor.notify import DeliveryError, make_channel
    from monitor.pipeline import utc_now

    config = obj.config()
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
        click.echo(f"channel {name!r} failed: {exc}", err=True)
        sys.exit(1)
    click.echo(f"channel {name!r}: test message accepted")


@cli.group()
def sources() -> None:
    """Inspect configured sources."""


@sources.command("list")
@click.pass_obj
def sources_list(obj: _Context) -> None:
    """List sources with their type, interval and health."""
    from monitor.store import Store

    config = obj.config()
    health: dict[str, dict] = {}
    if config.database_path.exists():
        store = Store(config.database_path)
        try:
            health = {row["name"]: row for row in store.source_rows()}
        finally:
            store.close()
    rows = []
    for source in config.sources:
        row = health.get(source.name, {})
        status = "disabled" if not source.enabled else row.get("last_status", "new")
        rows.append([source.name, source.type, _interval(source.interval.total_seconds()), status,
                     str(row.get("items_total", 0)), (row.get("last_ok") or "-")[:16].replace("T", " "),
                     row.get("last_error") or ""])
    click.echo(_table(["source", "type", "every", "status", "items", "last ok (UTC)", "error"], rows))


from monitor.commands import extract, sources_add  # noqa: E402  (verbs written in their own modules)

cli.add_command(extract)
sources.add_command(sources_add, "add")


def _interval(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _table(header: list[str], rows: list[list[str]], max_width: int = 70) -> str:
    cells = [header] + [[c if len(c) <= max_width else c[: max_width - 1] + "…" for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="monitor", standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
