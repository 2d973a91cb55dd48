"""Sales: units, gross, discounts, tax and net, by any one dimension, net of refunds.

A refund counts against the day (and branch, counter, cashier) it was given on, with its lines'
own figures (refunds.py prorates them), so a full refund cancels its sale exactly. An exchange is
a refund and a sale, so it shows as both: the units that came back and the units that went out.

Figures per group: units, gross (quantity x unit price), discount (line and order), net (what was
charged for the goods, tax included), tax, and net before tax. Baskets count sales documents, not
refunds; average basket and items per basket are over sales only.
"""
from __future__ import annotations

from decimal import Decimal

from .. import db
from ..errors import InvalidInput
from .common import (SIGN, Column, Filters, Report, day_summary_where, line_salesperson, order_where, pk_day,
                     pk_hour, pk_weekday, query, rupees, salesperson_where)

# dimension -> (key expression, label expression, joins needed, column label)
DIMENSIONS = {
    "day": (None, None, set(), "Day"),
    "hour": (None, None, set(), "Hour"),
    "branch": ("b.code", "b.name", {"branch"}, "Branch"),
    "counter": ("b.code || '-' || c.code", "c.name", {"branch", "counter"}, "Counter"),
    "cashier": ("s.code", "s.name", {"cashier"}, "Cashier"),
    "item": ("l.sku", "l.name", set(), "Item"),
    "department": ("pr.department", "pr.department", {"product"}, "Department"),
    "category": ("pr.category", "pr.category", {"product"}, "Category"),
    "sub_category": ("pr.department || ' > ' || pr.category || ' > ' || pr.sub_category", "pr.sub_category",
                     {"product"}, "Sub-category"),
    "vendor": ("pr.vendor", "pr.vendor", {"product"}, "Vendor"),
    "option": ("v.option_text", "v.option_text", {"product"}, "Size / colour"),
    "salesperson": ("COALESCE(sp.code, '')", "sp.name", {"salesperson"}, "Salesperson"),
}
WEEKDAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")

MEASURES = [Column("units", "Units", "int"), Column("gross", "Gross", "money"),
            Column("discount", "Discount", "money"), Column("net", "Net", "money"),
            Column("tax", "Tax", "money"), Column("net_excl", "Net excl. tax", "money"),
            Column("baskets", "Baskets", "int")]

_SUMS = (f"SUM({SIGN} * l.qty), SUM({SIGN} * l.qty * l.unit_price_paisa), "
         f"SUM({SIGN} * (l.line_discount_paisa + l.order_discount_paisa)), SUM({SIGN} * l.total_paisa), "
         f"SUM({SIGN} * l.tax_paisa), SUM({SIGN} * l.value_excl_paisa), "
         "COUNT(DISTINCT CASE WHEN o.kind = 'sale' THEN o.id END)")

_JOINS = {
    "branch": "JOIN branch b ON b.id = o.branch_id",
    "counter": "JOIN counter c ON c.id = o.counter_id",
    "cashier": "JOIN staff s ON s.id = o.cashier_id",
    "product": "JOIN variant v ON v.id = l.variant_id JOIN product pr ON pr.id = v.product_id",
    "salesperson": f"LEFT JOIN staff sp ON sp.id = {line_salesperson()}",
}


def _line_sql(f: Filters, joins: set[str]) -> tuple[str, str, list]:
    where, params = order_where(f)
    if f.category is not None:
        joins = joins | {"product"}
        where += " AND pr.category = ?"
        params.append(f.category)
    sp_sql, sp_params = salesperson_where(f)
    where += sp_sql
    params += sp_params
    join_sql = " ".join(_JOINS[j] for j in ("branch", "counter", "cashier", "product", "salesperson") if j in joins)
    return f"FROM pos_order_line l JOIN pos_order o ON o.id = l.order_id {join_sql}", where, params


def _measures(row) -> list:
    units, gross, disc, net, tax, excl, baskets = row
    return [int(units or 0), rupees(gross), rupees(disc), rupees(net), rupees(tax), rupees(excl), int(baskets or 0)]


# --- the daily summary (summary.py): order-level dimensions without a category or method filter ---
USE_SUMMARIES = True   # tests switch it off to compare with the documents
SUMMARY_DIMENSIONS = {"day": ("x.k", "x.k"), "hour": ("x.k", "x.k"), "branch": ("b.code", "b.name"),
                      "counter": ("b.code || '-' || c.code", "c.name"), "cashier": ("s.code", "s.name")}
_SD = "(CASE WHEN sd.kind = 'refund' THEN -1 ELSE 1 END)"
_SD_SUMS = (f"SUM({_SD} * sd.units) AS u, SUM({_SD} * sd.gross_paisa) AS g, SUM({_SD} * sd.discount_paisa) AS d, "
            f"SUM({_SD} * sd.net_paisa) AS n, SUM({_SD} * sd.tax_paisa) AS t, SUM({_SD} * sd.excl_paisa) AS e, "
            "SUM(CASE WHEN sd.kind = 'sale' THEN sd.docs ELSE 0 END) AS bk")
_SD_ID = {"day": "sd.day", "hour": "sd.hour", "branch": "sd.branch_id", "counter": "sd.counter_id",
          "cashier": "sd.cashier_id"}
_SD_LABEL = {"branch": " JOIN branch b ON b.id = x.k",
             "counter": " JOIN counter c ON c.id = x.k JOIN branch b ON b.id = c.branch_id",
             "cashier": " JOIN staff s ON s.id = x.k"}


def summarised(f: Filters) -> bool:
    return USE_SUMMARIES and f.category is None and f.method is None and f.salesperson_id is None


def sd_where(f: Filters, source_of=None) -> tuple[str, str, list]:
    """(FROM clause, WHERE clause, parameters) over the daily summary as `sd`: the stored days and
    today's documents (summary.sales_source, or `source_of`: another day-stamped summary with
    the same keys), narrowed by period, branch, counter and cashier."""
    from . import summary
    frm, sql, params = day_summary_where(f, (source_of or summary.sales_source)(f.end), "sd")
    return frm, " AND ".join(sql), params


# --- sales per salesperson (summary.salesperson_source): shaped like sales_daily, with the
# salesperson, so the same sums apply; no category or method (those need the documents) ---
USE_SALESPERSON_SUMMARY = True   # the benchmark's baseline switches it off


def salespeople_summarised(f: Filters) -> bool:
    return USE_SUMMARIES and USE_SALESPERSON_SUMMARY and f.category is None and f.method is None


def _salesperson_where(f: Filters) -> tuple[str, str, list]:
    from . import summary
    frm, where, params = sd_where(f, summary.salesperson_source)
    if f.salesperson_id is not None:
        where += " AND sd.salesperson_id = ?"
        params = params + [f.salesperson_id]
    return frm, where, params


def _by_salesperson_summary(f: Filters) -> tuple[str, list]:
    # Summed per salesperson id first, then named and grouped by code as the documents report is.
    frm, where, params = _salesperson_where(f)
    inner = f"SELECT sd.salesperson_id AS k, {_SD_SUMS} {frm} WHERE {where} GROUP BY sd.salesperson_id"
    sums = ", ".join(f"SUM(x.{n})" for n in ("u", "g", "d", "n", "t", "e", "bk"))
    key, label, _, _ = DIMENSIONS["salesperson"]
    return (f"SELECT {key}, MIN({label}), {sums} FROM ({inner}) x LEFT JOIN staff sp ON sp.id = x.k "
            f"GROUP BY {key} ORDER BY 6 DESC, 1", params)


# --- the monthly item summary (summary.item_source): item-level dimensions without a counter,
# cashier or method filter (those need the documents' orders) ---
ITEM_DIMENSIONS = ("item", "department", "category", "sub_category", "vendor", "option")
S_SIGN = "(CASE WHEN s.kind = 'refund' THEN -1 ELSE 1 END)"


# The groups that lie within one category: their first line in a basket is in the category too, so
# their basket counts hold under a category filter (a department's first line may be another
# category's, so department, vendor and option with a category filter read the documents).
_IN_CATEGORY = ("item", "category", "sub_category")
USE_ITEM_SUMMARY = True   # the benchmark's baseline and the tests switch it off


def items_summarised(f: Filters) -> bool:
    return (USE_SUMMARIES and USE_ITEM_SUMMARY and f.counter_id is None and f.cashier_id is None and f.method is None
            and f.salesperson_id is None)   # the summary does not keep who sold a line


def item_where(f: Filters, groups: bool = False, branches: bool = False) -> tuple[str, str, list]:
    """(FROM, WHERE, parameters) over the item summary as `s`, narrowed by branch and category:
    the chain-wide rows unless a branch is chosen or `branches` (the caller needs s.branch_id)."""
    from . import summary
    frm, where, params = summary.item_source(f.start, f.end, groups, chain=f.branch_id is None and not branches)
    if f.branch_id is not None:
        where += " AND s.branch_id = ?"
        params = params + [f.branch_id]
    if f.category is not None:
        where += (" AND s.variant_id IN (SELECT v.id FROM variant v JOIN product pr ON pr.id = v.product_id "
                  "WHERE pr.category = ?)")
        params = params + [f.category]
    return frm, where, params


def _item_sums(docs: str) -> list[str]:
    """Units, gross, discount, net, tax, net excl. tax (refunds negative) and sales baskets."""
    return [f"SUM({S_SIGN} * s.{c})" for c in ("units", "gross_paisa", "discount_paisa", "net_paisa", "tax_paisa",
                                                "excl_paisa")] + [f"SUM(CASE WHEN s.kind = 'sale' THEN s.{docs} ELSE 0 END)"]


def catalog_first() -> bool:
    """Join each item-summary row to the catalog before grouping, rather than sum per item first?
    On PostgreSQL: it guesses 200 items for a GROUP BY over a UNION (the stored rows beside the
    days read live, every year to date), and plans the 50,000 items' catalog look-ups as nested
    loops after a hash spilled to disk; joining first it sees the rows' real number (sales by
    sub-category for a year to date: 0.44 s -> 0.15 s, eleven months of months 1.4 s -> 0.7 s, at
    load 3). On SQLite joining every row costs more (eleven months: 0.7 s -> 1.1 s)."""
    return db.is_postgres()


def _by_item_summary(dimension: str, f: Filters) -> tuple[str, list]:
    docs = f"docs_{dimension}"
    frm, where, params = item_where(f, groups=dimension != "item")
    order = "6 DESC, 1"
    if dimension == "item":
        return (f"SELECT s.sku, MIN(s.name), {', '.join(_item_sums(docs))} {frm} WHERE {where} GROUP BY s.sku "
                f"ORDER BY {order}", params)
    key, label, _, _ = DIMENSIONS[dimension]
    if catalog_first():
        return (f"SELECT {key}, MIN({label}), {', '.join(_item_sums(docs))} {frm} JOIN variant v ON v.id = s.variant_id "
                f"JOIN product pr ON pr.id = v.product_id WHERE {where} GROUP BY {key} ORDER BY {order}", params)
    # Sum per item first, then name the groups (joining every stored row to the catalog costs more).
    names = ["u", "g", "d", "n", "t", "e", "bk"]
    inner = (f"SELECT s.variant_id AS vid, {', '.join(f'{e} AS {n}' for e, n in zip(_item_sums(docs), names))} "
             f"{frm} WHERE {where} GROUP BY s.variant_id")
    return (f"SELECT {key}, MIN({label}), {', '.join(f'SUM(x.{n})' for n in names)} FROM ({inner}) x "
            f"JOIN variant v ON v.id = x.vid JOIN product pr ON pr.id = v.product_id GROUP BY {key} ORDER BY {order}",
            params)


def by(dimension: str, f: Filters, limit: int | None = None) -> Report:
    """Sales grouped by one dimension, the biggest net first (days and hours in order)."""
    if dimension not in DIMENSIONS:
        raise InvalidInput(f"sales cannot be grouped by {dimension!r}; use one of {', '.join(DIMENSIONS)}")
    key, label, joins, heading = DIMENSIONS[dimension]
    if dimension == "day":
        key = label = pk_day("o.completed_at")
    elif dimension == "hour":
        key = label = pk_hour("o.completed_at")
    frm, where, params = _line_sql(f, joins)
    order = "1" if dimension in ("day", "hour") else "6 DESC, 1"  # net, then the key
    sql = (f"SELECT {key}, MIN({label}), {_SUMS} {frm} WHERE {where} GROUP BY {key} ORDER BY {order}")
    # One salesperson's sales by day, branch, counter or cashier: their rows of the salesperson
    # summary, which has those keys (not the hour).
    by_salesperson = f.salesperson_id is not None and dimension != "hour" and salespeople_summarised(f)
    if dimension in SUMMARY_DIMENSIONS and (summarised(f) or by_salesperson):
        # Sum the summary rows by id first, then name the few groups (joining every row costs more).
        sd_from, where, params = sd_where(f) if summarised(f) else _salesperson_where(f)
        key, label = SUMMARY_DIMENSIONS[dimension]
        inner = (f"SELECT {_SD_ID[dimension]} AS k, {_SD_SUMS} {sd_from} WHERE {where} "
                 f"GROUP BY {_SD_ID[dimension]}")
        sql = (f"SELECT {key}, {label}, x.u, x.g, x.d, x.n, x.t, x.e, x.bk FROM ({inner}) x"
               f"{_SD_LABEL.get(dimension, '')} ORDER BY {order}")
    elif dimension == "salesperson" and salespeople_summarised(f):
        sql, params = _by_salesperson_summary(f)
    elif dimension in ITEM_DIMENSIONS and items_summarised(f) and (f.category is None or dimension in _IN_CATEGORY):
        sql, params = _by_item_summary(dimension, f)
    if limit:
        sql += f" LIMIT {int(limit)}"
    rows = [[r[0] if r[0] is not None else "", r[1] or ""] + _measures(r[2:]) for r in query(sql, params)]
    if dimension == "salesperson":
        rows = [r if r[0] else [r[0], "(no salesperson)"] + r[2:] for r in rows]
    if dimension == "hour":
        rows = [[f"{int(r[0]):02d}:00", ""] + r[2:] for r in rows]
    cols = [Column("key", heading, "date" if dimension == "day" else "text"), Column("name", "Name")] + MEASURES
    total_row = ["Total", ""] + totals(f)
    if dimension == "item":
        # The item's Urdu name (variant.urdu_name, issue 17) beside the figures, for the PDF and
        # the spreadsheet: looked up for the rows shown, however the figures were read.
        urdu = urdu_names([r[0] for r in rows])
        rows = [r + [urdu.get(r[0], "")] for r in rows]
        cols.append(Column("urdu", "Urdu name"))
        total_row.append("")
    return Report(f"Sales by {heading.lower()}", cols, rows, total_row, filters=f,
                  notes=["Net of refunds; a refund counts on the day it was given."])


def urdu_names(skus: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for i in range(0, len(skus), 500):
        part = skus[i:i + 500]
        marks = ", ".join("?" for _ in part)
        out.update({sku: name for sku, name in query(
            f"SELECT sku, urdu_name FROM variant WHERE sku IN ({marks}) AND urdu_name IS NOT NULL "
            "AND urdu_name <> ''", part)})
    return out


def totals(f: Filters) -> list:
    if summarised(f):
        sd_from, where, params = sd_where(f)
        return _measures(query(f"SELECT {_SD_SUMS} {sd_from} WHERE {where}", params)[0])
    if f.salesperson_id is not None and salespeople_summarised(f):
        frm, where, params = _salesperson_where(f)
        return _measures(query(f"SELECT {_SD_SUMS} {frm} WHERE {where}", params)[0])
    if f.category is not None and items_summarised(f):
        # Baskets with a line of the category: each counted once, by its first such line.
        frm, where, params = item_where(f, groups=True)
        return _measures(query(f"SELECT {', '.join(_item_sums('docs_category'))} {frm} WHERE {where}", params)[0])
    frm, where, params = _line_sql(f, set())
    return _measures(query(f"SELECT {_SUMS} {frm} WHERE {where}", params)[0])


def summary(f: Filters) -> Report:
    """The period's figures beside the previous period of the same length."""
    now, before = _summary_values(f), _summary_values(f.previous())
    rows = []
    for (key, label, kind), a, b in zip(_SUMMARY_ROWS, now, before):
        change = None if not b else ((Decimal(a) - Decimal(b)) * 100 / Decimal(b)).quantize(Decimal("0.1"))
        rows.append([label, a, b, change])
    prev = f.previous()
    return Report("Sales summary", [Column("measure", "Measure"),
                                    Column("current", f"{f.start}..{f.end}", "value"),
                                    Column("previous", f"{prev.start}..{prev.end}", "value"),
                                    Column("change", "Change %", "pct")], rows, filters=f)


_SUMMARY_ROWS = [("units", "Units", "int"), ("gross", "Gross", "money"), ("discount", "Discount", "money"),
                 ("net", "Net", "money"), ("tax", "Tax", "money"), ("net_excl", "Net excl. tax", "money"),
                 ("baskets", "Baskets", "int"), ("refunds", "Refunds", "money"),
                 ("avg_basket", "Average basket", "money"), ("items_per_basket", "Items per basket", "dec")]


def _summary_values(f: Filters) -> list:
    units, gross, disc, net, tax, excl, baskets = totals(f)
    frm, where, params = _line_sql(f, set())
    if summarised(f):
        sd_from, where, params = sd_where(f)
        sale_net, sale_units, refund_net = query(
            "SELECT SUM(CASE WHEN sd.kind = 'sale' THEN sd.net_paisa ELSE 0 END), "
            "SUM(CASE WHEN sd.kind = 'sale' THEN sd.units ELSE 0 END), "
            f"SUM(CASE WHEN sd.kind = 'refund' THEN sd.net_paisa ELSE 0 END) {sd_from} WHERE {where}", params)[0]
    else:
        sale_net, sale_units, refund_net = query(
            f"SELECT SUM(CASE WHEN o.kind = 'sale' THEN l.total_paisa ELSE 0 END), "
            f"SUM(CASE WHEN o.kind = 'sale' THEN l.qty ELSE 0 END), "
            f"SUM(CASE WHEN o.kind = 'refund' THEN l.total_paisa ELSE 0 END) {frm} WHERE {where}", params)[0]
    avg = (rupees(sale_net) / baskets).quantize(Decimal("0.01")) if baskets else Decimal(0)
    per = (Decimal(int(sale_units or 0)) / baskets).quantize(Decimal("0.01")) if baskets else Decimal(0)
    return [units, gross, disc, net, tax, excl, baskets, rupees(refund_net), avg, per]


def heatmap(f: Filters) -> Report:
    """Net sales by day of the week (rows, Monday first) and hour of day (columns, 00..23)."""
    frm, where, params = _line_sql(f, set())
    wd, hr, net = pk_weekday("o.completed_at"), pk_hour("o.completed_at"), f"SUM({SIGN} * l.total_paisa)"
    if summarised(f):
        frm, where, params = sd_where(f)
        wd, hr, net = "sd.weekday", "sd.hour", f"SUM({_SD} * sd.net_paisa)"
    cells = {(int(d), int(h)): rupees(n) for d, h, n in
             query(f"SELECT {wd}, {hr}, {net} {frm} WHERE {where} GROUP BY {wd}, {hr}", params)}
    hours = list(range(24))
    rows = [[WEEKDAYS[d]] + [cells.get((d, h), Decimal(0)) for h in hours] for d in (1, 2, 3, 4, 5, 6, 0)]
    return Report("Sales by weekday and hour", [Column("weekday", "Day")] +
                  [Column(f"h{h:02d}", f"{h:02d}", "money") for h in hours], rows, filters=f,
                  notes=["Pakistan time."])


def weekday_hour_grid(report: Report) -> tuple[list[str], list[int], list[list[float]]]:
    """The heatmap as a grid of numbers for a chart (floats only for drawing, never for money)."""
    return ([r[0] for r in report.rows], list(range(24)), [[float(v) for v in r[1:]] for r in report.rows])

