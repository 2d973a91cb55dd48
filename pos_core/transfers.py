"""Transfers between branches, confirmed at both ends.

Draft (lines, quantities) -> dispatched by the sending branch (-q there; the goods are in transit)
-> received by the receiving branch, which counts what arrived (+received there). A shortfall or an
excess stays on the line as a discrepancy until a manager settles it; each settlement that moves
stock is a movement with its reason. Shopify hears of a transfer only when the two branches map to
different locations: -q at the sender's on dispatch, +q at the receiver's on receipt.

In a chain (issue 14) the two branches are on different boxes. The transfer row is the sender's;
the receiving branch writes a `TransferReceipt` (its count) and each manager's settlement is a
`TransferSettlement` written at the branch whose stock it moves. Both reach the other branch through
the head office. The transfer's status and its lines' received/settled columns are a projection of
those rows (`project`), rebuilt at every site whenever one of them is written or arrives.
"""
from __future__ import annotations

from dataclasses import dataclass

from peewee import IntegrityError, fn

from . import audit, db, numbering, staff as staffmod, stock_moves
from .errors import InvalidInput, NotFound, StateError
from .ledger import Movement
from .models import (Branch, Transfer, TransferLine, TransferReceipt, TransferReceiptLine,
                     TransferSettlement, Variant, utcnow)
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


def here() -> str | None:
    """This box's branch code when it is a branch of a chain (its database holds other branches'
    transfers as copies it may not change); None for a single shop, where every branch is local."""
    from . import chain
    if chain.get_state("role") == "branch":
        return chain.get_state("branch") or None
    return None


def receive(ref: str, staff_id: int, counted: dict[int, int], *, shopify_enabled: bool) -> Transfer:
    """`counted`: {variant id: units that arrived}. Items not listed arrived as zero; items that
    were not on the transfer at all are refused (they need a transfer of their own).

    Received once: the receipt is UNIQUE on the transfer. Two counters of one branch share the
    branch's database, so the second scan of a slip is refused there and then, with who received
    it and when, whether or not the head office is reachable (see docs/chain.md)."""
    person = staffmod.get(staff_id)
    mine = here()
    with db.write():
        t = _locked(ref)
        if mine is not None and t.to_branch.code != mine:
            raise StateError(f"transfer {t.number} goes to {t.to_branch.code}; it is received there, not at {mine}")
        done = TransferReceipt.get_or_none(TransferReceipt.transfer == t.id)
        if done is not None:
            raise StateError(f"transfer {t.number} was already received at {done.branch.code} by "
                             f"{done.received_by.name} ({_pk_time(done.received_at)}); a transfer is received once")
        if t.status != "DISPATCHED":
            raise StateError(f"transfer {t.number} is {t.status}; it can be received once, after dispatch")
        lines = list(t.lines.order_by(TransferLine.line_no))
        if not lines:   # a chain branch whose copy of the transfer has come without its lines yet
            raise StateError(f"transfer {t.number} has not fully arrived from the head office yet; "
                             "try again after the next sync")
        sent: dict[int, int] = {}
        for l in lines:
            sent[l.variant_id] = sent.get(l.variant_id, 0) + l.qty_sent
        for variant_id, qty in counted.items():
            if variant_id not in sent:
                raise InvalidInput(f"item {variant_id} is not on transfer {t.number}")
            if isinstance(qty, bool) or not isinstance(qty, int) or qty < 0 or qty > 99_999:
                raise InvalidInput("a received count is a whole number from 0")
        left = dict(counted)
        moves, discrepancy, shares = [], False, []
        last_line = {l.variant_id: l.line_no for l in lines}
        for l in lines:  # a variant on several lines: fill them in order, any excess on the last
            have = left.get(l.variant_id, 0)
            share = have if l.line_no == last_line[l.variant_id] else min(have, l.qty_sent)
            left[l.variant_id] = left.get(l.variant_id, 0) - share
            shares.append((l.line_no, share))
            discrepancy |= share != l.qty_sent
            if share:
                moves.append(Movement(f"transfer-in:{t.uid}:{l.line_no}", l.variant_id, t.to_branch_id, share,
                                      "transfer-in", "transfer", t.number, person.id,
                                      reason=f"from {t.from_branch.code}"))
        try:
            with db.database.atomic():
                receipt = TransferReceipt.create(transfer=t.id, branch=t.to_branch_id, received_by=person.id)
        except IntegrityError:   # another counter's receipt committed between our read and write
            raise StateError(f"transfer {t.number} was already received; a transfer is received once") from None
        TransferReceiptLine.insert_many([{"receipt": receipt.id, "line_no": n, "qty_received": q}
                                         for n, q in shares]).execute()
        stock_moves.apply(moves, shopify_reason="movement_received" if _pushes(t) else None,
                          reference_uri=f"gid://pk-pos/Transfer/{t.number}", doc_type="transfer", doc_ref=t.uid,
                          shopify_enabled=shopify_enabled)
        project(t.id)
        audit.log("transfer.receive", person.id, t.number, discrepancy=discrepancy)
    return get(t.number)


def resolve(ref: str, line_no: int, resolution: str, staff_id: int, *, shopify_enabled: bool) -> Transfer:
    """A manager settles one line's shortfall or excess. In a chain it is settled at the branch
    whose stock it moves (returned_to_sender and sender_sent_extra at the sender, the others at
    the receiver): that branch owns the movement and the settlement."""
    person = staffmod.get(staff_id)
    staffmod.require(person, "stock_fix")
    if resolution not in RESOLUTIONS:
        raise InvalidInput("resolution must be one of " + ", ".join(RESOLUTIONS))
    applies, side, sign, reason = RESOLUTIONS[resolution]
    mine = here()
    with db.write():
        t = _locked(ref)
        line = t.lines.where(TransferLine.line_no == line_no).first()
        if line is None:
            raise NotFound(f"transfer {t.number} has no line {line_no}")
        counted = (TransferReceiptLine.select().join(TransferReceipt)
                   .where((TransferReceipt.transfer == t.id) & (TransferReceiptLine.line_no == line_no)).first())
        if counted is None:
            raise StateError(f"transfer {t.number} has no discrepancy to settle")
        done = TransferSettlement.get_or_none((TransferSettlement.transfer == t.id)
                                              & (TransferSettlement.line_no == line_no))
        if done is not None:
            raise StateError(f"line {line_no} was already settled as {done.resolution}")
        diff = counted.qty_received - line.qty_sent
        kind = "shortfall" if diff < 0 else "excess" if diff > 0 else None
        if kind is None:
            raise StateError(f"line {line_no} arrived complete")
        if kind != applies:
            raise InvalidInput(f"{resolution} settles a {applies}, but line {line_no} has a {kind}")
        where = (t.from_branch if side == "from" else t.to_branch) if side else None
        if mine is not None:
            if where is not None and where.code != mine:
                raise StateError(f"{resolution.replace('_', ' ')} moves stock at {where.code}: "
                                 f"settle it there, not at {mine}")
            if where is None:
                if mine not in (t.from_branch.code, t.to_branch.code):
                    raise StateError(f"transfer {t.number} is not {mine}'s to settle")
                where = Branch.get(Branch.code == mine)
        where = where or t.to_branch
        if side:
            pushes = _pushes(t)
            stock_moves.apply([Movement(f"transfer-{resolution}:{t.uid}:{line_no}", line.variant_id, where.id,
                                        sign * abs(diff), "transfer-fix", "transfer", t.number, person.id,
                                        reason=resolution.replace("_", " "))],
                              shopify_reason=reason if pushes else None,
                              reference_uri=f"gid://pk-pos/Transfer/{t.number}", doc_type="transfer",
                              doc_ref=t.uid, shopify_enabled=shopify_enabled)
        try:
            with db.database.atomic():
                TransferSettlement.create(transfer=t.id, line_no=line_no, branch=where.id,
                                          resolution=resolution, resolved_by=person.id)
        except IntegrityError:
            raise StateError(f"line {line_no} was already settled") from None
        project(t.id)
        audit.log("transfer.resolve", person.id, t.number, line=line_no, resolution=resolution, units=abs(diff))
    return get(t.number)


def project(transfer_id: int) -> None:
    """Rebuild the transfer's status and its lines' received/settled columns from its receipt and
    settlements (call inside a write transaction). Only the receipt and settlements travel; each
    site keeps this projection of them, so a branch never changes a row another branch owns."""
    t = Transfer.get_or_none(Transfer.id == transfer_id)
    if t is None or t.status in ("DRAFT", "CANCELLED"):
        return
    receipt = TransferReceipt.get_or_none(TransferReceipt.transfer == t.id)
    counted = ({r.line_no: r.qty_received for r in receipt.lines} if receipt else {})
    settled = {s.line_no: s for s in TransferSettlement.select().where(TransferSettlement.transfer == t.id)}
    status = "DISPATCHED"
    if receipt is not None:
        status = "RECEIVED"
    for line in t.lines:
        qty = counted.get(line.line_no) if receipt else None
        s = settled.get(line.line_no)
        want = (qty, s.resolution if s else None, s.resolved_by_id if s else None, s.resolved_at if s else None)
        if (line.qty_received, line.resolution, line.resolved_by_id, line.resolved_at) != want:
            (TransferLine.update(qty_received=want[0], resolution=want[1], resolved_by=want[2], resolved_at=want[3])
             .where(TransferLine.id == line.id).execute())
        if receipt is not None and qty != line.qty_sent and s is None:
            status = "DISCREPANCY"
    fields = (status, receipt.received_by_id if receipt else None, receipt.received_at if receipt else None)
    if (t.status, t.received_by_id, t.received_at) != fields:
        (Transfer.update(status=fields[0], received_by=fields[1], received_at=fields[2])
         .where(Transfer.id == t.id).execute())


def _pk_time(when) -> str:
    import datetime as dt
    return (when + dt.timedelta(hours=5)).strftime("%d %b %H:%M PKT") if when else "?"


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
            .where((TransferLine.variant == variant_id) & (Transfer.status == "DISPATCHED")
                   & ~fn.EXISTS(TransferReceipt.select().where(TransferReceipt.transfer == Transfer.id)))
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
