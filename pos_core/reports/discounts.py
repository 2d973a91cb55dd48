"""Discounts and overrides: who gave what, who approved it, against the role limits.

A sale's discount percentage here is the largest share any one line lost to discounts (line and
its part of the order discount, over quantity x unit price): the figure the till compared with
the cashier's limit. The approver is the one the till recorded in the audit trail
(`sale.discount_approved`). "Beyond limit" means the discount is above the cashier's own role
limit: every such sale should name an approver, and one without is worth a look.
"""
from __future__ import annotations

from decimal import Decimal

from .. import staff as staffmod
from .common import Column, Filters, Report, order_where, pk_day, query, rupees


def _limits(limits) -> dict[str, Decimal]:
    merged = dict(staffmod.DEFAULT_DISCOUNT_LIMITS)
    merged.update(limits or {})
    return merged


def given(f: Filters, limits: dict[str, Decimal] | None = None) -> Report:
    """One row per sale with a discount or a price override."""
    where, params = order_where(f)
    cat = ""
    if f.category is not None:
        cat = " AND EXISTS (SELECT 1 FROM pos_order_line cl JOIN variant cv ON cv.id = cl.variant_id " \
              "JOIN product cp ON cp.id = cv.product_id WHERE cl.order_id = o.id AND cp.category = ?)"
        params.append(f.category)
    rows = query(
        f"SELECT o.number, {pk_day('o.completed_at')}, s.name, s.role, ap.name, "
        "SUM(l.line_discount_paisa + l.order_discount_paisa), SUM(l.qty * l.unit_price_paisa), "
        "MAX(CASE WHEN l.qty * l.unit_price_paisa > 0 THEN "
        "(l.line_discount_paisa + l.order_discount_paisa) * 10000 / (l.qty * l.unit_price_paisa) ELSE 0 END), "
        "SUM(CASE WHEN l.price_overridden THEN 1 ELSE 0 END) "
        "FROM pos_order o JOIN pos_order_line l ON l.order_id = o.id JOIN staff s ON s.id = o.cashier_id "
        "LEFT JOIN audit_event a ON a.doc_ref = o.number AND a.action = 'sale.discount_approved' "
        "LEFT JOIN staff ap ON ap.id = a.approver_id "
        f"WHERE {where} AND o.kind = 'sale'{cat} GROUP BY o.id, o.number, o.completed_at, s.name, s.role, ap.name "
        "HAVING SUM(l.line_discount_paisa + l.order_discount_paisa) <> 0 "
        "OR SUM(CASE WHEN l.price_overridden THEN 1 ELSE 0 END) > 0 ORDER BY o.completed_at", params)
    lim = _limits(limits)
    out = []
    for number, day, cashier, role, approver, disc, gross, max_bp, overrides in rows:
        pct = (Decimal(int(max_bp or 0)) / 100).quantize(Decimal("0.01"))
        beyond = pct > lim[role]
        out.append([number, day, cashier, role, approver or "", rupees(disc), rupees(gross), pct, lim[role],
                    int(overrides or 0), "yes" if beyond else "", "NO APPROVER" if beyond and not approver else ""])
    cols = [Column("number", "Sale"), Column("day", "Day", "date"), Column("cashier", "Cashier"),
            Column("role", "Role"), Column("approver", "Approved by"), Column("discount", "Discount", "money"),
            Column("gross", "Gross", "money"), Column("pct", "Max %", "pct"), Column("limit", "Limit %", "pct"),
            Column("overrides", "Overrides", "int"), Column("beyond", "Beyond limit"), Column("flag", "Check")]
    return Report("Discounts and overrides", cols, out,
                  ["Total", "", "", "", "", sum((r[5] for r in out), rupees(0)), sum((r[6] for r in out), rupees(0)),
                   None, None, sum(r[9] for r in out), str(sum(1 for r in out if r[10])), ""],
                  notes=["Max % is the largest share one line lost to discounts; limits by role."], filters=f)


def by_cashier(f: Filters, limits: dict[str, Decimal] | None = None) -> Report:
    detail = given(f, limits)
    agg: dict[str, list] = {}
    for r in detail.as_dicts():
        a = agg.setdefault(r["cashier"], [r["cashier"], r["role"], 0, rupees(0), rupees(0), 0, 0, 0])
        a[2] += 1
        a[3] += r["discount"]
        a[4] += r["gross"]
        a[5] += 1 if r["approver"] else 0
        a[6] += 1 if r["beyond"] else 0
        a[7] += r["overrides"]
    rows = sorted(agg.values(), key=lambda a: -a[3])
    for a in rows:
        a.insert(5, (a[3] * 100 / a[4]).quantize(Decimal("0.01")) if a[4] else Decimal(0))
    cols = [Column("cashier", "Cashier"), Column("role", "Role"), Column("sales", "Sales", "int"),
            Column("discount", "Discount", "money"), Column("gross", "Gross", "money"),
            Column("pct", "% of gross", "pct"), Column("approved", "Approved", "int"),
            Column("beyond", "Beyond limit", "int"), Column("overrides", "Overrides", "int")]
    return Report("Discounts by cashier", cols, rows, filters=f)
