"""Cash in and out, the X report, and closing the shift with a count and its variance."""
from __future__ import annotations

from pos_core.models import AuditEvent, CashMovement, Shift

from pos_tui.app import make_app

from test_till_kit import (core_cash_sale, make_config, open_shift, screen_text, settle, sign_in, staff,  # noqa: F401
                           start_selling, till_db, type_text)


async def test_cash_in_and_out_with_approval_then_close_with_variance(tmp_path, till_db):
    open_shift(float_rs="5000")
    core_cash_sale([("L3SU-BLA-OS", 1)])       # Rs 4,990 cash
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await pilot.press("ctrl+t")
        await settle(pilot, app)
        assert "Expected cash" in screen_text(app) and "9,990.00" in screen_text(app)
        await pilot.press("f2")
        await type_text(pilot, "1000", enter=True)
        await type_text(pilot, "change from bank", enter=True)
        await settle(pilot, app)
        # Cash out needs a supervisor: the cashier's own PIN is not enough.
        await pilot.press("f3")
        await type_text(pilot, "500", enter=True)
        await type_text(pilot, "petty cash: tea", enter=True)
        await settle(pilot, app)
        assert type(app.screen).__name__ == "ApprovalScreen"
        await type_text(pilot, "1111", enter=True)
        assert "someone else must approve" in screen_text(app)
        await pilot.press("ctrl+u")
        await type_text(pilot, "2222", enter=True)
        await settle(pilot, app)
        moves = {(m.kind, m.amount_paisa, m.reason) for m in CashMovement.select()}
        assert moves == {("in", 100000, "change from bank"), ("out", 50000, "petty cash: tea")}
        assert AuditEvent.get(AuditEvent.action == "cash.out").approver_id == staff("sana").id
        # Expected: 5000 + 4990 + 1000 - 500 = 10490. Count 10,480: Rs 10 short.
        await pilot.press("f9")
        await settle(pilot, app)
        for value in ("2", "0", "0", "4", "1", "1", "1", "0"):   # 5000x2, 100x4, 50, 20, 10, coins 0
            await type_text(pilot, value, enter=True)
        text = screen_text(app)
        assert "Expected  Rs    10,490.00" in text and "Counted   Rs    10,480.00" in text
        assert "-10.00  short" in text
        await pilot.press("f10")
        await settle(pilot, app)
        shift = Shift.get_by_id(1)
        assert shift.status == "CLOSED" and shift.expected_paisa == 1049000 and shift.counted_paisa == 1048000
        assert shift.counted_detail["notes"]["5000"] == 2
        assert "Z REPORT" in screen_text(app)
        assert "Variance                          -10.00" in app.screen.text
        assert b"Z REPORT" in (tmp_path / "printer.bin").read_bytes()
        await pilot.press("escape")
        await settle(pilot, app)
        # The counter is back at sign-in; the next person must open a new shift to sell.
        assert type(app.screen).__name__ == "SignInScreen"
        await sign_in(pilot, app, "1111")
        assert type(app.screen).__name__ == "OpenShiftScreen"


async def test_open_shift_refuses_a_bad_float(tmp_path, till_db):
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot, app)
        await type_text(pilot, "5,00.5.0", enter=True)
        assert type(app.screen).__name__ == "OpenShiftScreen" and Shift.select().count() == 0
        assert "is not an amount" in screen_text(app)


async def test_open_shift_text_is_whole_at_80x24(tmp_path, till_db):
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot, app)
        assert type(app.screen).__name__ == "OpenShiftScreen"
        # the dialog's words, its ASCII border taken off each row, rows joined
        text = " ".join(" ".join(row.strip().strip("|").split()) for row in screen_text(app).splitlines())
        assert "No shift is open at this counter. Count the float in the drawer." in text
        assert "Opening float (Rs):" in text
