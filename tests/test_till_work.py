"""pos_tui.work, the one way a screen runs core work: a locked database, or any error at all, is a
line on the screen and a traceback in the log; the till keeps running and nothing typed is lost."""
from __future__ import annotations

import logging
import sqlite3

from pos_core import db as dbmod, ledger
from pos_core.models import Adjustment, Branch, Variant
from pos_tui.app import make_app

from test_till_kit import (barcode_of, flat, make_config, open_shift, screen_text, settle, start_selling,  # noqa: F401
                           till_db, type_text)

SKU = "L3SU-BLA-OS"   # Rs 4,990: below the adjustment approval threshold


def on_hand(sku: str) -> int:
    return ledger.on_hand(Variant.get(Variant.sku == sku).id, Branch.get(Branch.code == "LHR1").id)


class HeldLock:
    """Another process's write transaction on the till's SQLite file (as a busy agent or a second
    till would hold it), with the till's busy timeout cut short so the test does not wait 10 s."""

    def __init__(self, path):
        self.conn = sqlite3.connect(str(path), isolation_level=None, timeout=0)
        self.conn.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        self.conn.execute("ROLLBACK")
        self.conn.close()


async def adjustment_ready(pilot, app) -> None:
    await start_selling(pilot, app)
    await pilot.press("ctrl+k", "f5")
    await settle(pilot, app)
    await pilot.press("enter")   # damaged
    await settle(pilot, app)
    await type_text(pilot, barcode_of(SKU), enter=True)
    await pilot.press("f3")
    await settle(pilot, app)
    await type_text(pilot, "dropped in the store room", enter=True)
    await settle(pilot, app)
    assert type(app.screen).__name__ == "AdjustScreen"


async def test_a_stock_write_on_a_locked_database_leaves_the_till_running_with_a_message(
        tmp_path, till_db, monkeypatch, caplog):
    open_shift()
    start = on_hand(SKU)
    monkeypatch.setattr(dbmod.database.obj, "_timeout", 0.2)
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await adjustment_ready(pilot, app)
        lock = HeldLock(till_db)
        try:
            with caplog.at_level(logging.ERROR, logger="pos_tui.work"):
                await pilot.press("f10")
                await settle(pilot, app)
        finally:
            lock.release()
        text = flat(app)
        assert "NOT saved (the database is busy (database is locked)); nothing changed, try again" in text
        assert app.is_running and type(app.screen).__name__ == "AdjustScreen"
        assert on_hand(SKU) == start and not Adjustment.select().exists()
        assert "-1" in screen_text(app), "the scanned item is still on the screen"
        logged = [r for r in caplog.records if r.name == "pos_tui.work"]
        assert logged and logged[0].exc_info is not None, "the traceback goes to the till's log"

        # The lock is gone: the same F10 posts what was on the screen.
        await pilot.press("f10")
        await settle(pilot, app)
        adj = Adjustment.get()
        assert f"{adj.number} posted: -1 units (damaged)" in flat(app)
        assert on_hand(SKU) == start - 1
    assert ledger.check() == []


async def test_an_unexpected_error_in_a_stock_screen_read_is_a_message_not_a_crash(
        tmp_path, till_db, monkeypatch):
    from pos_core import stock

    def broken(*args, **kwargs):
        raise RuntimeError("disk I/O error\nsecond line of detail")
    monkeypatch.setattr(stock, "branch_levels", broken)
    open_shift()
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await pilot.press("ctrl+k", "f2")     # stock levels
        await settle(pilot, app)
        assert app.is_running and type(app.screen).__name__ == "LevelsScreen"
        assert "Reading the stock NOT done (RuntimeError: disk I/O error second line of detail); try again" \
            in flat(app)
        await pilot.press("escape")
        await settle(pilot, app)
        assert type(app.screen).__name__ == "StockScreen"


async def test_an_error_after_the_work_is_caught_too(tmp_path, till_db):
    """The step succeeded but what the screen does with the result fails: still one line."""
    from pos_tui import work
    open_shift()
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        screen = app.screen
        seen = []

        def done(result):
            seen.append(result)
            raise KeyError("no row 7")
        work.run(screen, lambda: 41 + 1, done, what="Showing the answer")
        await settle(pilot, app)
        assert seen == [42] and app.is_running
        assert "Showing the answer NOT done (KeyError: 'no row 7'); try again" in flat(app)
        # a product error is shown as it is, without "NOT done"
        from pos_core.errors import StateError

        def refuse():
            raise StateError("shipment is DISPATCHED; pack it before dispatch")
        work.run(screen, refuse, seen.append)
        await settle(pilot, app)
        assert "shipment is DISPATCHED; pack it before dispatch" in flat(app) and seen == [42]


async def test_a_sale_on_a_locked_database_keeps_the_cart_and_goes_through_after(tmp_path, till_db, monkeypatch):
    """The App's own sale worker is the same pos_tui.work: one line, the cart kept, then paid."""
    from pos_core.models import PosOrder
    open_shift()
    monkeypatch.setattr(dbmod.database.obj, "_timeout", 0.2)
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await type_text(pilot, "L3SU-BLA-OS", enter=True)
        lock = HeldLock(till_db)
        try:
            await pilot.press("f10")
            await settle(pilot, app)
            await type_text(pilot, "", enter=True)    # cash, exact
            await settle(pilot, app)
        finally:
            lock.release()
        assert "the sale was NOT saved (the database is busy (database is locked)); try again" in flat(app)
        assert app.is_running and len(app.cart.lines) == 1 and not app.committing
        assert not PosOrder.select().where(PosOrder.kind == "sale").exists()
        if type(app.screen).__name__ != "SaleScreen":
            await pilot.press("escape")
            await settle(pilot, app)
        await pilot.press("f10")
        await settle(pilot, app)
        await type_text(pilot, "", enter=True)
        await settle(pilot, app)
        order = PosOrder.get(PosOrder.kind == "sale")
        assert app.cart.lines == [] and app.last_uid == order.uid


async def test_a_scan_while_the_database_fails_is_a_message_and_the_next_scan_works(tmp_path, till_db, monkeypatch):
    import peewee

    from pos_core import catalog
    real = catalog.lookup
    calls = []

    def flaky(code, *args, **kwargs):
        calls.append(code)
        if len(calls) == 1:
            raise peewee.OperationalError("database is locked")
        return real(code, *args, **kwargs)
    monkeypatch.setattr(catalog, "lookup", flaky)
    open_shift()
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await type_text(pilot, SKU, enter=True)
        await settle(pilot, app)
        assert app.is_running and app.cart.lines == []
        assert "Looking up the item NOT done (the database is busy (database is locked)); try again" in flat(app)
        await type_text(pilot, SKU, enter=True)
        await settle(pilot, app)
        assert len(app.cart.lines) == 1 and len(calls) == 2


async def test_a_pin_check_that_fails_says_so_and_the_next_try_signs_in(tmp_path, till_db, monkeypatch):
    import peewee

    from pos_core import staff as staffmod
    from test_till_kit import sign_in
    real, calls = staffmod.authenticate, []

    def flaky(pin):
        calls.append(pin)
        if len(calls) == 1:
            raise peewee.OperationalError("database is locked")
        return real(pin)
    monkeypatch.setattr(staffmod, "authenticate", flaky)
    open_shift()
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot, app)
        assert app.is_running and type(app.screen).__name__ == "SignInScreen" and app.staff is None
        shown = " ".join(" ".join(row.strip().strip("|").split()) for row in screen_text(app).splitlines())
        assert "Checking the PIN NOT done (the database is busy (database is locked)); try again" in shown
        assert app.failed_pins == 0, "a database error is not a wrong PIN"
        await start_selling(pilot, app)
        assert app.staff is not None and app.staff.code == "ayesha"
