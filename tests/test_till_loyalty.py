"""The till with promotions, coupons, salespeople, points and the customer profile, through Textual's pilot."""
from __future__ import annotations

from pos_core import coupons, customers, loyalty, promotions
from pos_core.models import CommissionEntry, Coupon, OrderPromotion, PosOrder
from pos_tui.app import make_app

from test_till_kit import (barcode_of, flat, make_config, open_shift, screen_text, settle, staff,  # noqa: F401
                           start_selling, till_db, type_text)


async def test_promotion_coupon_and_salesperson_on_screen_and_receipt(tmp_path, till_db):
    open_shift()
    promotions.create("Eid 20% Women", "item_percent", value=2000, category="Women")
    parcel = promotions.create("Parcel 10%", "bill_percent", value=1000, coupon_only=True)
    coupons.create("PARCEL-1", parcel.id, max_uses=1)
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(100, 30)) as pilot:
        await start_selling(pilot, app)
        await type_text(pilot, "bilal", enter=True)          # a salesperson's badge, scanned or typed
        await type_text(pilot, barcode_of("L3SU-BLA-OS"), enter=True)
        text = screen_text(app)
        assert "Eid 20% Women -998.00" in text and "by Bilal Ahmed" in text
        assert "3,992.00" in text                            # 4,990 less 20%
        await pilot.press("ctrl+p")
        await pilot.pause()
        await type_text(pilot, "parcel-1", enter=True)
        text = screen_text(app)
        assert "Parcel 10%" in text and "coupon PARCEL-1" in text and "3,592.80" in text
        await type_text(pilot, "NOT-A-CODE", enter=True)
        assert "NOT-A-CODE" in flat(app)                     # the item lookup's own error, not a coupon's
        await pilot.press("f10")
        await pilot.pause()
        await pilot.press("enter")                           # exact cash
        await settle(pilot, app)
    order = PosOrder.get(PosOrder.kind == "sale")
    assert order.total_paisa == 3592_80
    assert sorted((p.name, p.amount_paisa) for p in OrderPromotion.select()) == [("Eid 20% Women", 998_00),
                                                                               ("Parcel 10%", 399_20)]
    assert [e.salesperson.code for e in CommissionEntry.select()] == ["bilal"]
    assert Coupon.get(Coupon.code == "PARCEL-1").uses == 1
    printed = (tmp_path / "printer.bin").read_bytes()
    for words in (b"Eid 20% Women", b"Parcel 10%", b"You saved", b"1,397.20", b"Salesperson:", b"Bilal Ahmed"):
        assert words in printed, words


async def test_points_tender_with_confirmation_and_the_f3_profile(tmp_path, till_db):
    open_shift()
    loyalty.set_program(point_value_paisa=100)
    loyalty.set_rule("1")
    ali = customers.get_or_create("03001234567", "Ali Raza")
    loyalty.move(ali.id, 1000, "adjust", "welcome", "adjust:ali")
    customers.set_profile(ali.id, notes="Size M", marketing_consent=True)
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(100, 30)) as pilot:
        await start_selling(pilot, app)
        await pilot.press("f3")
        await pilot.pause()
        await type_text(pilot, "0300 1234567", enter=True)
        assert "points 1,000" in screen_text(app)
        await pilot.press("f3")                              # attached: F3 shows the profile
        await pilot.pause()
        text = flat(app)
        assert "Points 1,000" in text and "Notes: Size M" in text and "adjusted" in text
        assert "Marketing messages: yes" in text
        await pilot.press("escape")
        await pilot.pause()
        await type_text(pilot, barcode_of("L3SU-BLA-OS"), enter=True)
        await pilot.press("f10")
        await pilot.pause()
        await pilot.press("f7")
        await pilot.pause()
        assert "1,000 points = Rs 1,000.00" in screen_text(app)
        await pilot.press("enter")                           # all the points, then the customer confirms
        await pilot.pause()
        assert "pays Rs 1,000.00 with 1,000 points?" in flat(app)
        await type_text(pilot, "n", enter=True)
        assert "type Y, or Esc" in flat(app)                 # nothing used without a yes
        await pilot.press("ctrl+u")
        await type_text(pilot, "y", enter=True)
        await pilot.press("f2")
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot, app)
    order = PosOrder.get(PosOrder.kind == "sale")
    assert sorted((p.method, p.amount_paisa) for p in order.payments) == [("cash", 3990_00), ("points", 1000_00)]
    assert loyalty.balance(ali.id) == 39                     # 1,000 spent; 1 per Rs 100 on the Rs 3,990 paid
    printed = (tmp_path / "printer.bin").read_bytes()
    assert b"Points redeemed" in printed and b"Points balance" in printed and b"Loyalty points" in printed


async def test_whatsapp_receipt_link_from_the_profile(tmp_path, till_db):
    from decimal import Decimal
    from urllib.parse import unquote

    from pos_core import sales, shifts
    from pos_core.branches import find_counter
    from pos_core.models import Variant
    from pos_core.policy import SalePolicy
    shift = open_shift()
    ali = customers.get_or_create("03001234567", "Ali Raza")
    v = Variant.get(Variant.sku == "L3SU-BLA-OS")
    sale = sales.complete_sale(SalePolicy(), counter_id=find_counter("LHR1", "C1").id, shift_id=shift.id,
                               staff_id=staff("ayesha").id, lines=[sales.SaleLine(v.id, 1)],
                               tenders=[sales.Tender("cash", Decimal("4990"))], customer_id=ali.id)
    del shifts
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(100, 40)) as pilot:
        await start_selling(pilot, app)
        await pilot.press("f3")
        await pilot.pause()
        await type_text(pilot, "03001234567", enter=True)
        await pilot.press("f3")
        await pilot.pause()
        await pilot.press("f7")
        await pilot.pause()
        text = app.screen.text if hasattr(app.screen, "text") else screen_text(app)
    link = next(w for w in text.split() if w.startswith("https://wa.me/"))
    assert link.startswith("https://wa.me/923001234567?text=")
    summary = unquote(link.split("text=", 1)[1])
    assert sale.number in summary and "Lawn 3pc Suit" in summary and "Total Rs 4,990.00" in summary


async def test_refund_of_a_sale_paid_partly_with_points_gives_the_points_back(tmp_path, till_db):
    from decimal import Decimal

    from pos_core import sales
    from pos_core.branches import find_counter
    from pos_core.models import Variant
    from pos_core.policy import SalePolicy
    shift = open_shift()
    loyalty.set_program(point_value_paisa=100)
    ali = customers.get_or_create("03001234567", "Ali Raza")
    loyalty.move(ali.id, 2000, "adjust", "welcome", "adjust:ref")
    v = Variant.get(Variant.sku == "L3SU-BLA-OS")
    sale = sales.complete_sale(SalePolicy(), counter_id=find_counter("LHR1", "C1").id, shift_id=shift.id,
                               staff_id=staff("ayesha").id, lines=[sales.SaleLine(v.id, 2)], customer_id=ali.id,
                               tenders=[sales.Tender("points", Decimal("1000")), sales.Tender("cash", Decimal("8980"))])
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(100, 30)) as pilot:
        await start_selling(pilot, app, pin="2222")          # a supervisor may refund
        await pilot.press("ctrl+o")
        await pilot.press("f4")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.press("ctrl+u")
        await type_text(pilot, "1", enter=True)
        assert "Back to customer: Rs 4,490.00 + 500 points" in screen_text(app)
        await pilot.press("f4")                              # refund by cash
        await pilot.press("f10")
        await pilot.pause()
        await pilot.press("enter")                           # reason: Damaged
        await pilot.pause()
        await pilot.press("enter")                           # no note
        await settle(pilot, app)
    back = PosOrder.get(PosOrder.kind == "refund")
    assert back.original_id == sale.id
    assert sorted((p.method, p.amount_paisa) for p in back.payments) == [("cash", 4490_00), ("points", 500_00)]
    assert loyalty.balance(ali.id) == 2000 - 1000 + 500


async def test_a_parked_sale_keeps_its_coupon_and_salesperson(tmp_path, till_db):
    open_shift()
    parcel = promotions.create("Parcel 10%", "bill_percent", value=1000, coupon_only=True)
    coupons.create("PARCEL-2", parcel.id, max_uses=1)
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(100, 30)) as pilot:
        await start_selling(pilot, app)
        await type_text(pilot, "bilal", enter=True)
        await type_text(pilot, barcode_of("L3SU-BLA-OS"), enter=True)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await type_text(pilot, "parcel-2", enter=True)
        assert "coupon PARCEL-2" in screen_text(app)
        await pilot.press("f8")
        await settle(pilot, app)
        assert app.cart.lines == []
        await pilot.press("f9")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        text = screen_text(app)
        assert "by Bilal Ahmed" in text and "coupon PARCEL-2" in text
        await pilot.press("f10")
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot, app)
    order = PosOrder.get(PosOrder.kind == "sale")
    assert order.total_paisa == 4491_00                       # 4,990 less the coupon's 10%
    assert [e.salesperson.code for e in CommissionEntry.select()] == ["bilal"]
    assert [l.salesperson.code for l in order.lines] == ["bilal"]
    assert Coupon.get(Coupon.code == "PARCEL-2").uses == 1
