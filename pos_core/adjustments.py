"""Stock adjustments: damaged, lost, found, expired, sample, correction, and counted differences.

Each has a reason code and a note; above a value threshold set in the config a manager must
approve. The movement is pushed to Shopify's `available` with the mapped reason.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import audit, db, numbering, staff as staffmod, stock_moves
from .errors import InvalidInput, NotFound, PermissionDenied
from .ledger import Movement
from .models import Adjustment, AdjustmentLine, Branch, Variant

# Our reason -> Shopify's inventory reason (the reference's list; there is no "sale" or "expired").
SHOPIFY_REASON = {"damaged": "damaged", "lost": "shrinkage", "found": "correction", "expired": "shrinkage",
                  "sample": "promotion", "correction": "correction", "count": "cycle_count_available"}
SIGN = {"damaged": -1, "lost": -1, "expired": -1, "sample": -1, "found": +1}  # others may go either way


@dataclass(frozen=True)
class AdjustItem:
    variant_id: int
    delta: int


def value_paisa(items: list[AdjustItem]) -> int:
    prices = dict(Variant.select(Variant.id, Variant.price_paisa)
                  .where(Variant.id.in_([i.variant_id for i in items])).tuples())
    return sum(abs(i.delta) * prices.get(i.variant_id, 0) for i in items)


def create(branch_id: int, staff_id: int, reason: str, items: list[AdjustItem], note: str = "", *,
           approver_id: int | None = None, approval_above_paisa: int = 5_000_00, shopify_enabled: bool,
           source_ref: str = "") -> Adjustment:
    person = staffmod.get(staff_id)
    if reason not in SHOPIFY_REASON:
        raise InvalidInput("reason must be one of " + ", ".join(SHOPIFY_REASON))
    if reason != "count" and not note.strip():
        raise InvalidInput("say what happened in the note")
    branch = Branch.get_or_none(Branch.id == branch_id)
    if branch is None:
        raise NotFound(f"no branch {branch_id}")
    if not items:
        raise InvalidInput("an adjustment needs at least one line")
    for it in items:
        if isinstance(it.delta, bool) or not isinstance(it.delta, int) or it.delta == 0 or abs(it.delta) > 99_999:
            raise InvalidInput("each line changes stock by a whole number of units, not zero")
        if reason in SIGN and (it.delta > 0) != (SIGN[reason] > 0):
            raise InvalidInput(f"'{reason}' {'adds' if SIGN[reason] > 0 else 'removes'} stock; check the sign")
        if Variant.get_or_none(Variant.id == it.variant_id) is None:
            raise NotFound(f"no item with id {it.variant_id}")
    approver = None
    value = value_paisa(items)
    if value > approval_above_paisa and not staffmod.may(person, "stock_fix"):
        if approver_id is None:
            raise PermissionDenied(f"an adjustment worth Rs {value / 100:,.2f} needs a manager's approval")
        approver = staffmod.get(approver_id)
        staffmod.require(approver, "stock_fix")
    with db.write():
        adj = Adjustment.create(number=numbering.next_branch_number(branch, "ADJ"), branch=branch, reason=reason,
                                note=note.strip(), staff=person, approver=approver, source_ref=source_ref)
        AdjustmentLine.insert_many([{"adjustment": adj.id, "line_no": n, "variant": it.variant_id, "delta": it.delta}
                                    for n, it in enumerate(items, start=1)]).execute()
        moves = [Movement(f"adjust:{adj.uid}:{n}", it.variant_id, branch.id, it.delta, "adjustment", "adjustment",
                          adj.number, person.id, reason=reason, note=note.strip())
                 for n, it in enumerate(items, start=1)]
        stock_moves.apply(moves, shopify_reason=SHOPIFY_REASON[reason],
                          reference_uri=f"gid://pk-pos/Adjustment/{adj.number}", doc_type="adjustment",
                          doc_ref=adj.uid, shopify_enabled=shopify_enabled)
        audit.log("stock.adjust", person.id, adj.number, approver.id if approver else None, reason=reason,
                  value_paisa=value)
    return adj
