"""Sync health and online orders: what the agent still owes Shopify and FBR, what reconciliation
found, and how online orders went (COD confirmed / cancelled / refused, fulfilment workflow,
returns by courier)."""
from __future__ import annotations

import datetime as dt

from .common import PK_OFFSET, Column, Filters, Report, query


def _pk(value) -> str:
    if value is None:
        return ""
    when = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return (when + PK_OFFSET).strftime("%Y-%m-%d %H:%M")


def sync_jobs(f: Filters) -> Report:
    """Outbox jobs created in the period, by channel and state, with the oldest still open."""
    rows = query("SELECT channel, status, COUNT(*), MIN(created_at) FROM outbox_job "
                 "WHERE created_at >= ? AND created_at < ? GROUP BY channel, status ORDER BY 1, 2",
                 [f.start_utc, f.end_utc])
    out = [[ch, st, int(n), _pk(oldest) if st != "SYNCED" else ""] for ch, st, n, oldest in rows]
    runs = query("SELECT r.location_id, r.started_at, r.items_compared, r.differences FROM reconciliation_run r "
                 "WHERE r.id IN (SELECT MAX(id) FROM reconciliation_run GROUP BY location_id) ORDER BY 1")
    import json
    notes = []
    for loc, started, compared, diffs in runs:
        found = len(json.loads(diffs) if isinstance(diffs, str) else (diffs or []))
        notes.append(f"Reconciliation {loc.rsplit('/', 1)[-1]} at {_pk(started)}: {found} of {compared} items differ.")
    cols = [Column("channel", "Channel"), Column("status", "State"), Column("jobs", "Jobs", "int"),
            Column("oldest", "Oldest open (PK)")]
    return Report("Sync health", cols, out, filters=f, notes=notes or ["No reconciliation has run yet."])


def online_orders(f: Filters) -> Report:
    """Orders first seen in the period: how many, COD confirmed / cancelled / refused (returned)."""
    rows = query(
        "SELECT CASE WHEN is_cod THEN 'COD' ELSE 'Prepaid' END, COUNT(*), "
        "SUM(CASE WHEN confirmed_at IS NOT NULL THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN state = 'CANCELLED' THEN 1 ELSE 0 END), SUM(CASE WHEN state = 'RETURNED' THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN state = 'DELIVERED' THEN 1 ELSE 0 END) FROM smart_order "
        "WHERE first_seen_at >= ? AND first_seen_at < ? GROUP BY 1 ORDER BY 1", [f.start_utc, f.end_utc])
    from .returns import _rate
    out = [[kind, int(n), int(c), _rate(int(c), int(n)), int(x), _rate(int(x), int(n)), int(r), _rate(int(r), int(n)),
            int(d)] for kind, n, c, x, r, d in rows]
    cols = [Column("kind", "Orders"), Column("count", "Count", "int"), Column("confirmed", "Confirmed", "int"),
            Column("confirmed_pct", "%", "pct"), Column("cancelled", "Cancelled", "int"), Column("cancelled_pct", "%", "pct"),
            Column("refused", "Refused/returned", "int"), Column("refused_pct", "%", "pct"),
            Column("delivered", "Delivered", "int")]
    return Report("Online orders", cols, out, filters=f,
                  notes=["By the day the agent first saw the order; refused = came back (RETURNED)."])


def fulfilments(f: Filters) -> Report:
    """Shipments and records made in the period, by workflow and courier, with returns."""
    rows = query("SELECT mode, courier, COUNT(*), SUM(CASE WHEN status IN ('DISPATCHED', 'DELIVERED', 'RETURNED') "
                 "THEN 1 ELSE 0 END), SUM(CASE WHEN status = 'RETURNED' THEN 1 ELSE 0 END) FROM fulfillment "
                 "WHERE created_at >= ? AND created_at < ? GROUP BY mode, courier ORDER BY 1, 2",
                 [f.start_utc, f.end_utc])
    from .returns import _rate
    out = [[mode, courier or "-", int(n), int(sent), int(back), _rate(int(back), int(sent))]
           for mode, courier, n, sent, back in rows]
    cols = [Column("mode", "Workflow"), Column("courier", "Courier"), Column("count", "Count", "int"),
            Column("dispatched", "Dispatched", "int"), Column("returned", "Returned", "int"),
            Column("returned_pct", "Returned %", "pct")]
    return Report("Fulfilments by workflow and courier", cols, out, filters=f)
