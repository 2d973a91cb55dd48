"""The monthly item summary (migration 11) always equals a recomputation from the documents, and
every item-level report gives the same rows from it as from the documents: months stored whole,
the open month's closed days stored and the rest read live, edge days read live; a refund across
a month boundary, an exchange; a late document for a stored day; a product moved to another
category; a database upgraded to migration 11 with documents in it."""
from __future__ import annotations

import datetime as dt

import pytest

from pos_core import db, migrations
from pos_core.models import PosOrder, Product, SalesItemCatalog, SalesItemMonthly, SummaryWatermark
from pos_core.reports import Filters, run, sales, summary

import reports_data
from helpers import cash_sale

ITEM_REPORTS = ("sales_item", "sales_department", "sales_category", "sales_sub_category", "sales_vendor",
                "sales_option", "margin_item", "margin_category", "returns_item", "sell_through")
CLOCKS = {"all closed": dt.datetime(2027, 3, 2, 9),          # every day of the dataset stored
          "mid February": dt.datetime(2027, 2, 3, 9),        # January and 1-2 Feb stored, 3 Feb on live
          "all open": None}                                  # the real clock: the dataset is in the future


def _same() -> set:
    stored, fresh = summary.stored_items(), summary.recompute_items()
    assert stored == fresh
    assert summary.stored_chain() == summary.chain_of(fresh)
    return stored


def _filters(site) -> list[Filters]:
    return [Filters(dt.date(2027, 1, 1), dt.date(2027, 2, 28)),                       # whole months
            Filters(dt.date(2027, 2, 1), dt.date(2027, 2, 28)),                       # the refund's month
            Filters(dt.date(2027, 1, 31), dt.date(2027, 2, 2)),                       # edge days only
            Filters(dt.date(2027, 1, 15), dt.date(2027, 2, 3), branch_id=site.lhr.id),
            Filters(dt.date(2026, 12, 1), dt.date(2027, 3, 31), category="Apparel"),
            Filters(dt.date(2027, 2, 1), dt.date(2027, 2, 28), counter_id=site.counter.id)]


def _all_reports(site) -> dict:
    return {(k, i): (run(k, f).rows, run(k, f).totals) for k in ITEM_REPORTS for i, f in enumerate(_filters(site))}


@pytest.mark.parametrize("clock", list(CLOCKS))
def test_item_summary_equals_the_documents_and_the_reports_agree(site, monkeypatch, clock):
    data = reports_data.build(site)
    # Kurtas sold at both branches in February: the chain-wide rows sum two branches' rows.
    from decimal import Decimal
    from pos_core import sales as sale_service
    from helpers import POLICY
    khi = sale_service.complete_sale(POLICY, counter_id=site.khi_counter.id, shift_id=data.khi_shift.id,
                                     staff_id=site.manager.id, lines=[sale_service.SaleLine(site.kurta.id, 2)],
                                     tenders=[sale_service.Tender("cash", Decimal("300"))])
    PosOrder.update(completed_at=reports_data.pk(2027, 2, 2, 16)).where(PosOrder.id == khi.id).execute()
    if CLOCKS[clock]:
        monkeypatch.setattr(summary, "now", lambda: CLOCKS[clock])
    assert summary.refresh_items() == "0000-00"          # the first build
    rows = _same()
    months = {r[0] for r in rows}
    assert months == {"all closed": {"2027-01", "2027-02"}, "mid February": {"2027-01", "2027-02"},
                      "all open": set()}[clock]
    if clock == "all closed":
        assert [r for r in summary.stored_chain() if r[:3] == ("2027-02", site.kurta.id, "1001") and r[3] == "sale"
                and r[5] == 5]                            # 3 out in the exchange at Lahore + 2 at Karachi
        # The refund of January's kurta is in February; the exchange's suit back and kurtas out too.
        refund_rows = {(r[0], r[3]): r[6] for r in rows if r[4] == "refund"}
        assert refund_rows == {("2027-02", "1001"): 1, ("2027-02", "1002"): 1}
        exchange = [r for r in rows if r[4] == "refund" and r[3] == "1002"][0]
        assert exchange[13] == 1                          # units back in an exchange
    assert summary.refresh_items() is None               # nothing closed since: no write
    with_summary = _all_reports(site)
    assert with_summary[("sales_item", 1)][0]            # the reports have rows to compare
    monkeypatch.setattr(sales, "USE_ITEM_SUMMARY", False)
    assert with_summary == _all_reports(site)


def test_the_plan_reads_whole_months_stored_and_edge_days_live():
    open_day = "2027-02-03"
    plan = summary.item_plan
    assert plan(dt.date(2027, 1, 1), dt.date(2027, 2, 28), open_day) == (
        ("2027-01", "2027-02"), [(dt.date(2027, 2, 3), dt.date(2027, 2, 28))])
    assert plan(dt.date(2026, 12, 15), dt.date(2027, 1, 31), open_day) == (
        ("2027-01", "2027-01"), [(dt.date(2026, 12, 15), dt.date(2026, 12, 31))])
    assert plan(dt.date(2027, 1, 2), dt.date(2027, 1, 30), open_day) == (None, [(dt.date(2027, 1, 2),
                                                                                 dt.date(2027, 1, 30))])
    # The open month's stored part is 1-2 Feb: a period ending on 1 Feb cannot use it.
    assert plan(dt.date(2027, 2, 1), dt.date(2027, 2, 1), open_day) == (None, [(dt.date(2027, 2, 1),
                                                                                dt.date(2027, 2, 1))])


def test_a_late_document_and_a_day_closing_are_picked_up(site, monkeypatch):
    reports_data.build(site)
    monkeypatch.setattr(summary, "now", lambda: dt.datetime(2027, 3, 2, 9))
    summary.refresh_items()
    before = run("sales_item", Filters(dt.date(2027, 2, 1), dt.date(2027, 2, 28))).totals
    # A sale that reaches this database only now, for 1 February (already stored).
    late = cash_sale(site, [(site.kurta, 4)])
    PosOrder.update(completed_at=reports_data.pk(2027, 2, 1, 13)).where(PosOrder.id == late.id).execute()
    assert summary.refresh_items() == "2027-02"
    _same()
    after = run("sales_item", Filters(dt.date(2027, 2, 1), dt.date(2027, 2, 28))).totals
    assert after[2] == before[2] + 4
    # Today's sale is read live; once its day closes, it is stored.
    today = cash_sale(site, [(site.book, 1)])
    PosOrder.update(completed_at=reports_data.pk(2027, 3, 2, 10)).where(PosOrder.id == today.id).execute()
    summary.refresh_items()
    assert not [r for r in summary.stored_items() if r[0] == "2027-03"]
    march = Filters(dt.date(2027, 3, 1), dt.date(2027, 3, 31))
    assert run("sales_item", march).row(key="1003")["units"] == 1
    monkeypatch.setattr(summary, "now", lambda: dt.datetime(2027, 3, 3, 9))
    assert summary.refresh_items() == "2027-03"
    assert [r for r in _same() if r[0] == "2027-03"]
    assert run("sales_item", march).row(key="1003")["units"] == 1


def test_a_product_moved_to_another_category_recounts_the_baskets(site, monkeypatch):
    reports_data.build(site)
    monkeypatch.setattr(summary, "now", lambda: dt.datetime(2027, 3, 2, 9))
    summary.refresh_items()
    assert not summary.catalog_changed()
    Product.update(category="Books").where(Product.id == site.book.product_id).execute()
    assert summary.catalog_changed()
    f = Filters(dt.date(2027, 1, 1), dt.date(2027, 2, 28))
    got = run("sales_category", f)
    assert not summary.catalog_changed()                 # the report rebuilt the counts first
    assert "Books" in got.column("key") and "Apparel" not in got.column("key")   # kurta, suit, book: one product
    monkeypatch.setattr(sales, "USE_ITEM_SUMMARY", False)
    assert (got.rows, got.totals) == (run("sales_category", f).rows, run("sales_category", f).totals)


def test_upgrade_to_migration_11_backfills_the_summary(sqlite_db, monkeypatch):
    from conftest import make_site
    site = make_site()
    reports_data.build(site)
    monkeypatch.setattr(summary, "now", lambda: dt.datetime(2027, 3, 2, 9))
    from pos_core.models import ReorderForecast
    from pos_core.models import SalesItemChain
    db.database.drop_tables([SalesItemMonthly, SalesItemChain, SalesItemCatalog, ReorderForecast])
    SummaryWatermark.delete().execute()
    migrations.SchemaMigration.delete().where(migrations.SchemaMigration.version == 11).execute()
    assert migrations.migrate() == [11]
    migrations.check_current()
    rows = _same()
    assert {r[0] for r in rows} == {"2027-01", "2027-02"}
    assert summary.refresh_items() is None               # the migration left it up to date


def test_the_nightly_run_stores_everything_the_morning_reports_read(site, monkeypatch):
    from pos_core import reports
    from pos_core.reports import reorder
    from sync_agent import daemon
    reports_data.build(site)
    monkeypatch.setattr(summary, "now", lambda: dt.datetime(2027, 3, 1, 20, 30))   # 01:30 on 2 March, PK
    done = reports.nightly()
    assert done["sales_item_monthly"] == "0000-00" and done["sales_daily"] == "0000-00-00"
    _same()
    assert reorder.stored_at(dt.date(2027, 3, 1)) == dt.datetime(2027, 3, 1, 20, 30)
    assert summary.refresh_items() is None and summary.refresh_sales() is None
    fire = daemon.reports_nightly_trigger().get_next_fire_time(None, dt.datetime(2027, 3, 1, tzinfo=dt.timezone.utc))
    assert (fire.hour, fire.minute, str(fire.tzinfo)) == (1, 30, "Asia/Karachi")


def test_a_background_report_writes_before_it_yields_and_reads_only_after(site, monkeypatch):
    """reports.run(background=True) as the back office runs it: read_only gives the documents'
    figures with nothing stored (it never writes), and the background run stores first."""
    import os
    import threading
    from pos_core import reports
    reports_data.build(site)
    monkeypatch.setattr(summary, "now", lambda: dt.datetime(2027, 3, 2, 9))
    keys = ITEM_REPORTS + ("sales_day", "payments_day", "stock_aging", "reorder")
    f = Filters(dt.date(2027, 1, 1), dt.date(2027, 2, 28))
    with summary.read_only():   # (stock_activity is read as stored: a stock report needs prepare())
        unstored = {k: reports.run(k, f).rows for k in keys if k != "stock_aging"}
    assert SummaryWatermark.select().count() == 0 and SalesItemMonthly.select().count() == 0
    got, policy = {}, {}

    def office_thread():   # as pos-office's report worker (a pool thread that goes on to other work)
        got.update({k: reports.run(k, f, background=True).rows for k in keys})
        policy["after"] = os.sched_getscheduler(0)

    worker = threading.Thread(target=office_thread)
    worker.start()
    worker.join(120)
    assert policy["after"] == os.SCHED_OTHER      # the reading ran at SCHED_IDLE in a thread of its own
    assert got == dict(unstored, stock_aging=reports.run("stock_aging", f).rows)
    assert summary.refresh_items() is None and summary.stored_items()
    _same()


def test_a_database_stamped_11_without_the_chain_table_gets_it(site, monkeypatch):
    from pos_core.models import SalesItemChain
    reports_data.build(site)
    monkeypatch.setattr(summary, "now", lambda: dt.datetime(2027, 3, 2, 9))
    summary.refresh_items()
    db.database.drop_tables([SalesItemChain])
    summary._CHAIN_READY.clear()
    f = Filters(dt.date(2027, 1, 1), dt.date(2027, 2, 28))
    got = run("sales_item", f)
    assert db.database.table_exists("sales_item_chain")
    _same()
    monkeypatch.setattr(sales, "USE_ITEM_SUMMARY", False)
    assert got.rows == run("sales_item", f).rows


def test_the_background_reading_is_at_sched_idle_and_errors_come_back(site, monkeypatch):
    import os
    from pos_core import reports
    from pos_core.errors import InvalidInput
    seen = {}

    def probe(f):
        seen["policy"] = os.sched_getscheduler(0)
        seen["writes"] = summary.writes_allowed()
        return run("sales_item", f)

    def broken(f):
        raise InvalidInput("no such thing")

    monkeypatch.setitem(reports.BY_KEY, "probe", reports.Entry("probe", "Sales", "probe", probe))
    monkeypatch.setitem(reports.BY_KEY, "broken", reports.Entry("broken", "Sales", "broken", broken))
    f = Filters(dt.date(2027, 1, 1), dt.date(2027, 1, 31))
    reports.run("probe", f, background=True)
    assert seen == {"policy": os.SCHED_IDLE, "writes": False}
    assert os.sched_getscheduler(0) == os.SCHED_OTHER and summary.writes_allowed()
    with pytest.raises(InvalidInput, match="no such thing"):
        reports.run("broken", f, background=True)


def test_a_day_closing_after_a_category_change_does_not_hide_it(site, monkeypatch):
    """A refresh by a report that does not use the basket counts (top items) after a product
    changed category still rebuilds them: the next category report agrees with the documents."""
    reports_data.build(site)
    clock = [dt.datetime(2027, 3, 2, 9)]
    monkeypatch.setattr(summary, "now", lambda: clock[0])
    summary.refresh_items()
    Product.update(category="Books").where(Product.id == site.book.product_id).execute()
    clock[0] = dt.datetime(2027, 3, 3, 9)                     # a day closes
    assert summary.refresh_items(groups=False) == "0000-00"   # rebuilt, not just March
    f = Filters(dt.date(2027, 1, 1), dt.date(2027, 2, 28))
    got = run("sales_category", f)
    monkeypatch.setattr(sales, "USE_ITEM_SUMMARY", False)
    assert (got.rows, got.totals) == (run("sales_category", f).rows, run("sales_category", f).totals)
