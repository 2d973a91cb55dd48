"""Returns and exchanges: rate by item and by cashier, restocked or not.

The return rate of an item is units refunded in the period over units sold in the period (both
by completion day, so a return of last month's sale counts this month). Restocked or not is per
line; the reason (refunds.REASONS, chosen at the till, migration 15) is per refund document, so
an exchange's returned half carries it too. Refunds made before reasons were recorded show as
"not recorded".
"""
from __future__ import annotations

import re
from decimal import Decimal

from ..refunds import ONLINE_REASON_LABELS, REASON_LABELS
from .common import Column, Filters, Report, order_where, pk_day, query, rupees, salesperson_where

NOT_RECORDED = "(not recorded)"


def _rate(part: int, whole: int) -> Decimal | None:
    return (Decimal(part) * 100 / whole).quantize(Decimal("0.1")) if whole else None


def _where(f: Filters) -> tuple[str, list]:
    where, params = order_where(f)
    if f.category is not None:
        where += (" AND l.variant_id IN (SELECT v.id FROM variant v JOIN product pr ON pr.id = v.product_id "
                  "WHERE pr.category = ?)")
        params.append(f.category)
    sp_sql, sp_params = salesperson_where(f)
    return where + sp_sql, params + sp_params


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
                  notes=["Rate = units returned / units sold in the same period."])


def by_cashier(f: Filters) -> Report:
    # The refunds' own lines (a few per cent of a period's documents), and each cashier's sales
    # from the daily summary when no category or method filter needs the lines.
    from .sales import sd_where, summarised
    where, params = _where(f)
    refunds = query(
        "SELECT o.cashier_id, COUNT(DISTINCT o.id), COUNT(DISTINCT CASE WHEN o.exchange_uid IS NOT NULL THEN o.id END), "
        "SUM(l.total_paisa), SUM(CASE WHEN NOT l.restock THEN l.qty ELSE 0 END) "
        f"FROM pos_order_line l JOIN pos_order o ON o.id = l.order_id WHERE {where} AND o.kind = 'refund' "
        "GROUP BY o.cashier_id", params)
    if summarised(f):
        sd_from, swhere, sparams = sd_where(f)
        sold = dict(query(f"SELECT sd.cashier_id, SUM(sd.net_paisa) {sd_from} WHERE {swhere} AND sd.kind = 'sale' "
                          "GROUP BY sd.cashier_id", sparams))
    else:
        sold = dict(query(f"SELECT o.cashier_id, SUM(l.total_paisa) FROM pos_order_line l JOIN pos_order o "
                          f"ON o.id = l.order_id WHERE {where} AND o.kind = 'sale' GROUP BY o.cashier_id", params))
    names = {int(i): (c, n) for i, c, n in query("SELECT id, code, name FROM staff")}
    rows = sorted(((names[int(c)][0], names[int(c)][1], n, ex, value, sold.get(c) or 0, nr)
                   for c, n, ex, value, nr in refunds if n), key=lambda r: (-int(r[4] or 0), r[0]))
    out = [[code, name, int(n), int(ex), rupees(value), rupees(sold), _rate(int(value), int(sold)), int(nr)]
           for code, name, n, ex, value, sold, nr in rows]
    cols = [Column("cashier", "Code"), Column("name", "Cashier"), Column("refunds", "Refunds", "int"),
            Column("exchanges", "Exchanges", "int"), Column("value", "Refunded", "money"),
            Column("sold", "Own sales", "money"), Column("rate", "% of own sales", "pct"),
            Column("not_restocked", "Units not restocked", "int")]
    return Report("Returns by cashier", cols, out, filters=f,
                  notes=["Who gave the refund (it needs a supervisor); an exchange is counted once as a refund."])


def _refund_where(f: Filters) -> tuple[str, list]:
    where, params = _where(f)
    return where + " AND o.kind = 'refund'", params


def by_reason(f: Filters) -> Report:
    """Refunds in the period by the reason the till recorded: documents, units, restocked or not,
    in exchanges, value; share of all units returned."""
    where, params = _refund_where(f)
    rows = query(
        "SELECT o.return_reason, COUNT(DISTINCT o.id), SUM(l.qty), SUM(CASE WHEN l.restock THEN l.qty ELSE 0 END), "
        "SUM(CASE WHEN o.exchange_uid IS NOT NULL THEN l.qty ELSE 0 END), SUM(l.total_paisa) "
        f"FROM pos_order_line l JOIN pos_order o ON o.id = l.order_id WHERE {where} "
        "GROUP BY o.return_reason ORDER BY 3 DESC, 1", params)
    all_units = sum(int(r[2]) for r in rows)
    out = [[reason or "", REASON_LABELS.get(reason, NOT_RECORDED if not reason else reason), int(n), int(units),
            _rate(int(units), all_units), int(restocked), int(units) - int(restocked), int(exch), rupees(value)]
           for reason, n, units, restocked, exch, value in rows]
    cols = [Column("reason", "Code"), Column("label", "Reason"), Column("refunds", "Refunds", "int"),
            Column("units", "Units", "int"), Column("share", "% of units", "pct"),
            Column("restocked", "Restocked", "int"), Column("not_restocked", "Not restocked", "int"),
            Column("exchanged", "In exchanges", "int"), Column("value", "Refunded", "money")]
    totals = ["Total", "", sum(r[2] for r in out), all_units, _rate(all_units, all_units) if out else None,
              sum(r[5] for r in out), sum(r[6] for r in out), sum(r[7] for r in out),
              sum((r[8] for r in out), rupees(0))]
    return Report("Returns by reason", cols, out, totals, filters=f,
                  notes=["The reason is chosen at the till for the whole refund; refunds from before "
                         "reasons were recorded show as not recorded. Online parcels that came back are not "
                         "refunds: see Returns, online parcels back."])


def refund_list(f: Filters) -> Report:
    """Each refund in the period with its reason and the cashier's note (first 1,000)."""
    where, params = _refund_where(f)
    day = pk_day("o.completed_at")
    rows = query(
        f"SELECT {day}, o.number, s.code, o.return_reason, o.return_note, SUM(l.qty), "
        "SUM(CASE WHEN l.restock THEN 0 ELSE l.qty END), MAX(CASE WHEN o.exchange_uid IS NOT NULL THEN 1 ELSE 0 END), "
        "SUM(l.total_paisa) FROM pos_order_line l JOIN pos_order o ON o.id = l.order_id "
        f"JOIN staff s ON s.id = o.cashier_id WHERE {where} "
        f"GROUP BY o.id, {day}, o.number, s.code, o.return_reason, o.return_note, o.completed_at "
        "ORDER BY o.completed_at, o.number LIMIT 1000", params)
    out = [[d, number, cashier, REASON_LABELS.get(reason, reason or NOT_RECORDED), note or "", int(units),
            int(nr), "yes" if int(ex) else "", rupees(value)]
           for d, number, cashier, reason, note, units, nr, ex, value in rows]
    cols = [Column("day", "Day", "date"), Column("number", "Refund"), Column("cashier", "Cashier"),
            Column("reason", "Reason"), Column("note", "Note"), Column("units", "Units", "int"),
            Column("not_restocked", "Not restocked", "int"), Column("exchange", "Exchange"),
            Column("value", "Refunded", "money")]
    return Report("Refunds with reasons", cols, out, filters=f)


BY_COURIER = "(courier return: no reason asked)"
COURIER_SAID = re.compile(r"^returned by .+ \((.*)\)$")   # couriers.receive_return's wording


def _courier_word(step: dict) -> str:
    """A courier's parcel's group: the courier's own status when it was scanned in here (what the
    courier said about it, "refused" say), else only that it was a courier's."""
    said = COURIER_SAID.match(str(step.get("reason", "")))
    word = said.group(1).strip().lower() if said else ""
    return f"courier:{word}" if word and word != "scanned in" else "courier"


def _online_label(why: str) -> str:
    if why.startswith("courier:"):
        return f"Courier's word: {why[len('courier:'):]}"
    return ONLINE_REASON_LABELS.get(why, BY_COURIER if why == "courier" else NOT_RECORDED)


def online_by_reason(f: Filters) -> Report:
    """Online orders' parcels that came back in the period, by the reason given when they were taken
    in at the counter (F10 Returned on the order; fulfillments.mark_returned keeps it on the
    shipment's RETURNED step), at the branch that took them in: parcels, units, value at the
    order's prices."""
    import datetime as dt
    import json
    from ..models import Branch
    code = Branch.get_by_id(f.branch_id).code if f.branch_id is not None else None
    # Shipments that came back are few; their RETURNED step (in the history) says when and where.
    rows = query("SELECT fl.id, fl.history, SUM(l.qty), SUM(l.qty * COALESCE(sol.unit_price_paisa, 0)) "
                 "FROM fulfillment fl JOIN fulfillment_line l ON l.fulfillment_id = fl.id "
                 "LEFT JOIN smart_order_line sol ON sol.id = l.order_line_id "
                 "WHERE fl.status = 'RETURNED' GROUP BY fl.id, fl.history")
    start, end = f.start_utc, f.end_utc
    groups: dict[str, list[int]] = {}
    for _, history, units, value in rows:
        steps = json.loads(history) if isinstance(history, str) else (history or [])
        step = next((h for h in reversed(steps) if h.get("status") == "RETURNED"), None)
        if step is None or not start <= dt.datetime.fromisoformat(step["at"]) < end:
            continue
        if code is not None and step.get("branch") != code:
            continue
        # a courier's parcel: scanned in here ("returned by <courier>") or at another branch's desk
        by_courier = step.get("elsewhere") or str(step.get("reason", "")).startswith("returned by ")
        why = step.get("return_reason") or (_courier_word(step) if by_courier else "")
        g = groups.setdefault(why, [0, 0, 0])
        g[0], g[1], g[2] = g[0] + 1, g[1] + int(units or 0), g[2] + int(value or 0)
    all_units = sum(g[1] for g in groups.values())
    out = [[why, _online_label(why), n, units, _rate(units, all_units), rupees(value)]
           for why, (n, units, value) in sorted(groups.items(), key=lambda kv: (-kv[1][1], kv[0]))]
    cols = [Column("reason", "Code"), Column("label", "Reason"), Column("parcels", "Parcels", "int"),
            Column("units", "Units", "int"), Column("share", "% of units", "pct"),
            Column("value", "Value", "money")]
    totals = ["Total", "", sum(r[2] for r in out), all_units, _rate(all_units, all_units) if out else None,
              sum((r[5] for r in out), rupees(0))]
    return Report("Online parcels back by reason", cols, out, totals, filters=f,
                  notes=["Asked when a parcel is taken back at the counter (F10 Returned on the order); a "
                         "courier's parcel scanned in on its airway bill carries the courier's word, not a "
                         "reason, and is grouped by the courier's status when it was scanned in. "
                         "Branch: where the goods came back. Value at the order's prices."])
