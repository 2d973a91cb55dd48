"""Returns by reason with refunds of several lines (issue 15): one reason per refund document, its
units and value summed over every line it took back, restocked or not per line; on SQLite and
PostgreSQL."""
from __future__ import annotations

from decimal import Decimal as D

from pos_core import refunds, sales
from pos_core.models import PosOrderLine
from pos_core.reports import Filters, returns

from helpers import POLICY, cash_sale


def _line(order, n):
    return PosOrderLine.get((PosOrderLine.order == order.id) & (PosOrderLine.line_no == n))


def test_returns_by_reason_add_up_every_line_of_a_refund(site):
    """S: 2 x kurta (99.99), book (500.00), suit (333.33) at LHR1-C1.
      R1 damaged: kurta 1 not restocked + kurta 1 restocked (two lines of one sold line) + the book
      R2 damaged: the suit, not restocked
      T: kurta + suit; exchanged (wrong size) for a book: its refund half takes back two lines"""
    s = cash_sale(site, [(site.kurta, 2), (site.book, 1), (site.suit, 1)])
    kurta, book, suit = _line(s, 1), _line(s, 2), _line(s, 3)

    def refund(lines, reason, note=""):
        return refunds.refund(POLICY, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.supervisor.id,
                              sale_uid=s.uid, lines=lines, reason=reason, note=note)
    r1 = refund([refunds.ReturnLine(kurta.id, 1, restock=False), refunds.ReturnLine(kurta.id, 1),
                 refunds.ReturnLine(book.id, 1)], "damaged", "box crushed")
    refund([refunds.ReturnLine(suit.id, 1, restock=False)], "damaged")
    t = cash_sale(site, [(site.kurta, 1), (site.suit, 1)])
    back, _ = refunds.exchange(POLICY, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.supervisor.id,
                               sale_uid=t.uid, returns=[refunds.ReturnLine(_line(t, 1).id, 1),
                                                        refunds.ReturnLine(_line(t, 2).id, 1)],
                               new_lines=[sales.SaleLine(site.book.id, 1)], tenders=[sales.Tender("cash", D("100"))],
                               reason="wrong_size")
    assert [l.qty for l in back.lines] == [1, 1]

    today = Filters.quick("today")
    rep = returns.by_reason(today)
    assert rep.row(reason="damaged") == {
        "reason": "damaged", "label": "Damaged", "refunds": 2, "units": 4, "share": D("66.7"), "restocked": 2,
        "not_restocked": 2, "exchanged": 0, "value": D("1033.31")}          # 99.99 x 2 + 500.00 + 333.33
    assert rep.row(reason="wrong_size") == {
        "reason": "wrong_size", "label": "Wrong size", "refunds": 1, "units": 2, "share": D("33.3"), "restocked": 2,
        "not_restocked": 0, "exchanged": 2, "value": D("433.32")}           # 99.99 + 333.33
    assert rep.totals == ["Total", "", 3, 6, D("100.0"), 4, 2, 2, D("1466.63")]
    listed = {r["number"]: r for r in returns.refund_list(today).as_dicts()}
    assert (listed[r1.number]["units"], listed[r1.number]["not_restocked"], listed[r1.number]["value"],
            listed[r1.number]["note"]) == (3, 1, D("699.98"), "box crushed")
    assert listed[back.number]["exchange"] == "yes" and listed[back.number]["units"] == 2
    # Karachi gave none of them
    assert returns.by_reason(Filters(today.start, today.end, branch_id=site.khi.id)).rows == []


# --- online parcels taken back at the counter ----------------------------------------------------

def _sent(site, n, qty, branch):
    """Online order #n of `qty` books (Rs 999.90 each on the order), packed and sent from `branch`."""
    from pos_core import fulfillments, online_orders
    from test_online_orders import node
    order, _ = online_orders.record_from_shopify(node(site, [(f"L{n}", site.book, qty)], oid=f"gid://shopify/Order/{n}",
                                                      name=f"#{n}"), ("Cash on Delivery (COD)",))
    f = fulfillments.create(order.id, branch.id, site.cashier.id)
    fulfillments.pack(f.uid, site.cashier.id)
    fulfillments.dispatch(f.uid, site.cashier.id, "TCS", f"779{n}", shopify_enabled=False)
    return f


def test_online_parcels_back_by_reason_and_branch(site):
    import pytest
    from pos_core import fulfillments
    from pos_core.errors import InvalidInput
    from helpers import row_counts
    back = lambda f, branch, **kw: fulfillments.mark_returned(f.uid, site.cashier.id, branch.id,  # noqa: E731
                                                              shopify_enabled=False, **kw)
    f1, f2, f3, f4 = (_sent(site, 1, 2, site.lhr), _sent(site, 2, 1, site.lhr), _sent(site, 3, 1, site.khi),
                      _sent(site, 4, 1, site.lhr))
    before = row_counts()
    for kw, message in (({"return_reason": "bored"}, "unknown return reason"), ({"return_reason": "other"}, "a few words"),
                        ({"return_note": "no reason"}, "needs a reason")):
        with pytest.raises(InvalidInput, match=message):
            back(f1, site.lhr, **kw)
    assert row_counts() == before
    back(f1, site.lhr, return_reason="damaged", return_note="  box wet ")     # 2 units at LHR1
    back(f2, site.khi, return_reason="refused")                              # sent by LHR1, back at KHI1
    back(f3, site.khi, reason="returned by Leopards (refused)")              # a courier's parcel scanned in
    back(f4, site.lhr)                                                       # no reason given (an older caller)
    from pos_core import hq_returns                # LHR1's parcel, taken in at KHI1's returns desk (a chain)
    assert hq_returns.came_back_elsewhere([(_sent(site, 5, 1, site.lhr).uid, "KHI1")], "LHR1") == 1
    assert fulfillments.Fulfillment.get_by_id(f1.id).history[-1]["return_note"] == "box wet"

    today = Filters.quick("today")
    rep = returns.online_by_reason(today)
    assert [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rep.rows] == [
        ("damaged", "Damaged", 1, 2, D("33.3"), D("1999.80")),
        ("", "(not recorded)", 1, 1, D("16.7"), D("999.90")),                             # ties by code
        ("courier", "(courier return: no reason asked)", 1, 1, D("16.7"), D("999.90")),   # taken in elsewhere
        ("courier:refused", "Courier's word: refused", 1, 1, D("16.7"), D("999.90")),      # what Leopards said
        ("refused", "Refused at the door", 1, 1, D("16.7"), D("999.90"))]
    assert rep.row(reason="damaged")["share"] == D("33.3")
    assert rep.totals == ["Total", "", 5, 6, D("100.0"), D("5999.40")]
    karachi = returns.online_by_reason(Filters(today.start, today.end, branch_id=site.khi.id))
    assert [(r[0], r[3]) for r in karachi.rows] == [("courier", 1), ("courier:refused", 1), ("refused", 1)]
    # a parcel scanned in with no status from the courier yet is only "a courier's"
    assert returns._courier_word({"reason": "returned by TCS (scanned in)"}) == "courier"
    assert returns._courier_word({"reason": "returned by M&P (Returned To Shipper)"}) == "courier:returned to shipper"
    assert [r[0] for r in returns.online_by_reason(Filters(today.start, today.end, branch_id=site.lhr.id)).rows] == [
        "damaged", ""]
    yesterday = Filters.quick("yesterday")
    assert returns.online_by_reason(yesterday).rows == [] and returns.online_by_reason(yesterday).totals[2] == 0
