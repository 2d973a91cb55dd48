"""The online order screen (Ctrl+W, Enter): confirm/cancel, WhatsApp and QR, Smart Fulfillment,
returns, branch sync, exchange by edit, Fix Branch Stock and cancellation after packing.
Real demo database; Shopify and FBR jobs stay in the outbox."""
from __future__ import annotations

from pos_core import fulfillments, ledger, online_orders
from pos_core.models import Branch, Fulfillment, OutboxJob, SmartOrderEvent, StockLevel, Variant
from pos_tui.app import make_app
from pos_tui.screens.online_whatsapp import whatsapp_view

from test_till_kit import (flat, make_config, open_shift, screen_text, settle, staff, start_selling,  # noqa: F401
                           till_db, type_text)

COD = ("Cash on Delivery (COD)",)
SHOPIFY = {"enabled": True, "shop": "gulberg.myshopify.com"}


def node(name, lines, *, cod=True, updated="2026-11-23T09:00:00Z", fulfilled=None):
    """lines: [(line gid, sku, current qty, unit price Rs)] (price defaults to the catalog's)."""
    fulfilled = fulfilled or {}
    items = []
    for gid, sku, qty, *price in lines:
        v = Variant.get(Variant.sku == sku)
        amount = price[0] if price else v.price_paisa / 100
        items.append({"id": gid, "sku": sku, "name": v.name, "quantity": qty, "currentQuantity": qty,
                      "unfulfilledQuantity": qty - fulfilled.get(gid, 0),
                      "originalUnitPriceSet": {"shopMoney": {"amount": f"{amount:.2f}"}}})
    total = sum(float(i["originalUnitPriceSet"]["shopMoney"]["amount"]) * i["currentQuantity"] for i in items)
    return {"id": f"gid://shopify/Order/{name.strip('#')}", "name": name, "createdAt": "2026-11-23T09:00:00Z",
            "updatedAt": updated, "paymentGatewayNames": ["Cash on Delivery (COD)" if cod else "shopify_payments"],
            "tags": [], "displayFinancialStatus": "PENDING" if cod else "PAID",
            "displayFulfillmentStatus": "UNFULFILLED",
            "currentTotalPriceSet": {"shopMoney": {"amount": f"{total:.2f}"}},
            "totalOutstandingSet": {"shopMoney": {"amount": f"{total if cod else 0:.2f}"}},
            "customer": {"displayName": "Hina Baig", "defaultPhoneNumber": {"phoneNumber": "+923001234567"}},
            "shippingAddress": {"name": "Hina Baig", "address1": "House 12, Street 4", "city": "Lahore"},
            "lineItems": {"nodes": items}}


def record(*args, **kw):
    return online_orders.record_from_shopify(node(*args, **kw), COD)[0]


def branch(code):
    return Branch.get(Branch.code == code)


def level(sku, code):
    return ledger.on_hand(Variant.get(Variant.sku == sku).id, branch(code).id)


def stocked(n=2, at_least=3, skip=()):
    """SKUs with at least `at_least` units at both branches (the demo's stock is random)."""
    lhr, khi = branch("LHR1").id, branch("KHI1").id
    found = []
    for v in Variant.select().order_by(Variant.id):
        if v.sku not in skip and ledger.on_hand(v.id, lhr) >= at_least and ledger.on_hand(v.id, khi) >= at_least:
            found.append(v.sku)
            if len(found) == n:
                return found
    raise AssertionError("demo has too little stock")


def line_ids(order):
    return {l.sku: l.id for l in online_orders.get(order.id).lines}


async def open_order(pilot, app, name):
    await pilot.press("ctrl+w")
    await pilot.pause()
    await type_text(pilot, name, enter=True)   # search
    await pilot.press("enter")                  # same text: open the highlighted order
    await settle(pilot, app)
    assert type(app.screen).__name__ == "OnlineOrderScreen", type(app.screen).__name__


async def press(pilot, app, *keys):
    for key in keys:
        await pilot.press(key)
        await settle(pilot, app)


def assert_books_balance():
    assert ledger.check() == []


async def test_confirm_cod_order_shows_whatsapp_link_and_qr(tmp_path, till_db):
    sku = stocked(1)[0]
    order = record("#2001", [("L1", sku, 1)])
    open_shift()
    app = make_app(make_config(tmp_path, till_db, shopify=SHOPIFY))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await open_order(pilot, app, "#2001")
        text = screen_text(app)
        assert "Hina Baig" in text and "03001234567" in text and "tel:+923001234567" in text
        assert "TO CONFIRM" in text and "House 12, Street 4, Lahore" in text and "created" in text
        assert "F2 Confirm" in text and "F4 WhatsApp/QR" in text and "F6 Pack" not in text
        await press(pilot, app, "f2")
        assert online_orders.get(order.id).state == "CONFIRMED"
        job = OutboxJob.get(OutboxJob.kind == "tags_add")
        assert job.payload == {"orderId": order.shopify_id, "tags": ["pos-cod-confirmed"]}
        text = screen_text(app)
        assert "#2001 confirmed" in text and "CONFIRMED" in text and "F2 Confirm" not in text
        assert "Ayesha" in text  # the timeline names who confirmed
        await press(pilot, app, "f4")
        assert type(app.screen).__name__ == "WhatsAppScreen"
        text = screen_text(app)
        message, link, rows, _ = whatsapp_view(online_orders.get(order.id), "Gulberg Fashion House", 24, 50)
        assert link.startswith("https://wa.me/923001234567?text=") and "Gulberg%20Fashion%20House" in link
        assert "#2001" in message and "YES" in message
        assert "wa.me/923001234567" in text and "tel:+923001234567" in text
        lines = text.splitlines()
        assert rows and len(rows) <= 24 and all(lines[i][:len(r)].rstrip() == r.rstrip() for i, r in enumerate(rows))
        await press(pilot, app, "escape")
        assert type(app.screen).__name__ == "OnlineOrderScreen"
        await press(pilot, app, "f2")  # already confirmed: a message, not a traceback
        assert "already confirmed" in flat(app)
    assert_books_balance()


async def test_cancel_needs_a_reason(tmp_path, till_db):
    sku = stocked(1)[0]
    order = record("#2002", [("L1", sku, 1)])
    open_shift()
    app = make_app(make_config(tmp_path, till_db, shopify=SHOPIFY))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await open_order(pilot, app, "#2002")
        await press(pilot, app, "f3")
        await type_text(pilot, "  ", enter=True)
        assert "a reason is required" in screen_text(app)
        await pilot.press("ctrl+u")
        await type_text(pilot, "customer refused on the phone", enter=True)
        await settle(pilot, app)
        o = online_orders.get(order.id)
        assert o.state == "CANCELLED" and o.staff_cancel_reason == "customer refused on the phone"
        assert OutboxJob.get(OutboxJob.kind == "tags_add").payload["tags"] == ["pos-cod-cancelled"]
        text = flat(app)
        assert "cancelled: customer refused on the phone" in text and "F3 Cancel" not in text
        await press(pilot, app, "f5")
        assert "is cancelled" in flat(app)
    assert_books_balance()


async def test_partial_smart_fulfillment_in_two_shipments_from_two_branches(tmp_path, till_db):
    a, b = stocked(2)
    order = record("#2003", [("L1", a, 2), ("L2", b, 1)], cod=False)
    ids = line_ids(order)
    before = {(s, c): level(s, c) for s in (a, b) for c in ("LHR1", "KHI1")}
    open_shift()
    app = make_app(make_config(tmp_path, till_db, shopify=SHOPIFY))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await open_order(pilot, app, "#2003")
        await press(pilot, app, "f5")
        assert type(app.screen).__name__ == "LinesBranchScreen"
        text = screen_text(app)
        assert "LHR1" in text and "KHI1" in text and "yes" in text and "3 unit(s) from LHR1" in text
        await press(pilot, app, "enter")             # line 1: ship 1 of 2
        await pilot.press("ctrl+u")
        await type_text(pilot, "1", enter=True)
        await press(pilot, app, "down", "enter")     # line 2: not in this shipment
        await pilot.press("ctrl+u")
        await type_text(pilot, "0", enter=True)
        assert "1 unit(s) from LHR1" in screen_text(app)
        await press(pilot, app, "f10")
        assert type(app.screen).__name__ == "OnlineOrderScreen"
        first = Fulfillment.select().where(Fulfillment.order == order.id).get()
        assert first.status == "PENDING" and [(l.order_line_id, l.qty) for l in first.lines] == [(ids[a], 1)]
        await press(pilot, app, "f6")
        assert level(a, "LHR1") == before[(a, "LHR1")] - 1
        assert online_orders.get(order.id).state == "PACKED"
        await press(pilot, app, "f8")                 # courier list: TCS first
        assert "Courier for shipment" in screen_text(app)
        await press(pilot, app, "enter")
        await type_text(pilot, "779012345678", enter=True)
        await settle(pilot, app)
        job = OutboxJob.get((OutboxJob.kind == "fulfillment_create") & (OutboxJob.doc_ref == first.uid))
        assert job.payload["tracking"] == {"company": "TCS", "number": "779012345678",
                                           "url": "https://www.tcsexpress.com/track/779012345678"}
        assert job.payload["lines"] == [{"lineItemId": "L1", "quantity": 1}]
        assert "Dispatched" in flat(app)

        await press(pilot, app, "f5")                 # the rest from Karachi
        assert "2 unit(s) from LHR1" in screen_text(app)
        await press(pilot, app, "f3")
        assert "2 unit(s) from KHI1" in screen_text(app)
        await press(pilot, app, "f10")
        second = Fulfillment.select().where(Fulfillment.order == order.id).order_by(Fulfillment.id.desc()).get()
        assert second.branch.code == "KHI1" and second.status == "PENDING"
        await press(pilot, app, "f6")
        await press(pilot, app, "f8", "down", "enter")  # Leopards
        await type_text(pilot, "LE55501", enter=True)
        await settle(pilot, app)
        job = OutboxJob.get((OutboxJob.kind == "fulfillment_create") & (OutboxJob.doc_ref == second.uid))
        assert job.payload["tracking"]["company"] == "Leopards"
        assert job.payload["tracking"]["url"] == "https://www.leopardscourier.com/tracking?cn=LE55501"
        assert online_orders.get(order.id).state == "DISPATCHED"
        assert not any(online_orders.remaining_units(online_orders.get(order.id)).values())
        await press(pilot, app, "f5")
        assert "Nothing left to ship" in flat(app)
    assert level(a, "LHR1") == before[(a, "LHR1")] - 1 and level(a, "KHI1") == before[(a, "KHI1")] - 1
    assert level(b, "LHR1") == before[(b, "LHR1")] and level(b, "KHI1") == before[(b, "KHI1")] - 1
    assert_books_balance()


async def test_cod_refused_comes_back_at_the_chosen_branch(tmp_path, till_db):
    sku = stocked(1)[0]
    order = record("#2004", [("L1", sku, 1)])
    cashier = staff("ayesha").id
    online_orders.confirm(order.id, cashier, shopify_enabled=False)
    f = fulfillments.create(order.id, branch("LHR1").id, cashier)
    fulfillments.pack(f.uid, cashier)
    fulfillments.dispatch(f.uid, cashier, "TCS", "7790001", shopify_enabled=False)
    lhr, khi = level(sku, "LHR1"), level(sku, "KHI1")
    open_shift()
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await open_order(pilot, app, "#2004")
        text = screen_text(app)
        assert "dispatched" in text and "7790001" in text and "F10 Returned" in text and "F6 Pack" not in text
        await press(pilot, app, "f10")
        text = screen_text(app)
        assert "received the returned goods" in text and "(this till)" in text
        await press(pilot, app, "down", "enter")   # KHI1: the parcel went back to Karachi
        assert "Why is it coming back?" in screen_text(app) and "Refused at the door" in screen_text(app)
        await press(pilot, app, "enter")           # refused at the door
        assert "Refused at the door: a few words (optional" in flat(app)
        await press(pilot, app, "enter")           # no note
        assert "1 unit(s) back in stock at KHI1" in flat(app)
    o = online_orders.get(order.id)
    assert o.state == "RETURNED" and Fulfillment.get_by_id(f.id).status == "RETURNED"
    step = Fulfillment.get_by_id(f.id).history[-1]
    assert (step["status"], step["branch"], step["return_reason"], step["return_note"]) == (
        "RETURNED", "KHI1", "refused", "")
    assert level(sku, "LHR1") == lhr and level(sku, "KHI1") == khi + 1
    assert_books_balance()


async def test_branch_sync_after_an_admin_fulfilled_in_shopify(tmp_path, till_db):
    sku = stocked(1)[0]
    order = record("#2005", [("L1", sku, 2)], cod=False, fulfilled={"L1": 2})
    assert order.state == "NEEDS_BRANCH_SYNC"
    lhr, khi = level(sku, "LHR1"), level(sku, "KHI1")
    open_shift()
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await open_order(pilot, app, "#2005")
        text = screen_text(app)
        assert "NEEDS BRANCH SYNC" in text and "^B Branch sync" in text
        await press(pilot, app, "ctrl+b")
        text = screen_text(app)
        assert "Branch Sync" in text and str(lhr) in text and str(khi) in text
        await press(pilot, app, "enter")
        assert "exactly what Shopify shows" in flat(app)
        await press(pilot, app, "f3", "f10")
        assert "Branch sync: 2 unit(s) taken from KHI1" in flat(app)
    o = online_orders.get(order.id)
    assert not o.needs_branch_sync and o.state != "NEEDS_BRANCH_SYNC"
    assert level(sku, "KHI1") == khi - 2 and level(sku, "LHR1") == lhr
    assert not OutboxJob.select().where(OutboxJob.channel == "shopify").exists()
    assert_books_balance()


async def test_exchange_by_edit_after_packing(tmp_path, till_db):
    old, new = stocked(2)
    order = record("#2006", [("L1", old, 1, 4990)])
    cashier = staff("ayesha").id
    online_orders.confirm(order.id, cashier, shopify_enabled=False)
    f = fulfillments.create(order.id, branch("LHR1").id, cashier)
    fulfillments.pack(f.uid, cashier)
    packed_old = level(old, "LHR1")
    before_new = level(new, "LHR1")
    # The customer asked for another size: the order is edited in Shopify.
    order = record("#2006", [("L1", old, 0, 4990), ("L2", new, 1, 3450)], updated="2026-11-23T11:00:00Z")
    assert order.exchange and order.state == "EXCHANGED"
    open_shift()
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await open_order(pilot, app, "#2006")
        text = flat(app)
        assert "Exchange by order edit" in text and "out: 1 x" in text and "in: 1 x" in text
        assert "Refund Rs 1,540.00 to the customer" in text and "^E Exch return" in text
        assert "F7 Unpack" not in text and "F8 Dispatch" not in text  # the packed parcel is superseded
        await press(pilot, app, "ctrl+e")
        assert "1 unit(s) back into stock at LHR1" in screen_text(app)
        await press(pilot, app, "f10")
        assert "Exchange return: 1 unit(s) back in stock at LHR1" in flat(app)
        assert level(old, "LHR1") == packed_old + 1
        await press(pilot, app, "up", "up", "f7")     # the old parcel was emptied by the exchange return
        assert "is unpacked" in flat(app)
        assert level(old, "LHR1") == packed_old + 1
        await press(pilot, app, "f5")                 # the replacement: only the new line is left
        assert "1 unit(s) from LHR1" in screen_text(app)
        await press(pilot, app, "f10", "f6")
        assert level(new, "LHR1") == before_new - 1
    assert_books_balance()


async def test_fix_branch_stock_needs_a_manager(tmp_path, till_db):
    sku = stocked(1)[0]
    order = record("#2007", [("L1", sku, 1)])
    lhr = level(sku, "LHR1")
    open_shift()
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)             # Ayesha, a cashier
        await open_order(pilot, app, "#2007")
        await press(pilot, app, "ctrl+x", "enter")   # LHR1 (this till) is first
        assert sku in screen_text(app)               # the order's item is offered
        await press(pilot, app, "enter")
        await type_text(pilot, "0", enter=True)
        assert "not zero" in flat(app)
        await pilot.press("ctrl+u")
        await type_text(pilot, "-1", enter=True)
        await type_text(pilot, "packed twice by mistake on Monday", enter=True)
        assert "needs a manager" in flat(app)
        await type_text(pilot, "2222", enter=True)   # a supervisor may not
        assert "Sana Malik (supervisor) cannot approve this" in flat(app)
        assert level(sku, "LHR1") == lhr
        await pilot.press("ctrl+u")
        await type_text(pilot, "3333", enter=True)   # the manager
        await settle(pilot, app)
        assert "Stock fixed at LHR1: -1" in flat(app)
    assert level(sku, "LHR1") == lhr - 1
    fix = Fulfillment.get((Fulfillment.order == order.id) & (Fulfillment.mode == "repair"))
    assert fix.created_by.code == "imran" and fix.reason == "packed twice by mistake on Monday"
    assert SmartOrderEvent.select().where((SmartOrderEvent.order == order.id)
                                          & (SmartOrderEvent.kind == "stock_fixed")).count() == 1
    assert_books_balance()


async def test_cancelled_after_packing_goods_back_on_the_shelf(tmp_path, till_db):
    sku = stocked(1)[0]
    lhr = level(sku, "LHR1")
    order = record("#2008", [("L1", sku, 2)])
    cashier = staff("ayesha").id
    online_orders.confirm(order.id, cashier, shopify_enabled=False)
    f = fulfillments.create(order.id, branch("LHR1").id, cashier)
    fulfillments.pack(f.uid, cashier)
    assert level(sku, "LHR1") == lhr - 2
    open_shift()
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await open_order(pilot, app, "#2008")
        await press(pilot, app, "f3")
        await type_text(pilot, "customer changed her mind", enter=True)
        await settle(pilot, app)
        text = flat(app)
        assert "Are the goods back on the shelf?" in text and "2 unit(s) were packed at LHR1" in text
        await type_text(pilot, "maybe", enter=True)
        assert "type Y or N" in flat(app)
        await pilot.press("ctrl+u")
        await type_text(pilot, "y", enter=True)
        await settle(pilot, app)
        assert "2 packed unit(s) back in stock at LHR1" in flat(app)
        assert "Goods back?" not in screen_text(app)
    assert Fulfillment.get_by_id(f.id).status == "UNPACKED"
    assert online_orders.get(order.id).state == "CANCELLED"
    assert level(sku, "LHR1") == lhr
    assert StockLevel.select().count() > 0
    assert_books_balance()


async def test_manual_fulfillment_flags_a_short_branch_and_takes_a_second_f10(tmp_path, till_db):
    lhr_id, khi_id = branch("LHR1").id, branch("KHI1").id
    sku = next(v.sku for v in Variant.select().order_by(Variant.id)
               if ledger.on_hand(v.id, lhr_id) > ledger.on_hand(v.id, khi_id) + 1)
    lhr, khi = level(sku, "LHR1"), level(sku, "KHI1")
    order = record("#2009", [("L1", sku, khi + 1)], cod=False)
    open_shift()
    app = make_app(make_config(tmp_path, till_db, shopify=SHOPIFY))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await open_order(pilot, app, "#2009")
        await press(pilot, app, "ctrl+f")
        text = screen_text(app)
        assert "Manual Fulfillment" in text and f"{khi + 1} unit(s) from LHR1" in text and "SHORT 1 x" in text
        await press(pilot, app, "f3", "f10")
        assert "KHI1 does not have enough stock" in flat(app) and level(sku, "KHI1") == khi
        await press(pilot, app, "f10")
        assert f"Manual fulfillment recorded: {khi + 1} unit(s) out of KHI1" in flat(app)
    assert level(sku, "KHI1") == -1 and level(sku, "LHR1") == lhr
    assert online_orders.get(order.id).state == "DISPATCHED"
    assert not OutboxJob.select().where(OutboxJob.channel == "shopify").exists()  # nothing to Shopify
    assert_books_balance()
