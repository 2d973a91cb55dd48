"""Transfers, purchase orders, adjustments and stock takes: stock moves only with the goods."""
from decimal import Decimal as D

import pytest

from pos_core import adjustments, ledger, outbox, purchasing, stock, stocktake, transfers
from pos_core.errors import InvalidInput, PermissionDenied, StateError
from pos_core.models import Branch, OutboxJob

from helpers import cash_sale, row_counts


def shop_deltas(doc_uid):
    return sorted((j.payload["branch"], j.payload["sku"], j.payload["delta"], j.payload["reason"])
                  for j in outbox.jobs_for(doc_uid, "shopify"))


def test_transfer_with_shortfall_and_excess_settled_by_a_manager(site):
    t = transfers.create(site.lhr.id, site.khi.id, site.cashier.id,
                         [transfers.TransferItem(site.kurta.id, 10), transfers.TransferItem(site.suit.id, 4)])
    assert t.number == "TR-LHR1-000001" and t.status == "DRAFT"
    assert ledger.on_hand(site.kurta.id, site.lhr.id) == 50  # a draft moves nothing
    transfers.dispatch(t.number, site.cashier.id, shopify_enabled=True)
    assert ledger.on_hand(site.kurta.id, site.lhr.id) == 40
    assert stock.variant_view(site.kurta.id) == {"on_hand": {"KHI1": 50, "LHR1": 40}, "in_transit": {"KHI1": 10}}
    t = transfers.receive(t.number, site.cashier.id, {site.kurta.id: 8, site.suit.id: 5}, shopify_enabled=True)
    assert t.status == "DISCREPANCY"
    assert ledger.on_hand(site.kurta.id, site.khi.id) == 58 and ledger.on_hand(site.suit.id, site.khi.id) == 55
    assert stock.variant_view(site.kurta.id)["in_transit"] == {}
    assert shop_deltas(t.uid) == [("KHI1", "1001", 8, "movement_received"), ("KHI1", "1002", 5, "movement_received"),
                                  ("LHR1", "1001", -10, "movement_created"), ("LHR1", "1002", -4, "movement_created")]
    with pytest.raises(PermissionDenied):
        transfers.resolve(t.number, 1, "returned_to_sender", site.cashier.id, shopify_enabled=True)
    with pytest.raises(InvalidInput, match="settles a excess"):
        transfers.resolve(t.number, 1, "sender_sent_extra", site.manager.id, shopify_enabled=True)
    transfers.resolve(t.number, 1, "returned_to_sender", site.manager.id, shopify_enabled=True)
    assert ledger.on_hand(site.kurta.id, site.lhr.id) == 42
    with pytest.raises(StateError, match="already settled"):
        transfers.resolve(t.number, 1, "lost_in_transit", site.manager.id, shopify_enabled=True)
    t = transfers.resolve(t.number, 2, "sender_sent_extra", site.manager.id, shopify_enabled=True)
    assert ledger.on_hand(site.suit.id, site.lhr.id) == 45
    assert t.status == "RECEIVED"
    assert ledger.check() == []


def test_lost_in_transit_moves_nothing_and_received_twice_is_refused(site):
    t = transfers.create(site.lhr.id, site.khi.id, site.cashier.id, [transfers.TransferItem(site.book.id, 3)])
    transfers.dispatch(t.uid, site.cashier.id, shopify_enabled=True)
    transfers.receive(t.uid, site.cashier.id, {site.book.id: 2}, shopify_enabled=True)
    before = row_counts()
    with pytest.raises(StateError, match="received once"):
        transfers.receive(t.uid, site.cashier.id, {site.book.id: 1}, shopify_enabled=True)
    assert row_counts() == before
    transfers.resolve(t.uid, 1, "lost_in_transit", site.manager.id, shopify_enabled=True)
    assert (ledger.on_hand(site.book.id, site.lhr.id), ledger.on_hand(site.book.id, site.khi.id)) == (47, 52)
    assert ledger.check() == []


def test_cancel_only_before_dispatch_and_shared_locations_push_nothing(site):
    t = transfers.create(site.lhr.id, site.khi.id, site.cashier.id, [transfers.TransferItem(site.book.id, 1)])
    transfers.cancel(t.number, site.cashier.id)
    with pytest.raises(StateError):
        transfers.dispatch(t.number, site.cashier.id, shopify_enabled=True)
    Branch.update(shopify_location_id="gid://shopify/Location/1").execute()  # both branches, one location
    t2 = transfers.create(site.lhr.id, site.khi.id, site.cashier.id, [transfers.TransferItem(site.book.id, 1)])
    transfers.dispatch(t2.number, site.cashier.id, shopify_enabled=True)
    with pytest.raises(StateError, match="only a draft"):
        transfers.cancel(t2.number, site.cashier.id)
    transfers.receive(t2.number, site.cashier.id, {site.book.id: 1}, shopify_enabled=True)
    assert outbox.jobs_for(t2.uid) == []
    with pytest.raises(InvalidInput):
        transfers.create(site.lhr.id, site.lhr.id, site.cashier.id, [transfers.TransferItem(site.book.id, 1)])
    with pytest.raises(InvalidInput, match="quantity"):
        transfers.create(site.lhr.id, site.khi.id, site.cashier.id, [transfers.TransferItem(site.book.id, 0)])


def test_purchase_order_received_in_three_deliveries(site):
    sup = purchasing.supplier("Al-Karam Textiles", "0300-1112223")
    po = purchasing.create(site.lhr.id, sup.id, site.manager.id,
                           [purchasing.OrderItem(site.kurta.id, 10, D("55.00")), purchasing.OrderItem(site.suit.id, 6, D("200"))])
    r1 = purchasing.receive(po.number, site.cashier.id, [purchasing.Delivered(site.kurta.id, 1)] * 4,
                            shopify_enabled=True)  # scanned one by one
    assert [(l.qty, l.unit_cost_paisa) for l in r1.lines] == [(4, 5500)]
    assert purchasing.get(po.number).status == "PARTIAL"
    purchasing.receive(po.number, site.cashier.id, [purchasing.Delivered(site.kurta.id, 6, D("60")),
                                                    purchasing.Delivered(site.suit.id, 2)], shopify_enabled=True)
    r3 = purchasing.receive(po.number, site.cashier.id, [purchasing.Delivered(site.suit.id, 5),
                                                         purchasing.Delivered(site.book.id, 1, D("300"))],
                            shopify_enabled=True)
    po = purchasing.get(po.number)
    assert po.status == "RECEIVED"
    assert {b["sku"]: b["due"] for b in purchasing.balance(po)} == {"1001": 0, "1002": -1}  # one suit over
    assert ledger.on_hand(site.kurta.id, site.lhr.id) == 60 and ledger.on_hand(site.suit.id, site.lhr.id) == 57
    assert ledger.on_hand(site.book.id, site.lhr.id) == 51
    assert purchasing.average_cost(site.kurta.id) == 5800  # (4*55 + 6*60) / 10
    assert shop_deltas(r3.uid) == [("LHR1", "1002", 5, "received"), ("LHR1", "1003", 1, "received")]
    with pytest.raises(StateError, match="no more deliveries"):
        purchasing.receive(po.number, site.cashier.id, [purchasing.Delivered(site.kurta.id, 1)], shopify_enabled=True)
    with pytest.raises(StateError, match="close it instead"):
        purchasing.cancel(po.number, site.manager.id)
    with pytest.raises(InvalidInput, match="unit cost"):
        po2 = purchasing.create(site.lhr.id, sup.id, site.manager.id, [purchasing.OrderItem(site.kurta.id, 1, D("1"))])
        purchasing.receive(po2.number, site.cashier.id, [purchasing.Delivered(site.book.id, 1)], shopify_enabled=True)
    assert ledger.check() == []


def test_adjustments_with_and_without_approval(site):
    small = adjustments.create(site.lhr.id, site.cashier.id, "damaged", [adjustments.AdjustItem(site.kurta.id, -2)],
                               "water leak in stockroom", shopify_enabled=True)
    assert small.number == "ADJ-LHR1-000001" and ledger.on_hand(site.kurta.id, site.lhr.id) == 48
    assert shop_deltas(small.uid) == [("LHR1", "1001", -2, "damaged")]
    big = [adjustments.AdjustItem(site.lipstick.id, -5)]  # Rs 6,495 > Rs 5,000
    before = row_counts()
    with pytest.raises(PermissionDenied, match="manager"):
        adjustments.create(site.lhr.id, site.cashier.id, "lost", big, "missing after sale", shopify_enabled=True)
    with pytest.raises(PermissionDenied):
        adjustments.create(site.lhr.id, site.cashier.id, "lost", big, "missing", approver_id=site.supervisor.id,
                           shopify_enabled=True)
    assert row_counts() == before
    adj = adjustments.create(site.lhr.id, site.cashier.id, "lost", big, "missing", approver_id=site.manager.id,
                             shopify_enabled=True)
    assert adj.approver_id == site.manager.id
    assert shop_deltas(adj.uid) == [("LHR1", "1004", -5, "shrinkage")]
    for reason, delta, note in [("found", -1, "x"), ("damaged", 1, "x"), ("stolen", -1, "x"), ("lost", -1, "")]:
        with pytest.raises(InvalidInput):
            adjustments.create(site.lhr.id, site.manager.id, reason, [adjustments.AdjustItem(site.book.id, delta)],
                               note, shopify_enabled=True)
    assert ledger.check() == []


def test_stock_take_while_the_shop_keeps_selling(site):
    take = stocktake.start(site.lhr.id, site.manager.id)
    with pytest.raises(StateError, match="already open"):
        stocktake.start(site.lhr.id, site.manager.id)
    # Two people count different areas; kurta is on the shelf and in the back.
    for _ in range(20):
        stocktake.count(take.number, site.cashier.id, site.kurta.id, 1, area="shelf")
    cash_sale(site, [(site.kurta, 3), (site.suit, 2)])  # sold after the freeze, before the rest is counted
    stocktake.count(take.number, site.supervisor.id, site.kurta.id, 26, area="back room")  # 46 counted after sale
    stocktake.count(take.number, site.supervisor.id, site.suit.id, 40)  # 48 expected now: 8 missing
    stocktake.count(take.number, site.supervisor.id, site.book.id, 51)  # one more than expected
    diffs = {d.sku: (d.expected, d.counted, d.delta) for d in stocktake.review(take.number)}
    assert diffs["1001"] == (47, 46, -1)
    assert diffs["1002"] == (48, 40, -8)
    assert diffs["1003"] == (50, 51, 1)
    assert diffs["1004"][1] is None
    with pytest.raises(InvalidInput):
        stocktake.count(take.number, site.cashier.id, site.kurta.id, 0)
    posted = stocktake.post(take.number, site.manager.id, shopify_enabled=True)
    assert posted.status == "POSTED" and posted.adjustment.reason == "count"
    assert ledger.on_hand(site.kurta.id, site.lhr.id) == 46
    assert ledger.on_hand(site.suit.id, site.lhr.id) == 40
    assert ledger.on_hand(site.book.id, site.lhr.id) == 51
    assert ledger.on_hand(site.lipstick.id, site.lhr.id) == 50  # not counted, not zeroed
    reasons = {j.payload["reason"] for j in outbox.jobs_for(posted.adjustment.uid, "shopify")}
    assert reasons == {"cycle_count_available"}
    with pytest.raises(StateError):
        stocktake.count(take.number, site.cashier.id, site.kurta.id, 1)
    assert ledger.check() == []


def test_stock_lookup_levels_and_history(site):
    cash_sale(site, [(site.kurta, 51)], staff_id=site.supervisor.id)
    assert ("1001", "Item 1001", -1) in stock.branch_levels(site.lhr.id, negative=True)
    low = stock.branch_levels(site.lhr.id, low_at=5)
    assert [r[0] for r in low] == ["1001"]
    h = stock.history(site.kurta.id, site.lhr.id)
    assert (h[0].delta, h[0].kind, h[0].person) == (-51, "sale", "Sana")
    assert h[-1].kind == "opening"
