"""The verbs of the `monitor` command, one module each. monitor/cli.py lists them from VERBS and
imports a verb's module only when that verb runs: `monitor --help` and `monitor check` then load
none of the libraries the other verbs need (tests/test_cli.py checks the help lines below against
each verb's own). LazyGroup does the same for a group's subcommands (`monitor sources add`)."""

from __future__ import annotations

import importlib

import click

# name → (module, the line `monitor --help` shows for it: the verb's own first sentence); the
# command is the module's attribute of the verb's name
VERBS: dict[str, tuple[str, str]] = {
    "init": ("monitor.commands.init", "Write a commented starter sources.yaml in DIR (default: where --config "
                                      "points, ./sources.yaml), with sources.schema.json beside it for editors, "
                                      "and check it."),
    "check": ("monitor.commands.check", "Validate the configuration and the database path, and exit."),
    "run": ("monitor.commands.run", "Run the service in the foreground: poll every source on its interval until "
                                    "SIGTERM or Ctrl-C."),
    "poll": ("monitor.commands.poll", "Poll sources once, store new items, print a table and the titles of new "
                                      "matched items (-v: of every new item), and exit."),
    "classify": ("monitor.commands.classify", "Classify texts: FILE is JSON lines with id, title and text "
                                              "('-' reads stdin)."),
    "label": ("monitor.commands.label", "Label a stored item relevant or not_relevant (a new label replaces the "
                                        "old one)."),
    "labels": ("monitor.commands.label", "The labels given with `monitor label`."),
    "digest": ("monitor.commands.digest", "Preview a digest, or send it now."),
    "channels": ("monitor.commands.channels", "Inspect and test notification channels."),
    "sources": ("monitor.commands.sources", "Inspect configured sources."),
    "extract": ("monitor.commands.extract", "Print the title, date, language and main text of pages (files, "
                                            ".html.gz too, or URLs)."),
    "export": ("monitor.commands.export", "Export matched stories with their evidence: JSON, CSV, Atom, or a WACZ "
                                          "of the captures."),
    "evidence": ("monitor.commands.evidence", "Check the captured evidence, and recheck the captured pages."),
    "web": ("monitor.commands.web", "Serve the web interface: stories (search, filters, triage), sources (health, "
                                    "add one), digests, a JSON API and an Atom feed."),
    "schema": ("monitor.commands.schema", "Print the JSON Schema of sources.yaml (every key, its type, default and "
                                          "description)."),
    "worker": ("monitor.commands.worker", "Run a worker on the PostgreSQL database until SIGTERM or Ctrl-C (start "
                                          "as many as you like, on any machines, with the same sources.yaml)."),
}


class LazyGroup(click.Group):
    """A click group whose `lazy` subcommands, name → (module, help line), are imported when one runs
    or is asked for its own help: the command is the module's attribute of that name, or the one
    named after a colon ("monitor.commands.sources_add:sources_add"). The group's --help lists them
    from their help lines without importing them, beside the commands added the usual way."""

    def __init__(self, *args, lazy: dict[str, tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.lazy:
            return super().get_command(ctx, name)
        module, _, attribute = self.lazy[name][0].partition(":")
        return getattr(importlib.import_module(module), attribute or name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        width = formatter.width - 6 - max(map(len, names))
        rows = [(name, click.Command(name, help=self.lazy[name][1]).get_short_help_str(width) if name in self.lazy
                 else self.commands[name].get_short_help_str(width)) for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)
