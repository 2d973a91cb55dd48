"""The recent-orders list's status refresh: `outbox.statuses_for` for the rows on screen.

    .venv/bin/python benchmarks/orders_status.py [--jobs 200000] [--rows 50] [--runs 200] [--json]

The till re-reads the Shopify/FBR status of the orders it shows every 3 s while the list is open
(pos_tui/screens/orders.py). This fills a fresh SQLite file (production pragmas, via
`db.open_database` and `migrations.init`) with `--jobs` outbox jobs, two per document (one
Shopify, one FBR), and times the one query for the newest `--rows` documents.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pos_core import db, migrations, outbox  # noqa: E402
from pos_core.models import OutboxJob  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=200_000)
    ap.add_argument("--rows", type=int, default=50)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db.open_database(f"sqlite:///{tmp}/bench.db")
        migrations.init()
        refs = [uuid.uuid4().hex for _ in range(args.jobs // 2)]
        rows = [dict(channel=ch, kind="x", payload={}, status="PENDING" if i % 7 == 0 else "SYNCED",
                     doc_type="pos_order", doc_ref=ref, uid=uuid.uuid4().hex, idempotency_key=uuid.uuid4().hex)
                for i, ref in enumerate(refs) for ch in (outbox.SHOPIFY, outbox.FBR)]
        with db.write():
            for i in range(0, len(rows), 5000):
                OutboxJob.insert_many(rows[i:i + 5000]).execute()
        shown = refs[-args.rows:]
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            outbox.statuses_for(shown)
            times.append((time.perf_counter() - start) * 1000)
        db.close()
    times.sort()
    result = {"jobs": len(rows), "rows": args.rows, "median_ms": round(statistics.median(times), 2),
              "p95_ms": round(times[int(len(times) * 0.95)], 2), "python": platform.python_version(),
              "cpus": os.cpu_count()}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['jobs']} jobs, {args.rows} rows on screen: median {result['median_ms']} ms, "
              f"p95 {result['p95_ms']} ms")


if __name__ == "__main__":
    main()
