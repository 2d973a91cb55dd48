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
                     StockMovement, Transfer, Variant)


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


# --- a location shared by several branches (issue 14) ---------------------------------------------
# Movements whose document tells Shopify of them (one `available` delta per variant and branch).
# The others are not pushed by design: opening stock, online-order packing, Manual Fulfillment,
# Branch Sync, Fix Branch Stock, exchange returns (their units are explained by the causes above).
TOLD_KINDS = ("sale", "refund", "adjustment", "receipt", "online-return")
TRANSFER_KINDS = ("transfer-out", "transfer-in", "transfer-fix")   # told only between two locations


def by_branch(location_id: str, items: dict[str, int]) -> dict[str, dict[str, dict]]:
    """Per inventory item, per branch mapped to the location: {"ledger", "packed", "manual",
    "pending", "told", "moved"}. `moved` is what the branch's ledger moved by documents that tell
    Shopify; `told` what its Shopify jobs at the location say (sent or not: the unsent ones are also
    in `pending`). `told - moved` is the branch's share of the location's difference: units that
    moved at that branch and that Shopify was never told about (see docs/sync.md)."""
    branches = {b.id: b.code for b in Branch.select().where(Branch.shopify_location_id == location_id)}
    by_variant = {vid: item for item, vid in items.items()}
    out: dict[str, dict[str, dict]] = {item: {code: {"ledger": 0, "packed": 0, "manual": 0, "pending": 0,
                                                    "told": 0, "moved": 0} for code in branches.values()}
                                       for item in items}
    for vid, bid, qty in (StockLevel.select(StockLevel.variant, StockLevel.branch, StockLevel.on_hand)
                          .where(StockLevel.branch.in_(list(branches))).tuples()):
        if vid in by_variant:
            out[by_variant[vid]][branches[bid]]["ledger"] = int(qty)
    for vid, bid, qty in (FulfillmentLine.select(FulfillmentLine.variant, Fulfillment.branch, fn.SUM(FulfillmentLine.qty))
                          .join(Fulfillment).where((Fulfillment.mode == "smart") & (Fulfillment.status == "PACKED")
                                                   & Fulfillment.branch.in_(list(branches)))
                          .group_by(FulfillmentLine.variant, Fulfillment.branch).tuples()):
        if vid in by_variant:
            out[by_variant[vid]][branches[bid]]["packed"] = int(qty)
    for bid, code in branches.items():
        for vid, n in manual_not_in_shopify([bid]).items():
            if vid in by_variant:
                out[by_variant[vid]][code]["manual"] += n
    for job in OutboxJob.select(OutboxJob.payload, OutboxJob.status).where(
            (OutboxJob.channel == outbox.SHOPIFY) & (OutboxJob.kind == "inventory_adjust")):
        p = job.payload or {}
        row = out.get(p.get("inventoryItemId"), {}).get(p.get("branch"))
        if p.get("locationId") == location_id and row is not None:
            row["told"] += int(p.get("delta", 0))
            if job.status != outbox.SYNCED:
                row["pending"] += int(p.get("delta", 0))
    for vid, bid, qty in (StockMovement.select(StockMovement.variant, StockMovement.branch, fn.SUM(StockMovement.delta))
                          .where(StockMovement.branch.in_(list(branches)) & StockMovement.kind.in_(TOLD_KINDS))
                          .group_by(StockMovement.variant, StockMovement.branch).tuples()):
        if vid in by_variant:
            out[by_variant[vid]][branches[bid]]["moved"] += int(qty)
    between: dict[str, bool] = {}
    for vid, bid, ref, qty in (StockMovement.select(StockMovement.variant, StockMovement.branch, StockMovement.doc_ref,
                                                    fn.SUM(StockMovement.delta))
                               .where(StockMovement.branch.in_(list(branches)) & StockMovement.kind.in_(TRANSFER_KINDS))
                               .group_by(StockMovement.variant, StockMovement.branch, StockMovement.doc_ref).tuples()):
        if ref not in between:
            t = Transfer.get_or_none(Transfer.number == ref)
            between[ref] = t is not None and t.from_branch.shopify_location_id != t.to_branch.shopify_location_id
        if vid in by_variant and between[ref]:
            out[by_variant[vid]][branches[bid]]["moved"] += int(qty)
    return out


def _explained(r: dict, short: bool = False) -> list[str]:
    """The known causes of a difference: changes on their way, packed and manually sent units."""
    out = []
    if r["pending"]:
        out.append(f"{r['pending']:+} still in the outbox" + ("" if short else " (a movement not yet applied in Shopify)"))
    if r["packed"]:
        out.append(f"{r['packed']} packed for online orders, not yet dispatched")
    if r["manual"]:
        out.append(f"{r['manual']} sent by Manual Fulfillment" + (", not fulfilled in Shopify yet" if short else
                   " and not fulfilled in Shopify yet (Shopify still counts them for the order: fulfil it in Shopify)"))
    return out


def _branch_rows(shares: dict[str, dict]) -> list[dict]:
    rows = []
    for code, r in sorted(shares.items()):
        rows.append({"branch": code, "ledger_on_hand": r["ledger"], "explained": _explained(r, short=True),
                     "unexplained": r["told"] - r["moved"], "accepted": False})
    return rows


def compare(location_id: str, shopify: list[ShopifyLevel], cost_used: int = 0) -> ReconciliationRun:
    """Record a report of every item whose Shopify on-hand differs from the ledger's account.
    A location several branches share is compared with the sum of their ledgers, and each
    difference is split by branch (`branches`, `unattributed`; see by_branch)."""
    want = expected(location_id)
    shared = Branch.select().where(Branch.shopify_location_id == location_id).count() > 1
    shares = by_branch(location_id, {item: row["variant_id"] for item, row in want.items()}) if shared else {}
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
        causes = _explained(row)
        if row["unsynced"]:
            causes.append(f"{row['unsynced']} fulfilled in Shopify, waiting for Branch Sync")
        if diff:
            causes.append(f"{diff:+} changed directly in Shopify (admin edit or app)")
        variant = Variant.get_by_id(row["variant_id"])
        entry = {"inventoryItemId": level.inventory_item_id, "sku": variant.sku, "name": variant.name,
                 "shopify_on_hand": level.on_hand, "shopify_available": level.available,
                 "ledger_on_hand": row["ledger"], "unexplained": diff, "causes": causes, "accepted": False}
        if shared:
            entry["branches"] = _branch_rows(shares[level.inventory_item_id])
            entry["unattributed"] = diff - sum(b["unexplained"] for b in entry["branches"])
            if diff:
                causes.pop()   # the total "changed directly in Shopify" is replaced by who it is
                causes += [f"{b['unexplained']:+} at {b['branch']}: moved there and never told to Shopify"
                           for b in entry["branches"] if b["unexplained"]]
                if entry["unattributed"]:
                    causes.append(f"{entry['unattributed']:+} changed directly in Shopify (no branch)")
        diffs.append(entry)
    with db.write():
        return ReconciliationRun.create(location_id=location_id, items_compared=len(shopify),
                                        differences=sorted(diffs, key=lambda d: d["sku"]), cost_used=cost_used)


def accept(run_uid: str, inventory_item_id: str, staff_id: int, branch: str | None = None) -> OutboxJob:
    """Queue a correction of an unexplained difference, with CAS on the `available` read.
    On a location several branches share, a correction is one branch's part (`branch`), or with
    branch "" the part changed directly in Shopify: a delta each, named in the job and the audit."""
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
        if "branches" in row:
            return _accept_share(run, rows, row, person, branch)
        if branch:
            raise InvalidInput(f"{run.location_id} is one branch's location; accept the correction without a branch")
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


def _accept_share(run: ReconciliationRun, rows: list[dict], row: dict, person, branch: str | None) -> OutboxJob:
    """One branch's part of a shared location's difference (inside accept's transaction)."""
    if branch is None:
        raise InvalidInput(f"{row['sku']}: {run.location_id} is shared by "
                           f"{', '.join(b['branch'] for b in row['branches'])}; name the branch whose part "
                           "you correct (or \"\" for the part changed directly in Shopify)")
    if branch:
        part = next((b for b in row["branches"] if b["branch"] == branch.upper()), None)
        if part is None:
            raise NotFound(f"{branch.upper()} is not a branch of {run.location_id}")
        units, accepted = part["unexplained"], part["accepted"]
    else:
        part, units, accepted = None, row.get("unattributed", 0), row.get("unattributed_accepted", False)
    who = part["branch"] if part else "no branch"
    if accepted:
        raise StateError(f"the correction of {row['sku']} for {who} was already accepted")
    if not units:
        raise InvalidInput(f"{row['sku']}: {who} has no unexplained difference; nothing to correct")
    variant = Variant.get_or_none(Variant.sku == row["sku"])
    job = outbox.enqueue(outbox.SHOPIFY, "inventory_adjust", {
        "inventoryItemId": row["inventoryItemId"], "locationId": run.location_id, "delta": -units,
        "name": "available", "reason": "correction", "sku": row["sku"],
        "variantId": variant.id if variant else None, "branch": part["branch"] if part else None,
        "referenceDocumentUri": f"gid://pk-pos/Reconciliation/{run.uid}",
    }, "reconciliation", run.uid)
    if part:
        part["accepted"] = True
    else:
        row["unattributed_accepted"] = True
    row["accepted"] = all(b["accepted"] or not b["unexplained"] for b in row["branches"]) and (
        not row.get("unattributed") or row.get("unattributed_accepted", False))
    run.differences = rows
    run.save()
    audit.log("reconcile.accept", person.id, run.uid, sku=row["sku"], branch=who, delta=-units,
              location=run.location_id)
    return job


def latest(location_id: str) -> ReconciliationRun | None:
    return (ReconciliationRun.select().where(ReconciliationRun.location_id == location_id)
            .order_by(ReconciliationRun.id.desc()).first())


