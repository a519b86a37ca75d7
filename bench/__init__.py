"""Benchmarks of monitor: each sets up local servers on 127.0.0.1, runs the real CLI as a
subprocess and prints its figures as ratios to a floor measured in the same run.

Run them from the repository root as modules (no path set-up needed):

    .venv/bin/python -m bench.poll       # `monitor poll` cold and all-304 vs a raw httpx fetch
    .venv/bin/python -m bench.history    # one-source poll with ~50 vs 50,000 items stored
    .venv/bin/python -m bench.article    # article path (fetch_article: auto) vs fetch + trafilatura
    .venv/bin/python -m bench.crash      # SIGKILLs of `monitor run`; nothing on topic is lost
    .venv/bin/python -m bench.dedup      # story grouping quality; inner-function cost (a diagnosis)
    .venv/bin/python -m bench.relevance  # topic matcher on the labelled dev set
    .venv/bin/python -m bench.extraction # main-text extraction on a third-party corpus

Shared pieces (servers, corpus generators, config writer, measured subprocesses) live in
bench/support/.
"""
