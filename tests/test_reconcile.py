"""Reconciliation's report: every difference with its likely cause; nothing changes by itself."""
import pytest

from pos_core import fulfillments, ledger, online_orders, outbox, reconcile
from pos_core.errors import InvalidInput, PermissionDenied, StateError
from pos_core.models import OutboxJob, StockLevel
from pos_core.reconcile import ShopifyLevel

from helpers import cash_sale
from test_online_orders import COD, node

LHR = "gid://shopify/Location/1"


def item(v):
    return v.shopify_inventory_item_id


def test_three_planted_differences_get_three_causes(site):
    cash_sale(site, [(site.kurta, 2)])                         # 1: a sale still in the outbox
    order, _ = online_orders.record_from_shopify(node(site, [("L1", site.suit, 3)]), COD)
    online_orders.record_from_shopify(node(site, [("L1", site.suit, 3)], updated="2026-11-23T11:00:00Z",
                                           fulfilled={"L1": 3}), COD)  # 2: fulfilled in Shopify admin
    shopify = [ShopifyLevel(item(site.kurta), 50, 50),          # Shopify has not seen the sale yet
               ShopifyLevel(item(site.suit), 47, 47),           # Shopify deducted the admin fulfillment
               ShopifyLevel(item(site.book), 45, 45),           # 3: someone edited Shopify by hand (-5)
               ShopifyLevel(item(site.lipstick), 50, 50)]       # agrees
    assert not reconcile.outbox_clear(LHR)
    run = reconcile.compare(LHR, shopify, cost_used=12)
    rows = {r["sku"]: r for r in run.differences}
    assert set(rows) == {"1001", "1002", "1003"}
    assert rows["1001"]["unexplained"] == 0 and rows["1001"]["causes"][0].startswith("-2 still in the outbox")
    assert rows["1002"]["unexplained"] == 0 and any("Branch Sync" in c for c in rows["1002"]["causes"])
    assert rows["1003"]["unexplained"] == -5 and any("directly in Shopify" in c for c in rows["1003"]["causes"])
    # the report changes nothing
    assert ledger.on_hand(site.book.id, site.lhr.id) == 50
    assert OutboxJob.select().where(OutboxJob.kind == "inventory_set").count() == 0
    with pytest.raises(PermissionDenied):
        reconcile.accept(run.uid, item(site.book), site.cashier.id)
    with pytest.raises(InvalidInput, match="explained"):
        reconcile.accept(run.uid, item(site.kurta), site.manager.id)
    job = reconcile.accept(run.uid, item(site.book), site.manager.id)
    assert job.payload["quantity"] == 50 and job.payload["changeFromQuantity"] == 45
    assert job.payload["name"] == "available" and job.payload["locationId"] == LHR
    with pytest.raises(StateError):
        reconcile.accept(run.uid, item(site.book), site.manager.id)
    assert reconcile.latest(LHR).uid == run.uid


def test_packed_online_units_explain_a_difference(site):
    order, _ = online_orders.record_from_shopify(node(site, [("L1", site.lipstick, 2)]), COD)
    f = fulfillments.create(order.id, site.lhr.id, site.cashier.id)
    fulfillments.pack(f.uid, site.cashier.id)
    run = reconcile.compare(LHR, [ShopifyLevel(item(site.lipstick), 48, 50)])
    (row,) = run.differences
    assert row["unexplained"] == 0 and any("packed" in c for c in row["causes"])


def test_shared_location_sums_its_branches(site):
    from pos_core.models import Branch
    Branch.update(shopify_location_id=LHR).execute()
    run = reconcile.compare(LHR, [ShopifyLevel(item(site.book), 100, 100)])
    assert run.differences == []
    OutboxJob.delete().execute()
    assert reconcile.outbox_clear(LHR)
    assert StockLevel.select().count() > 0
    assert outbox.queue_depths()["shopify"] == {}


def test_a_manual_fulfillment_is_not_blamed_on_shopify(site):
    """Issue 12 item 7: Shopify still holds the manually shipped units as committed; the report
    must explain them, and offer no correction (one would make Shopify's stock wrong)."""
    order, _ = online_orders.record_from_shopify(node(site, [("L1", site.book, 3)]), COD)
    fulfillments.manual(order.id, site.lhr.id, site.cashier.id, {order.lines[0].id: 2}, note="handed to rider")
    assert ledger.on_hand(site.book.id, site.lhr.id) == 48
    run = reconcile.compare(LHR, [ShopifyLevel(item(site.book), 47, 50)])   # 3 committed, 50 on hand
    (row,) = run.differences
    assert row["unexplained"] == 0, row
    assert any("Manual Fulfillment" in c for c in row["causes"])
    assert not any("directly in Shopify" in c for c in row["causes"])
    with pytest.raises(InvalidInput, match="explained"):
        reconcile.accept(run.uid, item(site.book), site.manager.id)
    # once the order is fulfilled in Shopify, Shopify's on-hand drops and nothing is left to explain
    online_orders.record_from_shopify(node(site, [("L1", site.book, 3)], updated="2026-11-23T11:00:00Z",
                                           fulfilled={"L1": 2}), COD)
    assert reconcile.compare(LHR, [ShopifyLevel(item(site.book), 47, 48)]).differences == []
