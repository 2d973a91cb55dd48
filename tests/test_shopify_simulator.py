"""The Shopify simulator over real HTTP on 127.0.0.1 (httpx), using the agent's own documents."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from simulators.shopify.server import start

ROOT = Path(__file__).resolve().parents[1]
OPS = ROOT / "sync_agent" / "shopify" / "operations"


def op(name: str) -> str:
    text = (OPS / f"{name}.graphql").read_text()
    if "...VariantFields" in text:
        text += (OPS / "VariantFields.graphql").read_text()
    return text


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    handle = start(port=0, data_dir=tmp_path_factory.mktemp("shop"), seed_products=30)
    yield handle
    handle.stop()


@pytest.fixture
def client(sim):
    with httpx.Client(headers={"X-Shopify-Access-Token": sim.token}, timeout=10) as c:
        yield c
    # Each test leaves the shared simulator without faults and with the default bucket.
    httpx.post(f"{sim.url}/_sim/reset-faults")
    httpx.post(f"{sim.url}/_sim/throttle", json={"bucket": 2000, "restore": 100})


def gql(client, sim, query, variables=None):
    r = client.post(sim.graphql_url, json={"query": query, "variables": variables or {}})
    assert r.status_code == 200, r.text
    return r.json()


def state(sim):
    return httpx.get(f"{sim.url}/_sim/state").json()


def level(sim, item, loc):
    return next(i for i in state(sim)["inventory"] if i["inventoryItemId"] == item and i["locationId"] == loc)


def adjustments(sim, key):
    return httpx.get(f"{sim.url}/_sim/adjustments", params={"idempotencyKey": key}).json()["adjustments"]


def some_level(sim, index=0):
    inv = state(sim)["inventory"][index]
    return inv["inventoryItemId"], inv["locationId"]


def adjust_vars(key, item, loc, delta, cfq=None, reason="correction", **change):
    return {"idempotencyKey": key, "input": {
        "name": "available", "reason": reason, "referenceDocumentUri": f"gid://pk-pos/Sale/{key}",
        "changes": [{"inventoryItemId": item, "locationId": loc, "delta": delta, "changeFromQuantity": cfq, **change}]}}


# -- transport, auth, errors ---------------------------------------------------------------
def test_auth_is_required(sim):
    for headers in ({}, {"X-Shopify-Access-Token": "shpat_wrong"}):
        r = httpx.post(sim.graphql_url, json={"query": "{ shop { name } }"}, headers=headers)
        assert r.status_code == 401
        assert r.json() == {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}


def test_shop_answer_carries_version_and_cost(sim, client):
    r = client.post(sim.graphql_url, json={"query": op("ShopAndLocations"), "variables": {"first": 10}})
    assert r.headers["X-Shopify-API-Version"] == "2026-10"
    body = r.json()
    assert body["data"]["shop"]["currencyCode"] == "PKR"
    assert body["data"]["shop"]["ianaTimezone"] == "Asia/Karachi"
    assert len(body["data"]["locations"]["nodes"]) == 3
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 2 + 2 + 10 * 3 + 2 and 0 < cost["actualQueryCost"] <= cost["requestedQueryCost"]
    assert set(cost["throttleStatus"]) == {"maximumAvailable", "currentlyAvailable", "restoreRate"}


def test_version_falls_forward_and_mismatch_is_configurable(sim, client):
    r = client.post(f"{sim.url}/admin/api/2023-01/graphql.json", json={"query": "{ shop { name } }"})
    assert r.headers["X-Shopify-API-Version"] == "2025-10"
    httpx.post(f"{sim.url}/_sim/config", json={"served_version": "2026-07"})
    try:
        r = client.post(sim.graphql_url, json={"query": "{ shop { name } }"})
        assert r.headers["X-Shopify-API-Version"] == "2026-07"
    finally:
        httpx.post(f"{sim.url}/_sim/config", json={"served_version": None})


def test_invalid_document_gets_shopify_error_shape(sim, client):
    body = gql(client, sim, "query { shop { name compareQuantity } }")
    assert "data" not in body
    err = body["errors"][0]
    assert "compareQuantity" in err["message"]
    assert err["locations"] == [{"line": 1, "column": 21}]
    assert err["extensions"]["code"] == "undefinedField"


# -- idempotency ------------------------------------------------------------------------------
def test_adjust_applied_once_and_replay_returns_first_result(sim, client):
    item, loc = some_level(sim, 0)
    before = level(sim, item, loc)["available"]
    first = gql(client, sim, op("InventoryAdjust"), adjust_vars("sale-1", item, loc, -2))
    payload = first["data"]["inventoryAdjustQuantities"]
    assert payload["userErrors"] == []
    changes = {c["name"]: c for c in payload["inventoryAdjustmentGroup"]["changes"]}
    assert changes["available"]["quantityAfterChange"] == before - 2
    assert changes["on_hand"]["delta"] == -2
    again = gql(client, sim, op("InventoryAdjust"), adjust_vars("sale-1", item, loc, -2))
    assert again["data"] == first["data"]
    assert level(sim, item, loc)["available"] == before - 2
    assert [a["delta"] for a in adjustments(sim, "sale-1") if a["name"] == "available"] == [-2]


def test_same_key_other_variables_is_a_mismatch(sim, client):
    item, loc = some_level(sim, 1)
    gql(client, sim, op("InventoryAdjust"), adjust_vars("sale-2", item, loc, -1))
    before = level(sim, item, loc)["available"]
    body = gql(client, sim, op("InventoryAdjust"), adjust_vars("sale-2", item, loc, -5))
    payload = body["data"]["inventoryAdjustQuantities"]
    assert payload["inventoryAdjustmentGroup"] is None
    assert [e["code"] for e in payload["userErrors"]] == ["IDEMPOTENCY_KEY_PARAMETER_MISMATCH"]
    assert level(sim, item, loc)["available"] == before


def test_key_of_a_failed_attempt_cannot_be_reused(sim, client):
    item, loc = some_level(sim, 2)
    bad = adjust_vars("sale-3", item, loc, -1, reason="sale")  # "sale" is not a Shopify reason
    first = gql(client, sim, op("InventoryAdjust"), bad)["data"]["inventoryAdjustQuantities"]
    assert [e["code"] for e in first["userErrors"]] == ["INVALID_REASON"]
    second = gql(client, sim, op("InventoryAdjust"), bad)["data"]["inventoryAdjustQuantities"]
    assert [e["code"] for e in second["userErrors"]] == ["IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED"]
    assert adjustments(sim, "sale-3") == []


def test_concurrent_request_with_the_same_key(sim, client):
    item, loc = some_level(sim, 3)
    before = level(sim, item, loc)["available"]
    httpx.post(f"{sim.url}/_sim/faults", json={"hold_mutation_ms": 700})
    results = []

    def send():
        with httpx.Client(headers={"X-Shopify-Access-Token": sim.token}, timeout=10) as c:
            results.append(gql(c, sim, op("InventoryAdjust"), adjust_vars("sale-4", item, loc, -1)))

    first = threading.Thread(target=send)
    first.start()
    time.sleep(0.25)  # the first request is now held "in flight"
    send()
    first.join()
    codes = sorted(e.get("code") for r in results for e in r["data"]["inventoryAdjustQuantities"]["userErrors"])
    assert codes == ["IDEMPOTENCY_CONCURRENT_REQUEST"]
    assert level(sim, item, loc)["available"] == before - 1


def test_missing_idempotent_directive_is_refused(sim, client):
    item, loc = some_level(sim, 4)
    before = level(sim, item, loc)["available"]
    doc = op("InventoryAdjust").replace(" @idempotent(key: $idempotencyKey)", "").replace(", $idempotencyKey: String!", "")
    v = adjust_vars("x", item, loc, -1)
    del v["idempotencyKey"]
    body = gql(client, sim, doc, v)
    assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert "@idempotent directive is required" in body["errors"][0]["message"]
    assert "data" not in body
    assert level(sim, item, loc)["available"] == before


def test_missing_change_from_quantity_is_refused(sim, client):
    item, loc = some_level(sim, 5)
    before = level(sim, item, loc)["available"]
    v = adjust_vars("sale-6", item, loc, -1)
    del v["input"]["changes"][0]["changeFromQuantity"]  # omitted, not null
    body = gql(client, sim, op("InventoryAdjust"), v)
    assert body["errors"][0]["extensions"]["code"] == "INVALID_FIELD_ARGUMENTS"
    assert body["errors"][0]["message"] == "InventoryChangeInput must include the following argument: changeFromQuantity"
    assert level(sim, item, loc)["available"] == before and adjustments(sim, "sale-6") == []


def test_stale_compare_and_swap_applies_nothing(sim, client):
    (item1, loc1), (item2, loc2) = some_level(sim, 6), some_level(sim, 7)
    on_hand1, on_hand2 = level(sim, item1, loc1)["on_hand"], level(sim, item2, loc2)["on_hand"]

    def set_vars(key, cfq2):
        return {"idempotencyKey": key, "input": {
            "name": "on_hand", "reason": "cycle_count_available", "referenceDocumentUri": "gid://pk-pos/CycleCount/1",
            "quantities": [{"inventoryItemId": item1, "locationId": loc1, "quantity": 50, "changeFromQuantity": on_hand1},
                           {"inventoryItemId": item2, "locationId": loc2, "quantity": 60, "changeFromQuantity": cfq2}]}}

    stale = gql(client, sim, op("InventorySet"), set_vars("count-1", on_hand2 + 3))["data"]["inventorySetQuantities"]
    assert stale["inventoryAdjustmentGroup"] is None
    assert [(e["code"], e["field"]) for e in stale["userErrors"]] == [
        ("CHANGE_FROM_QUANTITY_STALE", ["input", "quantities", "1", "changeFromQuantity"])]
    assert level(sim, item1, loc1)["on_hand"] == on_hand1  # the valid row was not applied either
    ok = gql(client, sim, op("InventorySet"), set_vars("count-2", on_hand2))["data"]["inventorySetQuantities"]
    assert ok["userErrors"] == []
    assert (level(sim, item1, loc1)["on_hand"], level(sim, item2, loc2)["on_hand"]) == (50, 60)


def test_unknown_ids_and_unstocked_location(sim, client):
    loc_ids = [loc["id"] for loc in state(sim)["locations"]]
    product = httpx.post(f"{sim.url}/_sim/products", json={"action": "create", "product": {
        "title": "Chikankari Kurta", "productType": "Kurta",
        "variants": [{"sku": "CHK-M", "barcode": "8961234567895", "price": "3200.00", "inventory": {loc_ids[0]: 4}}]}}).json()["product"]
    item = product["variants"][0]["inventoryItemId"]
    unknown = gql(client, sim, op("InventoryAdjust"), adjust_vars("u-1", "gid://shopify/InventoryItem/999999", loc_ids[0], 1))
    assert [e["code"] for e in unknown["data"]["inventoryAdjustQuantities"]["userErrors"]] == ["INVALID_INVENTORY_ITEM"]
    unstocked = gql(client, sim, op("InventoryAdjust"), adjust_vars("u-2", item, loc_ids[1], 1))
    assert [e["code"] for e in unstocked["data"]["inventoryAdjustQuantities"]["userErrors"]] == ["INVALID_LOCATION"]
    names = ["available", "on_hand"]
    read = gql(client, sim, op("InventoryItemAtLocation"), {"inventoryItemId": item, "locationId": loc_ids[1], "names": names})
    assert read["data"]["inventoryItem"]["inventoryLevel"] is None
    act = gql(client, sim, op("InventoryActivate"),
              {"inventoryItemId": item, "locationId": loc_ids[1], "available": 0, "idempotencyKey": "act-1"})
    assert act["data"]["inventoryActivate"]["userErrors"] == []
    ok = gql(client, sim, op("InventoryAdjust"), adjust_vars("u-3", item, loc_ids[1], 3))
    assert ok["data"]["inventoryAdjustQuantities"]["userErrors"] == []
    read = gql(client, sim, op("InventoryItemAtLocation"), {"inventoryItemId": item, "locationId": loc_ids[1], "names": names})
    assert [q["quantity"] for q in read["data"]["inventoryItem"]["inventoryLevel"]["quantities"]] == [3, 3]


# -- cost and throttling ----------------------------------------------------------------------
CANCEL = 'mutation { bulkOperationCancel(id: "gid://shopify/BulkOperation/1") { userErrors { message } } }'


def test_throttled_with_http_200_then_recovers(sim, client):
    httpx.post(f"{sim.url}/_sim/throttle", json={"bucket": 25, "restore": 10})
    for _ in range(2):  # a mutation costs 10 (requested == actual): 25 -> 15 -> 5
        assert "errors" not in gql(client, sim, CANCEL)
    r = client.post(sim.graphql_url, json={"query": CANCEL})
    assert r.status_code == 200
    body = r.json()
    assert body["errors"][0]["extensions"]["code"] == "THROTTLED" and "data" not in body
    cost = body["extensions"]["cost"]
    assert cost["actualQueryCost"] is None and cost["requestedQueryCost"] == 10
    status = cost["throttleStatus"]
    time.sleep(math.ceil((10 - status["currentlyAvailable"]) / status["restoreRate"] * 10) / 10 + 0.1)
    assert "errors" not in gql(client, sim, CANCEL)


def test_first_above_250_is_refused(sim, client):
    body = gql(client, sim, "{ products(first: 251) { nodes { id } } }")
    assert "data" not in body and "250" in body["errors"][0]["message"]


def test_query_cost_above_1000_is_refused_without_charge(sim, client):
    body = gql(client, sim, op("ProductsWithVariants"), {"first": 100, "variantsFirst": 10})
    cost = 2 + 100 * (1 + 1 + 2 + 10 * 4)  # per variant: itself, inventoryItem, urduName metafield, +1
    assert body["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert body["errors"][0]["message"].startswith(
        f"Query cost is {cost}, which exceeds the single query max cost limit (1000).")
    assert body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 2000


# -- catalog reads ------------------------------------------------------------------------------
def test_products_paged_over_three_pages(sim, client):
    live = [p["id"] for p in state(sim)["products"] if not p["deleted"]]
    size = math.ceil(len(live) / 3)
    seen, after, pages = [], None, 0
    while True:
        page = gql(client, sim, op("ProductsWithVariants"), {"first": size, "after": after, "variantsFirst": 5})
        conn = page["data"]["products"]
        seen += [p["id"] for p in conn["nodes"]]
        pages += 1
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    assert pages == 3
    assert sorted(seen) == sorted(live) and len(set(seen)) == len(seen)


def test_incremental_updated_at_filter_archive_and_delete(sim, client):
    httpx.post(f"{sim.url}/_sim/clock", json={"advance_seconds": 60})
    watermark = httpx.post(f"{sim.url}/_sim/clock", json={"advance_seconds": 0}).json()["now"]
    httpx.post(f"{sim.url}/_sim/clock", json={"advance_seconds": 5})
    products = [p for p in state(sim)["products"] if not p["deleted"]]
    changed, archived, deleted = products[0], products[1], products[2]
    httpx.post(f"{sim.url}/_sim/products", json={"action": "update", "id": changed["id"], "product": {
        "variants": [{"id": changed["variants"][0]["id"], "price": "9999.00"}]}})
    httpx.post(f"{sim.url}/_sim/products", json={"action": "archive", "id": archived["id"]})
    httpx.post(f"{sim.url}/_sim/products", json={"action": "delete", "id": deleted["id"]})
    body = gql(client, sim, op("ProductsWithVariants"),
               {"first": 20, "variantsFirst": 10, "query": f"updated_at:>'{watermark}'"})
    got = {p["id"]: p for p in body["data"]["products"]["nodes"]}
    assert set(got) == {changed["id"], archived["id"]}
    assert got[archived["id"]]["status"] == "ARCHIVED"
    assert got[changed["id"]]["variants"]["nodes"][0]["price"] == "9999.00"
    gone = gql(client, sim, op("DeletedProductsSince"), {"first": 10, "query": f"occurred_at:>'{watermark}'"})
    assert [e["subjectId"] for e in gone["data"]["deletionEvents"]["nodes"]] == [deleted["id"]]


def test_customers_with_phone_and_location_levels(sim, client):
    body = gql(client, sim, op("CustomersUpdatedSince"), {"first": 5})
    nodes = body["data"]["customers"]["nodes"]
    assert len(nodes) == 5 and all(n["defaultPhoneNumber"]["phoneNumber"].startswith("+92") for n in nodes)
    loc = state(sim)["locations"][0]["id"]
    levels, after = [], None
    while True:
        page = gql(client, sim, op("LocationInventoryLevels"),
                   {"locationId": loc, "first": 40, "after": after, "names": ["available", "committed", "on_hand"]})
        conn = page["data"]["location"]["inventoryLevels"]
        levels += conn["nodes"]
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    expected = {i["inventoryItemId"]: i["on_hand"] for i in state(sim)["inventory"] if i["locationId"] == loc}
    assert {lv["item"]["id"]: lv["quantities"][2]["quantity"] for lv in levels} == expected


def test_bulk_operation_run_poll_download(sim, client):
    started = gql(client, sim, op("BulkRunQuery"), {"query": op("BulkCatalogQuery").replace("2026-01-01T00:00:00Z", "2000-01-01")})
    bulk = started["data"]["bulkOperationRunQuery"]["bulkOperation"]
    assert bulk["status"] == "CREATED"
    deadline = time.time() + 10
    while True:
        polled = gql(client, sim, op("BulkOperationById"), {"id": bulk["id"]})["data"]["bulkOperation"]
        if polled["status"] == "COMPLETED" or time.time() > deadline:
            break
        time.sleep(0.1)
    assert polled["status"] == "COMPLETED" and polled["url"].startswith(f"{sim.url}/")
    lines = [__import__("json").loads(x) for x in httpx.get(polled["url"]).text.splitlines()]
    products = {p["id"]: p for p in state(sim)["products"] if not p["deleted"]}
    roots = [x for x in lines if "__parentId" not in x]
    children = [x for x in lines if "__parentId" in x]
    assert {r["id"] for r in roots} == set(products)
    assert int(polled["rootObjectCount"]) == len(roots) and int(polled["objectCount"]) == len(lines)
    for product_id, product in products.items():
        joined = {c["sku"] for c in children if c["__parentId"] == product_id}
        assert joined == {v["sku"] for v in product["variants"]}
    position = {x["id"]: i for i, x in enumerate(lines)}
    assert all(position[c["__parentId"]] < position[c["id"]] for c in children)
    assert any(position[c["id"]] - position[c["__parentId"]] > 1 for c in children)  # not parent-adjacent


def test_bulk_query_without_connection_is_invalid(sim, client):
    body = gql(client, sim, op("BulkRunQuery"), {"query": "{ shop { name } }"})
    assert [e["code"] for e in body["data"]["bulkOperationRunQuery"]["userErrors"]] == ["INVALID"]


# -- faults ----------------------------------------------------------------------------------
def test_latency_fault(sim, client):
    httpx.post(f"{sim.url}/_sim/faults", json={"latency_ms": 300})
    t0 = time.monotonic()
    gql(client, sim, "{ shop { name } }")
    assert time.monotonic() - t0 >= 0.3


def test_http_5xx_fault_applies_nothing_and_is_seeded(sim, client):
    item, loc = some_level(sim, 8)
    before = level(sim, item, loc)["available"]
    httpx.post(f"{sim.url}/_sim/faults", json={"error_rate": 1.0, "seed": 1})
    r = client.post(sim.graphql_url, json={"query": op("InventoryAdjust"), "variables": adjust_vars("f-1", item, loc, -1)})
    assert r.status_code in (502, 503)
    assert level(sim, item, loc)["available"] == before and adjustments(sim, "f-1") == []

    def sequence():
        httpx.post(f"{sim.url}/_sim/faults", json={"error_rate": 0.5, "seed": 7})
        return [client.post(sim.graphql_url, json={"query": "{ shop { name } }"}).status_code for _ in range(8)]

    first = sequence()
    assert first == sequence() and 200 in first and {502, 503} & set(first)


def test_drop_before_apply_leaves_state_unchanged(sim, client):
    item, loc = some_level(sim, 9)
    before = level(sim, item, loc)["available"]
    httpx.post(f"{sim.url}/_sim/faults", json={"drop_before_rate": 1.0, "scope": "mutations"})
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(sim.graphql_url, json={"query": op("InventoryAdjust"), "variables": adjust_vars("f-2", item, loc, -1)})
    assert level(sim, item, loc)["available"] == before and adjustments(sim, "f-2") == []
    httpx.post(f"{sim.url}/_sim/reset-faults")
    gql(client, sim, op("InventoryAdjust"), adjust_vars("f-2", item, loc, -1))
    assert level(sim, item, loc)["available"] == before - 1


def test_apply_then_drop_keeps_the_change_and_resend_replays(sim, client):
    item, loc = some_level(sim, 10)
    before = level(sim, item, loc)["available"]
    httpx.post(f"{sim.url}/_sim/faults", json={"drop_after_rate": 1.0, "scope": "mutations", "max_faults": 1})
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(sim.graphql_url, json={"query": op("InventoryAdjust"), "variables": adjust_vars("f-3", item, loc, -1)})
    assert level(sim, item, loc)["available"] == before - 1
    assert [(a["delta"], a["reason"], a["referenceDocumentUri"]) for a in adjustments(sim, "f-3") if a["name"] == "available"] \
        == [(-1, "correction", "gid://pk-pos/Sale/f-3")]
    resend = gql(client, sim, op("InventoryAdjust"), adjust_vars("f-3", item, loc, -1))  # max_faults used up
    assert resend["data"]["inventoryAdjustQuantities"]["userErrors"] == []
    assert level(sim, item, loc)["available"] == before - 1


# -- persistence and the process ---------------------------------------------------------------
def test_state_and_keys_survive_restart(tmp_path):
    first = start(port=0, data_dir=tmp_path, seed_products=3)
    with httpx.Client(headers={"X-Shopify-Access-Token": first.token}) as c:
        item, loc = some_level(first)
        before = level(first, item, loc)["available"]
        applied = gql(c, first, op("InventoryAdjust"), adjust_vars("p-1", item, loc, 5))
    first.stop()
    second = start(port=0, data_dir=tmp_path, seed_products=50)  # existing state wins over seeding
    try:
        assert len(state(second)["products"]) == 3
        assert level(second, item, loc)["available"] == before + 5
        with httpx.Client(headers={"X-Shopify-Access-Token": second.token}) as c:
            replay = gql(c, second, op("InventoryAdjust"), adjust_vars("p-1", item, loc, 5))
        assert replay["data"] == applied["data"]
        assert level(second, item, loc)["available"] == before + 5
    finally:
        second.stop()


def test_cli_subprocess_prints_start_line_and_serves(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "simulators", "shopify", "--port", "0", "--data", str(tmp_path),
                             "--seed-products", "2", "--token", "shpat_cli"],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        m = re.fullmatch(r"listening on (http://127\.0\.0\.1:(\d+))", line)
        assert m, line
        r = httpx.post(f"{m.group(1)}/admin/api/2026-10/graphql.json", json={"query": "{ shop { name } }"},
                       headers={"X-Shopify-Access-Token": "shpat_cli"})
        assert r.json()["data"]["shop"]["name"]
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    assert (tmp_path / "state.json").exists()


def test_idempotency_key_expires_after_24_hours(tmp_path):
    own = start(port=0, data_dir=tmp_path, seed_products=2)
    try:
        with httpx.Client(headers={"X-Shopify-Access-Token": own.token}) as c:
            item, loc = some_level(own)
            before = level(own, item, loc)["available"]
            gql(c, own, op("InventoryAdjust"), adjust_vars("e-1", item, loc, 1))
            httpx.post(f"{own.url}/_sim/clock", json={"advance_seconds": 23 * 3600})
            gql(c, own, op("InventoryAdjust"), adjust_vars("e-1", item, loc, 1))
            assert level(own, item, loc)["available"] == before + 1   # still remembered at 23 h
            httpx.post(f"{own.url}/_sim/clock", json={"advance_seconds": 2 * 3600})
            gql(c, own, op("InventoryAdjust"), adjust_vars("e-1", item, loc, 1))
            assert level(own, item, loc)["available"] == before + 2   # forgotten after 24 h: applied again
    finally:
        own.stop()
