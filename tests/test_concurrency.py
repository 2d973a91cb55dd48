"""Four tills, four OS processes, one SQLite file: no sale is lost, no number skipped, no lock error.

Each worker is this file run as a script (`python tests/test_concurrency.py worker ...`), so it is a
separate interpreter with its own connection, as on a real shop floor where the tills and the sync
agent share the database. Every worker sells at its own counter, in its own shift, as fast as it can
for POS_CONCURRENCY_SECONDS (default 20), and writes down every sale it got back and every exception
that reached it. The parent then checks the database against those records.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import traceback
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

WORKERS = 4
SECONDS = float(os.environ.get("POS_CONCURRENCY_SECONDS", "20"))
REPO = Path(__file__).resolve().parent.parent


def worker(url: str, counter_id: int, shift_id: int, staff_id: int, variant_ids: list[int], start_at: float,
           seconds: float, out: str, seed: int) -> None:
    """Sell until the time is up; write {"sales": [...], "errors": [...]} to `out`."""
    sys.path.insert(0, str(REPO))
    from pos_core import db, sales
    from pos_core.policy import SalePolicy
    from pos_core.sales import SaleLine, Tender

    rng = random.Random(seed)
    db.open_database(url)
    policy = SalePolicy()
    done, errors, slowest = [], [], 0.0
    while time.time() < start_at:
        time.sleep(0.005)
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        lines = [SaleLine(rng.choice(variant_ids), rng.randint(1, 3)) for _ in range(rng.randint(1, 3))]
        t0 = time.perf_counter()
        try:
            order = sales.complete_sale(policy, counter_id=counter_id, shift_id=shift_id, staff_id=staff_id,
                                        lines=lines, tenders=[Tender("cash", Decimal("100000"))])
        except Exception as exc:  # noqa: BLE001 - the point is to record whatever reached the caller
            errors.append(f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
            continue
        slowest = max(slowest, time.perf_counter() - t0)
        done.append({"number": order.number, "uid": order.uid, "total": order.total_paisa,
                     "lines": [[l.variant_id, l.qty] for l in lines]})
    db.close()
    Path(out).write_text(json.dumps({"sales": done, "errors": errors, "slowest_s": slowest}))


@pytest.mark.slow
def test_four_processes_sell_at_once_without_loss_or_gaps(tmp_path):
    from conftest import make_site
    from pos_core import branches, db, ledger, migrations, shifts
    from pos_core.models import PosOrder, PosOrderLine, StockLevel, StockMovement

    path = tmp_path / "pos.db"
    url = f"sqlite:///{path}"
    db.open_database(url)
    migrations.init()
    site = make_site()
    c3 = branches.create_counter(site.lhr, "C3")
    tills = [(site.counter, site.shift)]
    for counter in (site.counter2, c3, site.khi_counter):
        tills.append((counter, shifts.open_shift(counter.id, site.cashier.id, Decimal("1000"))))
    variant_ids = [v.id for v in (site.kurta, site.suit, site.book, site.lipstick, site.local_only)]
    labels = {c.id: c.label for c, _ in tills}
    opening = {(v, b): q for v, b, q in StockLevel.select(StockLevel.variant, StockLevel.branch,
                                                          StockLevel.on_hand).tuples()}
    cashier_id = site.cashier.id
    db.close()

    start_at = time.time() + 3  # every interpreter is up before the first sale
    procs = []
    for i, (counter, shift) in enumerate(tills):
        args = json.dumps([url, counter.id, shift.id, cashier_id, variant_ids, start_at, SECONDS,
                           str(tmp_path / f"worker{i}.json"), i])
        procs.append(subprocess.Popen([sys.executable, __file__, "worker", args], cwd=REPO,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [p.communicate(timeout=SECONDS + 120)[0] for p in procs]
    for p, output in zip(procs, outputs):
        assert p.returncode == 0, output

    results = [json.loads((tmp_path / f"worker{i}.json").read_text()) for i in range(WORKERS)]
    errors = [e for r in results for e in r["errors"]]
    assert errors == [], f"{len(errors)} exception(s) reached a till; first:\n{errors[0]}"
    got = [s for r in results for s in r["sales"]]
    assert all(r["sales"] for r in results), "every till made at least one sale"
    print(f"\n{len(got)} sales in {SECONDS:g} s by {WORKERS} processes; slowest sale "
          f"{max(r['slowest_s'] for r in results) * 1000:.0f} ms")

    db.open_database(url)
    try:
        # Every sale a till got back is in the database with its lines and movements.
        orders = {o.uid: o for o in PosOrder.select().where(PosOrder.kind == "sale")}
        assert len(orders) == len(got), "the database holds exactly the sales the tills were given"
        lines_of = defaultdict(list)
        for l in PosOrderLine.select().order_by(PosOrderLine.line_no):
            lines_of[l.order_id].append([l.variant_id, l.qty])
        moves = {m.event_key: (m.variant_id, m.branch_id, m.delta) for m in
                 StockMovement.select().where(StockMovement.kind == "sale")}
        assert len(moves) == sum(len(s["lines"]) for s in got)
        sold = defaultdict(int)
        for s in got:
            o = orders.get(s["uid"])
            assert o is not None and o.number == s["number"] and o.status == "COMPLETED", s
            assert o.total_paisa == s["total"]
            assert lines_of[o.id] == s["lines"], s["number"]
            for n, (variant_id, qty) in enumerate(s["lines"], start=1):
                assert moves[f"sale:{o.uid}:{n}"] == (variant_id, o.branch_id, -qty), s["number"]
                sold[(variant_id, o.branch_id)] += qty

        # Gapless numbers per counter.
        by_counter = defaultdict(list)
        for o in orders.values():
            by_counter[o.counter_id].append(o.number)
        assert set(by_counter) == set(labels)
        for counter_id, numbers in by_counter.items():
            assert sorted(numbers) == [f"{labels[counter_id]}-{i:06d}" for i in range(1, len(numbers) + 1)]

        # The ledger and the levels agree, and deducted exactly what was sold.
        assert ledger.check() == []
        levels = {(v, b): q for v, b, q in StockLevel.select(StockLevel.variant, StockLevel.branch,
                                                             StockLevel.on_hand).tuples()}
        for key, qty in opening.items():
            assert qty - levels[key] == sold.get(key, 0), key
        assert sum(opening.values()) - sum(levels.values()) == sum(q for s in got for _, q in s["lines"])
    finally:
        db.close()

    cfg = tmp_path / "pos.toml"
    cfg.write_text(f'[database]\nurl = "{url}"\n')
    admin = Path(sys.executable).with_name("pos-admin")
    cmd = [str(admin)] if admin.exists() else [sys.executable, "-m", "pos_core.admin"]
    check = subprocess.run(cmd + ["--config", str(cfg), "check-stock"], capture_output=True, text=True,
                           cwd=REPO, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "stock levels match the ledger" in check.stdout


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "worker":
    worker(*json.loads(sys.argv[2]))
