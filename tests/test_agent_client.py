"""The Shopify client over real HTTP to the simulator on 127.0.0.1: classification, pacing,
version check, and that the token never leaks."""
from __future__ import annotations

import logging
import socket

import httpx
import pytest

from pos_core.config import ShopifyConfig
from simulators.shopify.server import start
from sync_agent.shopify.client import (ANSWERED, MAY_HAVE_ARRIVED, NOT_ARRIVED, PERMANENT, RETRY,
                                       ShopifyClient, ShopifyError, backoff_delay, load_operation)
from sync_agent.testing import sim_post, sim_state

TOKEN = "shpat_client_test_0123456789abcdef"


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    handle = start(port=0, data_dir=tmp_path_factory.mktemp("shop"), seed_products=6, token=TOKEN)
    yield handle
    handle.stop()


@pytest.fixture
def client(sim):
    sim_post(sim.url, "reset-faults", {})
    sim_post(sim.url, "throttle", {"bucket": 2000, "restore": 100, "currently": 2000})
    sim_post(sim.url, "config", {"served_version": None})
    c = ShopifyClient(ShopifyConfig(enabled=True, shop="x.myshopify.com", endpoint=sim.url), token=TOKEN,
                      timeout=httpx.Timeout(connect=2.0, read=3.0, write=3.0, pool=2.0))
    yield c
    c.close()
    sim_post(sim.url, "reset-faults", {})


def adjust_vars(item, loc, key, delta=-1):
    return {"idempotencyKey": key, "input": {
        "name": "available", "reason": "correction", "referenceDocumentUri": "gid://pk-pos/Sale/T-1",
        "changes": [{"inventoryItemId": item, "locationId": loc, "delta": delta, "changeFromQuantity": None}]}}


def first_level(sim):
    row = sim_state(sim.url)["inventory"][0]
    return row["inventoryItemId"], row["locationId"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_operations_load_with_their_shared_fragment():
    text = load_operation("ProductsWithVariants")
    assert "fragment VariantFields on ProductVariant" in text
    assert "fragment VariantFields" not in load_operation("InventoryAdjust")


def test_a_query_succeeds_and_the_url_uses_the_endpoint_override(client, sim):
    assert client.url == f"{sim.url}/admin/api/2026-10/graphql.json"
    res = client.execute("ShopAndLocations", {"first": 10})
    assert res.data["shop"]["currencyCode"] == "PKR"
    assert res.version == "2026-10"
    assert res.cost["throttleStatus"]["maximumAvailable"] == 2000
    real = ShopifyClient(ShopifyConfig(enabled=True, shop="rang.myshopify.com"), token="t")
    assert real.url == "https://rang.myshopify.com/admin/api/2026-10/graphql.json"
    real.close()


def test_a_served_version_mismatch_is_logged_loudly(client, sim, caplog):
    sim_post(sim.url, "config", {"served_version": "2026-07"})
    with caplog.at_level(logging.WARNING, logger="sync_agent.shopify"):
        client.execute("ShopAndLocations", {"first": 1})
    assert client.version_warnings == 1
    assert any("VERSION MISMATCH" in r.getMessage() and "2026-07" in r.getMessage() for r in caplog.records)


def test_connection_refused_is_retryable_and_surely_not_arrived():
    c = ShopifyClient(ShopifyConfig(enabled=True, shop="x", endpoint=f"http://127.0.0.1:{free_port()}"),
                      token=TOKEN)
    with pytest.raises(ShopifyError) as err:
        c.execute("ShopAndLocations", {"first": 1})
    c.close()
    assert (err.value.kind, err.value.arrival) == (RETRY, NOT_ARRIVED)
    assert TOKEN not in str(err.value)


def test_5xx_and_lost_answers_are_retryable_and_may_have_arrived(client, sim):
    sim_post(sim.url, "faults", {"error_rate": 1.0, "max_faults": 1})
    with pytest.raises(ShopifyError) as err:
        client.execute("ShopAndLocations", {"first": 1})
    assert (err.value.kind, err.value.arrival) == (RETRY, MAY_HAVE_ARRIVED)
    assert err.value.code in ("HTTP_502", "HTTP_503")

    item, loc = first_level(sim)
    before = sim_state(sim.url)
    sim_post(sim.url, "faults", {"drop_after_rate": 1.0, "max_faults": 1, "scope": "mutations"})
    with pytest.raises(ShopifyError) as err:
        client.execute("InventoryAdjust", adjust_vars(item, loc, "client-lost-1"),
                       payload_field="inventoryAdjustQuantities")
    assert (err.value.kind, err.value.arrival) == (RETRY, MAY_HAVE_ARRIVED)
    # the same key and variables again: applied once, the first result comes back
    res = client.execute("InventoryAdjust", adjust_vars(item, loc, "client-lost-1"),
                         payload_field="inventoryAdjustQuantities")
    assert res.data["inventoryAdjustQuantities"]["userErrors"] == []
    applied = [a for a in httpx.get(f"{sim.url}/_sim/adjustments").json()["adjustments"]
               if a["idempotencyKey"] == "client-lost-1" and a["name"] == "available"]
    assert len(applied) == 1
    from sync_agent.testing import available
    assert available(sim_state(sim.url), item, loc) == available(before, item, loc) - 1


def test_user_errors_are_classified(client, sim):
    _, loc = first_level(sim)
    with pytest.raises(ShopifyError) as err:
        client.execute("InventoryAdjust", adjust_vars("gid://shopify/InventoryItem/999999", loc, "client-bad-1"),
                       payload_field="inventoryAdjustQuantities")
    assert (err.value.kind, err.value.arrival, err.value.code) == (PERMANENT, ANSWERED, "INVALID_INVENTORY_ITEM")
    assert "could not be found" in err.value.message
    # the failed key cannot be used again
    with pytest.raises(ShopifyError) as err:
        client.execute("InventoryAdjust", adjust_vars("gid://shopify/InventoryItem/999999", loc, "client-bad-1"),
                       payload_field="inventoryAdjustQuantities")
    assert (err.value.kind, err.value.code) == (PERMANENT, "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED")
    item, _ = first_level(sim)
    with pytest.raises(ShopifyError) as err:
        client.execute("InventoryAdjust", adjust_vars(item, loc, "client-bad-1", delta=-2),
                       payload_field="inventoryAdjustQuantities")
    assert err.value.code in ("IDEMPOTENCY_KEY_PARAMETER_MISMATCH", "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED")
    assert err.value.kind == PERMANENT


def test_a_wrong_token_is_permanent_and_never_echoed(sim, caplog):
    secret = "shpat_WRONG_secret_never_print_me"
    c = ShopifyClient(ShopifyConfig(enabled=True, shop="x", endpoint=sim.url), token=secret)
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(ShopifyError) as err:
            c.execute("ShopAndLocations", {"first": 1})
    c.close()
    assert (err.value.kind, err.value.code) == (PERMANENT, "HTTP_401")
    assert secret not in str(err.value) and secret not in repr(err.value)
    assert secret not in caplog.text


def test_throttled_is_retryable_with_a_wait(client, sim):
    sim_post(sim.url, "throttle", {"bucket": 2000, "restore": 100, "currently": 0})
    with pytest.raises(ShopifyError) as err:
        client.execute("ShopAndLocations", {"first": 1})
    assert (err.value.kind, err.value.code) == (RETRY, "THROTTLED")
    assert err.value.wait >= 1


def test_the_client_paces_itself_from_throttle_status(client, sim):
    # A page asks for 882 points and costs far less: with a 900-point bucket, back-to-back pages
    # must wait for the bucket to refill; the client sleeps instead of being THROTTLED.
    sim_post(sim.url, "throttle", {"bucket": 900, "restore": 400, "currently": 900})
    slept = []

    def sleep(s):
        slept.append(s)
        import time
        time.sleep(s)

    client.sleep = sleep
    for _ in range(6):
        client.call("ProductsWithVariants", {"first": 20, "variantsFirst": 10},
                    attempts=1)  # attempts=1: a THROTTLED would raise
    assert len(slept) >= 4 and sum(slept) > 0.2


def test_call_backs_off_with_full_jitter_and_keeps_the_request(client, sim):
    sim_post(sim.url, "faults", {"error_rate": 1.0, "max_faults": 3})
    slept = []
    client.sleep, client.rand = slept.append, (lambda: 0.5)
    res = client.call("ShopAndLocations", {"first": 1}, attempts=5, base=1.0, cap=30.0)
    assert res.data["shop"]["name"]
    assert slept == [0.5, 1.0, 2.0]           # rand * min(cap, base * 2**n)
    assert backoff_delay(10, 1.0, 30.0, lambda: 1.0) == 30.0
    assert backoff_delay(3, 1.0, 30.0, lambda: 0.0) == 0.0
