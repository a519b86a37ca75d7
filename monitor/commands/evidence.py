"""`monitor evidence verify|recheck`: the captures' integrity, and rechecks of their pages."""

from __future__ import annotations

import asyncio
import sys

import click

from monitor.commands.context import Context, make_fetcher, open_store


@click.group()
def evidence() -> None:
    """Check the captured evidence, and recheck the captured pages."""


@evidence.command("verify")
@click.pass_obj
def evidence_verify(obj: Context) -> None:
    """Re-hash every capture against the database and read every WARC file whole.

    Exit code 0 when everything holds; 1 with a line per capture or file that differs or is missing.
    """
    from monitor.clock import utc_now
    from monitor.evidence.verify import verify

    config = obj.config()
    folder = config.settings.evidence.folder(config.path.parent)
    with open_store(config) as store:
        result = verify(store, folder)
        pending = store.failing_captures()
        outcome = "ok" if result.ok else f"{len(result.problems)} problems in {', '.join(sorted(result.bad_files)) or '-'}"
        with store.transaction():
            store.log_event(utc_now(), "verify", detail=f"{result.captures} captures, {result.files} WARC files: {outcome}")
    for problem in result.problems:
        click.echo(f"FAILED {config.redactor(problem)}")
    for item_id, url, error in pending:
        click.echo(f"note: item {item_id} ({config.redactor(url)}) has no capture yet: {config.redactor(error)}",
                   err=True)
    if not result.ok:
        files = ", ".join(str(folder / name) for name in sorted(result.bad_files))
        click.echo(f"{result.captures} captures in {result.files} WARC files checked: {len(result.problems)} "
                   f"problems" + (f" in {files}" if files else ""))
        sys.exit(1)
    click.echo(f"{result.captures} captures in {result.files} WARC files checked: all hold")


@evidence.command("recheck")
@click.option("--all", "every", is_flag=True,
              help="Recheck every captured page now, and retry every pending capture, due or not.")
@click.pass_obj
def evidence_recheck(obj: Context, every: bool) -> None:
    """Run the rechecks that are due now (settings.evidence.recheck), and the captures due again.

    Each page is fetched again: live (same payload), changed (a new capture is stored beside the
    first) or gone (404/410/451, or the article's text is no longer on the page). Finished days'
    WARC files are sealed (and timestamped, with settings.evidence.timestamp_url).
    """
    from monitor.evidence.capture import Evidence, Report

    config = obj.config()
    settings = config.settings.evidence
    folder = settings.folder(config.path.parent)

    async def go(store) -> Report:
        async with make_fetcher(config) as fetcher:
            keeper = Evidence(settings, folder, store, fetcher, sources={s.name: s for s in config.sources})
            report = await keeper.retry_pending(force=every)
            report.add(await keeper.recheck(every=every))
            report.add(await keeper.seal())
            return report

    with open_store(config) as store:
        report = asyncio.run(go(store))
        states = store.evidence_counts()
    checked = ", ".join(f"{count} {outcome}" for outcome, count in sorted(report.checked.items())) or "none due"
    click.echo(f"rechecks: {checked}; captures: {report.captured} made, {len(report.failed)} failed")
    for item_id, url in report.gone:
        click.echo(f"gone: item {item_id} {config.redactor(url)}")
    for item_id, url, reason in report.failed:
        click.echo(f"capture failed: item {item_id} {config.redactor(url)}: {config.redactor(reason)}")
    for name in report.sealed:
        click.echo(f"sealed: {folder / name}" + (" (timestamped)" if name in report.timestamped else ""))
    for problem in report.problems:
        click.echo(f"problem: {config.redactor(problem)}", err=True)
    summary = ", ".join(f"{count} {state}" for state, count in sorted(states.items()))
    click.echo(f"evidence of matched items: {summary or 'none yet'}")
