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
