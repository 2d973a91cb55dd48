"""Issue 16: a Shopify discount code used up at the till is ended in Shopify (real HTTP to the Shopify
simulator, the agent's own job runner): the job is made in the sale's transaction, the code then
shows inactive in Shopify, a lost answer is resent harmlessly, and Shopify's userErrors (or a
discount whose other codes would stop too) leave the job FAILED with a message a person can act on."""
from __future__ import annotations

import json
from decimal import Decimal as D

import httpx
import pytest

from chain_kit import at, pull_until
from helpers import POLICY, PLAIN
from pos_core import customers, outbox, sales, shopify_relay
from pos_core.config import ShopifyConfig
from pos_core.models import Coupon, OutboxJob, Variant
from pos_core.policy import SalePolicy
from simulators.shopify.server import start
from sync_agent import orders
from sync_agent.discounts import import_discount_codes
from sync_agent.shopify.client import ShopifyClient
from pos_tui.app import make_app
from test_chain_workflows import _trade, link, needs_pg, sites, staff_id, sync  # noqa: F401
from test_till_kit import (barcode_of, make_config, open_shift, screen_text, settle, start_selling,  # noqa: F401
                           till_db, type_text)

TOKEN = "shpat_writeback_test_token"
DISCOUNTS = [
    {"title": "Parcel 10%", "codes": ["PARCEL-77"], "percentage": 0.1, "usageLimit": 1},
    {"title": "Twice", "codes": ["TWICE"], "amount": "100.00", "usageLimit": 2},
    {"title": "Gone soon", "codes": ["GONE-1"], "percentage": 0.05, "usageLimit": 1},
    {"title": "Parcel batch", "codes": ["BATCH-1", "BATCH-2"], "percentage": 0.1, "usageLimit": 1},
    {"title": "VIP once each", "codes": ["VIP"], "percentage": 0.05, "appliesOncePerCustomer": True},
]


@pytest.fixture
def shop(tmp_path):
    (tmp_path / "seed.json").write_text(json.dumps({"discounts": DISCOUNTS}))
    handle = start(port=0, data_dir=tmp_path, token=TOKEN)
    yield handle
    handle.stop()


@pytest.fixture
def client(shop, site):
    c = ShopifyClient(ShopifyConfig(enabled=True, shop="x", endpoint=shop.url), token=TOKEN)
    import_discount_codes(c)
    yield c
    c.close()


def _sim_discounts(shop) -> dict[str, dict]:
    rows = httpx.get(f"{shop.url}/_sim/discounts").json()["discounts"]
    return {code: d for d in rows for code in d["codes"]}


def _sell(site, code, policy=POLICY, customer_id=None):
    return sales.complete_sale(policy, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.cashier.id,
                               lines=[sales.SaleLine(site.lipstick.id, 2)], tenders=[sales.Tender("cash", D("5000"))],
                               coupon_code=code, customer_id=customer_id)


def _writebacks(order=None) -> list[OutboxJob]:
    q = OutboxJob.select().where(OutboxJob.kind == "discount_deactivate")
    if order is not None:
        q = q.where(OutboxJob.doc_ref == order.uid)
    return list(q.order_by(OutboxJob.id))


def test_a_single_use_code_used_at_the_till_ends_in_shopify_once(site, shop, client):
    order = _sell(site, "PARCEL-77")
    [job] = _writebacks(order)                                   # made with the sale
    assert (job.channel, job.status, job.payload["code"]) == ("shopify", "PENDING", "PARCEL-77")
    assert job.payload["discountId"] == _sim_discounts(shop)["PARCEL-77"]["id"]
    # the answer to the first attempt is lost after Shopify applied it: resent, ended once
    httpx.post(f"{shop.url}/_sim/faults", json={"drop_after_rate": 1.0, "scope": "mutations",
                                               "fields": ["discountCodeDeactivate"], "max_faults": 1})
    assert orders.run_jobs(client, backoff_base=0.01) == {"synced": 1, "failed": 0, "deferred": 0}
    assert shop.sim.faults.injected == 1
    job = OutboxJob.get_by_id(job.id)
    assert job.status == "SYNCED" and job.result["status"] == "EXPIRED"
    assert _sim_discounts(shop)["PARCEL-77"]["status"] == "EXPIRED"     # no longer usable online
    assert outbox.doc_status(order.uid, "shopify") in ("PENDING", "SYNCED")   # stock jobs may still wait
    # sent again (a person's retry, a crash while SENDING): Shopify is read first, nothing is sent
    OutboxJob.update(status="PENDING").where(OutboxJob.id == job.id).execute()
    assert orders.run_jobs(client)["synced"] == 1
    assert OutboxJob.get_by_id(job.id).result["found_existing"] is True
    import_discount_codes(client)                                # and the tills hear it is over
    assert not Coupon.get(Coupon.code == "PARCEL-77").active


def test_only_the_use_that_reaches_the_limit_is_written_back(site, shop, client):
    sana = customers.get_or_create("03001234567", "Sana")
    _sell(site, "VIP", customer_id=sana.id)    # once per customer, no total limit: counted here only
    first = _sell(site, "TWICE")
    assert _writebacks() == []
    second = _sell(site, "TWICE")
    assert [j.doc_ref for j in _writebacks()] == [second.uid] and first.uid != second.uid
    _sell(site, "BATCH-1", policy=PLAIN)       # Shopify not enabled at this shop: no job
    assert len(_writebacks()) == 1
    orders.run_jobs(client)
    assert _sim_discounts(shop)["TWICE"]["status"] == "EXPIRED"
    assert _sim_discounts(shop)["VIP"]["status"] == "ACTIVE"


def test_a_userError_or_a_discount_with_other_codes_fails_the_job_with_the_reason(site, shop, client):
    gone = _sell(site, "GONE-1")
    batch = _sell(site, "BATCH-1")
    # the discount is deleted in Shopify admin before the agent gets to it: Shopify's userError shows
    assert httpx.post(f"{shop.url}/_sim/discounts",
                      json={"action": "delete", "id": _sim_discounts(shop)["GONE-1"]["id"]}).json() == {"deleted": True}
    assert orders.run_jobs(client) == {"synced": 0, "failed": 2, "deferred": 0}
    [g] = _writebacks(gone)
    assert g.status == "FAILED"
    assert g.last_error == "Shopify refused it: Discount does not exist [INVALID] at id"
    [b] = _writebacks(batch)
    assert b.status == "FAILED" and "has 2 codes" in b.last_error and "BATCH-1" in b.last_error
    assert _sim_discounts(shop)["BATCH-2"]["status"] == "ACTIVE"      # its other code still works
    assert outbox.doc_status(gone.uid, "shopify") == "FAILED"          # the sale shows it needs a look


@needs_pg
def test_in_a_chain_codes_used_up_at_branches_end_in_shopify_through_the_head_office(sites, shop):
    """TWICE (usage limit 2) is used once at each branch while both are offline: neither branch
    reaches the limit, the head office counts both uses and its agent ends the code. PARCEL-77
    (single use) is used up at Lahore: Lahore's job goes to Shopify through the head office (its
    agent sends branches' Shopify jobs), beside the head office's own; the second finds it ended."""
    s = sites
    with at(s["hq"]):
        c = ShopifyClient(ShopifyConfig(enabled=True, shop="x", endpoint=shop.url), token=TOKEN)
        import_discount_codes(c)
        c.close()
    for code in ("LHR1", "KHI1"):
        with at(s[code]):
            ln = link(s, code)
            pull_until(ln, lambda: Coupon.get_or_none(Coupon.code == "TWICE") is not None)
            ln.close()

    def sell(code, coupon):
        counter, shift = _trade(code)
        v = Variant.get(Variant.sku == "1004")
        return sales.complete_sale(SalePolicy(shopify_enabled=True), counter_id=counter.id, shift_id=shift.id,
                                   staff_id=staff_id("ayesha"), lines=[sales.SaleLine(v.id, 1)],
                                   tenders=[sales.Tender("cash", D("2000"))], coupon_code=coupon)
    with at(s["LHR1"]):                             # both offline now
        sell("LHR1", "TWICE")
        assert _writebacks() == []                   # one use of two, as far as Lahore knows
        parcel = sell("LHR1", "PARCEL-77")
        [mine] = _writebacks(parcel)
        assert shopify_relay.hand_over("LHR1")["handed"] >= 1     # as Lahore's agent does before a push
    with at(s["KHI1"]):
        karachi = sell("KHI1", "TWICE")
        assert _writebacks() == []
    sync(s, "LHR1")
    sync(s, "KHI1")
    with at(s["hq"]):
        assert Coupon.get(Coupon.code == "TWICE").uses == 2
        jobs = _writebacks()
        assert sorted((j.payload["code"], j.doc_ref, j.origin_branch or "") for j in jobs) == sorted([
            ("TWICE", karachi.uid, ""), ("PARCEL-77", parcel.uid, ""), ("PARCEL-77", parcel.uid, "LHR1")])
        c = ShopifyClient(ShopifyConfig(enabled=True, shop="x", endpoint=shop.url), token=TOKEN)
        try:
            assert orders.run_jobs(c)["synced"] == 3
        finally:
            c.close()
        relayed = OutboxJob.get(OutboxJob.uid == mine.uid)
        assert relayed.status == "SYNCED"
        assert [j.result["found_existing"] for j in _writebacks() if j.payload["code"] == "PARCEL-77"].count(True) == 1
        shopify_relay.publish()
    assert _sim_discounts(shop)["TWICE"]["status"] == "EXPIRED"
    assert _sim_discounts(shop)["PARCEL-77"]["status"] == "EXPIRED"
    with at(s["LHR1"]):                              # Lahore hears the outcome of its own job
        ln = link(s, "LHR1")
        pull_until(ln, lambda: OutboxJob.get(OutboxJob.uid == mine.uid).status == "SYNCED")
        ln.close()


async def test_the_code_typed_at_the_till_ends_in_shopify_when_the_agent_runs(tmp_path, till_db, shop):
    c = ShopifyClient(ShopifyConfig(enabled=True, shop="x", endpoint=shop.url), token=TOKEN)
    try:
        import_discount_codes(c)
        open_shift()
        cfg = make_config(tmp_path, till_db, shopify={"enabled": True, "shop": "x", "endpoint": shop.url,
                                                      "token": TOKEN})
        app = make_app(cfg)
        async with app.run_test(size=(100, 30)) as pilot:
            await start_selling(pilot, app)
            await type_text(pilot, barcode_of("L3SU-BLA-OS"), enter=True)
            await pilot.press("ctrl+p")
            await pilot.pause()
            await type_text(pilot, "parcel-77", enter=True)
            assert "coupon PARCEL-77" in screen_text(app)
            await pilot.press("f10")
            await pilot.pause()
            await pilot.press("enter")                           # exact cash
            await settle(pilot, app)
        [job] = _writebacks()
        assert job.payload["code"] == "PARCEL-77" and _sim_discounts(shop)["PARCEL-77"]["status"] == "ACTIVE"
        assert orders.run_jobs(c)["synced"] == 1                 # the agent's pass
    finally:
        c.close()
    assert _sim_discounts(shop)["PARCEL-77"]["status"] == "EXPIRED"
