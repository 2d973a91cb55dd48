"""Selling on the main screen: search, quantities, discounts (with and without approval), price
override, customers, drafts, split payment, bad codes, and a printer that is not there."""
from __future__ import annotations

import dataclasses

from pos_core.models import AuditEvent, Customer, PosOrder, PosOrderLine
from pos_tui.app import make_app

from test_till_kit import (barcode_of, flat, make_config, open_shift, screen_text, settle, staff, start_selling,  # noqa: F401
                           till_db, type_text)


async def pay_exact(pilot, app):
    await pilot.press("f10")
    await pilot.pause()
    await type_text(pilot, "", enter=True)
    await settle(pilot, app)


async def test_unknown_and_malformed_codes_show_a_message_and_beep(tmp_path, till_db):
    open_shift()
    app = make_app(make_config(tmp_path, till_db))
    bells = []
    app.bell = lambda: bells.append(1)
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await type_text(pilot, "8961234567890", enter=True)
        assert "check digit is wrong" in screen_text(app)
        await type_text(pilot, "NO-SUCH-THING", enter=True)
        assert "no item has this barcode or SKU" in screen_text(app)
        await type_text(pilot, "x" * 70, enter=True)
        assert "at most 64 characters" in screen_text(app)
        assert len(bells) == 3 and app.cart.lines == []


async def test_search_by_name_qty_remove_and_multiply(tmp_path, till_db):
    open_shift()
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await pilot.press("f2")
        await type_text(pilot, "kurti maroon l")
        assert "Embroidered Lawn Kurti - Maroon / L" in screen_text(app)
        await pilot.press("enter")
        await pilot.pause()
        assert [l.sku for l in app.cart.lines] == ["ELK-MAR-L"]
        await type_text(pilot, "3*" + barcode_of("L3SU-BLA-OS"), enter=True)
        assert app.cart.lines[1].qty == 3
        await pilot.press("f4")
        await type_text(pilot, "\b", enter=False)
        await pilot.press("ctrl+u")
        await type_text(pilot, "5", enter=True)
        assert app.cart.lines[1].qty == 5
        await pilot.press("up", "ctrl+d")
        await pilot.pause()
        assert [l.sku for l in app.cart.lines] == ["L3SU-BLA-OS"]
        await pay_exact(pilot, app)
        order = PosOrder.get(PosOrder.kind == "sale")
        assert [(l.sku, l.qty) for l in order.lines] == [("L3SU-BLA-OS", 5)]


async def test_discount_within_the_cashiers_limit_needs_no_approval(tmp_path, till_db):
    open_shift()
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await type_text(pilot, "L3SU-BLA-OS", enter=True)
        await pilot.press("f5")
        await type_text(pilot, "10%", enter=True)
        assert type(app.screen).__name__ == "SaleScreen"
        assert "4,491.00" in screen_text(app)
        await pay_exact(pilot, app)
        line = PosOrderLine.get()
        assert line.line_discount_paisa == 49900 and line.order.total_paisa == 449100
        assert not AuditEvent.select().where(AuditEvent.action == "sale.discount_approved").exists()


async def test_discount_beyond_the_limit_is_approved_by_a_supervisor_pin(tmp_path, till_db):
    open_shift()
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await type_text(pilot, "L3SU-BLA-OS", enter=True)
        await type_text(pilot, "L3SU-MAR-OS", enter=True)
        await pilot.press("f6")
        await type_text(pilot, "20%", enter=True)
        assert type(app.screen).__name__ == "ApprovalScreen"
        await type_text(pilot, "1212", enter=True)   # another cashier: limit 10%
        assert "cannot approve this" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert app.cart.order_discount is None and "not approved" in screen_text(app)
        await pilot.press("f6")
        await type_text(pilot, "20%", enter=True)
        await type_text(pilot, "2222", enter=True)
        await pilot.pause()
        assert "Approved by Sana Malik" in screen_text(app)
        await pay_exact(pilot, app)
        order = PosOrder.get(PosOrder.kind == "sale")
        assert order.discount_paisa == 199600
        audit = AuditEvent.get(AuditEvent.action == "sale.discount_approved")
        assert audit.approver_id == staff("sana").id and audit.staff_id == staff("ayesha").id
        assert audit.detail == {"cashier": "Ayesha Khan", "approver": "Sana Malik"}


async def test_price_override_by_a_cashier_needs_approval(tmp_path, till_db):
    open_shift()
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await type_text(pilot, "L3SU-BLA-OS", enter=True)
        await pilot.press("f7")
        await pilot.press("ctrl+u")
        await type_text(pilot, "4500", enter=True)
        assert type(app.screen).__name__ == "ApprovalScreen"
        await type_text(pilot, "3333", enter=True)
        await pilot.pause()
        assert app.cart.lines[0].override_paisa == 450000
        await pay_exact(pilot, app)
        line = PosOrderLine.get()
        assert line.price_overridden and line.unit_price_paisa == 450000


async def test_customer_by_phone_park_and_recall_a_draft(tmp_path, till_db):
    open_shift()
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await type_text(pilot, "L3SU-BLA-OS", enter=True)
        await type_text(pilot, "ELK-MAR-L", enter=True)
        await pilot.press("f3")
        await type_text(pilot, "0300 12345", enter=True)
        assert "not a Pakistani mobile number" in screen_text(app)
        await pilot.press("ctrl+u")
        await type_text(pilot, "0300-1234567", enter=True)
        await type_text(pilot, "Fatima Noor", enter=True)
        await pilot.pause()
        assert Customer.get(Customer.phone == "+923001234567").name == "Fatima Noor"
        assert "Fatima Noor" in screen_text(app)
        await pilot.press("f8")
        await pilot.pause()
        draft = PosOrder.get(PosOrder.kind == "draft")
        assert draft.lines.count() == 2 and draft.customer.name == "Fatima Noor"
        assert app.cart.lines == [] and "Parked as a draft" in screen_text(app)
        await type_text(pilot, "ZZZ-NOPE", enter=True)  # not an item: nothing lost
        await pilot.press("f9")
        await pilot.pause()
        assert type(app.screen).__name__ == "PickScreen"
        assert "+923001234567" in screen_text(app)
        await pilot.press("enter")
        await pilot.pause()
        assert [l.sku for l in app.cart.lines] == ["L3SU-BLA-OS", "ELK-MAR-L"]
        assert app.cart.customer.name == "Fatima Noor"
        await pay_exact(pilot, app)
        sale = PosOrder.get(PosOrder.uid == draft.uid)
        assert sale.kind == "sale" and sale.customer.phone == "+923001234567"
        assert not PosOrder.select().where(PosOrder.kind == "draft").exists()


async def test_split_payment_card_wallet_and_cash_and_esc_loses_nothing(tmp_path, till_db):
    open_shift()
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await type_text(pilot, "L3SU-BLA-OS", enter=True)
        await type_text(pilot, "ELK-MAR-L", enter=True)      # 4,990 + 3,450 = 8,440
        await pilot.press("f10")
        await pilot.press("f3")
        await type_text(pilot, "3000")
        await pilot.press("tab")
        await type_text(pilot, "slip 4471", enter=True)
        await pilot.press("escape")
        await pilot.pause()
        assert type(app.screen).__name__ == "SaleScreen" and len(app.cart.lines) == 2
        assert not PosOrder.select().where(PosOrder.kind == "sale").exists()
        await pilot.press("f10")
        await pilot.press("f3")
        await type_text(pilot, "9000", enter=True)
        assert "cannot be more than" in screen_text(app)
        await pilot.press("ctrl+u")
        await type_text(pilot, "3000")
        await pilot.press("tab")
        await type_text(pilot, "slip 4471", enter=True)
        await pilot.press("f4", "f4")                          # wallet, then switch to Easypaisa
        await type_text(pilot, "2000")
        await pilot.press("tab")
        await type_text(pilot, "TX99", enter=True)
        await type_text(pilot, "5000", enter=True)             # cash handed over
        await settle(pilot, app)
        order = PosOrder.get(PosOrder.kind == "sale")
        pays = sorted((p.method, p.amount_paisa, p.tendered_paisa, p.reference) for p in order.payments)
        assert pays == [("card", 300000, 300000, "slip 4471"), ("cash", 344000, 500000, ""),
                        ("wallet", 200000, 200000, "Easypaisa TX99")]
        assert order.change_paisa == 156000
        assert "CHANGE" in screen_text(app)
        printed = (tmp_path / "printer.bin").read_bytes()
        assert b"Easypaisa" in printed and b"1,560.00" in printed


async def test_printer_missing_the_sale_is_kept_and_reprint_is_offered(tmp_path, till_db):
    open_shift()
    cfg = make_config(tmp_path, till_db, printer={"path": str(tmp_path / "no-such-dir" / "lp0")})
    app = make_app(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await type_text(pilot, "L3SU-BLA-OS", enter=True)
        await pay_exact(pilot, app)
        order = PosOrder.get(PosOrder.kind == "sale")
        text = flat(app)
        assert "did NOT print (sale is saved; Ctrl+R reprints): Printer not reachable" in text
        assert "lp0 not found" in str(app.screen.query_one("#message").render())
        assert app.unprinted == order.uid and app.cart.lines == []
        # The printer is back (here: the directory now exists); Ctrl+R prints the original.
        (tmp_path / "no-such-dir").mkdir()
        await pilot.press("ctrl+r")
        await settle(pilot, app)
        assert f"Receipt {order.number} printed" in screen_text(app)
        printed = (tmp_path / "no-such-dir" / "lp0").read_bytes()
        assert order.number.encode() in printed and b"REPRINT" not in printed
        assert app.unprinted is None
        await pilot.press("ctrl+e")
        await pilot.pause()
        assert order.number in app.screen.text and "SALE RECEIPT" in app.screen.text
