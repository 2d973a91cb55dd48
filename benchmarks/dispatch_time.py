"""The back office's dispatch-time report (pos_core.reports.health.dispatch_times) over a year of
online shipments, for a month and for the year, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/dispatch_time.py --url sqlite:////tmp/dispatch.db [--shipments 60000]
    .venv/bin/python benchmarks/dispatch_time.py --url postgresql://.../empty_db [--reuse] [--runs 5]

Data: `--shipments` COD orders spread over 2027, each with one Smart shipment at one of two
branches, packed 30 minutes after the order and dispatched 1-71 hours after it (history and
`dispatched_at`, migration 13, as the services write them). Rows are inserted straight into the schema. Goal as for every report: p95
<= 1 s on PostgreSQL, <= 2 s on SQLite; with 5 runs p95 is the slowest.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def fill(n: int) -> None:
    from conftest import make_site
    from pos_core import db, migrations
    from pos_core.models import Fulfillment, SmartOrder
    migrations.init()
    site = make_site()
    rnd = random.Random(1)
    start = dt.datetime(2027, 1, 1)
    with db.write():
        placed = [start + dt.timedelta(seconds=rnd.randrange(365 * 86400)) for _ in range(n)]
        rows = [dict(shopify_id=f"gid://shopify/Order/{i}", name=f"#{i}", created_at_shopify=c.isoformat() + "Z",
                     updated_at_shopify="x", is_cod=True, state="DISPATCHED", confirmed_at=c + dt.timedelta(hours=1),
                     first_seen_at=c, last_seen_at=c) for i, c in enumerate(placed)]
        for k in range(0, n, 2000):
            SmartOrder.insert_many(rows[k:k + 2000]).execute()
        ids = [r[0] for r in db.database.execute_sql("SELECT id FROM smart_order ORDER BY id").fetchall()]
        ships = []
        for i, (oid, c) in enumerate(zip(ids, placed)):
            packed, sent = c + dt.timedelta(minutes=30), c + dt.timedelta(hours=rnd.randrange(1, 72))
            ships.append(dict(uid=f"bench-{i}", order=oid, mode="smart", branch=(site.lhr if i % 2 else site.khi).id,
                              status="DISPATCHED", courier="TCS", created_by=site.manager.id, created_at=packed,
                              dispatched_at=sent,
                              history=[{"at": packed.isoformat(), "staff": site.manager.id, "status": "PACKED"},
                                       {"at": sent.isoformat(), "courier": "TCS", "staff": site.manager.id,
                                        "status": "DISPATCHED"}]))
        for k in range(0, n, 2000):
            Fulfillment.insert_many(ships[k:k + 2000]).execute()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="an empty database (or a filled one with --reuse)")
    ap.add_argument("--shipments", type=int, default=60000)
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)
    from pos_core import db
    from pos_core.reports import Filters, health
    db.open_database(args.url)
    if not args.reuse:
        fill(args.shipments)
    print(f"{args.url.split(':')[0]}, load average {os.getloadavg()[0]:.2f}")
    for name, f in (("month", Filters(dt.date(2027, 6, 1), dt.date(2027, 6, 30))),
                    ("year", Filters(dt.date(2027, 1, 1), dt.date(2027, 12, 31)))):
        health.dispatch_times(f)   # warm-up
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            rep = health.dispatch_times(f)
            times.append(time.perf_counter() - t)
        print(f"{name}: {rep.totals[2]} shipments, median {sorted(times)[len(times) // 2]:.2f} s, "
              f"p95 {max(times):.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
