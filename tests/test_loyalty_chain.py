"""Issue 16 across a chain (real head office on PostgreSQL, two branch databases, the real link):
points earned in Lahore are spendable in Karachi, a coupon used up in Lahore is refused in Karachi
once that use has reached it, and the head office holds every branch's commission and promotions."""
from __future__ import annotations

from decimal import Decimal

import pytest

from chain_kit import at, pull_until
from pos_core import coupons, customers, loyalty, promotions, sales
from pos_core.errors import InvalidInput
from pos_core.models import CommissionEntry, Coupon, OrderPromotion, PointsEntry, Variant
from test_chain_workflows import POLICY, _trade, link, needs_pg, sites, staff_id, sync  # noqa: F401


def _sell(code, sku, customer=None, points=0, coupon=None, salesperson=None):
    counter, shift = _trade(code)
    v = Variant.get(Variant.sku == sku)
    tenders = [sales.Tender("points", Decimal(points))] if points else []
    tenders.append(sales.Tender("cash", Decimal("100000")))
    return sales.complete_sale(POLICY, counter_id=counter.id, shift_id=shift.id, staff_id=staff_id("ayesha"),
                               lines=[sales.SaleLine(v.id, 1)], tenders=tenders,
                               customer_id=customer.id if customer else None, coupon_code=coupon,
                               salesperson_id=salesperson)


@needs_pg
def test_points_coupons_and_commission_across_branches(sites):
    s = sites
    with at(s["hq"]):
        promo = promotions.create("Parcel 10%", "bill_percent", value=1000, coupon_only=True)
        coupons.create("ONCE-CHAIN", promo.id, max_uses=1)
    for code in ("LHR1", "KHI1"):   # the rules come down; each branch sets its own point value
        with at(s[code]):
            ln = link(s, code)
            pull_until(ln, lambda: Coupon.get_or_none(Coupon.code == "ONCE-CHAIN") is not None)
            ln.close()
            loyalty.set_program(point_value_paisa=100)
            loyalty.set_rule("10")
    with at(s["LHR1"]):
        sana = customers.get_or_create("0300-1234567", "Sana")
        sale = _sell("LHR1", "1004", sana, coupon="ONCE-CHAIN", salesperson=staff_id("imran"))
        earned = loyalty.sale_points(sale)[0]
        assert earned > 0 and loyalty.balance(sana.id) == earned
    sync(s, "LHR1")
    with at(s["hq"]):
        assert Coupon.get(Coupon.code == "ONCE-CHAIN").uses == 1
        assert OrderPromotion.select().count() == 1 and CommissionEntry.select().count() == 1
        assert PointsEntry.select().count() == 1
    with at(s["KHI1"]):
        ln = link(s, "KHI1")
        pull_until(ln, lambda: (customers.find_by_phone("03001234567") is not None
                                and loyalty.balance(customers.find_by_phone("03001234567").id) == earned
                                and Coupon.get(Coupon.code == "ONCE-CHAIN").uses == 1))
        ln.close()
        sana_k = customers.find_by_phone("03001234567")
        with pytest.raises(InvalidInput, match="already been used"):
            _sell("KHI1", "1001", sana_k, coupon="ONCE-CHAIN")
        spent = _sell("KHI1", "1004", sana_k, points=earned)     # Lahore's points, spent in Karachi
        assert loyalty.sale_points(spent)[1] == earned
    sync(s, "KHI1")
    with at(s["hq"]):
        c = customers.find_by_phone("03001234567")
        assert loyalty.balance(c.id) == sum(e.delta for e in PointsEntry.select()) >= 0
