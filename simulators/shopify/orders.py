"""Online orders, fulfillment orders and fulfillments: what Shopify does on its side.

Records are plain dicts in `state.data` (keys `orders`, `fulfillment_orders`, `fulfillments`,
reserved in state.json since the first version), so they persist with everything else.
Every function here must be called with `state.lock` held; the caller saves.

Stock effects follow the reference (§3.4), at the location of the fulfillment order (FO):

    order placed                       available -q, committed +q      (assigned location)
    fulfillment created                committed -q  (on_hand -q)      (FO's location)
    cancel / edit-remove, restocked    available +q, committed -q
    cancel / edit-remove, no restock   committed -q  (on_hand -q: the units are written off)
    edit adds q                        available -q, committed +q
    refund of fulfilled units, RETURN  available +q  (on_hand +q)      (the refund's location)
    fulfillmentOrderMove A -> B        A: committed -q, available +q;  B: available -q, committed +q
Untracked items move no stock. Each movement is logged in `adjustments` with source "order".

Line item counters: `quantity` is every unit ever on the line (it never drops, as on Shopify);
`removed` = unfulfilled units taken off by an edit, a cancel or a refund; `returned` = fulfilled
units refunded; `fulfilled` = units shipped. Hence
    currentQuantity     = quantity - removed - returned
    unfulfilledQuantity = quantity - removed - fulfilled
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from .state import ShopState, gid, gid_type, parse_gid, parse_time

COD_GATEWAY = "Cash on Delivery (COD)"
# Manual payment methods (money collected outside Shopify). Merchants can rename them and COD
# apps use their own names, so a create request may also say {"manualGateway": true}.
MANUAL_GATEWAYS = {COD_GATEWAY, "manual", "Bank Deposit", "Money Order", "cash_on_delivery"}
CANCEL_REASONS = ("CUSTOMER", "DECLINED", "FRAUD", "INVENTORY", "OTHER", "STAFF")
VISIBLE_DAYS = 60          # Order objects older than this need read_all_orders
QTY_MESSAGE = "Invalid fulfillment order line item quantity requested."   # as reported by developers
CENT = Decimal("0.01")


class OrderError(ValueError):
    """A control-endpoint request Shopify's admin/checkout would refuse (-> HTTP 400)."""


def money(value) -> str:
    return str(Decimal(value).quantize(CENT))


# -- lookups -------------------------------------------------------------------------------
def fo_by_id(state: ShopState, num) -> dict | None:
    return state.data["fulfillment_orders"].get(str(num)) if num is not None else None


def fos_of(state: ShopState, order: dict) -> list[dict]:
    return [state.data["fulfillment_orders"][str(i)] for i in order["fulfillment_order_ids"]]


def fulfillments_of(state: ShopState, order: dict) -> list[dict]:
    return [state.data["fulfillments"][str(i)] for i in order["fulfillment_ids"]]


def line_by_id(order: dict, num) -> dict | None:
    return next((li for li in order["line_items"] if li["id"] == num), None)


def routed(state: ShopState, fo: dict) -> bool:
    """FOs are created by Shopify's routing a moment after the order; until then they are invisible."""
    return state.clock.now() >= parse_time(fo["visibleAt"])


def visible_order(state: ShopState, order: dict, read_all_orders: bool) -> bool:
    if read_all_orders:
        return True
    return state.clock.now() - parse_time(order["createdAt"]) <= timedelta(days=VISIBLE_DAYS)


def find_order(state: ShopState, ref) -> dict:
    """An order by GID, number or name ("#1001") - control endpoints accept all three."""
    orders = state.data["orders"]
    num = parse_gid(ref, "Order")
    if num is not None and str(num) in orders:
        return orders[str(num)]
    for o in orders.values():
        if ref in (o["name"], o["name"].lstrip("#"), o["number"], str(o["id"])):
            return o
    raise OrderError(f"order {ref!r} not found")


# -- derived values --------------------------------------------------------------------------
def current_qty(li: dict) -> int:
    return li["quantity"] - li["removed"] - li["returned"]


def unfulfilled_qty(li: dict) -> int:
    return li["quantity"] - li["removed"] - li["fulfilled"]


def totals(order: dict) -> dict:
    """Money as Shopify reports it (PKR, taxes included in prices, no discounts modelled)."""
    price = lambda li: Decimal(li["price"])  # noqa: E731
    shipping = Decimal(order["shipping_price"])
    original = sum((price(li) * li["original_quantity"] for li in order["line_items"]), Decimal(0))
    after_edits = sum((price(li) * (li["quantity"] - li["edit_removed"]) for li in order["line_items"]), Decimal(0))
    current = sum((price(li) * current_qty(li) for li in order["line_items"]), Decimal(0))
    current_shipping = Decimal(0) if order["cancelledAt"] else shipping
    paid = sum((Decimal(t["amount"]) for t in order["transactions"]
                if t["kind"] in ("SALE", "CAPTURE") and t["status"] == "SUCCESS"), Decimal(0))
    refunded = sum((Decimal(t["amount"]) for t in order["transactions"]
                    if t["kind"] == "REFUND" and t["status"] == "SUCCESS"), Decimal(0))
    current_total = current + current_shipping
    # Negative outstanding = the customer is owed money (e.g. an edit removed a paid item).
    outstanding = Decimal(0) if order["voided"] else current_total - (paid - refunded)
    return {"original_subtotal": original, "subtotal": after_edits, "current_subtotal": current,
            "original_total": original + shipping, "total": after_edits + shipping,
            "current_total": current_total, "shipping": shipping, "current_shipping": current_shipping,
            "paid": paid, "refunded": refunded, "received": paid, "outstanding": outstanding}


def financial_status(order: dict) -> str:
    t = totals(order)
    if order["voided"]:
        return "VOIDED"
    if t["paid"] == 0:
        authorized = any(x["kind"] == "AUTHORIZATION" and x["status"] == "SUCCESS" for x in order["transactions"])
        return "AUTHORIZED" if authorized else "PENDING"
    if t["refunded"] >= t["paid"]:
        return "REFUNDED"
    if t["refunded"] > 0:
        return "PARTIALLY_REFUNDED"
    if t["paid"] < t["current_total"]:
        return "PARTIALLY_PAID"
    return "PAID"


def fulfillment_status(state: ShopState, order: dict) -> str:
    live = sum(li["quantity"] - li["removed"] for li in order["line_items"])
    shipped = sum(li["fulfilled"] for li in order["line_items"])
    if live == 0:
        return "RESTOCKED" if order["restocked"] else "UNFULFILLED"
    if shipped >= live:
        return "FULFILLED"
    if shipped > 0:
        return "PARTIALLY_FULFILLED"
    if any(fo["status"] == "ON_HOLD" for fo in fos_of(state, order)):
        return "ON_HOLD"
    return "UNFULFILLED"


def supported_actions(fo: dict) -> list[str]:
    # Merchant-managed FOs only (the shop has no fulfillment services). Only what the fake implements.
    return {"OPEN": ["CREATE_FULFILLMENT", "MOVE", "HOLD"],
            "IN_PROGRESS": ["CREATE_FULFILLMENT", "MOVE", "HOLD"],
            "ON_HOLD": ["RELEASE_HOLD"]}.get(fo["status"], [])


def refresh(state: ShopState, order: dict) -> None:
    """Recompute FO statuses and the order's archived flag after any change; bump updatedAt."""
    ts = state.now()
    for fo in fos_of(state, order):
        before = fo["status"]
        remaining = sum(fl["remaining"] for fl in fo["lines"])
        if fo["status"] in ("CLOSED", "CANCELLED"):
            pass                                     # terminal
        elif order["cancelledAt"]:
            fo["status"] = "CANCELLED"
        elif remaining == 0:
            fo["status"] = "CLOSED"
        elif fo["holds"]:
            fo["status"] = "ON_HOLD"
        elif fo["fulfillment_ids"]:
            fo["status"] = "IN_PROGRESS"             # partially fulfilled
        else:
            fo["status"] = "OPEN"
        if fo["status"] != before:
            fo["updatedAt"] = ts
    # Shopify's default "automatically archive the order" setting: archived once fulfilled and paid.
    if not order["closed"] and fulfillment_status(state, order) == "FULFILLED" and \
            financial_status(order) in ("PAID", "PARTIALLY_REFUNDED", "REFUNDED"):
        order["closed"], order["closedAt"] = True, ts
    order["updatedAt"] = ts


# -- stock -------------------------------------------------------------------------------------
def _level(state: ShopState, li: dict, location_id: int) -> dict | None:
    return state.level(li["inventory_item_id"], location_id)


def move_stock(state: ShopState, li: dict, location_id: int, event: str, order: dict, **deltas) -> None:
    """Apply Shopify's own quantity change for one line at one location (tracked items only)."""
    item = state.data["inventory_items"].get(str(li["inventory_item_id"]))
    if not item or not item.get("tracked", True) or not any(deltas.values()):
        return
    level = _level(state, li, location_id)
    if level is None:  # checked by callers; a level can only vanish if the item was deleted
        raise OrderError(f"{li['sku']} is not stocked at location {location_id}")
    for name, delta in deltas.items():
        level["quantities"][name] += delta
    state.touch_level(level, list(deltas) + ["on_hand"])
    state.data["adjustments"].append({
        "source": "order", "idempotencyKey": None, "mutation": None, "reason": event,
        "referenceDocumentUri": gid("Order", order["id"]), "inventoryItemId": gid("InventoryItem", li["inventory_item_id"]),
        "locationId": gid("Location", location_id), "changes": {k: v for k, v in deltas.items() if v},
        "time": state.now()})


def _tracked(state: ShopState, li: dict) -> bool:
    item = state.data["inventory_items"].get(str(li["inventory_item_id"]))
    return bool(item and item.get("tracked", True))


# -- records ------------------------------------------------------------------------------------
def _variant_for(state: ShopState, spec: dict) -> dict:
    if spec.get("variantId"):
        v = state.variant(parse_gid(spec["variantId"], "ProductVariant"))
    else:
        v = next((v for v in state.data["variants"].values()
                  if v["sku"] == spec.get("sku") and state.variant(v["id"])), None)
    if v is None:
        raise OrderError(f"no variant for {spec.get('variantId') or spec.get('sku')!r}")
    return v


def _new_line(state: ShopState, spec: dict) -> dict:
    v = _variant_for(state, spec)
    qty = int(spec["quantity"])
    if qty <= 0:
        raise OrderError("line quantity must be positive")
    product = state.data["products"][str(v["product_id"])]
    return {"id": state.new_id(), "variant_id": v["id"], "product_id": product["id"],
            "inventory_item_id": v["inventory_item_id"], "sku": v["sku"], "title": product["title"],
            "variant_title": None if v["title"] == "Default Title" else v["title"], "vendor": product["vendor"],
            "price": money(spec.get("price", v["price"])), "quantity": qty, "original_quantity": qty,
            "removed": 0, "edit_removed": 0, "returned": 0, "fulfilled": 0,
            "policy": v.get("inventoryPolicy", "DENY")}


def _location(state: ShopState, ref) -> dict:
    loc = state.resolve_location(ref)
    if loc is None or not loc["isActive"]:
        raise OrderError(f"unknown or inactive location {ref!r}")
    return loc


def _commit(state: ShopState, order: dict, li: dict, qty: int, location_id: int, event: str, oversell: bool) -> None:
    """available -> committed for units entering the order (checkout or an edit adding units)."""
    if not _tracked(state, li):
        return
    level = _level(state, li, location_id)
    if level is None:
        raise OrderError(f"{li['sku']} is not stocked at the assigned location")
    if level["quantities"]["available"] < qty and li["policy"] != "CONTINUE" and not oversell:
        raise OrderError(f"not enough {li['sku']} available at the assigned location "
                         f"({level['quantities']['available']} < {qty})")
    move_stock(state, li, location_id, event, order, available=-qty, committed=qty)


def _new_fo(state: ShopState, order: dict, location_id: int, visible_at: str) -> dict:
    ts = state.now()
    fo = {"id": state.new_id(), "order_id": order["id"], "location_id": location_id, "status": "OPEN",
          "requestStatus": "UNSUBMITTED", "createdAt": ts, "updatedAt": ts, "visibleAt": visible_at,
          "holds": [], "lines": [], "fulfillment_ids": []}
    state.data["fulfillment_orders"][str(fo["id"])] = fo
    order["fulfillment_order_ids"].append(fo["id"])
    return fo


def _add_to_fo(state: ShopState, fo: dict, li: dict, qty: int) -> None:
    fl = next((fl for fl in fo["lines"] if fl["line_item_id"] == li["id"]), None)
    if fl is None:
        fo["lines"].append({"id": state.new_id(), "line_item_id": li["id"], "total": qty, "remaining": qty})
    else:
        fl["total"] += qty
        fl["remaining"] += qty


def _agreement(state: ShopState, order: dict, kind: str, sales: list[tuple[dict, str, int]],
               refund_id: int | None = None) -> dict:
    """kind: OrderAgreement | OrderEditAgreement | RefundAgreement. Sales: (line, actionType, units).

    RETURN sales carry negative quantities and amounts (what was taken back), ORDER sales positive.
    """
    reason = {"OrderAgreement": "ORDER", "OrderEditAgreement": "ORDER_EDIT", "RefundAgreement": "REFUND"}[kind]
    agreement = {"id": state.new_id(), "kind": kind, "reason": reason, "happenedAt": state.now(),
                 "refund_id": refund_id, "sales": []}
    for li, action, units in sales:
        signed = units if action == "ORDER" else -units
        agreement["sales"].append({"id": state.new_id(), "actionType": action, "lineType": "PRODUCT",
                                   "quantity": signed, "line_item_id": li["id"],
                                   "amount": money(Decimal(li["price"]) * signed)})
    order["agreements"].append(agreement)
    return agreement


def _transaction(state: ShopState, order: dict, kind: str, status: str, amount) -> dict:
    tx = {"id": state.new_id(), "kind": kind, "status": status, "gateway": order["gateways"][0],
          "manual": order["manual_gateway"], "amount": money(amount), "createdAt": state.now(),
          "processedAt": state.now()}
    order["transactions"].append(tx)
    return tx


def create_order(state: ShopState, spec: dict) -> dict:
    """A customer checks out (or staff create an order in the admin). Validates before changing anything."""
    if not spec.get("lines"):
        raise OrderError("an order needs lines")
    gateway = spec.get("gateway", COD_GATEWAY)
    manual = bool(spec.get("manualGateway", gateway in MANUAL_GATEWAYS or "cash on delivery" in gateway.lower()))
    lines = [(_new_line(state, ls), ls) for ls in spec["lines"]]
    default_loc = spec.get("location")
    routing = {}
    for li, ls in lines:
        ref = ls.get("location", default_loc)
        if ref is None:  # Shopify's routing: the first online-fulfilling location that stocks the item
            loc = next((l for l in state.data["locations"].values()
                        if l["isActive"] and l.get("fulfillsOnlineOrders", True) and _level(state, li, l["id"])), None)
            if loc is None:
                raise OrderError(f"no location fulfilling online orders stocks {li['sku']}")
        else:
            loc = _location(state, ref)
        routing[li["id"]] = loc["id"]
    # Check stock for all lines first (sum per item and location) so a refusal changes nothing.
    need: dict[tuple, int] = {}
    for li, _ in lines:
        if _tracked(state, li):
            need[(li["inventory_item_id"], routing[li["id"]])] = need.get((li["inventory_item_id"], routing[li["id"]]), 0) + li["quantity"]
    for (item, loc_id), qty in need.items():
        level = state.level(item, loc_id)
        li = next(li for li, _ in lines if li["inventory_item_id"] == item)
        if level is None:
            raise OrderError(f"{li['sku']} is not stocked at the assigned location")
        if level["quantities"]["available"] < qty and li["policy"] != "CONTINUE" and not spec.get("oversell"):
            raise OrderError(f"not enough {li['sku']} available at the assigned location "
                             f"({level['quantities']['available']} < {qty})")

    cust_spec = spec.get("customer") or {}
    customer = None
    if spec.get("customerId"):
        customer = state.customer(parse_gid(spec["customerId"], "Customer"))
        if customer is None:
            raise OrderError("unknown customer")
    elif cust_spec:
        existing = next((c for c in state.data["customers"].values()
                         if cust_spec.get("phone") and c["phone"] == cust_spec["phone"]), None)
        customer = state.upsert_customer({**cust_spec, **({"id": gid("Customer", existing["id"])} if existing else {})})

    ts = state.now()
    number = state.data.setdefault("next_order_number", 1001)
    state.data["next_order_number"] = number + 1
    addr = dict(spec.get("shippingAddress") or {})
    if addr:
        addr.setdefault("name", " ".join(p for p in (addr.get("firstName"), addr.get("lastName")) if p) or None)
        addr.setdefault("countryCodeV2", addr.pop("countryCode", "PK"))
    order = {
        "id": state.new_id(), "number": number, "name": f"#{number}", "createdAt": ts, "updatedAt": ts,
        "processedAt": ts, "cancelledAt": None, "cancelReason": None, "closed": False, "closedAt": None,
        "edited": False, "test": bool(spec.get("test", False)), "sourceName": spec.get("sourceName", "web"),
        "confirmed": True, "email": spec.get("email", (customer or {}).get("email")),
        "phone": spec.get("phone", (customer or {}).get("phone")), "note": spec.get("note"),
        "tags": _merge_tags([], spec.get("tags") or []), "gateways": [gateway], "manual_gateway": manual,
        "voided": False, "restocked": False, "customer_id": customer["id"] if customer else None,
        "shipping_address": addr or None, "shipping_price": money(spec.get("shippingPrice", "0")),
        "line_items": [li for li, _ in lines], "fulfillment_order_ids": [], "fulfillment_ids": [],
        "agreements": [], "transactions": [], "refunds": [],
    }
    state.data["orders"][str(order["id"])] = order
    visible_at = (state.clock.now() + timedelta(seconds=float(spec.get("routingDelaySeconds", 0))))
    visible_at = visible_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    by_location: dict[int, dict] = {}
    for li, _ in lines:
        loc_id = routing[li["id"]]
        fo = by_location.get(loc_id) or by_location.setdefault(loc_id, _new_fo(state, order, loc_id, visible_at))
        _add_to_fo(state, fo, li, li["quantity"])
        _commit(state, order, li, li["quantity"], loc_id, "order_placed", oversell=True)  # checked above
    _agreement(state, order, "OrderAgreement", [(li, "ORDER", li["quantity"]) for li, _ in lines])
    total = totals(order)["total"]
    status = spec.get("financialStatus") or ("PENDING" if manual else "PAID")
    if status == "PAID":
        _transaction(state, order, "SALE", "SUCCESS", total)
    elif status == "AUTHORIZED":
        _transaction(state, order, "AUTHORIZATION", "SUCCESS", total)
    elif status == "PENDING":
        _transaction(state, order, "SALE", "PENDING", total)   # a manual payment awaiting collection
    else:
        raise OrderError("financialStatus must be PENDING, PAID or AUTHORIZED")
    if customer:
        customer["numberOfOrders"] = customer.get("numberOfOrders", 0) + 1
        customer["amountSpent"] = money(Decimal(customer.get("amountSpent") or 0) + total)
    refresh(state, order)
    return order


# -- changes made by the customer or an admin (control endpoint) ---------------------------------
def _line_ref(order: dict, spec: dict) -> dict:
    if spec.get("lineItemId"):
        li = line_by_id(order, parse_gid(spec["lineItemId"], "LineItem"))
    else:
        li = next((li for li in order["line_items"] if li["sku"] == spec.get("sku")), None)
    if li is None:
        raise OrderError(f"no line item for {spec.get('lineItemId') or spec.get('sku')!r} on {order['name']}")
    return li


def _release_unfulfilled(state: ShopState, order: dict, li: dict, units: int, restock: bool, event: str,
                         shrink_total: bool = True) -> list[tuple]:
    """Take `units` unfulfilled units off a line: nothing remains to ship, committed is released.

    Edits and refunds take the units out of the FO (totalQuantity drops); a cancellation leaves
    the cancelled FO showing what it held. Returns [(location_id, units)] for the refund record.
    """
    taken = []
    left = units
    for fo in fos_of(state, order):
        fl = next((fl for fl in fo["lines"] if fl["line_item_id"] == li["id"]), None)
        if fl is None or fl["remaining"] == 0 or left == 0:
            continue
        n = min(left, fl["remaining"])
        fl["remaining"] -= n
        if shrink_total:
            fl["total"] -= n
        left -= n
        if restock:
            move_stock(state, li, fo["location_id"], event, order, available=n, committed=-n)
        else:
            move_stock(state, li, fo["location_id"], event, order, committed=-n)
        taken.append((fo["location_id"], n))
    li["removed"] += units - left
    return taken


def _open_fo_at(state: ShopState, order: dict, location_id: int) -> dict:
    fo = next((fo for fo in fos_of(state, order)
               if fo["location_id"] == location_id and fo["status"] in ("OPEN", "IN_PROGRESS")), None)
    return fo or _new_fo(state, order, location_id, state.now())


def edit_order(state: ShopState, order: dict, spec: dict) -> dict:
    """An order edit in the admin: set quantities (0 removes) and add lines. Records an ORDER_EDIT agreement."""
    if order["cancelledAt"]:
        raise OrderError("a cancelled order cannot be edited")
    restock = bool(spec.get("restock", True))
    plan = []
    for ch in spec.get("changes", []):
        li = _line_ref(order, ch)
        new = int(ch["quantity"])
        cur = current_qty(li)
        if new < 0:
            raise OrderError("quantity cannot be negative")
        if new < cur and cur - new > unfulfilled_qty(li):
            raise OrderError(f"{li['sku']}: only unfulfilled units can be removed by an edit (refund the rest)")
        plan.append((li, new - cur))
    adds = [(_new_line(state, a), a) for a in spec.get("add", [])]
    if not plan and not adds:
        raise OrderError("an edit needs changes or add")
    # Units entering the order are committed where the order's open FO is (or a given location).
    default_loc = next((fo["location_id"] for fo in fos_of(state, order) if fo["status"] in ("OPEN", "IN_PROGRESS")),
                       fos_of(state, order)[0]["location_id"] if order["fulfillment_order_ids"] else None)
    sales = []
    for li, delta in plan:
        if delta < 0:
            _release_unfulfilled(state, order, li, -delta, restock, "order_edit_removed")
            li["edit_removed"] += -delta
            if restock:
                order["restocked"] = True
            sales.append((li, "RETURN", -delta))
        elif delta > 0:
            loc_id = _location(state, spec["location"])["id"] if spec.get("location") else default_loc
            _commit(state, order, li, delta, loc_id, "order_edit_added", bool(spec.get("oversell")))
            li["quantity"] += delta
            _add_to_fo(state, _open_fo_at(state, order, loc_id), li, delta)
            sales.append((li, "ORDER", delta))
    for li, a in adds:
        loc_id = _location(state, a.get("location") or spec.get("location"))["id"] \
            if (a.get("location") or spec.get("location")) else default_loc
        _commit(state, order, li, li["quantity"], loc_id, "order_edit_added", bool(spec.get("oversell")))
        li["original_quantity"] = 0          # not part of the order as placed
        order["line_items"].append(li)
        _add_to_fo(state, _open_fo_at(state, order, loc_id), li, li["quantity"])
        sales.append((li, "ORDER", li["quantity"]))
    order["edited"] = True
    agreement = _agreement(state, order, "OrderEditAgreement", sales)
    refresh(state, order)
    return agreement


def _refund(state: ShopState, order: dict, entries: list[dict], note: str | None, amount: Decimal) -> dict:
    refund = {"id": state.new_id(), "createdAt": state.now(), "note": note, "lines": entries,
              "amount": money(amount)}
    order["refunds"].append(refund)
    if amount > 0:
        _transaction(state, order, "REFUND", "SUCCESS", amount)
    return refund


def cancel_order(state: ShopState, order: dict, spec: dict) -> dict:
    if order["cancelledAt"]:
        raise OrderError(f"{order['name']} is already cancelled")
    if any(li["fulfilled"] for li in order["line_items"]):
        raise OrderError("an order with fulfilled items cannot be cancelled; refund them instead")
    reason = spec.get("reason", "CUSTOMER")
    if reason not in CANCEL_REASONS:
        raise OrderError(f"reason must be one of {CANCEL_REASONS}")
    restock = bool(spec.get("restock", True))
    entries, sales = [], []
    for li in order["line_items"]:
        units = unfulfilled_qty(li)
        if units == 0:
            continue
        for loc_id, n in _release_unfulfilled(state, order, li, units, restock, "order_cancelled",
                                             shrink_total=False):
            entries.append({"line_item_id": li["id"], "quantity": n, "location_id": loc_id,
                            "restockType": "CANCEL" if restock else "NO_RESTOCK", "restocked": restock})
        sales.append((li, "RETURN", units))
    t = totals(order)
    refund_money = t["paid"] - t["refunded"] if spec.get("refund", True) else Decimal(0)
    refund = _refund(state, order, entries, spec.get("staffNote"), max(refund_money, Decimal(0)))
    _agreement(state, order, "RefundAgreement", sales, refund["id"])
    if t["paid"] == 0:
        order["voided"] = True               # nothing was collected (COD): the payment is voided
        for tx in order["transactions"]:
            if tx["status"] == "PENDING":
                tx["status"] = "FAILURE"
        _transaction(state, order, "VOID", "SUCCESS", 0)
    ts = state.now()
    order.update(cancelledAt=ts, cancelReason=reason, restocked=restock or order["restocked"],
                 closed=True, closedAt=ts)   # cancelled orders are archived
    refresh(state, order)
    return refund


def refund_order(state: ShopState, order: dict, spec: dict) -> dict:
    """Refund lines. Unfulfilled units go first (restockType CANCEL), then shipped ones (RETURN)."""
    default_restock = bool(spec.get("restock", True))
    plan = []
    for ls in spec.get("lines", []):
        li = _line_ref(order, ls)
        qty = int(ls["quantity"])
        if qty <= 0 or qty > current_qty(li):
            raise OrderError(f"{li['sku']}: can refund 1..{current_qty(li)} units")
        loc = ls.get("location") or spec.get("location")
        plan.append((li, qty, bool(ls.get("restock", default_restock)), _location(state, loc)["id"] if loc else None))
    if not plan:
        raise OrderError("a refund needs lines")
    for li, qty, restock, loc_id in plan:
        shipped_units = qty - min(qty, unfulfilled_qty(li))
        if restock and shipped_units and _tracked(state, li):
            target = loc_id or _shipped_from(state, order, li)
            if state.level(li["inventory_item_id"], target) is None:
                raise OrderError(f"{li['sku']} is not stocked at the restock location")
    entries, sales, value = [], [], Decimal(0)
    for li, qty, restock, loc_id in plan:
        unshipped = min(qty, unfulfilled_qty(li))
        if unshipped:
            for loc, n in _release_unfulfilled(state, order, li, unshipped, restock, "refund_cancel"):
                entries.append({"line_item_id": li["id"], "quantity": n, "location_id": loc,
                                "restockType": "CANCEL" if restock else "NO_RESTOCK", "restocked": restock})
        shipped_units = qty - unshipped
        if shipped_units:
            target = loc_id or _shipped_from(state, order, li)
            if restock:
                move_stock(state, li, target, "refund_return", order, available=shipped_units)
            li["returned"] += shipped_units
            entries.append({"line_item_id": li["id"], "quantity": shipped_units, "location_id": target,
                            "restockType": "RETURN" if restock else "NO_RESTOCK", "restocked": restock})
        if restock:
            order["restocked"] = True
        sales.append((li, "RETURN", qty))
        value += Decimal(li["price"]) * qty
    t = totals(order)
    amount = min(value, max(t["paid"] - t["refunded"], Decimal(0)))   # cannot give back more than was paid
    refund = _refund(state, order, entries, spec.get("note"), amount)
    _agreement(state, order, "RefundAgreement", sales, refund["id"])
    refresh(state, order)
    return refund


def _shipped_from(state: ShopState, order: dict, li: dict) -> int:
    for f in reversed(fulfillments_of(state, order)):
        if any(fl["line_item_id"] == li["id"] for fl in f["lines"]):
            return f["location_id"]
    return fos_of(state, order)[0]["location_id"]


def mark_paid(state: ShopState, order: dict) -> dict:
    t = totals(order)
    if order["cancelledAt"] or t["outstanding"] <= 0:
        raise OrderError(f"{order['name']} has nothing outstanding")
    for tx in order["transactions"]:
        if tx["status"] == "PENDING":
            tx["status"] = "FAILURE" if tx["kind"] == "SALE" else tx["status"]
    kind = "CAPTURE" if any(x["kind"] == "AUTHORIZATION" for x in order["transactions"]) else "SALE"
    tx = _transaction(state, order, kind, "SUCCESS", t["outstanding"])
    refresh(state, order)
    return tx


def set_hold(state: ShopState, order: dict, spec: dict, hold: bool) -> None:
    fos = [fo for fo in fos_of(state, order) if fo["status"] in (("OPEN", "IN_PROGRESS") if hold else ("ON_HOLD",))]
    if spec.get("fulfillmentOrderId"):
        fos = [fo for fo in fos if gid("FulfillmentOrder", fo["id"]) == spec["fulfillmentOrderId"]]
    if not fos:
        raise OrderError("no fulfillment order to " + ("hold" if hold else "release"))
    for fo in fos:
        fo["holds"] = [{"id": state.new_id(), "reason": spec.get("reason", "OTHER"),
                        "reasonNotes": spec.get("reasonNotes")}] if hold else []
        fo["status"] = "ON_HOLD" if hold else "OPEN"
        fo["updatedAt"] = state.now()
    refresh(state, order)


# -- tags ------------------------------------------------------------------------------------------
def split_tags(tags) -> list[str]:
    """tagsAdd accepts a list and/or comma-separated strings; blanks are dropped."""
    out = []
    for t in tags if isinstance(tags, list) else [tags]:
        out.extend(p.strip() for p in str(t).split(",") if p.strip())
    return out


def _merge_tags(current: list[str], new) -> list[str]:
    result = list(current)
    seen = {t.lower() for t in result}     # tags are a case-insensitive set
    for t in split_tags(new):
        if t.lower() not in seen:
            seen.add(t.lower())
            result.append(t)
    return result


def tags_change(state: ShopState, node_id: str, tags, add: bool) -> tuple[dict | None, str | None, list[dict]]:
    """tagsAdd / tagsRemove on an Order, Customer or Product: (record, GraphQL type, userErrors)."""
    kind, num = gid_type(node_id), parse_gid(node_id)
    record = None
    if kind == "Order":
        record = state.data["orders"].get(str(num))
    elif kind == "Customer":
        record = state.customer(num)
    elif kind == "Product":
        record = state.product(num)
    if record is None:
        return None, None, [{"field": ["id"], "message": "Resource does not exist"}]
    if not split_tags(tags):
        return None, None, [{"field": ["tags"], "message": "Tags can't be blank"}]
    if add:
        new = _merge_tags(record["tags"], tags)
    else:
        drop = {t.lower() for t in split_tags(tags)}
        new = [t for t in record["tags"] if t.lower() not in drop]
    if new != record["tags"]:                # a no-op leaves updatedAt alone
        record["tags"] = new
        if kind == "Order":
            refresh(state, record)
        else:
            record["updatedAt"] = state.now()
    return record, kind, []


# -- fulfillmentCreate ------------------------------------------------------------------------------
def fulfillment_create(state: ShopState, fulfillment: dict, message: str | None, origin: str) -> dict:
    """The fulfillmentCreate mutation (origin "api") and the admin's Fulfill button (origin "admin").

    NOT idempotent, as on Shopify: every accepted call creates a new fulfillment.
    Returns {"fulfillment": record | None, "userErrors": [...]} (generic UserError: field, message).
    """
    errors: list[dict] = []
    entries = fulfillment.get("lineItemsByFulfillmentOrder") or []
    base = ["fulfillment", "lineItemsByFulfillmentOrder"]
    if not entries:
        errors.append({"field": base, "message": "Line items by fulfillment order can't be blank."})
    tracking = fulfillment.get("trackingInfo") or {}
    if tracking.get("number") is not None and tracking.get("numbers"):
        errors.append({"field": ["fulfillment", "trackingInfo"],
                       "message": "Specify either tracking number or tracking numbers, not both."})
    if tracking.get("url") is not None and tracking.get("urls"):
        errors.append({"field": ["fulfillment", "trackingInfo"],
                       "message": "Specify either tracking url or tracking urls, not both."})
    plan: list[tuple[dict, dict, int]] = []    # (fo, fo line, qty)
    fos: dict[int, dict] = {}
    for i, entry in enumerate(entries):
        path = base + [str(i)]
        fo = fo_by_id(state, parse_gid(entry["fulfillmentOrderId"], "FulfillmentOrder"))
        if fo is None or not routed(state, fo):
            errors.append({"field": path + ["fulfillmentOrderId"], "message": "Fulfillment order does not exist."})
            continue
        if "CREATE_FULFILLMENT" not in supported_actions(fo):
            errors.append({"field": path + ["fulfillmentOrderId"],
                           "message": f"Fulfillment order {gid('FulfillmentOrder', fo['id'])} has an unfulfillable status= {fo['status'].lower()}."})
            continue
        fos[fo["id"]] = fo
        requested = entry.get("fulfillmentOrderLineItems")
        if requested is None:                 # omitted: everything remaining on this FO
            plan.extend((fo, fl, fl["remaining"]) for fl in fo["lines"] if fl["remaining"] > 0)
            continue
        for j, row in enumerate(requested):
            fl = next((fl for fl in fo["lines"] if gid("FulfillmentOrderLineItem", fl["id"]) == row["id"]), None)
            if fl is None:
                errors.append({"field": path + ["fulfillmentOrderLineItems", str(j), "id"],
                               "message": "Fulfillment order line item does not exist."})
            elif row["quantity"] <= 0 or row["quantity"] > fl["remaining"] - \
                    sum(q for f2, l2, q in plan if l2 is fl):
                errors.append({"field": path + ["fulfillmentOrderLineItems", str(j), "quantity"],
                               "message": QTY_MESSAGE})
            else:
                plan.append((fo, fl, row["quantity"]))
    if fos and len({fo["order_id"] for fo in fos.values()}) > 1:
        errors.append({"field": base, "message": "All fulfillment orders must belong to the same order."})
    if fos and len({fo["location_id"] for fo in fos.values()}) > 1:
        errors.append({"field": base, "message": "All fulfillment orders must be assigned to the same location."})
    if not errors and not plan:
        errors.append({"field": base, "message": QTY_MESSAGE})
    if errors:
        return {"fulfillment": None, "userErrors": errors}

    order = state.data["orders"][str(next(iter(fos.values()))["order_id"])]
    location_id = next(iter(fos.values()))["location_id"]
    numbers = tracking.get("numbers") or ([tracking["number"]] if tracking.get("number") else [])
    urls = tracking.get("urls") or ([tracking["url"]] if tracking.get("url") else [])
    ts = state.now()
    record = {"id": state.new_id(), "order_id": order["id"], "name": f"{order['name']}.{len(order['fulfillment_ids']) + 1}",
              "status": "SUCCESS", "createdAt": ts, "updatedAt": ts, "location_id": location_id,
              "tracking_company": tracking.get("company"), "tracking_numbers": numbers, "tracking_urls": urls,
              "notifyCustomer": bool(fulfillment.get("notifyCustomer", False)), "message": message,
              "origin": origin, "fo_ids": sorted(fos), "lines": []}
    for fo, fl, qty in plan:
        li = line_by_id(order, fl["line_item_id"])
        fl["remaining"] -= qty
        li["fulfilled"] += qty
        move_stock(state, li, fo["location_id"], "fulfillment_created", order, committed=-qty)
        record["lines"].append({"id": state.new_id(), "line_item_id": li["id"], "quantity": qty,
                                "fo_id": fo["id"], "fo_line_id": fl["id"]})
    for fo in fos.values():
        fo["fulfillment_ids"].append(record["id"])
        fo["updatedAt"] = ts
    state.data["fulfillments"][str(record["id"])] = record
    order["fulfillment_ids"].append(record["id"])
    refresh(state, order)
    return {"fulfillment": record, "userErrors": []}


# -- fulfillmentTrackingInfoUpdate -----------------------------------------------------------------
def fulfillment_tracking_update(state: ShopState, fulfillment_id: str, tracking: dict,
                                notify: bool | None) -> dict:
    """Replace a fulfillment's tracking (company, numbers, urls). Setting the same value again
    changes nothing, so a resend is harmless."""
    f = state.data["fulfillments"].get(str(parse_gid(fulfillment_id, "Fulfillment")))
    if f is None:
        return {"fulfillment": None, "userErrors": [{"field": ["fulfillmentId"],
                                                     "message": "Fulfillment does not exist."}]}
    if f["status"] in ("CANCELLED", "ERROR", "FAILURE"):
        return {"fulfillment": None, "userErrors": [{"field": ["fulfillmentId"],
                                                     "message": f"Fulfillment is {f['status'].lower()}."}]}
    if tracking.get("number") is not None and tracking.get("numbers"):
        return {"fulfillment": None, "userErrors": [{"field": ["trackingInfoInput"],
                                                     "message": "Specify either tracking number or tracking numbers, not both."}]}
    f["tracking_company"] = tracking.get("company", f["tracking_company"])
    f["tracking_numbers"] = tracking.get("numbers") or ([tracking["number"]] if tracking.get("number") else [])
    f["tracking_urls"] = tracking.get("urls") or ([tracking["url"]] if tracking.get("url") else [])
    f["updatedAt"] = state.now()
    if notify:
        f["notifyCustomer"] = True
    return {"fulfillment": f, "userErrors": []}


# -- fulfillmentOrderMove ---------------------------------------------------------------------------
def fulfillment_order_move(state: ShopState, fo_id: str, new_location_id: str, lines: list | None) -> dict:
    """Typed errors (FulfillmentOrderMoveFulfillmentOrderMoveUserError); code is null except for the
    one enum value Shopify defines. Commitment moves with the units; shipped units stay behind."""
    def fail(field, message, code=None):
        return {"movedFulfillmentOrder": None, "originalFulfillmentOrder": None, "remainingFulfillmentOrder": None,
                "userErrors": [{"field": field, "message": message, "code": code}]}

    fo = fo_by_id(state, parse_gid(fo_id, "FulfillmentOrder"))
    if fo is None or not routed(state, fo):
        return fail(["id"], "Fulfillment order does not exist.")
    loc = state.location(parse_gid(new_location_id, "Location"))
    if loc is None or not loc["isActive"]:
        return fail(["newLocationId"], "Location does not exist.")
    if fo["status"] in ("CLOSED", "CANCELLED"):
        return fail(["id"], "Cannot move a closed fulfillment order.")
    if "MOVE" not in supported_actions(fo):
        return fail(["id"], f"Cannot move a fulfillment order with status {fo['status']}.")
    if loc["id"] == fo["location_id"]:
        return fail(["newLocationId"], "The fulfillment order is already assigned to this location.")
    if not loc.get("fulfillsOnlineOrders", True):
        return fail(["newLocationId"], "The location doesn't fulfill online orders.")
    order = state.data["orders"][str(fo["order_id"])]
    if lines is None:
        units = [(fl, fl["remaining"]) for fl in fo["lines"] if fl["remaining"] > 0]
    else:
        units = []
        for j, row in enumerate(lines):
            fl = next((fl for fl in fo["lines"] if gid("FulfillmentOrderLineItem", fl["id"]) == row["id"]), None)
            if fl is None:
                return fail(["fulfillmentOrderLineItems", str(j), "id"], "Fulfillment order line item does not exist.")
            if row["quantity"] <= 0 or row["quantity"] > fl["remaining"]:
                return fail(["fulfillmentOrderLineItems", str(j), "quantity"], QTY_MESSAGE)
            units.append((fl, row["quantity"]))
    for fl, _ in units:
        li = line_by_id(order, fl["line_item_id"])
        if _tracked(state, li) and state.level(li["inventory_item_id"], loc["id"]) is None:
            return fail(["newLocationId"], f"The location doesn't stock the inventory item {li['sku']}.")

    old_loc = fo["location_id"]
    whole = all(fl["total"] == q and fl["remaining"] == q for fl, q in units) and \
        sum(q for _, q in units) == sum(fl["total"] for fl in fo["lines"])
    for fl, q in units:
        li = line_by_id(order, fl["line_item_id"])
        move_stock(state, li, old_loc, "fulfillment_order_moved", order, available=q, committed=-q)
        move_stock(state, li, loc["id"], "fulfillment_order_moved", order, available=-q, committed=q)
    if whole:           # nothing shipped from it and every unit moves: the FO itself is reassigned
        fo["location_id"] = loc["id"]
        fo["updatedAt"] = state.now()
        moved = fo
    else:               # the moved units get a new FO; shipped units stay at the original location
        moved = _new_fo(state, order, loc["id"], state.now())
        for fl, q in units:
            fl["total"] -= q
            fl["remaining"] -= q
            moved["lines"].append({"id": state.new_id(), "line_item_id": fl["line_item_id"], "total": q, "remaining": q})
        fo["updatedAt"] = state.now()
    refresh(state, order)
    return {"movedFulfillmentOrder": moved, "originalFulfillmentOrder": fo, "remainingFulfillmentOrder": None,
            "userErrors": []}


# -- the admin's Fulfill button (control endpoint) -----------------------------------------------
def admin_fulfill(state: ShopState, order: dict, spec: dict) -> list[dict]:
    """Fulfil in Shopify's admin: one fulfillment per assigned location, like the admin UI."""
    fos = [fo for fo in fos_of(state, order) if routed(state, fo) and "CREATE_FULFILLMENT" in supported_actions(fo)]
    if spec.get("fulfillmentOrderId"):
        fos = [fo for fo in fos if gid("FulfillmentOrder", fo["id"]) == spec["fulfillmentOrderId"]]
    if not fos:
        raise OrderError(f"{order['name']} has nothing to fulfil")
    by_fo: dict[int, list] = {}
    if spec.get("lines"):
        for ls in spec["lines"]:
            li = _line_ref(order, ls)
            left = int(ls["quantity"])
            for fo in fos:
                fl = next((fl for fl in fo["lines"] if fl["line_item_id"] == li["id"] and fl["remaining"]), None)
                if fl and left:
                    n = min(left, fl["remaining"])
                    by_fo.setdefault(fo["id"], []).append({"id": gid("FulfillmentOrderLineItem", fl["id"]), "quantity": n})
                    left -= n
            if left:
                raise OrderError(f"{li['sku']}: {QTY_MESSAGE}")
    else:
        by_fo = {fo["id"]: None for fo in fos}
    by_location: dict[int, list] = {}
    for fo in fos:
        if fo["id"] in by_fo:
            by_location.setdefault(fo["location_id"], []).append(
                {"fulfillmentOrderId": gid("FulfillmentOrder", fo["id"]), "fulfillmentOrderLineItems": by_fo[fo["id"]]})
    created = []
    for entries in by_location.values():
        out = fulfillment_create(state, {"lineItemsByFulfillmentOrder": entries, "trackingInfo": spec.get("tracking"),
                                         "notifyCustomer": spec.get("notifyCustomer", False)},
                                 spec.get("message"), origin="admin")
        if out["userErrors"]:
            raise OrderError("; ".join(e["message"] for e in out["userErrors"]))
        created.append(out["fulfillment"])
    return created


# -- views for tests (GET /_sim/orders) ----------------------------------------------------------
def snapshot(state: ShopState, order: dict) -> dict:
    t = totals(order)
    loc_code = lambda n: (state.location(n) or {}).get("code")  # noqa: E731
    li_gid = lambda n: gid("LineItem", n)  # noqa: E731
    sku_of = {li["id"]: li["sku"] for li in order["line_items"]}
    cust = state.customer(order["customer_id"]) if order["customer_id"] else None
    return {
        "id": gid("Order", order["id"]), "name": order["name"], "number": order["number"],
        "createdAt": order["createdAt"], "updatedAt": order["updatedAt"],
        "cancelledAt": order["cancelledAt"], "cancelReason": order["cancelReason"], "closed": order["closed"],
        "edited": order["edited"], "displayFinancialStatus": financial_status(order),
        "displayFulfillmentStatus": fulfillment_status(state, order), "tags": order["tags"], "note": order["note"],
        "paymentGatewayNames": order["gateways"], "phone": order["phone"], "email": order["email"],
        "customer": None if cust is None else {"id": gid("Customer", cust["id"]), "firstName": cust["firstName"],
                                               "lastName": cust["lastName"], "phone": cust["phone"]},
        "shippingAddress": order["shipping_address"],
        "totals": {k: money(v) for k, v in t.items()},
        "lineItems": [{"id": li_gid(li["id"]), "sku": li["sku"], "variantId": gid("ProductVariant", li["variant_id"]),
                       "inventoryItemId": gid("InventoryItem", li["inventory_item_id"]), "price": li["price"],
                       "quantity": li["quantity"], "currentQuantity": current_qty(li),
                       "unfulfilledQuantity": unfulfilled_qty(li), "fulfilledQuantity": li["fulfilled"]}
                      for li in order["line_items"]],
        "fulfillmentOrders": [{
            "id": gid("FulfillmentOrder", fo["id"]), "status": fo["status"], "routed": routed(state, fo),
            "locationId": gid("Location", fo["location_id"]), "locationCode": loc_code(fo["location_id"]),
            "holds": fo["holds"], "supportedActions": supported_actions(fo),
            "lineItems": [{"id": gid("FulfillmentOrderLineItem", fl["id"]), "lineItemId": li_gid(fl["line_item_id"]),
                           "sku": sku_of[fl["line_item_id"]], "totalQuantity": fl["total"],
                           "remainingQuantity": fl["remaining"]} for fl in fo["lines"]],
        } for fo in fos_of(state, order)],
        "fulfillments": [fulfillment_snapshot(state, f, sku_of) for f in fulfillments_of(state, order)],
        "agreements": [{"id": gid("SalesAgreement", a["id"]), "reason": a["reason"], "happenedAt": a["happenedAt"],
                        "sales": [{"actionType": s["actionType"], "quantity": s["quantity"], "sku": sku_of[s["line_item_id"]],
                                   "lineItemId": li_gid(s["line_item_id"])} for s in a["sales"]]}
                       for a in order["agreements"]],
        "refunds": [{"id": gid("Refund", r["id"]), "createdAt": r["createdAt"], "amount": r["amount"],
                     "lines": [{"lineItemId": li_gid(x["line_item_id"]), "sku": sku_of[x["line_item_id"]],
                                "quantity": x["quantity"], "restockType": x["restockType"],
                                "locationId": gid("Location", x["location_id"]) if x["location_id"] else None}
                               for x in r["lines"]]} for r in order["refunds"]],
        "transactions": [{"id": gid("OrderTransaction", x["id"]), "kind": x["kind"], "status": x["status"],
                          "gateway": x["gateway"], "amount": x["amount"]} for x in order["transactions"]],
    }


def fulfillment_snapshot(state: ShopState, f: dict, sku_of: dict | None = None) -> dict:
    if sku_of is None:
        order = state.data["orders"][str(f["order_id"])]
        sku_of = {li["id"]: li["sku"] for li in order["line_items"]}
    return {"id": gid("Fulfillment", f["id"]), "name": f["name"], "origin": f["origin"], "status": f["status"],
            "orderId": gid("Order", f["order_id"]), "locationId": gid("Location", f["location_id"]),
            "createdAt": f["createdAt"], "notifyCustomer": f["notifyCustomer"], "message": f["message"],
            "trackingCompany": f["tracking_company"], "trackingNumbers": f["tracking_numbers"],
            "trackingUrls": f["tracking_urls"], "quantity": sum(x["quantity"] for x in f["lines"]),
            "lineItems": [{"id": gid("FulfillmentLineItem", x["id"]), "lineItemId": gid("LineItem", x["line_item_id"]),
                           "sku": sku_of[x["line_item_id"]], "quantity": x["quantity"]} for x in f["lines"]]}
