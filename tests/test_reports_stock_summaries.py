"""Migration 18's summaries always equal a recomputation from the documents, and the reports read
through them give what the documents give: `sales_option_monthly` (units sold per month, branch and
option, for sell-through by size), also after an item's option changed and for a reading that may
not write; `stock_cost` (average receipt cost per item, for stock value, aging and dead stock) as
goods arrive, folded twice, behind in a read-only reading; both built by the upgrade to 18."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from pos_core import db, migrations, purchasing
from pos_core.models import GoodsReceiptLine, SalesOptionMonthly, StockCost, SummaryWatermark, Variant
from pos_core.reports import Filters, run, sales, stock, summary

import reports_data

CLOCKS = {"all closed": dt.datetime(2027, 3, 2, 9), "mid February": dt.datetime(2027, 2, 3, 9), "all open": None}
STOCK_REPORTS = ("stock_value", "stock_aging", "dead_stock")


def _same_options() -> set:
    stored = summary.stored_options()
    assert stored == summary.recompute_options()
    return stored


def _same_costs() -> dict:
    stored = summary.stored_stock_cost()
    assert stored == summary.recompute_stock_cost()
    return stored


def _periods(site) -> list[Filters]:
    return [Filters(dt.date(2027, 1, 1), dt.date(2027, 2, 28)),                       # whole months
            Filters(dt.date(2027, 1, 31), dt.date(2027, 2, 2)),                       # edge days only
            Filters(dt.date(2027, 1, 15), dt.date(2027, 2, 3), branch_id=site.lhr.id),
            Filters(dt.date(2026, 12, 1), dt.date(2027, 3, 31), category="Apparel"),
            Filters(dt.date(2027, 2, 1), dt.date(2027, 2, 28), counter_id=site.counter.id)]


def _sell_through(site) -> list:
    return [(r.rows, r.totals) for r in (run("sell_through", f) for f in _periods(site))]


def _from_documents(monkeypatch, key_fn):
    with monkeypatch.context() as m:
        m.setattr(sales, "USE_SUMMARIES", False)
        return key_fn()


@pytest.mark.parametrize("clock", list(CLOCKS))
def test_option_summary_equals_the_documents_and_sell_through_agrees(site, monkeypatch, clock):
    reports_data.build(site)
    if CLOCKS[clock]:
        monkeypatch.setattr(summary, "now", lambda: CLOCKS[clock])
    assert summary.refresh_items() == "0000-00"
    rows = _same_options()
    if clock == "all closed":
        # 31 Jan: 2 kurtas (Red / M) at Lahore; February: the refund of one and 3 out in the exchange.
        assert ("2027-01", site.lhr.id, "Red / M", "sale", 2) in rows
        assert ("2027-02", site.lhr.id, "Red / M", "refund", 1) in rows
        assert ("2027-02", site.lhr.id, "Red / M", "sale", 3) in rows
        assert ("2027-02", site.khi.id, "", "sale", 2) in rows   # the books at Karachi, no option
    elif clock == "all open":
        assert rows == set()
    got = _sell_through(site)
    assert got[0][0]                                     # there is something to compare
    kurta = [r for r in got[0][0] if r[:2] == ["LHR1", "M"]][0]
    assert kurta[2] == 2 - 1 + 3
    assert got == _from_documents(monkeypatch, lambda: _sell_through(site))
    monkeypatch.setattr(stock, "USE_OPTION_SUMMARY", False)   # the item rows, as before migration 18
    assert got == _sell_through(site)


def test_a_changed_option_is_followed_also_by_a_reading_that_may_not_write(site, monkeypatch):
    reports_data.build(site)
    monkeypatch.setattr(summary, "now", lambda: dt.datetime(2027, 3, 2, 9))
    summary.refresh_items()
    f = Filters(dt.date(2027, 1, 1), dt.date(2027, 2, 28))
    assert run("sell_through", f).row(branch="LHR1", size="M")
    Variant.update(option_text="Blue / XL").where(Variant.id == site.kurta.id).execute()
    with summary.read_only():                            # may not rebuild: reads the item rows
        ro = run("sell_through", f)
    assert ("2027-01", site.lhr.id, "Red / M", "sale", 2) in summary.stored_options()   # not rebuilt
    got = run("sell_through", f)                         # rebuilds every month first
    _same_options()
    assert ("2027-01", site.lhr.id, "Blue / XL", "sale", 2) in summary.stored_options()
    assert got.row(branch="LHR1", size="XL")["sold"] == 4
    assert not [r for r in got.rows if r[:2] == ["LHR1", "M"]]
    docs = _from_documents(monkeypatch, lambda: run("sell_through", f))
    assert (ro.rows, ro.totals) == (got.rows, got.totals) == (docs.rows, docs.totals)


def _receive(site, items, note=""):
    po = purchasing.create(site.khi.id, purchasing.supplier("Gul Ahmed").id, site.manager.id,
                           [purchasing.OrderItem(v.id, q, Decimal(c)) for v, q, c in items])
    return purchasing.receive(po.number, site.manager.id, [purchasing.Delivered(v.id, q) for v, q, _ in items],
                              shopify_enabled=False, note=note)


def _stock_reports(site) -> list:
    fs = [Filters(dt.date(2027, 2, 1), dt.date(2027, 2, 28)), Filters(dt.date(2027, 1, 1), dt.date(2027, 3, 31),
                                                                     branch_id=site.khi.id, category="Apparel")]
    return [(r.rows, r.totals) for r in (run(k, f) for k in STOCK_REPORTS for f in fs)] + [stock.unit_costs(),
                                                                                          stock.unit_costs([site.kurta.id, site.suit.id])]


def test_stock_cost_equals_the_receipts_as_goods_arrive(site, monkeypatch):
    reports_data.build(site)
    assert summary.refresh_stock_cost() == 2             # kurta and book (the first build)
    first = _same_costs()
    assert first[site.kurta.id] == (20, 10 * 5000 + 10 * 6000, 5500)   # 10 at 50.00 and 10 at 60.00
    assert site.suit.id not in first                     # never received: no cost
    assert summary.refresh_stock_cost() == 0             # nothing new: nothing written
    _receive(site, [(site.kurta, 5, "70"), (site.suit, 3, "200.01")])
    summary.refresh_stock_activity()                     # (its own catching up is not what is tested here)
    with summary.read_only():                            # behind, and may not catch up: reads the lines
        assert summary.cost_source() != "stock_cost"
        ro = _stock_reports(site)
    assert summary.refresh_stock_cost() == 2             # the two items of the new lines
    after = _same_costs()
    assert after[site.kurta.id] == (25, 10 * 5000 + 10 * 6000 + 5 * 7000, (2 * 145000 + 25) // 50)
    assert after[site.suit.id][2] == 20001
    assert summary.cost_source() == "stock_cost"
    got = _stock_reports(site)
    assert got[-2][site.suit.id] == 20001
    assert got == ro
    monkeypatch.setattr(stock, "USE_STORED_COST", False)
    assert got == _stock_reports(site)
    # Folding every line again (a watermark behind) gives the same rows.
    SummaryWatermark.update(through_id=0).where(SummaryWatermark.name == "stock_cost").execute()
    assert summary.refresh_stock_cost() == 3
    assert _same_costs() == after
    wm = SummaryWatermark.get(SummaryWatermark.name == "stock_cost").through_id
    assert wm == GoodsReceiptLine.select().order_by(GoodsReceiptLine.id.desc()).first().id


def test_upgrade_to_migration_18_builds_both(sqlite_db, monkeypatch):
    from conftest import make_site
    site = make_site()
    reports_data.build(site)
    monkeypatch.setattr(summary, "now", lambda: dt.datetime(2027, 3, 2, 9))
    summary.refresh_items()
    db.database.drop_tables([SalesOptionMonthly, StockCost])
    SummaryWatermark.delete().where(SummaryWatermark.name == "stock_cost").execute()
    migrations.SchemaMigration.delete().where(migrations.SchemaMigration.version == 18).execute()
    assert migrations.migrate() == [18]
    migrations.check_current()
    assert {r[0] for r in _same_options()} == {"2027-01", "2027-02"}
    assert _same_costs()
    assert summary.refresh_items() is None and summary.refresh_stock_cost() == 0   # left up to date
