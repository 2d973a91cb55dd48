"""Online orders end to end over real HTTP to the Shopify simulator: the agent polls, staff work
the order at the branches, the agent writes fulfillments and tags. After each scenario branch
levels equal what physically moved, Shopify shows what Shopify would, and nothing moved twice."""
import itertools
from decimal import Decimal

import httpx
import pytest

from pos_core import branches, fulfillments, ledger, online_orders, shifts, staff
from pos_core.config import ShopifyConfig
from pos_core.ledger import Movement
from pos_core.models import Fulfillment, OutboxJob, Product, Variant
from simulators.shopify.server import start
from sync_agent import orders as agent_orders
from sync_agent.outbox_worker import OutboxWorker
from sync_agent.shopify.client import ShopifyClient

COD = ("Cash on Delivery (COD)",)
_sku = itertools.count(1)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    handle = start(port=0, data_dir=tmp_path_factory.mktemp("agent-orders"), seed_products=0)
    yield handle
    handle.stop()


class Env:
    pass


@pytest.fixture
def env(sim, sqlite_db):
    httpx.post(f"{sim.url}/_sim/reset-faults")
    # The simulator lives for the module and its bucket refills only as its own clock moves: each
    # test starts with a full bucket, so none is throttled by what the tests before it spent.
    full = httpx.get(f"{sim.url}/_sim/throttle").json()["maximumAvailable"]
    httpx.post(f"{sim.url}/_sim/throttle", json={"currently": full})
    e = Env()
    e.sim = sim
    state = httpx.get(f"{sim.url}/_sim/state").json()
    loc = {l["code"]: l["id"] for l in state["locations"]}
    e.loc = loc
    e.lhr = branches.create_branch("LHR1", "Lahore", shopify_location_id=loc["LHR-01"])
    e.khi = branches.create_branch("KHI1", "Karachi", shopify_location_id=loc["KHI-02"])
    e.clerk = staff.create("zara", "Zara", "supervisor", "2222")
    e.manager = staff.create("imran", "Imran", "manager", "3333")
    e.client = ShopifyClient(ShopifyConfig(enabled=True, shop="x", endpoint=sim.url), token=sim.token,
                             timeout=httpx.Timeout(connect=2.0, read=3.0, write=3.0, pool=2.0))
    e.client.sleep = lambda s: None
    e.worker = OutboxWorker(e.client, rand=lambda: 0.0)
    yield e
    e.client.close()
    httpx.post(f"{sim.url}/_sim/reset-faults")


def item(e, lhr=10, khi=5):
    """A product in Shopify and the same item in the local catalog, stocked alike at both branches."""
    sku = f"AGT-{next(_sku):03d}"
    r = httpx.post(f"{e.sim.url}/_sim/products", json={"product": {"title": f"Lawn Kurta {sku}", "variants": [
        {"sku": sku, "price": "2500.00", "inventory": {"LHR-01": lhr, "KHI-02": khi}}]}})
    r.raise_for_status()
    v = r.json()["product"]["variants"][0]
    local = Variant.create(product=Product.get_or_create(title="Online goods")[0], sku=sku, name=f"Lawn Kurta {sku}",
                           price_paisa=2500_00, shopify_id=v["id"], shopify_inventory_item_id=v["inventoryItemId"])
    for b, n in ((e.lhr, lhr), (e.khi, khi)):
        ledger.record(Movement(f"opening:{b.code}:{sku}", local.id, b.id, n, "opening", "opening_stock", "open"))
    return local


def place(e, *lines, **extra):
    body = {"action": "create", "gateway": "Cash on Delivery (COD)", "location": "LHR-01",
            "customer": {"firstName": "Hina", "lastName": "Baig", "phone": "+923001234567"}, "phone": "+923001234567",
            "shippingAddress": {"firstName": "Hina", "lastName": "Baig", "address1": "House 12", "city": "Lahore",
                                "phone": "+923001234567"},
            "lines": [{"sku": v.sku, "quantity": q} for v, q in lines], **extra}
    r = httpx.post(f"{e.sim.url}/_sim/orders", json=body)
    r.raise_for_status()
    return r.json()["order"]


def admin(e, **body):
    r = httpx.post(f"{e.sim.url}/_sim/orders", json=body)
    assert r.status_code == 200, r.text
    httpx.post(f"{e.sim.url}/_sim/clock", json={"advance_seconds": 1})


def poll(e):
    httpx.post(f"{e.sim.url}/_sim/clock", json={"advance_seconds": 1})
    return agent_orders.poll(e.client, COD)


def shopify_qty(e, v, code):
    inv = httpx.get(f"{e.sim.url}/_sim/state").json()["inventory"]
    row = next(i for i in inv if i["inventoryItemId"] == v.shopify_inventory_item_id and i["locationId"] == e.loc[code])
    return {k: row[k] for k in ("available", "committed", "on_hand")}


def sim_order(e, oid):
    return httpx.get(f"{e.sim.url}/_sim/orders", params={"id": oid}).json()


def local(e, v):
    return ledger.on_hand(v.id, e.lhr.id), ledger.on_hand(v.id, e.khi.id)


def smart(oid):
    return online_orders.get(oid)


def test_partial_fulfillment_in_two_shipments_from_two_branches(env):
    e = env
    a = item(e)
    order = place(e, (a, 2))
    assert poll(e) >= 1
    so = smart(order["id"])
    assert so.state == "TO_CONFIRM" and so.is_cod
    online_orders.confirm(so.id, e.clerk.id, shopify_enabled=True)
    line = so.lines[0]
    first = fulfillments.create(so.id, e.lhr.id, e.clerk.id, {line.id: 1})
    second = fulfillments.create(so.id, e.khi.id, e.clerk.id, {line.id: 1})
    for f, courier, cn in ((first, "TCS", "TCS-001"), (second, "Leopards", "LE-002")):
        fulfillments.pack(f.uid, e.clerk.id)
        fulfillments.dispatch(f.uid, e.clerk.id, courier, cn, shopify_enabled=True)
    assert agent_orders.run_jobs(e.client) == {"synced": 3, "failed": 0, "deferred": 0}
    got = sim_order(e, order["id"])
    api = got["apiFulfillments"]
    assert len(api) == 2
    fulfilled = got["orders"][0]["fulfillments"]
    assert sorted((f["location"]["id"] if isinstance(f.get("location"), dict) else f.get("locationId"))
                  for f in fulfilled) == sorted([e.loc["LHR-01"], e.loc["KHI-02"]])
    assert "pos-cod-confirmed" in got["orders"][0]["tags"]
    # Shopify deducted one unit at each location; locally each branch gave one
    assert shopify_qty(e, a, "LHR-01")["on_hand"] == 9 and shopify_qty(e, a, "KHI-02")["on_hand"] == 4
    assert shopify_qty(e, a, "LHR-01")["committed"] == 0 and shopify_qty(e, a, "KHI-02")["committed"] == 0
    assert local(e, a) == (9, 4)
    poll(e)
    so = smart(order["id"])
    assert not so.needs_branch_sync and so.state == "DISPATCHED"
    assert Fulfillment.get(Fulfillment.uid == first.uid).shopify_fulfillment_id
    assert OutboxJob.select().where(OutboxJob.kind == "inventory_adjust").count() == 0
    assert ledger.check() == []


def test_cod_refused_at_the_door_is_restocked_where_it_came_back(env):
    e = env
    a = item(e)
    order = place(e, (a, 1))
    poll(e)
    so = smart(order["id"])
    f = fulfillments.create(so.id, e.lhr.id, e.clerk.id)
    fulfillments.pack(f.uid, e.clerk.id)
    fulfillments.dispatch(f.uid, e.clerk.id, "PostEx", "PX-77", shopify_enabled=True)
    agent_orders.run_jobs(e.client)
    assert shopify_qty(e, a, "LHR-01") == {"available": 9, "committed": 0, "on_hand": 9}
    fulfillments.mark_returned(f.uid, e.clerk.id, e.lhr.id, shopify_enabled=True)
    e.worker.run_once()
    agent_orders.run_jobs(e.client)
    assert shopify_qty(e, a, "LHR-01") == {"available": 10, "committed": 0, "on_hand": 10}
    assert local(e, a) == (10, 5)
    assert "pos-returned" in sim_order(e, order["id"])["orders"][0]["tags"]
    poll(e)
    assert smart(order["id"]).state == "RETURNED"
    assert ledger.check() == []


def test_exchange_by_order_edit_after_packing(env):
    e = env
    a, b = item(e), item(e)
    order = place(e, (a, 1))
    poll(e)
    so = smart(order["id"])
    f = fulfillments.create(so.id, e.lhr.id, e.clerk.id)
    fulfillments.pack(f.uid, e.clerk.id)
    admin(e, action="edit", id=order["id"], changes=[{"sku": a.sku, "quantity": 0}], add=[{"sku": b.sku, "quantity": 1}])
    poll(e)
    so = smart(order["id"])
    assert so.exchange and so.state == "EXCHANGED"
    a_line = next(l for l in so.lines if l.sku == a.sku)
    fulfillments.exchange_return(so.id, e.lhr.id, e.clerk.id, {a_line.id: 1})
    replacement = fulfillments.create(so.id, e.lhr.id, e.clerk.id)
    fulfillments.pack(replacement.uid, e.clerk.id)
    fulfillments.dispatch(replacement.uid, e.clerk.id, "M&P", "MP-5", shopify_enabled=True)
    assert agent_orders.run_jobs(e.client)["synced"] == 1
    assert local(e, a) == (10, 5) and local(e, b) == (9, 5)
    assert shopify_qty(e, a, "LHR-01") == {"available": 10, "committed": 0, "on_hand": 10}
    assert shopify_qty(e, b, "LHR-01") == {"available": 9, "committed": 0, "on_hand": 9}
    assert ledger.check() == []


def test_branch_sync_after_an_admin_fulfillment(env):
    e = env
    a = item(e)
    order = place(e, (a, 2))
    poll(e)
    admin(e, action="fulfill", id=order["id"], tracking={"company": "TCS", "number": "ADMIN-1"})
    poll(e)
    so = smart(order["id"])
    assert so.state == "NEEDS_BRANCH_SYNC"
    fulfillments.branch_sync(so.id, e.khi.id, e.clerk.id)  # the parcel actually left Karachi
    assert local(e, a) == (10, 3)
    assert shopify_qty(e, a, "LHR-01")["on_hand"] == 8  # Shopify deducted it where it thought
    assert OutboxJob.select().where(OutboxJob.channel == "shopify").count() == 0  # nothing pushed
    poll(e)
    assert smart(order["id"]).state != "NEEDS_BRANCH_SYNC"
    assert ledger.check() == []


def test_cancellation_after_packing_puts_goods_back(env):
    e = env
    a = item(e)
    order = place(e, (a, 3))
    poll(e)
    so = smart(order["id"])
    f = fulfillments.create(so.id, e.lhr.id, e.clerk.id)
    fulfillments.pack(f.uid, e.clerk.id)
    assert local(e, a) == (7, 5)
    admin(e, action="cancel", id=order["id"], reason="CUSTOMER", restock=True)
    poll(e)
    assert smart(order["id"]).state == "CANCELLED"
    fulfillments.after_cancel(f.uid, e.clerk.id, back_on_shelf=True)
    assert local(e, a) == (10, 5)
    assert shopify_qty(e, a, "LHR-01") == {"available": 10, "committed": 0, "on_hand": 10}
    assert ledger.check() == []


def test_a_lost_answer_or_a_killed_agent_never_creates_a_second_fulfillment(env):
    e = env
    a = item(e)
    order = place(e, (a, 2))
    poll(e)
    so = smart(order["id"])
    f = fulfillments.create(so.id, e.lhr.id, e.clerk.id)
    fulfillments.pack(f.uid, e.clerk.id)
    fulfillments.dispatch(f.uid, e.clerk.id, "TCS", "LOST-1", shopify_enabled=True)
    httpx.post(f"{e.sim.url}/_sim/faults", json={"drop_after_rate": 1.0, "scope": "mutations"})
    result = agent_orders.run_jobs(e.client)
    assert result["deferred"] == 1  # applied in Shopify, but the answer never came
    httpx.post(f"{e.sim.url}/_sim/reset-faults")
    OutboxJob.update(next_attempt_at=OutboxJob.created_at).execute()
    # the agent dies while sending the retry: the job is left SENDING
    job = OutboxJob.get(OutboxJob.kind == "fulfillment_create")
    assert job.status == "PENDING"
    OutboxJob.update(status="SENDING").where(OutboxJob.id == job.id).execute()
    assert agent_orders.recover_interrupted() == 1
    assert agent_orders.run_jobs(e.client)["synced"] == 1
    job = OutboxJob.get_by_id(job.id)
    assert job.result["found_existing"] is True
    assert len(sim_order(e, order["id"])["apiFulfillments"]) == 1
    assert shopify_qty(e, a, "LHR-01") == {"available": 8, "committed": 0, "on_hand": 8}
    assert local(e, a) == (8, 5)
    assert ledger.check() == []


def test_shipping_more_than_shopify_has_left_fails_readably(env):
    e = env
    a = item(e)
    order = place(e, (a, 1))
    poll(e)
    so = smart(order["id"])
    f = fulfillments.create(so.id, e.lhr.id, e.clerk.id)
    fulfillments.pack(f.uid, e.clerk.id)
    admin(e, action="fulfill", id=order["id"])
    fulfillments.dispatch(f.uid, e.clerk.id, "TCS", "LATE-1", shopify_enabled=True)
    assert agent_orders.run_jobs(e.client)["failed"] == 1
    job = OutboxJob.get(OutboxJob.kind == "fulfillment_create")
    assert "Branch Sync" in job.last_error or "fewer units" in job.last_error
    assert len(sim_order(e, order["id"])["apiFulfillments"]) == 0
