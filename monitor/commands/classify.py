"""`monitor classify`: the topic matcher over JSON lines."""

from __future__ import annotations

from collections.abc import Sequence

import click

from monitor.commands.context import Context


@click.command()
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--topic", "-t", "topic_names", multiple=True, metavar="NAME",
              help="Only this topic (repeatable).  [default: every topic]")
@click.pass_obj
def classify(obj: Context, file, topic_names: Sequence[str]) -> None:
    """Classify texts: FILE is JSON lines with id, title and text ('-' reads stdin).

    Writes one JSON line per input: {"id", "match", "topics", "lang", "terms", "snippet"}.
    Uses the topics of sources.yaml when it exists, else the shipped ones.
    """
    from monitor.topics import Matcher, build_matcher, classify_jsonl

    matcher = build_matcher(obj.config().topics if obj.config_path.exists() else None)
    if topic_names:
        chosen = [t for t in matcher.topics if t.name in topic_names]
        missing = set(topic_names) - {t.name for t in chosen}
        if missing:
            known = ", ".join(sorted(t.name for t in matcher.topics))
            raise click.UsageError(f"unknown topic {sorted(missing)[0]!r} (known: {known})")
        matcher = Matcher(chosen)
    for line in classify_jsonl(file, matcher):
        click.echo(line)
