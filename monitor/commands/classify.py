"""`monitor classify`: the topic matcher over JSON lines; --explain says why, --eval scores
labelled lines."""

from __future__ import annotations

import json
from collections.abc import Sequence

import click

from monitor.commands.context import Context


@click.command()
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--topic", "-t", "topic_names", multiple=True, metavar="NAME",
              help="Only this topic (repeatable).  [default: every topic]")
@click.option("--explain", "explain_", is_flag=True,
              help="Add \"explain\" to each line: per topic, the clause that matched and its terms, "
                   "or the nearest clause and what it lacked.")
@click.option("--eval", "eval_", is_flag=True,
              help="FILE's lines carry \"label\" (1/0, relevant/not_relevant): print precision, "
                   "recall and F1 per language, and the lines the topics got wrong.")
@click.pass_obj
def classify(obj: Context, file, topic_names: Sequence[str], explain_: bool, eval_: bool) -> None:
    """Classify texts: FILE is JSON lines with id, title and text ('-' reads stdin).

    Writes one JSON line per input: {"id", "match", "topics", "lang", "terms", "snippet"}
    (and "explain" with --explain). With --eval, a report instead. Uses the topics of
    sources.yaml when it exists, else the shipped ones.
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
    if eval_:
        from monitor.topics.evaluation import evaluate_jsonl

        click.echo(evaluate_jsonl(file, matcher).report())
        return
    if not explain_:
        for line in classify_jsonl(file, matcher):
            click.echo(line)
        return
    from monitor.topics.explain import explain

    for line in file:
        if not line.strip():
            continue
        (out_line,) = classify_jsonl([line], matcher)
        out = json.loads(out_line)
        if "error" not in out:
            src = json.loads(line)
            title, text = str(src.get("title") or ""), str(src.get("text") or "")
            out["explain"] = [explain(t, title, text).as_dict() for t in matcher.topics]
        click.echo(json.dumps(out, ensure_ascii=False))
