"""Online orders and reconciliation figures against the local Shopify simulator (127.0.0.1 only).

    .venv/bin/python benchmarks/online_and_reconcile.py orders [--orders 20 --poll 5]
    .venv/bin/python benchmarks/online_and_reconcile.py poll-cost [--orders 1000]
    .venv/bin/python benchmarks/online_and_reconcile.py reconcile [--items 50000 --restore 2000]

orders: the agent's order poll runs every --poll seconds in a thread (as the daemon's job does);
  orders are placed in the simulator at random moments; for each we time placed -> the Smart Order
  is in the database, which is what the till's Online Orders list reads. Goal: p95 <= poll + 2 s.
poll-cost: N orders changed since the cursor, read by one polling pass; the query cost Shopify
  charges (actualQueryCost summed) against the leaky bucket (2,000 points, 100 points/s).
reconcile: N inventory items stocked at one location, imported into a fresh SQLite file by bulk
  operation, then one reconciliation of that location: time, query cost, peak memory of this
  process (the simulator runs as a separate process).
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TOKEN = "shpat_benchmark"


def _db(path: Path) -> None:
    from pos_core import db, migrations
    db.open_database(f"sqlite:///{path}")
    migrations.init()


def _client(url: str):
    from pos_core.config import ShopifyConfig
    from sync_agent.shopify.client import ShopifyClient
    client = ShopifyClient(ShopifyConfig(enabled=True, shop="x", endpoint=url), token=TOKEN,
                           timeout=httpx.Timeout(connect=5, read=600, write=60, pool=5))
    spent = {"points": 0, "requests": 0}
    call = client.call

    def counting(*a, **kw):
        result = call(*a, **kw)
        spent["points"] += int((result.cost or {}).get("actualQueryCost") or 0)
        spent["requests"] += 1
        return result
    client.call = counting
    return client, spent


def _product(url: str, sku: str, stock: int = 50) -> None:
    httpx.post(f"{url}/_sim/products", json={"product": {"title": f"Lawn Kurta {sku}", "variants": [
        {"sku": sku, "price": "2500.00", "inventory": {"LHR-01": stock}}]}}).raise_for_status()


def _order(url: str, sku: str) -> str:
    r = httpx.post(f"{url}/_sim/orders", json={
        "action": "create", "gateway": "Cash on Delivery (COD)", "location": "LHR-01", "phone": "+923001234567",
        "customer": {"firstName": "Hina", "lastName": "Baig", "phone": "+923001234567"},
        "lines": [{"sku": sku, "quantity": 1}]})
    r.raise_for_status()
    return r.json()["order"]["id"]


def orders_latency(n: int, poll: float) -> dict:
    from pos_core.db import database
    from pos_core.models import SmartOrder
    from simulators.shopify.server import start
    from sync_agent import orders as agent_orders

    tmp = Path(tempfile.mkdtemp(prefix="bench-orders-"))
    sim = start(port=0, data_dir=tmp / "shop", token=TOKEN)
    _db(tmp / "pos.db")
    client, _ = _client(sim.url)
    _product(sim.url, "KRT-1", 10_000)
    stop = threading.Event()

    def poller():  # what the daemon's "orders" job does every poll_seconds
        while not stop.is_set():
            with database.connection_context():
                agent_orders.poll(client, ("Cash on Delivery (COD)",))
            stop.wait(poll)
    t = threading.Thread(target=poller, daemon=True)
    t.start()
    rng = random.Random(3)
    latencies = []
    for _ in range(n):
        time.sleep(rng.uniform(0.2, poll))
        t0 = time.perf_counter()
        oid = _order(sim.url, "KRT-1")
        while not SmartOrder.select().where(SmartOrder.shopify_id == oid).exists():
            time.sleep(0.02)
        latencies.append(time.perf_counter() - t0)
    stop.set()
    t.join()
    sim.stop()
    latencies.sort()
    return {"orders": n, "poll_seconds": poll, "median_s": round(statistics.median(latencies), 3),
            "p95_s": round(latencies[int(0.95 * (n - 1))], 3), "max_s": round(latencies[-1], 3),
            "goal_s": poll + 2}


def poll_cost(n: int) -> dict:
    from simulators.shopify.server import start
    from sync_agent import orders as agent_orders

    tmp = Path(tempfile.mkdtemp(prefix="bench-pollcost-"))
    sim = start(port=0, data_dir=tmp / "shop", token=TOKEN)
    _db(tmp / "pos.db")
    client, spent = _client(sim.url)
    for i in range(10):
        _product(sim.url, f"KRT-{i}", 10_000)
    for i in range(n):
        _order(sim.url, f"KRT-{i % 10}")
    t0 = time.perf_counter()
    seen = agent_orders.poll(client, ("Cash on Delivery (COD)",))
    wall = time.perf_counter() - t0
    sim.stop()
    bucket, restore = 2000, 100
    floor = max(0.0, spent["points"] - bucket) / restore
    return {"orders": seen, "requests": spent["requests"], "points": spent["points"],
            "points_per_request": round(spent["points"] / max(1, spent["requests"]), 1),
            "rate_floor_s": round(floor, 1), "wall_s": round(wall, 1)}


def reconcile_bench(n_items: int, restore: int) -> dict:
    from pos_core import branches, ledger, migrations  # noqa: F401
    from pos_core.ledger import Movement
    from pos_core.models import Variant
    from sync_agent import catalog, reconcile as agent_reconcile

    tmp = Path(tempfile.mkdtemp(prefix="bench-recon-"))
    data = tmp / "shop"
    data.mkdir()
    per = 4
    with (data / "seed.json").open("w") as fh:
        fh.write('{"customers": [], "products": [')
        for i in range(n_items // per):
            fh.write(("," if i else "") + json.dumps(
                {"title": f"Printed Lawn {i}", "productType": "Lawn Suit",
                 "variants": [{"sku": f"L-{i:05d}-{j}", "price": "1500.00", "options": {"Colour": f"C{j}"},
                               "inventory": {"LHR-01": 10}} for j in range(per)]}))
        fh.write("]}")
    sim = subprocess.Popen([sys.executable, "-m", "simulators", "shopify", "--data", str(data), "--token", TOKEN,
                            "--bucket", "2000", "--restore", str(restore), "--bulk-seconds", "0.5"], cwd=ROOT,
                           stdout=subprocess.PIPE, text=True)
    url = sim.stdout.readline().strip().split()[-1]
    try:
        _db(tmp / "pos.db")
        client, spent = _client(url)
        catalog.import_catalog(client, {}, mode="bulk", progress=catalog.TextProgress(enabled=False), bulk_poll=0.5)
        loc = next(l["id"] for l in httpx.get(f"{url}/_sim/state", timeout=120).json()["locations"]
                   if l["code"] == "LHR-01")
        lhr = branches.create_branch("LHR1", "Lahore", shopify_location_id=loc)
        ids = [v for (v,) in Variant.select(Variant.id).tuples()]
        moves = [Movement(f"opening:{v}", v, lhr.id, 10 if k % 997 else 9, "opening", "opening_stock", "open")
                 for k, v in enumerate(ids)]  # every 997th item planted one short of Shopify
        for i in range(0, len(moves), 2000):
            ledger.record_all(moves[i:i + 2000])
        spent["points"] = spent["requests"] = 0
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t0 = time.perf_counter()
        (run,) = agent_reconcile.run(client, loc)
        wall = time.perf_counter() - t0
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        standard_floor = max(0, spent["points"] - 2000) / 100
        return {"items": run.items_compared, "differences": len(run.differences), "wall_s": round(wall, 1),
                "requests": spent["requests"], "points": spent["points"], "sim_restore_per_s": restore,
                "standard_plan_floor_s": round(standard_floor, 1), "peak_rss_mb": round(rss1, 1),
                "rss_before_mb": round(rss0, 1)}
    finally:
        sim.terminate()
        sim.wait(30)


def main() -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="what", required=True)
    o = sub.add_parser("orders")
    o.add_argument("--orders", type=int, default=20)
    o.add_argument("--poll", type=float, default=5.0)
    c = sub.add_parser("poll-cost")
    c.add_argument("--orders", type=int, default=1000)
    r = sub.add_parser("reconcile")
    r.add_argument("--items", type=int, default=50_000)
    r.add_argument("--restore", type=int, default=2000)
    a = p.parse_args()
    if a.what == "orders":
        out = orders_latency(a.orders, a.poll)
    elif a.what == "poll-cost":
        out = poll_cost(a.orders)
    else:
        out = reconcile_bench(a.items, a.restore)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
