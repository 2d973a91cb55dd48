"""Issue 14 with real processes: a branch agent and a head-office agent both running, the Shopify
simulator over real HTTP. The branch has no Shopify token at all: its sale's stock change and its
online shipment reach Shopify through the head office's agent, exactly once, although that agent
is SIGKILLed while the stock change is on the wire (and twice more during a burst of sales while
Shopify drops, fails and loses answers); its delivered tag is added once; a Manual
Fulfillment (which writes nothing to Shopify, by design) sends nothing; the outcomes reach the branch."""
from __future__ import annotations

import random
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal

import httpx
import pytest

from chain_kit import (REPO, Agent, PG_URL, at, drop_hq, map_to_shop, new_branch_db, new_hq, open_for_trade,
                       role_url, wait_for)
from pos_core import db, fulfillments, hq, ledger, online_orders, outbox, sales
from pos_core.config import write_private
from pos_core.models import Branch, Fulfillment, OutboxJob, SmartOrder, Staff, Variant
from pos_core.policy import SalePolicy
from simulators.shopify.server import start
from sync_agent.testing import available, sim_adjustments, sim_post, sim_state

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs POS_TEST_PG_URL (the head office is PostgreSQL)")
TOKEN = "shpat_chain_process_5e6f7a8b"
SHOPIFY = SalePolicy(shopify_enabled=True)


def test_branch_shopify_work_goes_through_the_head_office_agent_once(tmp_path):
    shop = start(port=0, data_dir=tmp_path / "shop", seed_products=0, token=TOKEN)
    hq_url, hq_name = new_hq()
    agents: list[Agent] = []
    try:
        with at(hq_url):
            hq.add_branch("LHR1")
        m = map_to_shop(hq_url, shop.url)
        lhr_loc, item = m["locations"]["LHR1"], m["items"]["1002"]
        token_file = tmp_path / "shopify.token"
        write_private(token_file, TOKEN + "\n")
        locs = "\n".join(f'{c} = "{g}"' for c, g in m["locations"].items())
        (tmp_path / "hq.toml").write_text(
            f'[database]\nurl = "{hq_url}"\n'
            f'[shopify]\nenabled = true\nshop = "rang-e-bahar.myshopify.com"\nendpoint = "{shop.url}"\n'
            f'token_file = "{token_file}"\npoll_seconds = 5\n[shopify.locations]\n{locs}\n'
            f'[hq]\nrole = "head-office"\npush_seconds = "0.5"\n')
        lhr_url = new_branch_db(tmp_path / "LHR1.db")
        # Shopify on (the till makes Shopify jobs) but no token and no endpoint: the branch cannot
        # talk to Shopify, and does not need to
        (tmp_path / "lhr.toml").write_text(
            f'[database]\nurl = "{lhr_url}"\n[counter]\nbranch = "LHR1"\ncode = "C1"\n'
            f'[shopify]\nenabled = true\nshop = "rang-e-bahar.myshopify.com"\n'
            f'[hq]\nrole = "branch"\nurl = "{role_url(hq_name, "LHR1")}"\npush_seconds = "0.5"\ntimeout_seconds = 5\n')
        hq_agent = Agent(tmp_path / "hq.toml", tmp_path / "hq.log", POS_AGENT_BACKOFF="0.2,1")
        branch_agent = Agent(tmp_path / "lhr.toml", tmp_path / "lhr.log")
        agents = [hq_agent, branch_agent]
        for a in agents:
            a.start()

        def mapped():
            with at(lhr_url):
                return Variant.select().where(Variant.shopify_inventory_item_id.is_null(False)).count() == 4
        wait_for("Lahore to pull the mapped catalog", mapped, timeout=30)
        with at(lhr_url):
            counter, shift, cashier = open_for_trade("LHR1", qty=50)

        # -- a sale's stock change, with the head office's agent SIGKILLed while it is on the wire
        sim_post(shop.url, "faults", {"latency_ms": 4000, "scope": "mutations", "fields": ["inventoryAdjustQuantities"]})
        with at(lhr_url):
            v = Variant.get(Variant.sku == "1002")
            order = sales.complete_sale(SHOPIFY, counter_id=counter.id, shift_id=shift.id, staff_id=cashier.id,
                                        lines=[sales.SaleLine(v.id, 2)],
                                        tenders=[sales.Tender("cash", Decimal(v.price_paisa) * 2 / 100)])
            job = outbox.jobs_for(order.uid, outbox.SHOPIFY)[0]

        def sending_at_hq():
            with at(hq_url):
                j = OutboxJob.get_or_none(OutboxJob.uid == job.uid)
                return j is not None and j.status == outbox.SENDING
        wait_for("the head office's agent to send the branch's change", sending_at_hq, timeout=30, every=0.1)
        time.sleep(1.0)          # the request is at the simulator, its answer not yet back
        hq_agent.kill9()
        # after the restart the answer to the first resend is lost too (applied, then dropped)
        sim_post(shop.url, "reset-faults", {})
        sim_post(shop.url, "faults", {"drop_after_rate": 1.0, "max_faults": 1, "scope": "mutations",
                                      "fields": ["inventoryAdjustQuantities"]})
        hq_agent.start()

        def synced_at_branch():
            with at(lhr_url):
                return OutboxJob.get(OutboxJob.uid == job.uid).status == outbox.SYNCED
        wait_for("the outcome to reach Lahore", synced_at_branch, timeout=60, every=0.3)
        changes = [a for a in sim_adjustments(shop.url, job.idempotency_key)
                   if a["source"] == "api" and a["name"] == "available"]
        assert [(a["inventoryItemId"], a["locationId"], a["delta"]) for a in changes] == [(item, lhr_loc, -2)]
        assert available(sim_state(shop.url), item, lhr_loc) == 98
        with at(hq_url):
            theirs = OutboxJob.get(OutboxJob.uid == job.uid)
            assert theirs.origin_branch == "LHR1" and theirs.idempotency_key == job.idempotency_key
            events = [h.get("event") for h in theirs.history]
            assert "interrupted" in events and "send_failed" in events, events   # the kill, the lost answer
        with at(lhr_url):
            mine = OutboxJob.get(OutboxJob.uid == job.uid)
            assert mine.via_hq and mine.result["quantityAfterChange"] == 98
            assert outbox.doc_status(order.uid, outbox.SHOPIFY) == outbox.DOC_SYNCED
            from pos_core import heartbeat
            beat = next(r for r in heartbeat.read() if r["channel"] == "shopify")
            assert beat["last_contact_at"] is None and beat["detail"]["via"] == "head-office"
        # -- a burst of sales while Shopify drops, fails and loses answers and the head office's
        # agent is SIGKILLed twice more: every change applied once, under the key recorded for it
        sim_post(shop.url, "reset-faults", {})
        sim_post(shop.url, "faults", {"error_rate": 0.1, "drop_before_rate": 0.1, "drop_after_rate": 0.15,
                                      "scope": "mutations", "seed": 3})
        rng = random.Random(9)
        with at(lhr_url):
            items = list(Variant.select().order_by(Variant.sku))
        for i in range(24):
            with at(lhr_url):
                v = items[i % len(items)]
                sales.complete_sale(SHOPIFY, counter_id=counter.id, shift_id=shift.id, staff_id=cashier.id,
                                    lines=[sales.SaleLine(v.id, 1)],
                                    tenders=[sales.Tender("cash", Decimal(v.price_paisa) / 100)])
            time.sleep(rng.uniform(0.05, 0.3))
            if i in (7, 16):
                hq_agent.kill9()
                hq_agent.start()

        def all_synced_at_branch():
            with at(lhr_url):
                return OutboxJob.select().where(OutboxJob.status != outbox.SYNCED).count() == 0
        wait_for("every change's outcome at Lahore", all_synced_at_branch, timeout=90, every=0.5)
        sim_post(shop.url, "reset-faults", {})
        with at(hq_url):
            sent = list(OutboxJob.select().where((OutboxJob.kind == "inventory_adjust") & (OutboxJob.origin_branch == "LHR1")))
            want = Counter((j.result["idempotencyKey"], j.payload["inventoryItemId"], j.payload["locationId"],
                            j.payload["delta"]) for j in sent)
        got = Counter((a["idempotencyKey"], a["inventoryItemId"], a["locationId"], a["delta"])
                      for a in sim_adjustments(shop.url) if a["source"] == "api" and a["name"] == "available")
        assert len(sent) == 25 and got == want
        st = sim_state(shop.url)
        with at(lhr_url):
            sold = {v.sku: 50 - ledger.on_hand(v.id, Branch.get(Branch.code == "LHR1").id) for v in items}
        assert {sku: 100 - available(st, m["items"][sku], lhr_loc) for sku in sold} == sold   # Shopify = the ledger

        status = subprocess.run([sys.executable, "-m", "sync_agent", "--config", str(tmp_path / "lhr.toml"), "status"],
                                cwd=REPO, capture_output=True, text=True, timeout=60)
        assert status.returncode == 0 and "shopify via the head office" in status.stdout, status.stdout + status.stderr
        jobs = subprocess.run([sys.executable, "-m", "pos_core.admin", "--config", str(tmp_path / "lhr.toml"), "jobs",
                               "--all"], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert f"{job.uid}  shopify" in jobs.stdout and "(sent by the head office)" in jobs.stdout, jobs.stdout

        # -- an online shipment from Lahore: the head office polls the order, Lahore packs and
        # dispatches it, the head office's agent creates the fulfillment in Shopify once
        sim_post(shop.url, "reset-faults", {})
        codes = {loc["id"]: loc["code"] for loc in sim_state(shop.url)["locations"]}
        made = sim_post(shop.url, "orders", {
            "action": "create", "gateway": "Cash on Delivery (COD)", "location": codes[lhr_loc],
            "customer": {"firstName": "Hina", "lastName": "Baig", "phone": "+923001234567"},
            "phone": "+923001234567", "lines": [{"sku": "1004", "quantity": 1}, {"sku": "1003", "quantity": 1}],
            "shippingAddress": {"firstName": "Hina", "lastName": "Baig", "address1": "House 12", "city": "Lahore",
                                "phone": "+923001234567"}})["order"]

        def order_at_branch():
            with at(lhr_url):
                so = SmartOrder.get_or_none(SmartOrder.shopify_id == made["id"])
                return so is not None and len(so.lines) == 2
        wait_for("the online order to reach Lahore through the head office", order_at_branch, timeout=60, every=0.5)
        with at(lhr_url):
            so = online_orders.get(made["id"])
            lhr = Branch.get(Branch.code == "LHR1")
            manager = Staff.get(Staff.code == "imran")
            line = {l.variant.sku: l for l in so.lines}
            f = fulfillments.create(so.id, lhr.id, manager.id, {line["1004"].id: 1})
            fulfillments.pack(f.uid, manager.id)
            fulfillments.dispatch(f.uid, manager.id, "TCS", "CHAIN-1", shopify_enabled=True)
            fjob = next(j for j in outbox.jobs_for(f.uid, outbox.SHOPIFY) if j.kind == "fulfillment_create")

        def fulfilled_at_branch():
            with at(lhr_url):
                return bool(Fulfillment.get(Fulfillment.uid == f.uid).shopify_fulfillment_id)
        wait_for("the fulfillment's id to reach Lahore", fulfilled_at_branch, timeout=60, every=0.3)
        api = httpx.get(f"{shop.url}/_sim/orders").json()["apiFulfillments"]
        mine = [x for x in api if x["orderId"] == made["id"]]
        assert [(x["trackingNumbers"], x["locationId"]) for x in mine] == [(["CHAIN-1"], lhr_loc)]
        with at(lhr_url):
            assert OutboxJob.get(OutboxJob.uid == fjob.uid).status == outbox.SYNCED
            fid = Fulfillment.get(Fulfillment.uid == f.uid).shopify_fulfillment_id
            assert fid == mine[0]["id"]
            assert ledger.check() == []

        def id_at_hq():   # the branch's row, with the id it learned, went back up
            with at(hq_url):
                return Fulfillment.get_or_none(Fulfillment.uid == f.uid) is not None and \
                    Fulfillment.get(Fulfillment.uid == f.uid).shopify_fulfillment_id == fid
        wait_for("the shipment's Shopify id at the head office", id_at_hq, timeout=30)
        with at(hq_url):
            theirs = OutboxJob.get(OutboxJob.uid == fjob.uid)
            assert theirs.origin_branch == "LHR1" and not (theirs.result or {}).get("once")   # the mark lived here

        # delivered (a tagsAdd, which Shopify does not deduplicate) and the other line sent by Manual
        # Fulfillment (which writes nothing to Shopify, by design: nothing for anyone to send)
        with at(lhr_url):
            fulfillments.deliver(f.uid, manager.id, shopify_enabled=True)
            tag = next(j for j in outbox.jobs_for(made["id"], outbox.SHOPIFY) if j.kind == "tags_add")
            manual = fulfillments.manual(so.id, lhr.id, manager.id, {line["1003"].id: 1}, note="handed over at the counter")
            assert outbox.jobs_for(manual.uid, outbox.SHOPIFY) == []

        def tagged_at_branch():
            with at(lhr_url):
                return OutboxJob.get(OutboxJob.uid == tag.uid).status == outbox.SYNCED
        wait_for("the delivered tag's outcome at Lahore", tagged_at_branch, timeout=60, every=0.3)
        order_now = httpx.get(f"{shop.url}/_sim/orders", params={"id": made["id"]}).json()["orders"][0]
        assert "pos-delivered" in order_now["tags"]
        assert len(httpx.get(f"{shop.url}/_sim/orders").json()["apiFulfillments"]) == 1   # the manual one: none

        def manual_at_hq():
            with at(hq_url):
                return Fulfillment.get_or_none(Fulfillment.uid == manual.uid) is not None
        wait_for("the manual fulfillment at the head office", manual_at_hq, timeout=30)
        with at(hq_url):
            assert OutboxJob.get(OutboxJob.uid == tag.uid).origin_branch == "LHR1"
            assert OutboxJob.select().where(OutboxJob.doc_ref == manual.uid).count() == 0
            assert hq.parked() == []
            assert ledger.check() == []
    finally:
        for a in agents:
            a.stop()
        db.close()
        shop.stop()
        drop_hq(hq_name)
