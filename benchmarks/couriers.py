"""Courier figures against the local Leopards and PostEx simulators (127.0.0.1 only).

    .venv/bin/python benchmarks/couriers.py [--parcels 300] [--json]

For N COD orders packed at one branch of a fresh SQLite file (production pragmas): the dispatch
transaction the cashier waits for (`couriers.dispatch`: shipment, consignment, booking job,
Shopify job, FBR invoice), then the agent's booking pass (one HTTP booking per parcel, through
sync_agent.once: two committed writes around each request) and one tracking pass over all open
parcels (one HTTP read and one write each). The simulators run in this process's threads.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parcels", type=int, default=300)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from pos_core import branches, couriers, db, fulfillments, ledger, migrations, online_orders, staff
    from pos_core.config import CourierAccount
    from pos_core.ledger import Movement
    from pos_core.models import Product, Variant
    from pos_core.policy import SalePolicy
    from simulators.couriers import leopards as leo_sim, postex as px_sim
    from sync_agent.couriers import Leopards, PostEx, worker

    tmp = Path(tempfile.mkdtemp(prefix="courier-bench-"))
    db.open_database(f"sqlite:///{tmp / 'pos.db'}")
    migrations.init()
    lhr = branches.create_branch("LHR1", "Lahore", shopify_location_id="gid://shopify/Location/1")
    clerk = staff.create("zara", "Zara", "supervisor", "2222")
    v = Variant.create(product=Product.create(title="Kurta"), sku="K-1", name="Kurta", price_paisa=2599_00,
                       tax_rate_bp=1800, pct_code="6206.3000", shopify_inventory_item_id="gid://shopify/InventoryItem/1")
    ledger.record(Movement("opening:LHR1:K-1", v.id, lhr.id, args.parcels * 2, "opening", "opening_stock", "open"))
    policy = SalePolicy(shopify_enabled=True, fbr_enabled=True, fbr_posid="123456")
    sims = {"leopards": leo_sim.start(), "postex": px_sim.start()}
    adapters = {
        "leopards": Leopards(CourierAccount(name="leopards", endpoint=sims["leopards"].url, api_key="leo-key",
                                            origin_city="789"), "leo-pass"),
        "postex": PostEx(CourierAccount(name="postex", endpoint=sims["postex"].url), "postex-token"),
    }
    shipments = []
    for n in range(args.parcels):
        order, _ = online_orders.record_from_shopify({
            "id": f"gid://shopify/Order/{n}", "name": f"#{5000 + n}", "createdAt": "2026-12-07T09:00:00Z",
            "updatedAt": "2026-12-07T09:00:00Z", "cancelledAt": None, "cancelReason": None, "edited": False,
            "displayFinancialStatus": "PENDING", "displayFulfillmentStatus": "UNFULFILLED",
            "paymentGatewayNames": ["Cash on Delivery (COD)"], "tags": [], "note": "", "email": "", "phone": None,
            "currentTotalPriceSet": {"shopMoney": {"amount": "2599.00"}},
            "totalOutstandingSet": {"shopMoney": {"amount": "2599.00"}},
            "customer": {"displayName": "Hina", "defaultPhoneNumber": {"phoneNumber": "+923001234567"}},
            "shippingAddress": {"name": "Hina", "address1": f"House {n}", "city": "Lahore"},
            "lineItems": {"nodes": [{"id": f"L{n}", "sku": "K-1", "name": "Kurta", "quantity": 1,
                                     "currentQuantity": 1, "unfulfilledQuantity": 1, "variant": {"id": None},
                                     "originalUnitPriceSet": {"shopMoney": {"amount": "2599.00"}}}]}},
            ("Cash on Delivery (COD)",))
        online_orders.confirm(order.id, clerk.id, shopify_enabled=False)
        f = fulfillments.create(order.id, lhr.id, clerk.id)
        shipments.append(fulfillments.pack(f.uid, clerk.id).uid)

    dispatch_ms = []
    for n, uid in enumerate(shipments):
        courier = "leopards" if n % 2 == 0 else "postex"
        t0 = time.perf_counter()
        couriers.dispatch(uid, clerk.id, courier, "789" if courier == "leopards" else "Lahore",
                          shopify_enabled=True, policy=policy)
        dispatch_ms.append((time.perf_counter() - t0) * 1000)

    t0 = time.perf_counter()
    booked = 0
    while True:
        counts = worker.run_jobs(adapters, limit=100)
        booked += counts["synced"]
        if not counts["synced"] and not counts["deferred"]:
            break
    book_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    tracked = worker.track_due(adapters, shopify_enabled=True, limit=args.parcels * 2)["read"]
    track_s = time.perf_counter() - t0
    for a in adapters.values():
        a.close()
    for s in sims.values():
        s.stop()
    figures = {
        "parcels": args.parcels, "booked": booked, "tracked": tracked,
        "dispatch_median_ms": round(statistics.median(dispatch_ms), 2),
        "dispatch_p99_ms": round(sorted(dispatch_ms)[int(len(dispatch_ms) * 0.99) - 1], 2),
        "booking_ms_per_parcel": round(book_s * 1000 / max(booked, 1), 2),
        "tracking_ms_per_parcel": round(track_s * 1000 / max(tracked, 1), 2),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        for k, val in figures.items():
            print(f"{k:24} {val}")
    return 0 if booked == args.parcels == tracked else 1


if __name__ == "__main__":
    sys.exit(main())
