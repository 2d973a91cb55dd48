"""Sync health and online orders: what the agent still owes Shopify and FBR, what reconciliation
found, and how online orders went (COD confirmed / cancelled / refused, fulfilment workflow,
returns by courier, dispatch time)."""
from __future__ import annotations

import datetime as dt
import json
import math
import statistics
from decimal import Decimal

from .. import db
from ..fulfillments import SHIPPING_MODES   # repairs and exchange returns ship nothing
from .common import PK_OFFSET, Column, Filters, Report, query


def _pk(value) -> str:
    if value is None:
        return ""
    when = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return (when + PK_OFFSET).strftime("%Y-%m-%d %H:%M")


def _this_branch() -> str | None:
    """The box's own branch code when this database is a chain branch's (every job in its outbox
    is that branch's); None at the head office and in a single shop."""
    from .. import chain
    return (chain.get_state("branch") or None) if chain.get_state("role") == "branch" else None


def _contains(column: str) -> str:
    return f"instr({column}, ?) > 0" if db.is_sqlite() else f"strpos({column}, ?) > 0"


def _needle(key: str, value: str) -> str:
    """`"key":"value"` as a payload's stored JSON text holds it (models.JSONField: sorted keys,
    compact separators), so a job can be matched without parsing its payload."""
    return json.dumps({key: value}, separators=(",", ":"))[1:-1]


def _job_branch(f: Filters) -> tuple[str, list]:
    """SQL narrowing outbox jobs `j` to the filter's branch. A job's branch: the branch the head
    office sends it for (`origin_branch`); at a chain branch's box, that branch; else its
    document's: a stock job names its branch in its payload, an FBR invoice or credit note is its
    sale's or refund's, a shipment's jobs (fulfilment, FBR) its shipment's, a courier booking its
    shipment's, a reconciliation's correction of a location the branch mapped to it. Catalog and
    barcode pushes, coupon write-backs and online-order tags belong to no branch."""
    if f.branch_id is None:
        return "", []
    from ..models import Branch
    branch = Branch.get_by_id(f.branch_id)
    here = _this_branch()
    if here is not None:
        return ("", []) if branch.code == here else (" AND 1 = 0", [])
    sql = (f" AND (j.origin_branch = ? OR (j.origin_branch IS NULL AND ("
           f"(j.kind = 'inventory_adjust' AND {_contains('j.payload')}) "
           # the branch's documents read once (not one lookup per job): a year of jobs is many rows
           "OR (j.doc_type = 'pos_order' AND j.doc_ref IN (SELECT o.uid FROM pos_order o WHERE o.branch_id = ?)) "
           "OR (j.doc_type = 'fulfillment' AND j.doc_ref IN (SELECT x.uid FROM fulfillment x WHERE x.branch_id = ?)) "
           "OR (j.doc_type = 'consignment' AND j.doc_ref IN (SELECT c.uid FROM consignment c JOIN fulfillment x "
           "ON x.id = c.fulfillment_id WHERE x.branch_id = ?))")
    params = [branch.code, _needle("branch", branch.code), branch.id, branch.id, branch.id]
    if branch.shopify_location_id:
        sql += f" OR (j.kind = 'inventory_set' AND {_contains('j.payload')})"
        params.append(_needle("locationId", branch.shopify_location_id))
    return sql + ")))", params


def sync_jobs(f: Filters) -> Report:
    """Outbox jobs created in the period, by channel and state, with the oldest still open."""
    bsql, bparams = _job_branch(f)
    rows = query("SELECT j.channel, j.status, COUNT(*), MIN(j.created_at) FROM outbox_job j "
                 f"WHERE j.created_at >= ? AND j.created_at < ?{bsql} GROUP BY j.channel, j.status ORDER BY 1, 2",
                 [f.start_utc, f.end_utc] + bparams)
    out = [[ch, st, int(n), _pk(oldest) if st != "SYNCED" else ""] for ch, st, n, oldest in rows]
    # A reconciliation compares one Shopify location: a branch's drift is its location's.
    lsql, lparams = ("", []) if f.branch_id is None else (
        " WHERE location_id IN (SELECT shopify_location_id FROM branch WHERE id = ?)", [f.branch_id])
    runs = query("SELECT r.location_id, r.started_at, r.items_compared, r.differences FROM reconciliation_run r "
                 f"WHERE r.id IN (SELECT MAX(id) FROM reconciliation_run{lsql} GROUP BY location_id) ORDER BY 1",
                 lparams)
    notes = []
    for loc, started, compared, diffs in runs:
        found = len(json.loads(diffs) if isinstance(diffs, str) else (diffs or []))
        notes.append(f"Reconciliation {loc.rsplit('/', 1)[-1]} at {_pk(started)}: {found} of {compared} items differ.")
    notes = notes or ["No reconciliation has run yet" + (" at this branch's Shopify location." if f.branch_id else ".")]
    if f.branch_id is not None:
        notes.append("A job's branch: the branch the head office sends it for; on a branch's own box, that branch; "
                     "else its document's (a stock change's branch, a sale's or refund's, a shipment's). Catalog "
                     "and barcode pushes, coupon write-backs and online-order tags have none: they count only "
                     "under All branches.")
    cols = [Column("channel", "Channel"), Column("status", "State"), Column("jobs", "Jobs", "int"),
            Column("oldest", "Oldest open (PK)")]
    return Report("Sync health", cols, out, filters=f, notes=notes)


def _order_branch(branch_id: int | None) -> tuple[str, list]:
    """SQL true when online order `so` is this branch's (any branch's, for None): the branch holds
    a claim on one of its lines (the head office's claims there; at a branch's box, the copy it
    keeps: its own claims and the branch named in a refusal) or made a shipment or record of it
    (Smart, Manual, Branch Sync, in any state). An order split between branches is each one's."""
    from .. import chain
    from ..models import Branch
    code = Branch.get_by_id(branch_id).code if branch_id is not None else None
    marks = ", ".join("?" for _ in SHIPPING_MODES)
    parts = [(f"EXISTS (SELECT 1 FROM fulfillment fl WHERE fl.order_id = so.id AND fl.mode IN ({marks})"
              + (" AND fl.branch_id = ?)" if code else ")"), list(SHIPPING_MODES) + ([branch_id] if code else []))]
    claims = ["order_claim"]
    if db.is_postgres() and chain.get_state("role") == "head-office":
        claims.insert(0, "hq_claim")     # decided there (hq.py); order_claim is a branch's copy
    for table in claims:
        parts.append((f"EXISTS (SELECT 1 FROM {table} c WHERE c.order_shopify_id = so.shopify_id"
                      + (" AND c.branch_code = ?)" if code else ")"), [code] if code else []))
    return "(" + " OR ".join(p for p, _ in parts) + ")", [x for _, ps in parts for x in ps]


def online_orders(f: Filters) -> Report:
    """Orders first seen in the period: how many, COD confirmed / cancelled / refused (returned)."""
    bsql, bparams = ("", [])
    if f.branch_id is not None:
        bsql, bparams = _order_branch(f.branch_id)
        bsql = f" AND {bsql}"
    rows = query(
        "SELECT CASE WHEN so.is_cod THEN 'COD' ELSE 'Prepaid' END, COUNT(*), "
        "SUM(CASE WHEN so.confirmed_at IS NOT NULL THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN so.state = 'CANCELLED' THEN 1 ELSE 0 END), SUM(CASE WHEN so.state = 'RETURNED' THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN so.state = 'DELIVERED' THEN 1 ELSE 0 END) FROM smart_order so "
        f"WHERE so.first_seen_at >= ? AND so.first_seen_at < ?{bsql} GROUP BY 1 ORDER BY 1",
        [f.start_utc, f.end_utc] + bparams)
    from .returns import _rate
    out = [[kind, int(n), int(c), _rate(int(c), int(n)), int(x), _rate(int(x), int(n)), int(r), _rate(int(r), int(n)),
            int(d)] for kind, n, c, x, r, d in rows]
    cols = [Column("kind", "Orders"), Column("count", "Count", "int"), Column("confirmed", "Confirmed", "int"),
            Column("confirmed_pct", "%", "pct"), Column("cancelled", "Cancelled", "int"), Column("cancelled_pct", "%", "pct"),
            Column("refused", "Refused/returned", "int"), Column("refused_pct", "%", "pct"),
            Column("delivered", "Delivered", "int")]
    anyone, aparams = _order_branch(None)
    (unheld,), = query(f"SELECT COUNT(*) FROM smart_order so WHERE so.first_seen_at >= ? AND so.first_seen_at < ? "
                       f"AND NOT {anyone}", [f.start_utc, f.end_utc] + aparams)
    notes = ["By the day the agent first saw the order; refused = came back (RETURNED).",
             "An order's branch: the branch holding a claim on its lines or that shipped or recorded it (Smart, "
             "Manual, Branch Sync); an order split between branches counts at each. On a branch's box, another "
             "branch's orders are those its kept claims name."]
    if unheld:
        notes.append(f"{unheld} order(s) of the period have no branch yet (not claimed or shipped: new, awaiting "
                     "the COD call, cancelled before packing)" + (": not counted here." if f.branch_id else "."))
    return Report("Online orders", cols, out, filters=f, notes=notes)


def _branch(f: Filters, column: str = "branch_id") -> tuple[str, list]:
    return (f" AND {column} = ?", [f.branch_id]) if f.branch_id is not None else ("", [])


def fulfilments(f: Filters) -> Report:
    """Shipments and records made in the period, by workflow and courier, with returns."""
    bsql, bparams = _branch(f)
    rows = query("SELECT mode, courier, COUNT(*), SUM(CASE WHEN status IN ('DISPATCHED', 'DELIVERED', 'RETURNED') "
                 "THEN 1 ELSE 0 END), SUM(CASE WHEN status = 'RETURNED' THEN 1 ELSE 0 END) FROM fulfillment "
                 f"WHERE created_at >= ? AND created_at < ?{bsql} GROUP BY mode, courier ORDER BY 1, 2",
                 [f.start_utc, f.end_utc] + bparams)
    from .returns import _rate
    out = [[mode, courier or "-", int(n), int(sent), int(back), _rate(int(back), int(sent))]
           for mode, courier, n, sent, back in rows]
    cols = [Column("mode", "Workflow"), Column("courier", "Courier"), Column("count", "Count", "int"),
            Column("dispatched", "Dispatched", "int"), Column("returned", "Returned", "int"),
            Column("returned_pct", "Returned %", "pct")]
    return Report("Fulfilments by workflow and courier", cols, out, filters=f)


# --- dispatch time -----------------------------------------------------------------------------
def _dispatch_sql() -> tuple[str, str, str]:
    """(when the goods left, when the order was placed, when it was confirmed) per shipment `fl`
    of order `o`, as SQL in this dialect: numbers of days on SQLite (julianday), timestamps on
    PostgreSQL. When the goods left is the shipment's `dispatched_at` (migration 13: the services
    set it, older shipments got it from their history)."""
    if db.is_sqlite():
        return ("julianday(fl.dispatched_at)",
                # Shopify's ISO time with its zone (julianday reads Z and +05:00); junk reads as NULL
                "COALESCE(julianday(NULLIF(o.created_at_shopify, '')), julianday(o.first_seen_at))",
                "julianday(o.confirmed_at)")
    shopify = ("CASE WHEN o.created_at_shopify LIKE '____-__-__T%' "
               "THEN (o.created_at_shopify::timestamptz AT TIME ZONE 'UTC') END")
    return "fl.dispatched_at", f"COALESCE({shopify}, o.first_seen_at)", "o.confirmed_at"


def _seconds(later: str, earlier: str) -> str:
    """Seconds from one to the other, never below zero (a clock set wrong at a branch)."""
    # (PostgreSQL's GREATEST skips a NULL: an order never confirmed must stay NULL, not 0.)
    if db.is_sqlite():
        span = f"MAX(0.0, (({later}) - ({earlier})) * 86400.0)"
    else:
        span = f"GREATEST(0.0, EXTRACT(EPOCH FROM ({later}) - ({earlier}))::float8)"
    return f"CASE WHEN ({earlier}) IS NOT NULL THEN {span} END"


def _hours(seconds: list[float]) -> tuple[Decimal | None, Decimal | None]:
    """(median, 90th percentile by nearest rank) in hours, one decimal."""
    if not seconds:
        return None, None
    xs = sorted(seconds)
    p90 = xs[max(0, math.ceil(0.9 * len(xs)) - 1)]
    q = Decimal("0.1")
    return (Decimal(str(statistics.median(xs) / 3600)).quantize(q), Decimal(str(p90 / 3600)).quantize(q))


def dispatch_times(f: Filters) -> Report:
    """Shipments dispatched in the period, per branch and workflow: hours from the order (Shopify's
    created time) and from the COD confirmation to dispatch, median and 90th percentile."""
    bsql, bparams = _branch(f, "fl.branch_id")
    marks = ", ".join("?" for _ in SHIPPING_MODES)
    sent, placed, confirmed = _dispatch_sql()
    # Times are worked out in SQL: a year of shipments is too many rows to convert one by one here.
    rows = query(
        f"SELECT b.code, fl.mode, {_seconds(sent, placed)}, {_seconds(sent, confirmed)} "
        "FROM fulfillment fl JOIN smart_order o ON o.id = fl.order_id JOIN branch b ON b.id = fl.branch_id "
        f"WHERE fl.dispatched_at >= ? AND fl.dispatched_at < ? AND fl.mode IN ({marks}){bsql} "
        # shipments that never left (pending, packed, unpacked) have no dispatch time
        "AND (fl.status IN ('DISPATCHED', 'DELIVERED', 'RETURNED') OR (fl.mode <> 'smart' AND fl.status = 'DONE'))",
        [f.start_utc, f.end_utc] + list(SHIPPING_MODES) + bparams)
    # floats only for order statistics, never for money
    groups: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    for branch, mode, from_order, from_confirm in rows:
        orders, confirms = groups.setdefault((branch, mode), ([], []))
        if from_order is not None:
            orders.append(float(from_order))
        if from_confirm is not None:
            confirms.append(float(from_confirm))
    for key in list(groups):   # every branch's workflows together, then the whole chain
        for wider in ((key[0], ""), ("", "")):
            orders, confirms = groups.setdefault(wider, ([], []))
            orders += groups[key][0]
            confirms += groups[key][1]
    out, total = [], None
    for (branch, mode), (from_order, from_confirm) in sorted(groups.items(), key=lambda kv: (kv[0][0] == "", kv[0])):
        row = [branch or "Total", mode or ("all" if branch else ""), len(from_order), *_hours(from_order),
               len(from_confirm), *_hours(from_confirm)]
        if branch:
            out.append(row)
        else:
            total = row
    cols = [Column("branch", "Branch"), Column("workflow", "Workflow"), Column("shipments", "Shipments", "int"),
            Column("median_h", "Median h", "dec"), Column("p90_h", "90% within h", "dec"),
            Column("confirmed", "COD confirmed", "int"), Column("confirmed_median_h", "From confirm median h", "dec"),
            Column("confirmed_p90_h", "From confirm 90% h", "dec")]
    return Report("Dispatch time", cols, out, total, filters=f,
                  notes=["Hours from the order (Shopify's time) to the goods leaving; COD orders also from "
                         "the call that confirmed them. 90% = nearest rank."])
