"""Issue 15's remaining reports against hand-computed figures, on SQLite and PostgreSQL: returns by
reason (recorded with the refund, migration 15) and restocked or not, sales by salesperson and the
salesperson filter, dispatch time of online orders, and which filters each report honours."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal as D

import pytest

from pos_core import chain, db, fulfillments, online_orders, refunds, reports, sales
from pos_core.errors import InvalidInput
from pos_core.models import Fulfillment, PosOrder, PosOrderLine, SmartOrder
from pos_core.reports import Filters, health, returns
from pos_core.reports import sales as sales_report

import reports_data
from helpers import POLICY, row_counts
from reports_data import pk

FEB = Filters(dt.date(2027, 2, 1), dt.date(2027, 2, 28))


@pytest.fixture
def data(site):
    """The shared dataset (R: wrong size, X: changed mind) plus, in February:
      S   5 Feb 12:00 PK LHR1-C1 ayesha: 2 x kurta sold by sana (199.98), 1 x book sold by imran (500.00)
      RS  6 Feb 10:00 PK refund of 1 kurta from S, defective ("seam open"), not restocked (99.99)
      RN  6 Feb 11:00 PK KHI1 refund of 1 book from K with no reason recorded, restocked (500.00)"""
    d = reports_data.build(site)
    d.s = sales.complete_sale(POLICY, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.cashier.id,
                              lines=[sales.SaleLine(site.kurta.id, 2, salesperson_id=site.supervisor.id),
                                     sales.SaleLine(site.book.id, 1, salesperson_id=site.manager.id)],
                              tenders=[sales.Tender("cash", D("701"))])
    reports_data._stamp(d.s, pk(2027, 2, 5, 12))
    kurta = PosOrderLine.get((PosOrderLine.order == d.s.id) & (PosOrderLine.line_no == 1))
    d.rs = refunds.refund(POLICY, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.supervisor.id,
                          sale_uid=d.s.uid, lines=[refunds.ReturnLine(kurta.id, 1, restock=False)],
                          reason="defective", note="  seam open ")
    reports_data._stamp(d.rs, pk(2027, 2, 6, 10))
    book = PosOrderLine.get((PosOrderLine.order == d.k.id) & (PosOrderLine.line_no == 1))
    d.rn = refunds.refund(POLICY, counter_id=site.khi_counter.id, shift_id=d.khi_shift.id, staff_id=site.manager.id,
                          sale_uid=d.k.uid, lines=[refunds.ReturnLine(book.id, 1)])
    reports_data._stamp(d.rn, pk(2027, 2, 6, 11))
    return d


def test_a_refund_stores_its_reason_and_note_and_bad_ones_write_nothing(site, data):
    got = PosOrder.get_by_id(data.rs.id)
    assert (got.return_reason, got.return_note) == ("defective", "seam open")
    assert (data.x_back.return_reason, data.x_back.return_note) == ("changed_mind", "wanted blue")
    assert data.x_out.return_reason == ""            # the sale half of the exchange carries none
    line = PosOrderLine.get((PosOrderLine.order == data.s.id) & (PosOrderLine.line_no == 1))
    before = row_counts()
    for kw, message in (({"reason": "too_pricey"}, "unknown return reason"),
                        ({"reason": "other"}, "needs a few words"),
                        ({"reason": "other", "note": "   "}, "needs a few words"),
                        ({"reason": "damaged", "note": "x" * 201}, "within 200"),
                        ({"note": "no reason"}, "needs a reason")):
        with pytest.raises(InvalidInput, match=message):
            refunds.refund(POLICY, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.supervisor.id,
                           sale_uid=data.s.uid, lines=[refunds.ReturnLine(line.id, 1)], **kw)
    with pytest.raises(InvalidInput, match="unknown return reason"):
        refunds.exchange(POLICY, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.supervisor.id,
                         sale_uid=data.s.uid, returns=[refunds.ReturnLine(line.id, 1)], new_lines=[], tenders=[],
                         reason="bored")
    assert row_counts() == before


def test_the_reason_travels_with_the_refund_to_the_head_office(site, data):
    # pos_order is replicated column by column (chain.py): the new columns are on the wire.
    wire = json.loads(json.dumps(list(chain.Serializer(db.database).records("pos_order", [data.rs.id]).values())))
    assert (wire[0]["d"]["return_reason"], wire[0]["d"]["return_note"]) == ("defective", "seam open")


def test_returns_by_reason_restocked_or_not(site, data):
    rep = returns.by_reason(FEB)
    # One unit each: R wrong size 99.99 (restocked), X changed mind 300.00 (restocked, in an exchange),
    # RS defective 99.99 (not restocked), RN not recorded 500.00 (restocked). Ties by code, "" first.
    assert [r[0] for r in rep.rows] == ["", "changed_mind", "defective", "wrong_size"]
    assert rep.row(reason="")["label"] == "(not recorded)"
    assert rep.row(reason="defective") == {
        "reason": "defective", "label": "Defective", "refunds": 1, "units": 1, "share": D("25.0"), "restocked": 0,
        "not_restocked": 1, "exchanged": 0, "value": D("99.99")}
    changed = rep.row(reason="changed_mind")
    assert (changed["exchanged"], changed["restocked"], changed["value"]) == (1, 1, D("300"))
    assert rep.totals == ["Total", "", 4, 4, D("100.0"), 3, 1, 1, D("999.98")]
    # narrowed: Karachi has only RN; sana's lines only RS (the refund line counts for the sold line's person)
    assert [r[0] for r in returns.by_reason(Filters(FEB.start, FEB.end, branch_id=site.khi.id)).rows] == [""]
    sana = Filters(FEB.start, FEB.end, salesperson_id=site.supervisor.id)
    assert [r[0] for r in returns.by_reason(sana).rows] == ["defective"]
    assert returns.by_reason(Filters(dt.date(2027, 1, 1), dt.date(2027, 1, 31))).rows == []

    listed = returns.refund_list(FEB).as_dicts()
    assert [(r["number"], r["reason"], r["note"], r["not_restocked"], r["exchange"]) for r in listed] == [
        (data.r.number, "Wrong size", "", 0, ""), (data.x_back.number, "Changed mind", "wanted blue", 0, "yes"),
        (data.rs.number, "Defective", "seam open", 1, ""), (data.rn.number, "(not recorded)", "", 0, "")]
    assert listed[2]["day"] == "2027-02-06" and listed[2]["cashier"] == "sana" and listed[2]["value"] == D("99.99")


def test_sales_by_salesperson_net_of_their_refunds_and_the_filter(site, data):
    rep = sales_report.by("salesperson", FEB)
    sana, imran, nobody = rep.row(key="sana"), rep.row(key="imran"), rep.row(key="")
    # sana: 2 kurtas (199.98) less the one refunded (99.99); imran: the book
    assert (sana["units"], sana["net"], sana["baskets"]) == (1, D("99.99"), 1)
    assert (imran["units"], imran["net"], imran["name"]) == (1, D("500"), "Imran")
    # everything else in February (2,635.74 over 6 units) less RN's book (500.00): nobody named
    assert (nobody["name"], nobody["units"], nobody["net"]) == ("(no salesperson)", 5, D("2135.74"))
    assert rep.totals[2 + 3] == D("2735.73") == sana["net"] + imran["net"] + nobody["net"]
    narrowed = Filters(FEB.start, FEB.end, salesperson_id=site.supervisor.id)
    assert sales_report.totals(narrowed)[:4] == [1, D("99.99"), D("0"), D("99.99")]
    assert [r[0] for r in sales_report.by("item", narrowed).rows] == ["1001"]
    assert sales_report.by("day", narrowed).row(key="2027-02-06")["net"] == D("-99.99")
    # the summary compares like with like: the previous 28 days had no attributed lines
    summary = sales_report.summary(narrowed)
    assert summary.row(measure="Net")["current"] == D("99.99") and summary.row(measure="Net")["previous"] == D("0")


def test_every_filter_is_honoured_or_named_as_not_used(site, data):
    f = Filters(FEB.start, FEB.end, category="Apparel", method="cash", salesperson_id=site.supervisor.id)
    assert reports.BY_KEY["sales_day"].ignored(f) == []
    assert reports.BY_KEY["payments_day"].ignored(f) == ["category", "salesperson"]
    assert reports.BY_KEY["stock_value"].ignored(f) == ["method", "salesperson"]
    assert reports.BY_KEY["sync_health"].ignored(Filters(FEB.start, FEB.end, branch_id=site.lhr.id, counter_id=site.counter.id)) == ["counter"]
    # a report that says it uses a filter really narrows by it: each one, set alone, changes a figure
    values = {"branch": site.khi.id, "counter": site.counter2.id, "cashier": site.cashier.id, "category": "Cosmetics",
              "method": "card", "salesperson": site.supervisor.id}
    for key in ("sales_summary", "sales_item", "returns_item", "discounts", "margin_item"):
        entry = reports.BY_KEY[key]
        whole = reports.run(key, FEB)
        for name in sorted(entry.uses):
            field = name if name in ("category", "method") else f"{name}_id"
            narrowed = reports.run(key, Filters(FEB.start, FEB.end, **{field: values[name]}))
            assert (narrowed.rows, narrowed.totals) != (whole.rows, whole.totals) or not whole.rows, (key, name)


# --- online orders: dispatch time ----------------------------------------------------------------

def _order(site, n, created, cod, confirmed=None):
    from test_online_orders import node
    body = node(site, [(f"L{n}", site.book, 1)], oid=f"gid://shopify/Order/{n}", name=f"#{n}",
                gateway="Cash on Delivery (COD)" if cod else "shopify_payments")
    body["createdAt"] = created
    order, _ = online_orders.record_from_shopify(body, ("Cash on Delivery (COD)",))
    if confirmed:
        online_orders.confirm(order.id, site.cashier.id, shopify_enabled=False)
        SmartOrder.update(confirmed_at=confirmed).where(SmartOrder.id == order.id).execute()
    return order


def _retime(f, made: dt.datetime, **steps: dt.datetime) -> None:
    """The services stamp now: put the shipment's making and its steps at the story's times."""
    f = Fulfillment.get_by_id(f.id)
    history = [dict(h, at=steps[h["status"]].isoformat()) if h["status"] in steps else h for h in f.history]
    Fulfillment.update(created_at=made, history=history).where(Fulfillment.id == f.id).execute()
    fulfillments.fill_dispatched_at([f.id])   # the stored dispatch time follows the history, as migration 13's


def _shipped(site, order, branch, made, sent):
    f = fulfillments.create(order.id, branch.id, site.cashier.id)
    fulfillments.pack(f.uid, site.cashier.id)
    fulfillments.dispatch(f.uid, site.cashier.id, "TCS", f"7790{order.id}", shopify_enabled=False)
    _retime(f, made, DISPATCHED=sent)
    return f


def test_dispatch_time_median_and_p90_per_branch_and_workflow(site):
    u = dt.datetime
    o1 = _order(site, 1, "2027-02-01T05:00:00Z", True, confirmed=u(2027, 2, 1, 7))
    _shipped(site, o1, site.lhr, u(2027, 2, 1, 8), u(2027, 2, 1, 9))                # 4 h, 2 h from the call
    o2 = _order(site, 2, "2027-02-01T10:00:00+05:00", True, confirmed=u(2027, 2, 1, 6))
    _shipped(site, o2, site.lhr, u(2027, 2, 1, 8), u(2027, 2, 2, 5))                # 24 h, 23 h
    o3 = _order(site, 3, "2027-02-02T00:00:00Z", False)
    _shipped(site, o3, site.lhr, u(2027, 2, 2, 1), u(2027, 2, 2, 10))               # 10 h
    o4 = _order(site, 4, "2027-02-03T00:00:00Z", False)
    m = fulfillments.manual(o4.id, site.lhr.id, site.cashier.id, note="rider")
    _retime(m, u(2027, 2, 3, 3), DONE=u(2027, 2, 3, 3))                             # 3 h, manual
    o5 = _order(site, 5, "2027-02-03T00:00:00Z", False)
    _shipped(site, o5, site.khi, u(2027, 2, 3, 1), u(2027, 2, 3, 6))                # 6 h at Karachi
    o6 = _order(site, 6, "2027-02-03T00:00:00Z", False)                            # packed, not gone: not counted
    f6 = fulfillments.create(o6.id, site.lhr.id, site.cashier.id)
    fulfillments.pack(f6.uid, site.cashier.id)
    _retime(f6, u(2027, 2, 3, 1))
    o7 = _order(site, 7, "2027-01-20T00:00:00Z", False)                            # dispatched in January
    _shipped(site, o7, site.lhr, u(2027, 1, 20, 1), u(2027, 1, 25, 0))

    rep = health.dispatch_times(FEB)
    assert [(r[0], r[1]) for r in rep.rows] == [("KHI1", "all"), ("KHI1", "smart"), ("LHR1", "all"),
                                                ("LHR1", "manual"), ("LHR1", "smart")]
    row = lambda b, w: rep.row(branch=b, workflow=w)  # noqa: E731
    # LHR1 smart: 4, 24, 10 h -> median 10, p90 = the 3rd of 3 (nearest rank) = 24; from the call: 2, 23
    assert row("LHR1", "smart") == {"branch": "LHR1", "workflow": "smart", "shipments": 3, "median_h": D("10.0"),
                                    "p90_h": D("24.0"), "confirmed": 2, "confirmed_median_h": D("12.5"),
                                    "confirmed_p90_h": D("23.0")}
    assert (row("LHR1", "manual")["median_h"], row("LHR1", "manual")["confirmed_median_h"]) == (D("3.0"), None)
    assert (row("LHR1", "all")["shipments"], row("LHR1", "all")["median_h"], row("LHR1", "all")["p90_h"]) == (
        4, D("7.0"), D("24.0"))                                                     # 3, 4, 10, 24
    assert row("KHI1", "smart")["median_h"] == D("6.0")
    assert rep.totals == ["Total", "", 5, D("6.0"), D("24.0"), 2, D("12.5"), D("23.0")]   # 3, 4, 6, 10, 24
    karachi = health.dispatch_times(Filters(FEB.start, FEB.end, branch_id=site.khi.id))
    assert [r[0] for r in karachi.rows] == ["KHI1", "KHI1"] and karachi.totals[2] == 1
    jan = health.dispatch_times(Filters(dt.date(2027, 1, 1), dt.date(2027, 1, 31)))
    assert jan.totals[2:5] == [1, D("120.0"), D("120.0")]                           # 20 Jan -> 25 Jan
    # returns by courier: the same shipments by workflow and courier, narrowed by branch too
    assert health.fulfilments(Filters(dt.date(2026, 1, 1), dt.date(2028, 1, 1), branch_id=site.khi.id)).rows == [
        ["smart", "TCS", 1, 1, 0, D("0.0")]]


def test_migration_15_gives_old_refunds_an_empty_reason(site):
    from pos_core import migrations
    from helpers import cash_sale
    columns = lambda: {c.name: c for c in db.database.get_columns("pos_order")}  # noqa: E731
    fresh = sorted(columns())
    sale = cash_sale(site, [(site.kurta, 1)])
    old = refunds.refund(POLICY, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.supervisor.id,
                         sale_uid=sale.uid, lines=[refunds.ReturnLine(sale.lines[0].id, 1)], reason="damaged")
    # The schema before migration 15: without the two columns, and not stamped.
    for col in ("return_reason", "return_note"):
        db.database.execute_sql(f"ALTER TABLE pos_order DROP COLUMN {col}")
    migrations.SchemaMigration.delete().where(migrations.SchemaMigration.version == 15).execute()
    with pytest.raises(migrations.SchemaError, match=r"\[15\]"):
        migrations.check_current()
    assert migrations.migrate() == [15]
    migrations.check_current()
    assert sorted(columns()) == fresh
    got = PosOrder.get_by_id(old.id)
    assert (got.return_reason, got.return_note) == ("", "")     # recorded before reasons were
    day = Filters.quick("today")
    assert returns.by_reason(day).row(reason="")["label"] == "(not recorded)"


def test_migration_13_fills_the_dispatch_time_from_the_history(site):
    """An older database (no `fulfillment.dispatched_at`, not stamped 13): the migration fills the
    column with what each history says (a Smart shipment's first DISPATCHED step, a Manual
    record's DONE step), leaves what never left empty, and the report reads the same figures."""
    from pos_core import migrations
    u = dt.datetime
    shape = lambda: (sorted(c.name for c in db.database.get_columns("fulfillment")),  # noqa: E731
                     sorted((tuple(i.columns), i.unique) for i in db.database.get_indexes("fulfillment")))
    fresh = shape()
    o1 = _order(site, 1, "2027-02-01T05:00:00Z", True, confirmed=u(2027, 2, 1, 7))
    sent = _shipped(site, o1, site.lhr, u(2027, 2, 1, 8), u(2027, 2, 1, 9, 30, 15, 250000))
    fulfillments.deliver(sent.uid, site.cashier.id, shopify_enabled=False)      # a later step changes nothing
    o2 = _order(site, 2, "2027-02-02T00:00:00Z", False)
    back = _shipped(site, o2, site.khi, u(2027, 2, 2, 1), u(2027, 2, 2, 10))
    fulfillments.mark_returned(back.uid, site.cashier.id, site.khi.id, shopify_enabled=False)
    o3 = _order(site, 3, "2027-02-03T00:00:00Z", False)
    by_hand = fulfillments.manual(o3.id, site.lhr.id, site.cashier.id, note="rider")
    _retime(by_hand, u(2027, 2, 3, 3), DONE=u(2027, 2, 3, 3, 5))
    o4 = _order(site, 4, "2027-02-03T00:00:00Z", False)
    packed = fulfillments.create(o4.id, site.lhr.id, site.cashier.id)
    fulfillments.pack(packed.uid, site.cashier.id)
    fix = fulfillments.fix_branch_stock(o4.id, site.lhr.id, site.manager.id, [(site.book.id, 1)], "missed movement")
    # a dispatch made by the service stamps the column with its history's own time
    o5 = _order(site, 5, "2027-02-04T00:00:00Z", False)
    live = fulfillments.create(o5.id, site.lhr.id, site.cashier.id)
    fulfillments.pack(live.uid, site.cashier.id)
    fulfillments.dispatch(live.uid, site.cashier.id, "TCS", "779005", shopify_enabled=False)
    live = Fulfillment.get_by_id(live.id)
    assert live.dispatched_at == u.fromisoformat(next(h["at"] for h in live.history if h["status"] == "DISPATCHED"))
    assert Fulfillment.get_by_id(by_hand.id).dispatched_at == u(2027, 2, 3, 3, 5)
    feb = health.dispatch_times(FEB)

    # The schema before migration 13: the column (and its index) gone, the version not stamped.
    if db.is_sqlite():
        db.database.execute_sql("DROP INDEX fulfillment_dispatched_at")
    db.database.execute_sql("ALTER TABLE fulfillment DROP COLUMN dispatched_at")
    migrations.SchemaMigration.delete().where(migrations.SchemaMigration.version == 13).execute()
    with pytest.raises(migrations.SchemaError, match=r"\[13\]"):
        migrations.check_current()
    assert migrations.migrate() == [13]
    migrations.check_current()
    assert shape() == fresh

    def told(f):   # what the history says, read here in Python
        want = "DISPATCHED" if f.mode == "smart" else "DONE"
        at = next((h["at"] for h in f.history if h["status"] == want), None)
        return u.fromisoformat(at) if at and f.mode in fulfillments.SHIPPING_MODES else None
    got = {f.uid: (f.dispatched_at, told(f)) for f in Fulfillment.select()}
    assert all(stored == expected for stored, expected in got.values()), got
    assert got[sent.uid][0] == u(2027, 2, 1, 9, 30, 15, 250000) and got[back.uid][0] == u(2027, 2, 2, 10)
    assert got[by_hand.uid][0] == u(2027, 2, 3, 3, 5)
    assert got[packed.uid][0] is None and got[fix.uid][0] is None                # never left; a repair ships nothing
    assert got[live.uid][0] == live.dispatched_at
    again = health.dispatch_times(FEB)
    assert (again.rows, again.totals) == (feb.rows, feb.totals) and feb.totals[2] == 3

