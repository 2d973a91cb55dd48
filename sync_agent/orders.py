"""Online orders: polling Shopify for changed orders, and the order jobs the tills queue.

Polling: orders updated since a stored cursor, less an overlap window (Shopify's updated_at is
to the second, and a write committed during the last poll may carry an earlier stamp), handed to
pos_core.online_orders which records what changed. The box is behind NAT, so no webhooks.

Jobs: `fulfillment_create` (a Smart Fulfillment was dispatched), `tags_add` and `inventory_set`
(a reconciliation correction). fulfillmentCreate, fulfillmentOrderMove and tagsAdd are not
deduplicated by Shopify: each goes through `once.run_once`, so after a lost answer the order's
fulfillments, fulfillment-order locations or tags are read before anything is sent again.
inventory_set carries an idempotency key and is resent with it for 23 hours only.
"""
from __future__ import annotations

import datetime as dt
import logging
import random

from pos_core import heartbeat, online_orders, outbox
from pos_core.models import Fulfillment, OutboxJob, utcnow

from . import once
from .shopify.client import ShopifyClient, ShopifyError

log = logging.getLogger("pos.agent.orders")
OVERLAP = dt.timedelta(minutes=2)
FIRST_POLL_DAYS = 14
ORDER_JOB_KINDS = ("fulfillment_create", "tags_add", "inventory_set", "variant_barcodes", "tracking_update",
                   "discount_deactivate")


def poll(client: ShopifyClient, cod_gateways: tuple[str, ...], now: dt.datetime | None = None) -> int:
    """One polling pass; returns how many orders were read."""
    now = now or utcnow()
    cursor = heartbeat.get_detail("orders").get("cursor")
    since = (dt.datetime.fromisoformat(cursor) - OVERLAP) if cursor else now - dt.timedelta(days=FIRST_POLL_DAYS)
    query = f"updated_at:>='{since.strftime('%Y-%m-%dT%H:%M:%SZ')}'"
    after, seen, newest = None, 0, cursor
    while True:
        # 10 orders x 10 lines keeps the query under Shopify's 1,000-point ceiling (~682 points).
        data = client.call("OrdersUpdatedSince", {"first": 10, "after": after, "query": query,
                                                  "lineItemsFirst": 10}).data
        page = data["orders"]
        for node in page["nodes"]:
            _all_lines(client, node)
            online_orders.record_from_shopify(node, cod_gateways)
            seen += 1
            stamp = node["updatedAt"].replace("Z", "")
            if newest is None or stamp > newest:
                newest = stamp
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    heartbeat.beat("orders", contact=True, error="", detail={"cursor": newest, "last_poll_orders": seen})
    return seen


def _all_lines(client: ShopifyClient, node: dict) -> None:
    """Fetch the rest of an order's lines when it has more than fit on the poll's page."""
    items = node.get("lineItems") or {}
    info = items.get("pageInfo") or {}
    while info.get("hasNextPage"):
        more = client.call("OrderLineItemsMore", {"orderId": node["id"], "first": 50,
                                                  "after": info["endCursor"]}).data["order"]["lineItems"]
        items.setdefault("nodes", []).extend(more["nodes"])
        info = more["pageInfo"]


def due_jobs(limit: int = 20) -> list[OutboxJob]:
    """Due order jobs; one that depends on another (a fulfillment waiting for its courier booking,
    which brings the tracking number) waits until that one is SYNCED. The test is in the query,
    so any number of waiting jobs never hide the due ones behind them."""
    first = OutboxJob.alias()
    done = first.select(first.uid).where(first.status == outbox.SYNCED)
    return list(OutboxJob.select().where((OutboxJob.channel == outbox.SHOPIFY)
                                         & OutboxJob.kind.in_(ORDER_JOB_KINDS)
                                         & (OutboxJob.status == outbox.PENDING) & (OutboxJob.via_hq == False)  # noqa: E712
                                         & (OutboxJob.next_attempt_at <= utcnow())
                                         & (OutboxJob.depends_on.is_null() | OutboxJob.depends_on.in_(done)))
                .order_by(OutboxJob.id).limit(limit))


def recover_interrupted() -> int:
    """A job left SENDING by a crash goes back to PENDING: every order job checks Shopify's
    current state before it sends, so a resend cannot apply twice."""
    return (OutboxJob.update(status=outbox.PENDING)
            .where((OutboxJob.channel == outbox.SHOPIFY) & OutboxJob.kind.in_(ORDER_JOB_KINDS)
                   & (OutboxJob.status == outbox.SENDING) & (OutboxJob.via_hq == False)).execute())  # noqa: E712


def run_jobs(client: ShopifyClient, limit: int = 20, backoff_base: float = 1.0,
             backoff_cap: float = 300.0) -> dict[str, int]:
    counts = {"synced": 0, "failed": 0, "deferred": 0}
    for job in due_jobs(limit):
        if not outbox.claim(job):
            continue
        try:
            result = HANDLERS[job.kind](client, job)
        except ShopifyError as exc:
            if exc.retryable:
                delay = min(backoff_cap, backoff_base * 2 ** min(job.attempts, 8)) * random.uniform(0.5, 1.0)
                outbox.update_job(job, outbox.PENDING, exc.message, None, event="retry",
                                  next_at=utcnow() + dt.timedelta(seconds=delay))
                counts["deferred"] += 1
            else:
                outbox.update_job(job, outbox.FAILED, exc.message, None, event="failed", answered=exc.answered)
                counts["failed"] += 1
            continue
        except JobRefused as exc:
            outbox.update_job(job, outbox.FAILED, str(exc), None, event="refused", answered=True)
            counts["failed"] += 1
            continue
        except once.UnknownOutcome as exc:
            outbox.update_job(job, outbox.NEEDS_RECONCILIATION, str(exc), None, event="unknown_outcome")
            counts["failed"] += 1
            continue
        outbox.update_job(job, outbox.SYNCED, "", result, event="synced")
        # A branch's shipment (sent here for it, issue 14) is the branch's row: it records the id
        # itself when the outcome reaches it, and the row comes back up.
        if job.kind == "fulfillment_create" and result.get("fulfillmentId") and not job.origin_branch:
            Fulfillment.update(shopify_fulfillment_id=result["fulfillmentId"]).where(
                Fulfillment.uid == job.payload.get("fulfillmentUid")).execute()
        counts["synced"] += 1
    return counts


class JobRefused(Exception):
    """Shopify's current state makes the job impossible as asked; a person must look."""


def create_fulfillment(client: ShopifyClient, job: OutboxJob) -> dict:
    p = job.payload
    number = p["tracking"]["number"]
    state = _fulfillment_state(client, p["orderId"])
    # Read before every attempt, marked or not: a fulfillment with our tracking number means an
    # earlier attempt (or an agent before this one) already made it.
    mine = _already_created(state, number)
    if mine:
        return {"fulfillmentId": mine, "found_existing": True}

    def probe() -> dict | None:
        found = _already_created(_fulfillment_state(client, p["orderId"]), number)
        return {"fulfillmentId": found} if found else None

    def send() -> dict:
        groups = _plan(client, job, state, p)
        variables = {"fulfillment": {
            "notifyCustomer": bool(p.get("notifyCustomer")),
            "trackingInfo": {"company": p["tracking"]["company"], "number": number,
                             **({"url": p["tracking"]["url"]} if p["tracking"].get("url") else {})},
            "lineItemsByFulfillmentOrder": groups}, "message": p.get("message")}
        data = client.call("FulfillmentCreate", variables, payload_field="fulfillmentCreate").data
        return {"fulfillmentId": data["fulfillmentCreate"]["fulfillment"]["id"]}

    out = once.run_once(job, "fulfillmentCreate", send=send, probe=probe)
    return {**out.result, "found_existing": out.found_existing}


def add_tags(client: ShopifyClient, job: OutboxJob) -> dict:
    p = job.payload

    def probe() -> dict | None:
        tags = (_fulfillment_state(client, p["orderId"]) or {}).get("tags") or []
        return {"tags": tags} if set(p["tags"]) <= set(tags) else None

    def send() -> dict:
        data = client.call("TagsAdd", {"id": p["orderId"], "tags": p["tags"]}, payload_field="tagsAdd").data
        return {"tags": ((data["tagsAdd"].get("node") or {}).get("tags"))}

    out = once.run_once(job, "tagsAdd", send=send, probe=probe)
    return {**out.result, "found_existing": out.found_existing}


def set_quantity(client: ShopifyClient, job: OutboxJob) -> dict:
    """A reconciliation correction with compare-and-swap: a stale value is refused, not applied.
    It carries an idempotency key, so a resend reuses it - for 23 hours (once.KEY_WINDOW)."""
    p = job.payload
    variables = {"input": {"name": p["name"], "reason": p["reason"],
                           "referenceDocumentUri": p["referenceDocumentUri"],
                           "quantities": [{"inventoryItemId": p["inventoryItemId"], "locationId": p["locationId"],
                                           "quantity": p["quantity"], "changeFromQuantity": p["changeFromQuantity"]}]},
                 "idempotencyKey": job.idempotency_key}

    def send() -> dict:
        data = client.call("InventorySet", variables, payload_field="inventorySetQuantities").data
        group = (data["inventorySetQuantities"].get("inventoryAdjustmentGroup") or {})
        return {"adjustmentGroupId": group.get("id")}

    return once.run_once(job, "inventorySetQuantities", send=send, probe=None).result


def _set_barcodes(client: ShopifyClient, job: OutboxJob) -> dict:
    from . import barcodes  # issue 17: generated barcodes written back
    return barcodes.set_barcodes(client, job)


def update_tracking(client: ShopifyClient, job: OutboxJob) -> dict:
    """A shipment booked again with a courier after its fulfillment was created: its new number.
    Setting the tracking is idempotent (a resend sets the same value), so no probe is needed. The
    job depends on the fulfillment_create job, which recorded the fulfillment's id."""
    p = job.payload
    f = Fulfillment.get_or_none(Fulfillment.uid == p["fulfillmentUid"])
    fid = p.get("fulfillmentId") or (f.shopify_fulfillment_id if f else None)
    if not fid:
        raise JobRefused("the shipment has no Shopify fulfillment to update; was it fulfilled in Shopify?")
    data = client.call("FulfillmentTrackingInfoUpdate", {
        "fulfillmentId": fid, "notifyCustomer": bool(p.get("notifyCustomer")),
        "trackingInfoInput": {k: v for k, v in p["tracking"].items() if v}},
        payload_field="fulfillmentTrackingInfoUpdate").data
    return {"fulfillmentId": ((data["fulfillmentTrackingInfoUpdate"].get("fulfillment") or {}).get("id") or fid)}


def _deactivate_discount(client: ShopifyClient, job: OutboxJob) -> dict:
    from . import discounts  # issue 16: a Shopify code used up at the till ends in Shopify
    return discounts.deactivate(client, job)


HANDLERS = {"fulfillment_create": create_fulfillment, "tags_add": add_tags, "inventory_set": set_quantity,
            "variant_barcodes": _set_barcodes, "tracking_update": update_tracking,
            "discount_deactivate": _deactivate_discount}


def _fulfillment_state(client: ShopifyClient, order_id: str) -> dict:
    """The order with every fulfillment order (paged: an order may be split into many)."""
    after, order, nodes = None, None, []
    while True:
        page = client.call("OrderFulfillmentOrders", {"orderId": order_id, "after": after}).data["order"]
        if page is None:
            raise JobRefused(f"Shopify has no order {order_id} (deleted, or older than 60 days)")
        order = order or page
        fos = page.get("fulfillmentOrders") or {}
        nodes.extend(fos.get("nodes") or [])
        info = fos.get("pageInfo") or {}
        if not info.get("hasNextPage"):
            break
        after = info["endCursor"]
    return {**order, "fulfillmentOrders": {"nodes": nodes}}


def _already_created(order: dict, tracking_number: str) -> str | None:
    for f in order.get("fulfillments") or []:
        if f.get("status") in ("CANCELLED", "ERROR", "FAILURE"):
            continue
        for info in f.get("trackingInfo") or []:
            if info.get("number") == tracking_number:
                return f["id"]
    return None


def _at(fo: dict) -> str | None:
    return ((fo.get("assignedLocation") or {}).get("location") or {}).get("id")


def _remaining_at(order: dict, location_id: str) -> dict[str, int]:
    """Units of each order line still to fulfil from fulfillment orders at `location_id`."""
    left: dict[str, int] = {}
    for fo in (order.get("fulfillmentOrders") or {}).get("nodes") or []:
        if fo.get("status") in ("OPEN", "IN_PROGRESS") and _at(fo) == location_id:
            for li in (fo.get("lineItems") or {}).get("nodes") or []:
                line_id = (li.get("lineItem") or {}).get("id")
                left[line_id] = left.get(line_id, 0) + int(li.get("remainingQuantity") or 0)
    return left


def _plan(client: ShopifyClient, job: OutboxJob, order: dict, p: dict, may_move: bool = True) -> list[dict]:
    """Map the shipment's order lines to fulfillment-order lines at the shipping location. A
    fulfillment order Shopify assigned elsewhere is moved here first (once per move: after a
    lost answer, the order is read again and a move whose units are already here is not sent),
    and the plan made again from the order as it is after the move (the moved order has new ids)."""
    wanted = {l["lineItemId"]: l["quantity"] for l in p["lines"]}
    total = dict(wanted)
    groups: dict[str, list] = {}
    moved_any = False
    nodes = (order.get("fulfillmentOrders") or {}).get("nodes") or []
    for fo in sorted(nodes, key=lambda fo: _at(fo) != p.get("locationId")):  # here first, then elsewhere
        if fo.get("status") not in ("OPEN", "IN_PROGRESS"):
            continue
        takes, lines = [], []
        for li in (fo.get("lineItems") or {}).get("nodes") or []:
            line_id = (li.get("lineItem") or {}).get("id")
            n = min(wanted.get(line_id, 0), li.get("remainingQuantity", 0))
            if n > 0:
                takes.append({"id": li["id"], "quantity": n})
                lines.append(line_id)
                wanted[line_id] -= n
        if not takes:
            continue
        if p.get("locationId") and _at(fo) != p["locationId"]:
            actions = {a["action"] for a in fo.get("supportedActions") or []}
            if not may_move or "MOVE" not in actions:
                raise JobRefused(f"Shopify assigned this order to another location and it cannot be moved "
                                 f"({fo['id']}); move it in Shopify admin, or ship from that branch")

            def probe(lines=lines) -> dict | None:
                # done if the shipment's units of these lines are now all at the shipping location
                here = _remaining_at(_fulfillment_state(client, p["orderId"]), p["locationId"])
                return {"moved": True} if all(here.get(l, 0) >= total[l] for l in lines) else None

            def send(fo=fo, takes=takes) -> dict:
                data = client.call("FulfillmentOrderMove", {"id": fo["id"], "newLocationId": p["locationId"],
                                                            "fulfillmentOrderLineItems": takes},
                                   payload_field="fulfillmentOrderMove").data
                return {"moved": bool((data.get("fulfillmentOrderMove") or {}).get("movedFulfillmentOrder"))}

            once.run_once(job, f"fulfillmentOrderMove:{fo['id']}", send=send, probe=probe)
            moved_any = True
            continue
        groups[fo["id"]] = takes
    if moved_any:
        return _plan(client, job, _fulfillment_state(client, p["orderId"]), p, may_move=False)
    missing = {k: v for k, v in wanted.items() if v > 0}
    if missing:
        raise JobRefused("Shopify has fewer units left to fulfil than this shipment holds "
                         f"({', '.join(f'{k}: {v} more' for k, v in missing.items())}); "
                         "were they fulfilled in Shopify already? Use Branch Sync instead")
    return [{"fulfillmentOrderId": fo, "fulfillmentOrderLineItems": lines} for fo, lines in groups.items()]
