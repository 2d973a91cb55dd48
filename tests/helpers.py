"""Small helpers shared by the service tests."""
from __future__ import annotations

from decimal import Decimal

from pos_core import sales
from pos_core.models import MODELS
from pos_core.policy import SalePolicy

POLICY = SalePolicy(shopify_enabled=True, fbr_enabled=True, fbr_posid="123456", service_fee_paisa=100)
PLAIN = SalePolicy()


def row_counts() -> dict[str, int]:
    """Rows in every table: the 'nothing was written' check."""
    return {m.__name__: m.select().count() for m in MODELS}


def cash_sale(site, items, policy=POLICY, **kw):
    """Sell [(variant, qty), ...] for exact cash."""
    lines = [sales.SaleLine(v.id, q) for v, q in items]
    tenders = kw.pop("tenders", None)
    if tenders is None:
        total = sum(v.price_paisa * q for v, q in items) + policy.service_fee_paisa
        tenders = [sales.Tender("cash", Decimal(total) / 100)]
    return sales.complete_sale(policy, counter_id=site.counter.id, shift_id=site.shift.id,
                               staff_id=kw.pop("staff_id", site.cashier.id), lines=lines, tenders=tenders, **kw)
