"""A returned parcel that reaches another branch than the one that shipped it (issue 14).

Couriers often bring a refused parcel to the nearest branch. The receiving branch takes it in: the
head office decides once (`hq_take_return()` in hq.py, from the shipping branch's shipment as it
came up, under the shipment's lock), so the same parcel is never taken back twice. The receiving
branch then records, on its own box and as its own rows, a `return_in` record with the goods +q
in its stock (where they physically are) and the restock and `pos-returned` tag as its own Shopify
jobs (at its location; in a chain the head office's agent sends them, once). The shipping branch's
agent learns it from the head office (`hq_returns_of()`) and marks its shipment RETURNED "at KHI1",
moving no stock there.

Taking a parcel in at another branch needs the head-office link: only the head office knows the
other branch's shipment, and a parcel taken in offline at two places would be counted twice. The
parcel waits on the shelf until the link is back; the till says so.
"""
from __future__ import annotations

from . import audit, db, online_orders, stock_moves
from .errors import InvalidInput, NotFound, StateError
from .ledger import Movement
from .models import Branch, Fulfillment, FulfillmentLine, SmartOrder, SmartOrderLine, StockMovement, Variant, utcnow

TAKE_SQL = ("SELECT o_shipment, o_shipping, o_taken_by, o_order, o_line_no, o_line, o_sku, o_qty "
            "FROM hq_take_return(%s)")
RETURNS_SQL = "SELECT o_shipment, o_branch FROM hq_returns_of(%s)"
OFFLINE = ("taking back another branch's parcel needs the head-office link, and it is down ({error}): "
           "nothing was taken in; keep the parcel aside and take it in once the link is back")


def take_in(cfg, parcel: str, staff_id: int, *, shopify_enabled: bool,
            reason: str = "returned to this branch by the courier") -> Fulfillment:
    """At a chain branch: take back a parcel another branch shipped (its tracking number or shipment
    id). Asks the head office first; refused when another branch took it back already."""
    from . import hq_claims
    parcel = (parcel or "").strip()
    if not parcel:
        raise InvalidInput("scan or type the parcel's tracking number")
    if cfg.hq.role != "branch":
        raise StateError("a single shop takes returns on the shipment itself (Returned)")
    me = hq_claims.this_branch(cfg)
    rows = hq_claims.call_hq(cfg, TAKE_SQL, (parcel,), OFFLINE)
    shipment, shipping, taken_by, order_gid = rows[0][:4]
    if taken_by != me:
        raise StateError(f"parcel {parcel} was already taken back at {taken_by}: it is not taken in again")
    if shipping == me:
        raise StateError(f"parcel {parcel} is this branch's own shipment: take it back with Returned on the order")
    return _record(shipment, shipping, order_gid, rows, me, staff_id, shopify_enabled, reason)


def _record(shipment, shipping, order_gid, rows, me, staff_id, shopify_enabled, reason) -> Fulfillment:
    with db.write():
        here = Branch.get(Branch.code == me)
        order = SmartOrder.get_or_none(SmartOrder.shopify_id == order_gid)
        if order is None:
            raise NotFound(f"this branch has no copy of online order {order_gid} yet: let it sync, then try again")
        done = StockMovement.get_or_none(StockMovement.event_key == f"return:{shipment}:{rows[0][4]}")
        if done is not None:
            return Fulfillment.get(Fulfillment.uid == done.doc_ref) if done.doc_ref else None
        f = Fulfillment.create(order=order, mode="return_in", branch=here.id, status="DONE", created_by=staff_id,
                               reason=f"{shipping}'s parcel {shipment[:8]}: {reason}",
                               history=[{"at": utcnow().isoformat(), "status": "DONE", "staff": staff_id,
                                         "shipment": shipment, "shipped_by": shipping}])
        moves = []
        for _, _, _, _, line_no, line_gid, sku, qty in rows:
            variant = Variant.get_or_none(Variant.sku == sku)
            if variant is None:
                raise NotFound(f"this branch has no item {sku} yet: let it sync, then try again")
            ol = SmartOrderLine.get_or_none((SmartOrderLine.order == order.id)
                                            & (SmartOrderLine.shopify_line_id == line_gid)) if line_gid else None
            FulfillmentLine.create(fulfillment=f, line_no=line_no, order_line=ol, variant=variant, qty=qty)
            # the shipping branch's own key: the event is the parcel's lines coming back, wherever
            moves.append(Movement(f"return:{shipment}:{line_no}", variant.id, here.id, qty, "online-return",
                                  "fulfillment", f.uid, staff_id, reason=f.reason))
        stock_moves.apply(moves, shopify_reason="restock", reference_uri=f"gid://pk-pos/OnlineReturn/{shipment}",
                          doc_type="fulfillment", doc_ref=f.uid, shopify_enabled=shopify_enabled)
        online_orders.add_event(order, "returned_here", staff_id, shipment=shipment, branch=me, shipped_by=shipping)
        online_orders.queue_tags(order, ["pos-returned"], shopify_enabled)
        audit.log("fulfillment.return_in", staff_id, order.name, shipment=shipment, shipped_by=shipping)
    return f


def own_open_shipments(branch_code: str, limit: int = 500) -> list[str]:
    """This branch's shipments that may come back elsewhere (dispatched or delivered), newest first."""
    here = Branch.get_or_none(Branch.code == branch_code)
    if here is None:
        return []
    return [uid for (uid,) in Fulfillment.select(Fulfillment.uid).where(
        (Fulfillment.branch == here.id) & (Fulfillment.mode == "smart")
        & Fulfillment.status.in_(["DISPATCHED", "DELIVERED"])).order_by(Fulfillment.id.desc()).limit(limit).tuples()]


def came_back_elsewhere(rows: list[tuple[str, str]], branch_code: str, policy=None) -> int:
    """At the shipping branch (its agent): the head office says these shipments were taken back at
    another branch. Marks each RETURNED there; no stock moves here (the goods are at that branch).
    With FBR on, the credit note against this branch's own OL invoice is this branch's, as for a
    return taken here (its POSID issued the invoice)."""
    from . import fulfillments, outbox
    n = 0
    with db.write():
        for uid, taken_by in rows:
            if taken_by == branch_code:
                continue
            f = Fulfillment.get_or_none(Fulfillment.uid == uid)
            if f is None or f.status not in ("DISPATCHED", "DELIVERED"):
                continue
            fulfillments._set(f, "RETURNED", None, branch=taken_by, elsewhere=True)
            _parcel_received_at(f, taken_by)
            invoice = next((j for j in outbox.jobs_for(f.uid, outbox.FBR) if j.kind == "invoice"), None)
            if invoice is not None and policy is not None and policy.fbr_enabled:
                fulfillments._queue_invoice(f, policy, credit=True, ref=invoice)
            n += 1
    return n


def _parcel_received_at(f: Fulfillment, taken_by: str) -> None:
    """The shipment's courier parcel (when it was booked through a courier's API) shows it was
    received back, at the other branch, so this branch's returns desk stops listing it."""
    from . import couriers
    from .models import Consignment
    there = Branch.get_or_none(Branch.code == taken_by)
    for c in Consignment.select().where((Consignment.fulfillment == f.id) & (Consignment.status != couriers.RETURNED)):
        couriers.mark_received(c, there.id if there else None, None, branch=taken_by, elsewhere=True)
