"""Retention bench: database bytes per 100,000 stored items, before and after settings.retention
drops the text of off-topic items (matched ones, 5% here, are kept whole).

    .venv/bin/python -m bench.retention [--items 100000]

The database is seeded through monitor's own Store API (Store.add_items, the call `monitor poll`
makes), with ~1 KB synthetic items, then measured after VACUUM; then Store.forget_old_text runs
as the service's retention job does, and the file is measured again after VACUUM. Without VACUUM
SQLite reuses the freed pages for new items, so the file stops growing instead of shrinking.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from monitor.items import Item, Match
from monitor.store import Store

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _items(start: int, count: int) -> list[Item]:
    return [Item(url=f"https://outlet{n % 500}.example/news/{n}", title=f"Council budget vote {n}",
                 summary=f"The council voted on item {n} of the harbour budget. " * 4,
                 content=f"Paragraph {n}: the council discussed schools, roads and the harbour. " * 12)
            for n in range(start, start + count)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    args = parser.parse_args(argv)
    match = [Match("deported-children", ["deport*"], "**deported**")]
    with tempfile.TemporaryDirectory(prefix="monitor-bench-retention-") as tmp:
        path = Path(tmp) / "monitor.db"
        store = Store(path)
        started = time.perf_counter()
        for start in range(0, args.items, 1000):
            batch = _items(start, min(1000, args.items - start))
            store.add_items("bench", batch, T0, {item.key("bench"): match for item in batch[::20]})
        seeded = time.perf_counter() - started
        store.db.execute("VACUUM")
        before = path.stat().st_size
        started = time.perf_counter()
        trimmed = store.forget_old_text(T0 + timedelta(days=1))
        took = time.perf_counter() - started
        store.db.execute("VACUUM")
        after = path.stat().st_size
        store.close()
    per = 100_000 / args.items
    print(f"bench.retention: {args.items:,} items seeded in {seeded:.1f} s; retention trimmed {trimmed:,} in {took:.1f} s")
    print(f"database bytes per 100,000 items: before {before * per / 1e6:,.1f} MB, after {after * per / 1e6:,.1f} MB "
          f"({after / before:.0%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
