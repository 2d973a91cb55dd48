"""Smart Orders and the fulfillment workflows: branch stock equals what physically moved."""
import pytest

from pos_core import fulfillments, ledger, online_orders, outbox
from pos_core.errors import InvalidInput, PermissionDenied, StateError
from pos_core.models import OutboxJob, SmartOrderEvent

COD = ("Cash on Delivery (COD)",)


def node(site, lines, *, updated="2026-11-23T10:00:00Z", gateway="Cash on Delivery (COD)", tags=(),
         cancelled=None, edited=False, fulfilled=None, oid="gid://shopify/Order/1", name="#1001"):
    """An order as the agent's poll returns it. lines: [(line gid, variant, current qty)]."""
    fulfilled = fulfilled or {}
    return {
        "id": oid, "name": name, "createdAt": "2026-11-23T09:00:00Z", "updatedAt": updated,
        "cancelledAt": cancelled, "cancelReason": "CUSTOMER" if cancelled else None, "edited": edited,
        "displayFinancialStatus": "PENDING", "displayFulfillmentStatus": "UNFULFILLED",
        "paymentGatewayNames": [gateway], "tags": list(tags), "note": "", "email": "", "phone": None,
        "currentTotalPriceSet": {"shopMoney": {"amount": "2599.00", "currencyCode": "PKR"}},
        "totalOutstandingSet": {"shopMoney": {"amount": "2599.00", "currencyCode": "PKR"}},
        "customer": {"displayName": "Hina Baig", "defaultPhoneNumber": {"phoneNumber": "+923001234567"}},
        "shippingAddress": {"name": "Hina Baig", "phone": "0300-1234567", "address1": "House 12, Street 4",
                            "city": "Lahore"},
        "lineItems": {"nodes": [{"id": gid, "sku": v.sku, "name": v.name, "quantity": q, "currentQuantity": q,
                                 "unfulfilledQuantity": q - fulfilled.get(gid, 0), "variant": {"id": None},
                                 "originalUnitPriceSet": {"shopMoney": {"amount": "999.90"}}}
                                for gid, v, q in lines]},
    }


def events(order):
    return [e.kind for e in SmartOrderEvent.select().where(SmartOrderEvent.order == order.id).order_by(SmartOrderEvent.id)]


def line_ids(order):
    return {l.sku: l.id for l in order.lines}


def test_cod_order_is_recorded_confirmed_and_our_tag_is_not_news(site):
    order, kinds = online_orders.record_from_shopify(node(site, [("L1", site.kurta, 2)]), COD)
    assert kinds == ["created"] and order.is_cod and order.state == "TO_CONFIRM"
    assert order.phone == "+923001234567" and order.total_paisa == 259900
    online_orders.confirm(order.id, site.cashier.id, shopify_enabled=True)
    job = OutboxJob.get(OutboxJob.kind == "tags_add")
    assert job.payload == {"orderId": "gid://shopify/Order/1", "tags": ["pos-cod-confirmed"]}
    order, kinds = online_orders.record_from_shopify(
        node(site, [("L1", site.kurta, 2)], updated="2026-11-23T10:01:00Z", tags=["pos-cod-confirmed"]), COD)
    assert kinds == [] and order.state == "CONFIRMED"
    _, kinds = online_orders.record_from_shopify(
        node(site, [("L1", site.kurta, 2)], updated="2026-11-23T10:02:00Z", tags=["pos-cod-confirmed", "vip"]), COD)
    assert kinds == ["tagged"]
    _, kinds = online_orders.record_from_shopify(node(site, [("L1", site.kurta, 2)], updated="2026-11-23T09:59:00Z"), COD)
    assert kinds == []  # an older copy from an overlapping poll window changes nothing
    assert online_orders.search(text="0300 1234567")[0].id == order.id
    assert online_orders.search(state="CONFIRMED")[0].id == order.id
    assert "wa.me/923001234567?text=" in online_orders.whatsapp_link(order, "Assalam-o-Alaikum")
    with pytest.raises(StateError):
        online_orders.confirm(order.id, site.cashier.id, shopify_enabled=True)


def test_partial_fulfillment_in_two_shipments_from_two_branches(site):
    order, _ = online_orders.record_from_shopify(node(site, [("L1", site.kurta, 3), ("L2", site.book, 1)],
                                                      gateway="shopify_payments"), COD)
    assert order.state == "NEW"
    ids = line_ids(order)
    opts = {o.branch_code: o for o in fulfillments.branch_options(order.id)}
    assert opts["LHR1"].can_cover and opts["LHR1"].stock[ids["1001"]] == 50
    first = fulfillments.create(order.id, site.lhr.id, site.cashier.id, {ids["1001"]: 2})
    fulfillments.pack(first.uid, site.cashier.id)
    assert ledger.on_hand(site.kurta.id, site.lhr.id) == 48
    with pytest.raises(StateError):
        fulfillments.pack(first.uid, site.cashier.id)
    with pytest.raises(InvalidInput, match="only 1 left"):
        fulfillments.create(order.id, site.khi.id, site.cashier.id, {ids["1001"]: 2})
    second = fulfillments.create(order.id, site.khi.id, site.cashier.id)  # the rest: 1 kurta, 1 book
    assert sorted((l.variant_id, l.qty) for l in second.lines) == sorted([(site.kurta.id, 1), (site.book.id, 1)])
    fulfillments.pack(second.uid, site.cashier.id)
    fulfillments.dispatch(first.uid, site.cashier.id, "TCS", "779012345678", shopify_enabled=True)
    assert online_orders.get(order.id).state == "DISPATCHED"
    fulfillments.dispatch(second.uid, site.cashier.id, "Leopards", "LE7512345", shopify_enabled=True)
    jobs = [j for j in OutboxJob.select().where(OutboxJob.kind == "fulfillment_create").order_by(OutboxJob.id)]
    assert [j.payload["tracking"]["url"] for j in jobs] == [
        "https://www.tcsexpress.com/track/779012345678", "https://www.leopardscourier.com/tracking?cn=LE7512345"]
    assert jobs[0].payload["lines"] == [{"lineItemId": "L1", "quantity": 2}]
    assert jobs[1].payload["locationId"] == "gid://shopify/Location/2"
    # no inventory delta is pushed for an online shipment: Shopify deducts it when fulfilled
    assert OutboxJob.select().where(OutboxJob.kind == "inventory_adjust").count() == 0
    fulfillments.deliver(first.uid, site.cashier.id, shopify_enabled=True)
    fulfillments.deliver(second.uid, site.cashier.id, shopify_enabled=True)
    order = online_orders.get(order.id)
    assert order.state == "DELIVERED"
    # Shopify now shows everything fulfilled (by our own fulfillments): not a branch-sync case
    order, kinds = online_orders.record_from_shopify(node(site, [("L1", site.kurta, 3), ("L2", site.book, 1)],
                                                          gateway="shopify_payments", updated="2026-11-23T11:00:00Z",
                                                          fulfilled={"L1": 3, "L2": 1}), COD)
    assert "fulfilled_in_shopify" not in kinds and order.state == "DELIVERED"
    assert (ledger.on_hand(site.kurta.id, site.lhr.id), ledger.on_hand(site.kurta.id, site.khi.id)) == (48, 49)
    assert ledger.check() == []


def test_cod_refused_at_the_door_comes_back_to_the_receiving_branch(site):
    order, _ = online_orders.record_from_shopify(node(site, [("L1", site.suit, 2)]), COD)
    online_orders.confirm(order.id, site.cashier.id, shopify_enabled=True)
    f = fulfillments.create(order.id, site.lhr.id, site.cashier.id)
    fulfillments.pack(f.uid, site.cashier.id)
    fulfillments.dispatch(f.uid, site.cashier.id, "PostEx", "PX123", shopify_enabled=True)
    fulfillments.mark_returned(f.uid, site.cashier.id, site.khi.id, shopify_enabled=True)
    assert ledger.on_hand(site.suit.id, site.lhr.id) == 48 and ledger.on_hand(site.suit.id, site.khi.id) == 52
    restock = [j for j in outbox.jobs_for(f.uid, "shopify") if j.kind == "inventory_adjust"]
    assert [(j.payload["branch"], j.payload["delta"], j.payload["reason"]) for j in restock] == [("KHI1", 2, "restock")]
    assert online_orders.get(order.id).state == "RETURNED"
    with pytest.raises(StateError):
        fulfillments.mark_returned(f.uid, site.cashier.id, site.khi.id, shopify_enabled=True)
    assert ledger.check() == []


def test_exchange_by_order_edit_before_and_after_packing(site):
    order, _ = online_orders.record_from_shopify(node(site, [("L1", site.kurta, 1)]), COD)
    f = fulfillments.create(order.id, site.lhr.id, site.cashier.id)
    fulfillments.pack(f.uid, site.cashier.id)
    # the customer swaps the kurta for a suit: Shopify's order edit removes L1 and adds L2
    edited = node(site, [("L1", site.kurta, 0), ("L2", site.suit, 1)], updated="2026-11-23T12:00:00Z", edited=True)
    order, kinds = online_orders.record_from_shopify(edited, COD)
    assert kinds == ["edited"] and order.exchange and order.state == "EXCHANGED"
    changes = SmartOrderEvent.get(SmartOrderEvent.kind == "edited").detail["changes"]
    assert {(c["sku"], c["from"], c["to"]) for c in changes} == {("1001", 1, 0), ("1002", 0, 1)}
    ids = line_ids(order)
    with pytest.raises(InvalidInput, match="1 packed unit"):
        fulfillments.exchange_return(order.id, site.lhr.id, site.cashier.id, {ids["1001"]: 2})
    fulfillments.exchange_return(order.id, site.lhr.id, site.cashier.id, {ids["1001"]: 1})
    assert ledger.on_hand(site.kurta.id, site.lhr.id) == 50
    replacement = fulfillments.create(order.id, site.lhr.id, site.cashier.id)
    assert [(l.variant_id, l.qty) for l in replacement.lines] == [(site.suit.id, 1)]
    fulfillments.pack(replacement.uid, site.cashier.id)
    assert ledger.on_hand(site.suit.id, site.lhr.id) == 49
    assert ledger.check() == []


def test_exchange_before_packing_moves_nothing(site):
    order, _ = online_orders.record_from_shopify(node(site, [("L1", site.kurta, 2)]), COD)
    order, _ = online_orders.record_from_shopify(node(site, [("L1", site.kurta, 1), ("L2", site.book, 1)],
                                                      updated="2026-11-23T12:00:00Z", edited=True), COD)
    assert order.state == "EXCHANGED"
    assert ledger.on_hand(site.kurta.id, site.lhr.id) == 50
    f = fulfillments.create(order.id, site.lhr.id, site.cashier.id)
    assert sorted((l.variant_id, l.qty) for l in f.lines) == sorted([(site.kurta.id, 1), (site.book.id, 1)])


def test_branch_sync_after_an_admin_fulfillment_in_shopify(site):
    order, _ = online_orders.record_from_shopify(node(site, [("L1", site.kurta, 2)]), COD)
    order, kinds = online_orders.record_from_shopify(
        node(site, [("L1", site.kurta, 2)], updated="2026-11-23T13:00:00Z", fulfilled={"L1": 2}), COD)
    assert kinds == ["fulfilled_in_shopify"] and order.state == "NEEDS_BRANCH_SYNC"
    opts = {o.branch_code: o for o in fulfillments.branch_options(order.id, {line_ids(order)["1001"]: 2})}
    assert opts["KHI1"].stock[line_ids(order)["1001"]] == 50
    f = fulfillments.branch_sync(order.id, site.khi.id, site.cashier.id)
    assert [(l.variant_id, l.qty) for l in f.lines] == [(site.kurta.id, 2)]
    assert ledger.on_hand(site.kurta.id, site.khi.id) == 48
    assert outbox.jobs_for(f.uid) == []  # Shopify already deducted these units
    order = online_orders.get(order.id)
    assert not order.needs_branch_sync and order.state == "DISPATCHED"
    with pytest.raises(StateError):
        fulfillments.branch_sync(order.id, site.khi.id, site.cashier.id)
    order, kinds = online_orders.record_from_shopify(
        node(site, [("L1", site.kurta, 2)], updated="2026-11-23T13:05:00Z", fulfilled={"L1": 2}), COD)
    assert kinds == [] and order.state == "DISPATCHED"


def test_manual_fulfillment_and_fix_branch_stock(site):
    order, _ = online_orders.record_from_shopify(node(site, [("L1", site.book, 3)]), COD)
    f = fulfillments.manual(order.id, site.lhr.id, site.cashier.id, note="handed to rider")
    assert f.status == "DONE" and ledger.on_hand(site.book.id, site.lhr.id) == 47
    assert OutboxJob.select().count() == 0
    with pytest.raises(PermissionDenied):
        fulfillments.fix_branch_stock(order.id, site.lhr.id, site.cashier.id, [(site.book.id, 3)], "wrong branch")
    fulfillments.fix_branch_stock(order.id, site.lhr.id, site.manager.id, [(site.book.id, 3)], "left from Karachi")
    fulfillments.fix_branch_stock(order.id, site.khi.id, site.manager.id, [(site.book.id, -3)], "left from Karachi")
    assert (ledger.on_hand(site.book.id, site.lhr.id), ledger.on_hand(site.book.id, site.khi.id)) == (50, 47)
    assert "stock_fixed" in events(order)
    assert OutboxJob.select().count() == 0
    assert ledger.check() == []


def test_cancellation_before_and_after_packing(site):
    order, _ = online_orders.record_from_shopify(node(site, [("L1", site.kurta, 2)]), COD)
    f = fulfillments.create(order.id, site.lhr.id, site.cashier.id)
    fulfillments.pack(f.uid, site.cashier.id)
    order, kinds = online_orders.record_from_shopify(
        node(site, [("L1", site.kurta, 2)], updated="2026-11-23T14:00:00Z", cancelled="2026-11-23T14:00:00Z"), COD)
    assert "cancelled" in kinds and order.state == "CANCELLED"
    with pytest.raises(StateError):
        fulfillments.create(order.id, site.lhr.id, site.cashier.id)
    fulfillments.after_cancel(f.uid, site.cashier.id, back_on_shelf=True)
    assert ledger.on_hand(site.kurta.id, site.lhr.id) == 50
    # a second order cancelled before packing needs nothing
    other, _ = online_orders.record_from_shopify(node(site, [("M1", site.book, 1)], oid="gid://shopify/Order/2",
                                                      name="#1002"), COD)
    online_orders.cancel_by_staff(other.id, site.cashier.id, "customer did not answer", shopify_enabled=True)
    assert online_orders.get(other.id).state == "CANCELLED"
    assert ledger.on_hand(site.book.id, site.lhr.id) == 50
    assert ledger.check() == []


def test_unpack_before_dispatch_gives_stock_back_and_steps_never_move_twice(site):
    order, _ = online_orders.record_from_shopify(node(site, [("L1", site.kurta, 2)]), COD)
    f = fulfillments.create(order.id, site.lhr.id, site.cashier.id)
    fulfillments.pack(f.uid, site.cashier.id)
    fulfillments.unpack(f.uid, site.cashier.id)
    assert ledger.on_hand(site.kurta.id, site.lhr.id) == 50
    with pytest.raises(StateError):
        fulfillments.unpack(f.uid, site.cashier.id)
    assert online_orders.get(order.id).state == "TO_CONFIRM"
    again = fulfillments.create(order.id, site.khi.id, site.cashier.id)
    fulfillments.pack(again.uid, site.cashier.id)
    assert ledger.on_hand(site.kurta.id, site.khi.id) == 48
    assert ledger.check() == []


def test_an_exchange_return_takes_units_out_of_the_packed_shipment(site):
    order, _ = online_orders.record_from_shopify(node(site, [("L1", site.kurta, 2)]), COD)
    f = fulfillments.create(order.id, site.lhr.id, site.cashier.id)
    fulfillments.pack(f.uid, site.cashier.id)
    order, _ = online_orders.record_from_shopify(node(site, [("L1", site.kurta, 1)], updated="2026-11-23T12:00:00Z",
                                                      edited=True), COD)
    fulfillments.exchange_return(order.id, site.lhr.id, site.cashier.id, {line_ids(order)["1001"]: 1})
    assert [(l.variant_id, l.qty) for l in f.lines] == [(site.kurta.id, 1)]  # one unit still packed
    fulfillments.unpack(f.uid, site.cashier.id)  # unpacking now returns only what is still packed
    assert ledger.on_hand(site.kurta.id, site.lhr.id) == 50
    assert ledger.check() == []


def test_a_superseded_shipment_is_never_unpacked_or_dispatched_by_any_caller(site):
    # The rule is the service's, not a screen's: pos-admin, the back office and the head office
    # call these same functions.
    order, _ = online_orders.record_from_shopify(node(site, [("L1", site.kurta, 2)]), COD)
    f = fulfillments.create(order.id, site.lhr.id, site.cashier.id)
    fulfillments.pack(f.uid, site.cashier.id)
    assert fulfillments.superseded_units(f) == {}
    # the customer keeps one kurta and takes a suit instead of the other
    order, _ = online_orders.record_from_shopify(node(site, [("L1", site.kurta, 1), ("L2", site.suit, 1)],
                                                      updated="2026-11-23T12:00:00Z", edited=True), COD)
    f = fulfillments.Fulfillment.get_by_id(f.id)
    assert fulfillments.superseded_units(f) == {line_ids(order)["1001"]: 1}
    jobs = OutboxJob.select().count()
    with pytest.raises(StateError, match=r"cannot unpack shipment .*1 unit\(s\) in it were removed by the order "
                                         r"edit; record the exchange return first"):
        fulfillments.unpack(f.uid, site.cashier.id)
    with pytest.raises(StateError, match="cannot dispatch shipment"):
        fulfillments.dispatch(f.uid, site.cashier.id, "TCS", "TCS123", shopify_enabled=True)
    f = fulfillments.Fulfillment.get_by_id(f.id)
    assert f.status == "PACKED" and f.courier in (None, "") and OutboxJob.select().count() == jobs
    assert ledger.on_hand(site.kurta.id, site.lhr.id) == 48   # nothing moved by the refused steps
    # the exchange return first; then the kurta still wanted ships, and nothing is counted twice
    fulfillments.exchange_return(order.id, site.lhr.id, site.cashier.id, {line_ids(order)["1001"]: 1})
    assert fulfillments.superseded_units(fulfillments.Fulfillment.get_by_id(f.id)) == {}
    fulfillments.dispatch(f.uid, site.cashier.id, "TCS", "TCS123", shopify_enabled=True)
    assert ledger.on_hand(site.kurta.id, site.lhr.id) == 49
    assert ledger.check() == []


def test_two_packed_shipments_that_together_hold_more_than_the_edited_order_wants(site):
    order, _ = online_orders.record_from_shopify(node(site, [("L1", site.kurta, 2)]), COD)
    first = fulfillments.create(order.id, site.lhr.id, site.cashier.id, {line_ids(order)["1001"]: 1})
    fulfillments.pack(first.uid, site.cashier.id)
    second = fulfillments.create(order.id, site.khi.id, site.cashier.id)
    fulfillments.pack(second.uid, site.cashier.id)
    order, _ = online_orders.record_from_shopify(node(site, [("L1", site.kurta, 1)], updated="2026-11-23T12:00:00Z",
                                                      edited=True), COD)
    for f in (first, second):
        with pytest.raises(StateError, match="removed by the order edit"):
            fulfillments.unpack(f.uid, site.cashier.id)
    fulfillments.exchange_return(order.id, site.khi.id, site.cashier.id, {line_ids(order)["1001"]: 1})
    fulfillments.dispatch(first.uid, site.cashier.id, "TCS", "T1", shopify_enabled=False)
    assert ledger.check() == []
