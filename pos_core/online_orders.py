"""Smart Orders: the permanent local record of every Shopify order, and its timeline.

The agent hands each polled order (the GraphQL node as a dict) to `record_from_shopify`, which
stores what changed and writes one timeline event per change. Changes are news only once: the
agent's own tags and fulfillments coming back in the next poll are recognised and not logged as
new events. Stock is never touched here; it moves only when staff say where goods physically are
(fulfillments.py).
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from peewee import fn

from . import audit, db, outbox
from .customers import normalise_phone
from .errors import InvalidInput, NotFound, StateError
from .models import Fulfillment, FulfillmentLine, SmartOrder, SmartOrderEvent, SmartOrderLine, Staff, Variant, utcnow

STATES = ("NEW", "TO_CONFIRM", "CONFIRMED", "PACKED", "DISPATCHED", "DELIVERED", "RETURNED",
          "NEEDS_BRANCH_SYNC", "EXCHANGED", "CANCELLED")
CONFIRMED_TAG, CANCELLED_TAG = "pos-cod-confirmed", "pos-cod-cancelled"
COVERING = {"smart": ("PACKED", "DISPATCHED", "DELIVERED", "RETURNED"), "manual": ("DONE",),
            "branch_sync": ("DONE",)}


def record_from_shopify(node: dict, cod_gateways: tuple[str, ...]) -> tuple[SmartOrder, list[str]]:
    """Store one polled order; returns the order and the kinds of events it produced."""
    with db.write():
        order = SmartOrder.get_or_none(SmartOrder.shopify_id == node["id"])
        fresh = order is None
        if fresh:
            order = SmartOrder(shopify_id=node["id"], created_at_shopify=node.get("createdAt", ""))
        events: list[tuple[str, dict]] = []
        if fresh:
            events.append(("created", {"name": node.get("name"), "total": _amount(node, "currentTotalPriceSet")}))
        elif node.get("updatedAt", "") < order.updated_at_shopify:
            return order, []  # an older copy from an overlapping poll window

        gateways = list(node.get("paymentGatewayNames") or [])
        wanted = {g.lower() for g in cod_gateways}
        order.is_cod = any(g.lower() in wanted or "cash on delivery" in g.lower() for g in gateways)
        order.name = node.get("name", order.name or "")
        order.updated_at_shopify = node.get("updatedAt", "")
        customer = node.get("customer") or {}
        shipping = node.get("shippingAddress") or None
        order.customer_name = customer.get("displayName") or (shipping or {}).get("name") or ""
        order.phone = _phone(node, customer, shipping)
        order.email = node.get("email") or ""
        order.shipping = shipping
        order.total_paisa = _amount(node, "currentTotalPriceSet")
        order.outstanding_paisa = _amount(node, "totalOutstandingSet")
        order.gateways = gateways
        order.note = node.get("note") or ""

        if not fresh and node.get("displayFinancialStatus") != order.financial_status:
            events.append(("payment_status", {"from": order.financial_status, "to": node.get("displayFinancialStatus")}))
        order.financial_status = node.get("displayFinancialStatus") or ""
        order.fulfillment_status = node.get("displayFulfillmentStatus") or ""
        if node.get("cancelledAt") and not order.cancelled_at:
            events.append(("cancelled", {"reason": node.get("cancelReason")}))
        order.cancelled_at, order.cancel_reason = node.get("cancelledAt"), node.get("cancelReason")

        tags = list(node.get("tags") or [])
        ours = set(order.pending_tags or [])
        news = [t for t in tags if t not in (order.tags or []) and t not in ours]
        if news and not fresh:
            events.append(("tagged", {"tags": news}))
        order.pending_tags = [t for t in ours if t not in tags]
        order.tags = tags
        order.last_seen_at = utcnow()
        order.save()

        changes = _sync_lines(order, (node.get("lineItems") or {}).get("nodes") or [], fresh)
        if changes and not fresh:
            added = [c for c in changes if c["to"] > c["from"]]
            removed = [c for c in changes if c["to"] < c["from"]]
            events.append(("edited", {"changes": changes}))
            if added and removed:
                order.exchange = True
        order.edited = bool(node.get("edited"))

        fulfilled = {l["id"]: max(0, int(l.get("currentQuantity", l.get("quantity", 0)))
                                  - int(l.get("unfulfilledQuantity", 0)))
                     for l in (node.get("lineItems") or {}).get("nodes") or []}
        before = dict(order.shopify_fulfilled or {})
        order.shopify_fulfilled = fulfilled
        covered = coverage(order)
        lines = {l.shopify_line_id: l.id for l in order.lines}
        uncovered = {gid: n - covered.get(lines.get(gid), 0) for gid, n in fulfilled.items()
                     if n > covered.get(lines.get(gid), 0)}
        if uncovered and any(fulfilled.get(g, 0) > before.get(g, 0) for g in uncovered):
            events.append(("fulfilled_in_shopify", {"uncovered": uncovered}))
        order.needs_branch_sync = bool(uncovered)
        order.state = derive_state(order)
        order.save()
        for kind, detail in events:
            SmartOrderEvent.create(order=order, kind=kind, source="shopify", detail=detail)
    return order, [k for k, _ in events]


def coverage(order: SmartOrder) -> dict[int, int]:
    """Units of each order line that local fulfillments account for (packed, shipped, recorded)."""
    covered: dict[int, int] = {}
    rows = (FulfillmentLine.select(FulfillmentLine.order_line, Fulfillment.mode, Fulfillment.status,
                                   fn.SUM(FulfillmentLine.qty))
            .join(Fulfillment).where((Fulfillment.order == order.id) & FulfillmentLine.order_line.is_null(False))
            .group_by(FulfillmentLine.order_line, Fulfillment.mode, Fulfillment.status).tuples())
    for line_id, mode, status, qty in rows:
        if status in COVERING.get(mode, ()):
            covered[line_id] = covered.get(line_id, 0) + int(qty)
    return covered


def uncovered_units(order: SmartOrder) -> dict[int, int]:
    """Units of each line Shopify shows fulfilled that no local record covers: what a Branch
    Sync must account for, and what reconciliation expects Shopify to be short of."""
    covered = coverage(order)
    by_gid = {l.shopify_line_id: l for l in order.lines}
    out = {}
    for gid, n in (order.shopify_fulfilled or {}).items():
        line = by_gid.get(gid)
        if line is not None and n > covered.get(line.id, 0):
            out[line.id] = n - covered.get(line.id, 0)
    return out


def derive_state(order: SmartOrder) -> str:
    if order.cancelled_at or order.staff_cancel_reason:
        return "CANCELLED"
    if order.needs_branch_sync:
        return "NEEDS_BRANCH_SYNC"
    statuses = [f.status for f in order.fulfillments if f.mode in ("smart", "manual", "branch_sync")
                and f.status not in ("UNPACKED", "PENDING")]
    remaining = remaining_units(order)
    if statuses:
        if all(s == "RETURNED" for s in statuses):
            return "RETURNED"
        if not any(remaining.values()) and all(s in ("DELIVERED", "DONE", "RETURNED") for s in statuses):
            return "DELIVERED" if "DELIVERED" in statuses else "DISPATCHED"
        if any(s in ("DISPATCHED", "DELIVERED", "DONE") for s in statuses):
            return "DISPATCHED"
        if "PACKED" in statuses and not order.exchange:
            return "PACKED"
    if order.exchange:
        return "EXCHANGED"
    if statuses:
        return "PACKED"
    if order.confirmed_at:
        return "CONFIRMED"
    return "TO_CONFIRM" if order.is_cod else "NEW"


def remaining_units(order: SmartOrder) -> dict[int, int]:
    """Units of each line still to be fulfilled from a branch."""
    covered = coverage(order)
    return {l.id: max(0, l.current_quantity - covered.get(l.id, 0)) for l in order.lines}


def refresh_state(order: SmartOrder) -> SmartOrder:
    order.state = derive_state(order)
    order.save()
    return order


def get(ref) -> SmartOrder:
    if isinstance(ref, int):
        order = SmartOrder.get_or_none(SmartOrder.id == ref)
    else:
        order = SmartOrder.get_or_none((SmartOrder.name == ref) | (SmartOrder.shopify_id == ref))
    if order is None:
        raise NotFound(f"no online order {ref}")
    return order


def search(state: str | None = None, text: str = "", limit: int = 100) -> list[SmartOrder]:
    q = SmartOrder.select().order_by(SmartOrder.created_at_shopify.desc()).limit(limit)
    if state:
        if state not in STATES:
            raise InvalidInput(f"state must be one of {', '.join(STATES)}")
        q = q.where(SmartOrder.state == state)
    text = (text or "").strip()
    if text:
        try:
            phone = normalise_phone(text)
        except InvalidInput:
            phone = None
        cond = SmartOrder.name.contains(text.lstrip("#"))
        if phone:
            cond |= SmartOrder.phone == phone
        q = q.where(cond)
    return list(q)


def confirm(order_id: int, staff_id: int, *, shopify_enabled: bool) -> SmartOrder:
    return _staff_decision(order_id, staff_id, CONFIRMED_TAG, None, shopify_enabled)


def cancel_by_staff(order_id: int, staff_id: int, reason: str, *, shopify_enabled: bool) -> SmartOrder:
    if not reason.strip():
        raise InvalidInput("say why the order is cancelled (customer refused, wrong number, ...)")
    return _staff_decision(order_id, staff_id, CANCELLED_TAG, reason.strip(), shopify_enabled)


def add_event(order: SmartOrder, kind: str, staff_id: int | None, **detail) -> None:
    SmartOrderEvent.create(order=order, kind=kind, source="pos", staff=staff_id, detail=detail or None)


def queue_tags(order: SmartOrder, tags: list[str], shopify_enabled: bool) -> None:
    """tagsAdd through the outbox; remembered so the next poll does not report them as news."""
    if not shopify_enabled:
        return
    order.pending_tags = sorted(set(order.pending_tags or []) | set(tags))
    order.save()
    outbox.enqueue(outbox.SHOPIFY, "tags_add", {"orderId": order.shopify_id, "tags": tags},
                   "smart_order", order.shopify_id)


def whatsapp_link(order: SmartOrder, message: str) -> str:
    """wa.me wants the number without + and the text URL-encoded."""
    from urllib.parse import quote
    return f"https://wa.me/{order.phone.lstrip('+')}?text={quote(message)}" if order.phone else ""


def confirmation_message(order: SmartOrder, shop_name: str, template: str = "") -> str:
    template = template or ("Assalam-o-Alaikum {name}! {shop} here. Please reply YES to confirm your "
                            "cash-on-delivery order {order} of Rs {total}.")
    return template.format(name=order.customer_name or "", shop=shop_name, order=order.name,
                           total=f"{Decimal(order.total_paisa) / 100:,.0f}")


def _staff_decision(order_id, staff_id, tag, reason, shopify_enabled) -> SmartOrder:
    person = Staff.get_or_none(Staff.id == staff_id)
    if person is None:
        raise NotFound(f"no staff member {staff_id}")
    with db.write():
        order = get(order_id)
        if order.cancelled_at or order.staff_cancel_reason:
            raise StateError(f"order {order.name} is already cancelled")
        if reason is None:
            if order.confirmed_at:
                raise StateError(f"order {order.name} is already confirmed")
            order.confirmed_by, order.confirmed_at = person, utcnow()
        else:
            order.staff_cancel_reason = reason
        order.state = derive_state(order)
        order.save()
        add_event(order, "confirmed" if reason is None else "cancelled_by_staff", person.id,
                  **({"reason": reason} if reason else {}))
        queue_tags(order, [tag], shopify_enabled)
        audit.log("online.confirm" if reason is None else "online.cancel", person.id, order.name)
    return order


def _sync_lines(order: SmartOrder, nodes: list[dict], fresh: bool) -> list[dict]:
    existing = {l.shopify_line_id: l for l in order.lines}
    changes = []
    for n in nodes:
        current = int(n.get("currentQuantity", n.get("quantity", 0)))
        line = existing.get(n["id"])
        if line is None:
            variant = _variant(n)
            SmartOrderLine.create(order=order, shopify_line_id=n["id"], sku=n.get("sku") or "",
                                  name=n.get("name") or n.get("sku") or "item", variant=variant,
                                  quantity=int(n.get("quantity", current)), current_quantity=current,
                                  unit_price_paisa=_money((n.get("originalUnitPriceSet") or {})),
                                  added_by_edit=not fresh)
            if not fresh:
                changes.append({"line": n.get("name") or n.get("sku"), "sku": n.get("sku"), "from": 0, "to": current})
        elif line.current_quantity != current:
            changes.append({"line": line.name, "sku": line.sku, "from": line.current_quantity, "to": current})
            line.current_quantity = current
            line.save()
    return changes


def _variant(node: dict):
    gid = (node.get("variant") or {}).get("id")
    v = Variant.get_or_none(Variant.shopify_id == gid) if gid else None
    if v is None and node.get("sku"):
        v = Variant.get_or_none(Variant.sku == node["sku"])
    return v


def _phone(node, customer, shipping) -> str:
    for raw in (node.get("phone"), (shipping or {}).get("phone"),
                ((customer.get("defaultPhoneNumber") or {}).get("phoneNumber"))):
        if raw:
            try:
                return normalise_phone(raw)
            except InvalidInput:
                continue
    return ""


def _amount(node: dict, key: str) -> int:
    return _money(node.get(key) or {})


def _money(money_set: dict) -> int:
    amount = (money_set.get("shopMoney") or {}).get("amount")
    if amount in (None, ""):
        return 0
    try:
        return int((Decimal(str(amount)) * 100).to_integral_value())
    except InvalidOperation:
        return 0
