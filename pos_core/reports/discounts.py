"""Discounts and overrides: who gave what, who approved it, against the role limits.

A sale's discount percentage here is the largest share any one line lost to discounts (line and
its part of the order discount, over quantity x unit price): the figure the till compared with
the cashier's limit. The approver is the one the till recorded in the audit trail
(`sale.discount_approved`). "Beyond limit" means the discount is above the cashier's own role
limit: every such sale should name an approver, and one without is worth a look.

The discounted sales come from `sales_discount` (summary.py: one row per such sale, the open day
read live), narrowed there by day, branch, counter and cashier; a payment method or a category
keeps the sales with such a payment or line. `USE_SUMMARIES = False` finds the same sales in the
documents (tests compare the two; the benchmark times both).
"""
from __future__ import annotations

import math
from decimal import Decimal

from .. import staff as staffmod
from .common import Column, Filters, Report, day_summary_where, order_where, query, rupees

USE_SUMMARIES = True


def _limits(limits) -> dict[str, Decimal]:
    merged = dict(staffmod.DEFAULT_DISCOUNT_LIMITS)
    merged.update(limits or {})
    return merged


def _discounted(f: Filters) -> tuple[str, str, list]:
    """(FROM, WHERE, parameters): the period's discounted sales as `ds` (summary.DISCOUNT_COLUMNS)."""
    from . import summary
    if USE_SUMMARIES:
        frm, sql, params = day_summary_where(f, summary.discount_source(f.end), "ds")
    else:
        where, params = order_where(f, with_method=False)
        frm, sql = f"FROM ({summary.discount_select(where)}) ds", []
    if f.method:
        sql.append("EXISTS (SELECT 1 FROM payment pm WHERE pm.order_id = ds.order_id AND pm.method = ?)")
        params.append(f.method)
    if f.category is not None:
        sql.append("EXISTS (SELECT 1 FROM pos_order_line cl JOIN variant cv ON cv.id = cl.variant_id "
                   "JOIN product cp ON cp.id = cv.product_id WHERE cl.order_id = ds.order_id AND cp.category = ?)")
        params.append(f.category)
    return frm, " AND ".join(sql) or "1 = 1", params


# A sale's approvals, as the till recorded them (a sale approved twice shows twice).
_APPROVED = "LEFT JOIN audit_event a ON a.doc_ref = ds.number AND a.action = 'sale.discount_approved'"
_APPROVERS = f"JOIN staff s ON s.id = ds.cashier_id {_APPROVED} LEFT JOIN staff ap ON ap.id = a.approver_id"


def _limit_bp(lim: dict[str, Decimal]) -> dict[str, int]:
    # max_bp is whole basis points: above limit x 100 exactly when above its floor.
    return {role: math.floor(v * 100) for role, v in lim.items()}


def given(f: Filters, limits: dict[str, Decimal] | None = None) -> Report:
    """One row per sale with a discount or a price override."""
    frm, where, params = _discounted(f)
    # Staff as ids, named from one small read: 92,000 rows of names cost more to carry and decode.
    rows = query(f"SELECT ds.number, ds.day, ds.cashier_id, a.approver_id, ds.discount_paisa, ds.gross_paisa, "
                 f"ds.max_bp, ds.overrides {frm} {_APPROVED} WHERE {where} "
                 "ORDER BY ds.day, ds.completed_at, ds.order_id",   # the day's index gives this order
                 params)
    staff = {int(i): (name, role) for i, name, role in query("SELECT id, name, role FROM staff")}
    lim = _limits(limits)
    lim_bp = _limit_bp(lim)
    out = []
    total_disc = total_gross = total_over = beyond_n = 0
    # ~92,000 rows for a chain's year: amounts and percentages repeat (catalog prices, the usual
    # discounts), so each distinct value becomes a Decimal once; totals are summed in paisa. Max %
    # is whole basis points: scaleb gives it to 0.01 already, as quantize did.
    money: dict[int, Decimal] = {}
    pcts: dict[int, Decimal] = {}
    for number, day, cashier_id, approver_id, disc, gross, max_bp, overrides in rows:
        cashier, role = staff[int(cashier_id)]
        approver = staff[int(approver_id)][0] if approver_id is not None and int(approver_id) in staff else None
        bp, disc, gross, overrides = int(max_bp), int(disc), int(gross), int(overrides)
        beyond = bp > lim_bp[role]
        total_disc += disc
        total_gross += gross
        total_over += overrides
        beyond_n += beyond
        d = money.get(disc)
        if d is None:
            d = money[disc] = Decimal(disc) / 100
        g = money.get(gross)
        if g is None:
            g = money[gross] = Decimal(gross) / 100
        pct = pcts.get(bp)
        if pct is None:
            pct = pcts[bp] = Decimal(bp).scaleb(-2)
        out.append([number, day, cashier, role, approver or "", d, g, pct, lim[role], overrides,
                    "yes" if beyond else "", "NO APPROVER" if beyond and not approver else ""])
    cols = [Column("number", "Sale"), Column("day", "Day", "date"), Column("cashier", "Cashier"),
            Column("role", "Role"), Column("approver", "Approved by"), Column("discount", "Discount", "money"),
            Column("gross", "Gross", "money"), Column("pct", "Max %", "pct"), Column("limit", "Limit %", "pct"),
            Column("overrides", "Overrides", "int"), Column("beyond", "Beyond limit"), Column("flag", "Check")]
    return Report("Discounts and overrides", cols, out,
                  ["Total", "", "", "", "", rupees(total_disc), rupees(total_gross), None, None, total_over,
                   str(beyond_n), ""],
                  notes=["Max % is the largest share one line lost to discounts; limits by role."], filters=f)


_CASHIER_COLUMNS = [Column("cashier", "Cashier"), Column("role", "Role"), Column("sales", "Sales", "int"),
                    Column("discount", "Discount", "money"), Column("gross", "Gross", "money"),
                    Column("pct", "% of gross", "pct"), Column("approved", "Approved", "int"),
                    Column("beyond", "Beyond limit", "int"), Column("overrides", "Overrides", "int")]


def _cashier_row(name, role, sales, disc, gross, approved, beyond, overrides) -> list:
    pct = (disc * 100 / gross).quantize(Decimal("0.01")) if gross else Decimal(0)
    return [name, role, sales, disc, gross, pct, approved, beyond, overrides]


def by_cashier(f: Filters, limits: dict[str, Decimal] | None = None) -> Report:
    """The discounted sales (as `given` lists them) summed per cashier, the largest discount first."""
    if not USE_SUMMARIES:
        return _by_cashier_from_rows(f, limits)
    frm, where, params = _discounted(f)
    lim_bp = _limit_bp(_limits(limits))
    case = "CASE s.role " + " ".join("WHEN ? THEN ?" for _ in lim_bp) + " END"
    case_params = [v for role, bp in lim_bp.items() for v in (role, bp)]
    rows = query(f"SELECT s.name, MIN(s.role), COUNT(*), SUM(ds.discount_paisa), SUM(ds.gross_paisa), "
                 "SUM(CASE WHEN ap.name IS NOT NULL AND ap.name <> '' THEN 1 ELSE 0 END), "
                 f"SUM(CASE WHEN ds.max_bp > {case} THEN 1 ELSE 0 END), SUM(ds.overrides) "
                 f"{frm} {_APPROVERS} WHERE {where} GROUP BY s.name ORDER BY 4 DESC, MIN(ds.completed_at), 1",
                 case_params + params)
    out = [_cashier_row(name, role, int(n), rupees(d), rupees(g), int(a or 0), int(b or 0), int(o or 0))
           for name, role, n, d, g, a, b, o in rows]
    return Report("Discounts by cashier", _CASHIER_COLUMNS, out, filters=f)


def _by_cashier_from_rows(f: Filters, limits) -> Report:
    # The sum of the detail report's rows, in Python: what the SQL above must equal (tests).
    agg: dict[str, list] = {}
    for r in given(f, limits).as_dicts():
        a = agg.setdefault(r["cashier"], [r["cashier"], r["role"], 0, rupees(0), rupees(0), 0, 0, 0])
        a[2] += 1
        a[3] += r["discount"]
        a[4] += r["gross"]
        a[5] += 1 if r["approver"] else 0
        a[6] += 1 if r["beyond"] else 0
        a[7] += r["overrides"]
    rows = [_cashier_row(*a) for a in sorted(agg.values(), key=lambda a: -a[3])]
    return Report("Discounts by cashier", _CASHIER_COLUMNS, rows, filters=f)
