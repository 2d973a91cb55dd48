"""Refunds and exchanges: proportional money, limits, tenders, stock and queued work."""
from decimal import Decimal as D

import pytest

from pos_core import customers, ledger, outbox, refunds, sales, shifts
from pos_core.errors import InvalidInput, PermissionDenied
from pos_core.models import PosOrderLine
from pos_core.pricing import Discount
from pos_core.refunds import ReturnLine

from helpers import POLICY, cash_sale, row_counts


def _refund(site, sale, lines, **kw):
    return refunds.refund(POLICY, counter_id=site.counter.id, shift_id=site.shift.id,
                          staff_id=kw.pop("staff_id", site.supervisor.id), sale_uid=sale.uid, lines=lines, **kw)


def _line(order, n):
    return order.lines.where(PosOrderLine.line_no == n).get()


def test_refund_in_steps_returns_exactly_what_was_paid(site):
    sale = sales.complete_sale(
        POLICY, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.supervisor.id,
        lines=[sales.SaleLine(site.kurta.id, 3, discount=Discount("percent", D("7"))), sales.SaleLine(site.suit.id, 1)],
        order_discount=Discount("amount", D("33.33")), tenders=[sales.Tender("cash", D("2000"))])
    k = _line(sale, 1)
    r1 = _refund(site, sale, [ReturnLine(k.id, 1)])
    r2 = _refund(site, sale, [ReturnLine(k.id, 1), ReturnLine(k.id, 1)])
    got = [l for r in (r1, r2) for l in r.lines]
    for field in ("total_paisa", "tax_paisa", "value_excl_paisa", "line_discount_paisa", "order_discount_paisa"):
        assert sum(getattr(l, field) for l in got) == getattr(k, field), field
    assert r1.number == "LHR1-C1-R000001" and r2.number == "LHR1-C1-R000002"
    assert r1.original_id == sale.id
    assert refunds.refundable_qty(k) == 0
    assert r1.total_paisa == r1.lines[0].total_paisa and r1.service_fee_paisa == 0


def test_refunding_more_than_sold_is_refused_and_writes_nothing(site):
    sale = cash_sale(site, [(site.kurta, 2)])
    line = _line(sale, 1)
    _refund(site, sale, [ReturnLine(line.id, 1)])
    before = row_counts()
    with pytest.raises(InvalidInput, match="only 1 of 2"):
        _refund(site, sale, [ReturnLine(line.id, 2)])
    with pytest.raises(InvalidInput, match="only 1 of 2"):
        _refund(site, sale, [ReturnLine(line.id, 1), ReturnLine(line.id, 1)])
    with pytest.raises(InvalidInput, match="whole number"):
        _refund(site, sale, [ReturnLine(line.id, 0)])
    with pytest.raises(InvalidInput, match="not on sale"):
        _refund(site, sale, [ReturnLine(line.id + 999, 1)])
    assert row_counts() == before


def test_refund_needs_the_role(site):
    sale = cash_sale(site, [(site.kurta, 1)])
    with pytest.raises(PermissionDenied):
        _refund(site, sale, [ReturnLine(_line(sale, 1).id, 1)], staff_id=site.cashier.id)
    r = _refund(site, sale, [ReturnLine(_line(sale, 1).id, 1)], staff_id=site.cashier.id, approver_id=site.manager.id)
    assert r.kind == "refund"


def test_restock_moves_stock_back_and_damaged_does_not(site):
    sale = cash_sale(site, [(site.kurta, 2), (site.book, 1)])
    assert ledger.on_hand(site.kurta.id, site.lhr.id) == 48
    r = _refund(site, sale, [ReturnLine(_line(sale, 1).id, 2, restock=True), ReturnLine(_line(sale, 2).id, 1, restock=False)])
    assert ledger.on_hand(site.kurta.id, site.lhr.id) == 50
    assert ledger.on_hand(site.book.id, site.lhr.id) == 49
    shop = outbox.jobs_for(r.uid, "shopify")
    assert [(j.payload["delta"], j.payload["reason"]) for j in shop] == [(2, "restock")]
    fbr = outbox.jobs_for(r.uid, "fbr")[0]
    assert fbr.kind == "credit_note"
    assert fbr.payload["ref_usin"] == sale.number and fbr.payload["invoice_type"] == 3
    assert fbr.depends_on == outbox.jobs_for(sale.uid, "fbr")[0].uid
    assert ledger.check() == []


def test_refund_goes_back_the_way_it_was_paid(site):
    sale = cash_sale(site, [(site.book, 2)], tenders=[sales.Tender("card", D("600")), sales.Tender("cash", D("401"))])
    r = _refund(site, sale, [ReturnLine(_line(sale, 1).id, 1)])
    assert [(p.method, p.amount_paisa) for p in r.payments] == [("card", 50000)]
    r2 = _refund(site, sale, [ReturnLine(_line(sale, 1).id, 1)])
    assert sorted((p.method, p.amount_paisa) for p in r2.payments) == [("card", 10000), ("cash", 40000)]
    assert shifts.summary(site.shift).cash_refunds == 40000


def test_refund_tenders_are_checked(site):
    sale = cash_sale(site, [(site.book, 1)], tenders=[sales.Tender("cash", D("501"))])
    line = _line(sale, 1)
    with pytest.raises(InvalidInput, match="by card"):
        _refund(site, sale, [ReturnLine(line.id, 1)], tenders=[sales.Tender("card", D("500"))])
    with pytest.raises(InvalidInput, match="add up"):
        _refund(site, sale, [ReturnLine(line.id, 1)], tenders=[sales.Tender("cash", D("400"))])
    with pytest.raises(InvalidInput, match="customer"):
        _refund(site, sale, [ReturnLine(line.id, 1)], tenders=[sales.Tender("store_credit", D("500"))])


def test_refund_to_store_credit(site):
    c = customers.get_or_create("03211234567", "Zara")
    sale = cash_sale(site, [(site.book, 1)], customer_id=c.id)
    _refund(site, sale, [ReturnLine(_line(sale, 1).id, 1)], tenders=[sales.Tender("store_credit", D("500"))])
    assert customers.find_by_phone("03211234567").store_credit_paisa == 50000


def test_exchange_for_something_dearer_collects_the_difference(site):
    sale = cash_sale(site, [(site.suit, 1)])  # 333.33
    credit_note, new_sale = refunds.exchange(
        POLICY, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.supervisor.id, sale_uid=sale.uid,
        returns=[ReturnLine(_line(sale, 1).id, 1)], new_lines=[sales.SaleLine(site.book.id, 1)],
        tenders=[sales.Tender("cash", D("167.68"))])
    assert credit_note.exchange_uid == new_sale.exchange_uid is not None
    assert [(p.method, p.amount_paisa) for p in credit_note.payments] == [("exchange", 33333)]
    pays = sorted((p.method, p.amount_paisa) for p in new_sale.payments)
    assert pays == [("cash", 50100 - 33333), ("exchange", 33333)]
    assert ledger.on_hand(site.suit.id, site.lhr.id) == 50
    assert ledger.on_hand(site.book.id, site.lhr.id) == 49
    assert [j.kind for j in outbox.jobs_for(credit_note.uid, "fbr")] == ["credit_note"]
    assert [j.kind for j in outbox.jobs_for(new_sale.uid, "fbr")] == ["invoice"]


def test_exchange_for_something_cheaper_gives_the_difference_back(site):
    sale = cash_sale(site, [(site.book, 1)])  # 500.00
    credit_note, new_sale = refunds.exchange(
        POLICY, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.supervisor.id, sale_uid=sale.uid,
        returns=[ReturnLine(_line(sale, 1).id, 1)], new_lines=[sales.SaleLine(site.suit.id, 1)],
        tenders=[sales.Tender("cash", D("165.67"))])
    # new sale: 333.33 + Re 1 fee = 334.33, all paid by the exchange; 500 - 334.33 = 165.67 back in cash
    assert sorted((p.method, p.amount_paisa) for p in new_sale.payments) == [("exchange", 33433)]
    assert sorted((p.method, p.amount_paisa) for p in credit_note.payments) == [("cash", 16567), ("exchange", 33433)]
    assert credit_note.total_paisa == 50000
    assert shifts.summary(site.shift).cash_refunds == 16567


def test_exchange_wrong_difference_writes_nothing(site):
    sale = cash_sale(site, [(site.book, 1)])
    before = row_counts()
    with pytest.raises(InvalidInput, match="add up"):
        refunds.exchange(POLICY, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.supervisor.id,
                         sale_uid=sale.uid, returns=[ReturnLine(_line(sale, 1).id, 1)],
                         new_lines=[sales.SaleLine(site.suit.id, 1)], tenders=[sales.Tender("cash", D("1"))])
    assert row_counts() == before
