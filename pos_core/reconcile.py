"""Reconciling branch stock with Shopify, one location at a time.

Shopify's `on_hand` at a location should equal the ledger's on-hand summed over the branches mapped
to it, once the outbox is empty, give or take two things the ledger knows about: units packed for
online orders but not yet dispatched (gone from the branch, still committed in Shopify), units
sent by Manual Fulfillment that Shopify has not fulfilled (nothing is pushed for those, so Shopify
still counts them), and units Shopify shows fulfilled that no branch has confirmed yet (Branch
Sync pending). Whatever is left
was changed directly in Shopify. The report never changes anything; a manager may accept a
correction, which the agent sends with inventorySetQuantities and a compare-and-swap value, so an
online order placed in between cannot be overwritten.
"""
from __future__ import annotations

from dataclasses import dataclass

from peewee import fn

from . import audit, db, online_orders, outbox, staff as staffmod
from .errors import InvalidInput, NotFound, StateError
from .models import (Branch, Fulfillment, FulfillmentLine, OutboxJob, ReconciliationRun, SmartOrder, StockLevel,
                     Variant)


@dataclass(frozen=True)
class ShopifyLevel:
    inventory_item_id: str
    available: int
    on_hand: int


def outbox_clear(location_id: str) -> bool:
    """No inventory change for this location is on its way (the comparison waits for that).
    FAILED jobs do not hold it up: they wait for a person, and show in the report as a cause."""
    for job in OutboxJob.select(OutboxJob.payload).where(
            (OutboxJob.channel == outbox.SHOPIFY) & OutboxJob.kind.in_(["inventory_adjust", "inventory_set"])
            & OutboxJob.status.in_([outbox.PENDING, outbox.SENDING])):
        if (job.payload or {}).get("locationId") == location_id:
            return False
    return True


def expected(location_id: str) -> dict[str, dict]:
    """Per inventory item at the location: the ledger's on-hand and the adjustments it knows of."""
    branches = [b.id for b in Branch.select().where(Branch.shopify_location_id == location_id)]
    if not branches:
        raise NotFound(f"no branch is mapped to {location_id}")
    rows: dict[str, dict] = {}
    items = dict(Variant.select(Variant.id, Variant.shopify_inventory_item_id)
                 .where(Variant.shopify_inventory_item_id.is_null(False) & (Variant.tracked == True)).tuples())  # noqa: E712
    for vid, item in items.items():
        rows[item] = {"variant_id": vid, "ledger": 0, "packed": 0, "unsynced": 0, "pending": 0, "manual": 0}
    for vid, qty in (StockLevel.select(StockLevel.variant, fn.SUM(StockLevel.on_hand))
                     .where(StockLevel.branch.in_(branches)).group_by(StockLevel.variant).tuples()):
        if vid in items:
            rows[items[vid]]["ledger"] = int(qty)
    for vid, qty in (FulfillmentLine.select(FulfillmentLine.variant, fn.SUM(FulfillmentLine.qty)).join(Fulfillment)
                     .where((Fulfillment.mode == "smart") & (Fulfillment.status == "PACKED")
                            & Fulfillment.branch.in_(branches)).group_by(FulfillmentLine.variant).tuples()):
        if vid in items:
            rows[items[vid]]["packed"] = int(qty)
    for vid, n in manual_not_in_shopify(branches).items():
        if vid in items:
            rows[items[vid]]["manual"] += n
    for order in SmartOrder.select().where(SmartOrder.needs_branch_sync == True):  # noqa: E712
        variants = {l.id: l.variant_id for l in order.lines}
        for line_id, n in online_orders.uncovered_units(order).items():
            if variants.get(line_id) in items:
                rows[items[variants[line_id]]]["unsynced"] += n
    for job in OutboxJob.select(OutboxJob.payload).where(
            (OutboxJob.channel == outbox.SHOPIFY) & (OutboxJob.kind == "inventory_adjust")
            & (OutboxJob.status != outbox.SYNCED)):
        p = job.payload or {}
        if p.get("locationId") == location_id and p.get("inventoryItemId") in rows:
            rows[p["inventoryItemId"]]["pending"] += int(p.get("delta", 0))
    return rows


def manual_not_in_shopify(branches: list[int]) -> dict[int, int]:
    """Units per variant that left these branches by Manual Fulfillment and that Shopify has not
    fulfilled: nothing is pushed for a Manual Fulfillment, so Shopify still counts them on hand
    (committed to the order) until the order is fulfilled there. Shopify's fulfilled units of a
    line are matched first to the line's shipped and Branch Sync records, then to manual ones."""
    out: dict[int, int] = {}
    orders = {oid for (oid,) in Fulfillment.select(Fulfillment.order)
              .where((Fulfillment.mode == "manual") & (Fulfillment.status == "DONE")
                     & Fulfillment.branch.in_(branches)).distinct().tuples()}
    for order in SmartOrder.select().where(SmartOrder.id.in_(list(orders))) if orders else []:
        manual: dict[int, int] = {}
        other: dict[int, int] = {}
        for line_id, mode, status, branch_id, qty in (
                FulfillmentLine.select(FulfillmentLine.order_line, Fulfillment.mode, Fulfillment.status,
                                       Fulfillment.branch, FulfillmentLine.qty).join(Fulfillment)
                .where((Fulfillment.order == order.id) & FulfillmentLine.order_line.is_null(False)).tuples()):
            if mode == "manual" and status == "DONE" and branch_id in branches:
                manual[line_id] = manual.get(line_id, 0) + int(qty)
            elif (mode, status) in SHOPIFY_KNOWS:
                other[line_id] = other.get(line_id, 0) + int(qty)
        fulfilled = order.shopify_fulfilled or {}
        for line in order.lines:
            m = manual.get(line.id, 0)
            if not m or line.variant_id is None:
                continue
            in_shopify = max(0, int(fulfilled.get(line.shopify_line_id, 0)) - other.get(line.id, 0))
            left = max(0, m - in_shopify)
            if left:
                out[line.variant_id] = out.get(line.variant_id, 0) + left
    return out


# local records whose units Shopify has (or will have, once pushed) as fulfilled
SHOPIFY_KNOWS = {("smart", "DISPATCHED"), ("smart", "DELIVERED"), ("smart", "RETURNED"), ("branch_sync", "DONE")}


def compare(location_id: str, shopify: list[ShopifyLevel], cost_used: int = 0) -> ReconciliationRun:
    """Record a report of every item whose Shopify on-hand differs from the ledger's account."""
    want = expected(location_id)
    diffs = []
    for level in shopify:
        row = want.get(level.inventory_item_id)
        if row is None:
            continue  # not an item this site tracks
        # What Shopify should show once everything known has happened there:
        should = row["ledger"] + row["packed"] + row["manual"] - row["unsynced"] - row["pending"]
        diff = level.on_hand - should
        raw = level.on_hand - row["ledger"]
        if raw == 0 and diff == 0:
            continue
        causes = []
        if row["pending"]:
            causes.append(f"{row['pending']:+} still in the outbox (a movement not yet applied in Shopify)")
        if row["packed"]:
            causes.append(f"{row['packed']} packed for online orders, not yet dispatched")
        if row["manual"]:
            causes.append(f"{row['manual']} sent by Manual Fulfillment and not fulfilled in Shopify yet (Shopify "
                          "still counts them for the order: fulfil it in Shopify)")
        if row["unsynced"]:
            causes.append(f"{row['unsynced']} fulfilled in Shopify, waiting for Branch Sync")
        if diff:
            causes.append(f"{diff:+} changed directly in Shopify (admin edit or app)")
        variant = Variant.get_by_id(row["variant_id"])
        diffs.append({"inventoryItemId": level.inventory_item_id, "sku": variant.sku, "name": variant.name,
                      "shopify_on_hand": level.on_hand, "shopify_available": level.available,
                      "ledger_on_hand": row["ledger"], "unexplained": diff, "causes": causes,
                      "accepted": False})
    with db.write():
        return ReconciliationRun.create(location_id=location_id, items_compared=len(shopify),
                                        differences=sorted(diffs, key=lambda d: d["sku"]), cost_used=cost_used)


def accept(run_uid: str, inventory_item_id: str, staff_id: int) -> OutboxJob:
    """Queue a correction of an unexplained difference, with CAS on the `available` read."""
    person = staffmod.get(staff_id)
    staffmod.require(person, "stock_fix")
    with db.write():
        run = ReconciliationRun.get_or_none(ReconciliationRun.uid == run_uid)
        if run is None:
            raise NotFound(f"no reconciliation report {run_uid}")
        rows = list(run.differences)
        row = next((r for r in rows if r["inventoryItemId"] == inventory_item_id), None)
        if row is None:
            raise NotFound(f"{inventory_item_id} is not on report {run_uid}")
        if row["accepted"]:
            raise StateError(f"the correction for {row['sku']} was already accepted")
        if not row["unexplained"]:
            raise InvalidInput(f"{row['sku']}: the difference is explained; nothing to correct")
        target = row["shopify_available"] - row["unexplained"]
        job = outbox.enqueue(outbox.SHOPIFY, "inventory_set", {
            "inventoryItemId": inventory_item_id, "locationId": run.location_id, "name": "available",
            "quantity": target, "changeFromQuantity": row["shopify_available"], "reason": "correction",
            "referenceDocumentUri": f"gid://pk-pos/Reconciliation/{run.uid}", "sku": row["sku"],
        }, "reconciliation", run.uid)
        row["accepted"] = True
        run.differences = rows
        run.save()
        audit.log("reconcile.accept", person.id, run.uid, sku=row["sku"], target=target)
    return job


def latest(location_id: str) -> ReconciliationRun | None:
    return (ReconciliationRun.select().where(ReconciliationRun.location_id == location_id)
            .order_by(ReconciliationRun.id.desc()).first())


