"""Suppliers, purchase orders and receiving goods in one or several deliveries.

Each delivery is a goods receipt: +q at the branch for what was counted, with the unit cost kept
per receipt line for stock value, and an `available` +q pushed to Shopify with reason `received`.
Over- and under-deliveries are recorded against the order lines; an item that was not ordered is
received as its own receipt line.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from peewee import fn

from . import audit, db, numbering, staff as staffmod, stock_moves
from .errors import InvalidInput, NotFound, StateError
from .ledger import Movement
from .models import (Branch, GoodsReceipt, GoodsReceiptLine, PurchaseOrder, PurchaseOrderLine, Supplier, Variant,
                     utcnow)
from .money import MoneyError, to_paisa
from .pricing import PricingError, check_qty


@dataclass(frozen=True)
class OrderItem:
    variant_id: int
    qty: int
    unit_cost: Decimal


@dataclass(frozen=True)
class Delivered:
    variant_id: int
    qty: int
    unit_cost: Decimal | None = None  # None: the cost on the order


def supplier(name: str, phone: str = "", ntn: str = "") -> Supplier:
    name = name.strip()
    if not name:
        raise InvalidInput("a supplier needs a name")
    with db.write():
        s, _ = Supplier.get_or_create(name=name, defaults={"phone": phone, "ntn": ntn})
    return s


def create(branch_id: int, supplier_id: int, staff_id: int, items: list[OrderItem], note: str = "") -> PurchaseOrder:
    person = staffmod.get(staff_id)
    branch = Branch.get_or_none(Branch.id == branch_id)
    if branch is None or Supplier.get_or_none(Supplier.id == supplier_id) is None:
        raise NotFound("no such branch or supplier")
    if not items:
        raise InvalidInput("a purchase order needs at least one line")
    rows = []
    for it in items:
        _qty(it.qty)
        if Variant.get_or_none(Variant.id == it.variant_id) is None:
            raise NotFound(f"no item with id {it.variant_id}")
        rows.append({"variant": it.variant_id, "qty_ordered": it.qty, "unit_cost_paisa": _cost(it.unit_cost)})
    with db.write():
        po = PurchaseOrder.create(number=numbering.next_branch_number(branch, "PO"), branch=branch,
                                  supplier=supplier_id, created_by=person, note=note)
        PurchaseOrderLine.insert_many([dict(r, order=po.id) for r in rows]).execute()
        audit.log("po.create", person.id, po.number)
    return po


def get(ref: str) -> PurchaseOrder:
    po = PurchaseOrder.get_or_none((PurchaseOrder.number == ref) | (PurchaseOrder.uid == ref))
    if po is None:
        raise NotFound(f"no purchase order {ref}")
    return po


def receive(ref: str, staff_id: int, delivered: list[Delivered], *, shopify_enabled: bool,
            note: str = "") -> GoodsReceipt:
    person = staffmod.get(staff_id)
    if not delivered:
        raise InvalidInput("nothing was counted in this delivery")
    with db.write():
        po = get(ref)
        if db.is_postgres():
            po = PurchaseOrder.select().where(PurchaseOrder.id == po.id).for_update().get()
        if po.status not in ("OPEN", "PARTIAL"):
            raise StateError(f"purchase order {po.number} is {po.status}; it takes no more deliveries")
        lines = {l.variant_id: l for l in po.lines}
        receipt = GoodsReceipt.create(number=numbering.next_branch_number(po.branch, "GRN"), order=po,
                                      received_by=person, note=note)
        rows, moves = [], []
        for i, d in enumerate(_merge(delivered), start=1):
            line = lines.get(d.variant_id)
            if line is None and Variant.get_or_none(Variant.id == d.variant_id) is None:
                raise NotFound(f"no item with id {d.variant_id}")
            cost = _cost(d.unit_cost) if d.unit_cost is not None else (line.unit_cost_paisa if line else None)
            if cost is None:
                raise InvalidInput(f"item {d.variant_id} was not ordered: enter its unit cost")
            rows.append(GoodsReceiptLine(receipt=receipt, line_no=i, order_line=line, variant=d.variant_id,
                                         qty=d.qty, unit_cost_paisa=cost))
            if line is not None:
                PurchaseOrderLine.update(qty_received=PurchaseOrderLine.qty_received + d.qty).where(
                    PurchaseOrderLine.id == line.id).execute()
            moves.append(Movement(f"receipt:{receipt.uid}:{i}", d.variant_id, po.branch_id, d.qty, "receipt",
                                  "goods_receipt", receipt.number, person.id, reason=f"PO {po.number}"))
        GoodsReceiptLine.bulk_create(rows)
        stock_moves.apply(moves, shopify_reason="received", reference_uri=f"gid://pk-pos/GoodsReceipt/{receipt.number}",
                          doc_type="goods_receipt", doc_ref=receipt.uid, shopify_enabled=shopify_enabled)
        po.status = "RECEIVED" if all(l.qty_received >= l.qty_ordered for l in po.lines) else "PARTIAL"
        po.save()
        audit.log("po.receive", person.id, receipt.number, order=po.number)
    return receipt


def balance(po: PurchaseOrder) -> list[dict]:
    """Per line: ordered, received, and what is still due (negative: delivered over the order)."""
    return [{"sku": l.variant.sku, "ordered": l.qty_ordered, "received": l.qty_received,
             "due": l.qty_ordered - l.qty_received} for l in po.lines]


def close(ref: str, staff_id: int) -> PurchaseOrder:
    """Nothing more is expected: whatever is still due will not come."""
    person = staffmod.get(staff_id)
    with db.write():
        po = get(ref)
        if po.status in ("CLOSED", "CANCELLED"):
            raise StateError(f"purchase order {po.number} is already {po.status}")
        po.status, po.closed_at = "CLOSED", utcnow()
        po.save()
        audit.log("po.close", person.id, po.number, short=[b for b in balance(po) if b["due"] > 0])
    return po


def cancel(ref: str, staff_id: int) -> PurchaseOrder:
    person = staffmod.get(staff_id)
    with db.write():
        po = get(ref)
        if po.receipts.count():
            raise StateError(f"purchase order {po.number} has deliveries; close it instead")
        if po.status != "OPEN":
            raise StateError(f"purchase order {po.number} is {po.status}")
        po.status, po.closed_at = "CANCELLED", utcnow()
        po.save()
        audit.log("po.cancel", person.id, po.number)
    return po


def average_cost(variant_id: int) -> int | None:
    """Weighted average unit cost over every receipt of the item, in paisa."""
    qty, value = (GoodsReceiptLine.select(fn.SUM(GoodsReceiptLine.qty),
                                          fn.SUM(GoodsReceiptLine.qty * GoodsReceiptLine.unit_cost_paisa))
                  .where(GoodsReceiptLine.variant == variant_id).tuples().get())
    if not qty:
        return None
    return (int(value) * 2 + int(qty)) // (2 * int(qty))  # half-up


def _merge(delivered: list[Delivered]) -> list[Delivered]:
    """Scans arrive one unit at a time; one receipt line per item and cost."""
    merged: dict[tuple, int] = {}
    for d in delivered:
        _qty(d.qty)
        key = (d.variant_id, d.unit_cost)
        merged[key] = merged.get(key, 0) + d.qty
    return [Delivered(v, q, c) for (v, c), q in merged.items()]


def _qty(qty) -> None:
    try:
        check_qty(qty)
    except PricingError as exc:
        raise InvalidInput(str(exc)) from None


def _cost(value) -> int:
    try:
        paisa = to_paisa(value)
    except MoneyError as exc:
        raise InvalidInput(f"unit cost: {exc}") from None
    if paisa < 0:
        raise InvalidInput("a unit cost cannot be negative")
    return paisa
