"""The branch filter on the reports that had none (issue 15): online orders and COD, sync health
(jobs and drift), loyalty points movements. Hand-computed figures on two branches (LHR1, KHI1),
with and without the filter, on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from pos_core import chain, customers, db, hq, hq_claims, loyalty, outbox, refunds, reports, sales, shifts, transfers
from pos_core.models import Fulfillment, OutboxJob, PointsEntry, PosOrderLine, ReconciliationRun, SmartOrder

from helpers import POLICY

WIDE = dict(start=dt.date(2020, 1, 1), end=dt.date(2040, 1, 1))
FEB = dict(start=dt.date(2027, 2, 1), end=dt.date(2027, 2, 28))


def f(period, **kw):
    return reports.Filters(period["start"], period["end"], **kw)


def by_kind(rep):
    return {r[0]: tuple(r[1:]) for r in rep.rows}


# --- online orders and COD -----------------------------------------------------------------------

def _online(site):
    """Orders first seen on 3 Feb 2027 (UTC) unless said otherwise:
      #1 COD confirmed, DELIVERED: shipped by LHR1 (Smart)
      #2 COD cancelled before anyone packed it: no branch
      #3 COD confirmed, RETURNED: shipped by KHI1 (Smart)
      #4 prepaid, NEW: KHI1 holds the claim on its line (the kept copy), nothing shipped yet
      #5 prepaid, DISPATCHED, split: line A shipped by LHR1 (Manual), line B claimed by KHI1
      #6 COD, awaiting the call: no branch
      #7 COD confirmed, DELIVERED, first seen in January: shipped by LHR1 (outside the period)
      #8 prepaid, NEW: only a stock repair at LHR1 (a repair ships nothing: no branch)"""
    seen = dt.datetime(2027, 2, 3, 6)

    def order(n, cod, state, confirmed, when=seen):
        return SmartOrder.create(shopify_id=f"gid://shopify/Order/{n}", name=f"#{n}", created_at_shopify="x",
                                 updated_at_shopify="x", is_cod=cod, state=state, first_seen_at=when,
                                 confirmed_at=when if confirmed else None)

    def ship(o, branch, mode="smart", status="DISPATCHED"):
        Fulfillment.create(order=o, mode=mode, branch=branch, status=status, courier="TCS", created_by=site.manager)

    o = {1: order(1, True, "DELIVERED", True), 2: order(2, True, "CANCELLED", False),
         3: order(3, True, "RETURNED", True), 4: order(4, False, "NEW", False),
         5: order(5, False, "DISPATCHED", False), 6: order(6, True, "NEW", False),
         7: order(7, True, "DELIVERED", True, dt.datetime(2027, 1, 20, 6)), 8: order(8, False, "NEW", False)}
    ship(o[1], site.lhr, status="DELIVERED")
    ship(o[3], site.khi, status="RETURNED")
    hq_claims.keep(o[4].shopify_id, {"gid://shopify/LineItem/41": "KHI1"})
    ship(o[5], site.lhr, mode="manual", status="DONE")
    hq_claims.keep(o[5].shopify_id, {"gid://shopify/LineItem/52": "KHI1"})
    ship(o[7], site.lhr, status="DELIVERED")
    ship(o[8], site.lhr, mode="repair", status="DONE")
    return o


def test_online_orders_by_branch_claimed_or_shipped(site):
    _online(site)
    whole = reports.run("online_orders", f(FEB))
    # COD #1 #2 #3 #6: 2 confirmed, 1 cancelled, 1 returned, 1 delivered; prepaid #4 #5 #8
    assert by_kind(whole) == {"COD": (4, 2, D("50.0"), 1, D("25.0"), 1, D("25.0"), 1),
                              "Prepaid": (3, 0, D("0.0"), 0, D("0.0"), 0, D("0.0"), 0)}
    assert any(n.startswith("3 order(s) of the period have no branch yet") for n in whole.notes)   # 2, 6, 8
    lahore = reports.run("online_orders", f(FEB, branch_id=site.lhr.id))
    assert by_kind(lahore) == {"COD": (1, 1, D("100.0"), 0, D("0.0"), 0, D("0.0"), 1),        # #1
                               "Prepaid": (1, 0, D("0.0"), 0, D("0.0"), 0, D("0.0"), 0)}     # #5 (its Manual record)
    karachi = reports.run("online_orders", f(FEB, branch_id=site.khi.id))
    assert by_kind(karachi) == {"COD": (1, 1, D("100.0"), 0, D("0.0"), 1, D("100.0"), 0),     # #3
                                "Prepaid": (2, 0, D("0.0"), 0, D("0.0"), 0, D("0.0"), 0)}    # #4 and #5 (claims)
    assert any("not counted here" in n for n in karachi.notes)
    # January: #7 alone, LHR1's; Karachi had none then
    jan = dict(start=dt.date(2027, 1, 1), end=dt.date(2027, 1, 31))
    assert by_kind(reports.run("online_orders", f(jan, branch_id=site.lhr.id)))["COD"][0] == 1
    assert reports.run("online_orders", f(jan, branch_id=site.khi.id)).rows == []
    assert reports.BY_KEY["online_orders"].ignored(f(FEB, branch_id=site.khi.id, cashier_id=site.cashier.id)) == [
        "cashier"]


def test_online_orders_at_the_head_office_read_its_claims(site):
    """At the head office the claims are decided in `hq_claim` (hq.py); a claimed order not shipped
    yet is the claiming branch's there too."""
    if not db.is_postgres():
        pytest.skip("the head office runs on PostgreSQL")
    o = _online(site)
    db.database.execute_sql(hq._claim_sql("pos_branches")[0])     # the table hq.init makes
    chain.set_state("role", "head-office")
    db.database.execute_sql("INSERT INTO hq_claim (order_shopify_id, line_id, branch_code) VALUES (%s, %s, %s)",
                            (o[6].shopify_id, "gid://shopify/LineItem/61", "LHR1"))
    lahore = reports.run("online_orders", f(FEB, branch_id=site.lhr.id))
    assert by_kind(lahore)["COD"][:2] == (2, 1)             # #1 and now #6 (claimed, awaiting the call)
    assert by_kind(reports.run("online_orders", f(FEB, branch_id=site.khi.id)))["COD"][0] == 1
    assert any(n.startswith("2 order(s)") for n in reports.run("online_orders", f(FEB)).notes)   # 2, 8


# --- sync health ---------------------------------------------------------------------------------

def _jobs(site):
    """Jobs of a single shop with two branches (POLICY pushes stock to Shopify and invoices FBR):
      sale at LHR1 (kurta + book)       2 stock jobs (LHR1), 1 FBR invoice
      sale at KHI1 (book)               1 stock job (KHI1), 1 FBR invoice
      transfer LHR1 -> KHI1, 2 kurtas   1 stock job LHR1 (sent), 1 KHI1 (received)
      a barcode push                    1 Shopify job of no branch
      a job the head office sends for KHI1 (origin_branch)
    Then the LHR1 invoice FAILED."""
    from helpers import cash_sale
    lahore = cash_sale(site, [(site.kurta, 1), (site.book, 1)])
    khi_shift = shifts.open_shift(site.khi_counter.id, site.manager.id, D("0"))
    karachi = sales.complete_sale(POLICY, counter_id=site.khi_counter.id, shift_id=khi_shift.id,
                                  staff_id=site.manager.id, lines=[sales.SaleLine(site.book.id, 1)],
                                  tenders=[sales.Tender("cash", D("501"))])
    t = transfers.create(site.lhr.id, site.khi.id, site.manager.id, [transfers.TransferItem(site.kurta.id, 2)])
    transfers.dispatch(t.number, site.manager.id, shopify_enabled=True)
    transfers.receive(t.number, site.manager.id, {site.kurta.id: 2}, shopify_enabled=True)
    with db.write():
        outbox.enqueue(outbox.SHOPIFY, "variant_barcodes", {"productId": "gid://shopify/Product/1", "variants": []},
                       "barcodes", "gid://shopify/Product/1")
        OutboxJob.create(channel="shopify", kind="fulfillment_create", payload={"fulfillmentUid": "x"},
                         doc_type="fulfillment", doc_ref="relayed", origin_branch="KHI1")
    OutboxJob.update(status="FAILED").where((OutboxJob.doc_ref == lahore.uid) & (OutboxJob.channel == "fbr")).execute()
    ReconciliationRun.create(location_id="gid://shopify/Location/1", items_compared=5,
                             differences=[{"sku": "1001"}, {"sku": "1003"}])
    ReconciliationRun.create(location_id="gid://shopify/Location/2", items_compared=4, differences=[])
    return lahore, karachi


def _counts(rep):
    return {(r[0], r[1]): r[2] for r in rep.rows}


def test_sync_health_by_branch(site):
    _jobs(site)
    whole = reports.run("sync_health", f(WIDE))
    assert _counts(whole) == {("fbr", "FAILED"): 1, ("fbr", "PENDING"): 1, ("shopify", "PENDING"): 7}
    runs = [n for n in whole.notes if n.startswith("Reconciliation")]
    assert [n.split(" at ")[0] for n in runs] == ["Reconciliation 1", "Reconciliation 2"]
    assert runs[0].endswith("2 of 5 items differ.") and runs[1].endswith("0 of 4 items differ.")
    lahore = reports.run("sync_health", f(WIDE, branch_id=site.lhr.id))
    # the two stock jobs of its sale, the transfer's leaving stock, its failed invoice
    assert _counts(lahore) == {("fbr", "FAILED"): 1, ("shopify", "PENDING"): 3}
    assert [n.split(" at ")[0] for n in lahore.notes if n.startswith("Reconciliation")] == ["Reconciliation 1"]
    karachi = reports.run("sync_health", f(WIDE, branch_id=site.khi.id))
    # its sale's stock job, the transfer received, the job the head office sends for it; its invoice
    assert _counts(karachi) == {("fbr", "PENDING"): 1, ("shopify", "PENDING"): 3}
    assert [n for n in karachi.notes if n.startswith("Reconciliation")] == [runs[1]]
    assert any("count only under All branches" in n for n in karachi.notes)   # the barcode push: no branch


def test_sync_health_at_a_branch_box_is_all_its_own(site):
    _jobs(site)
    chain.set_state("role", "branch")
    chain.set_state("branch", "LHR1")
    # every job in a branch's outbox is its own: LHR1 is all of them, KHI1 none
    assert _counts(reports.run("sync_health", f(WIDE, branch_id=site.lhr.id))) == _counts(
        reports.run("sync_health", f(WIDE)))
    assert reports.run("sync_health", f(WIDE, branch_id=site.khi.id)).rows == []


# --- loyalty points ------------------------------------------------------------------------------

def test_points_movements_by_branch_counter_and_cashier(site):
    """1 point per Rs 100. Ali buys 2 books at LHR1-C1 (ayesha: +10) and 1 at KHI1-C1 (imran: +5);
    at KHI1 imran refunds one of the Lahore books (-5, counted at Karachi, where it was given
    back). A year on, the rest expires (-10: no sale, no branch)."""
    loyalty.set_program(point_value_paisa=100, expiry_days=365)
    loyalty.set_rule("1")
    ali = customers.get_or_create("0300-1234567", "Ali")
    here = sales.complete_sale(POLICY, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.cashier.id,
                               lines=[sales.SaleLine(site.book.id, 2)], tenders=[sales.Tender("cash", D("1001"))],
                               customer_id=ali.id)
    khi_shift = shifts.open_shift(site.khi_counter.id, site.manager.id, D("0"))
    sales.complete_sale(POLICY, counter_id=site.khi_counter.id, shift_id=khi_shift.id, staff_id=site.manager.id,
                        lines=[sales.SaleLine(site.book.id, 1)], tenders=[sales.Tender("cash", D("501"))],
                        customer_id=ali.id)
    book = PosOrderLine.get(PosOrderLine.order == here.id)
    refunds.refund(POLICY, counter_id=site.khi_counter.id, shift_id=khi_shift.id, staff_id=site.manager.id,
                   sale_uid=here.uid, lines=[refunds.ReturnLine(book.id, 1)], reason="changed_mind")
    assert loyalty.expire(now=dt.datetime.now() + dt.timedelta(days=400)) == 10
    expired = PointsEntry.select().where(PointsEntry.kind == "expire").count()   # one entry per lot left

    whole = reports.run("points", f(WIDE))
    assert by_kind(whole) == {"earn": (2, 15), "expire": (expired, -10), "refund_earn": (1, -5)}
    assert whole.totals == ["Net", 3 + expired, 0]
    lahore = reports.run("points", f(WIDE, branch_id=site.lhr.id))
    assert by_kind(lahore) == {"earn": (1, 10)} and lahore.totals == ["Net", 1, 10]
    assert any(n.startswith(f"{expired} movement(s) of the period belong to no sale") for n in lahore.notes)
    karachi = reports.run("points", f(WIDE, branch_id=site.khi.id))
    assert by_kind(karachi) == {"earn": (1, 5), "refund_earn": (1, -5)} and karachi.totals == ["Net", 2, 0]
    assert by_kind(reports.run("points", f(WIDE, cashier_id=site.manager.id))) == {"earn": (1, 5), "refund_earn": (1, -5)}
    assert by_kind(reports.run("points", f(WIDE, counter_id=site.counter.id))) == {"earn": (1, 10)}
    assert reports.run("points", f(WIDE, counter_id=site.counter2.id)).rows == []
    assert reports.BY_KEY["points"].ignored(f(WIDE, branch_id=site.lhr.id, method="cash", category="Apparel")) == [
        "category", "method"]
