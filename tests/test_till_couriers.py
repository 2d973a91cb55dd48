"""The till with a courier that books online: F8 offers it first, the city comes from the address
(the cashier chooses when it is not certain), the shipment shows "to be booked" until the agent
brings the number, Ctrl+L prints the airway bill, and a return is restocked only when its airway
bill is scanned at this branch."""
from __future__ import annotations

from pos_core import couriers, fulfillments, ledger, online_orders
from pos_core.models import Consignment, OutboxJob
from pos_tui.app import make_app

from test_till_kit import flat, make_config, open_shift, screen_text, settle, staff, start_selling, till_db, type_text  # noqa: F401
from test_till_online_orders import SHOPIFY, branch, level, node, open_order, press, stocked

COD = ("Cash on Delivery (COD)",)
API = {"leopards": {"api_key": "k", "api_password": "p", "endpoint": "http://127.0.0.1:9"}}


def record(name, sku, city):
    n = node(name, [("L1", sku, 1)])
    n["shippingAddress"]["city"] = city
    n["shippingAddress"]["phone"] = "0300-1234567"
    return online_orders.record_from_shopify(n, COD)[0]


def packed(name, sku, city="Lahore"):
    order = record(name, sku, city)
    cashier = staff("ayesha").id
    online_orders.confirm(order.id, cashier, shopify_enabled=False)
    f = fulfillments.create(order.id, branch("LHR1").id, cashier)
    fulfillments.pack(f.uid, cashier)
    return order, f


async def test_dispatch_by_an_online_courier_to_an_ambiguous_city_and_print_the_airway_bill(tmp_path, till_db):
    sku = stocked(1)[0]
    order, f = packed("#3001", sku, city="Pindi")
    open_shift()
    app = make_app(make_config(tmp_path, till_db, courier_api=API, shopify=SHOPIFY))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await open_order(pilot, app, "#3001")
        await press(pilot, app, "f8")
        text = screen_text(app)
        assert "Leopards (book)" in text and "TCS" in text
        await press(pilot, app, "enter")                 # Leopards books online: first in the list
        text = screen_text(app)
        assert "which city is 'Pindi'" in text and "Rawalpindi" in text and "Pindi Bhattian" in text
        await press(pilot, app, "enter")                 # Rawalpindi
        assert "weight in grams" in screen_text(app)
        await pilot.press("ctrl+u")
        await type_text(pilot, "0", enter=True)
        assert "1 to 100000" in screen_text(app)         # refused, the prompt stays
        await pilot.press("ctrl+u")
        await type_text(pilot, "750", enter=True)
        await settle(pilot, app)
        c = Consignment.get()
        assert c.status == couriers.TO_BE_BOOKED and c.city_name == "Rawalpindi" and c.weight_grams == 750
        assert "to be booked" in flat(app) and "to be booked" in screen_text(app)
        app.screen.query_one("#status").refresh_status()
        await settle(pilot, app)
        assert "Parcels 1 to book" in screen_text(app)      # the status bar, on every screen
        assert "Ctrl+L" not in screen_text(app)          # no airway bill before the courier's number
        assert not OutboxJob.get(OutboxJob.kind == "fulfillment_create").payload["tracking"]["number"]

        couriers.record_booked(c.uid, "LE000000777")     # the agent booked it
        await press(pilot, app, "escape")
        await open_order(pilot, app, "#3001")
        text = screen_text(app)
        assert "LE000000777" in text and "Airway bill" in text
        await press(pilot, app, "ctrl+l")
        assert "Receipt printer" in screen_text(app) and "PDF label" in screen_text(app)
        await press(pilot, app, "enter")                 # the receipt printer
        await settle(pilot, app)
        assert "Airway bill LE000000777 printed" in flat(app)
        printed = (tmp_path / "printer.bin").read_bytes()
        assert b"AIRWAY BILL" in printed and b"LE000000777" in printed and b"RAWALPINDI" in printed
        await press(pilot, app, "ctrl+l", "down", "enter")   # the PDF label
        await settle(pilot, app)
        assert "Airway bill saved" in flat(app)
    assert (till_db.parent / "labels" / "LE000000777-pos.pdf").read_bytes().startswith(b"%PDF")


async def test_a_returning_parcel_comes_back_into_stock_only_when_scanned(tmp_path, till_db):
    sku = stocked(1)[0]
    order, f = packed("#3002", sku)
    cashier = staff("ayesha").id
    c = couriers.dispatch(f.uid, cashier, "leopards", "789", shopify_enabled=False)
    couriers.record_booked(c.uid, "LE000000888")
    couriers.record_tracking(c.uid, couriers.RETURNING, "Being Return", shopify_enabled=False)
    before = level(sku, "LHR1")
    open_shift()
    app = make_app(make_config(tmp_path, till_db, courier_api=API))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await open_order(pilot, app, "#3002")
        assert "returning" in screen_text(app)
        await press(pilot, app, "f10")
        assert "Scan the airway bill" in screen_text(app)
        await type_text(pilot, "LE000000999", enter=True)
        assert "not this parcel's number" in screen_text(app)
        assert level(sku, "LHR1") == before
        await pilot.press("ctrl+u")
        await type_text(pilot, "LE000000888", enter=True)
        await settle(pilot, app)
        assert "received back at LHR1" in flat(app)
    assert level(sku, "LHR1") == before + 1
    assert Consignment.get_by_id(c.id).status == couriers.RETURNED
    assert fulfillments.Fulfillment.get_by_id(f.id).status == "RETURNED"
    assert ledger.check() == []


async def test_the_returns_desk_scans_parcels_back_into_stock(tmp_path, till_db):
    sku = stocked(1)[0]
    cashier = staff("ayesha").id
    _, f1 = packed("#3003", sku)
    _, f2 = packed("#3004", sku)
    c1 = couriers.dispatch(f1.uid, cashier, "leopards", "789", shopify_enabled=False)
    c2 = couriers.dispatch(f2.uid, cashier, "postex", "Lahore", shopify_enabled=False)
    couriers.record_booked(c1.uid, "LE000000101")
    couriers.record_booked(c2.uid, "220000000202")
    couriers.record_tracking(c1.uid, couriers.RETURNING, "Returned to shipper", shopify_enabled=False)
    couriers.record_tracking(c2.uid, couriers.IN_TRANSIT, "Enroute for Delivery", shopify_enabled=False)
    before = level(sku, "LHR1")
    open_shift()
    app = make_app(make_config(tmp_path, till_db, courier_api=API))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await press(pilot, app, "ctrl+w", "f3")
        assert type(app.screen).__name__ == "ParcelsScreen"
        text = screen_text(app)
        assert "LE000000101" in text and "returning" in text and "220000000202" in text and "in transit" in text
        await press(pilot, app, "ctrl+l", "down", "enter")    # the highlighted (newest) parcel as a PDF label
        await settle(pilot, app)
        assert "Airway bill saved" in flat(app)
        assert (till_db.parent / "labels" / "220000000202-pos.pdf").exists()
        await type_text(pilot, "NOPE123", enter=True)
        assert "No parcel NOPE123" in flat(app)
        await type_text(pilot, "LE000000101", enter=True)     # returning: received at once
        await settle(pilot, app)
        assert "received back at LHR1" in flat(app)
        assert level(sku, "LHR1") == before + 1
        await type_text(pilot, "220000000202", enter=True)    # still on its way: asks first
        await settle(pilot, app)
        assert "220000000202 is in transit: receive here?" in flat(app)
        await type_text(pilot, "y", enter=True)
        await settle(pilot, app)
        assert level(sku, "LHR1") == before + 2
        await type_text(pilot, "LE000000101", enter=True)     # a second scan moves nothing
        await settle(pilot, app)
        assert "already received" in flat(app)
    assert level(sku, "LHR1") == before + 2
    assert {Consignment.get_by_id(c.id).status for c in (c1, c2)} == {couriers.RETURNED}
    assert ledger.check() == []


async def test_a_refused_booking_is_fixed_at_the_till(tmp_path, till_db):
    from pos_core import outbox
    sku = stocked(1)[0]
    cashier = staff("ayesha").id
    _, f1 = packed("#3005", sku)
    _, f2 = packed("#3006", sku)
    refused = []
    for f in (f1, f2):
        c = couriers.dispatch(f.uid, cashier, "leopards", "1001", shopify_enabled=True)
        job = OutboxJob.get(OutboxJob.uid == c.booking_job)
        outbox.claim(job)
        outbox.update_job(job, outbox.FAILED, "leopards refused: Invalid destination city: 1001", None,
                          event="refused", answered=True)
        couriers.record_booking_error(c.uid, "leopards refused: Invalid destination city: 1001")
        refused.append(c)
    open_shift()
    app = make_app(make_config(tmp_path, till_db, courier_api=API, shopify=SHOPIFY))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await open_order(pilot, app, "#3005")
        assert "to be booked !" in screen_text(app) and "F8 Dispatch" in screen_text(app)
        await press(pilot, app, "f8")
        assert "Leopards refused" in flat(app)
        await press(pilot, app, "enter")                  # choose the city again (Lahore is first)
        await press(pilot, app, "enter")
        assert "queued again for Leopards" in flat(app)
        await press(pilot, app, "escape")
        await open_order(pilot, app, "#3006")
        await press(pilot, app, "f8", "down", "enter")    # another courier
        await press(pilot, app, "enter")                  # TCS
        await type_text(pilot, "779000222", enter=True)
        await settle(pilot, app)
        assert "goes by TCS 779000222" in flat(app)
    first, second = (Consignment.get_by_id(c.id) for c in refused)
    assert first.status == couriers.TO_BE_BOOKED and first.city_name == "Lahore"
    assert OutboxJob.get(OutboxJob.uid == first.booking_job).status == outbox.PENDING
    assert second.status == couriers.CANCELLED
    assert fulfillments.Fulfillment.get_by_id(f2.id).tracking_number == "779000222"


async def test_a_cancelled_booking_is_booked_again_with_f8(tmp_path, till_db):
    sku = stocked(1)[0]
    cashier = staff("ayesha").id
    _, f = packed("#3007", sku, city="Rawalpindi")
    c = couriers.dispatch(f.uid, cashier, "leopards", "1045", shopify_enabled=False)
    couriers.record_booked(c.uid, "LE000000303")
    couriers.record_cancelled(c.uid)
    open_shift()
    app = make_app(make_config(tmp_path, till_db, courier_api=API))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await open_order(pilot, app, "#3007")
        assert "F8 Dispatch" in screen_text(app)
        await press(pilot, app, "f8")
        assert "again (was LE000000303)" in flat(app)
        await press(pilot, app, "enter")                   # Leopards; Rawalpindi is certain
        assert "weight in grams" in screen_text(app)
        await pilot.press("enter")                          # the weight booked last time
        await settle(pilot, app)
        assert "to be booked again with Leopards to Rawalpindi" in flat(app)
    new = couriers.for_fulfillment(f.uid)
    assert new.id != c.id and new.status == couriers.TO_BE_BOOKED and new.weight_grams == c.weight_grams
