"""Checkout commit time: `sales.complete_sale` against the floor of the same transaction in raw sqlite3.

    .venv/bin/python benchmarks/checkout.py [--sales 2000] [--dir DIR] [--json] [--profile FILE]

Service: N five-line cash sales through `pos_core.sales.complete_sale` on a fresh SQLite file opened
by `db.open_database` (the production pragmas, `db.SQLITE_PRAGMAS`: WAL, synchronous=FULL), with
Shopify and FBR on, so each sale also queues five inventory jobs and one FBR invoice job. Each call
is timed with time.perf_counter: it returns after COMMIT, so the figure is what a cashier waits.

Floor: the same rows in the same schema (another fresh file made by `migrations.init`, same
pragmas), written with the sqlite3 module and prepared statements in one BEGIN IMMEDIATE ...
COMMIT: the number increment, the order, 5 lines, one payment, 5 stock movements, 5 level
upserts and the 6 outbox rows (payloads copied from a real sale, so the bytes written match).

The ratio service/floor says how much of a sale is pos_core's own work (Python, ORM, extra
queries) rather than SQLite and the disk.
"""
from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import platform
import pstats
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pos_core import branches, db, ledger, migrations, sales, shifts, staff  # noqa: E402
from pos_core.ledger import Movement  # noqa: E402
from pos_core.models import Barcode, OutboxJob, Product, Variant  # noqa: E402
from pos_core.policy import SalePolicy  # noqa: E402
from pos_core.sales import SaleLine, Tender  # noqa: E402

LINES = 5
POLICY = SalePolicy(prices_include_tax=True, service_fee_paisa=100, shopify_enabled=True,
                    fbr_enabled=True, fbr_posid="123456")
GOAL_P99_MS = 5.0
GOAL_RATIO = 10.0


def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu or platform.processor() or "unknown", "cores": os.cpu_count(),
            "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
            "platform": platform.platform(),
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(-(-p * len(ordered) // 100)) - 1))
    return ordered[k]


def summary(ms: list[float]) -> dict:
    return {"n": len(ms), "median_ms": round(statistics.median(ms), 3), "p99_ms": round(percentile(ms, 99), 3),
            "mean_ms": round(statistics.fmean(ms), 3), "max_ms": round(max(ms), 3)}


def build_site():
    """One branch, one counter with an open shift, a cashier, five items with stock."""
    branch = branches.create_branch("LHR1", "Lahore", shopify_location_id="gid://shopify/Location/1")
    counter = branches.create_counter(branch, "C1", fbr_posid="123456")
    cashier = staff.create("bench", "Bench", "cashier", "1111")
    product = Product.create(title="Benchmark goods", category="Bench")
    variants = []
    for i, price in enumerate((99_99, 333_33, 500_00, 1299_00, 100_00), start=1):
        v = Variant.create(product=product, sku=f"B{i:03d}", name=f"Item {i}", price_paisa=price,
                           pct_code="6206.3000", shopify_inventory_item_id=f"gid://shopify/InventoryItem/{i}")
        Barcode.create(code=f"2000{i:04d}", variant=v)
        ledger.record(Movement(f"opening:{v.sku}", v.id, branch.id, 1_000_000, "opening", "opening_stock", "open"))
        variants.append(v)
    shift = shifts.open_shift(counter.id, cashier.id, Decimal("5000"))
    return branch, counter, cashier, variants, shift


def fresh(directory: Path, name: str) -> str:
    path = directory / name
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    db.open_database(url)
    migrations.init()
    return str(path)


def _checkpointer(url: str, stop) -> None:
    from sync_agent.checkpointer import Checkpointer
    db.open_database(url)
    Checkpointer(stop).run()


def start_checkpointer(path: Path):
    """The agent's WAL checkpointer in a process of its own, as `pos-agent run` beside a till; the
    till's connection then leaves checkpoints to it (pos_core/wal.py)."""
    import multiprocessing as mp
    from pos_core import wal
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    proc = ctx.Process(target=_checkpointer, args=(f"sqlite:///{path}", stop))
    proc.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        db.close()
        wal.forget()
        if db.database.execute_sql("PRAGMA wal_autocheckpoint").fetchone()[0] == wal.OFF:
            return stop, proc
        time.sleep(0.2)
    raise SystemExit("the agent's checkpointer did not start")


def run_service(directory: Path, n: int, profile: str | None, promotions: int = 0,
                customer: bool = False, agent_checkpoints: bool = False) -> tuple[list[float], list[float], dict]:
    fresh(directory, "service.db")
    branch, counter, cashier, variants, shift = build_site()
    checkpointer = start_checkpointer(directory / "service.db") if agent_checkpoints else None
    lines = [SaleLine(v.id, 1 + i % 3) for i, v in enumerate(variants)]
    tenders = [Tender("cash", Decimal("10000"))]
    extra = {}
    if promotions:
        from bench_promotions import make_promotions
        make_promotions(promotions, ["Bench"], [v.sku for v in variants])
    if customer:
        # Loyalty on and a customer attached: the tier lookup and the earn entry are in the sale.
        from pos_core import customers, loyalty
        loyalty.set_program(point_value_paisa=100)
        loyalty.set_tier("Gold", 100000_00)
        loyalty.set_rule("1")
        extra["customer_id"] = customers.get_or_create("03001234567", "Bench").id
    profiler = cProfile.Profile() if profile else None
    times, cpu = [], []
    for _ in range(n):
        if profiler:
            profiler.enable()
        c0, t0 = time.thread_time(), time.perf_counter()
        order = sales.complete_sale(POLICY, counter_id=counter.id, shift_id=shift.id, staff_id=cashier.id,
                                    lines=lines, tenders=tenders, **extra)
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.thread_time() - c0) * 1000)
        if profiler:
            profiler.disable()
    jobs = list(OutboxJob.select().where(OutboxJob.doc_ref == order.uid).order_by(OutboxJob.id))
    sample = {"jobs": [(j.channel, j.kind, OutboxJob.payload.db_value(j.payload)) for j in jobs],
              "order": order}
    assert order.number == f"LHR1-C1-{n:06d}" and len(jobs) == LINES + 1, "the service did what is measured"
    if profiler:
        profiler.dump_stats(profile)
    if checkpointer:
        sample["wal_autocheckpoint"] = db.database.execute_sql("PRAGMA wal_autocheckpoint").fetchone()[0]
        checkpointer[0].set()
        checkpointer[1].join(30)
    db.close()
    return times, cpu, sample


def run_floor(directory: Path, n: int, sample: dict) -> tuple[list[float], list[float]]:
    path = fresh(directory, "floor.db")
    branch, counter, cashier, variants, shift = build_site()
    db.close()
    conn = sqlite3.connect(path, isolation_level=None, timeout=db.BUSY_TIMEOUT_S)
    for key, value in db.SQLITE_PRAGMAS.items():
        conn.execute(f"PRAGMA {key} = {value}")
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    o = sample["order"]
    items = [(v.id, v.sku, v.name, 1 + i % 3, v.price_paisa, v.tax_rate_bp, v.pct_code)
             for i, v in enumerate(variants)]
    times, cpu = [], []
    for _ in range(n):
        c0, t0 = time.thread_time(), time.perf_counter()
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None).isoformat(" ")
        uid = uuid.uuid4().hex
        conn.execute("BEGIN IMMEDIATE")
        value = conn.execute("UPDATE document_series SET last_value = last_value + 1 "
                             "WHERE counter_id = ? AND series = 'S' RETURNING last_value",
                             (counter.id,)).fetchone()[0]
        number = f"LHR1-C1-{value:06d}"
        order_id = conn.execute(
            "INSERT INTO pos_order (uid, number, kind, status, counter_id, branch_id, shift_id, cashier_id, "
            "prices_include_tax, subtotal_paisa, discount_paisa, tax_paisa, total_paisa, service_fee_paisa, "
            "paid_paisa, change_paisa, note, draft_coupon, return_reason, return_note, fbr_offline, created_at, "
            "completed_at) VALUES (?, ?, 'sale', 'COMPLETED', ?, ?, ?, ?, 1, ?, 0, ?, ?, 100, ?, ?, '', '', '', '', 0, ?, ?)",
            (uid, number, counter.id, branch.id, shift.id, cashier.id, o.subtotal_paisa, o.tax_paisa,
             o.total_paisa, o.paid_paisa, o.change_paisa, now, now)).lastrowid
        conn.executemany(
            "INSERT INTO pos_order_line (order_id, line_no, variant_id, sku, name, qty, unit_price_paisa, "
            "price_overridden, line_discount_paisa, order_discount_paisa, tax_rate_bp, tax_paisa, "
            "value_excl_paisa, total_paisa, pct_code, third_schedule, restock) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, 0, ?, ?, ?, ?, ?, 0, 1)",
            [(order_id, no, vid, sku, name, qty, price, bp, 0, qty * price, qty * price, pct)
             for no, (vid, sku, name, qty, price, bp, pct) in enumerate(items, start=1)])
        conn.execute("INSERT INTO payment (uid, order_id, method, amount_paisa, tendered_paisa, reference, created_at) "
                     "VALUES (?, ?, 'cash', ?, 1000000, '', ?)", (uuid.uuid4().hex, order_id, o.paid_paisa, now))
        conn.executemany(
            "INSERT INTO stock_movement (event_key, variant_id, branch_id, delta, kind, doc_type, doc_ref, "
            "staff_id, reason, note, created_at) VALUES (?, ?, ?, ?, 'sale', 'pos_order', ?, ?, '', '', ?) "
            "ON CONFLICT DO NOTHING",
            [(f"sale:{uid}:{no}", vid, branch.id, -qty, number, cashier.id, now)
             for no, (vid, _, _, qty, _, _, _) in enumerate(items, start=1)])
        conn.executemany(
            "INSERT INTO stock_level (variant_id, branch_id, on_hand) VALUES (?, ?, ?) "
            "ON CONFLICT (variant_id, branch_id) DO UPDATE SET on_hand = on_hand + excluded.on_hand",
            [(vid, branch.id, -qty) for vid, _, _, qty, _, _, _ in items])
        conn.executemany(
            "INSERT INTO outbox_job (uid, channel, kind, payload, idempotency_key, status, attempts, "
            "next_attempt_at, last_error, doc_type, doc_ref, history, via_hq, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, 'PENDING', 0, ?, '', 'pos_order', ?, '[]', 0, ?, ?)",
            [(uuid.uuid4().hex, ch, kind, payload, uuid.uuid4().hex, now, uid, now, now)
             for ch, kind, payload in sample["jobs"]])
        conn.execute("COMMIT")
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.thread_time() - c0) * 1000)
    assert conn.execute("SELECT count(*) FROM pos_order WHERE kind = 'sale'").fetchone()[0] == n
    conn.close()
    return times, cpu


def print_profile(path: str, n: int, top: int = 25) -> None:
    stats = pstats.Stats(path)
    stats.sort_stats("tottime")
    print(f"\n--- cProfile of {n} sales, top {top} by own time ---")
    stats.print_stats(top)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sales", type=int, default=2000)
    ap.add_argument("--dir", help="where the two database files go (default: a new temporary directory)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON only")
    ap.add_argument("--profile", metavar="FILE", help="also cProfile the service run into FILE and print the top")
    ap.add_argument("--promotions", type=int, default=0, help="active promotions in the database (issue 16: 200)")
    ap.add_argument("--customer", action="store_true", help="loyalty on and a customer on every sale")
    ap.add_argument("--agent-checkpoints", action="store_true",
                    help="the agent's WAL checkpointer runs beside the service (the till's autocheckpoint is then 0)")
    args = ap.parse_args(argv)
    directory = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="pos-bench-"))
    directory.mkdir(parents=True, exist_ok=True)

    service_ms, service_cpu, sample = run_service(directory, args.sales, args.profile, args.promotions, args.customer,
                                                  args.agent_checkpoints)
    floor_ms, floor_cpu = run_floor(directory, args.sales, sample)
    s, f = summary(service_ms), summary(floor_ms)
    # CPU time of the calling thread: Python, SQL building and SQLite's own work, not the fsync wait.
    s["cpu_median_ms"] = round(statistics.median(service_cpu), 3)
    f["cpu_median_ms"] = round(statistics.median(floor_cpu), 3)
    result = {
        "benchmark": "checkout", "machine": machine(), "directory": str(directory), "sales": args.sales,
        "lines_per_sale": LINES, "outbox_jobs_per_sale": len(sample["jobs"]),
        "promotions": args.promotions, "customer": args.customer,
        "agent_checkpoints": args.agent_checkpoints, "till_wal_autocheckpoint": sample.get("wal_autocheckpoint"),
        "pragmas": db.SQLITE_PRAGMAS, "service": s, "floor": f,
        "ratio_median": round(s["median_ms"] / f["median_ms"], 2),
        "ratio_p99": round(s["p99_ms"] / f["p99_ms"], 2),
        "goal": {"p99_ms": GOAL_P99_MS, "ratio": GOAL_RATIO},
    }
    result["goal_met"] = s["p99_ms"] <= GOAL_P99_MS and result["ratio_median"] <= GOAL_RATIO
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    m = result["machine"]
    ckpt = f"yes (the till's autocheckpoint {sample.get('wal_autocheckpoint')})" if args.agent_checkpoints else "no"
    print(f"machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, SQLite {m['sqlite']}, "
          f"{m['platform']}; {m['date']}")
    print(f"files in {directory}; pragmas {db.SQLITE_PRAGMAS}")
    print(f"{args.sales} sales of {LINES} lines, {len(sample['jobs'])} outbox jobs each; "
          f"{args.promotions} active promotions; customer with loyalty: {'yes' if args.customer else 'no'}; "
          f"agent checkpoints: {ckpt}")
    for name, x in (("service (sales.complete_sale)", s), ("floor (raw sqlite3)", f)):
        print(f"  {name:30} median {x['median_ms']:7.3f} ms   p99 {x['p99_ms']:7.3f} ms   "
              f"mean {x['mean_ms']:7.3f} ms   max {x['max_ms']:7.3f} ms   CPU median {x['cpu_median_ms']:6.3f} ms")
    print(f"  ratio service/floor: median {result['ratio_median']}x, p99 {result['ratio_p99']}x "
          f"(goal ratio is on medians)")
    print(f"goal p99 <= {GOAL_P99_MS} ms and ratio <= {GOAL_RATIO}: {'met' if result['goal_met'] else 'MISSED'}")
    if args.profile:
        print_profile(args.profile, args.sales)
    return 0


if __name__ == "__main__":
    sys.exit(main())
