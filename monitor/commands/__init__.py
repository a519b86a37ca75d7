"""The verbs of the `monitor` command, one module each; monitor/cli.py adds them to the group."""

from monitor.commands.channels import channels
from monitor.commands.check import check
from monitor.commands.classify import classify
from monitor.commands.digest import digest
from monitor.commands.evidence import evidence
from monitor.commands.export import export
from monitor.commands.extract import extract
from monitor.commands.init import init
from monitor.commands.label import label, labels
from monitor.commands.poll import poll
from monitor.commands.run import run
from monitor.commands.schema import schema
from monitor.commands.sources import sources
from monitor.commands.web import web
from monitor.commands.worker import worker

VERBS = [init, check, run, poll, classify, label, labels, digest, channels, sources, extract, export, evidence, web, schema, worker]
