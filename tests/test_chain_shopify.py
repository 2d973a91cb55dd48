"""Issue 14: in a chain the head office's agent talks to Shopify. A branch's Shopify jobs go up to the
head office with their stored payload and key, are sent there once (over real HTTP to the Shopify
simulator) and their outcome comes back down to the branch.

Driven in this process like tests/test_chain_workflows.py: each `at(...)` block is one box; a link's
pass is the branch agent's hq channel; the head office's agent is `hq.apply_inbox()`, its outbox
worker and `shopify_relay.publish()`. The processes themselves are in test_chain_shopify_process.py."""
from __future__ import annotations

import json
from decimal import Decimal

import httpx
import psycopg2
import pytest

from chain_kit import (PG_URL, at, drop_hq, map_to_shop, new_branch_db, new_hq, open_for_trade, pull_until,
                       role_url, sync_until_sent)
from pos_core import db, hq, ledger, outbox, sales, shopify_relay
from pos_core.config import ShopifyConfig
from pos_core.models import OutboxJob, ShopifyRelay, Variant
from pos_core.policy import SalePolicy
from simulators.shopify.server import start
from sync_agent import orders as agent_orders
from sync_agent.hq.link import BranchLink
from sync_agent.outbox_worker import OutboxWorker
from sync_agent.shopify.client import ShopifyClient
from sync_agent.testing import available, sim_adjustments, sim_state

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs POS_TEST_PG_URL (the head office is PostgreSQL)")
TOKEN = "shpat_chain_relay_0a1b2c3d"
SHOPIFY = SalePolicy(shopify_enabled=True)


@pytest.fixture
def chain(tmp_path, request):
    """LHR1 and KHI1 on their own Shopify locations, or (param "shared") both on one."""
    shop = start(port=0, data_dir=tmp_path / "shop", seed_products=0, token=TOKEN)
    url, name = new_hq()
    with at(url):
        for code in ("LHR1", "KHI1"):
            hq.add_branch(code)
    mapping = map_to_shop(url, shop.url, shared=getattr(request, "param", "") == "shared")
    s = {"hq": url, "hq_name": name, "shop": shop, "map": mapping}
    for code in ("LHR1", "KHI1"):
        s[code] = new_branch_db(tmp_path / f"{code}.db", code)
        with at(s[code]):
            ln = link(s, code)
            pull_until(ln, lambda: Variant.select().where(Variant.shopify_inventory_item_id.is_null(False)).count() == 4)
            s[f"till_{code}"] = open_for_trade(code, qty=50)
            sync_until_sent(ln)
            ln.close()
    client = ShopifyClient(ShopifyConfig(enabled=True, shop="x", endpoint=shop.url), token=TOKEN)
    s["client"] = client
    yield s
    client.close()
    db.close()
    shop.stop()
    drop_hq(name)


def applied(s, key):
    """The `available` changes Shopify applied under this idempotency key."""
    return [a for a in sim_adjustments(s["shop"].url, key) if a["source"] == "api" and a["name"] == "available"]


def link(s, code) -> BranchLink:
    ln = BranchLink(role_url(s["hq_name"], code), "", code)
    ln.relay_shopify = True
    return ln


def branch_pass(s, code, test=None):
    """The branch agent's hq pass (hand over, push, pull), then pulls until `test()` holds there."""
    with at(s[code]):
        ln = link(s, code)
        shopify_relay.hand_over(code)
        sync_until_sent(ln)
        if test is not None:
            pull_until(ln, test)
        ln.close()


def office_pass(s) -> dict:
    """The head office's agent: apply the inbox, send Shopify work, publish the outcomes."""
    with at(s["hq"]):
        assert hq.apply_inbox()["parked"] == 0, hq.parked()
        sent = OutboxWorker(s["client"], backoff_base=0.01, backoff_cap=0.05).run_once()
        jobs = agent_orders.run_jobs(s["client"])
        shopify_relay.publish()
    return {"synced": sent.synced + jobs["synced"], "failed": sent.failed + jobs["failed"]}


def sell(s, code, sku, qty):
    counter, shift, cashier = s[f"till_{code}"]
    v = Variant.get(Variant.sku == sku)
    return sales.complete_sale(SHOPIFY, counter_id=counter.id, shift_id=shift.id, staff_id=cashier.id,
                               lines=[sales.SaleLine(v.id, qty)],
                               tenders=[sales.Tender("cash", Decimal(v.price_paisa) * qty / 100)])


def job_state(s, code, job_uid):
    with at(s[code]):
        return OutboxJob.get(OutboxJob.uid == job_uid)


def test_a_branch_sale_reaches_shopify_through_the_head_office_once(chain):
    s = chain
    item, lhr = s["map"]["items"]["1002"], s["map"]["locations"]["LHR1"]
    with at(s["LHR1"]):
        order = sell(s, "LHR1", "1002", 3)
        job = outbox.jobs_for(order.uid, outbox.SHOPIFY)[0]
        payload_text = json.dumps(job.payload, sort_keys=True, separators=(",", ":"))
        key = job.idempotency_key
    branch_pass(s, "LHR1")
    with at(s["LHR1"]):
        mine = OutboxJob.get(OutboxJob.uid == job.uid)
        assert mine.via_hq and mine.status == outbox.PENDING
        relay = ShopifyRelay.get(ShopifyRelay.job_uid == job.uid)
        assert relay.payload == payload_text and relay.idempotency_key == key
    assert office_pass(s)["synced"] == 1
    with at(s["hq"]):
        theirs = OutboxJob.get(OutboxJob.uid == job.uid)
        assert theirs.origin_branch == "LHR1" and theirs.status == outbox.SYNCED
        assert theirs.idempotency_key == key and theirs.payload == job.payload   # unchanged
        assert theirs.result["batch"]["first_sent_at"]                             # the key's age counts here
    assert [(a["inventoryItemId"], a["locationId"], a["delta"]) for a in applied(s, key)] == [(item, lhr, -3)]
    assert available(sim_state(s["shop"].url), item, lhr) == 97
    # the outcome comes down: the branch's document shows SYNCED, with Shopify's answer
    branch_pass(s, "LHR1", lambda: OutboxJob.get(OutboxJob.uid == job.uid).status == outbox.SYNCED)
    with at(s["LHR1"]):
        mine = OutboxJob.get(OutboxJob.uid == job.uid)
        assert mine.result["adjustmentGroupId"] and mine.result["quantityAfterChange"] == 97
        assert outbox.doc_status(order.uid, outbox.SHOPIFY) == outbox.DOC_SYNCED
        assert ShopifyRelay.get(ShopifyRelay.job_uid == job.uid).hq_status == outbox.SYNCED
        assert ledger.check() == []
    # passes after that send nothing again, at either end
    branch_pass(s, "LHR1")
    assert office_pass(s)["synced"] == 0
    assert len(applied(s, key)) == 1
    # Karachi's role cannot read Lahore's outcomes (row-level security at the head office)
    conn = psycopg2.connect(role_url(s["hq_name"], "KHI1"))
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM shopify_outcome")
        assert cur.fetchone()[0] == 0
    conn.close()
    conn = psycopg2.connect(role_url(s["hq_name"], "LHR1"))
    with conn.cursor() as cur:
        cur.execute("SELECT job_uid FROM shopify_outcome")
        assert cur.fetchall() == [(job.uid,)]
    conn.close()


def test_a_refusal_comes_down_and_a_retry_at_the_branch_is_done_at_the_head_office(chain):
    s = chain
    # the head office's mapping of 1003 is wrong when Lahore sells it: Shopify refuses the change
    with at(s["LHR1"]):
        with db.write():
            Variant.update(shopify_inventory_item_id="gid://shopify/InventoryItem/999999").where(
                Variant.sku == "1003").execute()
        order = sell(s, "LHR1", "1003", 1)
        job = outbox.jobs_for(order.uid, outbox.SHOPIFY)[0]
        old_key = job.idempotency_key
    branch_pass(s, "LHR1")
    assert office_pass(s)["failed"] == 1
    branch_pass(s, "LHR1", lambda: OutboxJob.get(OutboxJob.uid == job.uid).status == outbox.FAILED)
    mine = job_state(s, "LHR1", job.uid)
    assert "could not be found" in mine.last_error or "INVALID" in mine.last_error, mine.last_error
    assert outbox.summarise([mine.status]) == outbox.DOC_FAILED
    # a person at the branch retries: the request goes up; the head office, which saw Shopify's
    # answer, gives it a new key and the right item (its own mapping, found by SKU)
    with at(s["LHR1"]):
        retried = outbox.retry(job.uid)
        assert retried.status == outbox.PENDING and retried.idempotency_key == old_key
        assert ShopifyRelay.get(ShopifyRelay.job_uid == job.uid).retries == 1
    branch_pass(s, "LHR1")
    assert office_pass(s)["synced"] == 1
    with at(s["hq"]):
        theirs = OutboxJob.get(OutboxJob.uid == job.uid)
        assert theirs.status == outbox.SYNCED and theirs.idempotency_key != old_key
        assert theirs.payload["inventoryItemId"] == s["map"]["items"]["1003"]
        new_key = theirs.idempotency_key
    branch_pass(s, "LHR1", lambda: OutboxJob.get(OutboxJob.uid == job.uid).status == outbox.SYNCED)
    mine = job_state(s, "LHR1", job.uid)
    assert mine.idempotency_key == new_key
    assert any(h.get("event") == "retired_key" and h.get("key") == old_key for h in mine.history)
    assert [(a["inventoryItemId"], a["delta"]) for a in applied(s, new_key)] == [(s["map"]["items"]["1003"], -1)]
    assert sim_adjustments(s["shop"].url, old_key) == []
    # asking again for a job that is already SYNCED is refused at the branch
    with at(s["LHR1"]):
        with pytest.raises(Exception, match="SYNCED"):
            outbox.retry(job.uid)


def test_a_job_this_box_was_already_sending_is_not_handed_over(chain):
    """A job left SENDING (or with a stored batch) by the branch's own agent before it went through
    the head office: its answer was lost here, so sending it from the head office could apply it
    twice. It waits for a person; retried, it goes through the head office with its key."""
    s = chain
    with at(s["KHI1"]):
        order = sell(s, "KHI1", "1001", 2)
        job = outbox.jobs_for(order.uid, outbox.SHOPIFY)[0]
        with db.write():
            OutboxJob.update(status=outbox.SENDING, batch_uid="b-1", attempts=1).where(OutboxJob.id == job.id).execute()
        assert shopify_relay.hand_over("KHI1") == {"handed": 0, "held": 1}
        held = OutboxJob.get_by_id(job.id)
        assert held.status == outbox.NEEDS_RECONCILIATION and not held.via_hq and "compare in Shopify" in held.last_error
        assert ShopifyRelay.select().count() == 0
        outbox.retry(job.uid)
        assert shopify_relay.hand_over("KHI1") == {"handed": 1, "held": 0}
        assert OutboxJob.get_by_id(job.id).via_hq
    branch_pass(s, "KHI1")
    assert office_pass(s)["synced"] == 1
    khi = s["map"]["locations"]["KHI1"]
    assert available(sim_state(s["shop"].url), s["map"]["items"]["1001"], khi) == 98
    with at(s["hq"]):
        assert OutboxJob.get(OutboxJob.uid == job.uid).idempotency_key == job.idempotency_key


@pytest.mark.parametrize("chain", ["shared"], indirect=True)
def test_a_shared_location_is_reconciled_at_the_head_office_and_each_correction_names_its_branch(chain):
    """LHR1 and KHI1 sell from one Shopify location. Three differences are planted (stock that
    moved at a branch and never reached Shopify): LHR1 -2 of 1001 and +3 of 1002, KHI1 -4 of 1001.
    Besides them, KHI1's sale of 1003 reached Shopify and LHR1's sale of 1002 is still waiting at the
    head office: those are explained, not corrected. Plus a direct edit in Shopify of 1004 (+1),
    which is no branch's. At the head office the location is compared with the sum of both ledgers
    and each difference is split by branch; the corrections are one delta per branch, named."""
    from pos_core import adjustments, reconcile
    from pos_core.models import AuditEvent, Staff
    from sync_agent import reconcile as agent_reconcile
    from sync_agent.testing import sim_post
    s = chain
    loc, items = s["map"]["locations"]["LHR1"], s["map"]["items"]
    assert s["map"]["locations"]["KHI1"] == loc
    for code, changes in (("LHR1", [("1001", -2, "damaged"), ("1002", 3, "found")]), ("KHI1", [("1001", -4, "lost")])):
        with at(s[code]):
            b = Staff.get(Staff.code == "imran")
            branch_id = s[f"till_{code}"][0].branch_id
            for sku, delta, why in changes:
                adjustments.create(branch_id, b.id, why, [adjustments.AdjustItem(Variant.get(Variant.sku == sku).id, delta)],
                                   "counted on the shelf", shopify_enabled=False)   # never told to Shopify
    with at(s["KHI1"]):
        sell(s, "KHI1", "1003", 1)
    branch_pass(s, "KHI1")
    assert office_pass(s)["synced"] == 1           # KHI1's sale reached Shopify through the head office
    with at(s["LHR1"]):
        sell(s, "LHR1", "1002", 1)
    branch_pass(s, "LHR1")
    sim_post(s["shop"].url, "inventory", {"inventoryItemId": items["1004"], "locationId": loc,
                                          "quantities": {"available": 101}})
    with at(s["hq"]):
        assert hq.apply_inbox()["parked"] == 0
        assert OutboxJob.get(OutboxJob.origin_branch == "LHR1").status == outbox.PENDING   # not sent yet
        levels, _ = agent_reconcile.read_location(s["client"], loc)
        run = reconcile.compare(loc, levels)
        rows = {d["sku"]: d for d in run.differences}
        assert set(rows) == {"1001", "1002", "1004"}      # 1003 agrees: its sale was told
        parts = {sku: {b["branch"]: b["unexplained"] for b in r["branches"]} for sku, r in rows.items()}
        assert parts == {"1001": {"LHR1": 2, "KHI1": 4}, "1002": {"LHR1": -3, "KHI1": 0},
                         "1004": {"LHR1": 0, "KHI1": 0}}
        assert [rows[k]["unexplained"] for k in ("1001", "1002", "1004")] == [6, -3, 1]
        assert [rows[k]["unattributed"] for k in ("1001", "1002", "1004")] == [0, 0, 1]
        lhr_1002 = next(b for b in rows["1002"]["branches"] if b["branch"] == "LHR1")
        assert lhr_1002["explained"] == ["-1 still in the outbox"]           # its sale, waiting at the head office
        assert "+4 at KHI1: moved there and never told to Shopify" in rows["1001"]["causes"]
        assert "+1 changed directly in Shopify (no branch)" in rows["1004"]["causes"]
        manager = Staff.get(Staff.code == "imran").id
        with pytest.raises(Exception, match="name the branch"):
            reconcile.accept(run.uid, items["1001"], manager)
        with pytest.raises(Exception, match="no unexplained difference"):
            reconcile.accept(run.uid, items["1002"], manager, branch="KHI1")
        jobs = [reconcile.accept(run.uid, items["1001"], manager, branch="LHR1"),
                reconcile.accept(run.uid, items["1001"], manager, branch="KHI1"),
                reconcile.accept(run.uid, items["1002"], manager, branch="LHR1"),
                reconcile.accept(run.uid, items["1004"], manager, branch="")]
        with pytest.raises(Exception, match="already accepted"):
            reconcile.accept(run.uid, items["1001"], manager, branch="KHI1")
        assert [(j.payload["branch"], j.payload["sku"], j.payload["delta"]) for j in jobs] == [
            ("LHR1", "1001", -2), ("KHI1", "1001", -4), ("LHR1", "1002", 3), (None, "1004", -1)]
        audit = [(e.detail["branch"], e.detail["sku"], e.detail["delta"]) for e in
                 AuditEvent.select().where(AuditEvent.action == "reconcile.accept").order_by(AuditEvent.id)]
        assert audit == [("LHR1", "1001", -2), ("KHI1", "1001", -4), ("LHR1", "1002", 3), ("no branch", "1004", -1)]
        assert all(r["accepted"] for r in run_rows(run.uid))
    office_pass(s)     # the corrections, and LHR1's waiting sale
    st = sim_state(s["shop"].url)
    # Shopify as expected: 100 at the start; what both branches did, every unit once
    assert {sku: available(st, items[sku], loc) for sku in ("1001", "1002", "1003", "1004")} == \
        {"1001": 94, "1002": 102, "1003": 99, "1004": 100}
    with at(s["hq"]):
        levels, _ = agent_reconcile.read_location(s["client"], loc)
        assert reconcile.compare(loc, levels).differences == []           # nothing left to explain
        assert ledger.check() == []
    for code in ("LHR1", "KHI1"):
        with at(s[code]):
            assert ledger.check() == []


def run_rows(uid):
    from pos_core.models import ReconciliationRun
    return ReconciliationRun.get(ReconciliationRun.uid == uid).differences


def test_migration_12_brings_an_older_database_to_the_new_schema(database):
    """Without the PostgreSQL head office too: `database` runs on both backends."""
    from pos_core import migrations

    def shape():
        return (sorted(c.name for c in db.database.get_columns("outbox_job")),
                sorted((tuple(i.columns), i.unique) for i in db.database.get_indexes("outbox_job")),
                {t: sorted(c.name for c in db.database.get_columns(t)) for t in ("shopify_relay", "shopify_outcome")})
    fresh = shape()
    with db.write():
        OutboxJob.create(channel="shopify", kind="tags_add", payload={"orderId": "x", "tags": ["a"]},
                         doc_type="order", doc_ref="x")
    # the schema before migration 12: drop what it adds, forget the stamp
    db.database.execute_sql("DROP INDEX IF EXISTS outbox_job_origin_branch")
    for col in ("via_hq", "origin_branch"):
        db.database.execute_sql(f"ALTER TABLE outbox_job DROP COLUMN {col}")
    for table in ("shopify_outcome", "shopify_relay"):
        db.database.execute_sql(f"DROP TABLE {table}")
    migrations.SchemaMigration.delete().where(migrations.SchemaMigration.version == 12).execute()
    with pytest.raises(migrations.SchemaError):
        migrations.check_current()
    assert migrations.migrate() == [12]
    migrations.check_current()
    assert shape() == fresh
    job = OutboxJob.get()
    assert (job.via_hq, job.origin_branch, job.payload) == (False, None, {"orderId": "x", "tags": ["a"]})


def test_hq_shopify_setting_is_checked(tmp_path):
    from pos_core import config
    cfg = config.parse({"database": {"url": "sqlite:///x.db"}, "hq": {"role": "branch", "url": "postgresql://r@h/db"}},
                       tmp_path / "p.toml")
    assert cfg.hq.shopify == "head-office"           # a branch's default: the head office sends
    with pytest.raises(config.ConfigError, match="hq.shopify"):
        config.parse({"database": {"url": "sqlite:///x.db"}, "hq": {"role": "branch", "shopify": "myself"}},
                     tmp_path / "p.toml")


def test_the_key_age_counts_from_the_first_send_at_the_head_office(chain):
    """A sale made two days ago at a branch that was offline is sent when it reaches the head
    office (Shopify has never seen its key). A batch the head office first sent over 23 hours ago
    whose answer was lost is never resent: NEEDS_RECONCILIATION there, and so at the branch."""
    import datetime as dt
    from pos_core.models import utcnow
    s = chain
    with at(s["KHI1"]):
        old = outbox.jobs_for(sell(s, "KHI1", "1001", 1).uid, outbox.SHOPIFY)[0]
        with db.write():
            two_days = utcnow() - dt.timedelta(days=2)
            OutboxJob.update(created_at=two_days, next_attempt_at=two_days).where(OutboxJob.id == old.id).execute()
    branch_pass(s, "KHI1")
    assert office_pass(s)["synced"] == 1
    assert len(applied(s, old.idempotency_key)) == 1
    with at(s["KHI1"]):
        late = outbox.jobs_for(sell(s, "KHI1", "1002", 1).uid, outbox.SHOPIFY)[0]
    branch_pass(s, "KHI1")
    with at(s["hq"]):
        assert hq.apply_inbox()["parked"] == 0
        worker = OutboxWorker(s["client"])
        batch = worker.claim()          # stored and SENDING; the agent dies before the answer
        assert [j.uid for j in batch.jobs] == [late.uid]
        with db.write():
            j = OutboxJob.get(OutboxJob.uid == late.uid)
            res = dict(j.result)
            res["batch"] = {**res["batch"], "first_sent_at": (utcnow() - dt.timedelta(hours=24)).isoformat()}
            OutboxJob.update(result=res).where(OutboxJob.id == j.id).execute()
        worker.recover()                # at start-up: the key-age rule, before anything is sent
        j = OutboxJob.get(OutboxJob.uid == late.uid)
        assert j.status == outbox.NEEDS_RECONCILIATION and "24 hours" in j.last_error
        assert worker.run_once().batches == 0
        shopify_relay.publish()
    assert applied(s, late.idempotency_key) == []        # never resent
    branch_pass(s, "KHI1", lambda: OutboxJob.get(OutboxJob.uid == late.uid).status == outbox.NEEDS_RECONCILIATION)
    mine = job_state(s, "KHI1", late.uid)
    assert "Compare Shopify's quantity" in mine.last_error and "since 20" in mine.last_error
    # the branch's people are told the head office reconciles (they cannot run its command)
    assert "ask the head office to run `pos-agent reconcile` there, this branch cannot" in mine.last_error
    assert "(pos-agent reconcile)" not in mine.last_error
    with at(s["hq"]):
        assert "(pos-agent reconcile)" in OutboxJob.get(OutboxJob.uid == late.uid).last_error
    assert job_state(s, "KHI1", old.uid).status == outbox.SYNCED


def test_publish_follows_the_live_queue_and_a_start_looks_at_every_job(database):
    import datetime as dt
    from pos_core import branches
    from pos_core.models import ShopifyOutcome, utcnow
    with db.write():
        branches.create_branch("LHR1", "Lahore")
        long_ago = utcnow() - dt.timedelta(hours=3)
        old = OutboxJob.create(channel="shopify", kind="tags_add", payload={}, doc_type="o", doc_ref="a",
                               origin_branch="LHR1", status="SYNCED", updated_at=long_ago)
        live = OutboxJob.create(channel="shopify", kind="tags_add", payload={}, doc_type="o", doc_ref="b",
                                origin_branch="LHR1", status="FAILED", last_error="refused", updated_at=long_ago)
        OutboxJob.create(channel="shopify", kind="tags_add", payload={}, doc_type="o", doc_ref="c")   # the site's own
    assert shopify_relay.publish() == 1            # the open one; the one synced hours ago is not looked at
    assert [o.job_uid for o in ShopifyOutcome.select()] == [live.uid]
    assert shopify_relay.publish() == 0            # nothing changed since
    assert shopify_relay.publish(full=True) == 1   # after a start: the synced one whose outcome was never written
    assert {o.job_uid: o.status for o in ShopifyOutcome.select()} == {live.uid: "FAILED", old.uid: "SYNCED"}
    with db.write():
        OutboxJob.update(status="PENDING", last_error="", updated_at=utcnow()).where(OutboxJob.id == live.id).execute()
    assert shopify_relay.publish() == 1
    assert ShopifyOutcome.get(ShopifyOutcome.job_uid == live.uid).status == "PENDING"


def test_a_cod_order_confirmed_at_a_branch_is_tagged_once_by_the_head_office(chain):
    """tagsAdd (not deduplicated by Shopify) from a branch, sent by the head office; its poll then
    sees its own tag come back and does not log it as someone else's."""
    from pos_core import online_orders
    from pos_core.models import SmartOrder, SmartOrderEvent, Staff
    from sync_agent.testing import sim_post
    s = chain
    codes = {loc["id"]: loc["code"] for loc in sim_state(s["shop"].url)["locations"]}
    made = sim_post(s["shop"].url, "orders", {
        "action": "create", "gateway": "Cash on Delivery (COD)", "location": codes[s["map"]["locations"]["LHR1"]],
        "customer": {"firstName": "Sana", "lastName": "Mir", "phone": "+923004445556"}, "phone": "+923004445556",
        "lines": [{"sku": "1001", "quantity": 1}],
        "shippingAddress": {"firstName": "Sana", "lastName": "Mir", "address1": "12 Mall Road", "city": "Lahore",
                            "phone": "+923004445556"}})["order"]
    cod = ("Cash on Delivery (COD)",)
    with at(s["hq"]):
        agent_orders.poll(s["client"], cod)
    with at(s["LHR1"]):
        ln = link(s, "LHR1")
        pull_until(ln, lambda: SmartOrder.get_or_none(SmartOrder.shopify_id == made["id"]) is not None)
        ln.close()
        so = online_orders.get(made["id"])
        online_orders.confirm(so.id, Staff.get(Staff.code == "imran").id, shopify_enabled=True)
        job = next(j for j in outbox.jobs_for(made["id"], outbox.SHOPIFY) if j.kind == "tags_add")
    branch_pass(s, "LHR1")
    assert office_pass(s)["synced"] == 1
    order = next(o for o in httpx.get(f"{s['shop'].url}/_sim/orders").json()["orders"] if o["id"] == made["id"])
    assert "pos-cod-confirmed" in order["tags"]
    with at(s["hq"]):
        sim_post(s["shop"].url, "clock", {"advance_seconds": 1})
        agent_orders.poll(s["client"], cod)
        hq_order = SmartOrder.get(SmartOrder.shopify_id == made["id"])
        assert "pos-cod-confirmed" in hq_order.tags and hq_order.pending_tags == []
        assert SmartOrderEvent.select().where((SmartOrderEvent.order == hq_order.id)
                                              & (SmartOrderEvent.kind == "tagged")).count() == 0
    branch_pass(s, "LHR1", lambda: OutboxJob.get(OutboxJob.uid == job.uid).status == outbox.SYNCED)


def test_a_branch_set_to_send_shopify_itself_keeps_its_client_and_hands_nothing_over(tmp_path):
    from pos_core import config
    from pos_core.config import write_private
    from sync_agent.daemon import Agent
    write_private(tmp_path / "shopify.token", "shpat_x\n")
    write_private(tmp_path / "hq.secret", "pw\n")
    base = {"database": {"url": f"sqlite:///{tmp_path / 'b.db'}"}, "counter": {"branch": "LHR1", "code": "C1"},
            "shopify": {"enabled": True, "shop": "s.myshopify.com", "token_file": str(tmp_path / "shopify.token")}}
    hq_part = {"role": "branch", "url": "postgresql://r@127.0.0.1:1/db", "password_file": str(tmp_path / "hq.secret")}
    via = Agent(config.parse({**base, "hq": hq_part}, tmp_path / "p.toml"))
    direct = Agent(config.parse({**base, "hq": {**hq_part, "shopify": "direct"}}, tmp_path / "p.toml"))
    try:
        assert via.client is None and via.worker is None and via.hq.relay_shopify
        assert direct.client is not None and direct.worker is not None and not direct.hq.relay_shopify
    finally:
        if direct.client:
            direct.client.close()
