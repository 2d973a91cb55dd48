"""Gross margin by item and category: net sales before tax less the cost of the units sold.

Cost is the average supplier receipt cost (see stock.py). An item never received from a supplier
has no cost: its sales are shown with the margin left empty and are not in the margin totals, so
a shop that has not entered purchases sees "no cost" instead of a 100% margin.
"""
from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from .common import SIGN, Column, Filters, Report, order_where, query, rupees
from .stock import unit_costs


def _lines(f: Filters) -> list[tuple]:
    """(variant id, SKU, name, category, units, net excl. tax) per item sold in the period."""
    from .sales import S_SIGN, catalog_first, item_where, items_summarised
    if items_summarised(f):
        frm, where, params = item_where(f)
        if catalog_first():
            return query(f"SELECT s.variant_id, v.sku, v.name, pr.category, SUM({S_SIGN} * s.units), "
                         f"SUM({S_SIGN} * s.excl_paisa) {frm} JOIN variant v ON v.id = s.variant_id "
                         f"JOIN product pr ON pr.id = v.product_id WHERE {where} "
                         "GROUP BY s.variant_id, v.sku, v.name, pr.category ORDER BY 1", params)
        return query(f"SELECT x.vid, v.sku, v.name, pr.category, x.u, x.e FROM (SELECT s.variant_id AS vid, "
                     f"SUM({S_SIGN} * s.units) AS u, SUM({S_SIGN} * s.excl_paisa) AS e {frm} WHERE {where} "
                     "GROUP BY s.variant_id) x JOIN variant v ON v.id = x.vid JOIN product pr ON pr.id = v.product_id "
                     "ORDER BY 1", params)
    where, params = order_where(f)
    cat = ""
    if f.category is not None:
        cat, params = " AND pr.category = ?", params + [f.category]
    return query(f"SELECT l.variant_id, v.sku, v.name, pr.category, SUM({SIGN} * l.qty), "
                 f"SUM({SIGN} * l.value_excl_paisa) FROM pos_order_line l JOIN pos_order o ON o.id = l.order_id "
                 "JOIN variant v ON v.id = l.variant_id JOIN product pr ON pr.id = v.product_id "
                 f"WHERE {where}{cat} GROUP BY l.variant_id, v.sku, v.name, pr.category ORDER BY 1", params)


def _pct(margin: int, net: int) -> Decimal | None:
    """margin / net as a percentage to 0.1, half to even, in integers: a year's margin by item
    makes one for each of 50,000 items, and Decimal division was a quarter of its time."""
    if not net:
        return None
    tenths, rest = divmod(abs(margin) * 1000, abs(net))
    if 2 * rest > abs(net) or (2 * rest == abs(net) and tenths % 2):
        tenths += 1
    return Decimal(-tenths if (margin < 0) != (net < 0) else tenths).scaleb(-1)


COLS = [Column("units", "Units", "int"), Column("net_excl", "Net excl. tax", "money"), Column("cost", "Cost", "money"),
        Column("margin", "Margin", "money"), Column("margin_pct", "Margin %", "pct")]


def by_item(f: Filters) -> Report:
    costs = unit_costs()
    keyed, tot = [], [0, 0, 0]
    for variant_id, sku, name, _cat, units, net in _lines(f):
        units, net, cost = int(units or 0), int(net or 0), costs.get(int(variant_id))
        if cost is None:
            keyed.append(((True, 0, sku), [sku, name, units, rupees(net), None, None, None]))
            continue
        margin = net - cost * units
        keyed.append(((False, -margin, sku),
                      [sku, name, units, rupees(net), rupees(cost * units), rupees(margin), _pct(margin, net)]))
        tot[0] += net
        tot[1] += cost * units
        tot[2] += margin
    # Largest margin first, uncosted items last: sorted on the paisa (a year lists every item sold,
    # 50,000 rows on a chain, and comparing Decimals cost a tenth of a second).
    keyed.sort(key=lambda kr: kr[0])
    rows = [r for _, r in keyed]
    return Report("Margin by item", [Column("sku", "SKU"), Column("name", "Item")] + COLS, rows,
                  ["Total (costed)", "", None, rupees(tot[0]), rupees(tot[1]), rupees(tot[2]), _pct(tot[2], tot[0])],
                  filters=f, notes=["Cost: average supplier receipt cost; items never received have no margin."])


def by_category(f: Filters) -> Report:
    costs = unit_costs()
    agg: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])  # units, net, cost, margin, uncosted net
    for variant_id, _sku, _name, cat, units, net in _lines(f):
        units, net, cost = int(units or 0), int(net or 0), costs.get(int(variant_id))
        a = agg[cat or ""]
        a[0] += units
        if cost is None:
            a[4] += net
            continue
        a[1] += net
        a[2] += cost * units
        a[3] += net - cost * units
    rows = [[cat or "-", u, rupees(n), rupees(c), rupees(m), _pct(m, n), rupees(x)]
            for cat, (u, n, c, m, x) in sorted(agg.items(), key=lambda kv: -kv[1][3])]
    return Report("Margin by category", [Column("category", "Category")] + COLS +
                  [Column("uncosted", "Sales w/o cost", "money")], rows, filters=f,
                  notes=["Net excl. tax, cost and margin are over costed items only."])
