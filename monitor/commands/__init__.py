"""The verbs of the `monitor` command, one module each; monitor/cli.py adds them to the group."""

from monitor.commands.channels import channels
from monitor.commands.check import check
from monitor.commands.classify import classify
from monitor.commands.digest import digest
from monitor.commands.extract import extract
from monitor.commands.poll import poll
from monitor.commands.run import run
from monitor.commands.sources import sources

VERBS = [check, run, poll, classify, digest, channels, sources, extract]
