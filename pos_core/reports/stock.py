"""Stock: on hand and its value per branch, aging, dead stock, sell-through by size.

Levels are today's (the `stock_level` projection of the ledger), not as of the period's end; the
period decides only what "sold recently" means. Cost is the average cost of everything received
from suppliers (Σ qty x unit cost / Σ qty over goods receipts, rounded to the paisa): an item
never received from a supplier (opening stock only, or only transferred in) has no cost, so it is
left out of the value at cost and counted in "units without cost" instead of being valued at
zero. Value at retail uses today's price. The costs are kept per item in `stock_cost`
(summary.refresh_stock_cost), sell-through's units sold per option in `sales_option_monthly`.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from .. import db
from . import summary
from .common import Column, Filters, Report, query, rupees

USE_STORED_COST = True   # the benchmark's --ab and the tests switch it off: costs from the receipt lines
USE_OPTION_SUMMARY = True   # likewise: sell-through's sold part from the item rows
AGE_BUCKETS = [(30, "0-30 days"), (60, "31-60 days"), (90, "61-90 days"), (180, "91-180 days"),
               (None, "over 180 days")]


def _stored_costs() -> bool:
    """Read the costs from summary.stock_cost (caught up first), not from the receipt lines?"""
    from .sales import USE_SUMMARIES
    return USE_STORED_COST and USE_SUMMARIES and summary.cost_source() == "stock_cost"


def _costs(where: str = "1 = 1", stored: bool | None = None) -> str:
    """The average receipt cost per item as a table (variant_id, unit_cost; NULL or absent: never
    received), of the items `where` picks: summary.stock_cost or the lines (`stored`: already
    decided by _stored_costs)."""
    if _stored_costs() if stored is None else stored:
        return "stock_cost" if where == "1 = 1" else f"(SELECT variant_id, unit_cost FROM stock_cost WHERE {where})"
    return f"({summary.cost_select(where)})"


def unit_costs(variant_ids: list[int] | None = None) -> dict[int, int]:
    """Variant id -> average receipt cost in paisa (items never received are absent); of these
    items only, when given."""
    if variant_ids is None:
        return {int(v): int(c) for v, c in query(f"SELECT variant_id, unit_cost FROM {_costs()} uc "
                                                 "WHERE unit_cost IS NOT NULL")}
    out: dict[int, int] = {}
    ids = sorted(set(variant_ids))
    stored = _stored_costs()   # once, not for every chunk of ids
    for i in range(0, len(ids), 900):
        part = ids[i:i + 900]
        marks = ", ".join("?" * len(part))
        sql = f"SELECT variant_id, unit_cost FROM {_costs(f'variant_id IN ({marks})', stored)} uc"
        out.update({int(v): int(c) for v, c in query(sql, part) if c is not None})
    return out


def _level_where(f: Filters) -> tuple[str, list]:
    sql, params = ["1 = 1"], []
    if f.branch_id is not None:
        sql.append("sl.branch_id = ?")
        params.append(f.branch_id)
    if f.category is not None:
        # (a subquery, not a join: without a category the levels are read without the products)
        sql.append("sl.variant_id IN (SELECT cv.id FROM variant cv JOIN product cp ON cp.id = cv.product_id "
                   "WHERE cp.category = ?)")
        params.append(f.category)
    return " AND ".join(sql), params


def on_hand(f: Filters) -> Report:
    where, params = _level_where(f)
    rows = query(
        "SELECT b.code, b.name, COUNT(CASE WHEN sl.on_hand > 0 THEN 1 END), "
        "SUM(CASE WHEN sl.on_hand > 0 THEN sl.on_hand ELSE 0 END), "
        "SUM(CASE WHEN sl.on_hand > 0 AND uc.unit_cost IS NOT NULL THEN sl.on_hand * uc.unit_cost ELSE 0 END), "
        "SUM(CASE WHEN sl.on_hand > 0 THEN sl.on_hand * v.price_paisa ELSE 0 END), "
        "SUM(CASE WHEN sl.on_hand > 0 AND uc.unit_cost IS NULL THEN sl.on_hand ELSE 0 END), "
        "SUM(CASE WHEN sl.on_hand < 0 THEN 1 ELSE 0 END) "
        "FROM stock_level sl JOIN branch b ON b.id = sl.branch_id JOIN variant v ON v.id = sl.variant_id "
        f"LEFT JOIN {_costs()} uc ON uc.variant_id = v.id "
        f"WHERE {where} GROUP BY b.code, b.name ORDER BY b.code", params)
    out = [[code, name, int(items or 0), int(units or 0), rupees(cost), rupees(retail), int(nocost or 0), int(neg or 0)]
           for code, name, items, units, cost, retail, nocost, neg in rows]
    cols = [Column("branch", "Branch"), Column("name", "Name"), Column("items", "Items", "int"),
            Column("units", "Units", "int"), Column("value_cost", "At cost", "money"),
            Column("value_retail", "At retail", "money"), Column("no_cost", "Units w/o cost", "int"),
            Column("negative", "Below zero", "int")]
    tot = ["Total", "", sum(r[2] for r in out), sum(r[3] for r in out), sum((r[4] for r in out), rupees(0)),
           sum((r[5] for r in out), rupees(0)), sum(r[6] for r in out), sum(r[7] for r in out)]
    return Report("Stock on hand and value", cols, out, tot, filters=f,
                  notes=["Today's levels. Cost: average supplier receipt cost; never-received items have none."])


def _ts(value) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))


def _levels_from(products: bool = False) -> str:
    """Levels with their branch, item, cost and last sale and receipt (and product)."""
    return ("FROM stock_level sl JOIN branch b ON b.id = sl.branch_id JOIN variant v ON v.id = sl.variant_id "
            f"LEFT JOIN {_costs()} uc ON uc.variant_id = v.id "
            "LEFT JOIN stock_activity sa ON sa.variant_id = sl.variant_id AND sa.branch_id = sl.branch_id "
            + ("JOIN product pr ON pr.id = v.product_id " if products else ""))


def _days_since(when: dt.datetime | None, as_of: dt.datetime) -> int | None:
    return None if when is None else max(0, (as_of - when).days)


DEAD_LIMIT = 1000


def dead_stock(f: Filters, idle_days: int = 90, limit: int = DEAD_LIMIT) -> Report:
    """Items on hand with no sale at that branch for `idle_days` up to the period's end: the most
    money tied up first (at cost, else at retail), the first `limit` rows; totals cover them all."""
    as_of = f.end_utc
    cutoff = as_of - dt.timedelta(days=idle_days)
    summary.refresh_stock_activity()
    where, params = _level_where(f)
    # One pass over the levels for the totals and the first rows: SQLite keeps the idle positions
    # (most of a chain's 500,000 levels) in a temporary table read twice, where two queries made
    # two passes; PostgreSQL plans each reading on its own (NOT MATERIALIZED), in parallel, which
    # a materialized CTE would prevent.
    how = "MATERIALIZED" if db.is_sqlite() else "NOT MATERIALIZED"
    rows = query(
        f"WITH d AS {how} (SELECT b.code AS branch, v.sku AS sku, sl.variant_id AS variant_id, sl.on_hand AS on_hand, "
        "v.price_paisa AS price, uc.unit_cost AS unit_cost, sa.last_sold_at AS last_sold, "
        "sa.last_received_at AS last_received, COALESCE(sl.on_hand * uc.unit_cost, sl.on_hand * v.price_paisa) AS tied "
        f"{_levels_from()}WHERE {where} AND sl.on_hand > 0 AND (sa.last_sold_at IS NULL OR sa.last_sold_at <= ?)) "
        "SELECT 0 AS part, NULL AS branch, NULL AS sku, NULL AS name, SUM(on_hand) AS on_hand, NULL AS unit_cost, "
        "NULL AS price, NULL AS last_sold, NULL AS last_received, NULL AS tied, COUNT(*) AS n, "
        "SUM(CASE WHEN unit_cost IS NOT NULL THEN on_hand * unit_cost ELSE 0 END) AS cost, "
        "SUM(on_hand * price) AS retail FROM d "
        # (the names joined to the first rows only, not to every idle position before the sort)
        "UNION ALL SELECT 1, t.branch, t.sku, v.name, t.on_hand, t.unit_cost, t.price, t.last_sold, t.last_received, "
        "t.tied, CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT) "
        f"FROM (SELECT * FROM d ORDER BY d.tied DESC, d.branch, d.sku LIMIT {int(limit)}) t "
        "JOIN variant v ON v.id = t.variant_id ORDER BY 1, 10 DESC, 2, 3", params + [cutoff])
    out = []
    for _, branch, sku, name, on_hand, unit_cost, price, last_sold, last_received, *_ in rows[1:]:
        cost = on_hand * unit_cost if unit_cost is not None else None
        out.append([branch, sku, name, on_hand, _days_since(_ts(last_sold), as_of), _days_since(_ts(last_received), as_of),
                    rupees(cost) if cost is not None else None, rupees(on_hand * price)])
    count, units, cost, retail = rows[0][10], rows[0][4], rows[0][11], rows[0][12]
    cols = [Column("branch", "Branch"), Column("sku", "SKU"), Column("name", "Item"), Column("on_hand", "On hand", "int"),
            Column("days_unsold", "Days unsold", "int"), Column("days_received", "Days since rcvd", "int"),
            Column("value_cost", "At cost", "money"), Column("value_retail", "At retail", "money")]
    notes = ["Days unsold empty: never sold at that branch."]
    if count and count > len(out):
        notes.append(f"Showing the {len(out)} with the most value of {count}.")
    return Report(f"Dead stock (no sale in {idle_days} days)", cols, out,
                  [f"Total ({int(count or 0)} items)", "", "", int(units or 0), None, None, rupees(cost), rupees(retail)],
                  filters=f, notes=notes)


def aging(f: Filters) -> Report:
    """Units and value by days since the branch last received the item."""
    summary.refresh_stock_activity()
    as_of = f.end_utc
    where, params = _level_where(f)
    cases, bounds = [], []
    for limit, label in AGE_BUCKETS:
        if limit is None:
            cases.append(f"ELSE '{label}'")
        else:
            cases.append(f"WHEN sa.last_received_at > ? THEN '{label}'")
            bounds.append(as_of - dt.timedelta(days=limit + 1))
    bucket = "CASE WHEN sa.last_received_at IS NULL THEN 'never received' " + " ".join(cases) + " END"
    got = {label: (int(u or 0), int(c or 0), int(r or 0)) for label, u, c, r in query(
        f"SELECT {bucket}, SUM(sl.on_hand), SUM(CASE WHEN uc.unit_cost IS NOT NULL THEN sl.on_hand * uc.unit_cost "
        f"ELSE 0 END), SUM(sl.on_hand * v.price_paisa) {_levels_from()}WHERE {where} AND sl.on_hand > 0 "
        f"GROUP BY {bucket}", bounds + params + bounds)}
    labels = [label for _, label in AGE_BUCKETS] + ["never received"]
    rows = [[label, got.get(label, (0, 0, 0))[0], rupees(got.get(label, (0, 0, 0))[1]),
             rupees(got.get(label, (0, 0, 0))[2])] for label in labels]
    cols = [Column("age", "Since received"), Column("units", "Units", "int"),
            Column("value_cost", "At cost", "money"), Column("value_retail", "At retail", "money")]
    return Report("Stock aging", cols, rows, filters=f,
                  notes=["Days since the branch last received the item (supplier, transfer or opening stock)."])


def _size(option: str) -> str:
    # Options are written "Colour / Size" by the catalog import; a single option is the size itself.
    return option.split(" / ")[-1].strip() if option else ""


def _sold_by_option(f: Filters) -> list[tuple]:
    """(branch code, option, units sold net of refunds) in the period."""
    from .common import order_where
    from .sales import S_SIGN, item_where, items_summarised
    src = summary.option_source(f.start, f.end) if items_summarised(f) and f.category is None and USE_OPTION_SUMMARY \
        else None
    if src is not None:
        # The stored months hold units per branch and option already (~2,400 rows a chain's year).
        frm, where, params = src
        if f.branch_id is not None:
            where, params = where + " AND s.branch_id = ?", params + [f.branch_id]
        sql = (f"SELECT b.code, x.option_text, x.u FROM (SELECT s.branch_id AS branch_id, s.option_text AS option_text, "
               f"SUM({S_SIGN} * s.units) AS u {frm} WHERE {where} GROUP BY s.branch_id, s.option_text) x "
               "JOIN branch b ON b.id = x.branch_id")
        return query(sql, params)
    if items_summarised(f):
        frm, swhere, sparams = item_where(f, branches=True)
        # Grouped straight by branch and option (about a hundred groups): summing per item first
        # sent 440,000 rows to the client on a chain's year (PostgreSQL: 5.3 s against 1.3 s).
        sql = (f"SELECT b.code, v.option_text, SUM({S_SIGN} * s.units) {frm} JOIN branch b ON b.id = s.branch_id "
               f"JOIN variant v ON v.id = s.variant_id WHERE {swhere} GROUP BY b.code, v.option_text")
        return query(sql, sparams)
    where, params = order_where(f)
    if f.category is not None:
        where, params = where + " AND pr.category = ?", params + [f.category]
    return query(
        "SELECT b.code, v.option_text, SUM(CASE WHEN o.kind = 'refund' THEN -l.qty ELSE l.qty END) "
        "FROM pos_order_line l JOIN pos_order o ON o.id = l.order_id JOIN branch b ON b.id = o.branch_id "
        "JOIN variant v ON v.id = l.variant_id JOIN product pr ON pr.id = v.product_id "
        f"WHERE {where} GROUP BY b.code, v.option_text", params)


def sell_through_by_size(f: Filters) -> Report:
    """Units sold in the period / (sold + on hand now), per size: which sizes run out where."""
    sold = defaultdict(int)
    for branch, option, units in _sold_by_option(f):
        sold[(branch, _size(option))] += int(units or 0)
    held = defaultdict(int)
    lwhere, lparams = _level_where(f)
    codes = dict(query("SELECT id, code FROM branch"))
    # Grouped by option first, branch second, with no join to branch: SQLite then reads the levels
    # in table order and the items by key (by branch first it walks the branch index and fetches
    # each level row from it: 0.46 s against 0.28 s for 500,000 levels).
    for branch_id, option, units in query(
            "SELECT sl.branch_id, v.option_text, SUM(sl.on_hand) FROM stock_level sl "
            "JOIN variant v ON v.id = sl.variant_id "
            f"WHERE {lwhere} AND sl.on_hand > 0 GROUP BY v.option_text, sl.branch_id", lparams):
        held[(codes[branch_id], _size(option))] += int(units or 0)
    rows = []
    for key in sorted(set(sold) | set(held)):
        s, h = sold.get(key, 0), held.get(key, 0)
        pct = (Decimal(s * 100) / (s + h)).quantize(Decimal("0.1")) if s + h > 0 else None
        rows.append([key[0], key[1] or "-", s, h, pct])
    cols = [Column("branch", "Branch"), Column("size", "Size"), Column("sold", "Sold", "int"),
            Column("on_hand", "On hand", "int"), Column("sell_through", "Sell-through %", "pct")]
    return Report("Sell-through by size", cols, rows, filters=f,
                  notes=["Sell-through = sold in the period / (sold + on hand now)."])
