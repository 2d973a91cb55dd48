"""Bringing a branch restored from an older backup back into line (`pos-admin branch recover`).

The branch's own rows that the head office holds and the restored database lacks (the documents,
movements, credit entries... made between the backup and the disaster) come back from what the
branch itself pushed (its rows in the head office's inbox), read by `sync_agent/hq/recover.py`.
This module is the local half, inside one write transaction:

1. numbering: every counter and branch series is raised above the highest number held here or
   in the records, and a document made since the restore that took a number the head office
   already has for another document is given a new one (audited; its FBR invoice follows if it
   has not been sent, else a person is told);
2. the records are applied by identity, parents first, except rows changed here since the
   restore (`keep`): those are newer than the head office's copy and go up as they are;
3. the projections (stock levels, store credit and points balances, transfer status) are rebuilt
   from the entries now held.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from . import audit, chain, db, numbering, outbox, transfers
from .models import Branch, BranchSeries, ChainParked, Counter, DocumentSeries, OutboxJob, Transfer

# Tables whose `number` a person sees and that must stay unique: which series issues it.
NUMBERED = ("pos_order", "transfer", "purchase_order", "goods_receipt", "adjustment", "stock_take")
_COUNTER_NO = re.compile(r"^(?P<b>[^-]+)-(?P<c>[^-]+)-(?P<p>R?)(?P<n>\d+)$")   # LHR1-C1-000123, -R000045
_BRANCH_NO = re.compile(r"^(?P<s>[A-Z]+)-(?P<b>[^-]+)-(?P<n>\d+)$")          # TR-LHR1-000001


# Rows of the branch that are transport, not record: a Shopify job handed to the head office is
# the head office's to send (its own outbox holds it); bringing the relay row back here would make
# this box take it for a job arriving at the head office.
NOT_BROUGHT_BACK = ("shopify_relay",)


@dataclass
class Report:
    applied: dict[str, int] = field(default_factory=dict)     # table -> rows brought back or updated
    kept: int = 0                                             # rows newer here than the head office's
    renumbered: list[tuple[str, str, str]] = field(default_factory=list)   # (old, new, what FBR has)
    failed: list[tuple[str, str, str]] = field(default_factory=list)       # (table, key, reason)
    counters: dict[str, int] = field(default_factory=dict)


def restore(records: list[dict], keep: set[tuple[str, str]], branch_code: str) -> Report:
    """Apply the branch's own records from the head office (see the module's doc). Call inside
    db.write(); records are wire records ({"t", "k", "d"})."""
    d = db.database
    report = Report()
    records = sorted(records, key=lambda r: chain.RANK.get(r["t"], len(chain.RANK)))
    numbers = [r["d"].get("number") for r in records if r["t"] in NUMBERED and r["d"].get("number")]
    report.counters = raise_counters(branch_code, numbers)
    for rec in records:
        if rec["t"] not in NUMBERED or not rec["d"].get("number"):
            continue
        m = chain.model_for(rec["t"])
        here = m.get_or_none(m.number == rec["d"]["number"])
        if here is not None and chain.key_text({"uid": here.uid}) != rec["k"]:
            report.renumbered.append(_renumber(rec["t"], here))
    report.kept = sum(1 for rec in records if (rec["t"], rec["k"]) in keep)
    todo = [rec for rec in records if (rec["t"], rec["k"]) not in keep and rec["t"] not in NOT_BROUGHT_BACK]
    failed: list[tuple[dict, str]] = []
    for attempt in (1, 2):   # the second pass: rows whose parent came later in the first
        applier = chain.Applier(d)
        failed = []
        for rec in todo:
            try:
                with d.atomic():
                    result = applier.apply(rec)
            except Exception as exc:   # noqa: BLE001 - an unknown SKU, a clash: each row on its own
                applier = chain.Applier(d)
                failed.append((rec, str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__))
                continue
            if result == "inserted" and rec["t"] == "coupon_use":
                # Applying a use counts it, as at the head office; but the coupon row pulled just
                # before came down from the head office with this use already counted.
                d.execute_sql(chain._sql(d, "UPDATE coupon SET uses = uses - 1 WHERE id = ?"),
                              (applier.resolve("coupon", rec["d"]["coupon"]),))
            if result != "same":
                report.applied[rec["t"]] = report.applied.get(rec["t"], 0) + 1
        todo = [rec for rec, _ in failed]
        if not todo:
            break
    for rec, reason in failed:
        report.failed.append((rec["t"], rec["k"], reason))
        # kept for a person, and retried with the rows the pull could not apply
        ChainParked.create(table_name=rec["t"], key=rec["k"], data=json.dumps(rec),
                           reason=f"recovered from the head office, not applied: {reason}"[:1000],
                           position="recover")
    rebuild_projections()
    raise_counters(branch_code, [])
    return report


def raise_counters(branch_code: str, numbers: list[str]) -> dict[str, int]:
    """Set every series of this branch at least to the highest number it has issued, as held here
    or in `numbers`, so the next document never takes a number already used. Returns the series
    raised ({"LHR1-C1-S": 41, "TR": 3})."""
    held = list(numbers)
    for table in NUMBERED:
        m = chain.model_for(table)
        held += [n for (n,) in m.select(m.number).where(m.number.is_null(False)).tuples()]
    per_counter: dict[tuple[str, str], int] = {}
    per_branch: dict[str, int] = {}
    for n in held:
        c = _COUNTER_NO.match(n)
        if c and c["b"] == branch_code:
            key = (c["c"], numbering.REFUNDS if c["p"] else numbering.SALES)
            per_counter[key] = max(per_counter.get(key, 0), int(c["n"]))
        b = _BRANCH_NO.match(n)
        if b and b["b"] == branch_code:
            per_branch[b["s"]] = max(per_branch.get(b["s"], 0), int(b["n"]))
    raised: dict[str, int] = {}
    branch = Branch.get_or_none(Branch.code == branch_code)
    if branch is None:
        return raised
    for (code, series), top in per_counter.items():
        counter = Counter.get_or_none(Counter.branch == branch.id, Counter.code == code)
        if counter is not None and _at_least(DocumentSeries, DocumentSeries.counter, counter.id, series, top):
            raised[f"{branch_code}-{code}-{series}"] = top
    for series, top in per_branch.items():
        if _at_least(BranchSeries, BranchSeries.branch, branch.id, series, top):
            raised[series] = top
    return raised


def _at_least(model, owner_field, owner_id: int, series: str, top: int) -> bool:
    """Raise one series row to `top` (made if missing); True when it changed."""
    row = model.get_or_none(owner_field == owner_id, model.series == series)
    if row is None:
        model.create(**{owner_field.name: owner_id}, series=series, last_value=top)
    elif row.last_value < top:
        model.update(last_value=top).where(model.id == row.id).execute()
    else:
        return False
    return True


def _renumber(table: str, doc) -> tuple[str, str, str]:
    """A document made since the restore holds a number the head office has for another one:
    give it the next number of its series. (old, new, what FBR was told)."""
    old = doc.number
    if table == "pos_order":
        series = numbering.REFUNDS if doc.kind == "refund" else numbering.SALES
        new = numbering.next_number(Counter.get_by_id(doc.counter_id), series)
    else:
        parts = _BRANCH_NO.match(old)
        new = numbering.next_branch_number(Branch.get(Branch.code == parts["b"]), parts["s"])
    m = chain.model_for(table)
    m.update(number=new).where(m.id == doc.id).execute()
    fbr = _renumber_fbr(old, new) if table == "pos_order" else ""
    audit.log("chain.renumber", None, doc.uid, old=old, new=new, fbr=fbr,
              why="restored from a backup: the head office holds another document with this number")
    return old, new, fbr


def _renumber_fbr(old: str, new: str) -> str:
    """Invoices not yet tried go to FBR under the new USIN (and a credit note's reference with it);
    one FBR may already have under the old number needs a person."""
    said = []
    for job in OutboxJob.select().where(OutboxJob.channel == outbox.FBR):
        p = job.payload or {}
        if old not in (p.get("usin"), p.get("ref_usin")):
            continue
        if job.status == "PENDING" and job.attempts == 0:
            for key, tag in (("usin", "USIN"), ("ref_usin", "RefUSIN")):
                if p.get(key) == old:
                    p[key] = new
                    p["body"] = p["body"].replace(f'"{tag}":{json.dumps(old)}', f'"{tag}":{json.dumps(new)}')
            OutboxJob.update(payload=p).where(OutboxJob.id == job.id).execute()
            said.append("FBR invoice not sent yet: it goes under the new number")
        else:
            said.append(f"FBR job {job.uid} ({job.status}) was sent as {old}: tell the accountant")
    return "; ".join(said) or "no FBR invoice"


def rebuild_projections() -> None:
    """Stock levels, store credit and points balances from their entries; transfers' status from
    their receipts and settlements. Call inside a write transaction."""
    d = db.database
    d.execute_sql("UPDATE stock_level SET on_hand = COALESCE((SELECT SUM(m.delta) FROM stock_movement m "
                  "WHERE m.variant_id = stock_level.variant_id AND m.branch_id = stock_level.branch_id), 0)")
    d.execute_sql("INSERT INTO stock_level (variant_id, branch_id, on_hand) "
                  "SELECT m.variant_id, m.branch_id, SUM(m.delta) FROM stock_movement m "
                  "WHERE NOT EXISTS (SELECT 1 FROM stock_level l WHERE l.variant_id = m.variant_id "
                  "AND l.branch_id = m.branch_id) GROUP BY m.variant_id, m.branch_id")
    d.execute_sql("UPDATE customer SET store_credit_paisa = COALESCE((SELECT SUM(e.delta_paisa) "
                  "FROM credit_entry e WHERE e.customer_id = customer.id), 0)")
    d.execute_sql("UPDATE points_balance SET points = COALESCE((SELECT SUM(e.delta) FROM points_entry e "
                  "WHERE e.customer_id = points_balance.customer_id), 0)")
    d.execute_sql(chain._sql(d, "INSERT INTO points_balance (customer_id, points, updated_at) "
                                "SELECT e.customer_id, SUM(e.delta), ? FROM points_entry e "
                                "WHERE NOT EXISTS (SELECT 1 FROM points_balance b WHERE b.customer_id = e.customer_id) "
                                "GROUP BY e.customer_id"), (str(chain._now()),))
    for (tid,) in Transfer.select(Transfer.id).tuples():
        transfers.project(tid)

