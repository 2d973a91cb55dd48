"""FBR: invoices and credit notes per day and counter (POSID), sales tax, the Re 1 fees, and
what is not yet fiscalised.

A document counts as fiscalised when its FBR job is SYNCED (FBR answered with an invoice
number). "Not fiscalised" lists every counter document whose FBR job is anything else (pending,
failed, needing a person); documents made while FBR reporting was off have no job and are not
counted. Online shipments invoiced under a branch's online POSID are not in this report yet.
"""
from __future__ import annotations

from .common import SIGN, Column, Filters, Report, order_where, pk_day, query, rupees

# Every state but SYNCED, spelled out so the index on status is used (a year holds 300,000 jobs).
_OPEN = "j.status IN ('PENDING', 'SENDING', 'FAILED', 'NEEDS_RECONCILIATION')"
_UNFISCALISED = f"EXISTS (SELECT 1 FROM outbox_job j WHERE j.doc_ref = o.uid AND j.channel = 'fbr' AND {_OPEN})"


# From the open jobs to their documents, not from a year of documents to their jobs: SQLite keeps
# the tables of a CROSS JOIN in the order written (2.1 s -> 0.15 s of CPU on a chain's year).
_OPEN_FROM = ("FROM outbox_job j CROSS JOIN pos_order o JOIN counter c ON c.id = o.counter_id "
              "JOIN branch b ON b.id = o.branch_id ")
USE_SUMMARIES = True   # sales_daily (summary.py); tests switch it off to compare with the documents


def _from_summary(f: Filters) -> list[tuple]:
    from .sales import sd_where
    sd_from, where, params = sd_where(f)
    counts = query(
        "SELECT sd.day, b.code || '-' || c.code, c.fbr_posid, SUM(CASE WHEN sd.kind = 'sale' THEN sd.docs ELSE 0 END), "
        "SUM(CASE WHEN sd.kind = 'refund' THEN sd.docs ELSE 0 END), "
        "SUM(CASE WHEN sd.kind = 'refund' THEN -sd.tax_paisa ELSE sd.tax_paisa END), "
        "SUM(CASE WHEN sd.kind = 'refund' THEN -sd.fees_paisa ELSE sd.fees_paisa END) "
        f"{sd_from} JOIN counter c ON c.id = sd.counter_id JOIN branch b ON b.id = sd.branch_id "
        f"WHERE {where} GROUP BY sd.day, b.code, c.code, c.fbr_posid ORDER BY 1, 2", params)
    # What is not yet fiscalised changes as the agent works: always read live (few rows: by job state).
    owhere, oparams = order_where(f)
    day = pk_day("o.completed_at")
    open_jobs = {(d, counter): int(n) for d, counter, n in query(
        f"SELECT {day}, b.code || '-' || c.code, COUNT(DISTINCT o.id) {_OPEN_FROM}"
        f"WHERE o.uid = j.doc_ref AND j.channel = 'fbr' AND {_OPEN} AND {owhere} GROUP BY {day}, b.code, c.code",
        oparams)}
    return [r + (open_jobs.get((r[0], r[1]), 0),) for r in counts]


def by_day_counter(f: Filters) -> Report:
    where, params = order_where(f)
    day = pk_day("o.completed_at")
    if USE_SUMMARIES and f.category is None and f.method is None:
        rows = _from_summary(f)
    else:
        rows = query(
        f"SELECT {day}, b.code || '-' || c.code, c.fbr_posid, "
        "SUM(CASE WHEN o.kind = 'sale' THEN 1 ELSE 0 END), SUM(CASE WHEN o.kind = 'refund' THEN 1 ELSE 0 END), "
        f"SUM({SIGN} * o.tax_paisa), SUM({SIGN} * o.service_fee_paisa), "
        f"SUM(CASE WHEN {_UNFISCALISED} THEN 1 ELSE 0 END) "
        "FROM pos_order o JOIN counter c ON c.id = o.counter_id JOIN branch b ON b.id = o.branch_id "
        f"WHERE {where} GROUP BY {day}, b.code, c.code, c.fbr_posid ORDER BY 1, 2", params)
    out = [[d, counter, posid or "", int(inv), int(cn), rupees(tax), rupees(fee), int(pending)]
           for d, counter, posid, inv, cn, tax, fee, pending in rows]
    cols = [Column("day", "Day", "date"), Column("counter", "Counter"), Column("posid", "POSID"),
            Column("invoices", "Invoices", "int"), Column("credit_notes", "Credit notes", "int"),
            Column("tax", "Sales tax", "money"), Column("fees", "POS fees", "money"),
            Column("not_fiscalised", "Not fiscalised", "int")]
    tot = ["Total", "", ""] + [sum(r[i] for r in out) for i in (3, 4)] + \
          [sum((r[i] for r in out), rupees(0)) for i in (5, 6)] + [sum(r[7] for r in out)]
    return Report("FBR by day and counter", cols, out, tot, filters=f,
                  notes=["Sales tax is net of credit notes; POS fees are FBR's Re 1 per invoice."])


def not_fiscalised(f: Filters) -> Report:
    where, params = order_where(f)
    rows = query(
        f"SELECT o.number, {pk_day('o.completed_at')}, o.kind, b.code || '-' || c.code, o.total_paisa, "
        f"j.status, j.last_error {_OPEN_FROM}"
        f"WHERE o.uid = j.doc_ref AND j.channel = 'fbr' AND {_OPEN} AND {where} ORDER BY o.completed_at", params)
    out = [[n, d, "credit note" if k == "refund" else "invoice", c, rupees(t), s, (e or "")[:80]]
           for n, d, k, c, t, s, e in rows]
    cols = [Column("number", "USIN"), Column("day", "Day", "date"), Column("kind", "Kind"),
            Column("counter", "Counter"), Column("total", "Total", "money"), Column("status", "Status"),
            Column("error", "Last error")]
    return Report("Not yet fiscalised", cols, out, filters=f)
