"""Reconciliation against the Shopify simulator: three planted differences with three causes,
and a correction refused by compare-and-swap when an online order lands in between."""
from decimal import Decimal

import httpx

from pos_core import outbox, reconcile, sales, shifts, branches
from pos_core.models import OutboxJob
from pos_core.policy import SalePolicy
from sync_agent import orders as agent_orders, reconcile as agent_reconcile

from test_agent_orders import env, item, place, poll, shopify_qty, sim  # noqa: F401  (fixtures)


def test_three_causes_and_a_cas_conflict_during_the_correction(env):
    e = env
    a, b, c = item(e), item(e), item(e)
    counter = branches.create_counter(e.lhr, "C1")
    shift = shifts.open_shift(counter.id, e.clerk.id, Decimal("0"))
    # 1. a sale whose push failed and waits for a person
    sale = sales.complete_sale(SalePolicy(shopify_enabled=True), counter_id=counter.id, shift_id=shift.id,
                               staff_id=e.clerk.id, lines=[sales.SaleLine(a.id, 2)],
                               tenders=[sales.Tender("cash", Decimal("5000"))])
    OutboxJob.update(status="FAILED", last_error="planted").where(OutboxJob.doc_ref == sale.uid).execute()
    # 2. an online order fulfilled in Shopify admin, not yet branch-synced
    order = place(e, (b, 1))
    poll(e)
    httpx.post(f"{e.sim.url}/_sim/orders", json={"action": "fulfill", "id": order["id"]}).raise_for_status()
    poll(e)
    # 3. someone edits c's stock in Shopify admin
    httpx.post(f"{e.sim.url}/_sim/inventory", json={"inventoryItemId": c.shopify_inventory_item_id,
                                                    "locationId": e.loc["LHR-01"],
                                                    "quantities": {"available": 7}}).raise_for_status()
    (run,) = agent_reconcile.run(e.client, e.loc["LHR-01"])
    rows = {r["sku"]: r for r in run.differences}
    assert set(rows) == {a.sku, b.sku, c.sku}
    assert rows[a.sku]["unexplained"] == 0 and "outbox" in rows[a.sku]["causes"][0]
    assert rows[b.sku]["unexplained"] == 0 and "Branch Sync" in rows[b.sku]["causes"][0]
    assert rows[c.sku]["unexplained"] == -3 and "directly in Shopify" in rows[c.sku]["causes"][0]
    assert run.cost_used > 0 and run.items_compared >= 3

    reconcile.accept(run.uid, c.shopify_inventory_item_id, e.manager.id)
    place(e, (c, 1))  # an online order moves available -> committed before the correction goes out
    assert agent_orders.run_jobs(e.client)["failed"] == 1
    job = OutboxJob.get(OutboxJob.kind == "inventory_set")
    assert job.status == "FAILED", job.last_error
    assert "CHANGE_FROM_QUANTITY_STALE" in job.last_error, job.last_error
    assert shopify_qty(e, c, "LHR-01") == {"available": 6, "committed": 1, "on_hand": 7}  # nothing applied

    (again,) = agent_reconcile.run(e.client, e.loc["LHR-01"])
    row = next(r for r in again.differences if r["sku"] == c.sku)
    assert row["unexplained"] == -3
    reconcile.accept(again.uid, c.shopify_inventory_item_id, e.manager.id)
    assert agent_orders.run_jobs(e.client)["synced"] == 1
    assert shopify_qty(e, c, "LHR-01") == {"available": 9, "committed": 1, "on_hand": 10}
    assert outbox.doc_status(again.uid, "shopify") == "SYNCED"


def test_a_location_with_changes_on_the_way_is_not_compared(env):
    e = env
    a = item(e)
    counter = branches.create_counter(e.lhr, "C1")
    shift = shifts.open_shift(counter.id, e.clerk.id, Decimal("0"))
    sales.complete_sale(SalePolicy(shopify_enabled=True), counter_id=counter.id, shift_id=shift.id,
                        staff_id=e.clerk.id, lines=[sales.SaleLine(a.id, 1)], tenders=[sales.Tender("cash", Decimal("2500"))])
    assert agent_reconcile.run(e.client, e.loc["LHR-01"]) == []
    e.worker.run_once()
    (run,) = agent_reconcile.run(e.client, e.loc["LHR-01"])
    assert [r for r in run.differences if r["sku"] == a.sku] == []
