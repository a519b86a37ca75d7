"""The verbs of the `monitor` command, one module each. monitor/cli.py lists them from VERBS and
imports a verb's module only when that verb runs: `monitor --help` and `monitor check` then load
none of the libraries the other verbs need (tests/test_cli.py checks the help lines below against
each verb's own)."""

# name → (module, the line `monitor --help` shows for it: the verb's own first sentence)
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
