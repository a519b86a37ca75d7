"""`monitor poll`: every source (or some) once, with a table of what came in and the titles of what
matched (every new title with -v), or one JSON document with --json. On a terminal, a poll that
takes a while shows its progress on stderr."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from monitor.commands.context import Context, open_store, table

if TYPE_CHECKING:
    from monitor.items import PollReport, Story
    from monitor.logs import StatusLine
    from monitor.sources import SourceConfig

PROGRESS_AFTER = 1.0    # seconds: a poll quicker than this shows no progress line
PROGRESS_EVERY = 0.25   # seconds between redraws of the line


@click.command()
@click.option("--source", "-s", "names", multiple=True, metavar="NAME",
              help="Poll only this source (repeatable).  [default: all enabled sources]")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON document instead of the table: each source's report and its new items.")
@click.option("--progress/--no-progress", default=None,
              help="A progress line on stderr while polling.  [default: when stderr is a terminal]")
@click.pass_obj
def poll(obj: Context, names: Sequence[str], as_json: bool, progress: bool | None) -> None:
    """Poll sources once, store new items, print a table and the titles of new matched items
    (-v: of every new item), and exit.

    A failing source is reported in the table; it does not make the command fail.
    """
    from monitor.logs import StatusLine
    from monitor.offload import Offload
    from monitor.pipeline import build_pipeline
    from monitor.postgres.hosts import shared_fetcher
    from monitor.sources import reads_articles

    config = obj.config()
    if names:
        known = {s.name for s in config.sources}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise click.UsageError(f"no source named {unknown[0]!r} in {config.path} "
                                   f"(see 'monitor sources list')")
        chosen = [config.source(n) for n in dict.fromkeys(names)]
    else:
        chosen = [s for s in config.sources if s.enabled or s.name in config.unavailable_sources]
    # A source with a ${VAR} that is not set is shown, not polled.
    selected = [s for s in chosen if s.name not in config.unavailable_sources]
    skipped = {s.name: config.unavailable_sources[s.name].message for s in chosen
               if s.name in config.unavailable_sources}
    show_progress = sys.stderr.isatty() if progress is None else progress

    async def go(store, status: StatusLine | None):
        with Offload(config.settings.document_timeout.total_seconds(), extraction=reads_articles(selected)) as offload:
            polled = {health.source for health in store.source_health() if health.last_ok is not None}
            if any(source.name not in polled for source in selected):  # one query, not one a source
                offload.start_early()  # a first poll reads every feed it fetches
            async with shared_fetcher(config) as fetcher:  # on PostgreSQL: politeness shared with workers
                pipeline = build_pipeline(config, fetcher=fetcher, store=store, offload=offload)
                if status is None:
                    return await pipeline.poll_all(selected)
                tracker = _Progress(selected, status)
                ticker = asyncio.create_task(tracker.tick())
                try:
                    return await pipeline.poll_all(selected, on_done=tracker.done)
                finally:
                    ticker.cancel()

    with open_store(config) as store:
        if show_progress:
            with StatusLine(sys.stderr) as status:
                reports = asyncio.run(go(store, status))
        else:
            reports = asyncio.run(go(store, None))
        ids = [i for r in reports for i in (r.new_ids if (as_json or obj.verbose) else r.matched_ids)]
        stories = {s.item_id: s for s in store.stories(ids)} if ids else {}

    if as_json:
        click.echo(config.redactor(json.dumps(_document(reports, skipped, stories, selected + [
            s for s in chosen if s.name in skipped]), ensure_ascii=False, indent=2)))
        return
    by_name = {r.source: r for r in reports}
    rows = []
    for source in chosen:
        r = by_name.get(source.name)
        if r is None:
            rows.append([source.name, "skipped", "-", "-", "-", skipped.get(source.name, "")])
        else:
            rows.append([r.source, r.status, str(r.new_items), str(len(r.matched_ids)), f"{r.seconds:.2f}s",
                         r.error or r.warning or ""])
    click.echo(table(["source", "status", "new", "matched", "time", "note"], rows))
    listing = _titles(reports, stories, every=obj.verbose > 0)
    if listing:
        click.echo()
        click.echo(config.redactor(listing))
        click.echo()
    failing = sum(1 for r in reports if r.status == "failing")
    matched = sum(len(r.matched_ids) for r in reports)
    click.echo(f"{len(reports)} sources polled, {sum(r.new_items for r in reports)} new items, "
               f"{matched} matched, {failing} failing" + (f", {len(skipped)} skipped" if skipped else ""))


def _titles(reports: list[PollReport], stories: dict[int, Story], every: bool) -> str:
    """The new items, title first: those that matched a topic, or (every) all of them, the
    matched marked `*`. Feed text is folded to one line: no control character reaches the terminal."""
    from monitor.notify.markup import one_line

    lines = []
    for report in reports:
        matched = set(report.matched_ids)
        for item_id in (report.new_ids if every else report.matched_ids):
            story = stories.get(item_id)
            if story is None:
                continue
            mark = ("* " if item_id in matched else "  ") if every else ""
            lines.append(f"  {mark}{one_line(story.title)}")
            lines.append(f"  {' ' * len(mark)}  {one_line(story.source)} · {one_line(story.url)}")
    if not lines:
        return ""
    total_matched = sum(len(r.matched_ids) for r in reports)
    if every:
        header = f"New items ({sum(len(r.new_ids) for r in reports)}; * matched a topic, {total_matched}):"
    else:
        header = f"New on topic ({total_matched}):"
    return "\n".join([header, *lines])


def _document(reports: list[PollReport], skipped: dict[str, str], stories: dict[int, Story],
              sources: list[SourceConfig]) -> dict:
    """`monitor poll --json`: the totals, then each source's report with its new items."""
    by_name = {r.source: r for r in reports}
    entries = []
    for source in sources:
        report = by_name.get(source.name)
        if report is None:
            entries.append({"source": source.name, "status": "skipped", "new": 0, "seen": 0, "matched": 0,
                            "seconds": 0.0, "error": skipped.get(source.name), "warning": None, "items": []})
            continue
        matched = set(report.matched_ids)
        items = []
        for item_id in report.new_ids:
            story = stories.get(item_id)
            if story is None:
                continue
            items.append({"id": item_id, "title": story.title, "url": story.url,
                          "published": story.published.isoformat(timespec="seconds") if story.published else None,
                          "lang": story.lang or None, "matched": item_id in matched, "topics": story.topics})
        entries.append({"source": report.source, "status": report.status, "new": report.new_items,
                        "seen": report.seen_items, "matched": len(report.matched_ids),
                        "seconds": round(report.seconds, 3), "error": report.error, "warning": report.warning,
                        "items": items})
    return {"polled": len(reports), "new": sum(r.new_items for r in reports),
            "matched": sum(len(r.matched_ids) for r in reports),
            "failing": sum(1 for r in reports if r.status == "failing"), "skipped": len(skipped),
            "sources": entries}


class _Progress:
    """What the progress line says: sources done of all, new matched items, failures, and the
    sources still being waited for. Drawn once the poll has taken PROGRESS_AFTER seconds."""

    def __init__(self, sources: list[SourceConfig], status: StatusLine):
        self.waiting = [s.name for s in sources]
        self.total = len(sources)
        self.status = status
        self.started = time.monotonic()
        self.matched = self.failing = 0

    def done(self, report: PollReport) -> None:
        if report.source in self.waiting:
            self.waiting.remove(report.source)
        self.matched += len(report.matched_ids)
        self.failing += report.status == "failing"
        self.draw()

    def draw(self) -> None:
        from monitor.notify.markup import one_line

        elapsed = time.monotonic() - self.started
        if elapsed < PROGRESS_AFTER or not self.waiting:
            return
        names = ", ".join(one_line(name) for name in self.waiting[:3])
        more = f" +{len(self.waiting) - 3}" if len(self.waiting) > 3 else ""
        self.status.show(f"polling: {self.total - len(self.waiting)}/{self.total} sources done, "
                         f"{self.matched} new matched, {self.failing} failing, {elapsed:.0f}s · waiting for "
                         f"{names}{more}")

    async def tick(self) -> None:
        while True:
            await asyncio.sleep(PROGRESS_EVERY)
            self.draw()
