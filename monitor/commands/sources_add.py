"""`monitor sources add URL [--write]`: propose a source entry for a URL (monitor/discover.py),
optionally append it. A URL some source already watches is refused (exit 2)."""

from __future__ import annotations

import asyncio

import click

from monitor.commands.context import Context, make_fetcher, optional_config
from monitor.config import Config, ConfigError
from monitor.discover import DiscoveryError, Proposal, append_source, configured_as, discover, render, unique_name
from monitor.fetch import FetchError
from monitor.sources import SourceError
from monitor.text import HTTP_URL


@click.command("add")
@click.argument("url")
@click.option("--name", help="Name of the source.  [default: the site's or feed's title]")
@click.option("--write", is_flag=True, help="Append the entry to the configuration file.")
@click.pass_obj
def sources_add(obj: Context, url: str, name: str | None, write: bool) -> None:
    """Find the best way to watch URL (feed, sitemap, Telegram channel or page) and print the entry.

    With --write the entry is appended to sources.yaml, keeping its comments and order.
    """
    if not HTTP_URL.match(url):
        raise click.UsageError(f"URL must start with http:// or https:// and name a host (got {url!r})")
    config = optional_config(obj)
    if write and config is None:
        raise click.UsageError(f"--write needs an existing configuration file; {obj.config_path} was not found")
    if config is not None:
        _refuse_if_configured(url, url, config)
    try:
        proposal = asyncio.run(_discover_with(url, config))
    except (FetchError, SourceError) as exc:
        raise click.ClickException(f"cannot propose a source for {url}: {exc}") from None
    if config is not None:
        _refuse_if_configured(url, proposal.url, config)  # e.g. the feed a page advertises
    if name:
        proposal.name = name.strip()
    if config is not None:
        proposal.name = unique_name(proposal.name, {s.name for s in config.sources})
    click.echo(f"# {proposal.note}", err=True)
    click.echo(render(proposal), nl=False)
    if write:
        try:
            append_source(obj.config_path, proposal)
        except ConfigError as exc:
            raise click.ClickException(f"not written, the result would not validate: {exc}") from None
        except DiscoveryError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"appended to {obj.config_path}; check it with 'monitor check'", err=True)


def _refuse_if_configured(given: str, url: str, config: Config) -> None:
    """Exit 2 with one line when a configured source already watches `url` (compared canonically).

    The configured URL is never printed: it may carry a ${SECRET} expanded from the environment.
    """
    source = configured_as(url, config)
    if source is not None:
        what = given if url == given else f"{given} leads to {url}, which"
        click.echo(f"error: {what} is already configured as source {source.name!r} in {config.path}; "
                   "nothing added", err=True)
        raise click.exceptions.Exit(2)


async def _discover_with(url: str, config: Config | None) -> Proposal:
    async with make_fetcher(config) as fetcher:
        return await discover(url, fetcher)
