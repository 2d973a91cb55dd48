"""Online orders in the Shopify simulator, over real HTTP (httpx), with the agent's own documents.

The control endpoint POST /_sim/orders plays the customer (checkout) and the merchant (admin);
the GraphQL endpoint is what the agent sees. Stock is checked at /_sim/state after each step.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import httpx
import pytest

from simulators.shopify.server import start

ROOT = Path(__file__).resolve().parents[1]
OPS = ROOT / "sync_agent" / "shopify" / "operations"
ORDER_OPS = ("OrdersUpdatedSince", "OrderLineItemsMore", "OrderById", "OrderFulfillmentOrders", "OrderFulfillments",
             "OrderDetailForSync", "FulfillmentCreate", "FulfillmentOrderMove", "TagsAdd", "TagsRemove")
_sku = itertools.count(1)


def op(name: str) -> str:
    return (OPS / f"{name}.graphql").read_text()


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    handle = start(port=0, data_dir=tmp_path_factory.mktemp("orders"), seed_products=0)  # 3 default branches
    yield handle
    handle.stop()


@pytest.fixture
def client(sim):
    with httpx.Client(headers={"X-Shopify-Access-Token": sim.token}, timeout=10) as c:
        yield c
    httpx.post(f"{sim.url}/_sim/reset-faults")


def gql(client, sim, name, variables):
    r = client.post(sim.graphql_url, json={"query": op(name), "variables": variables})
    assert r.status_code == 200, r.text
    body = r.json()
    assert "errors" not in body, body
    return body["data"]


def control(sim, status=200, **body):
    r = httpx.post(f"{sim.url}/_sim/orders", json=body)
    assert r.status_code == status, r.text
    return r.json()


def loc_id(sim, code):
    return next(loc["id"] for loc in httpx.get(f"{sim.url}/_sim/state").json()["locations"] if loc["code"] == code)


def stock(sim, sku, code):
    inv = httpx.get(f"{sim.url}/_sim/state").json()["inventory"]
    lv = next(i for i in inv if i["sku"] == sku and i["locationId"] == loc_id(sim, code))
    return {k: lv[k] for k in ("available", "committed", "on_hand")}


def product(sim, stock_by_code=None, price="2500.00"):
    """A fresh SKU (tests share one shop) stocked at the given branches."""
    sku = f"KRT-{next(_sku):03d}"
    httpx.post(f"{sim.url}/_sim/products", json={"product": {"title": f"Cotton Kurta {sku}", "variants": [
        {"sku": sku, "price": price, "inventory": stock_by_code or {"LHR-01": 10, "KHI-02": 5}}]}}).raise_for_status()
    return sku


def place(sim, *lines, **extra):
    body = {"action": "create", "gateway": "Cash on Delivery (COD)", "location": "LHR-01",
            "customer": {"firstName": "Ayesha", "lastName": "Khan", "phone": "+923001234567"},
            "phone": "+923001234567",
            "shippingAddress": {"firstName": "Ayesha", "lastName": "Khan", "address1": "House 12, Street 4, DHA Phase 5",
                                "city": "Lahore", "province": "Punjab", "zip": "54000", "phone": "+923001234567"},
            "lines": [{"sku": s, "quantity": q} for s, q in lines], **extra}
    return control(sim, **body)["order"]


def now(sim):
    return httpx.get(f"{sim.url}/_sim/state").json()["now"]


def tick(sim, seconds=2):
    httpx.post(f"{sim.url}/_sim/clock", json={"advance_seconds": seconds})


def poll(client, sim, since, first=2):
    """The agent's poll loop: page with cursors until hasNextPage is false."""
    seen, after, pages = [], None, 0
    while True:
        page = gql(client, sim, "OrdersUpdatedSince", {"first": first, "after": after, "lineItemsFirst": 10,
                                                         "query": f"updated_at:>='{since}'"})["orders"]
        seen += page["nodes"]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            return seen, pages
        after = page["pageInfo"]["endCursor"]


def fulfillment_orders(client, sim, order_id):
    return gql(client, sim, "OrderFulfillmentOrders", {"orderId": order_id})["order"]["fulfillmentOrders"]["nodes"]


def fulfil_vars(fo, qty=None, number="779012345678"):
    entry = {"fulfillmentOrderId": fo["id"]}
    if qty is not None:
        entry["fulfillmentOrderLineItems"] = [{"id": fo["lineItems"]["nodes"][0]["id"], "quantity": qty}]
    return {"message": "Shipped from Lahore branch", "fulfillment": {
        "notifyCustomer": True, "lineItemsByFulfillmentOrder": [entry],
        "trackingInfo": {"company": "TCS", "number": number, "url": f"https://www.tcsexpress.com/track/{number}"}}}


# -- tests -------------------------------------------------------------------------------------------
def test_operation_documents_exist():
    assert all((OPS / f"{n}.graphql").exists() for n in ORDER_OPS)


def test_order_placed_commits_stock_at_the_assigned_location(sim, client):
    sku = product(sim)
    order = place(sim, (sku, 2), tags=["web"], note="Call before delivery")
    assert stock(sim, sku, "LHR-01") == {"available": 8, "committed": 2, "on_hand": 10}
    assert stock(sim, sku, "KHI-02") == {"available": 5, "committed": 0, "on_hand": 5}

    o = gql(client, sim, "OrderById", {"id": order["id"], "lineItemsFirst": 20})["order"]
    assert o["name"].startswith("#") and int(o["name"][1:]) >= 1001
    assert o["paymentGatewayNames"] == ["Cash on Delivery (COD)"]
    assert (o["displayFinancialStatus"], o["displayFulfillmentStatus"]) == ("PENDING", "UNFULFILLED")
    assert o["customer"]["defaultPhoneNumber"]["phoneNumber"] == "+923001234567"
    assert o["shippingAddress"]["phone"] == "+923001234567" and o["shippingAddress"]["countryCodeV2"] == "PK"
    assert o["totalOutstandingSet"]["shopMoney"] == {"amount": "5000.00", "currencyCode": "PKR"}
    assert o["tags"] == ["web"] and o["note"] == "Call before delivery" and o["edited"] is False
    line = o["lineItems"]["nodes"][0]
    assert (line["sku"], line["quantity"], line["currentQuantity"]) == (sku, 2, 2)
    assert line["variant"]["inventoryItem"]["id"].startswith("gid://shopify/InventoryItem/")
    [fo] = o["fulfillmentOrders"]["nodes"]
    assert fo["status"] == "OPEN" and fo["assignedLocation"]["location"]["id"] == loc_id(sim, "LHR-01")
    assert {"CREATE_FULFILLMENT", "MOVE"} <= {a["action"] for a in fo["supportedActions"]}
    assert fo["lineItems"]["nodes"][0]["remainingQuantity"] == 2 and o["fulfillments"] == []


def test_checkout_refuses_what_is_not_available(sim):
    sku = product(sim, {"LHR-01": 1})
    before = stock(sim, sku, "LHR-01")
    assert "not enough" in control(sim, 400, action="create", location="LHR-01",
                                   lines=[{"sku": sku, "quantity": 2}])["error"]
    assert stock(sim, sku, "LHR-01") == before


def test_poll_with_updated_at_and_cursors_sees_create_edit_cancel(sim, client):
    sku = product(sim)
    tick(sim)  # the simulator is shared by this file's tests: start past their orders' second
    since = now(sim)
    created = [place(sim, (sku, 1)) for _ in range(3)]
    seen, pages = poll(client, sim, since)
    assert [o["id"] for o in seen] == [o["id"] for o in created] and pages == 2   # first: 2, oldest update first

    tick(sim)
    since = now(sim)
    control(sim, action="edit", id=created[0]["id"], changes=[{"sku": sku, "quantity": 0}],
            add=[{"sku": sku, "quantity": 2}])
    control(sim, action="cancel", id=created[1]["name"], reason="CUSTOMER", restock=True)
    seen, _ = poll(client, sim, since)
    by_id = {o["id"]: o for o in seen}
    assert set(by_id) == {created[0]["id"], created[1]["id"]}          # the untouched order is not re-read
    edited = by_id[created[0]["id"]]
    assert edited["edited"] is True and edited["updatedAt"] >= since
    assert [(li["quantity"], li["currentQuantity"]) for li in edited["lineItems"]["nodes"]] == [(1, 0), (2, 2)]
    cancelled = by_id[created[1]["id"]]
    assert cancelled["cancelReason"] == "CUSTOMER" and cancelled["cancelledAt"]
    assert cancelled["displayFinancialStatus"] == "VOIDED"               # COD: nothing was collected
    assert cancelled["lineItems"]["nodes"][0]["currentQuantity"] == 0
    assert gql(client, sim, "OrdersUpdatedSince", {"first": 5, "lineItemsFirst": 5,
                                                   "query": "updated_at:>='2099-01-01T00:00:00Z'"})["orders"]["nodes"] == []


def test_partial_fulfillment_in_two_calls(sim, client):
    sku = product(sim)
    order = place(sim, (sku, 3))
    [fo] = fulfillment_orders(client, sim, order["id"])
    first = gql(client, sim, "FulfillmentCreate", fulfil_vars(fo, 1, "TCS-1"))["fulfillmentCreate"]
    assert first["userErrors"] == []
    f = first["fulfillment"]
    assert f["status"] == "SUCCESS" and f["location"]["id"] == loc_id(sim, "LHR-01")
    assert f["trackingInfo"] == [{"company": "TCS", "number": "TCS-1", "url": "https://www.tcsexpress.com/track/TCS-1"}]
    assert [n["quantity"] for n in f["fulfillmentLineItems"]["nodes"]] == [1]
    assert stock(sim, sku, "LHR-01") == {"available": 7, "committed": 2, "on_hand": 9}
    [fo] = fulfillment_orders(client, sim, order["id"])
    assert fo["status"] == "IN_PROGRESS" and fo["lineItems"]["nodes"][0]["remainingQuantity"] == 2

    second = gql(client, sim, "FulfillmentCreate", fulfil_vars(fo, None, "TCS-2"))["fulfillmentCreate"]  # the rest
    assert second["userErrors"] == [] and second["fulfillment"]["fulfillmentLineItems"]["nodes"][0]["quantity"] == 2
    assert stock(sim, sku, "LHR-01") == {"available": 7, "committed": 0, "on_hand": 7}
    o = gql(client, sim, "OrderFulfillmentOrders", {"orderId": order["id"]})["order"]
    assert o["displayFulfillmentStatus"] == "FULFILLED"
    assert o["fulfillmentOrders"]["nodes"][0]["status"] == "CLOSED"
    assert o["fulfillmentOrders"]["nodes"][0]["supportedActions"] == []
    assert [f["trackingInfo"][0]["number"] for f in o["fulfillments"]] == ["TCS-1", "TCS-2"]


def test_over_quantity_and_unknown_ids_are_refused_with_user_errors(sim, client):
    sku = product(sim)
    order = place(sim, (sku, 2))
    [fo] = fulfillment_orders(client, sim, order["id"])
    before = stock(sim, sku, "LHR-01")
    out = gql(client, sim, "FulfillmentCreate", fulfil_vars(fo, 5))["fulfillmentCreate"]
    assert out["fulfillment"] is None
    assert out["userErrors"] == [{"field": ["fulfillment", "lineItemsByFulfillmentOrder", "0",
                                            "fulfillmentOrderLineItems", "0", "quantity"],
                                  "message": "Invalid fulfillment order line item quantity requested."}]
    bogus = fulfil_vars({"id": "gid://shopify/FulfillmentOrder/999999"})
    out = gql(client, sim, "FulfillmentCreate", bogus)["fulfillmentCreate"]
    assert out["fulfillment"] is None and "does not exist" in out["userErrors"][0]["message"]
    assert set(out["userErrors"][0]) == {"field", "message"}                  # generic UserError: no code
    assert stock(sim, sku, "LHR-01") == before
    assert httpx.get(f"{sim.url}/_sim/orders", params={"id": order["id"]}).json()["orders"][0]["fulfillments"] == []


def test_move_then_fulfil_at_the_new_branch(sim, client):
    sku = product(sim, {"LHR-01": 10, "KHI-02": 5})
    order = place(sim, (sku, 2))
    [fo] = fulfillment_orders(client, sim, order["id"])
    khi, isb = loc_id(sim, "KHI-02"), loc_id(sim, "ISB-03")

    refused = gql(client, sim, "FulfillmentOrderMove", {"id": fo["id"], "newLocationId": isb})["fulfillmentOrderMove"]
    assert refused["movedFulfillmentOrder"] is None and refused["userErrors"][0]["code"] is None
    assert set(refused["userErrors"][0]) == {"field", "message", "code"}     # typed error shape

    moved = gql(client, sim, "FulfillmentOrderMove", {"id": fo["id"], "newLocationId": khi})["fulfillmentOrderMove"]
    assert moved["userErrors"] == []
    assert moved["movedFulfillmentOrder"]["id"] == fo["id"]                   # nothing shipped: the FO itself moves
    assert moved["movedFulfillmentOrder"]["assignedLocation"]["location"]["id"] == khi
    assert stock(sim, sku, "LHR-01") == {"available": 10, "committed": 0, "on_hand": 10}
    assert stock(sim, sku, "KHI-02") == {"available": 3, "committed": 2, "on_hand": 5}

    [fo] = fulfillment_orders(client, sim, order["id"])
    out = gql(client, sim, "FulfillmentCreate", fulfil_vars(fo))["fulfillmentCreate"]
    assert out["userErrors"] == [] and out["fulfillment"]["location"]["id"] == khi
    assert stock(sim, sku, "KHI-02") == {"available": 3, "committed": 0, "on_hand": 3}
    assert stock(sim, sku, "LHR-01") == {"available": 10, "committed": 0, "on_hand": 10}


def test_partly_shipped_fo_moves_only_the_rest(sim, client):
    sku = product(sim)
    order = place(sim, (sku, 3))
    [fo] = fulfillment_orders(client, sim, order["id"])
    gql(client, sim, "FulfillmentCreate", fulfil_vars(fo, 1))
    moved = gql(client, sim, "FulfillmentOrderMove", {"id": fo["id"], "newLocationId": loc_id(sim, "KHI-02")})
    moved = moved["fulfillmentOrderMove"]
    assert moved["movedFulfillmentOrder"]["id"] != fo["id"] and moved["originalFulfillmentOrder"]["status"] == "CLOSED"
    assert stock(sim, sku, "LHR-01") == {"available": 9, "committed": 0, "on_hand": 9}
    assert stock(sim, sku, "KHI-02") == {"available": 3, "committed": 2, "on_hand": 5}


def test_lost_response_leaves_one_fulfillment_and_a_blind_resend_makes_two(sim, client):
    sku = product(sim)
    order = place(sim, (sku, 3))
    [fo] = fulfillment_orders(client, sim, order["id"])
    body = {"query": op("FulfillmentCreate"), "variables": fulfil_vars(fo, 1, "LOST-1")}
    httpx.post(f"{sim.url}/_sim/faults", json={"drop_after_rate": 1.0, "scope": "mutations", "max_faults": 1})
    with pytest.raises(httpx.TransportError):
        client.post(sim.graphql_url, json=body)

    log = httpx.get(f"{sim.url}/_sim/orders", params={"id": order["id"]}).json()
    assert [f["trackingNumbers"] for f in log["apiFulfillments"]] == [["LOST-1"]]   # applied once
    # What the agent must do before resending: read the order's fulfillments and find its number.
    existing = gql(client, sim, "OrderFulfillments", {"orderId": order["id"]})["order"]["fulfillments"]
    assert [(f["trackingInfo"][0]["number"], f["totalQuantity"]) for f in existing] == [("LOST-1", 1)]
    assert existing[0]["fulfillmentLineItems"]["nodes"][0]["lineItem"]["sku"] == sku

    resend = client.post(sim.graphql_url, json=body).json()["data"]["fulfillmentCreate"]   # not idempotent
    assert resend["userErrors"] == []
    log = httpx.get(f"{sim.url}/_sim/orders", params={"id": order["id"]}).json()
    assert [f["trackingNumbers"] for f in log["apiFulfillments"]] == [["LOST-1"], ["LOST-1"]]
    assert stock(sim, sku, "LHR-01")["on_hand"] == 8                         # two units shipped, not one


def test_faults_apply_to_order_queries(sim, client):
    httpx.post(f"{sim.url}/_sim/faults", json={"error_rate": 1.0, "scope": "queries", "seed": 3})
    r = client.post(sim.graphql_url, json={"query": op("OrdersUpdatedSince"), "variables": {
        "first": 1, "lineItemsFirst": 1, "query": "updated_at:>='2020-01-01T00:00:00Z'"}})
    assert r.status_code in (502, 503)


def test_tags_add_is_a_set_and_tags_remove(sim, client):
    sku = product(sim)
    order = place(sim, (sku, 1), tags=["web"])
    tick(sim)
    out = gql(client, sim, "TagsAdd", {"id": order["id"], "tags": ["pos-synced", "courier:TCS"]})["tagsAdd"]
    assert out["userErrors"] == [] and out["node"]["tags"] == ["web", "pos-synced", "courier:TCS"]
    updated = httpx.get(f"{sim.url}/_sim/orders", params={"id": order["id"]}).json()["orders"][0]["updatedAt"]
    assert updated > order["updatedAt"]
    again = gql(client, sim, "TagsAdd", {"id": order["id"], "tags": ["pos-synced", "branch:LHR-01, courier:TCS"]})
    assert sorted(again["tagsAdd"]["node"]["tags"]) == sorted(["web", "pos-synced", "courier:TCS", "branch:LHR-01"])
    removed = gql(client, sim, "TagsRemove", {"id": order["id"], "tags": ["web", "not-there"]})["tagsRemove"]
    assert "web" not in removed["node"]["tags"] and len(removed["node"]["tags"]) == 3
    missing = gql(client, sim, "TagsAdd", {"id": "gid://shopify/Order/999999", "tags": ["x"]})["tagsAdd"]
    assert missing["node"] is None and missing["userErrors"][0]["field"] == ["id"]


def test_admin_fulfillment_shows_in_the_orders_fulfillments(sim, client):
    sku = product(sim)
    order = place(sim, (sku, 2))
    out = control(sim, action="fulfill", id=order["name"], lines=[{"sku": sku, "quantity": 2}],
                  tracking={"company": "Leopards Courier", "number": "LE7512345",
                            "url": "https://www.leopardscourier.com/tracking?cn=LE7512345"})
    assert out["fulfillments"][0]["origin"] == "admin"
    o = gql(client, sim, "OrderById", {"id": order["id"], "lineItemsFirst": 20})["order"]
    assert o["displayFulfillmentStatus"] == "FULFILLED"
    assert o["fulfillments"][0]["trackingInfo"][0]["company"] == "Leopards Courier"
    assert o["fulfillments"][0]["location"]["id"] == loc_id(sim, "LHR-01")
    assert stock(sim, sku, "LHR-01") == {"available": 8, "committed": 0, "on_hand": 8}
    listing = httpx.get(f"{sim.url}/_sim/orders", params={"id": order["id"]}).json()
    assert listing["apiFulfillments"] == []                                  # not made by the agent


def test_edit_records_what_changed(sim, client):
    sku, extra = product(sim), product(sim, price="1800.00")
    order = place(sim, (sku, 3))
    out = control(sim, action="edit", id=order["id"], changes=[{"sku": sku, "quantity": 1}],
                  add=[{"sku": extra, "quantity": 1}])
    assert out["agreement"]["reason"] == "ORDER_EDIT"
    assert stock(sim, sku, "LHR-01") == {"available": 9, "committed": 1, "on_hand": 10}
    assert stock(sim, extra, "LHR-01") == {"available": 9, "committed": 1, "on_hand": 10}

    detail = gql(client, sim, "OrderDetailForSync", {"id": order["id"], "since": f"happened_at:>='{order['createdAt']}'"})
    agreements = detail["order"]["agreements"]["nodes"]
    assert [a["reason"] for a in agreements] == ["ORDER", "ORDER_EDIT"]
    sales = [(s["actionType"], s["quantity"], s["lineItem"]["sku"]) for s in agreements[1]["sales"]["nodes"]]
    assert sales == [("RETURN", -2, sku), ("ORDER", 1, extra)]
    o = gql(client, sim, "OrderById", {"id": order["id"], "lineItemsFirst": 20})["order"]
    assert o["edited"] is True
    assert [(li["sku"], li["quantity"], li["currentQuantity"]) for li in o["lineItems"]["nodes"]] == [(sku, 3, 1), (extra, 1, 1)]
    assert o["currentSubtotalPriceSet"]["shopMoney"]["amount"] == "4300.00"
    assert o["originalTotalPriceSet"]["shopMoney"]["amount"] == "7500.00"
    remaining = {n["sku"]: n["remainingQuantity"] for fo in o["fulfillmentOrders"]["nodes"] for n in fo["lineItems"]["nodes"]}
    assert remaining == {sku: 1, extra: 1}


def test_cancel_with_and_without_restock(sim, client):
    sku = product(sim)
    a, b = place(sim, (sku, 2)), place(sim, (sku, 3))
    control(sim, action="cancel", id=a["id"], reason="CUSTOMER", restock=True)
    assert stock(sim, sku, "LHR-01") == {"available": 7, "committed": 3, "on_hand": 10}
    control(sim, action="cancel", id=b["id"], reason="FRAUD", restock=False)
    assert stock(sim, sku, "LHR-01") == {"available": 7, "committed": 0, "on_hand": 7}
    detail = gql(client, sim, "OrderDetailForSync", {"id": a["id"]})["order"]
    [refund] = detail["refunds"]
    row = refund["refundLineItems"]["nodes"][0]
    assert (row["restockType"], row["quantity"], row["location"]["id"]) == ("CANCEL", 2, loc_id(sim, "LHR-01"))
    assert gql(client, sim, "OrderDetailForSync", {"id": b["id"]})["order"]["refunds"][0][
        "refundLineItems"]["nodes"][0]["restockType"] == "NO_RESTOCK"
    [fo] = fulfillment_orders(client, sim, a["id"])
    assert fo["status"] == "CANCELLED" and fo["supportedActions"] == []
    refused = gql(client, sim, "FulfillmentCreate", fulfil_vars(fo))["fulfillmentCreate"]
    assert refused["fulfillment"] is None and refused["userErrors"]


def test_cod_paid_on_delivery_then_returned_with_restock(sim, client):
    sku = product(sim)
    order = place(sim, (sku, 2), shippingPrice="250.00")
    control(sim, action="fulfill", id=order["id"])
    paid = control(sim, action="mark_paid", id=order["id"])["order"]
    assert paid["displayFinancialStatus"] == "PAID" and paid["closed"] is True   # fulfilled + paid: archived
    refund = control(sim, action="refund", id=order["id"], lines=[{"sku": sku, "quantity": 1, "restock": True}])
    assert refund["refund"]["amount"] == "2500.00"
    assert stock(sim, sku, "LHR-01") == {"available": 9, "committed": 0, "on_hand": 9}
    detail = gql(client, sim, "OrderDetailForSync", {"id": order["id"]})["order"]
    assert detail["displayFinancialStatus"] == "PARTIALLY_REFUNDED"
    assert detail["refunds"][0]["refundLineItems"]["nodes"][0]["restockType"] == "RETURN"
    assert [t["manualPaymentGateway"] for t in detail["transactions"]] == [True, True, True]


def test_fulfillment_orders_appear_after_routing(sim, client):
    sku = product(sim)
    order = place(sim, (sku, 1), routingDelaySeconds=30)
    assert stock(sim, sku, "LHR-01")["committed"] == 1                        # reserved at checkout already
    assert fulfillment_orders(client, sim, order["id"]) == []
    tick(sim, 31)
    assert len(fulfillment_orders(client, sim, order["id"])) == 1


def test_line_items_page_and_old_orders_need_read_all_orders(sim, client):
    skus = [product(sim) for _ in range(3)]
    order = place(sim, *[(s, 1) for s in skus])
    page = gql(client, sim, "OrderLineItemsMore", {"orderId": order["id"], "first": 2})["order"]["lineItems"]
    rest = gql(client, sim, "OrderLineItemsMore", {"orderId": order["id"], "first": 2,
                                                   "after": page["pageInfo"]["endCursor"]})["order"]["lineItems"]
    assert [n["sku"] for n in page["nodes"] + rest["nodes"]] == skus and not rest["pageInfo"]["hasNextPage"]
    tick(sim, 61 * 24 * 3600)
    try:
        assert gql(client, sim, "OrderById", {"id": order["id"], "lineItemsFirst": 5})["order"] is None
        httpx.post(f"{sim.url}/_sim/config", json={"read_all_orders": True})
        assert gql(client, sim, "OrderById", {"id": order["id"], "lineItemsFirst": 5})["order"]["id"] == order["id"]
    finally:
        httpx.post(f"{sim.url}/_sim/config", json={"read_all_orders": False})
        tick(sim, -61 * 24 * 3600)


def test_orders_survive_a_restart(tmp_path):
    sim = start(port=0, data_dir=tmp_path, seed_products=0)
    try:
        sku = product(sim)
        order = place(sim, (sku, 1))
        control(sim, action="fulfill", id=order["id"])
    finally:
        sim.stop()
    sim = start(port=0, data_dir=tmp_path)
    try:
        [again] = httpx.get(f"{sim.url}/_sim/orders").json()["orders"]
        assert again["name"] == "#1001" and again["displayFulfillmentStatus"] == "FULFILLED"
        assert place(sim, (sku, 1))["name"] == "#1002"
    finally:
        sim.stop()
