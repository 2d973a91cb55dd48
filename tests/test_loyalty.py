"""Loyalty, promotions, coupons and commission through the real sale and refund services, on
SQLite and PostgreSQL: append-only entries, one transaction with the document, balances that add up."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import httpx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from helpers import POLICY, row_counts
from pos_core import commission, coupons, customers, loyalty, promotions, refunds, sales
from pos_core.errors import InvalidInput
from pos_core.models import (Barcode, CommissionEntry, Coupon, Customer, OrderPromotion, OutboxJob, PointsEntry, PosOrder,
                             Product, Variant, utcnow)
from pos_core.money import prorate, round_half_up
from pos_core.pricing import Discount
from pos_core.refunds import ReturnLine
from pos_core.sales import SaleLine, Tender


def goods(site):
    """Lawn and shoes in their own categories."""
    lawn = Product.create(title="Lawn", category="Lawn")
    shoes = Product.create(title="Shoes", category="Shoes")
    from pos_core import ledger
    from pos_core.ledger import Movement
    out = {}
    for sku, product, price in (("L1", lawn, 2500_00), ("L2", lawn, 1500_00), ("S1", shoes, 4000_00),
                                ("SOCK", shoes, 300_00)):
        v = Variant.create(product=product, sku=sku, name=f"{product.title} {sku}", price_paisa=price,
                           tax_rate_bp=1800, pct_code="6204.4200")
        Barcode.create(code=f"29{sku}", variant=v)
        ledger.record(Movement(f"opening:{sku}", v.id, site.lhr.id, 100, "opening", "opening_stock", "open"))
        out[sku] = v
    return out


def sell(site, lines, tenders=None, **kw):
    return sales.complete_sale(POLICY, counter_id=site.counter.id, shift_id=site.shift.id,
                               staff_id=kw.pop("staff_id", site.cashier.id), lines=lines,
                               tenders=tenders or [Tender("cash", D("100000"))], **kw)


def refund(site, sale, returns, **kw):
    return refunds.refund(POLICY, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.supervisor.id,
                          sale_uid=sale.uid, lines=returns, **kw)


def line(order, n):
    return next(l for l in order.lines if l.line_no == n)


def test_promoted_sale_shows_each_promotion_and_the_books_add_up(site):
    g = goods(site)
    promotions.create("Lawn 20%", "item_percent", value=2000, category="Lawn")
    promotions.create("Rs 500 off over 5000", "bill_amount", value=500_00, min_spend_paisa=5000_00)
    promotions.create("Karachi only", "item_percent", value=5000, branches="KHI1")
    promotions.create("Over", "item_percent", value=5000, ends_at=utcnow() - dt.timedelta(minutes=1))
    order = sell(site, [SaleLine(g["L1"].id, 2), SaleLine(g["S1"].id, 1)])
    rows = {(p.line_no, p.name): p.amount_paisa for p in OrderPromotion.select().where(OrderPromotion.order == order.id)}
    assert rows == {(1, "Lawn 20%"): 1000_00, (None, "Rs 500 off over 5000"): 500_00}
    l1, l2 = line(order, 1), line(order, 2)
    assert l1.line_discount_paisa == 1000_00 and l2.line_discount_paisa == 0
    assert l1.order_discount_paisa + l2.order_discount_paisa == 500_00
    assert order.subtotal_paisa == 9000_00 and order.discount_paisa == 1500_00 and order.total_paisa == 7500_00
    assert sum(l.total_paisa for l in order.lines) == order.total_paisa
    body = OutboxJob.get((OutboxJob.doc_ref == order.uid) & (OutboxJob.channel == "fbr")).payload["body"]
    import json
    body = json.loads(body)
    assert D(str(body["Discount"])) == D("1500") and D(str(body["TotalBillAmount"])) == D("7500")


def test_promoted_sale_and_its_refund_are_accepted_by_the_fbr_simulator(site):
    from simulators.fbr import server as fbr_sim
    from sync_agent.fbr.transport import FbrTransport
    from sync_agent.fbr.worker import FbrWorker
    g = goods(site)
    promotions.create("3 for 2 lawn", "bxgy", buy_qty=2, get_qty=1, category="Lawn")
    promotions.create("Bill 5%", "bill_percent", value=500)
    order = sell(site, [SaleLine(g["L1"].id, 2), SaleLine(g["L2"].id, 1), SaleLine(g["S1"].id, 1)])
    back = refund(site, order, [ReturnLine(line(order, 2).id, 1)])
    sim = fbr_sim.start(port=0, token="t0k", mode="strict", duplicate="reject")
    try:
        w = FbrWorker(FbrTransport("sandbox", f"{sim.url}/FBR/v1/api/Live/PostData", "t0k", timeout_s=5.0))
        assert w.run_once()["accepted"] == 1
        assert w.run_once()["accepted"] == 1
        got = {i["USIN"]: i for i in httpx.get(f"{sim.url}/_sim/invoices").json()["invoices"]}
    finally:
        sim.stop()
    assert set(got) == {order.number, back.number}
    assert D(str(got[order.number]["payload"]["Discount"])) == D(order.discount_paisa) / 100


def test_refund_of_one_line_of_buy_two_get_one_gives_back_what_it_cost(site):
    g = goods(site)
    promotions.create("3 for 2 lawn", "bxgy", buy_qty=2, get_qty=1, category="Lawn")
    order = sell(site, [SaleLine(g["L1"].id, 2), SaleLine(g["L2"].id, 1)])
    assert order.discount_paisa == 1500_00           # the cheapest (Rs 1500) free
    back = refund(site, order, [ReturnLine(line(order, 1).id, 1)])
    # One L1 of the three units: its share of what was paid, not its shelf price of Rs 2500.
    assert back.total_paisa == prorate(line(order, 1).total_paisa, 1, 2) < 2500_00
    rest = refund(site, order, [ReturnLine(line(order, 1).id, 1), ReturnLine(line(order, 2).id, 1)])
    assert back.total_paisa + rest.total_paisa == order.total_paisa


def test_coupon_single_use_limits_and_clear_errors(site):
    g = goods(site)
    promo = promotions.create("Parcel coupon 10%", "bill_percent", value=1000, coupon_only=True)
    assert sell(site, [SaleLine(g["S1"].id, 1)]).discount_paisa == 0   # coupon-only: not automatic
    coupons.create("eid-2026", promo.id, max_uses=1, min_spend_paisa=3000_00)
    with pytest.raises(InvalidInput, match="at least Rs 3,000.00"):
        sell(site, [SaleLine(g["SOCK"].id, 1)], coupon_code="EID-2026")
    before = row_counts()
    with pytest.raises(InvalidInput, match="is not valid"):
        sell(site, [SaleLine(g["S1"].id, 1)], coupon_code="NOPE-1")
    assert row_counts() == before
    order = sell(site, [SaleLine(g["S1"].id, 1)], coupon_code=" eid-2026 ")
    assert order.discount_paisa == 400_00
    assert [p.name for p in order.promotions] == ["Parcel coupon 10%"]
    with pytest.raises(InvalidInput, match="already been used"):
        sell(site, [SaleLine(g["S1"].id, 1)], coupon_code="EID-2026")
    with pytest.raises(InvalidInput, match="is not a coupon code"):
        coupons.check("a b", None, 0)
    ali = customers.get_or_create("03001234567", "Ali")
    coupons.create("VIP", promo.id, max_uses=None, per_customer_limit=1,
                   expires_at=utcnow() + dt.timedelta(days=1))
    with pytest.raises(InvalidInput, match="attach the customer"):
        sell(site, [SaleLine(g["S1"].id, 1)], coupon_code="VIP")
    sell(site, [SaleLine(g["S1"].id, 1)], coupon_code="VIP", customer_id=ali.id)
    with pytest.raises(InvalidInput, match="used coupon VIP 1 time"):
        sell(site, [SaleLine(g["S1"].id, 1)], coupon_code="VIP", customer_id=ali.id)
    coupons.create("OLD", promo.id, expires_at=utcnow() - dt.timedelta(seconds=1))
    with pytest.raises(InvalidInput, match="expired"):
        coupons.check("old", None, 10**9)
    assert Coupon.get(Coupon.code == "EID-2026").uses == 1


def setup_points(point_value=100, expiry_days=365):
    loyalty.set_program(point_value_paisa=point_value, expiry_days=expiry_days)
    loyalty.set_tier("Gold", 10000_00)
    loyalty.set_rule("1")                        # 1 point per Rs 100
    loyalty.set_rule("2", category="Shoes")      # shoes earn double
    loyalty.set_rule("3", tier="Gold")           # ... and Gold customers earn 3 on everything else


def test_points_earned_by_category_and_tier(site):
    g = goods(site)
    setup_points()
    ali = customers.get_or_create("0300-1234567", "Ali")
    first = sell(site, [SaleLine(g["L1"].id, 1), SaleLine(g["S1"].id, 1)], customer_id=ali.id)
    assert loyalty.sale_points(first) == (25 + 80, 0)       # Rs 2500 × 1/100 + Rs 4000 × 2/100
    assert loyalty.tier_for(ali.id, utcnow()) == ""
    sell(site, [SaleLine(g["L1"].id, 2)], customer_id=ali.id)   # yearly spend now Rs 11,500: Gold
    assert loyalty.tier_for(ali.id, utcnow()) == "Gold"
    gold = sell(site, [SaleLine(g["L2"].id, 1)], customer_id=ali.id)
    assert loyalty.sale_points(gold) == (45, 0)                 # Rs 1500 × 3/100
    assert loyalty.balance(ali.id) == 105 + 50 + 45 == sum(e.delta for e in PointsEntry.select())
    assert loyalty.sale_points(sell(site, [SaleLine(g["L1"].id, 1)])) == (0, 0)   # no customer, no points


def test_points_tender_refund_and_fbr_loyalty_payment_mode(site):
    g = goods(site)
    setup_points()
    ali = customers.get_or_create("03001234567", "Ali")
    loyalty.move(ali.id, 1000, "adjust", "opening", "adjust:ali:1")
    with pytest.raises(InvalidInput, match="has 1000 points, not 1500"):
        sell(site, [SaleLine(g["S1"].id, 1)], customer_id=ali.id,
             tenders=[Tender("points", D("1500")), Tender("cash", D("5000"))])
    with pytest.raises(InvalidInput, match="needs a customer"):
        sell(site, [SaleLine(g["S1"].id, 1)], tenders=[Tender("points", D("10")), Tender("cash", D("5000"))])
    with pytest.raises(InvalidInput, match="steps of Rs 1.00"):
        sell(site, [SaleLine(g["S1"].id, 1)], customer_id=ali.id,
             tenders=[Tender("points", D("10.50")), Tender("cash", D("5000"))])
    only = sell(site, [SaleLine(g["SOCK"].id, 1)], customer_id=ali.id, tenders=[Tender("points", D("301"))])
    import json
    assert json.loads(OutboxJob.get((OutboxJob.doc_ref == only.uid) & (OutboxJob.channel == "fbr"))
                      .payload["body"])["PaymentMode"] == 4
    assert loyalty.sale_points(only) == (0, 301)               # nothing earned on what points paid
    order = sell(site, [SaleLine(g["S1"].id, 2)], customer_id=ali.id,
                 tenders=[Tender("points", D("600")), Tender("cash", D("7401"))])
    earned, redeemed = loyalty.sale_points(order)
    assert redeemed == 600 and earned == (8000_00 - 600_00) * 2 // 10000   # 148
    assert loyalty.balance(ali.id) == 1000 - 301 - 600 + 148
    back = refund(site, order, [ReturnLine(line(order, 1).id, 1)])
    pays = {p.method: p.amount_paisa for p in back.payments}
    assert pays == {"points": 300_00, "cash": 4000_00 - 300_00}
    assert loyalty.balance(ali.id) == 1000 - 301 - 600 + 148 - 74 + 300
    refund(site, order, [ReturnLine(line(order, 1).id, 1)])
    assert loyalty.balance(ali.id) == 1000 - 301            # the whole sale undone, exactly
    with pytest.raises(InvalidInput, match="given back as points"):
        refund(site, only, [ReturnLine(line(only, 1).id, 1)], tenders=[Tender("points", D("301"))])


def test_points_expire_oldest_first(site):
    g = goods(site)
    setup_points(expiry_days=30)
    ali = customers.get_or_create("03001234567", "Ali")
    t0 = utcnow() - dt.timedelta(days=40)
    loyalty.move(ali.id, 100, "adjust", "old", "adjust:1", now=t0)
    loyalty.move(ali.id, 50, "adjust", "newer", "adjust:2", now=t0 + dt.timedelta(days=20))
    loyalty.move(ali.id, -30, "adjust", "spent", "adjust:3", now=t0 + dt.timedelta(days=25))  # from the oldest
    assert loyalty.expire(customer_id=ali.id) == 70
    assert loyalty.expire(customer_id=ali.id) == 0           # once only
    assert loyalty.balance(ali.id) == 50
    assert loyalty.expire(now=utcnow() + dt.timedelta(days=11)) == 50
    assert loyalty.balance(ali.id) == 0 == sum(e.delta for e in PointsEntry.select())
    del g


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_points_always_balance_through_sales_and_refunds(site, data):
    """Property: after any sales (some paid partly with points) and any refunds, the balance is
    the sum of the entries, and a sale refunded completely leaves no trace in the balance."""
    if not Variant.select().where(Variant.sku == "L1").exists():
        goods(site)
        setup_points()
    g = {v.sku: v for v in Variant.select()}
    phone = f"0300{data.draw(st.integers(1000000, 9999999))}"
    c = customers.get_or_create(phone)
    loyalty.move(c.id, 5000, "adjust", "start", f"adjust:{c.id}:start")
    start = loyalty.balance(c.id)
    lines = data.draw(st.lists(st.tuples(st.sampled_from(["L1", "L2", "S1", "SOCK", "1001"]), st.integers(1, 3)),
                               min_size=1, max_size=3, unique_by=lambda t: t[0]))
    sale_lines = [SaleLine(g[s].id, q) for s, q in lines]
    total = sum(g[s].price_paisa * q for s, q in lines) + POLICY.service_fee_paisa
    pts = data.draw(st.integers(0, min(total // 100, 3000)))
    tenders = ([Tender("points", D(pts))] if pts else []) + [Tender("cash", D(total) / 100)]
    order = sell(site, sale_lines, customer_id=c.id, tenders=tenders)
    steps = data.draw(st.lists(st.sampled_from([l.id for l in order.lines]), max_size=8))
    for line_id in steps:
        l = next(x for x in order.lines if x.id == line_id)
        if refunds.refundable_qty(l):
            refund(site, order, [ReturnLine(line_id, 1)])
        assert loyalty.balance(c.id) == sum(e.delta for e in PointsEntry.select().where(PointsEntry.customer == c.id))
    for l in order.lines:
        left = refunds.refundable_qty(l)
        if left:
            refund(site, order, [ReturnLine(l.id, left)])
    assert loyalty.balance(c.id) == start
    refunded = sum(p.amount_paisa for r in PosOrder.select().where(PosOrder.original == order.id) for p in r.payments)
    assert refunded == order.total_paisa


def test_commission_by_category_reversed_on_refund_and_reported(site):
    g = goods(site)
    commission.set_plan("Floor 2%", rate_bp=200)
    commission.set_plan("Shoes 5%", rate_bp=500, category="Shoes")
    commission.set_plan("Monthly slabs", slabs=[[0, 0], [5000_00, 100]])
    bilal = commission.salesperson("sana")
    with pytest.raises(Exception, match="no salesperson with badge"):
        commission.salesperson("nobody")
    order = sell(site, [SaleLine(g["L1"].id, 2), SaleLine(g["S1"].id, 1, salesperson_id=site.manager.id)],
                 salesperson_id=bilal.id)
    got = {(e.line_no, e.salesperson_id): e.commission_paisa for e in order.commission_entries}
    l1, l2 = line(order, 1), line(order, 2)
    assert got == {(1, bilal.id): round_half_up(D(l1.value_excl_paisa) * 2 / 100),
                   (2, site.manager.id): round_half_up(D(l2.value_excl_paisa) * 5 / 100)}
    refund(site, order, [ReturnLine(l1.id, 1)])
    refund(site, order, [ReturnLine(l1.id, 1)])
    assert sum(e.commission_paisa for e in CommissionEntry.select().where(CommissionEntry.salesperson == bilal.id)) == 0
    rows = {r.code: r for r in commission.report(utcnow() - dt.timedelta(hours=1), utcnow() + dt.timedelta(hours=1))}
    assert rows["sana"].base_paisa == 0 and rows["sana"].total_paisa == 0
    assert rows["imran"].base_paisa == l2.value_excl_paisa
    assert rows["imran"].slab_commission_paisa == 0          # Rs 3,389.83 is inside the first (0%) slab
    assert commission.slab_commission(10000_00, [[0, 0], [5000_00, 100], [8000_00, 200]]) == 30_00 + 40_00


def test_migration_5_adds_the_loyalty_tables_to_an_existing_database(tmp_path):
    from pos_core import db, migrations
    from pos_core.models import LOYALTY_MODELS, MODELS
    db.open_database(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        with db.write():
            db.database.create_tables([migrations.SchemaMigration])
            # Today's schema without issue 16's tables, stamped with every other migration.
            db.database.create_tables([m for m in MODELS if m not in LOYALTY_MODELS])
            for version, name, _ in migrations.MIGRATIONS:
                if version != 5:
                    migrations.SchemaMigration.create(version=version, name=name)
        with pytest.raises(migrations.SchemaError, match="run `pos-admin migrate`"):
            migrations.check_current()
        assert migrations.migrate() == [5]
        migrations.check_current()
        assert all(db.database.table_exists(m._meta.table_name) for m in LOYALTY_MODELS)
    finally:
        db.close()


def test_customer_profile_history_across_branches_and_online(site):
    from pos_core.models import SmartOrder
    g = goods(site)
    setup_points()
    ali = customers.get_or_create("+92 300 1234567", "Ali")
    here = sell(site, [SaleLine(g["L1"].id, 1)], customer_id=ali.id)
    from pos_core import shifts
    khi_shift = shifts.open_shift(site.khi_counter.id, site.cashier.id, D("0"))
    there = sales.complete_sale(POLICY, counter_id=site.khi_counter.id, shift_id=khi_shift.id, staff_id=site.cashier.id,
                                lines=[SaleLine(site.book.id, 1)], tenders=[Tender("cash", D("501"))], customer_id=ali.id)
    back = refund(site, here, [ReturnLine(line(here, 1).id, 1)])
    SmartOrder.create(shopify_id="gid://shopify/Order/9", name="#1009", created_at_shopify="2026-01-05T10:00:00Z",
                      updated_at_shopify="2026-01-05T10:00:00Z", phone=ali.phone, total_paisa=3000_00, state="DELIVERED")
    SmartOrder.create(shopify_id="gid://shopify/Order/10", name="#1010", created_at_shopify="2026-01-06T10:00:00Z",
                      updated_at_shopify="2026-01-06T10:00:00Z", phone=ali.phone, total_paisa=999_00,
                      cancelled_at="2026-01-06T11:00:00Z")
    customers.set_profile(ali.id, notes="Prefers size M; call before Eid", marketing_consent=True)
    p = customers.profile(ali.id)
    assert [(x.where, x.number) for x in p.purchases[:3]] == [("LHR1", back.number), ("KHI1", there.number),
                                                             ("LHR1", here.number)]
    assert {x.number: x.state for x in p.purchases if x.kind == "online"} == {"#1009": "delivered", "#1010": "cancelled"}
    assert p.lifetime_spend_paisa == there.total_paisa + 3000_00     # the refunded sale and cancelled order count nothing
    assert p.points == loyalty.balance(ali.id) == 5 and p.movements[0].kind == "refund_earn"
    assert p.notes.startswith("Prefers") and p.marketing_consent
    with pytest.raises(InvalidInput, match="not a mobile number"):
        customers.get_or_create("0423 5711111")         # a Lahore landline
    with pytest.raises(InvalidInput, match="not a Pakistani mobile"):
        customers.get_or_create("0300 12345")
    link = customers.whatsapp_link(ali.phone, f"Receipt {here.number}: Rs 2,500.00")
    assert link == f"https://wa.me/923001234567?text=Receipt%20{here.number}%3A%20Rs%202%2C500.00"


def test_exchange_of_a_points_sale_for_promoted_goods_balances(site):
    g = goods(site)
    setup_points()
    ali = customers.get_or_create("03001234567", "Ali")
    loyalty.move(ali.id, 500, "adjust", "start", "adjust:ex")
    order = sell(site, [SaleLine(g["S1"].id, 1)], customer_id=ali.id,
                 tenders=[Tender("points", D("400")), Tender("cash", D("3601"))])
    promotions.create("Lawn 20%", "item_percent", value=2000, category="Lawn")
    back, new = refunds.exchange(POLICY, counter_id=site.counter.id, shift_id=site.shift.id,
                                 staff_id=site.supervisor.id, sale_uid=order.uid,
                                 returns=[ReturnLine(line(order, 1).id, 1)],
                                 new_lines=[SaleLine(g["L1"].id, 1)], tenders=[Tender("cash", D("1599"))])
    assert new.total_paisa == 2000_00                       # the promotion applied to the new goods
    pays = {p.method: p.amount_paisa for p in back.payments}
    assert pays["points"] == 400_00 and pays["exchange"] == 2000_00 + 1_00   # the goods and the POS fee
    assert sum(pays.values()) == back.total_paisa
    assert loyalty.balance(ali.id) == 500 + loyalty.sale_points(new)[0]


def test_promotions_do_not_count_against_the_cashiers_discount_limit(site):
    g = goods(site)
    promotions.create("Half price shoes", "item_percent", value=5000, category="Shoes")
    order = sell(site, [SaleLine(g["S1"].id, 1)])         # a cashier, 50% off, no approver
    assert order.discount_paisa == 2000_00
    from pos_core.errors import PermissionDenied
    with pytest.raises(PermissionDenied, match="beyond Ayesha's limit"):
        sell(site, [SaleLine(g["S1"].id, 1, discount=Discount("percent", D("20")))])


def test_back_office_reports_commission_promotions_points(site):
    from pos_core import reports
    from pos_core.reports import Filters, pk_today
    g = goods(site)
    setup_points()
    commission.set_plan("Floor 2%", rate_bp=200)
    promotions.create("Lawn 20%", "item_percent", value=2000, category="Lawn")
    ali = customers.get_or_create("03001234567", "Ali")
    order = sell(site, [SaleLine(g["L1"].id, 2), SaleLine(g["S1"].id, 1)], customer_id=ali.id,
                 salesperson_id=site.supervisor.id)
    refund(site, order, [ReturnLine(line(order, 1).id, 1)])
    today = Filters(pk_today(), pk_today())
    com = reports.run("commission", today).row(code="sana")
    net = line(order, 1).value_excl_paisa // 2 + line(order, 2).value_excl_paisa   # half of line 1 came back
    assert abs(com["net"] * 100 - net) <= 1 and com["lines"] == 3
    promo = reports.run("promotions", today).row(name="Lawn 20%")
    assert promo["amount"] == D("1000.00") and promo["sales"] == 1
    pts = {r["kind"]: r["points"] for r in reports.run("points", today).as_dicts()}
    assert pts["earn"] == loyalty.sale_points(order)[0] and pts["refund_earn"] < 0


def test_the_agent_expires_points_on_its_hourly_job(tmp_path):
    from pos_core import config as configmod, db, migrations
    from sync_agent import daemon
    cfg_path = tmp_path / "pos.toml"
    cfg_path.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "pos.db"}"\n')
    cfg = configmod.load(str(cfg_path))
    db.open_database(cfg.database_url)
    try:
        migrations.init()
        loyalty.set_program(expiry_days=30)
        ali = customers.get_or_create("03001234567", "Ali")
        loyalty.move(ali.id, 80, "adjust", "old", "adjust:agent", now=utcnow() - dt.timedelta(days=31))
        agent = daemon.Agent(cfg)
        assert agent.expire_points() == 80 and agent.expire_points() == 0
        assert loyalty.balance(ali.id) == 0
    finally:
        db.close()


def test_points_coupons_promotions_and_commission_travel_to_another_site(site, tmp_path):
    """Serialise everything issue 16 wrote at one site and apply it to another database: the points
    balance and the coupon's use count are rebuilt there from the entries, exactly once."""
    import json

    from pos_core import chain, db, migrations
    from pos_core.models import CommissionEntry, CouponUse, OrderPromotion, PointsBalance, Promotion
    g = goods(site)
    setup_points()
    promo = promotions.create("Parcel 10%", "bill_percent", value=1000, coupon_only=True)
    promotions.create("Lawn 20%", "item_percent", value=2000, category="Lawn")
    coupons.create("ONCE", promo.id, max_uses=1)
    ali = customers.get_or_create("03001234567", "Ali")
    customers.set_profile(ali.id, notes="Size M", marketing_consent=True)
    order = sell(site, [SaleLine(g["L1"].id, 1)], customer_id=ali.id, coupon_code="ONCE",
                 salesperson_id=site.supervisor.id)
    refund(site, order, [ReturnLine(line(order, 1).id, 1)])
    balance = loyalty.balance(ali.id)
    s = chain.Serializer(db.database)
    wire = []
    for t in chain.TABLES:
        ids = [r[0] for r in db.database.execute_sql(f"SELECT id FROM {t.name}").fetchall()]
        wire += list(s.records(t.name, ids).values())
    wire = json.loads(json.dumps(wire))
    db.close()
    db.open_database(f"sqlite:///{tmp_path / 'hq.db'}")
    try:
        migrations.init()
        # The head office made the rules (the coupon unused there); then the branch's rows arrive.
        down = [r for r in wire if chain.BY_NAME[r["t"]].direction == chain.DOWN]
        for r in down:
            if r["t"] == "coupon":
                r["d"]["uses"] = 0
        up = [r for r in wire if chain.BY_NAME[r["t"]].direction == chain.UP]
        with db.write():
            a = chain.Applier(db.database)
            [a.apply(r) for r in sorted(down, key=lambda r: chain.RANK[r["t"]])]
        for attempt in range(2):   # a duplicate delivery changes nothing
            with db.write():
                a = chain.Applier(db.database)
                results = [a.apply(r) for r in sorted(up, key=lambda r: chain.RANK[r["t"]])]
            if attempt == 1:
                assert set(results) == {"same"}
        there = Customer.get(Customer.phone == "+923001234567")
        assert PointsBalance.get(PointsBalance.customer == there.id).points == balance
        assert Coupon.get(Coupon.code == "ONCE").uses == 1 and CouponUse.select().count() == 1
        assert {p.name for p in OrderPromotion.select()} == {"Parcel 10%", "Lawn 20%"}
        assert Promotion.select().count() == 2
        assert CommissionEntry.select().count() == 2 and sum(e.commission_paisa for e in CommissionEntry.select()) == 0
        assert customers.profile(there.id).notes == "Size M"
    finally:
        db.close()
