"""Four tills (four OS processes) use the same coupons and the same customer's points at the same
moment: a single-use code is used once, a 3-use code three times, and points are spent once.
Runs on SQLite and on PostgreSQL."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROUNDS = 4


def worker(url: str, counter_id: int, shift_id: int, staff_id: int, variant_id: int, customer_id: int,
           start_at: float, out: str) -> None:
    sys.path.insert(0, str(REPO))
    from pos_core import db, sales
    from pos_core.policy import SalePolicy
    from pos_core.sales import SaleLine, Tender
    db.open_database(url)
    got = []

    def attempt(what, **kw):
        try:
            o = sales.complete_sale(SalePolicy(), counter_id=counter_id, shift_id=shift_id, staff_id=staff_id,
                                    lines=[SaleLine(variant_id, 1)], **kw)
            got.append([what, o.uid, ""])
        except Exception as exc:  # noqa: BLE001 - recorded for the parent to judge
            got.append([what, None, f"{type(exc).__name__}: {exc}"])
    for r in range(ROUNDS):
        while time.time() < start_at + r * 0.5:
            time.sleep(0.001)
        attempt(f"ONCE-{r}", coupon_code=f"ONCE-{r}", tenders=[Tender("cash", Decimal("10000"))])
        attempt("THRICE", coupon_code="THRICE", tenders=[Tender("cash", Decimal("10000"))])
    while time.time() < start_at + ROUNDS * 0.5:
        time.sleep(0.001)
    attempt("POINTS", customer_id=customer_id, tenders=[Tender("points", Decimal("300")), Tender("cash", Decimal("5000"))])
    db.close()
    Path(out).write_text(json.dumps(got))


def test_four_tills_one_single_use_coupon(site, database, tmp_path):
    from pos_core import branches, coupons, customers, db, loyalty, promotions, shifts
    from pos_core.models import Coupon, CouponUse, PosOrder
    c3 = branches.create_counter(site.lhr, "C3")
    tills = [(site.counter, site.shift)] + [(c, shifts.open_shift(c.id, site.cashier.id, Decimal("1000")))
                                            for c in (site.counter2, c3, site.khi_counter)]
    promo = promotions.create("Parcel 10%", "bill_percent", value=1000, coupon_only=True)
    for r in range(ROUNDS):
        coupons.create(f"ONCE-{r}", promo.id, max_uses=1)
    coupons.create("THRICE", promo.id, max_uses=3)
    loyalty.set_program(point_value_paisa=100)
    ali = customers.get_or_create("03001234567", "Ali")
    loyalty.move(ali.id, 500, "adjust", "start", "adjust:race")
    db.close()
    start_at = time.time() + 3
    procs = []
    for i, (counter, shift) in enumerate(tills):
        args = json.dumps([database, counter.id, shift.id, site.cashier.id, site.suit.id, ali.id, start_at,
                           str(tmp_path / f"w{i}.json")])
        procs.append(subprocess.Popen([sys.executable, __file__, "worker", args], cwd=REPO,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    for p in procs:
        out = p.communicate(timeout=120)[0]
        assert p.returncode == 0, out
    results = [r for i in range(len(tills)) for r in json.loads((tmp_path / f"w{i}.json").read_text())]
    db.open_database(database)
    for r in range(ROUNDS):
        mine = [x for x in results if x[0] == f"ONCE-{r}"]
        assert len([x for x in mine if x[1]]) == 1, mine
        assert all("used" in x[2] for x in mine if not x[1]), mine
        assert Coupon.get(Coupon.code == f"ONCE-{r}").uses == 1
    thrice = [x for x in results if x[0] == "THRICE"]
    assert len([x for x in thrice if x[1]]) == 3 == Coupon.get(Coupon.code == "THRICE").uses, thrice
    assert CouponUse.select().count() == ROUNDS + 3
    sold = {x[1] for x in results if x[1]}
    assert {o.uid for o in PosOrder.select().where(PosOrder.kind == "sale")} == sold   # failures left nothing
    points = [x for x in results if x[0] == "POINTS"]
    assert len([x for x in points if x[1]]) == 1, points
    assert loyalty.balance(ali.id) == 200


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "worker":
    worker(*json.loads(sys.argv[2]))
