"""Summary tables the reports keep, and how they stay equal to the documents.

`stock_activity` holds, per item and branch, the last sale and the last receipt (a goods receipt,
a transfer in, opening stock). The stock reports need them for every item a chain holds; finding
them in the ledger (2,000,000 movements a year) each time is the slow part. The ledger is
append-only, so the summary is caught up from the movements after its watermark (the highest
movement id already folded in), inside one write transaction, before each stock report runs:
a no-op when nothing moved, a few milliseconds after a day's trade.

On PostgreSQL ids come from a sequence before commit, so a movement with a lower id can become
visible after a higher one was folded in. Each refresh therefore re-reads the last `LOOKBACK` ids
below the watermark too; folding a movement in twice changes nothing (the values are maxima). A
transaction would have to stay open while 10,000 later movements commit to be missed.
`recompute_stock_activity()` rebuilds the same rows from the whole ledger; the tests compare them.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import threading

from .. import db
from .common import query

_local = threading.local()


@contextlib.contextmanager
def read_only():
    """Within: the summaries are read as stored and never refreshed (no write, so no lock a till
    could wait on): what is not stored yet is read from the documents instead. Reports run so at
    a low CPU priority (reports.run(background=True)) after a refresh at the normal one."""
    before = getattr(_local, "read_only", False)
    _local.read_only = True
    try:
        yield
    finally:
        _local.read_only = before


def writes_allowed() -> bool:
    return not getattr(_local, "read_only", False)

RECEIVED_KINDS = ("receipt", "transfer-in", "opening")
LOOKBACK = 10_000
_NAME = "stock_activity"


def _activity_sql(where: str) -> str:
    kinds = ", ".join(f"'{k}'" for k in RECEIVED_KINDS)
    return ("SELECT variant_id, branch_id, MAX(CASE WHEN kind = 'sale' THEN created_at END), "
            f"MAX(CASE WHEN kind IN ({kinds}) AND delta > 0 THEN created_at END) FROM stock_movement "
            f"WHERE {where} GROUP BY variant_id, branch_id")


def _later(column: str) -> str:
    # The later of the stored and the new value; NULL means "never" (portable: no GREATEST in SQLite).
    return (f"{column} = CASE WHEN excluded.{column} IS NULL THEN stock_activity.{column} "
            f"WHEN stock_activity.{column} IS NULL OR excluded.{column} > stock_activity.{column} "
            f"THEN excluded.{column} ELSE stock_activity.{column} END")


def refresh_stock_activity() -> int:
    """Fold the movements since the last refresh into stock_activity; returns rows touched."""
    if not writes_allowed():
        return 0
    row = query("SELECT through_id FROM summary_watermark WHERE name = ?", [_NAME])
    if row and (query("SELECT MAX(id) FROM stock_movement")[0][0] or 0) <= int(row[0][0]):
        return 0                 # nothing moved: no write transaction at all
    with db.write():
        top = query("SELECT MAX(id) FROM stock_movement")[0][0] or 0
        row = query("SELECT through_id FROM summary_watermark WHERE name = ?", [_NAME])
        through = int(row[0][0]) if row else 0
        if row and top <= through:
            return 0
        start = max(0, through - LOOKBACK) if db.is_postgres() else through
        rows = query(_activity_sql("id > ? AND id <= ?"), [start, top])
        for i in range(0, len(rows), 2000):
            chunk = rows[i:i + 2000]
            marks = ", ".join(["(?, ?, ?, ?)"] * len(chunk))
            params = [v for r in chunk for v in r]
            query(f"INSERT INTO stock_activity (variant_id, branch_id, last_sold_at, last_received_at) "
                  f"VALUES {marks} ON CONFLICT (variant_id, branch_id) DO UPDATE SET "
                  f"{_later('last_sold_at')}, {_later('last_received_at')}", params, fetch=False)
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        if row:
            query("UPDATE summary_watermark SET through_id = ?, updated_at = ? WHERE name = ?", [top, now, _NAME],
                  fetch=False)
        else:
            query("INSERT INTO summary_watermark (name, through_id, updated_at) VALUES (?, ?, ?)", [_NAME, top, now],
                  fetch=False)
        return len(rows)


def _norm(value):
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))


def stored_stock_activity() -> dict[tuple[int, int], tuple]:
    return {(int(v), int(b)): (_norm(s), _norm(r)) for v, b, s, r in
            query("SELECT variant_id, branch_id, last_sold_at, last_received_at FROM stock_activity")}


def recompute_stock_activity() -> dict[tuple[int, int], tuple]:
    """The same rows, from the whole ledger (what the summary must always equal)."""
    return {(int(v), int(b)): (_norm(s), _norm(r)) for v, b, s, r in query(_activity_sql("1 = 1"))}


# --- daily sales and payments --------------------------------------------------------------------
# Past Pakistan days never change: a document is dated when it is completed, and a refund or an
# exchange is a new document dated the day it is given. So the tables hold closed days only, and
# the reports read today's documents live (a day's worth, cheap) beside them: no write while the
# tills sell. A day counts as closed SETTLE after midnight (a document stamped 23:59:59 and
# committed a moment later is in). Once a day the first report recomputes, from the documents,
# the days closed since the last refresh (and the one before, to be safe), in one transaction.
SETTLE = dt.timedelta(hours=1)
_SALES = "sales_daily"
_SALES_KEY = "day, hour, weekday, branch_id, counter_id, cashier_id, kind"
SALES_COLUMNS = (f"{_SALES_KEY}, docs, fees_paisa, units, gross_paisa, discount_paisa, net_paisa, tax_paisa, "
                 "excl_paisa")
PAYMENT_COLUMNS = "day, branch_id, counter_id, cashier_id, kind, method, amount_paisa"


def now() -> dt.datetime:
    """The clock (tests move it)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def open_from() -> tuple[str, dt.datetime]:
    """The first day not yet closed (Pakistan date, ISO) and its first UTC instant."""
    from .common import PK_OFFSET
    day = (now() - SETTLE + PK_OFFSET).date()
    return day.isoformat(), dt.datetime.combine(day, dt.time()) - PK_OFFSET


def _sales_select(where: str) -> str:
    from .common import pk_day, pk_hour, pk_weekday
    day, hour, wd = pk_day("o.completed_at"), pk_hour("o.completed_at"), pk_weekday("o.completed_at")
    docs = (f"SELECT {day} AS day, {hour} AS hour, {wd} AS weekday, o.branch_id, o.counter_id, o.cashier_id, "
            f"o.kind, COUNT(*) AS docs, SUM(o.service_fee_paisa) AS fees FROM pos_order o WHERE {where} "
            "GROUP BY 1, 2, 3, 4, 5, 6, 7")
    lines = (f"SELECT {day} AS day, {hour} AS hour, o.branch_id, o.counter_id, o.cashier_id, o.kind, "
             "SUM(l.qty) AS units, SUM(l.qty * l.unit_price_paisa) AS gross, "
             "SUM(l.line_discount_paisa + l.order_discount_paisa) AS discount, SUM(l.total_paisa) AS net, "
             "SUM(l.tax_paisa) AS tax, SUM(l.value_excl_paisa) AS excl "
             f"FROM pos_order_line l JOIN pos_order o ON o.id = l.order_id WHERE {where} GROUP BY 1, 2, 3, 4, 5, 6")
    return (f"SELECT d.day, d.hour, d.weekday, d.branch_id, d.counter_id, d.cashier_id, d.kind, d.docs, d.fees, "
            "COALESCE(a.units, 0), COALESCE(a.gross, 0), COALESCE(a.discount, 0), COALESCE(a.net, 0), "
            f"COALESCE(a.tax, 0), COALESCE(a.excl, 0) FROM ({docs}) d LEFT JOIN ({lines}) a ON a.day = d.day "
            "AND a.hour = d.hour AND a.branch_id = d.branch_id AND a.counter_id = d.counter_id "
            "AND a.cashier_id = d.cashier_id AND a.kind = d.kind")


def _payments_select(where: str) -> str:
    from .common import pk_day
    from .payments import _METHOD
    day = pk_day("o.completed_at")
    return (f"SELECT {day}, o.branch_id, o.counter_id, o.cashier_id, o.kind, {_METHOD}, SUM(p.amount_paisa) "
            f"FROM payment p JOIN pos_order o ON o.id = p.order_id WHERE {where} GROUP BY 1, 2, 3, 4, 5, 6")


_DOCS = "o.status = 'COMPLETED' AND o.kind IN ('sale', 'refund')"


def _ordinal(day: str) -> int:
    return dt.date.fromisoformat(day).toordinal()


def _stale_from(marks: dict[str, int], name: str, open_day: str) -> str | None:
    """The first Pakistan day (ISO) a day-stamped summary must recompute, "0000-00-00" for all of
    it, or None when it is up to date: from the day before its last refresh when a day has closed
    since, and from the day of any document stored after the last refresh (by id) but completed in
    a day already stored (a late push to the head office, a till with a slow clock)."""
    from .common import PK_OFFSET
    if name not in marks:
        return "0000-00-00"
    first = None
    if marks[name] < _ordinal(open_day):
        first = dt.date.fromordinal(marks[name] - 1).isoformat()
    late = query(f"SELECT MIN(o.completed_at) FROM pos_order o WHERE o.id > ? AND {_DOCS}",
                 [marks.get(f"{name}:id", 0)])[0][0]
    if late is not None:
        late_day = ((late if isinstance(late, dt.datetime) else dt.datetime.fromisoformat(str(late))) + PK_OFFSET).date()
        if late_day.toordinal() < marks[name]:
            first = min(first or "9999", late_day.isoformat())
    return first


def _visible_top() -> int:
    """The highest order id, such that every order up to it is visible. On PostgreSQL ids come
    from a sequence before commit: waiting (briefly, in a transaction of its own) for the
    transactions inserting orders now makes them all visible to what is read next."""
    if db.is_postgres():
        with db.write():
            query("LOCK TABLE pos_order IN SHARE MODE", fetch=False)
    return int(query("SELECT COALESCE(MAX(id), 0) FROM pos_order")[0][0])


def refresh_sales() -> str | None:
    """Store the days closed since the last refresh (and the days of late documents); returns
    the first day recomputed, or None when nothing changed (no write at all, the usual case
    while tills sell)."""
    if not writes_allowed():
        return None
    open_day, open_start = open_from()
    names = (_SALES, f"{_SALES}:id")
    if _stale_from(_watermarks(*names), _SALES, open_day) is None:
        return None
    top = _visible_top() if db.is_postgres() else None
    with db.write():
        marks = _watermarks(*names)
        first_day = _stale_from(marks, _SALES, open_day)
        if first_day is None:
            return None          # another process did it meanwhile
        if db.is_sqlite():
            top = _visible_top()
        if first_day != "0000-00-00":
            from .common import PK_OFFSET
            first_start = dt.datetime.combine(dt.date.fromisoformat(first_day), dt.time()) - PK_OFFSET
            where, params = f"{_DOCS} AND o.completed_at >= ? AND o.completed_at < ?", [first_start, open_start]
            query("DELETE FROM sales_daily WHERE day >= ?", [first_day], fetch=False)
            query("DELETE FROM payments_daily WHERE day >= ?", [first_day], fetch=False)
        else:
            where, params = f"{_DOCS} AND o.completed_at < ?", [open_start]
            query("DELETE FROM sales_daily", fetch=False)
            query("DELETE FROM payments_daily", fetch=False)
        query(f"INSERT INTO sales_daily ({SALES_COLUMNS}) {_sales_select(where)}", params * 2, fetch=False)
        query(f"INSERT INTO payments_daily ({PAYMENT_COLUMNS}) {_payments_select(where)}", params, fetch=False)
        _fill_day_tables(where, params, first_day)
        _set_watermark(_SALES, _ordinal(open_day), _SALES in marks)
        _set_watermark(f"{_SALES}:id", top, f"{_SALES}:id" in marks)
    return first_day


def stored_open(name: str) -> tuple[str, dt.datetime]:
    """The first day a day-stamped summary does not hold (what the clock says is closed may not
    be stored yet, in read_only), and its first UTC instant."""
    from .common import PK_OFFSET
    mark = _watermarks(name).get(name)
    day = dt.date.fromordinal(mark) if mark else dt.date(1, 1, 2)
    return day.isoformat(), dt.datetime.combine(day, dt.time()) - (PK_OFFSET if mark else dt.timedelta())


def _day_source(table: str, columns: str, select, end: dt.date, wheres: int = 1) -> tuple[str, list]:
    """A day-stamped summary kept by refresh_sales, as reports read it: the stored closed days,
    plus the open day's documents live (`select` over them) when the period reaches it: those up
    to the period's end (the reports' day filter drops later ones anyway; a till whose clock runs
    ahead, or the benchmark's year to date, would otherwise have them all summed first)."""
    from .common import PK_OFFSET
    refresh_sales()
    open_day, open_start = stored_open(_SALES)
    if end.isoformat() < open_day:
        return table, []
    live = select(f"{_DOCS} AND o.completed_at >= ? AND o.completed_at < ?")
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time()) - PK_OFFSET
    return (f"(SELECT {columns} FROM {table} WHERE day < ? UNION ALL {live})",
            [open_day] + [open_start, until] * wheres)


def sales_source(end: dt.date) -> tuple[str, list]:
    """What reports read as `sd`: the stored closed days, plus today's documents live when the
    period reaches today."""
    return _day_source("sales_daily", SALES_COLUMNS, _sales_select, end, wheres=2)


def payments_source(end: dt.date) -> tuple[str, list]:
    return _day_source("payments_daily", PAYMENT_COLUMNS, _payments_select, end)


# --- discounted sales and sales per salesperson (migration 14) ----------------------------------
# Two more day-stamped summaries, kept by refresh_sales with sales_daily: the same days deleted
# and recomputed in the same transaction, under the same watermarks (so a late document is
# picked up here too), the open day read live. `sales_discount` has one row per discounted sale
# (the discounts reports list ~92,000 of a chain's year; finding them means reading every line);
# `sales_salesperson_daily` the lines per day, order-level keys and salesperson.
DISCOUNT_COLUMNS = ("order_id, number, day, completed_at, branch_id, counter_id, cashier_id, discount_paisa, "
                    "gross_paisa, max_bp, overrides")
SALESPERSON_COLUMNS = ("day, branch_id, counter_id, cashier_id, salesperson_id, kind, docs, units, gross_paisa, "
                       "discount_paisa, net_paisa, tax_paisa, excl_paisa")


def discount_select(where: str) -> str:
    """Completed sales (of `where`, over `o` and its lines `l`) with a discount or an override,
    one row each, in DISCOUNT_COLUMNS order. Max bp: the largest share one line lost to
    discounts (its own and its part of the order's), over quantity x unit price."""
    from .common import pk_day
    disc = "SUM(l.line_discount_paisa + l.order_discount_paisa)"
    overrides = "SUM(CASE WHEN l.price_overridden THEN 1 ELSE 0 END)"
    return (f"SELECT o.id AS order_id, o.number AS number, {pk_day('o.completed_at')} AS day, "
            "o.completed_at AS completed_at, o.branch_id AS branch_id, o.counter_id AS counter_id, "
            f"o.cashier_id AS cashier_id, {disc} AS discount_paisa, SUM(l.qty * l.unit_price_paisa) AS gross_paisa, "
            "MAX(CASE WHEN l.qty * l.unit_price_paisa > 0 THEN "
            "(l.line_discount_paisa + l.order_discount_paisa) * 10000 / (l.qty * l.unit_price_paisa) ELSE 0 END) "
            f"AS max_bp, {overrides} AS overrides FROM pos_order o JOIN pos_order_line l ON l.order_id = o.id "
            f"WHERE {where} AND o.kind = 'sale' "
            "GROUP BY o.id, o.number, o.completed_at, o.branch_id, o.counter_id, o.cashier_id "
            f"HAVING {disc} <> 0 OR {overrides} > 0")


def _salesperson_select(where: str) -> str:
    from .common import line_salesperson, pk_day
    return (f"SELECT {pk_day('o.completed_at')}, o.branch_id, o.counter_id, o.cashier_id, {line_salesperson()}, "
            "o.kind, COUNT(DISTINCT o.id), SUM(l.qty), SUM(l.qty * l.unit_price_paisa), "
            "SUM(l.line_discount_paisa + l.order_discount_paisa), SUM(l.total_paisa), SUM(l.tax_paisa), "
            "SUM(l.value_excl_paisa) FROM pos_order_line l JOIN pos_order o ON o.id = l.order_id "
            f"WHERE {where} GROUP BY 1, 2, 3, 4, 5, 6")


_DAY_TABLES = (("sales_discount", DISCOUNT_COLUMNS, discount_select),
               ("sales_salesperson_daily", SALESPERSON_COLUMNS, _salesperson_select))


def _fill_day_tables(where: str, params: list, first_day: str) -> None:
    """Inside refresh_sales's transaction: the same days of the migration 14 summaries (not yet
    there while an upgrade runs migration 11, whose refresh comes first: 14 builds them after)."""
    for table, columns, select in _DAY_TABLES:
        if not db.database.table_exists(table):
            continue
        if first_day == "0000-00-00":
            query(f"DELETE FROM {table}", fetch=False)
        else:
            query(f"DELETE FROM {table} WHERE day >= ?", [first_day], fetch=False)
        query(f"INSERT INTO {table} ({columns}) {select(where)}", params, fetch=False)


def build_day_tables() -> None:
    """Migration 14: the closed days sales_daily already holds, summed into the new tables (later
    refreshes keep them with it). Nothing stored yet: the next refresh builds everything."""
    mark = _watermarks(_SALES).get(_SALES)
    if mark:
        _, open_start = stored_open(_SALES)
        _fill_day_tables(f"{_DOCS} AND o.completed_at < ?", [open_start], "0000-00-00")


def discount_source(end: dt.date) -> tuple[str, list]:
    return _day_source("sales_discount", DISCOUNT_COLUMNS, discount_select, end)


def salesperson_source(end: dt.date) -> tuple[str, list]:
    return _day_source("sales_salesperson_daily", SALESPERSON_COLUMNS, _salesperson_select, end)


def _norm_rows(rows) -> set:
    # Both databases alike: PostgreSQL numerics as int, timestamps as datetimes.
    out = set()
    for r in rows:
        out.add(tuple(int(v) if hasattr(v, "as_tuple") else _norm(v) if isinstance(v, str) and len(v) > 18
                      and v[4] == "-" and v[10] == " " else v for v in r))
    return out


def stored_day_tables() -> dict[str, set]:
    return {table: _norm_rows(query(f"SELECT {columns} FROM {table}")) for table, columns, _ in _DAY_TABLES}


def recompute_day_tables() -> dict[str, set]:
    """The rows both tables must hold (every closed day), straight from the documents."""
    _, open_start = open_from()
    return {table: _norm_rows(query(select(f"{_DOCS} AND o.completed_at < ?"), [open_start]))
            for table, _, select in _DAY_TABLES}


def stored_sales() -> tuple[set, set]:
    s = {tuple(int(v) if isinstance(v, (int,)) or hasattr(v, "as_tuple") else v for v in r) for r in query(
        f"SELECT {SALES_COLUMNS} FROM sales_daily")}
    p = {tuple(int(v) if hasattr(v, "as_tuple") else v for v in r) for r in query(
        f"SELECT {PAYMENT_COLUMNS} FROM payments_daily")}
    return s, p


def recompute_sales() -> tuple[set, set]:
    """The rows both tables must hold (every closed day), straight from the documents."""
    _, open_start = open_from()
    where = f"{_DOCS} AND o.completed_at < ?"
    s = {tuple(int(v) if isinstance(v, int) or hasattr(v, "as_tuple") else v for v in r)
         for r in query(_sales_select(where), [open_start] * 2)}
    p = {tuple(int(v) if hasattr(v, "as_tuple") else v for v in r) for r in query(_payments_select(where), [open_start])}
    return s, p


# --- monthly sales per item (migration 11) -------------------------------------------------------
# The item-level reports (by item, category, vendor, size; margin; returns by item; sell-through)
# must read every line of their period; a chain's year is a million lines joined to their orders.
# `sales_item_monthly` holds the lines summed per Pakistan month, branch, item and kind, the open
# month up to its last closed day. It is kept like sales_daily: when a day closes, the first report
# recomputes from the documents the months from the day before the last refresh on (so, once a
# day, the month to date), in one transaction; nothing is written while the tills sell. A document
# that arrives late for a closed day (pushed to the head office by a branch that was offline, or
# completed by a till with a slow clock) has an id above the watermark's: the next report finds it
# and recomputes its month. Reports read whole months from here and the days at the period's edges
# (and the open day) from the documents: `item_source`.
#
# Baskets per group (documents with at least one line of the group) do not add up across items,
# so each row also counts the documents in which it holds the group's first line (`docs_*`).
# Those depend on which group each item was in when they were counted: `sales_item_catalog`
# keeps that, and a product moved to another category, vendor or option rebuilds the table.
_ITEMS = "sales_item_monthly"
_ITEMS_ID = f"{_ITEMS}:id"
ITEM_GROUPS = ("department", "category", "sub_category", "vendor", "option")
ITEM_COLUMNS = ("month, branch_id, variant_id, sku, kind, name, units, gross_paisa, discount_paisa, net_paisa, "
                "tax_paisa, excl_paisa, restocked_units, exchange_units, docs_item, "
                + ", ".join(f"docs_{g}" for g in ITEM_GROUPS))
CHAIN_COLUMNS = ITEM_COLUMNS.replace("branch_id, ", "")
_CHAIN_SUMS = ", ".join(["MIN(name)"] + [f"SUM({c.strip()})" for c in CHAIN_COLUMNS.split(",")[5:]])


def _group_keys() -> dict[str, str]:
    # The very expressions the documents report groups by (sales.DIMENSIONS), so a group here is
    # a group there.
    from .sales import DIMENSIONS
    return {g: DIMENSIONS[g][0] for g in ITEM_GROUPS}


def _items_select(where: str) -> str:
    from .common import pk_day
    month = f"substr({pk_day('o.completed_at')}, 1, 7)"
    firsts = ", ".join(f"CASE WHEN ROW_NUMBER() OVER (PARTITION BY o.id, {expr} ORDER BY l.line_no) = 1 "
                       f"THEN 1 ELSE 0 END AS f_{g}" for g, expr in [("item", "l.sku")] + list(_group_keys().items()))
    inner = (f"SELECT {month} AS month, o.branch_id, l.variant_id, l.sku, o.kind, l.name, l.qty, "
             "l.qty * l.unit_price_paisa AS gross, l.line_discount_paisa + l.order_discount_paisa AS disc, "
             "l.total_paisa AS net, l.tax_paisa AS tax, l.value_excl_paisa AS excl, "
             "CASE WHEN o.kind = 'refund' AND l.restock THEN l.qty ELSE 0 END AS restocked, "
             "CASE WHEN o.kind = 'refund' AND o.exchange_uid IS NOT NULL THEN l.qty ELSE 0 END AS exchanged, "
             f"{firsts} FROM pos_order_line l JOIN pos_order o ON o.id = l.order_id "
             f"JOIN variant v ON v.id = l.variant_id JOIN product pr ON pr.id = v.product_id WHERE {where}")
    sums = ["MIN(x.name)"] + [f"SUM(x.{c})" for c in ("qty", "gross", "disc", "net", "tax", "excl", "restocked",
                                                       "exchanged", "f_item")] + [f"SUM(x.f_{g})" for g in ITEM_GROUPS]
    names = [c.strip() for c in ITEM_COLUMNS.split(",")][5:]
    return ("SELECT x.month AS month, x.branch_id AS branch_id, x.variant_id AS variant_id, x.sku AS sku, "
            "x.kind AS kind, " + ", ".join(f"{e} AS {n}" for e, n in zip(sums, names)) +
            f" FROM ({inner}) x GROUP BY x.month, x.branch_id, x.variant_id, x.sku, x.kind")


def _differs(a: str, b: str) -> str:
    return f"{a} IS NOT {b}" if db.is_sqlite() else f"{a} IS DISTINCT FROM {b}"


def catalog_changed() -> bool:
    """Has any item changed group since the baskets were counted?"""
    keys = _group_keys()
    cond = " OR ".join(_differs(f"c.{'option_text' if g == 'option' else g}", expr) for g, expr in keys.items())
    return bool(query("SELECT 1 FROM sales_item_catalog c JOIN variant v ON v.id = c.variant_id "
                      f"JOIN product pr ON pr.id = v.product_id WHERE {cond} LIMIT 1"))


def _month_start(month: str) -> dt.datetime:
    from .common import PK_OFFSET
    return dt.datetime.combine(dt.date.fromisoformat(month + "-01"), dt.time()) - PK_OFFSET


def _watermarks(*names: str) -> dict[str, int]:
    marks = ", ".join("?" * len(names))
    return {n: int(t) for n, t in query(f"SELECT name, through_id FROM summary_watermark WHERE name IN ({marks})",
                                        list(names))}


def _set_watermark(name: str, value: int, exists: bool) -> None:
    if exists:
        query("UPDATE summary_watermark SET through_id = ?, updated_at = ? WHERE name = ?", [value, now(), name],
              fetch=False)
    else:
        query("INSERT INTO summary_watermark (through_id, updated_at, name) VALUES (?, ?, ?)", [value, now(), name],
              fetch=False)


def _items_first_month(marks: dict[str, int], open_day: str) -> str | None:
    """The first month the item summary must recompute, "0000-00" for all, None when up to date."""
    first = _stale_from(marks, _ITEMS, open_day)
    return first[:7] if first else None


_CHAIN_READY: set = set()


def _chain_table() -> None:
    # sales_item_chain joined migration 11 after a first version of it had been merged (never
    # released): a database stamped 11 without it gets it here once, with its rows built.
    key = id(db.database.obj) if hasattr(db.database, "obj") else 0
    if key in _CHAIN_READY:
        return
    if not db.database.table_exists("sales_item_chain"):
        from ..models import SalesItemChain
        with db.write():
            db.database.create_tables([SalesItemChain])
            query("DELETE FROM summary_watermark WHERE name = ?", [_ITEMS], fetch=False)
    _CHAIN_READY.add(key)


def refresh_items(groups: bool = False) -> str | None:
    """Bring sales_item_monthly up to the last closed day; returns the first month recomputed, or
    None when nothing changed (no write). `groups`: a report about to use the basket counts per
    group checks first that no item changed group since (else everything is recomputed)."""
    if not writes_allowed():
        return None
    _chain_table()
    open_day, open_start = open_from()
    marks = _watermarks(_ITEMS, _ITEMS_ID)
    first = _items_first_month(marks, open_day)
    # Any refresh rewrites the catalog snapshot, so any refresh must first see whether an item
    # changed group (else the old months' basket counts would go stale unnoticed); a report
    # about to use the counts checks even when nothing else is due.
    if (groups or first is not None) and first != "0000-00" and catalog_changed():
        first = "0000-00"
    if first is None:
        return None
    top = _visible_top() if db.is_postgres() else None
    with db.write():
        marks = _watermarks(_ITEMS, _ITEMS_ID)
        again = _items_first_month(marks, open_day)
        if again is None and first != "0000-00":
            return None                # another process did it meanwhile
        first = min(first, again) if again else first
        if db.is_sqlite():
            top = _visible_top()
        where, params = f"{_DOCS} AND o.completed_at < ?", [open_start]
        if first == "0000-00":
            query("DELETE FROM sales_item_monthly", fetch=False)
        else:
            where += " AND o.completed_at >= ?"
            params.append(_month_start(first))
            query("DELETE FROM sales_item_monthly WHERE month >= ?", [first], fetch=False)
        query(f"INSERT INTO sales_item_monthly ({ITEM_COLUMNS}) {_items_select(where)}", params, fetch=False)
        # The chain-wide rows: the same months summed over the branches (baskets add up: a
        # document belongs to one branch).
        if first == "0000-00":
            query("DELETE FROM sales_item_chain", fetch=False)
        else:
            query("DELETE FROM sales_item_chain WHERE month >= ?", [first], fetch=False)
        query(f"INSERT INTO sales_item_chain ({CHAIN_COLUMNS}) SELECT month, variant_id, sku, kind, {_CHAIN_SUMS} "
              "FROM sales_item_monthly WHERE month >= ? GROUP BY month, variant_id, sku, kind", [first], fetch=False)
        _rebuild_option_months(first)
        _refresh_years(first, open_day)
        keys = _group_keys()
        query("DELETE FROM sales_item_catalog", fetch=False)
        query("INSERT INTO sales_item_catalog (variant_id, department, category, sub_category, vendor, option_text) "
              f"SELECT v.id, {keys['department']}, {keys['category']}, {keys['sub_category']}, {keys['vendor']}, "
              f"{keys['option']} FROM variant v JOIN product pr ON pr.id = v.product_id", fetch=False)
        _set_watermark(_ITEMS, _ordinal(open_day), _ITEMS in marks)
        _set_watermark(_ITEMS_ID, int(top), _ITEMS_ID in marks)
    return first


def _month_last(month: str) -> dt.date:
    first = dt.date.fromisoformat(month + "-01")
    return (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)


def item_plan(start: dt.date, end: dt.date, open_day: str) -> tuple[tuple[str, str] | None, list[tuple[dt.date, dt.date]]]:
    """Which stored months cover part of [start, end] (first, last) and which day ranges must be
    read from the documents: a month is read from the summary when the period holds all of what
    is stored of it (the open month: its closed days, the rest read live)."""
    closed_end = dt.date.fromisoformat(open_day) - dt.timedelta(days=1)
    usable = []
    month = start.replace(day=1)
    while month <= end:
        key = month.isoformat()[:7]
        stored_last = min(_month_last(key), closed_end)
        if start <= month and stored_last <= end and month <= closed_end:
            usable.append((key, month, stored_last))
        month = _month_last(key) + dt.timedelta(days=1)
    if not usable:
        return None, [(start, end)]
    live = []
    if start < usable[0][1]:
        live.append((start, usable[0][1] - dt.timedelta(days=1)))
    if usable[-1][2] < end:
        live.append((usable[-1][2] + dt.timedelta(days=1), end))
    return (usable[0][0], usable[-1][0]), live


def item_source(start: dt.date, end: dt.date, groups: bool = False, chain: bool = False) -> tuple[str, str, list]:
    """(FROM, WHERE, parameters) for item reports over the days start..end (Pakistan, inclusive):
    rows shaped like sales_item_monthly (`chain`: like sales_item_chain, without the branch), as
    `s`, from the stored months and the documents of the days around them."""
    refresh_items(groups)
    open_day, _ = stored_open(_ITEMS)
    months, live = item_plan(start, end, open_day)
    columns = CHAIN_COLUMNS if chain else ITEM_COLUMNS
    monthly = [("sales_item_chain" if chain else "sales_item_monthly", "month", *months)] if months else []
    stored = year_plan(months, open_day) if chain and months and USE_YEARS else monthly
    if not live and len(stored) == 1:
        table, key, first, last = stored[0]
        return f"FROM {table} s", f"s.{key} >= ? AND s.{key} <= ?", [first, last]

    parts, params = [], []
    for table, key, first, last in stored:
        picked = columns if key == "month" else columns.replace("month", "year AS month", 1)
        parts.append(f"SELECT {picked} FROM {table} WHERE {key} >= ? AND {key} <= ?")
        params += [first, last]
    if live:
        ranges, edges = _live_days(live)
        parts.append(f"SELECT {_as_stored(columns)} FROM ({_items_select(f'{_DOCS} AND ({ranges})')}) d")
        params += edges
    return f"FROM ({' UNION ALL '.join(parts)}) s", "1 = 1", params


def _as_stored(columns: str) -> str:
    """The live rows' figures as BIGINT, the stored columns' type: PostgreSQL's SUM of a bigint
    is numeric, and one numeric part makes the whole UNION numeric, every stored row then summed
    in slow numeric arithmetic (sales by department for a year to date: 2.2 s -> 1.4 s at load 5)."""
    names = [c.strip() for c in columns.split(",")]
    keys = names.index("name") + 1
    return ", ".join(names[:keys] + [f"CAST({c} AS BIGINT) AS {c}" for c in names[keys:]])


# --- yearly roll-up of the chain-wide rows (migration 19) ------------------------------------------
# A chain's year is ~508,000 sales_item_chain rows (50,000 items x 12 months x 2 kinds, thinned);
# grouping them per item is what the chain-wide year reports spent their time on (0.9-1.4 s on
# PostgreSQL). `sales_item_yearly` holds the same rows summed per Pakistan year over every month
# sales_item_chain holds of it, the open month's stored days too (~58,000 rows for a year). So a
# year to date through today reads its year here and only today live: with the open month read
# from sales_item_chain beside it, the UNION's ~34,000 extra rows (and PostgreSQL's estimate of 200
# groups over a UNION) kept the chain-wide item reports for a year to date at 0.7-1.2 s. The cost:
# every refresh that stores days (once a day) sums the open year again from sales_item_chain, in
# the same transaction (the daily refresh of a chain's year: PostgreSQL 4.7 -> 5.6-7.0 s, SQLite
# 2.1 -> 3.4 s); a refresh from an earlier month (a late document, a rebuild after a product
# moved to another group) sums that month's year and the later ones. It needs no watermark of its own: it holds what
# sales_item_chain holds. Reports read a year from here when the period holds all of the year's
# stored months (a period ending before the open month's last stored day reads that year's months
# from sales_item_chain), and the months around it from sales_item_chain (`year_plan`).
_YEARS = "sales_item_yearly"
USE_YEARS = True   # the benchmark's --ab-years switches it off (whole years read from the months)
YEAR_COLUMNS = CHAIN_COLUMNS.replace("month", "year", 1)


def _stored_months_to(open_day: str) -> str:
    """The month (YYYY-MM) of the last stored day, the one before the open day: what
    sales_item_yearly holds up to ("0000-00" when nothing is stored yet)."""
    last = dt.date.fromisoformat(open_day) - dt.timedelta(days=1)
    return last.isoformat()[:7] if last.year > 1 else "0000-00"


def _refresh_years(first_month: str, open_day: str) -> None:
    """Within refresh_items' transaction, which recomputed sales_item_chain from `first_month`
    ("0000-00": all): the years from its year summed again over their stored months, when a
    month with stored days was among those recomputed (the daily refresh: the open year; nothing
    when the open day is the 1st and only its own, still empty, month was recomputed)."""
    closed_to = _stored_months_to(open_day)
    if first_month > closed_to:
        return
    if not db.database.table_exists(_YEARS):
        # Migration 11 refreshes the item summary on an upgrade that has not reached 19 yet:
        # nothing to fill then (19 builds it from sales_item_chain). A look-up only when writing.
        return
    year = first_month[:4]
    query(f"DELETE FROM {_YEARS} WHERE year >= ?", [year], fetch=False)
    query(f"INSERT INTO {_YEARS} ({YEAR_COLUMNS}) SELECT substr(month, 1, 4), variant_id, sku, kind, {_CHAIN_SUMS} "
          "FROM sales_item_chain WHERE month >= ? AND month <= ? GROUP BY substr(month, 1, 4), variant_id, sku, kind",
          [year, closed_to], fetch=False)


def rebuild_years() -> None:
    """Every year again from sales_item_chain, as far as it is stored (migration 19)."""
    open_day, _ = stored_open(_ITEMS)
    with db.write():
        _refresh_years("0000-00", open_day)


def year_plan(months: tuple[str, str], open_day: str) -> list[tuple[str, str, str, str]]:
    """The stored months first..last (item_plan's) as (table, key column, first, last) pieces:
    the years whose stored months they hold all of from sales_item_yearly, the other months
    (those around them) from sales_item_chain."""
    first, last = months
    closed_to = _stored_months_to(open_day)

    def held_to(y: int) -> str:   # the last month of year y that sales_item_yearly holds
        return min(f"{y:04d}-12", closed_to)

    whole = [y for y in range(int(first[:4]), int(last[:4]) + 1)
             if first <= f"{y:04d}-01" <= held_to(y) <= last]
    if not whole:
        return [("sales_item_chain", "month", first, last)]
    out = []
    if first < f"{whole[0]:04d}-01":
        out.append(("sales_item_chain", "month", first, f"{whole[0] - 1:04d}-12"))
    out.append((_YEARS, "year", f"{whole[0]:04d}", f"{whole[-1]:04d}"))
    after = held_to(whole[-1])
    after = f"{int(after[:4]) + 1:04d}-01" if after.endswith("-12") else f"{after[:5]}{int(after[5:]) + 1:02d}"
    if after <= last:
        out.append(("sales_item_chain", "month", after, last))
    return out


def stored_years() -> set:
    return {tuple(int(v) if isinstance(v, int) or hasattr(v, "as_tuple") else v for v in r)
            for r in query(f"SELECT {YEAR_COLUMNS} FROM {_YEARS}")}


def years_of(chain_rows: set, open_day: str) -> set:
    """sales_item_chain rows summed per year, in Python (what sales_item_yearly holds)."""
    closed_to = _stored_months_to(open_day)
    # (a list: two months' rows may be equal once the month is dropped)
    return chain_of([(r[0][:4], 0) + tuple(r[1:]) for r in chain_rows if r[0] <= closed_to])


def stored_items() -> set:
    return {tuple(int(v) if isinstance(v, int) or hasattr(v, "as_tuple") else v for v in r)
            for r in query(f"SELECT {ITEM_COLUMNS} FROM sales_item_monthly")}


def stored_chain() -> set:
    return {tuple(int(v) if isinstance(v, int) or hasattr(v, "as_tuple") else v for v in r)
            for r in query(f"SELECT {CHAIN_COLUMNS} FROM sales_item_chain")}


def chain_of(rows) -> set:
    """sales_item_monthly rows summed over the branches, in Python (what sales_item_chain holds)."""
    out: dict[tuple, list] = {}
    for r in rows:
        key = (r[0], r[2], r[3], r[4])
        got = out.get(key)
        if got is None:
            out[key] = [r[5]] + list(r[6:])
        else:
            got[0] = min(got[0], r[5])
            for i, v in enumerate(r[6:], 1):
                got[i] += v
    return {k + tuple(v) for k, v in out.items()}


def recompute_items() -> set:
    """The rows sales_item_monthly must hold (every closed day), straight from the documents."""
    _, open_start = open_from()
    return {tuple(int(v) if isinstance(v, int) or hasattr(v, "as_tuple") else v for v in r)
            for r in query(_items_select(f"{_DOCS} AND o.completed_at < ?"), [open_start])}


# --- units sold per month, branch and option (migration 18) --------------------------------------
# Sell-through by size needs only units per branch and option, but read from sales_item_monthly a
# chain's year is ~1,000,000 item rows grouped by branch and option. `sales_option_monthly` holds
# them summed per month, branch, option text (today's, from the variant) and kind: ~2,400 rows. It
# is rebuilt from sales_item_monthly for the months refresh_items recomputes, in its transaction,
# so both always cover the same days. An item whose option changed: the catalog check (which
# compares sales_item_catalog.option_text too) makes refresh_items rebuild every month, and the
# reading asks for that check (`groups`); a reading that may not write (read_only) and finds an
# option changed reads the item rows instead (`option_source` returns None).
OPTION_COLUMNS = "month, branch_id, option_text, kind, units"


def _options_select(where: str) -> str:
    """sales_item_monthly rows (as `s`) summed per month, branch, today's option and kind."""
    return ("SELECT s.month, s.branch_id, v.option_text, s.kind, SUM(s.units) FROM sales_item_monthly s "
            f"JOIN variant v ON v.id = s.variant_id WHERE {where} GROUP BY s.month, s.branch_id, v.option_text, s.kind")


def _rebuild_option_months(first: str) -> None:
    """Within refresh_items' transaction (or the migration's): the months from `first` on ("0000-00":
    all of them) again from sales_item_monthly. Not before migration 18 made the table (migration
    11 builds the item rows of an older database first; 18 then sums all of them)."""
    if not db.database.table_exists("sales_option_monthly"):
        return
    query("DELETE FROM sales_option_monthly WHERE month >= ?", [first], fetch=False)
    query(f"INSERT INTO sales_option_monthly ({OPTION_COLUMNS}) {_options_select('s.month >= ?')}", [first],
          fetch=False)


def rebuild_options() -> None:
    """Every month sales_item_monthly holds, again (migration 18: the table's first rows)."""
    with db.write():
        _rebuild_option_months("0000-00")


def _options_changed() -> bool:
    return bool(query("SELECT 1 FROM sales_item_catalog c JOIN variant v ON v.id = c.variant_id "
                      f"WHERE {_differs('c.option_text', 'v.option_text')} LIMIT 1"))


def _live_days(live: list[tuple[dt.date, dt.date]]) -> tuple[str, list]:
    """The documents' condition (as `o`) and parameters for these Pakistan day ranges (inclusive)."""
    from .common import PK_OFFSET
    edges = [dt.datetime.combine(d, dt.time()) - PK_OFFSET for a, b in live for d in (a, b + dt.timedelta(days=1))]
    return " OR ".join("(o.completed_at >= ? AND o.completed_at < ?)" for _ in live), edges


def option_source(start: dt.date, end: dt.date) -> tuple[str, str, list] | None:
    """(FROM, WHERE, parameters) over rows (month, branch_id, option_text, kind, units) as `s` for the
    days start..end: the stored months whole, the days around them from the documents. None when
    the stored rows may be stale (an option changed and this reading may not rebuild them)."""
    refresh_items(groups=True)
    if not writes_allowed() and _options_changed():
        return None
    months, live = item_plan(start, end, stored_open(_ITEMS)[0])
    if not live:
        return "FROM sales_option_monthly s", "s.month >= ? AND s.month <= ?", list(months)
    ranges, edges = _live_days(live)
    # (no month for the live rows: only the stored months are chosen by theirs)
    docs = ("SELECT '' AS month, o.branch_id AS branch_id, v.option_text AS option_text, o.kind AS kind, "
            "SUM(l.qty) AS units FROM pos_order_line l JOIN pos_order o ON o.id = l.order_id "
            f"JOIN variant v ON v.id = l.variant_id WHERE {_DOCS} AND ({ranges}) GROUP BY o.branch_id, v.option_text, o.kind")
    if not months:
        return f"FROM ({docs}) s", "1 = 1", edges
    stored = f"SELECT {OPTION_COLUMNS} FROM sales_option_monthly WHERE month >= ? AND month <= ?"
    return f"FROM ({stored} UNION ALL {docs}) s", "1 = 1", list(months) + edges


def stored_options() -> set:
    return {(m, int(b), o, k, int(u)) for m, b, o, k, u in query(f"SELECT {OPTION_COLUMNS} FROM sales_option_monthly")}


def recompute_options() -> set:
    """The rows sales_option_monthly must hold (the closed days sales_item_monthly holds), straight
    from the documents, grouped by today's options."""
    from .common import pk_day
    open_day, open_start = stored_open(_ITEMS)
    month = f"substr({pk_day('o.completed_at')}, 1, 7)"
    rows = query(f"SELECT {month}, o.branch_id, v.option_text, o.kind, SUM(l.qty) FROM pos_order_line l "
                 "JOIN pos_order o ON o.id = l.order_id JOIN variant v ON v.id = l.variant_id "
                 f"WHERE {_DOCS} AND o.completed_at < ? GROUP BY 1, 2, 3, 4", [open_start])
    return {(m, int(b), o, k, int(u)) for m, b, o, k, u in rows}


# --- average receipt cost per item (migration 18) ------------------------------------------------
# Every stock report values what a branch holds at the item's average supplier cost (Σ qty x unit
# cost / Σ qty over goods receipts). Computed in each report it was a GROUP BY over every receipt
# line joined to 500,000 levels (PostgreSQL: hashed once per worker; SQLite: an automatic index
# built each time). `stock_cost` holds it per item, caught up after a watermark (the highest
# receipt line id folded in): the items of the new lines are recomputed from all their lines, so a
# refresh is exact and doing one twice changes nothing. Receipt lines are append-only (a receipt is
# written once, replicated up as it was). On PostgreSQL ids come from a sequence before commit: the
# refresh takes a SHARE lock on goods_receipt_line in its own transaction, so no insert is under
# way while it reads (receipts are rare; one waits a few milliseconds). A report that may not
# write reads the lines themselves when the summary is behind (`cost_source`).
_COST = "stock_cost"
COST_COLUMNS = "variant_id, received_qty, received_value_paisa, unit_cost"
# round half up of Σ(qty x cost) / Σ qty, in integers on both databases (PostgreSQL's SUM of a
# bigint is numeric, hence the casts); no cost when nothing was received
_COST_SUMS = ("CAST(SUM(qty) AS BIGINT) AS received_qty, CAST(SUM(qty * unit_cost_paisa) AS BIGINT) AS received_value_paisa, "
              "CASE WHEN SUM(qty) > 0 THEN (2 * CAST(SUM(qty * unit_cost_paisa) AS BIGINT) + CAST(SUM(qty) AS BIGINT)) "
              "/ (2 * CAST(SUM(qty) AS BIGINT)) END AS unit_cost")


def cost_select(where: str) -> str:
    return f"SELECT variant_id, {_COST_SUMS} FROM goods_receipt_line WHERE {where} GROUP BY variant_id"


def _cost_behind() -> tuple[int, int | None]:
    """(the highest receipt line id, the watermark or None before the first build)."""
    top = int(query("SELECT COALESCE(MAX(id), 0) FROM goods_receipt_line")[0][0])
    return top, _watermarks(_COST).get(_COST)


def refresh_stock_cost() -> int:
    """Fold the receipt lines since the last refresh into stock_cost; returns the items recomputed
    (0: nothing new, and nothing written)."""
    if not writes_allowed():
        return 0
    top, mark = _cost_behind()
    if mark is not None and top <= mark:
        return 0
    with db.write():
        if db.is_postgres():
            query("LOCK TABLE goods_receipt_line IN SHARE MODE", fetch=False)
        top, mark = _cost_behind()
        if mark is not None and top <= mark:
            return 0
        if mark is None:
            query("DELETE FROM stock_cost", fetch=False)
            query(f"INSERT INTO stock_cost ({COST_COLUMNS}) {cost_select('1 = 1')}", fetch=False)
            touched = int(query("SELECT COUNT(*) FROM stock_cost")[0][0])
        else:
            new = "SELECT DISTINCT variant_id FROM goods_receipt_line WHERE id > ? AND id <= ?"
            touched = int(query(f"SELECT COUNT(*) FROM ({new}) n", [mark, top])[0][0])
            query(f"DELETE FROM stock_cost WHERE variant_id IN ({new})", [mark, top], fetch=False)
            query(f"INSERT INTO stock_cost ({COST_COLUMNS}) {cost_select(f'variant_id IN ({new})')}", [mark, top],
                  fetch=False)
        _set_watermark(_COST, top, mark is not None)
    return touched


def cost_source() -> str:
    """What the stock reports join as their per-item cost (variant_id, unit_cost): the summary when
    it holds every receipt line, else the lines themselves (a reading that may not write)."""
    refresh_stock_cost()
    top, mark = _cost_behind()
    if mark is not None and top <= mark:
        return "stock_cost"
    return f"({cost_select('1 = 1')})"


def stored_stock_cost() -> dict[int, tuple]:
    return {int(v): (int(q), int(c), None if u is None else int(u))
            for v, q, c, u in query(f"SELECT {COST_COLUMNS} FROM stock_cost")}


def recompute_stock_cost() -> dict[int, tuple]:
    return {int(v): (int(q), int(c), None if u is None else int(u)) for v, q, c, u in query(cost_select("1 = 1"))}
