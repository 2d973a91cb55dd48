"""Sale completion, drafts, numbering and tenders, on each database backend."""
from decimal import Decimal as D

import pytest

from pos_core import catalog, customers, ledger, outbox, sales, shifts
from pos_core.errors import InvalidInput, NotFound, PermissionDenied, StateError
from pos_core.models import AuditEvent, OutboxJob, PosOrder, StockMovement
from pos_core.pricing import Discount

from helpers import PLAIN, POLICY, cash_sale, row_counts


def test_sale_writes_order_movements_and_jobs_in_one_go(site):
    order = cash_sale(site, [(site.kurta, 3), (site.book, 1)])
    assert order.number == "LHR1-C1-000001"
    assert order.total_paisa == 3 * 9999 + 50000
    assert order.service_fee_paisa == 100
    assert order.tax_paisa == 4576
    assert ledger.on_hand(site.kurta.id, site.lhr.id) == 47
    assert ledger.on_hand(site.book.id, site.lhr.id) == 49
    assert ledger.on_hand(site.kurta.id, site.khi.id) == 50  # another branch is untouched
    moves = StockMovement.select().where(StockMovement.doc_ref == order.number)
    assert sorted((m.delta, m.kind, m.event_key) for m in moves) == [
        (-3, "sale", f"sale:{order.uid}:1"), (-1, "sale", f"sale:{order.uid}:2")]
    jobs = outbox.jobs_for(order.uid)
    shop = [j for j in jobs if j.channel == "shopify"]
    assert sorted(j.payload["delta"] for j in shop) == [-3, -1]
    assert all(j.payload["reason"] == "correction" and j.payload["name"] == "available" for j in shop)
    assert all(j.payload["referenceDocumentUri"] == f"gid://pk-pos/Sale/{order.number}" for j in shop)
    assert [j.kind for j in jobs if j.channel == "fbr"] == ["invoice"]
    assert outbox.doc_status(order.uid, "shopify") == "PENDING"
    assert ledger.check() == []


def test_same_variant_on_two_lines_is_one_shopify_delta(site):
    order = cash_sale(site, [(site.kurta, 1), (site.kurta, 2)])
    shop = outbox.jobs_for(order.uid, "shopify")
    assert [j.payload["delta"] for j in shop] == [-3]


def test_local_only_items_and_disabled_channels_create_no_jobs(site):
    order = cash_sale(site, [(site.local_only, 1)])
    assert outbox.jobs_for(order.uid, "shopify") == []
    plain = cash_sale(site, [(site.kurta, 1)], policy=PLAIN)
    assert outbox.jobs_for(plain.uid) == []
    assert outbox.doc_status(plain.uid, "shopify") == "NOT_REQUIRED"
    assert outbox.doc_status(plain.uid, "fbr") == "NOT_REQUIRED"


def test_numbers_are_gapless_per_counter_and_failed_sales_use_none(site):
    a = cash_sale(site, [(site.kurta, 1)])
    with pytest.raises(InvalidInput):
        cash_sale(site, [(site.kurta, 1)], tenders=[sales.Tender("cash", D("1"))])
    b = cash_sale(site, [(site.kurta, 1)])
    assert (a.number, b.number) == ("LHR1-C1-000001", "LHR1-C1-000002")
    shift2 = shifts.open_shift(site.counter2.id, site.cashier.id, D("0"))
    c = sales.complete_sale(POLICY, counter_id=site.counter2.id, shift_id=shift2.id, staff_id=site.cashier.id,
                            lines=[sales.SaleLine(site.kurta.id, 1)], tenders=[sales.Tender("card", D("100.99"))])
    assert c.number == "LHR1-C2-000001"


def test_split_tender_with_cash_change(site):
    lines = [sales.SaleLine(site.suit.id, 3)]  # 999.99 + Re 1 fee = 1000.99
    order = sales.complete_sale(POLICY, counter_id=site.counter.id, shift_id=site.shift.id,
                                staff_id=site.cashier.id, lines=lines,
                                tenders=[sales.Tender("card", D("500")), sales.Tender("wallet", D("300"), "JazzCash 123"),
                                         sales.Tender("cash", D("500"))])
    assert order.change_paisa == 50000 + 30000 + 50000 - 100099
    pays = {p.method: (p.amount_paisa, p.tendered_paisa) for p in order.payments}
    assert pays["cash"] == (50000 - order.change_paisa, 50000)
    assert sum(a for a, _ in pays.values()) == order.grand_total_paisa
    assert shifts.summary(site.shift).expected == 500000 + pays["cash"][0]
    body = outbox.jobs_for(order.uid, "fbr")[0].payload["body"]
    assert '"PaymentMode":5' in body


@pytest.mark.parametrize("tenders, message", [
    ([sales.Tender("cash", D("10"))], "short"),
    ([sales.Tender("card", D("5000"))], "cannot be more"),
    ([], "no payment"),
    ([sales.Tender("cheque", D("200"))], "unknown tender"),
    ([sales.Tender("cash", D("-5")), sales.Tender("cash", D("300"))], "more than zero"),
    ([sales.Tender("cash", D("1.001"))], "decimal places"),
])
def test_bad_tenders_are_refused_and_nothing_is_written(site, tenders, message):
    before = row_counts()
    with pytest.raises(InvalidInput, match=message):
        cash_sale(site, [(site.kurta, 2)], tenders=tenders)
    assert row_counts() == before


@pytest.mark.parametrize("qty", [0, -1, 10_000, 10 ** 12])
def test_zero_negative_and_huge_quantities_are_refused(site, qty):
    before = row_counts()
    with pytest.raises(InvalidInput, match="quantity"):
        cash_sale(site, [(site.kurta, qty)], tenders=[sales.Tender("cash", D("100"))])
    assert row_counts() == before


def test_unknown_staff_item_customer_and_counter_are_refused(site):
    before = row_counts()
    with pytest.raises(NotFound, match="staff"):
        cash_sale(site, [(site.kurta, 1)], staff_id=999)
    with pytest.raises(NotFound, match="item"):
        sales.complete_sale(POLICY, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.cashier.id,
                            lines=[sales.SaleLine(424242, 1)], tenders=[sales.Tender("cash", D("1"))])
    with pytest.raises(NotFound, match="customer"):
        cash_sale(site, [(site.kurta, 1)], customer_id=777)
    with pytest.raises(NotFound, match="counter"):
        sales.complete_sale(POLICY, counter_id=999, shift_id=site.shift.id, staff_id=site.cashier.id,
                            lines=[sales.SaleLine(site.kurta.id, 1)], tenders=[sales.Tender("cash", D("101"))])
    assert row_counts() == before


def test_closed_shift_accepts_no_sale(site):
    shifts.close_shift(site.shift.id, site.cashier.id, {5000: 1})
    before = row_counts()
    with pytest.raises(StateError, match="closed"):
        cash_sale(site, [(site.kurta, 1)])
    assert row_counts() == before


def test_discount_beyond_cashier_limit_needs_an_approver_and_is_audited(site):
    lines = [sales.SaleLine(site.book.id, 1, discount=Discount("percent", D("20")))]
    tender = [sales.Tender("cash", D("401"))]
    with pytest.raises(PermissionDenied, match="supervisor"):
        sales.complete_sale(POLICY, counter_id=site.counter.id, shift_id=site.shift.id,
                            staff_id=site.cashier.id, lines=lines, tenders=tender)
    order = sales.complete_sale(POLICY, counter_id=site.counter.id, shift_id=site.shift.id,
                                staff_id=site.cashier.id, lines=lines, tenders=tender, approver_id=site.supervisor.id)
    assert order.total_paisa == 40000
    event = AuditEvent.get(AuditEvent.action == "sale.discount_approved")
    assert (event.staff_id, event.approver_id, event.doc_ref) == (site.cashier.id, site.supervisor.id, order.number)
    big = [sales.SaleLine(site.book.id, 1, discount=Discount("percent", D("50")))]
    with pytest.raises(PermissionDenied, match="cannot approve"):
        sales.complete_sale(POLICY, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.cashier.id,
                            lines=big, tenders=[sales.Tender("cash", D("251"))], approver_id=site.supervisor.id)


def test_order_discount_within_a_supervisors_limit_needs_no_approval(site):
    # Rs 100 off Rs 999.99 is 10.0001%: just over a cashier's 10%, well within a supervisor's 25%.
    order = sales.complete_sale(
        POLICY, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.supervisor.id,
        lines=[sales.SaleLine(site.suit.id, 1), sales.SaleLine(site.suit.id, 1), sales.SaleLine(site.suit.id, 1)],
        order_discount=Discount("amount", D("100")), tenders=[sales.Tender("cash", D("900.99"))])
    assert order.total_paisa == 99999 - 10000
    assert [l.order_discount_paisa for l in order.lines.order_by(sales.PosOrderLine.line_no)] == [3334, 3333, 3333]


def test_price_override_needs_a_supervisor(site):
    lines = [sales.SaleLine(site.book.id, 1, unit_price=D("450"))]
    with pytest.raises(PermissionDenied):
        sales.complete_sale(POLICY, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.cashier.id,
                            lines=lines, tenders=[sales.Tender("cash", D("451"))])
    order = sales.complete_sale(POLICY, counter_id=site.counter.id, shift_id=site.shift.id,
                                staff_id=site.supervisor.id, lines=lines, tenders=[sales.Tender("cash", D("451"))])
    assert order.lines[0].price_overridden and order.total_paisa == 45000


def test_store_credit_tender_needs_customer_and_balance(site):
    c = customers.get_or_create("0300-1234567", "Hina")
    customers.add_credit(c.id, 20000, "gift", "gift:1")
    with pytest.raises(InvalidInput, match="customer"):
        cash_sale(site, [(site.kurta, 1)], tenders=[sales.Tender("store_credit", D("100.99"))])
    with pytest.raises(InvalidInput, match="only Rs 200.00"):
        cash_sale(site, [(site.book, 1)], customer_id=c.id, tenders=[sales.Tender("store_credit", D("501"))])
    order = cash_sale(site, [(site.kurta, 1)], customer_id=c.id, tenders=[sales.Tender("store_credit", D("100.99"))])
    c = customers.find_by_phone("+923001234567")
    assert c.store_credit_paisa == 20000 - 10099
    assert order.customer_id == c.id


def test_fbr_buyer_required_above_100k(site):
    lines = [(site.lipstick, 80)]  # 103,920
    with pytest.raises(InvalidInput, match="CNIC or NTN"):
        cash_sale(site, lines)
    with pytest.raises(InvalidInput, match="13 digits"):
        cash_sale(site, lines, buyer=sales.Buyer(name="A", cnic="35202-1234567-1"))
    order = cash_sale(site, lines, buyer=sales.Buyer(name="Ali Raza", cnic="3520212345671"))
    body = outbox.jobs_for(order.uid, "fbr")[0].payload["body"]
    assert '"BuyerCNIC":"3520212345671"' in body and '"InvoiceType":11' in body


def test_drafts_move_no_stock_and_queue_nothing(site):
    before_jobs, before_moves = OutboxJob.select().count(), StockMovement.select().count()
    d = sales.save_draft(site.counter.id, site.cashier.id, [sales.SaleLine(site.kurta.id, 2)])
    assert d.kind == "draft" and d.number is None and d.total_paisa == 19998
    sales.save_draft(site.counter.id, site.cashier.id, [sales.SaleLine(site.kurta.id, 1), sales.SaleLine(site.book.id, 1)],
                     draft_uid=d.uid)
    _, lines = sales.draft_lines(d.uid)
    assert [(l.variant_id, l.qty) for l in lines] == [(site.kurta.id, 1), (site.book.id, 1)]
    assert [x.uid for x in sales.list_drafts(site.counter.id)] == [d.uid]
    assert (OutboxJob.select().count(), StockMovement.select().count()) == (before_jobs, before_moves)
    order = sales.complete_sale(POLICY, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.cashier.id,
                                lines=lines, tenders=[sales.Tender("cash", D("700"))], draft_uid=d.uid)
    assert order.uid == d.uid and order.kind == "sale" and order.lines.count() == 2
    assert sales.list_drafts(site.counter.id) == []
    d2 = sales.save_draft(site.counter.id, site.cashier.id, [sales.SaleLine(site.kurta.id, 1)])
    sales.delete_draft(d2.uid)
    assert PosOrder.get_or_none(PosOrder.uid == d2.uid) is None
    with pytest.raises(NotFound):
        sales.delete_draft(order.uid)  # a completed sale is not a draft


def test_catalog_lookup_and_search(site):
    assert catalog.lookup("8961234567895").variant.id == site.kurta.id
    assert catalog.lookup("1002").matched_by == "sku"
    with pytest.raises(NotFound, match="check digit"):
        catalog.lookup("8961234567896")
    with pytest.raises(NotFound, match="no item"):
        catalog.lookup("ABC-404")
    for bad in ["", "   ", "x" * 65, "89612\x1b[A", "ٹ123"]:
        with pytest.raises(InvalidInput):
            catalog.lookup(bad)
    assert [v.id for v in catalog.search("ite 100")][:5] == [site.kurta.id, site.suit.id, site.book.id,
                                                            site.lipstick.id, site.local_only.id]
    assert [v.id for v in catalog.search("item 1003")] == [site.book.id]
    site.book.name = "Urdu Novel Hardback"
    site.book.save()
    assert [v.id for v in catalog.search("novel hard")] == [site.book.id]
    assert catalog.search("") == [] and catalog.search("*** ()") == []


def test_phone_numbers_normalise_to_plus92():
    for text in ["03001234567", "0300-1234567", "+92 300 1234567", "923001234567", "00923001234567", "3001234567"]:
        assert customers.normalise_phone(text) == "+923001234567"
    for bad in ["12345", "0423-5761234", "phone", ""]:
        with pytest.raises(InvalidInput):
            customers.normalise_phone(bad)
