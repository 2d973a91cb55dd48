"""Every report against figures worked out by hand (tests/reports_data.py explains the dataset),
on SQLite and on PostgreSQL: the same assertions on both backends, so both give the same results."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from pos_core import reports
from pos_core.errors import InvalidInput
from pos_core.models import OutboxJob
from pos_core.reports import Filters, discounts, fbr, margin, payments, sales, stock

import reports_data

JAN = Filters(dt.date(2027, 1, 1), dt.date(2027, 1, 31))
FEB = Filters(dt.date(2027, 2, 1), dt.date(2027, 2, 28))


@pytest.fixture
def data(site):
    return reports_data.build(site)


def measures(row):
    return {k: row[k] for k in ("units", "gross", "discount", "net", "tax", "net_excl", "baskets")}


def test_sales_totals_per_month_count_the_refund_in_the_month_it_was_given(site, data):
    jan = dict(zip(["units", "gross", "discount", "net", "tax", "net_excl", "baskets"], sales.totals(JAN)))
    # A: 2 x 99.99 + 500.00; tax only on the kurtas: 199.98 x 18/118 = 30.51
    assert jan == {"units": 3, "gross": D("699.98"), "discount": 0, "net": D("699.98"), "tax": D("30.51"),
                   "net_excl": D("669.47"), "baskets": 1}
    feb = dict(zip(jan, sales.totals(FEB)))
    # B 1,299.00 + 333.33; K 1,000; R -99.99; X -333.33 + 299.97; D 333.33 -> gross 2,832.31
    # discounts: B 129.90 + 33.33, X gives back 33.33, D 66.67 -> 196.57
    # tax: B 178.34 + 45.76, R -15.26 (half of A's 30.51, rounded up on the first slice), X -45.76 + 45.76,
    #      D 40.68 -> 249.52; the book (zero-rated) adds nothing
    assert feb == {"units": 6, "gross": D("2832.31"), "discount": D("196.57"), "net": D("2635.74"),
                   "tax": D("249.52"), "net_excl": D("2386.22"), "baskets": 4}


def test_sales_by_day_branch_item_and_category(site, data):
    by_day = {r["key"]: r for r in sales.by("day", FEB).as_dicts()}
    assert list(by_day) == ["2027-02-01", "2027-02-02", "2027-02-03", "2027-02-04"]
    assert by_day["2027-02-01"]["net"] == D("2469.10")          # B 1,469.10 + K 1,000
    assert by_day["2027-02-02"]["net"] == D("-99.99")           # the refund of January's kurta
    assert measures(by_day["2027-02-03"]) == {                  # the exchange: suit back, 3 kurtas out
        "units": 2, "gross": D("-33.36"), "discount": D("-33.33"), "net": D("-0.03"), "tax": 0,
        "net_excl": D("-0.03"), "baskets": 1}
    branch = sales.by("branch", FEB)
    assert [r[0] for r in branch.rows] == ["LHR1", "KHI1"]
    assert branch.row(key="KHI1")["net"] == D("1000")
    assert branch.row(key="LHR1")["net"] == D("1635.74")
    items = sales.by("item", FEB)
    assert [r[0] for r in items.rows] == ["1004", "1003", "1002", "1001"]  # biggest net first
    lipstick = items.row(key="1004")  # Third Schedule: tax is inside the printed price less the discount
    assert (lipstick["net"], lipstick["tax"], lipstick["net_excl"]) == (D("1169.10"), D("178.34"), D("990.76"))
    assert items.row(key="1002")["units"] == 1 and items.row(key="1002")["net"] == D("266.66")
    cats = sales.by("category", FEB)
    assert cats.row(key="Cosmetics")["net"] == D("1169.10")
    assert cats.row(key="Apparel")["net"] == D("1466.64")
    assert sales.by("vendor", FEB).row(key="Medora")["units"] == 1
    assert sales.by("option", FEB).row(key="Red / M")["units"] == 2
    assert sales.by("cashier", FEB).row(key="ayesha")["net"] == D("266.66")


def test_sales_filters_narrow_every_figure(site, data):
    assert sales.totals(Filters(FEB.start, FEB.end, branch_id=site.khi.id))[3] == D("1000")
    assert sales.totals(Filters(FEB.start, FEB.end, counter_id=site.counter2.id))[3] == D("1469.10")
    assert sales.totals(Filters(FEB.start, FEB.end, cashier_id=site.supervisor.id))[3] == D("1369.08")
    assert sales.totals(Filters(FEB.start, FEB.end, category="Cosmetics"))[:2] == [1, D("1299")]
    # Orders paid at least partly by card: B only.
    assert sales.totals(Filters(FEB.start, FEB.end, method="card"))[3] == D("1469.10")


def test_hours_heatmap_and_summary_against_the_previous_period(site, data):
    hours = {r["key"]: r["net"] for r in sales.by("hour", FEB).as_dicts()}
    assert hours == {"10:00": D("-99.99"), "11:00": D("1469.10"), "12:00": D("266.66"), "18:00": D("-0.03"),
                     "20:00": D("1000")}
    heat = sales.heatmap(FEB)
    monday = heat.rows[0]  # 1 Feb 2027 is a Monday
    assert monday[0] == "Mon" and monday[1 + 11] == D("1469.10") and monday[1 + 20] == D("1000")
    rows = {r[0]: r for r in sales.summary(FEB).rows}
    assert rows["Net"][1:] == [D("2635.74"), D("699.98"), D("276.5")]   # 28 days before: 4..31 Jan, A
    assert rows["Baskets"][1] == 4
    assert rows["Refunds"][1] == D("399.99")                          # R 99.99 + the suit back 300.00
    # Sales documents only: (1,469.10 + 1,000 + 299.97 + 266.66) / 4 and (2 + 2 + 3 + 1) / 4
    assert rows["Average basket"][1] == D("758.93")
    assert rows["Items per basket"][1] == D("2.00")


def test_payments_per_branch_and_day_and_the_mix(site, data):
    rep = payments.by_branch_day(FEB)
    day1 = rep.row(day="2027-02-01", branch="LHR1")
    assert (day1["card"], day1["jazzcash"], day1["cash"]) == (D("1000"), D("470.10"), 0)   # the split tender
    assert rep.row(day="2027-02-01", branch="KHI1")["cash"] == D("1001")
    assert rep.row(day="2027-02-02", branch="LHR1")["cash"] == D("-99.99")
    x = rep.row(day="2027-02-03", branch="LHR1")
    assert (x["exchange"], x["cash"]) == (0, D("0.97"))   # exchange credit in and out nets to nothing
    mix = {r[0]: r[2] for r in payments.mix(FEB).rows}
    assert mix == {"cash": D("1169.64"), "card": D("1000"), "jazzcash": D("470.10")}
    # Everything paid = net goods + four Re 1 fees
    assert payments.mix(FEB).totals[2] == D("2635.74") + D("4")
    assert {r[0] for r in payments.mix(Filters(FEB.start, FEB.end, method="jazzcash")).rows} == {"jazzcash"}


def test_cash_expected_vs_counted_per_shift(site, data):
    rep = payments.shift_variances(FEB)
    assert len(rep.rows) == 1
    row = rep.as_dicts()[0]
    assert (row["counter"], row["cashier"], row["expected"], row["counted"], row["variance"]) == (
        "LHR1-C2", "Sana", D("2000"), D("1990"), D("-10"))
    assert payments.shift_variances(JAN).rows == []


def test_discounts_name_the_approver_and_check_role_limits(site, data):
    rep = discounts.given(FEB)
    assert [r["number"] for r in rep.as_dicts()] == [data.b.number, data.d.number]
    b, d = rep.as_dicts()
    assert (b["cashier"], b["approver"], b["discount"], b["pct"], b["beyond"]) == ("Sana", "", D("163.23"), D("10.00"), "")
    assert (d["cashier"], d["approver"], d["discount"], d["pct"], d["limit"], d["beyond"], d["flag"]) == (
        "Ayesha", "Imran", D("66.67"), D("20.00"), D("10"), "yes", "")
    # A limit the site configured lower flags Sana too, and she had nobody approve it.
    strict = discounts.given(FEB, {"supervisor": D("5")}).row(number=data.b.number)
    assert (strict["beyond"], strict["flag"]) == ("yes", "NO APPROVER")
    per = {r[0]: r for r in discounts.by_cashier(FEB).rows}
    assert per["Ayesha"][2:] == [1, D("66.67"), D("333.33"), D("20.00"), 1, 1, 0]


def test_margin_from_average_receipt_cost_and_items_never_received(site, data):
    rep = margin.by_item(FEB)
    book = rep.row(sku="1003")    # 2 x 500.00 excl. (zero-rated) less 2 x 300.00
    assert (book["margin"], book["margin_pct"]) == (D("400"), D("40.0"))
    kurta = rep.row(sku="1001")   # 3 out less 1 back: 254.21 - 84.73 = 169.48, cost 2 x 55.00
    assert (kurta["net_excl"], kurta["cost"], kurta["margin"]) == (D("169.48"), D("110"), D("59.48"))
    assert rep.row(sku="1004")["margin"] is None and rep.row(sku="1004")["cost"] is None
    assert rep.totals[3:6] == [D("1169.48"), D("710"), D("459.48")]
    cats = {r[0]: r for r in margin.by_category(FEB).rows}
    assert cats["Cosmetics"][2] == 0 and cats["Cosmetics"][6] == D("990.76")   # all of it without a cost


def test_stock_value_aging_dead_stock_and_sell_through(site, data):
    f = FEB
    rep = stock.on_hand(f)
    lhr = rep.row(branch="LHR1")
    # kurta 50-2+1-3+20 = 66 at 55.00, book 50-1+10 = 59 at 300.00; suit 49, lipstick 49, local 50 uncosted
    assert (lhr["units"], lhr["value_cost"], lhr["no_cost"]) == (273, D("21330"), 148)
    assert lhr["value_retail"] == D("121083.51")
    assert rep.row(branch="KHI1")["value_cost"] == D("17150")   # 50 x 55.00 + 48 x 300.00
    assert stock.on_hand(Filters(f.start, f.end, branch_id=site.khi.id, category="Cosmetics")).rows == [
        ["KHI1", "Karachi", 1, 50, 0, D("64950"), 50, 0]]
    dead = stock.dead_stock(f)
    # The most money tied up first: at cost where known, else at retail.
    assert [(r[0], r[1]) for r in dead.rows] == [("KHI1", "1004"), ("KHI1", "1002"), ("KHI1", "1005"),
                                                 ("LHR1", "1005"), ("KHI1", "1001")]
    assert {r[5] for r in dead.rows} == {119}    # opening stock, 1 Nov
    assert {r[4] for r in dead.rows} == {None}   # never sold there
    # 250 units; at cost only the kurtas (50 x 55.00); at retail 4,999.50 + 16,666.50 + 64,950 + 5,000 + 5,000
    assert dead.totals[3:] == [250, None, None, D("2750"), D("96616")]
    assert [r[1] for r in stock.dead_stock(f, limit=2).rows] == ["1004", "1002"]
    assert stock.dead_stock(f, limit=2).totals[3] == 250
    aging = {r[0]: r[1] for r in stock.aging(f).rows}
    assert aging["31-60 days"] == 66 + 59 and aging["91-180 days"] == 273 - 125 + 248
    st = {(r[0], r[1]): r for r in stock.sell_through_by_size(f).rows}
    assert st[("LHR1", "M")][2:] == [2, 66, D("2.9")]     # 2 / (2 + 66)
    assert st[("LHR1", "L")][2:] == [1, 49, D("2.0")]


def test_fbr_invoices_credit_notes_tax_fees_and_what_is_not_fiscalised(site, data):
    OutboxJob.update(status="SYNCED").where((OutboxJob.doc_ref == data.b.uid) & (OutboxJob.channel == "fbr")).execute()
    rep = fbr.by_day_counter(FEB)
    b = rep.row(day="2027-02-01", counter="LHR1-C2")
    assert (b["posid"], b["invoices"], b["tax"], b["fees"], b["not_fiscalised"]) == ("123457", 1, D("224.10"), D("1"), 0)
    x = rep.row(day="2027-02-03", counter="LHR1-C1")
    assert (x["invoices"], x["credit_notes"], x["tax"], x["not_fiscalised"]) == (1, 1, 0, 2)
    assert rep.totals[3:] == [4, 2, D("249.52"), D("4"), 5]
    pending = fbr.not_fiscalised(FEB)
    assert data.b.number not in pending.column("number")
    assert pending.row(number=data.r.number)["kind"] == "credit note"
    assert len(pending.rows) == 5


def test_every_catalog_report_runs_on_an_empty_period(site, data):
    empty = Filters(dt.date(2030, 1, 1), dt.date(2030, 1, 31))
    for entry in reports.CATALOG:
        rep = reports.run(entry.key, empty)
        assert rep.columns and rep.filters is empty


def test_bad_input_is_one_clear_line():
    with pytest.raises(InvalidInput, match="ends .* before it starts"):
        Filters(dt.date(2027, 2, 2), dt.date(2027, 2, 1))
    with pytest.raises(InvalidInput, match="YYYY-MM-DD"):
        reports.parse_day("31/01/2027")
    with pytest.raises(InvalidInput, match="unknown period"):
        reports.quick_period("fortnight", dt.date(2027, 2, 3))


def test_quick_picks():
    today = dt.date(2027, 3, 3)   # a Wednesday
    q = reports.quick_period
    assert q("today", today) == (today, today)
    assert q("yesterday", today) == (dt.date(2027, 3, 2),) * 2
    assert q("this_week", today) == (dt.date(2027, 3, 1), today)
    assert q("this_month", today) == (dt.date(2027, 3, 1), today)
    assert q("last_month", today) == (dt.date(2027, 2, 1), dt.date(2027, 2, 28))
    assert FEB.previous() == Filters(dt.date(2027, 1, 4), dt.date(2027, 1, 31))
    assert FEB.start_utc == dt.datetime(2027, 1, 31, 19)


def test_sales_by_department_and_sub_category(site, data):
    # issue 17: the hierarchy from categories.py; the test goods are all one product
    from pos_core.models import Product
    Product.update(department="Women", category="Lawn", sub_category="3 Piece").execute()
    dept = sales.by("department", FEB)
    assert [r[0] for r in dept.rows] == ["Women"] and dept.row(key="Women")["net"] == D("2635.74")
    sub = sales.by("sub_category", FEB)
    assert [r[0] for r in sub.rows] == ["Women > Lawn > 3 Piece"] and sub.row(key="Women > Lawn > 3 Piece")["units"] == 6


def test_returns_by_item_and_cashier(site, data):
    from pos_core.reports import returns
    items = {r["sku"]: r for r in returns.by_item(FEB).as_dicts()}
    assert set(items) == {"1001", "1002"}
    kurta, suit = items["1001"], items["1002"]
    # February: 3 kurtas sold (the exchange), 1 back (January's); suits: B and D sold, B's came back
    assert (kurta["sold"], kurta["returned"], kurta["rate"], kurta["restocked"], kurta["exchanged"]) == (
        3, 1, D("33.3"), 1, 0)
    assert (suit["sold"], suit["returned"], suit["rate"], suit["exchanged"], suit["value"]) == (2, 1, D("50.0"), 1, D("300"))
    sana = returns.by_cashier(FEB).row(cashier="sana")
    assert (sana["refunds"], sana["exchanges"], sana["value"], sana["not_restocked"]) == (2, 1, D("399.99"), 0)
    assert returns.by_item(JAN).rows == []


def test_sync_health_counts_jobs_by_state(site, data):
    from pos_core.reports import health
    OutboxJob.update(status="SYNCED").where(OutboxJob.channel == "fbr").execute()
    OutboxJob.update(status="FAILED").where(OutboxJob.doc_ref == data.d.uid).execute()
    wide = Filters(dt.date(2020, 1, 1), dt.date(2040, 1, 1))
    rep = {(r[0], r[1]): r for r in health.sync_jobs(wide).rows}
    assert rep[("fbr", "SYNCED")][2] == 6 and rep[("fbr", "FAILED")][2] == 1
    assert rep[("fbr", "FAILED")][3] != "" and rep[("fbr", "SYNCED")][3] == ""
    assert health.online_orders(wide).rows == [] and health.fulfilments(wide).rows == []


def test_online_orders_cod_rates_and_returns_by_courier(site):
    from pos_core.models import Fulfillment, SmartOrder, utcnow
    from pos_core.reports import health

    def order(n, cod, state, confirmed):
        return SmartOrder.create(shopify_id=f"gid://shopify/Order/{n}", name=f"#{n}", created_at_shopify="x",
                                 updated_at_shopify="x", is_cod=cod, state=state,
                                 confirmed_at=utcnow() if confirmed else None)
    o1, o2, o3 = order(1, True, "DELIVERED", True), order(2, True, "CANCELLED", False), order(3, True, "RETURNED", True)
    o4 = order(4, False, "DISPATCHED", False)
    for o, status, courier in ((o1, "DELIVERED", "leopards"), (o3, "RETURNED", "leopards"), (o4, "DISPATCHED", "postex")):
        Fulfillment.create(order=o, mode="smart", branch=site.lhr, status=status, courier=courier,
                           created_by=site.manager)
    wide = Filters(dt.date(2020, 1, 1), dt.date(2040, 1, 1))
    cod = health.online_orders(wide).row(kind="COD")
    # 3 COD orders: 2 confirmed, 1 cancelled, 1 refused (came back), 1 delivered
    assert (cod["count"], cod["confirmed"], cod["confirmed_pct"], cod["cancelled"], cod["refused"], cod["delivered"]) == (
        3, 2, D("66.7"), 1, 1, 1)
    assert health.online_orders(wide).row(kind="Prepaid")["count"] == 1
    leopards = health.fulfilments(wide).row(courier="leopards")
    assert (leopards["dispatched"], leopards["returned"], leopards["returned_pct"]) == (2, 1, D("50.0"))
