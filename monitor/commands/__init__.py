"""CLI verbs that live outside monitor/cli.py; cli.py registers them with add_command."""

from monitor.commands.extract import extract
from monitor.commands.sources_add import sources_add

__all__ = ["extract", "sources_add"]
