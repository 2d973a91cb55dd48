"""Salesperson commission: the floor staff who helped the customer, credited per line.

A sale line attributed to a salesperson (badge scan or code at the till) writes a `CommissionEntry`
in the sale's transaction: the line's value before tax and the commission by the plan for its
category (else the default plan). A refund line takes back its share, cumulatively like the money,
so refunding every unit takes back exactly what was credited. Slab plans are marginal rates over a
period's net sales and are worked out by `report`, on top of the per-line percentages.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from peewee import fn

from . import db
from .errors import InvalidInput, NotFound
from .models import CommissionEntry, CommissionPlan, PosOrderLine, Staff
from .money import prorate, round_half_up


def set_plan(name: str, *, rate_bp: int = 0, category: str = "", slabs: list[list[int]] | None = None) -> CommissionPlan:
    if not name.strip():
        raise InvalidInput("a commission plan needs a name")
    if rate_bp < 0 or rate_bp > 10000:
        raise InvalidInput("a commission rate is between 0 and 100%")
    if slabs is not None:
        if not slabs or any(len(s) != 2 or s[0] < 0 or not 0 <= s[1] <= 10000 for s in slabs):
            raise InvalidInput("slabs are FROM_RUPEES:PERCENT pairs with percentages between 0 and 100")
        slabs = sorted([list(s) for s in slabs])
        if slabs[0][0] != 0:
            raise InvalidInput("the first slab must start at Rs 0")
    with db.write():
        kind = CommissionPlan.slabs.is_null(slabs is None)
        row = CommissionPlan.get_or_none((CommissionPlan.category == category) & kind & (CommissionPlan.active == True))  # noqa: E712
        if row is None:
            row = CommissionPlan(category=category)
        row.name, row.rate_bp, row.slabs, row.active = name.strip(), rate_bp, slabs, True
        row.save()
    return row


def salesperson(code: str) -> Staff:
    """The person on a badge (their staff code) or typed."""
    person = Staff.get_or_none((Staff.code == (code or "").strip()) & (Staff.active == True))  # noqa: E712
    if person is None:
        raise NotFound(f"no salesperson with badge {code!r}")
    return person


def _rates() -> dict[str, int]:
    return {p.category: p.rate_bp for p in CommissionPlan.select().where(
        (CommissionPlan.active == True) & CommissionPlan.slabs.is_null())}  # noqa: E712


def on_sale(order, line_rows: list[PosOrderLine], people: dict[int, int], categories: dict[int, str],
            now: dt.datetime) -> None:
    """people: line_no -> salesperson staff id."""
    if not people:
        return
    rates = _rates()
    rows = []
    for r in line_rows:
        sp = people.get(r.line_no)
        if sp is None:
            continue
        rate = rates.get(categories.get(r.variant_id, ""), rates.get("", 0))
        rows.append(dict(order=order.id, line_no=r.line_no, salesperson=sp, base_paisa=r.value_excl_paisa,
                         commission_paisa=round_half_up(Decimal(r.value_excl_paisa) * rate / 10000),
                         event_key=f"commission:{order.uid}:{r.line_no}", created_at=now))
    if rows:
        CommissionEntry.insert_many(rows).on_conflict_ignore().execute()


def on_refund(refund, refund_rows: list[PosOrderLine], sold: dict[int, PosOrderLine],
              before_units: dict[int, int], now: dt.datetime) -> None:
    """Take back each refunded line's share. before_units: refund line_no -> units of the sold line
    refunded before this refund line."""
    ids = {r.original_line_id for r in refund_rows}
    credited = {}
    for e in CommissionEntry.select().where(CommissionEntry.order.in_(list({sold[i].order_id for i in ids}))):
        credited[(e.order_id, e.line_no)] = e
    rows = []
    for r in refund_rows:
        line = sold[r.original_line_id]
        e = credited.get((line.order_id, line.line_no))
        if e is None:
            continue
        before = before_units[r.line_no]

        def cut(amount):
            return prorate(amount, before + r.qty, line.qty) - prorate(amount, before, line.qty)
        rows.append(dict(order=refund.id, line_no=r.line_no, salesperson=e.salesperson_id,
                         base_paisa=-cut(e.base_paisa), commission_paisa=-cut(e.commission_paisa),
                         event_key=f"commission:{refund.uid}:{r.line_no}", created_at=now))
    if rows:
        CommissionEntry.insert_many(rows).on_conflict_ignore().execute()


@dataclass(frozen=True)
class ReportRow:
    code: str
    name: str
    lines: int
    base_paisa: int
    line_commission_paisa: int
    slab_commission_paisa: int

    @property
    def total_paisa(self) -> int:
        return self.line_commission_paisa + self.slab_commission_paisa


def slab_commission(base_paisa: int, slabs: list[list[int]] | None) -> int:
    """Marginal slabs: [[0, 100], [500000, 200]] = 1% of the first Rs 5,000 and 2% of the rest.
    (Slab thresholds are stored in paisa.)"""
    if not slabs or base_paisa <= 0:
        return 0
    total = Decimal(0)
    for i, (start, rate) in enumerate(slabs):
        end = slabs[i + 1][0] if i + 1 < len(slabs) else None
        if base_paisa <= start:
            break
        part = (min(base_paisa, end) if end is not None else base_paisa) - start
        total += Decimal(part) * rate / 10000
    return round_half_up(total)


def report(start: dt.datetime, end: dt.datetime) -> list[ReportRow]:
    """Per salesperson, entries made in [start, end) (UTC): sales less refunds in the period."""
    slab_plan = CommissionPlan.get_or_none((CommissionPlan.active == True) & CommissionPlan.slabs.is_null(False))  # noqa: E712
    q = (CommissionEntry.select(Staff.code, Staff.name, fn.COUNT(CommissionEntry.id),
                                fn.SUM(CommissionEntry.base_paisa), fn.SUM(CommissionEntry.commission_paisa))
         .join(Staff).where((CommissionEntry.created_at >= start) & (CommissionEntry.created_at < end))
         .group_by(Staff.code, Staff.name).order_by(Staff.code).tuples())
    return [ReportRow(code, name, int(n), int(base or 0), int(com or 0),
                      slab_commission(int(base or 0), slab_plan.slabs if slab_plan else None))
            for code, name, n, base, com in q]


def line_salespeople(order_id: int) -> dict[int, str]:
    """line_no -> salesperson name, for the receipt and the till."""
    return {e.line_no: e.salesperson.name for e in
            CommissionEntry.select(CommissionEntry, Staff).join(Staff).where(CommissionEntry.order == order_id)}
