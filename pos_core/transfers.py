"""Transfers between branches, confirmed at both ends.

Draft (lines, quantities) -> dispatched by the sending branch (-q there; the goods are in transit)
-> received by the receiving branch, which counts what arrived (+received there). A shortfall or an
excess stays on the line as a discrepancy until a manager settles it; each settlement that moves
stock is a movement with its reason. Shopify hears of a transfer only when the two branches map to
different locations: -q at the sender's on dispatch, +q at the receiver's on receipt.
"""
from __future__ import annotations

from dataclasses import dataclass

from peewee import fn

from . import audit, db, numbering, staff as staffmod, stock_moves
from .errors import InvalidInput, NotFound, StateError
from .ledger import Movement
from .models import Branch, Transfer, TransferLine, Variant, utcnow
from .pricing import check_qty, PricingError

# How a manager settles a line whose received quantity differs from what was sent:
# (applies to, branch that moves, sign, Shopify reason)
RESOLUTIONS = {
    "lost_in_transit": ("shortfall", None, 0, None),          # left the sender, never arrived: nothing moves
    "returned_to_sender": ("shortfall", "from", +1, "correction"),
    "found_at_receiver": ("shortfall", "to", +1, "correction"),
    "sender_sent_extra": ("excess", "from", -1, "correction"),  # more left the sender than was recorded
    "receiver_miscounted": ("excess", "to", -1, "correction"),
}


@dataclass(frozen=True)
class TransferItem:
    variant_id: int
    qty: int


def create(from_branch_id: int, to_branch_id: int, staff_id: int, items: list[TransferItem], note: str = "") -> Transfer:
    person = staffmod.get(staff_id)
    if from_branch_id == to_branch_id:
        raise InvalidInput("a transfer goes from one branch to another")
    src, dst = Branch.get_or_none(Branch.id == from_branch_id), Branch.get_or_none(Branch.id == to_branch_id)
    if src is None or dst is None:
        raise NotFound("no such branch")
    _check_items(items)
    with db.write():
        t = Transfer.create(number=numbering.next_branch_number(src, "TR"), from_branch=src, to_branch=dst,
                            created_by=person, note=note)
        TransferLine.insert_many([{"transfer": t.id, "line_no": i, "variant": it.variant_id, "qty_sent": it.qty}
                                  for i, it in enumerate(items, start=1)]).execute()
        audit.log("transfer.create", person.id, t.number)
    return t


def get(ref: str) -> Transfer:
    """By number (what is printed and scanned) or uid."""
    t = Transfer.get_or_none((Transfer.number == ref) | (Transfer.uid == ref))
    if t is None:
        raise NotFound(f"no transfer {ref}")
    return t


def dispatch(ref: str, staff_id: int, *, shopify_enabled: bool) -> Transfer:
    person = staffmod.get(staff_id)
    with db.write():
        t = _locked(ref)
        if t.status != "DRAFT":
            raise StateError(f"transfer {t.number} is {t.status}; only a draft can be dispatched")
        moves = [Movement(f"transfer-out:{t.uid}:{l.line_no}", l.variant_id, t.from_branch_id, -l.qty_sent,
                          "transfer-out", "transfer", t.number, person.id, reason=f"to {t.to_branch.code}")
                 for l in t.lines]
        stock_moves.apply(moves, shopify_reason="movement_created" if _pushes(t) else None,
                          reference_uri=f"gid://pk-pos/Transfer/{t.number}", doc_type="transfer", doc_ref=t.uid,
                          shopify_enabled=shopify_enabled)
        t.status, t.dispatched_by, t.dispatched_at = "DISPATCHED", person, utcnow()
        t.save()
        audit.log("transfer.dispatch", person.id, t.number)
    return t


def receive(ref: str, staff_id: int, counted: dict[int, int], *, shopify_enabled: bool) -> Transfer:
    """`counted`: {variant id: units that arrived}. Items not listed arrived as zero; items that
    were not on the transfer at all are refused (they need a transfer of their own)."""
    person = staffmod.get(staff_id)
    with db.write():
        t = _locked(ref)
        if t.status != "DISPATCHED":
            raise StateError(f"transfer {t.number} is {t.status}; it can be received once, after dispatch")
        lines = list(t.lines.order_by(TransferLine.line_no))
        sent: dict[int, int] = {}
        for l in lines:
            sent[l.variant_id] = sent.get(l.variant_id, 0) + l.qty_sent
        for variant_id, qty in counted.items():
            if variant_id not in sent:
                raise InvalidInput(f"item {variant_id} is not on transfer {t.number}")
            if isinstance(qty, bool) or not isinstance(qty, int) or qty < 0 or qty > 99_999:
                raise InvalidInput("a received count is a whole number from 0")
        left = dict(counted)
        moves, discrepancy = [], False
        last_line = {l.variant_id: l.line_no for l in lines}
        for l in lines:  # a variant on several lines: fill them in order, any excess on the last
            have = left.get(l.variant_id, 0)
            share = have if l.line_no == last_line[l.variant_id] else min(have, l.qty_sent)
            left[l.variant_id] = left.get(l.variant_id, 0) - share
            l.qty_received = share
            l.save()
            discrepancy |= share != l.qty_sent
            if share:
                moves.append(Movement(f"transfer-in:{t.uid}:{l.line_no}", l.variant_id, t.to_branch_id, share,
                                      "transfer-in", "transfer", t.number, person.id,
                                      reason=f"from {t.from_branch.code}"))
        stock_moves.apply(moves, shopify_reason="movement_received" if _pushes(t) else None,
                          reference_uri=f"gid://pk-pos/Transfer/{t.number}", doc_type="transfer", doc_ref=t.uid,
                          shopify_enabled=shopify_enabled)
        t.status = "DISCREPANCY" if discrepancy else "RECEIVED"
        t.received_by, t.received_at = person, utcnow()
        t.save()
        audit.log("transfer.receive", person.id, t.number, discrepancy=discrepancy)
    return t


def resolve(ref: str, line_no: int, resolution: str, staff_id: int, *, shopify_enabled: bool) -> Transfer:
    person = staffmod.get(staff_id)
    staffmod.require(person, "stock_fix")
    if resolution not in RESOLUTIONS:
        raise InvalidInput("resolution must be one of " + ", ".join(RESOLUTIONS))
    applies, side, sign, reason = RESOLUTIONS[resolution]
    with db.write():
        t = _locked(ref)
        line = t.lines.where(TransferLine.line_no == line_no).first()
        if line is None:
            raise NotFound(f"transfer {t.number} has no line {line_no}")
        if t.status != "DISCREPANCY" or line.qty_received is None:
            raise StateError(f"transfer {t.number} has no discrepancy to settle")
        if line.resolution:
            raise StateError(f"line {line_no} was already settled as {line.resolution}")
        diff = line.qty_received - line.qty_sent
        kind = "shortfall" if diff < 0 else "excess" if diff > 0 else None
        if kind is None:
            raise StateError(f"line {line_no} arrived complete")
        if kind != applies:
            raise InvalidInput(f"{resolution} settles a {applies}, but line {line_no} has a {kind}")
        if side:
            branch_id = t.from_branch_id if side == "from" else t.to_branch_id
            pushes = _pushes(t)
            stock_moves.apply([Movement(f"transfer-{resolution}:{t.uid}:{line_no}", line.variant_id, branch_id,
                                        sign * abs(diff), "transfer-fix", "transfer", t.number, person.id,
                                        reason=resolution.replace("_", " "))],
                              shopify_reason=reason if pushes else None,
                              reference_uri=f"gid://pk-pos/Transfer/{t.number}", doc_type="transfer",
                              doc_ref=t.uid, shopify_enabled=shopify_enabled)
        line.resolution, line.resolved_by, line.resolved_at = resolution, person, utcnow()
        line.save()
        open_lines = [l for l in t.lines if l.qty_received != l.qty_sent and not l.resolution]
        if not open_lines:
            t.status = "RECEIVED"
            t.save()
        audit.log("transfer.resolve", person.id, t.number, line=line_no, resolution=resolution, units=abs(diff))
    return t


def cancel(ref: str, staff_id: int) -> Transfer:
    person = staffmod.get(staff_id)
    with db.write():
        t = _locked(ref)
        if t.status != "DRAFT":
            raise StateError(f"transfer {t.number} is {t.status}; only a draft can be cancelled")
        t.status = "CANCELLED"
        t.save()
        audit.log("transfer.cancel", person.id, t.number)
    return t


def in_transit(variant_id: int) -> dict[str, int]:
    """Units dispatched and not yet received, by receiving branch code."""
    rows = (TransferLine.select(Branch.code, fn.SUM(TransferLine.qty_sent))
            .join(Transfer).join(Branch, on=(Transfer.to_branch == Branch.id))
            .where((TransferLine.variant == variant_id) & (Transfer.status == "DISPATCHED"))
            .group_by(Branch.code).tuples())
    return {code: int(n) for code, n in rows}


def _pushes(t: Transfer) -> bool:
    return t.from_branch.shopify_location_id != t.to_branch.shopify_location_id


def _locked(ref: str) -> Transfer:
    t = get(ref)
    if db.is_postgres():
        t = Transfer.select().where(Transfer.id == t.id).for_update().get()
    return t


def _check_items(items: list[TransferItem]) -> None:
    if not items:
        raise InvalidInput("a transfer needs at least one line")
    ids = {it.variant_id for it in items}
    known = {v for (v,) in Variant.select(Variant.id).where(Variant.id.in_(list(ids))).tuples()}
    for it in items:
        if it.variant_id not in known:
            raise NotFound(f"no item with id {it.variant_id}")
        try:
            check_qty(it.qty)
        except PricingError as exc:
            raise InvalidInput(str(exc)) from None
