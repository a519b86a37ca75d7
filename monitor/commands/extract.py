"""`monitor extract PATH_OR_URL...`: what the matcher would see of a page (its main text)."""

from __future__ import annotations

import asyncio
import gzip
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from monitor.commands.context import Context, make_fetcher, optional_config
from monitor.config import Config
from monitor.fetch import FetchError

if TYPE_CHECKING:
    from monitor.extract import Extracted


@click.command("extract")
@click.argument("inputs", nargs=-1, required=True, metavar="PATH_OR_URL...")
@click.option("--json", "as_json", is_flag=True,
              help='One JSON object per input: {"input", "title", "date", "lang", "text"}.')
@click.pass_obj
def extract(obj: Context, inputs: tuple[str, ...], as_json: bool) -> None:
    """Print the title, date, language and main text of pages (files, .html.gz too, or URLs).

    URLs are fetched as given, with the settings of sources.yaml when there is one. Exit code 1
    when an input could not be read.
    """
    config = optional_config(obj) if any(_is_url(i) for i in inputs) else None
    results = asyncio.run(_extract_all(inputs, config))
    failed = 0
    for index, (source, result) in enumerate(zip(inputs, results)):
        if isinstance(result, str):
            failed += 1
            click.echo(f"error: {source}: {result}", err=True)
            if as_json:
                click.echo(json.dumps({"input": source, "title": None, "date": None, "lang": None, "text": None,
                                       "error": result}, ensure_ascii=False))
            continue
        if as_json:
            click.echo(json.dumps({"input": source, "title": result.title,
                                   "date": result.date.isoformat() if result.date else None,
                                   "lang": result.lang or None, "text": result.text}, ensure_ascii=False))
        else:
            if index:
                click.echo()
            click.echo(_human(source, result))
    if failed:
        sys.exit(1)


async def _extract_all(inputs: tuple[str, ...], config: Config | None) -> list[Extracted | str]:
    """One Extracted per input, or the reason it failed."""
    from monitor.extract import extract as extract_page  # trafilatura: loaded when a page is read

    async with make_fetcher(config) as fetcher:
        async def one(source: str) -> Extracted | str:
            try:
                if _is_url(source):
                    response = await fetcher.get(source)
                    return await asyncio.to_thread(extract_page, response.body, response.url, response.content_type)
                body = Path(source).read_bytes()
                if body[:2] == b"\x1f\x8b":
                    body = gzip.decompress(body)
                return extract_page(body)
            except FetchError as exc:
                return str(exc)
            except OSError as exc:
                return exc.strerror or str(exc)
        return list(await asyncio.gather(*(one(source) for source in inputs)))


def _human(source: str, page: Extracted) -> str:
    lines = [f"== {source}", f"title:     {page.title or '-'}",
             f"date:      {page.date.isoformat() if page.date else '-'}", f"lang:      {page.lang or '-'}"]
    if page.author:
        lines.append(f"author:    {page.author}")
    if page.canonical and page.canonical != source:
        lines.append(f"canonical: {page.canonical}")
    lines += [f"words:     {page.words}", "", page.text or "(no main text found)"]
    return "\n".join(lines)


def _is_url(value: str) -> bool:
    return value.lower().startswith(("http://", "https://"))
