"""The till's main path: sign in, open a shift, scan, pay, receipt; and the ways it can go wrong."""
from __future__ import annotations

from decimal import Decimal

from pos_core.models import AuditEvent, Payment, PosOrder, Shift
from pos_tui.app import make_app

from test_till_kit import (barcode_of, make_config, open_shift, screen_text, settle, sign_in, till_db,  # noqa: F401
                           type_text)


async def test_sign_in_open_shift_scan_and_pay_cash(tmp_path, till_db):
    cfg = make_config(tmp_path, till_db)
    app = make_app(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot, app, "1111")
        assert type(app.screen).__name__ == "OpenShiftScreen"
        await type_text(pilot, "5000")
        await pilot.press("enter")
        await pilot.pause()
        assert type(app.screen).__name__ == "SaleScreen"
        shift = Shift.get(Shift.status == "OPEN")
        assert shift.opening_float_paisa == 500000
        code = barcode_of("L3SU-BLA-OS")
        await type_text(pilot, code)
        await pilot.press("enter")
        await type_text(pilot, code)
        await pilot.press("enter")
        await pilot.pause()
        assert app.cart.lines[0].qty == 2
        text = screen_text(app)
        assert "Lawn 3pc Suit" in text and "9,980.00" in text
        await pilot.press("f10")
        await pilot.pause()
        await type_text(pilot, "10000")
        await pilot.press("enter")
        await settle(pilot, app)
        order = PosOrder.get(PosOrder.kind == "sale")
        assert order.total_paisa == 998000 and order.change_paisa == 2000
        assert [(p.method, p.amount_paisa) for p in order.payments] == [("cash", 998000)]
        assert app.cart.lines == []
        text = screen_text(app)
        assert "CHANGE" in text and order.number in text
        assert "printed" in text
        printed = (tmp_path / "printer.bin").read_bytes()
        assert order.number.encode() in printed and b"\x1bp" in printed  # receipt and drawer kick
