"""PIN sign-in, the five-tries lockout with its countdown, sign-out and key remapping."""
from __future__ import annotations

from pos_tui.app import make_app

from test_till_kit import make_config, open_shift, screen_text, settle, sign_in, till_db, type_text  # noqa: F401


async def test_five_wrong_pins_lock_the_counter_for_a_minute(tmp_path, till_db):
    now = [1000.0]
    app = make_app(make_config(tmp_path, till_db), clock=lambda: now[0])
    async with app.run_test(size=(80, 24)) as pilot:
        for i in range(4):
            await sign_in(pilot, app, "4321")
        assert "1 tries left" in screen_text(app)
        await sign_in(pilot, app, "4321")
        assert app.lock_left() == 60
        assert "locked after 5 wrong PINs: try again in 60 s" in screen_text(app)
        # While locked even the right PIN does nothing.
        await sign_in(pilot, app, "1111")
        assert app.staff is None
        now[0] += 45
        app.screen.tick()
        await pilot.pause()
        assert "try again in 15 s" in screen_text(app)
        now[0] += 16
        app.screen.tick()
        await pilot.pause()
        await sign_in(pilot, app, "1111")
        assert app.staff.code == "ayesha"
        assert type(app.screen).__name__ == "OpenShiftScreen"


async def test_sign_out_hands_the_counter_to_another_cashier(tmp_path, till_db):
    open_shift()
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot, app, "1111")
        assert type(app.screen).__name__ == "SaleScreen"
        assert "Ayesha Khan (cashier)" in screen_text(app)
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert type(app.screen).__name__ == "SignInScreen" and app.staff is None
        await sign_in(pilot, app, "1212")
        assert app.staff.code == "bilal" and "Bilal Ahmed" in screen_text(app)


async def test_sign_out_with_items_in_the_cart_is_refused(tmp_path, till_db):
    open_shift()
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot, app)
        await type_text(pilot, "L3SU-BLA-OS", enter=True)
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert app.staff is not None and "Park (F8) or finish" in screen_text(app)


async def test_keys_remapped_from_the_config(tmp_path, till_db):
    open_shift()
    app = make_app(make_config(tmp_path, till_db, keys={"sale.pay": "f12"}))
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot, app)
        await type_text(pilot, "L3SU-BLA-OS", enter=True)
        await pilot.press("f10")
        await pilot.pause()
        assert type(app.screen).__name__ == "SaleScreen"
        await pilot.press("f12")
        await pilot.pause()
        assert type(app.screen).__name__ == "PaymentScreen"
        await pilot.press("escape")
        await pilot.press("f1")
        await pilot.pause()
        text = app.screen.query_one("#text-body").render()
        assert "f12" in str(text) and "sale.pay" in str(text)


async def test_a_pin_of_someone_from_another_branch_is_refused_here(tmp_path, till_db):
    from pos_core import staff as staffmod
    staffmod.create("zara", "Zara Karachi", "cashier", "4545", branch_codes="KHI1")
    open_shift()
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot, app, "4545")
        assert type(app.screen).__name__ == "SignInScreen" and app.staff is None and app.shift is None
        assert "Zara Karachi does not work at LHR1" in screen_text(app)
        await sign_in(pilot, app, "1111")   # not counted as a wrong PIN, and the counter is still usable
        assert app.staff.code == "ayesha" and app.shift is not None and app.failed_pins == 0
        assert type(app.screen).__name__ == "SaleScreen"
