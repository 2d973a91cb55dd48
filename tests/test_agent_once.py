"""Exactly once for the Shopify calls Shopify does not deduplicate (issue 12, items 1-2).

Each test loses the answer of one mutation kind in the simulator (the request is applied, the
socket closed before the answer) and checks that Shopify ends with the work done once."""
import datetime as dt

import httpx
import pytest

from pos_core import db, fulfillments, ledger, online_orders, outbox
from pos_core.models import OutboxJob
from sync_agent import once, orders as agent_orders
import test_agent_orders
from test_agent_orders import item, place, poll, shopify_qty, sim, sim_order, smart  # noqa: F401


@pytest.fixture
def env(sim, database):
    """test_agent_orders' environment, on SQLite and on PostgreSQL (the marks are database writes)."""
    yield from test_agent_orders.env.__wrapped__(sim, database)


def lose_next(e, field, times=1):
    """The next `times` requests touching `field` are applied, then their answers are lost."""
    r = httpx.post(f"{e.sim.url}/_sim/faults", json={"drop_after_rate": 1.0, "fields": [field], "max_faults": times})
    r.raise_for_status()


def due_now():
    OutboxJob.update(next_attempt_at=OutboxJob.created_at).execute()


def ship(e, so, branch, qty_by_line, cn):
    f = fulfillments.create(so.id, branch.id, e.clerk.id, qty_by_line)
    fulfillments.pack(f.uid, e.clerk.id)
    fulfillments.dispatch(f.uid, e.clerk.id, "TCS", cn, shopify_enabled=True)
    return f


def test_lost_fulfillment_answer_on_a_partial_shipment_makes_one_fulfillment(env):
    e = env
    a = item(e)
    order = place(e, (a, 3))
    poll(e)
    so = smart(order["id"])
    line = so.lines[0]
    ship(e, so, e.lhr, {line.id: 1}, "PART-1")
    lose_next(e, "fulfillmentCreate")
    assert agent_orders.run_jobs(e.client) == {"synced": 0, "failed": 0, "deferred": 1}
    job = OutboxJob.get(OutboxJob.kind == "fulfillment_create")
    assert once.pending_mark(job, "fulfillmentCreate") is not None  # an attempt is out
    due_now()
    assert agent_orders.run_jobs(e.client)["synced"] == 1
    job = OutboxJob.get_by_id(job.id)
    assert job.result["found_existing"] is True and job.result["fulfillmentId"]
    assert len(sim_order(e, order["id"])["apiFulfillments"]) == 1
    # the branch's next parcel of the same order still reaches Shopify
    ship(e, smart(order["id"]), e.lhr, {line.id: 1}, "PART-2")
    assert agent_orders.run_jobs(e.client)["synced"] == 1
    api = sim_order(e, order["id"])["apiFulfillments"]
    assert len(api) == 2
    assert shopify_qty(e, a, "LHR-01") == {"available": 7, "committed": 1, "on_hand": 8}
    assert ledger.check() == []


def test_lost_move_answer_moves_the_commitment_once(env):
    e = env
    a = item(e)
    order = place(e, (a, 3))   # Shopify assigns it to Lahore
    poll(e)
    so = smart(order["id"])
    ship(e, so, e.khi, {so.lines[0].id: 1}, "KHI-1")   # one unit leaves Karachi
    lose_next(e, "fulfillmentOrderMove")
    first = agent_orders.run_jobs(e.client)
    assert first["deferred"] == 1, first
    due_now()
    assert agent_orders.run_jobs(e.client)["synced"] == 1
    assert len(sim_order(e, order["id"])["apiFulfillments"]) == 1
    # one unit moved and shipped from Karachi; two still committed at Lahore
    assert shopify_qty(e, a, "KHI-02") == {"available": 4, "committed": 0, "on_hand": 4}
    assert shopify_qty(e, a, "LHR-01") == {"available": 8, "committed": 2, "on_hand": 10}


def test_lost_tags_answer_is_not_sent_again(env):
    e = env
    a = item(e)
    order = place(e, (a, 1))
    poll(e)
    so = smart(order["id"])
    online_orders.confirm(so.id, e.clerk.id, shopify_enabled=True)   # queues the pos-cod-confirmed tag
    lose_next(e, "tagsAdd")
    assert agent_orders.run_jobs(e.client)["deferred"] == 1
    due_now()
    sent = e.client.requests
    assert agent_orders.run_jobs(e.client)["synced"] == 1
    job = OutboxJob.get(OutboxJob.kind == "tags_add")
    assert job.result["found_existing"] is True
    assert e.client.requests - sent == 1   # only the read of the order's tags
    assert "pos-cod-confirmed" in sim_order(e, order["id"])["orders"][0]["tags"]


def test_a_lost_correction_answer_older_than_the_key_goes_to_a_person(env):
    e = env
    a = item(e, lhr=10)
    with db.write():
        outbox.enqueue(outbox.SHOPIFY, "inventory_set", {
            "inventoryItemId": a.shopify_inventory_item_id, "locationId": e.loc["LHR-01"], "name": "available",
            "quantity": 9, "changeFromQuantity": 10, "reason": "correction",
            "referenceDocumentUri": "gid://pk-pos/Reconciliation/test", "sku": a.sku}, "reconciliation", "test")
    job = OutboxJob.get(OutboxJob.kind == "inventory_set")
    lose_next(e, "inventorySetQuantities", times=5)   # every resend with the key is lost too
    assert agent_orders.run_jobs(e.client)["deferred"] == 1
    # the box is off for a day: the key Shopify remembered is gone
    httpx.post(f"{e.sim.url}/_sim/clock", json={"advance_seconds": 25 * 3600}).raise_for_status()
    job = OutboxJob.get_by_id(job.id)
    mark = job.result["once"]["inventorySetQuantities"]
    mark["first_at"] = (dt.datetime.fromisoformat(mark["first_at"]) - dt.timedelta(hours=24)).isoformat()
    OutboxJob.update(result=job.result).where(OutboxJob.id == job.id).execute()
    due_now()
    sent = e.client.requests
    agent_orders.run_jobs(e.client)
    job = OutboxJob.get_by_id(job.id)
    assert job.status == "NEEDS_RECONCILIATION" and "expired" in job.last_error
    assert e.client.requests == sent   # nothing was sent
    # a person retries: it is sent, and its compare-and-swap refuses it, since it applied the first time
    outbox.retry(job.uid, e.manager.id)
    assert agent_orders.run_jobs(e.client)["failed"] == 1
    job = OutboxJob.get_by_id(job.id)
    assert job.status == "FAILED" and job.last_error
    assert shopify_qty(e, a, "LHR-01")["available"] == 9   # applied once, not twice


def test_a_killed_agent_mid_request_probes_before_sending(env):
    """SIGKILL between the mark and the answer: the job is left SENDING with its mark."""
    e = env
    a = item(e)
    order = place(e, (a, 2))
    poll(e)
    so = smart(order["id"])
    ship(e, so, e.lhr, {so.lines[0].id: 1}, "KILL-1")
    job = OutboxJob.get(OutboxJob.kind == "fulfillment_create")

    class Killed(BaseException):
        pass

    real = e.client.call

    def dies_after_create(name, *args, **kw):
        res = real(name, *args, **kw)
        if name == "FulfillmentCreate":
            raise Killed()
        return res

    e.client.call = dies_after_create
    with pytest.raises(Killed):
        agent_orders.run_jobs(e.client)
    e.client.call = real
    assert OutboxJob.get_by_id(job.id).status == "SENDING"
    assert agent_orders.recover_interrupted() == 1
    assert agent_orders.run_jobs(e.client)["synced"] == 1
    assert OutboxJob.get_by_id(job.id).result["found_existing"] is True
    assert len(sim_order(e, order["id"])["apiFulfillments"]) == 1


def test_an_order_split_into_more_than_five_fulfillment_orders_is_read_to_the_end(env):
    """OrderFulfillmentOrders reads 5 fulfillment orders a page: the 7th must be found too."""
    e = env
    codes = []
    for n in range(6):
        code = f"POP-{n}-{id(e) % 10000}"
        httpx.post(f"{e.sim.url}/_sim/locations", json={"location": {"name": f"Pop-up {code}", "code": code}}
                   ).raise_for_status()
        codes.append(code)
    goods = []
    for code in codes + ["LHR-01"]:
        v = item(e)
        httpx.post(f"{e.sim.url}/_sim/inventory", json={
            "inventoryItemId": v.shopify_inventory_item_id,
            "locationId": next(l["id"] for l in httpx.get(f"{e.sim.url}/_sim/state").json()["locations"]
                               if l["code"] == code),
            "quantities": {"available": 5}}).raise_for_status()
        goods.append((v, code))
    body = {"action": "create", "gateway": "Cash on Delivery (COD)", "phone": "+923001234567",
            "customer": {"firstName": "Hina", "lastName": "Baig", "phone": "+923001234567"},
            "shippingAddress": {"firstName": "Hina", "lastName": "Baig", "address1": "House 12", "city": "Lahore",
                                "phone": "+923001234567"},
            "lines": [{"sku": v.sku, "quantity": 1, "location": code} for v, code in goods]}
    r = httpx.post(f"{e.sim.url}/_sim/orders", json=body)
    r.raise_for_status()
    order = r.json()["order"]
    poll(e)
    so = smart(order["id"])
    last = next(l for l in so.lines if l.sku == goods[-1][0].sku)    # its FO is the 7th
    ship(e, so, e.lhr, {last.id: 1}, "PAGE-7")
    assert agent_orders.run_jobs(e.client) == {"synced": 1, "failed": 0, "deferred": 0}
    api = sim_order(e, order["id"])["apiFulfillments"]
    assert [f["trackingNumbers"] for f in api] == [["PAGE-7"]]


def test_jobs_waiting_on_a_stuck_booking_do_not_hide_due_order_jobs(env):
    e = env
    a = item(e)
    order = place(e, (a, 1))
    poll(e)
    so = smart(order["id"])
    with db.write():
        stuck = outbox.enqueue("courier", "book", {"reference": "X"}, "consignment", "c-stuck")
        OutboxJob.update(status="FAILED").where(OutboxJob.id == stuck.id).execute()
        for n in range(120):   # more than the agent reads at a time
            outbox.enqueue(outbox.SHOPIFY, "fulfillment_create", {"orderId": order["id"]}, "fulfillment",
                           f"f-{n}", depends_on=stuck.uid)
    online_orders.confirm(so.id, e.clerk.id, shopify_enabled=True)     # a due tagsAdd behind them
    assert agent_orders.run_jobs(e.client)["synced"] == 1
    assert OutboxJob.get(OutboxJob.kind == "tags_add").status == "SYNCED"
