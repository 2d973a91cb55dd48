"""The yearly roll-up of the chain-wide item summary (migration 19) always equals the chain-wide
monthly rows summed per year, and so a recomputation from the documents; every chain-wide item
report over whole years gives the same rows from it as from the documents: a closed year, the
open year's stored months with the rest read live, years with months and edge days around them;
a refund across the year boundary; a late document for a day of a stored year; a product moved
to another category; a database upgraded to 19 (and from before 11) with documents in it."""
from __future__ import annotations

import datetime as dt

import pytest

from pos_core import db, migrations, refunds
from pos_core.models import (PosOrderLine, Product, SalesItemCatalog, SalesItemChain, SalesItemMonthly, SalesItemYearly,
                             SummaryWatermark)
from pos_core.reports import Filters, run, sales, summary

import reports_data
from helpers import POLICY, cash_sale
from test_reports_items import ITEM_REPORTS

CLOCKS = {"all closed": dt.datetime(2027, 3, 2, 9),       # 2026 and January-February 2027 stored
          "mid February": dt.datetime(2027, 2, 3, 9),     # 2027 stored to 2 February, 3 February on live
          "new year's day": dt.datetime(2027, 1, 1, 9)}   # 2026 stored whole, 2027 all live

PERIODS = [Filters(dt.date(2026, 1, 1), dt.date(2026, 12, 31)),     # a closed year
           Filters(dt.date(2027, 1, 1), dt.date(2027, 12, 31)),     # the open year
           Filters(dt.date(2027, 1, 1), dt.date(2027, 2, 3)),       # a year to date (mid February: to today)
           Filters(dt.date(2026, 1, 1), dt.date(2027, 12, 31)),     # two years
           Filters(dt.date(2026, 6, 15), dt.date(2027, 12, 31)),    # edge days, months, a year
           Filters(dt.date(2025, 12, 1), dt.date(2027, 1, 31)),     # months, a year, a month
           Filters(dt.date(2026, 1, 1), dt.date(2026, 12, 31), category="Apparel")]


def _more_trade(site, data) -> None:
    """2026 for the dataset: a June sale at Karachi, a December sale at Lahore whose kurta comes
    back on 2 January 2027 (a refund across the year boundary)."""
    from decimal import Decimal
    from pos_core import sales as sale_service
    june = sale_service.complete_sale(POLICY, counter_id=site.khi_counter.id, shift_id=data.khi_shift.id,
                                      staff_id=site.manager.id,
                                      lines=[sale_service.SaleLine(site.kurta.id, 1), sale_service.SaleLine(site.book.id, 1)],
                                      tenders=[sale_service.Tender("cash", Decimal("700"))])
    reports_data._stamp(june, reports_data.pk(2026, 6, 20, 12))
    december = cash_sale(site, [(site.kurta, 2), (site.suit, 1)])
    reports_data._stamp(december, reports_data.pk(2026, 12, 31, 21))
    kurta = PosOrderLine.get((PosOrderLine.order == december.id) & (PosOrderLine.line_no == 1))
    back = refunds.refund(POLICY, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.supervisor.id,
                          sale_uid=december.uid, lines=[refunds.ReturnLine(kurta.id, 1)], reason="wrong_size")
    reports_data._stamp(back, reports_data.pk(2027, 1, 2, 10))


def _same() -> set:
    chain = summary.stored_chain()
    assert chain == summary.chain_of(summary.recompute_items())
    years = summary.stored_years()
    assert years == summary.years_of(chain, summary.stored_open("sales_item_monthly")[0])
    return years


def _reports() -> dict:
    return {(k, i): (run(k, f).rows, run(k, f).totals) for k in ITEM_REPORTS for i, f in enumerate(PERIODS)}


@pytest.mark.parametrize("clock", list(CLOCKS))
def test_yearly_rows_equal_the_documents_and_the_year_reports_agree(site, monkeypatch, clock):
    data = reports_data.build(site)
    _more_trade(site, data)
    monkeypatch.setattr(summary, "now", lambda: CLOCKS[clock])
    assert summary.refresh_items() == "0000-00"
    years = _same()
    assert {r[0] for r in years} == {"all closed": {"2026", "2027"}, "mid February": {"2026", "2027"},
                                     "new year's day": {"2026"}}[clock]
    kurta_2026 = {r[3]: r[5] for r in years if r[:2] == ("2026", site.kurta.id)}
    assert kurta_2026 == {"sale": 3}                      # June at Karachi + December at Lahore; no refund in 2026
    if clock == "all closed":
        # The December kurta's refund is in 2027, beside January's kurta refunded in February.
        assert {r[3]: r[5] for r in years if r[:2] == ("2027", site.kurta.id)}["refund"] == 2
    frm, where, _ = summary.item_source(dt.date(2026, 1, 1), dt.date(2026, 12, 31), chain=True)
    assert (frm, where) == ("FROM sales_item_yearly s", "s.year >= ? AND s.year <= ?")
    with_summary = _reports()
    assert with_summary[("sales_item", 0)][0] and with_summary[("sales_item", 1)][0]
    monkeypatch.setattr(sales, "USE_ITEM_SUMMARY", False)
    assert with_summary == _reports()


def test_the_year_plan_reads_whole_years_from_the_roll_up():
    plan = summary.year_plan
    chain, years = "sales_item_chain", "sales_item_yearly"
    open_day = "2027-02-03"                               # 2027 stored: January and 1-2 February
    assert plan(("2026-01", "2026-12"), open_day) == [(years, "year", "2026", "2026")]
    assert plan(("2026-01", "2027-02"), open_day) == [(years, "year", "2026", "2027")]   # the open month's days too
    # A period without the open month's stored days reads the open year's months.
    assert plan(("2026-01", "2027-01"), open_day) == [(years, "year", "2026", "2026"),
                                                      (chain, "month", "2027-01", "2027-01")]
    assert plan(("2025-07", "2027-02"), open_day) == [(chain, "month", "2025-07", "2025-12"),
                                                      (years, "year", "2026", "2027")]
    assert plan(("2026-02", "2026-12"), open_day) == [(chain, "month", "2026-02", "2026-12")]
    assert plan(("2026-01", "2026-11"), open_day) == [(chain, "month", "2026-01", "2026-11")]
    # In January the new year holds January's stored days; on the 1st of a month, nothing of it.
    assert plan(("2026-01", "2027-01"), "2027-01-15") == [(years, "year", "2026", "2027")]
    assert plan(("2026-01", "2026-12"), "2027-01-01") == [(years, "year", "2026", "2026")]
    assert plan(("2027-01", "2027-02"), "2027-03-01") == [(years, "year", "2027", "2027")]
    # With the item plan: a year to date (or to the end of the open year) reads the year's stored
    # days from the roll-up and the days after them live.
    for end in (dt.date(2027, 2, 3), dt.date(2027, 12, 31)):
        months, live = summary.item_plan(dt.date(2027, 1, 1), end, open_day)
        assert plan(months, open_day) == [(years, "year", "2027", "2027")]
        assert live == [(dt.date(2027, 2, 3), end)]
    months, live = summary.item_plan(dt.date(2027, 1, 1), dt.date(2027, 2, 1), open_day)
    assert plan(months, open_day) == [(chain, "month", "2027-01", "2027-01")] and live == [(dt.date(2027, 2, 1),) * 2]


def test_a_late_document_and_a_moved_product_rebuild_the_years(site, monkeypatch):
    data = reports_data.build(site)
    _more_trade(site, data)
    clock = [dt.datetime(2027, 2, 3, 9)]
    monkeypatch.setattr(summary, "now", lambda: clock[0])
    summary.refresh_items()
    january = summary.stored_years()
    # A sale today (3 February, read live), then the day closing: the open year is summed again
    # with it, and the year to date through 3 February is read from the roll-up alone.
    today = cash_sale(site, [(site.book, 2)])
    reports_data._stamp(today, reports_data.pk(2027, 2, 3, 12))
    ytd = Filters(dt.date(2027, 1, 1), dt.date(2027, 2, 3))
    live_units = run("sales_item", ytd).row(key="1003")["units"]
    clock[0] = dt.datetime(2027, 2, 4, 9)
    assert summary.refresh_items() == "2027-02"
    after = _same()
    assert after != january
    assert {r[3]: r[5] for r in after if r[:2] == ("2027", site.book.id)}["sale"] == (
        {r[3]: r[5] for r in january if r[:2] == ("2027", site.book.id)}.get("sale", 0) + 2)
    assert summary.item_source(ytd.start, ytd.end, chain=True)[:2] == ("FROM sales_item_yearly s",
                                                                      "s.year >= ? AND s.year <= ?")
    assert run("sales_item", ytd).row(key="1003")["units"] == live_units
    clock[0] = dt.datetime(2027, 3, 2, 9)
    assert summary.refresh_items() == "2027-02"
    assert _same() != january
    year = Filters(dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    before = run("sales_item", year).row(key="1003")["units"]
    # A sale for 20 June 2026 that reaches this database only now: 2026 is summed again.
    late = cash_sale(site, [(site.book, 4)])
    reports_data._stamp(late, reports_data.pk(2026, 6, 20, 18))
    assert summary.refresh_items() == "2026-06"
    _same()
    assert run("sales_item", year).row(key="1003")["units"] == before + 4
    # The book moves to a category of its own: the baskets are counted again, every year too.
    Product.update(category="Books").where(Product.id == site.book.product_id).execute()
    got = run("sales_category", year)
    assert not summary.catalog_changed()
    _same()
    assert "Books" in got.column("key")
    monkeypatch.setattr(sales, "USE_ITEM_SUMMARY", False)
    assert (got.rows, got.totals) == (run("sales_category", year).rows, run("sales_category", year).totals)


def test_upgrade_to_migration_19_builds_the_years(site, monkeypatch):
    data = reports_data.build(site)
    _more_trade(site, data)
    monkeypatch.setattr(summary, "now", lambda: dt.datetime(2027, 3, 2, 9))
    summary.refresh_items()
    expected = _same()
    db.database.drop_tables([SalesItemYearly])
    migrations.SchemaMigration.delete().where(migrations.SchemaMigration.version == 19).execute()
    assert migrations.migrate() == [19]
    migrations.check_current()
    assert _same() == expected and {r[0] for r in expected} == {"2026", "2027"}
    assert summary.refresh_items() is None               # the migration left it up to date
    # From before migration 11: 11 fills the monthly tables (no yearly table yet), then 19 the years.
    from pos_core.models import ReorderForecast
    db.database.drop_tables([SalesItemMonthly, SalesItemChain, SalesItemCatalog, ReorderForecast, SalesItemYearly])
    SummaryWatermark.delete().execute()
    migrations.SchemaMigration.delete().where(migrations.SchemaMigration.version.in_([11, 19])).execute()
    assert migrations.migrate() == [11, 19]
    assert _same() == expected
