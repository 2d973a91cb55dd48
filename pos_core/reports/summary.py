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

import datetime as dt

from .. import db
from .common import query

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


def refresh_sales() -> str | None:
    """Store the days closed since the last refresh; returns the first day recomputed, or None
    when nothing closed (no write at all, the usual case while tills sell)."""
    open_day, open_start = open_from()
    row = query("SELECT through_id FROM summary_watermark WHERE name = ?", [_SALES])
    if row and int(row[0][0]) >= _ordinal(open_day):
        return None
    with db.write():
        row = query("SELECT through_id FROM summary_watermark WHERE name = ?", [_SALES])
        if row and int(row[0][0]) >= _ordinal(open_day):
            return None          # another process did it meanwhile
        if row:
            first_day = dt.date.fromordinal(int(row[0][0]) - 1).isoformat()
            from .common import PK_OFFSET
            first_start = dt.datetime.combine(dt.date.fromisoformat(first_day), dt.time()) - PK_OFFSET
            where, params = f"{_DOCS} AND o.completed_at >= ? AND o.completed_at < ?", [first_start, open_start]
            query("DELETE FROM sales_daily WHERE day >= ?", [first_day], fetch=False)
            query("DELETE FROM payments_daily WHERE day >= ?", [first_day], fetch=False)
        else:
            first_day, where, params = "0000-00-00", f"{_DOCS} AND o.completed_at < ?", [open_start]
            query("DELETE FROM sales_daily", fetch=False)
            query("DELETE FROM payments_daily", fetch=False)
        query(f"INSERT INTO sales_daily ({SALES_COLUMNS}) {_sales_select(where)}", params * 2, fetch=False)
        query(f"INSERT INTO payments_daily ({PAYMENT_COLUMNS}) {_payments_select(where)}", params, fetch=False)
        stamp = [_ordinal(open_day), now(), _SALES]
        if row:
            query("UPDATE summary_watermark SET through_id = ?, updated_at = ? WHERE name = ?", stamp, fetch=False)
        else:
            query("INSERT INTO summary_watermark (through_id, updated_at, name) VALUES (?, ?, ?)", stamp, fetch=False)
    return first_day


def sales_source(end: dt.date) -> tuple[str, list]:
    """What reports read as `sd`: the stored closed days, plus today's documents live when the
    period reaches today."""
    refresh_sales()
    open_day, open_start = open_from()
    if end.isoformat() < open_day:
        return "sales_daily", []
    live = _sales_select(f"{_DOCS} AND o.completed_at >= ?")
    return (f"(SELECT {SALES_COLUMNS} FROM sales_daily WHERE day < ? UNION ALL {live})", [open_day, open_start, open_start])


def payments_source(end: dt.date) -> tuple[str, list]:
    refresh_sales()
    open_day, open_start = open_from()
    if end.isoformat() < open_day:
        return "payments_daily", []
    live = _payments_select(f"{_DOCS} AND o.completed_at >= ?")
    return f"(SELECT {PAYMENT_COLUMNS} FROM payments_daily WHERE day < ? UNION ALL {live})", [open_day, open_start]


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
