"""Back-office reports at a chain's scale: every report in `pos_core.reports.CATALOG` for a month
and for a year, on SQLite and PostgreSQL; and a report running beside 4 selling tills.

    .venv/bin/python benchmarks/reports.py [--scale 1.0] [--url sqlite:///... | postgresql://...]
        [--runs 5] [--keep] [--json] [--tills]

Data (scale 1.0): a year of a 10-branch chain, 2 counters each: 50,000 variants (5,000 products x
10 sizes/colours, 20 categories, 30 vendors), 300,000 documents (3 % refunds) with 1,000,000 lines,
one or two payments each (10 % split), 2,000,000 stock movements (the sales and refunds, 500,000
opening rows, goods receipts with costs, transfers and adjustments), 500,000 stock levels (equal to
the sum of their movements), an FBR outbox job per document (1 % not yet fiscalised), a closed
shift per counter and day. The rows are written straight into the schema with multi-row inserts
(building them through the services would take hours); their figures are internally consistent
(excl + tax = total, levels = Σ movements), which is all the reports' speed depends on.

Each report runs `--runs` times per period after one warm-up; p95 is reported (with 5 runs it is
the slowest). Goal: p95 <= 1 s on PostgreSQL, <= 2 s on SQLite.

`--tills` (SQLite): 4 processes sell 5-line sales through `sales.complete_sale` on the same file,
alone, then while another process runs the year's reports in a loop (`--till-modes`: background,
as pos-office runs them; unpaced, the same without resting while the tills write
(pos_core/reports/pacing.py); foreground, as before either), then alone again; `--till-rounds R`
alternates alone and beside R times. The checkout's p99 beside the reports (all such phases'
sales pooled) must stay within 1.2x of the p99 alone (every alone phase's sales pooled). In every
phase a sixth process runs the agent's WAL checkpointer (`sync_agent.checkpointer`, as `pos-agent
run` does beside the tills), so the tills leave checkpoints to it as in the product;
`--no-agent-checkpoints` leaves it out (each till checkpoints at its commits, as without the agent).

`--ab` times each report with the item summary and stored forecasts (migration 11), the discount
and salesperson summaries (migration 14), and without them, runs alternating, so both see the same
load; `--baseline` times everything without them.
`--ab --ab-what 18` switches off only migration 18's summaries (units sold per option, stored item
costs) for "before"; `--ab --ab-what 19` (or `--ab-years`) only the yearly roll-up of the
chain-wide item rows (migration 19: whole years read from the months instead).
`--ytd` times the year to date instead of the month and the year: the clock (`summary.now`) set to
20 December 2025, 14:00 in Pakistan, the period 1 January..20 December, the 20th the open day read
live. The database is first put back to how it stood that morning (`rewind`): the item summary as
last refreshed on 30 November, sales_daily on 19 December, so the first report (the untimed warm-up)
does the refreshes a person's first report of that day would do, through the real code. A later run
without --ytd catches the summaries up again by itself (the same refresh, from December 2025 on).
Generate once and reuse: `--url sqlite:////tmp/pos-bench-reports/base.db` then `--reuse`.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pos_core import branches as branchmod, db, migrations, reports, staff  # noqa: E402
from pos_core.reports import Filters  # noqa: E402

YEAR_START = dt.date(2025, 1, 1)   # a whole year in the past: the summaries see no future days
DAYS = 365
LAST_DAY = YEAR_START + dt.timedelta(days=DAYS - 1)
BRANCHES = 10
COUNTERS_PER_BRANCH = 2
GOAL_PG_S, GOAL_SQLITE_S = 1.0, 2.0
SIZES = ("S", "M", "L", "XL", "XXL")
COLOURS = ("Red", "Black")


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu or platform.processor()}, {os.cpu_count()} cores, Python {platform.python_version()}"


# --- writing rows fast on either database -----------------------------------------------------------

def _defaults(table: str, columns: tuple[str, ...]) -> list:
    """The model's Python-side defaults for NOT NULL columns the rows leave out (a uid added by a
    later migration, a flag): the database has no default for them."""
    from pos_core.models import MODELS
    model = next((m for m in MODELS if m._meta.table_name == table), None)
    if model is None:
        return []
    return [f for f in model._meta.sorted_fields if f.column_name not in columns and not f.null
            and not f.primary_key and f.default is not None]


def bulk(table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    if not rows:
        return
    extra = _defaults(table, columns)
    if extra:
        columns = tuple(columns) + tuple(f.column_name for f in extra)
        rows = [tuple(r) + tuple(f.default() if callable(f.default) else f.default for f in extra) for r in rows]
        if db.is_sqlite():   # as peewee would store them
            rows = [tuple(ts(v) if isinstance(v, dt.datetime) else v for v in r) for r in rows]
    if db.is_sqlite():
        conn = db.database.connection()
        marks = ", ".join("?" * len(columns))
        conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
    else:
        from psycopg2.extras import execute_values
        with db.database.connection().cursor() as cur:
            execute_values(cur, f"INSERT INTO {table} ({', '.join(columns)}) VALUES %s", rows, page_size=5000)


def ts(d: dt.datetime) -> str:
    return d.strftime("%Y-%m-%d %H:%M:%S")


def generate(scale: float, seed: int = 7) -> dict:
    rnd = random.Random(seed)
    n_products = max(20, int(5000 * scale))
    n_orders = max(200, int(300_000 * scale))
    t0 = time.perf_counter()
    with db.write():
        brs = [branchmod.create_branch(f"B{i:02d}", f"Branch {i}") for i in range(1, BRANCHES + 1)]
        counters = [branchmod.create_counter(b, f"C{j}", fbr_posid=f"{b.id}{j:04d}")
                    for b in brs for j in range(1, COUNTERS_PER_BRANCH + 1)]
    # scrypt PINs, one per person: outside the bulk transaction
    cashiers = [staff.create(f"c{i:02d}", f"Cashier {i}", "cashier", "1111") for i in range(20)]
    manager = staff.create("boss", "Owner", "admin", "9999")
    with db.write():
        now = ts(dt.datetime(2025, 1, 1))
        bulk("product", ("id", "title", "vendor", "category", "department", "sub_category", "status", "updated_at"),
             [(p, f"Product {p}", f"Vendor {p % 30}", f"Category {p % 20}", f"Dept {p % 4}", "", "ACTIVE", now)
              for p in range(1, n_products + 1)])
        variants = []
        for p in range(1, n_products + 1):
            price = rnd.choice((999_00, 1499_00, 2499_00, 3999_00, 5999_00))
            for k in range(10):
                vid = (p - 1) * 10 + k + 1
                option = f"{COLOURS[k // 5]} / {SIZES[k % 5]}"
                variants.append((vid, p, f"SKU{vid:06d}", f"Product {p} - {option}", option, price, 1800,
                                 "6204.4200", False, True, True, now, ""))
        bulk("variant", ("id", "product_id", "sku", "name", "option_text", "price_paisa", "tax_rate_bp", "pct_code",
                         "third_schedule", "tracked", "active", "updated_at", "measure_unit"), variants)
        price_of = {v[0]: v[5] for v in variants}
    n_variants = len(variants)
    on_hand: dict[tuple[int, int], int] = {}
    move_cols = ("event_key", "variant_id", "branch_id", "delta", "kind", "doc_type", "doc_ref", "staff_id",
                 "reason", "note", "created_at")
    moves = 0

    def add_moves(rows):
        nonlocal moves
        for r in rows:
            key = (r[1], r[2])
            on_hand[key] = on_hand.get(key, 0) + r[3]
        bulk("stock_movement", move_cols, rows)
        moves += len(rows)

    with db.write():  # opening stock: every variant at every branch, 1 Jan
        opening = ts(dt.datetime(2024, 12, 31, 19))
        for chunk in range(0, n_variants, 5000):
            add_moves([(f"opening:{b.code}:{v}", v, b.id, 20, "opening", "opening_stock", "open", None, "", "", opening)
                       for v in range(chunk + 1, min(n_variants, chunk + 5000) + 1) for b in brs])
    with db.write():  # a purchase order and one goods receipt per branch: every variant's cost
        bulk("supplier", ("name", "phone", "ntn"), [("Mills", "", "")])
        sup_id = db.database.execute_sql("SELECT id FROM supplier").fetchone()[0]
        grl = []
        for i, b in enumerate(brs):
            received = dt.datetime(2025, 1, 10 + i, 6)
            bulk("purchase_order", ("uid", "number", "branch_id", "supplier_id", "status", "created_by_id",
                                    "created_at", "note"),
                 [(uuid.uuid4().hex, f"{b.code}-PO-1", b.id, sup_id, "RECEIVED", manager.id, ts(received), "")])
            po_id = db.database.execute_sql("SELECT MAX(id) FROM purchase_order").fetchone()[0]
            bulk("goods_receipt", ("uid", "number", "order_id", "received_by_id", "received_at", "note"),
                 [(uuid.uuid4().hex, f"{b.code}-GRN-1", po_id, manager.id, ts(received), "")])
            gr_id = db.database.execute_sql("SELECT MAX(id) FROM goods_receipt").fetchone()[0]
            rows, mv = [], []
            for v in range(i + 1, n_variants + 1, BRANCHES):
                cost = price_of[v] * rnd.randint(40, 60) // 100
                rows.append((gr_id, len(rows) + 1, v, 30, cost))
                mv.append((f"receipt:{gr_id}:{len(rows)}", v, b.id, 30, "receipt", "goods_receipt", f"{b.code}-GRN-1",
                           manager.id, "", "", ts(received)))
            bulk("goods_receipt_line", ("receipt_id", "line_no", "variant_id", "qty", "unit_cost_paisa"), rows)
            add_moves(mv)
            grl.append(len(rows))

    # Sales and refunds, in chunks of days so memory stays small.
    order_cols = ("id", "uid", "number", "kind", "status", "counter_id", "branch_id", "shift_id", "cashier_id",
                  "original_id", "prices_include_tax", "subtotal_paisa", "discount_paisa", "tax_paisa",
                  "total_paisa", "service_fee_paisa", "paid_paisa", "change_paisa", "note", "fbr_invoice_number",
                  "fbr_offline", "created_at", "completed_at")
    line_cols = ("order_id", "line_no", "variant_id", "sku", "name", "qty", "unit_price_paisa", "price_overridden",
                 "line_discount_paisa", "order_discount_paisa", "tax_rate_bp", "tax_paisa", "value_excl_paisa",
                 "total_paisa", "pct_code", "third_schedule", "restock")
    pay_cols = ("order_id", "method", "amount_paisa", "tendered_paisa", "reference", "created_at")
    job_cols = ("uid", "channel", "kind", "payload", "idempotency_key", "status", "attempts", "next_attempt_at",
                "last_error", "doc_type", "doc_ref", "history", "created_at", "updated_at")
    shift_cols = ("id", "uid", "counter_id", "staff_id", "status", "opened_at", "opening_float_paisa", "closed_at",
                  "closed_by_id", "expected_paisa", "counted_paisa")
    per_day = n_orders / DAYS
    oid, lines_total, numbers = 0, 0, {c.id: 0 for c in counters}
    shift_id = 0
    recent_sales: list[tuple] = []
    methods = ("cash",) * 6 + ("card", "card", "wallet", "bank")
    for day_i in range(DAYS):
        day = YEAR_START + dt.timedelta(days=day_i)
        orders, lines, pays, jobs, mv, shifts_rows = [], [], [], [], [], []
        shift_of = {}
        for c in counters:
            shift_id += 1
            opened = dt.datetime.combine(day, dt.time(4))
            shift_of[c.id] = shift_id
            exp = rnd.randint(50_000_00, 150_000_00)
            shifts_rows.append((shift_id, uuid.uuid4().hex, c.id, cashiers[c.id % 20].id, "CLOSED", ts(opened), 5000_00,
                                ts(opened + dt.timedelta(hours=13)), manager.id, exp, exp + rnd.choice((0, 0, -500, 1000))))
        # weekday seasonality: Fridays and Saturdays sell more
        weight = 1.4 if day.weekday() in (4, 5) else 0.85
        count = int(per_day * weight + rnd.random())
        for _ in range(count):
            oid += 1
            c = counters[rnd.randrange(len(counters))]
            when = dt.datetime.combine(day, dt.time(5)) + dt.timedelta(seconds=rnd.randrange(13 * 3600))
            refund = recent_sales and rnd.random() < 0.03
            numbers[c.id] += 1
            if refund:
                orig_id, orig_c, orig_line = recent_sales[rnd.randrange(len(recent_sales))]
                v, q, price, disc, tax, excl, total = orig_line
                lines.append((oid, 1, v, f"SKU{v:06d}", f"Product - {v}", 1, price, False, disc // q, 0, 1800,
                              tax // q, excl // q, total // q, "6204.4200", False, True))
                t = total // q
                orders.append((oid, uuid.uuid4().hex, f"{c.id}-R{numbers[c.id]:07d}", "refund", "COMPLETED", c.id,
                               c.branch_id, shift_of[c.id], cashiers[c.id % 20].id, orig_id, True, price, disc // q,
                               tax // q, t, 0, t, 0, "", None, False, ts(when), ts(when)))
                pays.append((oid, "cash", t, t, "", ts(when)))
                mv.append((f"refund:{oid}:1", v, c.branch_id, 1, "refund", "pos_order", str(oid), None, "", "", ts(when)))
            else:
                n_lines = rnd.choice((1, 2, 3, 3, 4, 4, 5, 5, 6))
                sub = dsum = tsum = tot = 0
                for ln in range(1, n_lines + 1):
                    v = rnd.randint(1, n_variants)
                    q = rnd.choice((1, 1, 1, 2))
                    price = price_of[v]
                    gross = q * price
                    disc = gross // 10 if rnd.random() < 0.1 else 0
                    total = gross - disc
                    tax = (total * 1800 + 5900) // 11800
                    lines.append((oid, ln, v, f"SKU{v:06d}", f"Product - {v}", q, price, False, disc, 0, 1800, tax,
                                  total - tax, total, "6204.4200", False, True))
                    mv.append((f"sale:{oid}:{ln}", v, c.branch_id, -q, "sale", "pos_order", str(oid), None, "", "",
                               ts(when)))
                    sub, dsum, tsum, tot = sub + gross, dsum + disc, tsum + tax, tot + total
                    if ln == 1 and q <= 2:
                        recent_sales.append((oid, c.id, (v, q, price, disc, tax, total - tax, total)))
                fee = 100
                orders.append((oid, uuid.uuid4().hex, f"{c.id}-{numbers[c.id]:07d}", "sale", "COMPLETED", c.id,
                               c.branch_id, shift_of[c.id], cashiers[c.id % 20].id, None, True, sub, dsum, tsum, tot,
                               fee, tot + fee, 0, "", f"FBR{oid}", False, ts(when), ts(when)))
                m = rnd.choice(methods)
                if rnd.random() < 0.1:
                    half = (tot + fee) // 2
                    pays += [(oid, "card", half, half, "", ts(when)),
                             (oid, "wallet", tot + fee - half, tot + fee - half, "JazzCash 0300", ts(when))]
                else:
                    pays.append((oid, m, tot + fee, tot + fee, "Easypaisa 0345" if m == "wallet" else "", ts(when)))
            jobs.append((uuid.uuid4().hex, "fbr", "credit_note" if refund else "invoice", "{}", uuid.uuid4().hex,
                         "PENDING" if rnd.random() < 0.01 else "SYNCED", 1, ts(when), "", "pos_order",
                         orders[-1][1], "[]", ts(when), ts(when)))
        recent_sales = recent_sales[-5000:]
        with db.write():
            bulk("shift", shift_cols, shifts_rows)
            bulk("pos_order", order_cols, orders)
            bulk("pos_order_line", line_cols, lines)
            bulk("payment", pay_cols, pays)
            bulk("outbox_job", job_cols, jobs)
            add_moves(mv)
        lines_total += len(lines)
    # Transfers and adjustments until the ledger holds 2,000,000 movements (scaled).
    target = int(2_000_000 * scale)
    k = 0
    while moves < target:
        batch = []
        for _ in range(min(20_000, target - moves)):
            k += 1
            v, b = rnd.randint(1, n_variants), brs[rnd.randrange(BRANCHES)]
            when = dt.datetime.combine(YEAR_START + dt.timedelta(days=rnd.randrange(DAYS)), dt.time(6))
            kind, delta = rnd.choice((("transfer-in", 2), ("transfer-out", -1), ("adjustment", -1), ("adjustment", 1)))
            batch.append((f"{kind}:bench:{k}", v, b.id, delta, kind, "transfer", f"T{k}", None, "", "", ts(when)))
        with db.write():
            add_moves(batch)
    with db.write():
        for chunk_start in range(0, len(on_hand), 20_000):
            items = list(on_hand.items())[chunk_start:chunk_start + 20_000]
            bulk("stock_level", ("variant_id", "branch_id", "on_hand"), [(v, b, q) for (v, b), q in items])
    if db.is_postgres():
        for table in ("product", "variant", "pos_order", "shift"):
            db.database.execute_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                    f"(SELECT MAX(id) FROM {table}))")
        db.database.execute_sql("ANALYZE")
    else:
        db.database.execute_sql("ANALYZE")
    return {"variants": n_variants, "orders": oid, "lines": lines_total, "movements": moves,
            "levels": len(on_hand), "seconds": round(time.perf_counter() - t0, 1)}


# --- timing ---------------------------------------------------------------------------------------------

def p95(values: list[float]) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(0.95 * (len(s) - 1))))]


YTD_NOW = dt.datetime(2025, 12, 20, 9)   # UTC: 14:00 on 20 December in Pakistan


def periods(ytd: bool) -> list[tuple[str, Filters]]:
    if ytd:
        return [("ytd", Filters(YEAR_START, dt.date(2025, 12, 20)))]
    return [("month", Filters(dt.date(2025, 12, 1), dt.date(2025, 12, 31))), ("year", Filters(YEAR_START, LAST_DAY))]


PERIODS = periods(False)


def rewind(at: dt.datetime) -> None:
    """The clock set to `at`, and the day summaries' watermarks as the first report of that day
    finds them: sales_daily refreshed the day before, the item summary last on the last day of the
    month before (so its refresh stores that month's end and sums the year's closed months again, as
    the refresh on the 1st did). Nothing else is touched: the refreshes rewrite the rows."""
    from pos_core.reports import summary
    from pos_core.reports.common import PK_OFFSET, query
    summary.now = lambda: at
    day = (at + PK_OFFSET).date()
    marks = {"sales_daily": day - dt.timedelta(days=1), "sales_item_monthly": day.replace(day=1) - dt.timedelta(days=1)}
    with db.write():
        for name, d in marks.items():
            query("UPDATE summary_watermark SET through_id = ? WHERE name = ? AND through_id > ?",
                     [d.toordinal(), name, d.toordinal()], fetch=False)


def _line(key: str, row: dict) -> str:
    return f"  {key:18} " + "  ".join(f"{lb} p95 {row[lb]['p95_s']:6.3f} s (cpu {row[lb]['cpu_p95_s']:6.3f})"
                                      for lb, _ in PERIODS)


def time_reports(runs: int, keys: list[str] | None = None) -> list[dict]:
    out = []
    for entry in reports.CATALOG:
        if keys and entry.key not in keys:
            continue
        row = {"key": entry.key, "area": entry.area, "title": entry.title}
        for label, f in PERIODS:
            reports.run(entry.key, f)  # warm-up
            times, cpu = [], []
            for _ in range(runs):
                t, c = time.perf_counter(), time.process_time()
                rep = reports.run(entry.key, f)
                times.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)
            # On SQLite the query runs in this process, so its CPU time is the work itself, free of the
            # wait for a core on a shared machine; on PostgreSQL it is only the client's share.
            row[label] = {"p95_s": round(p95(times), 3), "median_s": round(statistics.median(times), 3),
                          "cpu_p95_s": round(p95(cpu), 3), "rows": len(rep.rows)}
        out.append(row)
        print(_line(entry.key, row), file=sys.stderr, flush=True)
    return out


AB_WHAT = "11"   # --ab-what: which summaries --ab switches off for "before"


def _switch(on: bool) -> None:
    from pos_core.reports import discounts, reorder, sales, stock
    if AB_WHAT == "18":   # units sold per option and the stored item costs only (migration 18)
        stock.USE_OPTION_SUMMARY, stock.USE_STORED_COST = on, on
        return
    if AB_WHAT == "19":   # whole years from the yearly item roll-up only (migration 19)
        from pos_core.reports import summary
        summary.USE_YEARS = on
        return
    sales.USE_ITEM_SUMMARY, reorder.USE_STORED = on, on
    # migration 14: discounted sales and sales per salesperson from their summaries or the documents
    discounts.USE_SUMMARIES, sales.USE_SALESPERSON_SUMMARY = on, on


def time_ab(runs: int, keys: list[str] | None) -> list[dict]:
    """Each report with the summaries (as now) and without (--baseline), the runs alternating,
    so both see the same load: the ratio is the trustworthy figure on a shared machine."""
    out = []
    for entry in reports.CATALOG:
        if keys and entry.key not in keys:
            continue
        row = {"key": entry.key}
        for label, f in PERIODS:
            got = {True: ([], []), False: ([], [])}
            for on in (True, False):   # warm-up
                _switch(on)
                reports.run(entry.key, f)
            for _ in range(runs):
                for on in (True, False):
                    _switch(on)
                    t, c = time.perf_counter(), time.process_time()
                    reports.run(entry.key, f)
                    got[on][0].append(time.perf_counter() - t)
                    got[on][1].append(time.process_time() - c)
            _switch(True)
            row[label] = {name: {"p95_s": round(p95(got[on][0]), 3), "cpu_p95_s": round(p95(got[on][1]), 3)}
                          for name, on in (("after", True), ("before", False))}
        out.append(row)
        print(f"  {entry.key:18} " + "  ".join(
            f"{lb} before {row[lb]['before']['p95_s']:6.3f} ({row[lb]['before']['cpu_p95_s']:5.2f}) after "
            f"{row[lb]['after']['p95_s']:6.3f} ({row[lb]['after']['cpu_p95_s']:5.2f})" for lb, _ in PERIODS),
            file=sys.stderr, flush=True)
    return out


# --- a report beside 4 selling tills (SQLite) -------------------------------------------------------------

WARM_SALES = 5


def _till(url: str, counter_id: int, staff_id: int, n: int, start, q) -> None:
    from decimal import Decimal
    from pos_core import sales, shifts
    from pos_core.models import Variant
    from pos_core.policy import SalePolicy
    db.open_database(url)   # autocheckpoint 0 while the agent's checkpointer runs (pos_core/wal.py)
    policy = SalePolicy(service_fee_paisa=100, fbr_enabled=True, fbr_posid="1")
    shift = shifts.current(counter_id) or shifts.open_shift(counter_id, staff_id, Decimal("5000"))
    vids = [v.id for v in Variant.select(Variant.id).limit(2000)]
    rnd = random.Random(counter_id)

    def sell() -> float:
        lines = [sales.SaleLine(rnd.choice(vids), 1) for _ in range(5)]
        t = time.perf_counter()
        sales.complete_sale(policy, counter_id=counter_id, shift_id=shift.id, staff_id=staff_id, lines=lines,
                            tenders=[sales.Tender("cash", Decimal("100000"))])
        return time.perf_counter() - t

    # A till at the counter has sold before: its first sales (statements prepared, pages read into
    # its cache) are not timed, in any phase, or they would be the p99 of a short run.
    for _ in range(WARM_SALES):
        sell()
    start.wait()
    times = []
    for _ in range(n):
        times.append(sell())
        time.sleep(0.05)   # a cashier scans between sales
    q.put((times, db.database.execute_sql("PRAGMA wal_autocheckpoint").fetchone()[0]))


def _checkpointer(url: str, stop) -> None:
    # the agent's own checkpointer loop (its heartbeat too), as `pos-agent run` starts it
    from sync_agent.checkpointer import Checkpointer
    db.open_database(url)
    Checkpointer(stop).run()


def _checkpointer_up() -> bool:
    from pos_core import heartbeat, wal
    row = wal.checkpoint_row(heartbeat.read())
    return row is not None and wal.agent_checkpoints(row["seen_at"], row["detail"])


def _reporter(url: str, stop, mode: str, ready, passes) -> None:
    from pos_core.reports import pacing
    os.nice(10)   # as pos-office does (POS_OFFICE_NICE)
    db.open_database(url)
    background = mode in ("background", "unpaced")
    if mode == "unpaced":
        pacing.REST_S = 0   # the reading never rests for the tills (as before pacing.py)
    year = Filters(YEAR_START, YEAR_START + dt.timedelta(days=DAYS - 1))
    keys = ["sales_day", "sales_item", "payments_day", "fbr_day", "stock_value"]
    took = []
    while not stop.is_set():
        t = time.perf_counter()
        for k in keys:
            # background: as pos-office runs a report (writes first, then reads at SCHED_IDLE)
            reports.run(k, year, background=background)
            if stop.is_set():
                break
        else:
            if ready.is_set():
                took.append(time.perf_counter() - t)
        ready.set()   # one pass done: the tills' timed sales start beside a report loop already running
    passes.put(took)


def _p99(times: list) -> float:
    times = sorted(times)
    return round(times[int(0.99 * (len(times) - 1))] * 1000, 1)


def _phase(url: str, n: int, mode, counters, person, agent_checkpoints: bool) -> tuple:
    """One phase: 4 tills sell n sales each, beside the report loop in `mode` (None: alone).
    Returns the sale times and the phase's figures."""
    from pos_core import wal
    ctx = mp.get_context("spawn")
    start, q, stop = ctx.Event(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_till, args=(url, c, person, n, start, q)) for c in counters]
    ready, passes = ctx.Event(), ctx.Queue()
    rep = ctx.Process(target=_reporter, args=(url, stop, mode, ready, passes)) if mode else None
    ckpt = ctx.Process(target=_checkpointer, args=(url, stop)) if agent_checkpoints else None
    if ckpt:
        ckpt.start()
        db.open_database(url)
        deadline = time.monotonic() + 30
        while not _checkpointer_up() and time.monotonic() < deadline:
            time.sleep(0.1)
        db.close()
    for p in procs:
        p.start()
    peak, sampling = [0], threading.Event()

    def sample_wal() -> None:   # the WAL file's high-water mark while the tills sell
        while not sampling.wait(0.2):
            peak[0] = max(peak[0], wal.wal_bytes(url[len("sqlite:///"):]) or 0)

    sampler = threading.Thread(target=sample_wal, daemon=True)
    sampler.start()
    if rep:
        # The process's start (imports, a cold connection, the first refresh checks) is not what
        # is measured: the tills' timed sales begin once its first pass is done.
        rep.start()
        ready.wait(300)
    start.set()
    times, autockpt = [], set()
    for _ in procs:   # a till that died (a schema older than the code) must not hang the run
        got, value = q.get(timeout=900)
        times += got
        autockpt.add(value)
    for p in procs:
        p.join()
    sampling.set()
    sampler.join()
    stop.set()
    took = []
    if rep:
        took = passes.get(timeout=300)
        rep.join()
    if ckpt:
        ckpt.join()
    return times, {"p50_ms": round(statistics.median(times) * 1000, 1), "p99_ms": _p99(times), "sales": len(times),
                   "wal_autocheckpoint": sorted(autockpt),   # the tills' connections, at the end
                   "wal_mb_peak": round(peak[0] / 1e6, 1),
                   # the 5 reports' loop beside the tills: whole passes, and how long each took
                   **({"report_passes": len(took), "report_pass_s": round(statistics.mean(took), 2) if took else None}
                      if rep else {})}


def tills(url: str, n: int, modes=("background",), agent_checkpoints: bool = True, rounds: int = 1) -> dict:
    """An untimed warm-up, then `rounds` times: alone, then beside each mode; then alone once more. A phase's p99 is the
    12th-slowest of 1,200 sales and moves by a third between phases on this VM, so the ratio is
    taken between the pooled sales of every alone phase and of every phase beside a mode, which
    see the same drift in the machine's load."""
    from pos_core.models import Counter, Staff
    counters = [c.id for c in Counter.select().order_by(Counter.id).limit(4)]
    person = Staff.get(Staff.code == "c00").id
    Staff.update(branch_codes="").execute()
    db.close()
    result, pooled = {"phases": []}, {}
    # The first phase after the machine sat idle is not counted: its p99 came to 139 ms against
    # 25-29 ms for every later alone phase (the file's pages and the processes' first work).
    phases = [("warm-up", None)] + [(f"beside reports ({m})" if m else "alone", m)
                                    for m in [None, *modes] * rounds + [None]]
    for label, mode in phases:
        times, figures = _phase(url, max(20, n // 4) if label == "warm-up" else n, mode, counters, person,
                                agent_checkpoints)
        if label != "warm-up":
            pooled.setdefault(label, []).extend(times)
        result["phases"].append({"phase": label, **figures})
        print(f"  checkout {label}: {figures}", file=sys.stderr, flush=True)
    for label, times in pooled.items():
        result[label] = {"p50_ms": round(statistics.median(times) * 1000, 1), "p99_ms": _p99(times),
                         "sales": len(times),
                         "phase_p99_ms": [ph["p99_ms"] for ph in result["phases"] if ph["phase"] == label]}
    for m in modes:
        result[f"ratio_p99 ({m})"] = round(result[f"beside reports ({m})"]["p99_ms"] / result["alone"]["p99_ms"], 2)
        print(f"  ratio p99 ({m}): {result[f'ratio_p99 ({m})']} (pooled {result['alone']['sales']} alone, "
              f"{result[f'beside reports ({m})']['sales']} beside)", file=sys.stderr, flush=True)
    db.open_database(url)
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=1.0, help="1.0 = 1,000,000 sale lines")
    ap.add_argument("--url", help="a database URL to fill (an empty PostgreSQL database, or a new SQLite path); "
                                  "default: a new SQLite file in a temporary directory")
    ap.add_argument("--reuse", action="store_true", help="the database at --url is already filled: only time")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", nargs="*", help="report keys to time (default: all)")
    ap.add_argument("--tills", action="store_true", help="also measure checkout beside a running report (SQLite)")
    ap.add_argument("--till-sales", type=int, default=100, help="sales per till in --tills")
    ap.add_argument("--till-rounds", type=int, default=1,
                    help="--tills: alternate alone and beside this many times (then alone once more); "
                         "the ratio is between the pooled sales")
    ap.add_argument("--till-modes", nargs="*", default=["background"], choices=["background", "unpaced", "foreground"],
                    help="how the reports run beside the tills: background (as pos-office: SCHED_IDLE, read-only, "
                         "resting while the tills write), unpaced (the same without the rests) "
                         "and/or foreground (nice 10 only, as before)")
    ap.add_argument("--no-agent-checkpoints", action="store_true",
                    help="--tills without the agent's WAL checkpointer: each till checkpoints at its commits")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--ab", action="store_true",
                    help="time each report (--only) with and without the item summary / stored forecasts, alternating")
    ap.add_argument("--ab-what", choices=["11", "18", "19"], default="11",
                    help="what --ab switches off: 11 = the item summary, stored forecasts (migration 11) and the "
                         "discount and salesperson summaries (migration 14), "
                         "18 = the per-option sold summary and stored item costs (migration 18), "
                         "19 = the yearly roll-up of the chain-wide item rows (migration 19)")
    ap.add_argument("--ab-years", action="store_true", help="the same as --ab --ab-what 19")
    ap.add_argument("--ytd", action="store_true",
                    help="time the year to date (1 January..20 December 2025) as on 20 December at 14:00 "
                         "instead of the month and the year (see the docstring)")
    ap.add_argument("--baseline", action="store_true",
                    help="time the reports as before migration 11: item reports from the documents, reorder forecast "
                         "computed each time (for a before/after in the same session)")
    args = ap.parse_args(argv)
    url = args.url or f"sqlite:///{Path(tempfile.mkdtemp(prefix='pos-bench-reports-')) / 'pos.db'}"
    db.open_database(url)
    figures = {"machine": machine(), "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "backend": "sqlite" if db.is_sqlite() else "postgresql", "url": url.split("@")[-1]}
    if not args.reuse:
        migrations.init()
        print(f"generating at scale {args.scale} into {figures['url']} ...", file=sys.stderr, flush=True)
        figures["data"] = generate(args.scale)
        print(f"  {figures['data']}", file=sys.stderr, flush=True)
    else:
        # A benchmark database kept from an older run: bring it to this code's schema first.
        t = time.perf_counter()
        applied = migrations.migrate()
        figures["migrations"] = {"applied": applied, "seconds": round(time.perf_counter() - t, 1)}
        print(f"  migrations applied: {applied} in {figures['migrations']['seconds']} s", file=sys.stderr, flush=True)
    if args.ytd:
        global PERIODS
        PERIODS = periods(True)
        rewind(YTD_NOW)
        figures["ytd_now_utc"] = YTD_NOW.isoformat()
    # The summaries' first build (once per database, at the upgrade), then a refresh with nothing new.
    from pos_core.reports import reorder, sales, summary
    builds = [("stock_activity", summary.refresh_stock_activity), ("stock_cost", summary.refresh_stock_cost),
              ("sales_daily", summary.refresh_sales)]
    if args.baseline:
        _switch(False)
    else:
        builds += [("sales_item_monthly", lambda: summary.refresh_items(groups=True)),
                   ("reorder_forecast", lambda: reorder.stored_at(LAST_DAY) or reorder.store_forecasts(LAST_DAY))]
    for name, fn in builds:
        t = time.perf_counter()
        fn()
        first = time.perf_counter() - t
        t = time.perf_counter()
        fn()
        figures.setdefault("summaries", {})[name] = {"first_build_s": round(first, 2),
                                                      "refresh_s": round(time.perf_counter() - t, 3)}
    print(f"  summaries: {figures['summaries']}", file=sys.stderr, flush=True)
    if args.ab or args.ab_years:
        global AB_WHAT
        AB_WHAT = "19" if args.ab_years else args.ab_what
        figures["ab"] = time_ab(args.runs, args.only)
        args.only = ["none"]
    figures["reports"] = time_reports(args.runs, args.only) if args.only != ["none"] else []
    goal = GOAL_SQLITE_S if db.is_sqlite() else GOAL_PG_S
    slow = [r["key"] for r in figures["reports"] if max(r[lb]["p95_s"] for lb, _ in PERIODS) > goal]
    figures["goal_s"], figures["over_goal"] = goal, slow
    if args.tills and db.is_sqlite():
        figures["tills"] = tills(url, args.till_sales, tuple(args.till_modes),
                                 agent_checkpoints=not args.no_agent_checkpoints, rounds=args.till_rounds)
    if args.json:
        print(json.dumps(figures, indent=1))
    else:
        print(f"{figures['backend']}: {len(slow)} report(s) over {goal} s: {', '.join(slow) or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
