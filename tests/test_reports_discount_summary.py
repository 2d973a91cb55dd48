"""The discounted-sales and per-salesperson summaries (migration 14) equal a recomputation from the
documents, and the discounts reports and sales by salesperson read through them give what the
documents give, on SQLite and PostgreSQL: closed days stored, the open day read live, a late
document picked up, a database upgraded without them."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from pos_core import db, migrations, refunds, sales
from pos_core.models import PosOrder, PosOrderLine, SalesDiscount, SalesSalespersonDaily
from pos_core.reports import Filters, discounts, pk_today, run, summary
from pos_core.reports import sales as sales_report

import reports_data
from helpers import POLICY, cash_sale
from reports_data import pk

CLOSED = dt.datetime(2027, 3, 2, 9)   # the clock after the dataset: all its days are closed


def _same() -> dict:
    stored, fresh = summary.stored_day_tables(), summary.recompute_day_tables()
    assert stored == fresh
    return stored


def _more(site, d):
    """The shared dataset plus: S (5 Feb) two lines by two salespeople, one refunded on 6 Feb
    (the refund line counts for the sold line's salesperson); O (7 Feb) a manager's price
    override, no discount."""
    d.s = sales.complete_sale(POLICY, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.cashier.id,
                              lines=[sales.SaleLine(site.kurta.id, 2, salesperson_id=site.supervisor.id),
                                     sales.SaleLine(site.book.id, 1, salesperson_id=site.manager.id)],
                              tenders=[sales.Tender("cash", D("701"))])
    reports_data._stamp(d.s, pk(2027, 2, 5, 12))
    kurta = PosOrderLine.get((PosOrderLine.order == d.s.id) & (PosOrderLine.line_no == 1))
    d.rs = refunds.refund(POLICY, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.supervisor.id,
                          sale_uid=d.s.uid, lines=[refunds.ReturnLine(kurta.id, 1)])
    reports_data._stamp(d.rs, pk(2027, 2, 6, 10))
    d.o = sales.complete_sale(POLICY, counter_id=site.khi_counter.id, shift_id=d.khi_shift.id,
                              staff_id=site.manager.id, lines=[sales.SaleLine(site.book.id, 1, unit_price=D("450"))],
                              tenders=[sales.Tender("cash", D("451"))])
    reports_data._stamp(d.o, pk(2027, 2, 7, 13))
    return d


KEYS = ("discounts", "discounts_cashier", "sales_salesperson", "sales_day", "sales_branch", "sales_counter",
        "sales_cashier", "sales_hour")


def _both_ways(monkeypatch, filters, keys=KEYS):
    """Every report and filter with the summaries and from the documents: equal."""
    with_summary = {(k, i): (run(k, f).rows, run(k, f).totals) for k in keys for i, f in enumerate(filters)}
    with monkeypatch.context() as m:
        m.setattr(discounts, "USE_SUMMARIES", False)
        m.setattr(sales_report, "USE_SUMMARIES", False)
        for (k, i), got in with_summary.items():
            assert got == (run(k, filters[i]).rows, run(k, filters[i]).totals), (k, filters[i])
    return with_summary


@pytest.mark.parametrize("clock", ["dataset closed", "dataset still open"])
def test_summaries_equal_the_documents_and_the_reports_agree(site, monkeypatch, clock):
    d = _more(site, reports_data.build(site))
    if clock == "dataset closed":
        monkeypatch.setattr(summary, "now", lambda: CLOSED)
    summary.refresh_sales()
    stored = _same()
    assert bool(stored["sales_discount"]) == (clock == "dataset closed")
    if stored["sales_discount"]:
        # B (10 % order discount), D (20 % line discount), O (override): one row each, no refund.
        assert {r[1] for r in stored["sales_discount"]} == {d.b.number, d.d.number, d.o.number}
        assert {r[4] for r in stored["sales_salesperson_daily"]} == {None, site.supervisor.id, site.manager.id}
    feb = Filters(dt.date(2027, 2, 1), dt.date(2027, 2, 28))
    filters = [Filters(dt.date(2027, 1, 1), dt.date(2027, 2, 28)), feb,
               Filters(dt.date(2027, 2, 1), dt.date(2027, 2, 3), branch_id=site.lhr.id),
               Filters(feb.start, feb.end, counter_id=site.counter.id),
               Filters(feb.start, feb.end, cashier_id=site.cashier.id),
               Filters(feb.start, feb.end, method="wallet"), Filters(feb.start, feb.end, category="Apparel"),
               Filters(feb.start, feb.end, salesperson_id=site.supervisor.id),
               Filters(feb.start, feb.end, branch_id=site.lhr.id, salesperson_id=site.manager.id)]
    got = _both_ways(monkeypatch, filters)
    # Hand-checked: February's discounted sales, and Sana's sales net of the refund of her kurta.
    assert [r[0] for r in got[("discounts", 1)][0]] == [d.b.number, d.d.number, d.o.number]
    assert got[("discounts", 5)][0][0][0] == d.b.number and len(got[("discounts", 5)][0]) == 1   # wallet
    sana = [r for r in got[("sales_salesperson", 1)][0] if r[1] == site.supervisor.name][0]
    assert (sana[2], sana[5], sana[8]) == (1, D("99.99"), 1)   # 2 sold - 1 back; one basket
    assert got[("sales_salesperson", 7)][0] == [sana] and got[("sales_day", 7)][1][5] == D("99.99")
    # by_cashier in SQL equals the detail rows summed in Python, with other limits too.
    strict = {"supervisor": D("5"), "cashier": D("19.995")}
    for f in filters:
        sql = discounts.by_cashier(f, strict)
        with monkeypatch.context() as m:
            m.setattr(discounts, "USE_SUMMARIES", False)
            assert sql.rows == discounts.by_cashier(f, strict).rows, f
    per = {r[0]: r for r in discounts.by_cashier(feb, strict).rows}
    assert per[site.supervisor.name][7] == 1 and per[site.cashier.name][7] == 1   # B 10 % > 5; D 20 % > 19.995


def test_closed_days_stored_and_a_late_document_picked_up(site, monkeypatch):
    real = summary.now()
    a = sales.complete_sale(POLICY, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.cashier.id,
                            lines=[sales.SaleLine(site.kurta.id, 1, discount=sales.Discount("percent", "5"),
                                                  salesperson_id=site.supervisor.id)],
                            tenders=[sales.Tender("cash", D("1000"))])
    day = pk_today(real)
    today = Filters(day, day)
    summary.refresh_sales()
    assert _same() == {"sales_discount": set(), "sales_salesperson_daily": set()}   # today: read live
    assert [r[0] for r in discounts.given(today).rows] == [a.number]
    # The next day (after the settle hour): yesterday is stored.
    monkeypatch.setattr(summary, "now", lambda: real + dt.timedelta(days=1, hours=2))
    assert summary.refresh_sales() is not None
    stored = _same()
    assert [r[0] for r in stored["sales_discount"]] == [a.id]
    assert summary.refresh_sales() is None                       # nothing new: no write
    # A discounted sale arriving late for that stored day (a branch that was offline): found by
    # its id above the watermark, its day recomputed on the next report.
    late = cash_sale(site, [(site.suit, 1)])
    sales_line = PosOrderLine.get(PosOrderLine.order == late.id)
    PosOrderLine.update(line_discount_paisa=1000).where(PosOrderLine.id == sales_line.id).execute()
    reports_data._stamp(late, PosOrder.get_by_id(a.id).completed_at + dt.timedelta(seconds=1))
    yesterday = today
    assert [r[0] for r in run("discounts", yesterday).rows] == [a.number, late.number]
    assert {r[0] for r in _same()["sales_discount"]} == {a.id, late.id}
    with monkeypatch.context() as m:
        m.setattr(discounts, "USE_SUMMARIES", False)
        assert [r[0] for r in run("discounts", yesterday).rows] == [a.number, late.number]


def test_upgrade_builds_them_from_the_stored_days(site, monkeypatch):
    d = _more(site, reports_data.build(site))
    monkeypatch.setattr(summary, "now", lambda: CLOSED)
    summary.refresh_sales()
    before = _same()
    shape = lambda: {t: (sorted(c.name for c in db.database.get_columns(t)),  # noqa: E731
                         sorted((tuple(i.columns), i.unique) for i in db.database.get_indexes(t)))
                     for t in ("sales_discount", "sales_salesperson_daily", "audit_event")}
    fresh = shape()
    # A database at every migration but 14: no such tables, sales_daily already stored.
    with db.write():
        db.database.drop_tables([SalesDiscount, SalesSalespersonDaily])
        db.database.execute_sql("DROP INDEX audit_event_doc_ref")
        migrations.SchemaMigration.delete().where(migrations.SchemaMigration.version == 14).execute()
    assert migrations.migrate() == [14]
    migrations.check_current()
    assert shape() == fresh        # as a new database has them
    assert _same() == before and len(before["sales_discount"]) == 3
    assert run("discounts", Filters(dt.date(2027, 2, 1), dt.date(2027, 2, 28))).rows[-1][0] == d.o.number
