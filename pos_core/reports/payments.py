"""Payments: the tender mix per branch and day, and cash expected against counted per shift.

A refund's tenders count negative on the day they were paid back. Wallet payments are split into
JazzCash and Easypaisa by the wallet name the till writes at the start of the reference; a wallet
payment without one is "Other wallet". "Exchange credit" is the value of goods returned in an
exchange spent on the new goods: it appears on both halves and nets to what changed hands.
"""
from __future__ import annotations

from .common import SIGN, Column, Filters, Report, day_summary_where, order_where, pk_day, query, rupees

METHODS = [("cash", "Cash"), ("card", "Card"), ("jazzcash", "JazzCash"), ("easypaisa", "Easypaisa"),
           ("wallet", "Other wallet"), ("bank", "Bank"), ("store_credit", "Store credit"),
           ("exchange", "Exchange")]
_METHOD = ("(CASE WHEN p.method = 'wallet' AND lower(p.reference) LIKE 'jazzcash%' THEN 'jazzcash' "
           "WHEN p.method = 'wallet' AND lower(p.reference) LIKE 'easypaisa%' THEN 'easypaisa' "
           "ELSE p.method END)")


def _method_filter(f: Filters) -> tuple[str, list]:
    # The method filter here narrows the payments themselves, not the orders that used them.
    if not f.method:
        return "", []
    if f.method in ("jazzcash", "easypaisa"):
        return f" AND {_METHOD} = ?", [f.method]
    return " AND p.method = ?", [f.method]



USE_SUMMARIES = True   # payments_daily (summary.py); tests switch it off to compare with the documents


def _pd_where(f: Filters) -> tuple[str, str, list]:
    from . import summary
    pd_from, sql, params = day_summary_where(f, summary.payments_source(f.end), "pd")
    if f.method:
        if f.method == "wallet":   # any wallet, whichever name its reference starts with
            sql.append("pd.method IN ('wallet', 'jazzcash', 'easypaisa')")
        else:
            sql.append("pd.method = ?")
            params.append(f.method)
    return pd_from, " AND ".join(sql), params


_PD = "(CASE WHEN pd.kind = 'refund' THEN -1 ELSE 1 END)"


def _rows(f: Filters, by_day: bool) -> list[tuple]:
    """(day, branch, method, signed amount) or (method, signed amount) from the summary or the documents."""
    if USE_SUMMARIES and f.category is None:
        pd_from, where, params = _pd_where(f)
        if by_day:
            return query(f"SELECT pd.day, b.code, pd.method, SUM({_PD} * pd.amount_paisa) {pd_from} "
                         f"JOIN branch b ON b.id = pd.branch_id WHERE {where} GROUP BY pd.day, b.code, pd.method "
                         "ORDER BY 1, 2", params)
        return query(f"SELECT pd.method, SUM({_PD} * pd.amount_paisa) {pd_from} WHERE {where} "
                     "GROUP BY pd.method", params)
    where, params = order_where(f, with_method=False)
    mwhere, mparams = _method_filter(f)
    if by_day:
        day = pk_day("o.completed_at")
        return query(f"SELECT {day}, b.code, {_METHOD}, SUM({SIGN} * p.amount_paisa) FROM payment p "
                     f"JOIN pos_order o ON o.id = p.order_id JOIN branch b ON b.id = o.branch_id "
                     f"WHERE {where}{mwhere} GROUP BY {day}, b.code, {_METHOD} ORDER BY 1, 2", params + mparams)
    return query(f"SELECT {_METHOD}, SUM({SIGN} * p.amount_paisa) FROM payment p JOIN pos_order o ON o.id = p.order_id "
                 f"WHERE {where}{mwhere} GROUP BY {_METHOD}", params + mparams)


def by_branch_day(f: Filters) -> Report:
    rows = _rows(f, by_day=True)
    grid: dict[tuple[str, str], dict[str, int]] = {}
    for d, branch, method, amount in rows:
        grid.setdefault((d, branch), {})[method] = int(amount or 0)
    keys = [m for m, _ in METHODS]
    out, totals = [], {m: 0 for m in keys}
    for (d, branch), amounts in grid.items():
        out.append([d, branch] + [rupees(amounts.get(m, 0)) for m in keys] + [rupees(sum(amounts.values()))])
        for m in keys:
            totals[m] += amounts.get(m, 0)
    cols = ([Column("day", "Day", "date"), Column("branch", "Branch")] +
            [Column(m, label, "money") for m, label in METHODS] + [Column("total", "Total", "money")])
    return Report("Payments by branch and day", cols, out,
                  ["Total", ""] + [rupees(totals[m]) for m in keys] + [rupees(sum(totals.values()))],
                  notes=["Refunds count negative on the day they were paid back."], filters=f)


def mix(f: Filters) -> Report:
    """Net amount per tender for the period: the payment mix chart."""
    got = {m: int(a or 0) for m, a in _rows(f, by_day=False)}
    rows = [[m, label, rupees(got[m])] for m, label in METHODS if got.get(m)]
    rows += [[m, m, rupees(a)] for m, a in got.items() if m not in dict(METHODS) and a]
    return Report("Payment mix", [Column("method", "Method"), Column("label", "Tender"),
                                  Column("amount", "Amount", "money")], rows,
                  ["total", "Total", rupees(sum(got.values()))], filters=f)


def shift_variances(f: Filters) -> Report:
    """Shifts closed in the period: cash the drawer should have held, what was counted, the gap."""
    sql = ["s.status = 'CLOSED'", "s.closed_at >= ?", "s.closed_at < ?"]
    params: list = [f.start_utc, f.end_utc]
    if f.branch_id is not None:
        sql.append("c.branch_id = ?")
        params.append(f.branch_id)
    if f.counter_id is not None:
        sql.append("s.counter_id = ?")
        params.append(f.counter_id)
    if f.cashier_id is not None:
        sql.append("s.staff_id = ?")
        params.append(f.cashier_id)
    rows = query(f"SELECT s.id, b.code || '-' || c.code, st.name, {pk_day('s.closed_at')}, s.opening_float_paisa, "
                 f"s.expected_paisa, s.counted_paisa FROM shift s JOIN counter c ON c.id = s.counter_id "
                 f"JOIN branch b ON b.id = c.branch_id JOIN staff st ON st.id = s.staff_id "
                 f"WHERE {' AND '.join(sql)} ORDER BY s.closed_at", params)
    out = [[sid, counter, name, day, rupees(fl), rupees(exp), rupees(cnt), rupees(cnt - exp)]
           for sid, counter, name, day, fl, exp, cnt in rows]
    cols = [Column("shift", "Shift", "int"), Column("counter", "Counter"), Column("cashier", "Cashier"),
            Column("day", "Closed", "date"), Column("float", "Float", "money"),
            Column("expected", "Expected", "money"), Column("counted", "Counted", "money"),
            Column("variance", "Variance", "money")]
    return Report("Cash expected vs counted", cols, out,
                  ["Total", "", "", "", sum((r[4] for r in out), rupees(0)), sum((r[5] for r in out), rupees(0)),
                   sum((r[6] for r in out), rupees(0)), sum((r[7] for r in out), rupees(0))],
                  notes=["Expected = float + cash sales - change + cash in - cash out - cash refunds."], filters=f)
