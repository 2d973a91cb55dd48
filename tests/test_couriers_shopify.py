"""A parcel booked with a courier reaches Shopify over real HTTP: the Shopify fulfillment waits for
the booking and carries the courier's number; offline, nothing goes to Shopify until it is booked."""
import httpx
import pytest

from pos_core import couriers, fulfillments, online_orders
from pos_core.config import CourierAccount
from pos_core.models import Consignment, Fulfillment, OutboxJob
from simulators.couriers import leopards as leo_sim
from sync_agent import orders as agent_orders
from sync_agent.couriers import Leopards, worker

from test_agent_orders import env, item, place, poll, sim, sim_order  # noqa: F401 - fixtures and helpers


@pytest.fixture
def leopards():
    handle = leo_sim.start()
    adapter = Leopards(CourierAccount(name="leopards", endpoint=handle.url, api_key="leo-key", timeout_seconds=1),
                       "leo-pass")
    yield handle, adapter
    adapter.close()
    handle.stop()


def dispatched(e, a):
    order = place(e, (a, 1))
    poll(e)
    so = online_orders.get(order["id"])
    online_orders.confirm(so.id, e.clerk.id, shopify_enabled=True)
    f = fulfillments.pack(fulfillments.create(so.id, e.lhr.id, e.clerk.id).uid, e.clerk.id)
    c = couriers.dispatch(f.uid, e.clerk.id, "leopards", "789", shopify_enabled=True)
    return order, f, c


def test_the_shopify_fulfillment_carries_the_number_the_courier_gave(env, leopards):
    e, (lsim, adapter) = env, leopards
    a = item(e)
    order, f, c = dispatched(e, a)
    agent_orders.run_jobs(e.client)                  # the fulfillment waits: no number yet
    assert sim_order(e, order["id"])["apiFulfillments"] == []
    httpx.post(f"{lsim.url}/_sim/faults", json={"op": "book", "fault": "lose_answer"})
    assert worker.run_jobs({"leopards": adapter})["deferred"] == 1
    agent_orders.run_jobs(e.client)
    assert sim_order(e, order["id"])["apiFulfillments"] == []     # still waiting: the booking is uncertain
    OutboxJob.update(next_attempt_at=OutboxJob.created_at).where(OutboxJob.channel == "courier").execute()
    assert worker.run_jobs({"leopards": adapter})["found_existing"] == 1
    number = Consignment.get_by_id(c.id).tracking_number
    assert agent_orders.run_jobs(e.client)["synced"] >= 1
    api = sim_order(e, order["id"])["apiFulfillments"]
    assert len(api) == 1 and api[0]["trackingNumbers"] == [number] and api[0]["trackingCompany"] == "Leopards"
    assert api[0]["trackingUrls"] == [f"https://www.leopardscourier.com/tracking?cn={number}"]
    assert Fulfillment.get_by_id(f.id).shopify_fulfillment_id == api[0]["id"]
    assert len(httpx.get(f"{lsim.url}/_sim/parcels").json()["parcels"]) == 1


def test_a_cancelled_booking_booked_again_updates_the_tracking_in_shopify(env, leopards):
    e, (lsim, adapter) = env, leopards
    a = item(e)
    order, f, c = dispatched(e, a)
    worker.run_jobs({"leopards": adapter})
    agent_orders.run_jobs(e.client)
    first = Consignment.get_by_id(c.id).tracking_number
    assert sim_order(e, order["id"])["apiFulfillments"][0]["trackingNumbers"] == [first]

    couriers.request_cancel(c.uid, e.clerk.id)
    worker.run_jobs({"leopards": adapter})
    assert Consignment.get_by_id(c.id).status == couriers.CANCELLED
    again = couriers.book_again(c.uid, e.clerk.id, "leopards", "1045")
    assert again.status == couriers.TO_BE_BOOKED and again.cod_paisa == c.cod_paisa
    with pytest.raises(couriers.StateError, match="newer booking"):
        couriers.book_again(c.uid, e.clerk.id, "leopards", "1045")
    assert agent_orders.due_jobs() == []                  # nothing for Shopify until it is booked
    worker.run_jobs({"leopards": adapter})
    second = Consignment.get_by_id(again.id).tracking_number
    assert second and second != first and Fulfillment.get_by_id(f.id).tracking_number == second
    update = OutboxJob.get(OutboxJob.kind == "tracking_update")
    assert update.payload["tracking"]["number"] == second
    assert agent_orders.run_jobs(e.client)["synced"] == 1
    api = sim_order(e, order["id"])["apiFulfillments"]
    assert len(api) == 1 and api[0]["trackingNumbers"] == [second]       # the same fulfillment, new number
    assert api[0]["trackingUrls"] == [f"https://www.leopardscourier.com/tracking?cn={second}"]
