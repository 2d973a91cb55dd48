"""Issue 16 in the back office: commission per salesperson, what promotions and coupons gave away,
and points movements. Same SQL on SQLite and PostgreSQL; periods in Pakistan days (Filters)."""
from __future__ import annotations

from .. import commission as commissionmod
from ..models import CommissionPlan
from .common import Column, Filters, Report, keys_where, order_where, query, rupees


def commission(f: Filters) -> Report:
    """Per salesperson: sales less refunds attributed in the period, before tax, and the commission
    (per-line plans, plus the slab plan on the period's total)."""
    where, params = order_where(f, with_method=False)
    if f.salesperson_id is not None:
        where += " AND e.salesperson_id = ?"
        params.append(f.salesperson_id)
    rows = query(
        "SELECT s.code, s.name, COUNT(e.id), SUM(e.base_paisa), SUM(e.commission_paisa) "
        "FROM commission_entry e JOIN pos_order o ON o.id = e.order_id JOIN staff s ON s.id = e.salesperson_id "
        f"WHERE {where} GROUP BY s.code, s.name ORDER BY SUM(e.base_paisa) DESC", params)
    slabs = CommissionPlan.get_or_none((CommissionPlan.active == True) & CommissionPlan.slabs.is_null(False))  # noqa: E712
    out = []
    for code, name, n, base, com in rows:
        slab = commissionmod.slab_commission(int(base or 0), slabs.slabs if slabs else None)
        out.append([code, name, int(n), rupees(base or 0), rupees(com or 0), rupees(slab), rupees(int(com or 0) + slab)])
    cols = [Column("code", "Badge"), Column("name", "Salesperson"), Column("lines", "Lines", "int"),
            Column("net", "Net sales (ex tax)", "money"), Column("line_commission", "Commission", "money"),
            Column("slab", "Slab bonus", "money"), Column("total", "Total", "money")]
    totals = ["Total", "", sum(r[2] for r in out)] + [sum((r[i] for r in out), rupees(0)) for i in range(3, 7)]
    return Report("Commission by salesperson", cols, out, totals,
                  notes=["Refunds in the period take back their share of the commission."], filters=f)


def promotions(f: Filters) -> Report:
    """What each promotion (and coupon promotion) took off sales in the period."""
    where, params = order_where(f)
    rows = query(
        "SELECT p.name, COUNT(DISTINCT o.id), SUM(p.amount_paisa) FROM order_promotion p "
        f"JOIN pos_order o ON o.id = p.order_id WHERE {where} AND o.kind = 'sale' "
        "GROUP BY p.name ORDER BY SUM(p.amount_paisa) DESC", params)
    out = [[name, int(n), rupees(amount or 0)] for name, n, amount in rows]
    cols = [Column("name", "Promotion"), Column("sales", "Sales", "int"), Column("amount", "Given", "money")]
    return Report("Promotions and coupons", cols, out,
                  ["Total", sum(r[1] for r in out), sum((r[2] for r in out), rupees(0))], filters=f)


def points(f: Filters) -> Report:
    """Points earned, redeemed, given back, taken back and expired in the period. With a branch,
    counter or cashier: the movements of that branch's (counter's, cashier's) sales and refunds,
    the document an entry names (`doc_ref`, its number); expiry and overdraft settlements have
    none and count only without those filters."""
    keys, params = keys_where(f, "o")
    narrowed = bool(keys)
    join = " JOIN pos_order o ON o.number = pe.doc_ref" if narrowed else ""
    where = "".join(f" AND {k}" for k in keys)
    rows = query(f"SELECT pe.kind, COUNT(*), SUM(pe.delta) FROM points_entry pe{join} "
                 f"WHERE pe.created_at >= ? AND pe.created_at < ?{where} GROUP BY pe.kind ORDER BY pe.kind",
                 [f.start_utc, f.end_utc] + params)
    out = [[kind, int(n), int(total or 0)] for kind, n, total in rows]
    cols = [Column("kind", "Movement"), Column("entries", "Entries", "int"), Column("points", "Points", "int")]
    notes = ["A movement's branch, counter and cashier are its sale's or refund's (a refund at another branch "
             "counts there); expiry and overdraft settlements belong to no sale."]
    if narrowed:
        (loose,), = query("SELECT COUNT(*) FROM points_entry pe WHERE pe.created_at >= ? AND pe.created_at < ? "
                          "AND NOT EXISTS (SELECT 1 FROM pos_order o WHERE o.number = pe.doc_ref)",
                          [f.start_utc, f.end_utc])
        if loose:
            notes.append(f"{loose} movement(s) of the period belong to no sale (expiry, settlements): not counted here.")
    return Report("Loyalty points", cols, out, ["Net", sum(r[1] for r in out), sum(r[2] for r in out)], filters=f,
                  notes=notes)
