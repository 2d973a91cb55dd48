"""The outbox worker over real HTTP to the simulator: sales, refunds and exchanges arrive with the
right deltas; batches are persisted before sending and resent as stored; a permanent error fails
only its own job; a retried job gets a new key."""
from __future__ import annotations

import socket
from collections import Counter

import httpx
import pytest

from pos_core import outbox, refunds, sales
from pos_core.config import ShopifyConfig
from pos_core.models import OutboxJob, Variant
from simulators.shopify.server import start
from sync_agent.outbox_worker import OutboxWorker, batch_key
from sync_agent.shopify.client import ShopifyClient
from sync_agent.testing import SHOPIFY_POLICY, available, mirror_site, sell, sim_adjustments, sim_post, sim_state

TOKEN = "shpat_outbox_test_token_value"


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    handle = start(port=0, data_dir=tmp_path_factory.mktemp("shop"), seed_products=8, token=TOKEN)
    yield handle
    handle.stop()


def make_client(url: str) -> ShopifyClient:
    return ShopifyClient(ShopifyConfig(enabled=True, shop="x", endpoint=url), token=TOKEN,
                         timeout=httpx.Timeout(connect=2.0, read=3.0, write=3.0, pool=2.0))


@pytest.fixture
def env(sim, sqlite_db):
    sim_post(sim.url, "reset-faults", {})
    site = mirror_site(sim.url, n_branches=2, n_variants=6)
    client = make_client(sim.url)
    worker = OutboxWorker(client, rand=lambda: 0.0)
    yield site, worker
    client.close()
    sim_post(sim.url, "reset-faults", {})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def applied_for(sim, job: OutboxJob) -> list[dict]:
    key = job.result["idempotencyKey"]
    return [a for a in sim_adjustments(sim.url, key) if a["name"] == "available"
            and a["inventoryItemId"] == job.payload["inventoryItemId"]
            and a["locationId"] == job.payload["locationId"]]


def test_sale_refund_and_exchange_reach_shopify_with_the_right_deltas(sim, env):
    site, worker = env
    a, b, c = site.variants[:3]
    loc = site.branches[0].shopify_location_id
    before = sim_state(sim.url)
    sale = sell(site, 0, [(a, 3), (b, 1)])
    lines = {l.variant_id: l for l in sale.lines}
    refund = refunds.refund(SHOPIFY_POLICY, counter_id=site.counters[0].id, shift_id=site.shifts[0].id,
                            staff_id=site.cashier.id, sale_uid=sale.uid,
                            lines=[refunds.ReturnLine(lines[a.id].id, 1, restock=True)])
    credit, new_sale = refunds.exchange(
        SHOPIFY_POLICY, counter_id=site.counters[0].id, shift_id=site.shifts[0].id, staff_id=site.cashier.id,
        sale_uid=sale.uid, returns=[refunds.ReturnLine(lines[b.id].id, 1)],
        new_lines=[sales.SaleLine(c.id, 1)], tenders=[sales.Tender("cash", 1000)])
    summary = worker.run_once()
    assert summary.synced == 5 and summary.failed == 0
    jobs = list(OutboxJob.select().where(OutboxJob.channel == "shopify"))
    assert {j.status for j in jobs} == {"SYNCED"}
    # two reasons -> at least two calls: sales are "correction", refunds "restock"
    assert summary.batches >= 2
    after = sim_state(sim.url)
    item = lambda v: v.shopify_inventory_item_id  # noqa: E731
    assert available(after, item(a), loc) == available(before, item(a), loc) - 3 + 1
    assert available(after, item(b), loc) == available(before, item(b), loc) - 1 + 1
    assert available(after, item(c), loc) == available(before, item(c), loc) - 1
    for job in jobs:
        rows = applied_for(sim, job)
        assert [r["delta"] for r in rows].count(job.payload["delta"]) >= 1
        assert job.result["adjustmentGroupId"].startswith("gid://shopify/InventoryAdjustmentGroup/")
        assert isinstance(job.result["quantityAfterChange"], int)
        expected_reason = "restock" if job.payload["delta"] > 0 else "correction"
        assert {r["reason"] for r in rows} == {expected_reason}
    assert outbox.doc_status(refund.uid, "shopify") == "SYNCED"
    assert outbox.doc_status(new_sale.uid, "shopify") == "SYNCED"


def test_batches_group_by_reason_and_location_and_carry_the_document_reference(sim, env):
    site, worker = env
    a, b = site.variants[:2]
    one = sell(site, 0, [(a, 1)])
    sell(site, 0, [(b, 2)])
    sell(site, 1, [(a, 1)])
    worker.run_once()
    jobs = list(OutboxJob.select().order_by(OutboxJob.id))
    by_batch = Counter(j.result["batch_uid"] for j in jobs)
    assert sorted(by_batch.values()) == [1, 2]        # two sales at branch 1 together, branch 2 alone
    lhr = [j for j in jobs if j.payload["branch"] == "B1"]
    assert lhr[0].result["referenceDocumentUri"] == f"gid://pk-pos/SyncBatch/{lhr[0].result['batch_uid']}"
    assert lhr[0].result["idempotencyKey"] == batch_key([j.idempotency_key for j in lhr])
    solo = [j for j in jobs if j.payload["branch"] == "B2"][0]
    assert solo.result["referenceDocumentUri"] == f"gid://pk-pos/Sale/{solo.payload['referenceDocumentUri'].rsplit('/', 1)[1]}"
    assert solo.result["idempotencyKey"] == solo.idempotency_key     # one job: its own key
    stored = lhr[0].result["batch"]["variables"]["input"]["changes"]
    assert all("changeFromQuantity" in ch and ch["changeFromQuantity"] is None for ch in stored)
    assert one.number in lhr[0].payload["referenceDocumentUri"]


def test_at_most_250_changes_per_call(sim, env):
    site, worker = env
    a = site.variants[0]
    for i in range(260):
        outbox.enqueue("shopify", "inventory_adjust",
                       outbox.inventory_payload(a, site.branches[0], -1, "correction", f"gid://pk-pos/Sale/BULK-{i}"),
                       "pos_order", f"bulk-{i}")
    summary = worker.run_once()
    assert summary.synced == 260 and summary.batches == 2
    sizes = Counter(j.batch_uid for j in OutboxJob.select())
    assert sorted(sizes.values()) == [10, 250]


def test_a_lost_answer_is_resent_as_the_same_batch_with_the_same_key(sim, env):
    site, worker = env
    a, b = site.variants[:2]
    loc = site.branches[0].shopify_location_id
    before = sim_state(sim.url)
    sell(site, 0, [(a, 2), (b, 1)])
    sim_post(sim.url, "faults", {"drop_after_rate": 1.0, "max_faults": 1, "scope": "mutations"})
    first = worker.run_once()
    assert first.retrying == 2 and first.synced == 0
    jobs = list(OutboxJob.select())
    assert {j.status for j in jobs} == {"PENDING"} and {j.attempts for j in jobs} == {1}
    assert len({j.batch_uid for j in jobs}) == 1 and jobs[0].batch_uid
    stored = jobs[0].result["batch"]
    assert "connection" in jobs[0].last_error.lower() or "answer" in jobs[0].last_error.lower()
    OutboxJob.update(next_attempt_at=OutboxJob.created_at).execute()   # due now
    second = worker.run_once()
    assert second.synced == 2
    jobs = list(OutboxJob.select())
    assert {j.result["idempotencyKey"] for j in jobs} == {stored["idempotencyKey"]}
    applied = [r for r in sim_adjustments(sim.url, stored["idempotencyKey"]) if r["name"] == "available"]
    assert sorted(r["delta"] for r in applied) == [-2, -1]          # once each, not twice
    after = sim_state(sim.url)
    assert available(after, a.shopify_inventory_item_id, loc) == available(before, a.shopify_inventory_item_id, loc) - 2


def test_a_batch_left_sending_by_a_crash_is_resent_as_stored(sim, env):
    site, worker = env
    a = site.variants[0]
    sell(site, 0, [(a, 1)])
    batch = worker.claim()                       # persisted and SENDING ... and the agent dies here
    assert {j.status for j in OutboxJob.select()} == {"SENDING"}
    fresh = OutboxWorker(worker.client)
    assert fresh.claim() is None                 # nothing PENDING until recovered
    assert fresh.recover() == 1
    summary = fresh.run_once()
    assert summary.synced == 1
    job = OutboxJob.get()
    assert job.result["idempotencyKey"] == batch.key == job.idempotency_key
    assert len([r for r in sim_adjustments(sim.url, batch.key) if r["name"] == "available"]) == 1


def test_a_request_that_never_arrived_is_resent_with_its_original_key(sim, env):
    site, worker = env
    sell(site, 1, [(site.variants[1], 1)])
    job = OutboxJob.get()
    dead = make_client(f"http://127.0.0.1:{free_port()}")
    offline = OutboxWorker(dead, rand=lambda: 0.0)
    summary = offline.run_once()
    dead.close()
    assert summary.retrying == 1 and summary.contact is False
    job = OutboxJob.get()
    assert job.status == "PENDING" and job.attempts == 1
    assert job.history[-1]["arrival"] == "not_arrived" and job.history[-1]["answered"] is False
    assert "cannot connect" in job.last_error
    key = job.result["batch"]["idempotencyKey"]
    OutboxJob.update(next_attempt_at=OutboxJob.created_at).execute()
    assert worker.run_once().synced == 1
    job = OutboxJob.get()
    assert job.result["idempotencyKey"] == key == job.idempotency_key
    assert len([r for r in sim_adjustments(sim.url, key) if r["name"] == "available"]) == 1


def test_a_permanent_error_fails_only_its_job_and_a_fixed_retry_gets_a_new_key(sim, env):
    site, worker = env
    good, bad = site.variants[0], site.variants[1]
    real_item = bad.shopify_inventory_item_id
    Variant.update(shopify_inventory_item_id="gid://shopify/InventoryItem/987654321").where(Variant.id == bad.id).execute()
    bad = Variant.get_by_id(bad.id)
    sell(site, 0, [(good, 1), (bad, 1)])
    sell(site, 0, [(good, 2)])
    summary = worker.run_once()
    jobs = {(j.payload["sku"], j.payload["delta"]): j for j in OutboxJob.select()}
    failed = jobs[(bad.sku, -1)]
    assert failed.status == "FAILED" and summary.failed == 1
    assert bad.sku in failed.last_error and "could not be found" in failed.last_error
    assert "INVALID_INVENTORY_ITEM" in failed.last_error and TOKEN not in failed.last_error
    assert failed.history[-1]["answered"] is True
    assert jobs[(good.sku, -1)].status == "SYNCED" and jobs[(good.sku, -2)].status == "SYNCED"
    old_key = failed.idempotency_key

    Variant.update(shopify_inventory_item_id=real_item).where(Variant.id == bad.id).execute()
    again = outbox.retry(failed.uid)
    assert again.idempotency_key != old_key and again.payload["inventoryItemId"] == real_item
    assert any(h.get("key") == old_key for h in again.history)
    assert worker.run_once().synced == 1
    done = OutboxJob.get_by_id(failed.id)
    assert done.status == "SYNCED" and done.result["idempotencyKey"] == again.idempotency_key
    assert len(applied_for(sim, done)) == 1


def test_a_job_waits_for_the_job_it_depends_on(sim, env):
    site, worker = env
    a = site.variants[0]
    with_dep = outbox.enqueue("shopify", "inventory_adjust",
                              outbox.inventory_payload(a, site.branches[0], -1, "correction", "gid://pk-pos/Sale/D-2"),
                              "pos_order", "d-2", depends_on="not-yet")
    blocker = outbox.enqueue("fbr", "invoice", {}, "pos_order", "d-1")
    OutboxJob.update(uid="not-yet").where(OutboxJob.id == blocker.id).execute()
    assert worker.run_once().batches == 0
    OutboxJob.update(status="SYNCED").where(OutboxJob.uid == "not-yet").execute()
    assert worker.run_once().synced == 1
    assert OutboxJob.get_by_id(with_dep.id).status == "SYNCED"


def test_an_unmapped_job_fails_locally_with_a_readable_message(sim, env):
    site, worker = env
    payload = outbox.inventory_payload(site.variants[0], site.branches[0], -1, "correction", "gid://pk-pos/Sale/U-1")
    payload["locationId"] = None
    job = outbox.enqueue("shopify", "inventory_adjust", payload, "pos_order", "u-1")
    worker.run_once()
    job = OutboxJob.get_by_id(job.id)
    assert job.status == "FAILED" and "not mapped to a Shopify location" in job.last_error
    assert job.history[-1]["answered"] is False


@pytest.mark.parametrize("how", ["lost_answer", "killed_mid_send"])
def test_a_batch_older_than_24_hours_at_start_up_is_not_resent(sim, env, how):
    """Power cut of a day: the key Shopify remembered is gone, so a resend would apply it again."""
    import datetime as dt
    from pos_core.models import utcnow
    site, worker = env
    a = site.variants[0]
    loc = site.branches[0].shopify_location_id
    sell(site, 0, [(a, 1)])
    if how == "lost_answer":
        sim_post(sim.url, "faults", {"drop_after_rate": 1.0, "max_faults": 1, "scope": "mutations"})
        assert worker.run_once().retrying == 1
        sim_post(sim.url, "reset-faults", {})
    else:
        sim_post(sim.url, "faults", {"drop_after_rate": 1.0, "max_faults": 1, "scope": "mutations"})
        batch = worker.claim()
        with pytest.raises(Exception):
            worker.client.execute("InventoryAdjust", batch.variables, payload_field="inventoryAdjustQuantities")
        sim_post(sim.url, "reset-faults", {})          # applied in Shopify; the agent died before recording it
        assert OutboxJob.get().status == "SENDING"
    key = OutboxJob.get().result["batch"]["idempotencyKey"]
    before = available(sim_state(sim.url), a.shopify_inventory_item_id, loc)
    sim_post(sim.url, "clock", {"advance_seconds": 25 * 3600})   # Shopify forgets the key
    later = OutboxWorker(worker.client, now=lambda: utcnow() + dt.timedelta(hours=25), rand=lambda: 0.0)
    later.recover()                                   # start-up
    job = OutboxJob.get()
    assert job.status == "NEEDS_RECONCILIATION" and "24 hours" in job.last_error
    assert later.run_once().batches == 0
    assert len([r for r in sim_adjustments(sim.url, key) if r["name"] == "available"]) == 1
    assert available(sim_state(sim.url), a.shopify_inventory_item_id, loc) == before   # not applied twice
    # a person compared and retries: a new batch is sent
    outbox.retry(job.uid)
    assert OutboxJob.get().status == "PENDING" and OutboxJob.get().batch_uid is None


def test_a_lost_answer_is_still_resent_with_its_key_within_23_hours(sim, env):
    import datetime as dt
    from pos_core.models import utcnow
    site, worker = env
    a = site.variants[0]
    sell(site, 0, [(a, 1)])
    sim_post(sim.url, "faults", {"drop_after_rate": 1.0, "max_faults": 1, "scope": "mutations"})
    worker.run_once()
    sim_post(sim.url, "reset-faults", {})
    later = OutboxWorker(worker.client, now=lambda: utcnow() + dt.timedelta(hours=22), rand=lambda: 0.0)
    later.recover()
    assert later.run_once().synced == 1
    assert len([r for r in sim_adjustments(sim.url, OutboxJob.get().idempotency_key) if r["name"] == "available"]) == 1
