"""Returns and exchanges: rate by item and by cashier, restocked or not.

The return rate of an item is units refunded in the period over units sold in the period (both
by completion day, so a return of last month's sale counts this month). The till records no
reason code on a refund yet, so there is no "by reason" view; restocked or not is per line.
"""
from __future__ import annotations

from decimal import Decimal

from .common import Column, Filters, Report, order_where, query, rupees


def _rate(part: int, whole: int) -> Decimal | None:
    return (Decimal(part) * 100 / whole).quantize(Decimal("0.1")) if whole else None


def _where(f: Filters) -> tuple[str, list]:
    where, params = order_where(f)
    if f.category is not None:
        where += (" AND l.variant_id IN (SELECT v.id FROM variant v JOIN product pr ON pr.id = v.product_id "
                  "WHERE pr.category = ?)")
        params.append(f.category)
    return where, params


def _by_item_rows(f: Filters) -> list[tuple]:
    """(SKU, name, sold, returned, restocked, in exchanges, refunded paisa) per item refunded."""
    from .sales import item_where, items_summarised
    if items_summarised(f):
        frm, where, params = item_where(f)
        return query(
            "SELECT s.sku, MIN(s.name), SUM(CASE WHEN s.kind = 'sale' THEN s.units ELSE 0 END), "
            "SUM(CASE WHEN s.kind = 'refund' THEN s.units ELSE 0 END), SUM(s.restocked_units), SUM(s.exchange_units), "
            f"SUM(CASE WHEN s.kind = 'refund' THEN s.net_paisa ELSE 0 END) {frm} WHERE {where} GROUP BY s.sku "
            "HAVING SUM(CASE WHEN s.kind = 'refund' THEN s.units ELSE 0 END) > 0 ORDER BY 4 DESC, 1", params)
    where, params = _where(f)
    # Only items refunded in the period can have a row: read their lines alone (refunds are a few
    # per cent of documents, so this skips most of a year's lines).
    rwhere, rparams = order_where(f, alias="ro")
    where += (" AND l.variant_id IN (SELECT rl.variant_id FROM pos_order_line rl JOIN pos_order ro "
              f"ON ro.id = rl.order_id WHERE {rwhere} AND ro.kind = 'refund')")
    params += rparams
    return query(
        "SELECT l.sku, MIN(l.name), SUM(CASE WHEN o.kind = 'sale' THEN l.qty ELSE 0 END), "
        "SUM(CASE WHEN o.kind = 'refund' THEN l.qty ELSE 0 END), "
        "SUM(CASE WHEN o.kind = 'refund' AND l.restock THEN l.qty ELSE 0 END), "
        "SUM(CASE WHEN o.kind = 'refund' AND o.exchange_uid IS NOT NULL THEN l.qty ELSE 0 END), "
        "SUM(CASE WHEN o.kind = 'refund' THEN l.total_paisa ELSE 0 END) "
        f"FROM pos_order_line l JOIN pos_order o ON o.id = l.order_id WHERE {where} GROUP BY l.sku "
        "HAVING SUM(CASE WHEN o.kind = 'refund' THEN l.qty ELSE 0 END) > 0 ORDER BY 4 DESC, 1", params)


def by_item(f: Filters) -> Report:
    rows = _by_item_rows(f)
    out = [[sku, name, int(sold), int(back), _rate(int(back), int(sold)), int(restocked), int(back) - int(restocked),
            int(exch), rupees(value)] for sku, name, sold, back, restocked, exch, value in rows]
    cols = [Column("sku", "SKU"), Column("name", "Item"), Column("sold", "Sold", "int"), Column("returned", "Returned", "int"),
            Column("rate", "Rate %", "pct"), Column("restocked", "Restocked", "int"),
            Column("not_restocked", "Not restocked", "int"), Column("exchanged", "In exchanges", "int"),
            Column("value", "Refunded", "money")]
    return Report("Returns by item", cols, out, filters=f,
                  notes=["Rate = units returned / units sold in the same period. No reason codes are recorded yet."])


def by_cashier(f: Filters) -> Report:
    where, params = _where(f)
    rows = query(
        "SELECT s.code, s.name, COUNT(DISTINCT CASE WHEN o.kind = 'refund' THEN o.id END), "
        "COUNT(DISTINCT CASE WHEN o.kind = 'refund' AND o.exchange_uid IS NOT NULL THEN o.id END), "
        "SUM(CASE WHEN o.kind = 'refund' THEN l.total_paisa ELSE 0 END), "
        "SUM(CASE WHEN o.kind = 'sale' THEN l.total_paisa ELSE 0 END), "
        "SUM(CASE WHEN o.kind = 'refund' AND NOT l.restock THEN l.qty ELSE 0 END) "
        "FROM pos_order_line l JOIN pos_order o ON o.id = l.order_id JOIN staff s ON s.id = o.cashier_id "
        f"WHERE {where} GROUP BY s.code, s.name HAVING COUNT(DISTINCT CASE WHEN o.kind = 'refund' THEN o.id END) > 0 "
        "ORDER BY 5 DESC, 1", params)
    out = [[code, name, int(n), int(ex), rupees(value), rupees(sold), _rate(int(value), int(sold)), int(nr)]
           for code, name, n, ex, value, sold, nr in rows]
    cols = [Column("cashier", "Code"), Column("name", "Cashier"), Column("refunds", "Refunds", "int"),
            Column("exchanges", "Exchanges", "int"), Column("value", "Refunded", "money"),
            Column("sold", "Own sales", "money"), Column("rate", "% of own sales", "pct"),
            Column("not_restocked", "Units not restocked", "int")]
    return Report("Returns by cashier", cols, out, filters=f,
                  notes=["Who gave the refund (it needs a supervisor); an exchange is counted once as a refund."])
