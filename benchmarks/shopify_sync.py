"""Shopify sync figures against the local simulator (127.0.0.1 only).

    .venv/bin/python benchmarks/shopify_sync.py latency [--sales 60]
    .venv/bin/python benchmarks/shopify_sync.py drain [--changes 5000] [--bucket 2000 --restore 100]
    .venv/bin/python benchmarks/shopify_sync.py bulk [--variants 50000]
    .venv/bin/python benchmarks/shopify_sync.py all        # each in its own process

latency: `pos-agent run` as a process, link up, no faults. Sales are committed one at a time at
  random 0.1-0.6 s intervals; for each we time commit -> its outbox job seen SYNCED (polled every
  10 ms, an upper bound of "applied in the simulator", which happens before the agent records it).
drain: N pending one-unit changes (two branches/locations, 10 items) sent by the outbox worker
  in-process; wall time against the floor the rate limit sets for the requests needed:
  floor = max(0, requests x cost - bucket) / restore.
bulk: a full bulk-operation import of N variants (4 per product) into a fresh SQLite file; the
  simulator runs as a separate process, so the peak RSS (ru_maxrss) is the importer's own.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOKEN = "shpat_benchmark"


def _open_db(path: Path) -> str:
    from pos_core import db, migrations
    url = f"sqlite:///{path}"
    db.open_database(url)
    migrations.init()
    return url


def latency(n_sales: int) -> dict:
    import random

    from pos_core.models import OutboxJob
    from simulators.shopify.server import start
    from sync_agent.testing import mirror_site, sell, write_config

    tmp = Path(tempfile.mkdtemp(prefix="bench-lat-"))
    sim = start(port=0, data_dir=tmp / "shop", seed_products=6, token=TOKEN)
    url = _open_db(tmp / "pos.db")
    site = mirror_site(sim.url, n_branches=2, n_variants=6)
    cfg = write_config(tmp / "pos.toml", url, sim.url, TOKEN, {b.code: b.shopify_location_id for b in site.branches})
    proc = subprocess.Popen([sys.executable, "-m", "sync_agent", "--config", str(cfg), "run"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rng = random.Random(1)
    times = []
    try:
        time.sleep(2.0)  # start-up
        for i in range(n_sales):
            time.sleep(rng.uniform(0.1, 0.6))
            t0 = time.perf_counter()
            order = sell(site, i % 2, [(site.variants[i % 6], 1)])
            while OutboxJob.get(OutboxJob.doc_ref == order.uid).status != "SYNCED":
                time.sleep(0.01)
            times.append(time.perf_counter() - t0)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        sim.stop()
    times.sort()
    p = lambda q: times[min(len(times) - 1, int(math.ceil(q * len(times))) - 1)]  # noqa: E731
    return {"sales": n_sales, "p50_s": round(p(0.5), 3), "p95_s": round(p(0.95), 3), "max_s": round(times[-1], 3),
            "mean_s": round(statistics.mean(times), 3)}


def drain(n_changes: int, bucket: float, restore: float) -> dict:
    from pos_core import outbox
    from pos_core.config import ShopifyConfig
    from simulators.shopify.server import start
    from sync_agent.outbox_worker import MAX_CHANGES, OutboxWorker
    from sync_agent.shopify.client import ShopifyClient
    from sync_agent.testing import mirror_site

    tmp = Path(tempfile.mkdtemp(prefix="bench-drain-"))
    sim = start(port=0, data_dir=tmp / "shop", seed_products=10, token=TOKEN, bucket=bucket, restore=restore)
    _open_db(tmp / "pos.db")
    site = mirror_site(sim.url, n_branches=2, n_variants=10)
    from pos_core import db
    with db.write():
        for i in range(n_changes):
            v, b = site.variants[i % len(site.variants)], site.branches[i % 2]
            outbox.enqueue("shopify", "inventory_adjust",
                           outbox.inventory_payload(v, b, -1, "correction", f"gid://pk-pos/Sale/BENCH-{i}"),
                           "pos_order", f"bench-{i}")
    client = ShopifyClient(ShopifyConfig(enabled=True, shop="x", endpoint=sim.url), token=TOKEN)
    worker = OutboxWorker(client)
    t0 = time.perf_counter()
    summary = worker.run_once()
    wall = time.perf_counter() - t0
    cost = client._last_cost.get("InventoryAdjust", 10.0)
    requests = client.requests
    floor = max(0.0, requests * cost - bucket) / restore
    client.close()
    sim.stop()
    per_location = math.ceil(n_changes / 2)
    return {"changes": n_changes, "synced": summary.synced, "requests": requests,
            "requests_needed": 2 * math.ceil(per_location / MAX_CHANGES), "cost_per_request": cost,
            "bucket": bucket, "restore": restore, "floor_s": round(floor, 2), "wall_s": round(wall, 2),
            "paced_s": round(client.paced_seconds, 2),
            "ratio_to_floor": round(wall / floor, 2) if floor else None}


def bulk(n_variants: int) -> dict:
    from pos_core.config import ShopifyConfig
    from pos_core.models import Variant
    from sync_agent import catalog
    from sync_agent.shopify.client import ShopifyClient

    tmp = Path(tempfile.mkdtemp(prefix="bench-bulk-"))
    data = tmp / "shop"
    data.mkdir()
    per = 4
    with (data / "seed.json").open("w") as fh:   # written piece by piece: keeps this process small
        fh.write('{"customers": [], "products": [')
        for i in range(n_variants // per):
            fh.write(("," if i else "") + json.dumps(
                {"title": f"Printed Lawn 3-Piece {i}", "vendor": "Noor Textiles", "productType": "Lawn Suit",
                 "variants": [{"sku": f"LWN-{i:05d}-{j}", "barcode": f"896{i * per + j:010d}",
                               "price": f"{1500 + j * 50}.00", "options": {"Colour": f"C{j}"}} for j in range(per)]}))
        fh.write("]}")
    sim = subprocess.Popen([sys.executable, "-m", "simulators", "shopify", "--data", str(data), "--token", TOKEN,
                            "--bucket", "2000", "--restore", "100", "--bulk-seconds", "0.5"], cwd=ROOT,
                           stdout=subprocess.PIPE, text=True)
    line = sim.stdout.readline()
    url = line.strip().split()[-1]
    try:
        _open_db(tmp / "pos.db")
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        client = ShopifyClient(ShopifyConfig(enabled=True, shop="x", endpoint=url), token=TOKEN,
                               timeout=__import__("httpx").Timeout(connect=5, read=600, write=60, pool=5))
        t0 = time.perf_counter()
        stats = catalog.import_catalog(client, {}, mode="bulk", progress=catalog.TextProgress(every=10.0),
                                       bulk_poll=0.5)
        wall = time.perf_counter() - t0
        client.close()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        count = Variant.select().count()
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.wait(timeout=60)
    return {"variants": n_variants, "imported": count, "created": stats.variants_created, "wall_s": round(wall, 1),
            "peak_rss_mb": round(peak, 1), "rss_before_import_mb": round(rss_before, 1)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("latency", "drain", "bulk", "all"))
    ap.add_argument("--sales", type=int, default=60)
    ap.add_argument("--changes", type=int, default=5000)
    ap.add_argument("--bucket", type=float, default=2000)
    ap.add_argument("--restore", type=float, default=100)
    ap.add_argument("--variants", type=int, default=50000)
    args = ap.parse_args()
    if args.what == "all":
        for cmd in (["latency"], ["drain"], ["drain", "--bucket", "100", "--restore", "10"], ["bulk"]):
            subprocess.run([sys.executable, __file__, *cmd], check=True)
        return 0
    if args.what == "latency":
        out = latency(args.sales)
    elif args.what == "drain":
        out = drain(args.changes, args.bucket, args.restore)
    else:
        out = bulk(args.variants)
    print(json.dumps({args.what: out, "cpus": os.cpu_count(), "python": sys.version.split()[0]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
