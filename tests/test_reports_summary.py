"""The stock_activity summary (migration 8) always equals a recomputation from the ledger: after
the first refresh, after more trade (sales, refunds, receipts, transfers), and on a database
upgraded from migration 1."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from pos_core import db, ledger, migrations, refunds, transfers
from pos_core.ledger import Movement
from pos_core.models import PosOrderLine, StockActivity, SummaryWatermark
from pos_core.reports import Filters, stock, summary

from helpers import POLICY, cash_sale


def _same():
    stored, fresh = summary.stored_stock_activity(), summary.recompute_stock_activity()
    assert stored == fresh
    return stored


def test_summary_equals_the_ledger_as_trade_goes_on(site):
    assert summary.refresh_stock_activity() > 0
    first = _same()
    assert first[(site.kurta.id, site.lhr.id)][0] is None            # opening stock only: never sold
    assert summary.refresh_stock_activity() == 0                      # nothing moved: nothing to do

    sale = cash_sale(site, [(site.kurta, 2), (site.suit, 1)])
    line = PosOrderLine.get((PosOrderLine.order == sale.id) & (PosOrderLine.line_no == 1))
    refunds.refund(POLICY, counter_id=site.counter.id, shift_id=site.shift.id,
                   staff_id=site.supervisor.id, sale_uid=sale.uid, lines=[refunds.ReturnLine(line.id, 1)])
    t = transfers.create(site.lhr.id, site.khi.id, site.manager.id, [transfers.TransferItem(site.book.id, 3)])
    transfers.dispatch(t.number, site.manager.id, shopify_enabled=False)
    transfers.receive(t.number, site.manager.id, {site.book.id: 3}, shopify_enabled=False)
    assert summary.refresh_stock_activity() > 0
    after = _same()
    assert after[(site.kurta.id, site.lhr.id)][0] is not None        # now sold at Lahore
    assert after[(site.book.id, site.khi.id)][1] > first[(site.book.id, site.khi.id)][1]   # received from Lahore
    wm = SummaryWatermark.get(SummaryWatermark.name == "stock_activity").through_id
    assert wm == ledger.StockMovement.select().order_by(ledger.StockMovement.id.desc()).first().id


def test_a_refresh_that_reads_movements_twice_changes_nothing(site):
    summary.refresh_stock_activity()
    before = _same()
    # Pretend the watermark is behind (as after a crash between the fold and its commit would not be,
    # but as the PostgreSQL look-back deliberately does): folding again gives the same rows.
    SummaryWatermark.update(through_id=0).execute()
    summary.refresh_stock_activity()
    assert _same() == before


def test_reports_see_trade_made_after_their_last_run(site):
    f = Filters(dt.date(2020, 1, 1), dt.date(2040, 1, 1))
    dead_before = stock.dead_stock(f, idle_days=1).as_dicts()
    assert any(r["sku"] == "1001" and r["branch"] == "LHR1" and r["days_unsold"] is None for r in dead_before)
    cash_sale(site, [(site.kurta, 1)])
    dead_after = stock.dead_stock(f, idle_days=1).as_dicts()
    assert not any(r["sku"] == "1001" and r["branch"] == "LHR1" and r["days_unsold"] is None for r in dead_after)
    _same()


def test_upgrade_from_migration_1_adds_the_summary(sqlite_db):
    from conftest import make_site
    site = make_site()
    cash_sale(site, [(site.kurta, 1)])
    # A database as migration 1 left it: no summary tables, not stamped 8.
    db.database.drop_tables([StockActivity, SummaryWatermark])
    migrations.SchemaMigration.delete().where(migrations.SchemaMigration.version == 8).execute()
    assert migrations.migrate() == [8]
    migrations.check_current()
    assert summary.refresh_stock_activity() > 0
    _same()


# --- sales_daily and payments_daily ----------------------------------------------------------------

def _same_sales():
    stored, fresh = summary.stored_sales(), summary.recompute_sales()
    assert stored[0] == fresh[0] and stored[1] == fresh[1]
    return stored


@pytest.mark.parametrize("clock", ["dataset closed", "dataset still open"])
def test_daily_summaries_equal_the_documents_and_the_reports_agree(site, monkeypatch, clock):
    """Stored closed days (the clock after the dataset) or today's documents read live (the
    dataset's days not yet closed): every report gives what the documents give."""
    import reports_data
    from pos_core.reports import CATALOG, fbr, payments, run, sales
    data = reports_data.build(site)
    if clock == "dataset closed":
        monkeypatch.setattr(summary, "now", lambda: dt.datetime(2027, 3, 2, 9))
    assert summary.refresh_sales() is not None
    rows, pays = _same_sales()
    assert bool(rows) == (clock == "dataset closed")
    filters = [Filters(dt.date(2027, 1, 1), dt.date(2027, 2, 28)),
               Filters(dt.date(2027, 2, 1), dt.date(2027, 2, 3), branch_id=site.lhr.id),
               Filters(dt.date(2027, 1, 31), dt.date(2027, 2, 28), counter_id=site.counter.id),
               Filters(dt.date(2027, 2, 1), dt.date(2027, 2, 28), cashier_id=site.supervisor.id),
               Filters(dt.date(2027, 2, 1), dt.date(2027, 2, 28), method="wallet")]
    keys = [e.key for e in CATALOG if e.area in ("Sales", "Payments", "FBR")] + ["returns_cashier"]
    with_summary = {(k, i): (run(k, f).rows, run(k, f).totals) for k in keys for i, f in enumerate(filters)}
    for module in (sales, payments, fbr):
        monkeypatch.setattr(module, "USE_SUMMARIES", False)
    for (k, i), got in with_summary.items():
        assert got == (run(k, filters[i]).rows, run(k, filters[i]).totals), (k, filters[i])


def test_days_are_stored_once_closed_and_a_late_document_is_picked_up(site, monkeypatch):
    real = summary.now()
    sale = cash_sale(site, [(site.kurta, 2)])
    assert summary.refresh_sales() is not None    # first build: nothing closed yet today
    assert summary.stored_sales() == (set(), set())
    assert summary.refresh_sales() is None        # nothing closed since: no write at all
    # The next day (after the settle hour): today is closed and stored.
    monkeypatch.setattr(summary, "now", lambda: real + dt.timedelta(days=1, hours=2))
    assert summary.refresh_sales() is not None
    rows, pays = _same_sales()
    assert sum(r[9] for r in rows) == 2 and pays
    # A refund stamped on that (closed) day is recomputed on the next day's refresh (one day back).
    line = PosOrderLine.get((PosOrderLine.order == sale.id) & (PosOrderLine.line_no == 1))
    refunds.refund(POLICY, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.supervisor.id,
                   sale_uid=sale.uid, lines=[refunds.ReturnLine(line.id, 1)])
    monkeypatch.setattr(summary, "now", lambda: real + dt.timedelta(days=2, hours=2))
    summary.refresh_sales()
    rows, _ = _same_sales()
    assert {r[6] for r in rows} == {"sale", "refund"}
