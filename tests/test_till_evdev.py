"""The evdev scanner wired into the till, with a fake device (no /dev/uinput here): scans reach the
cart from the orders list, are refused during payment, and a missing device leaves the keyboard
wedge in use, said on screen."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

from pos_tui import evdev_scanner as ev
from pos_tui.app import make_app

from test_till_kit import barcode_of, flat, make_config, open_shift, screen_text, start_selling, till_db  # noqa: F401

DIGIT_KEYS = {"1": 2, "2": 3, "3": 4, "4": 5, "5": 6, "6": 7, "7": 8, "8": 9, "9": 10, "0": 11}


class FakeScanner:
    """Enough of evdev.InputDevice for the Reader: events come from a queue the test fills."""

    def __init__(self):
        self.queue: asyncio.Queue = asyncio.Queue()
        self.grabbed = self.closed = False
        self.t = 1000.0

    def capabilities(self):
        return {ev.EV_KEY: [ev.KEY_ENTER] + list(DIGIT_KEYS.values())}

    def active_keys(self):
        return []

    def grab(self):
        self.grabbed = True

    def close(self):
        self.closed = True

    async def async_read_loop(self):
        while True:
            yield await self.queue.get()

    def scan(self, code: str) -> None:
        for key in [DIGIT_KEYS[c] for c in code] + [ev.KEY_ENTER]:
            for value in (1, 0):
                self.t += 0.004
                sec = int(self.t)
                self.queue.put_nowait(SimpleNamespace(type=ev.EV_KEY, code=key, value=value, sec=sec,
                                                      usec=int((self.t - sec) * 1e6)))
            self.queue.put_nowait(SimpleNamespace(type=ev.EV_SYN, code=0, value=0, sec=int(self.t), usec=0))


async def drain(pilot, device: FakeScanner) -> None:
    for _ in range(50):
        if device.queue.empty():
            break
        await asyncio.sleep(0.01)
    await pilot.pause()
    await pilot.pause()


def config(tmp_path, db, device="/dev/input/pos-scanner"):
    return make_config(tmp_path, db, scanner={"device": device, "min_length": 4})


async def test_an_evdev_scan_lands_in_the_cart_while_the_orders_list_is_open(tmp_path, till_db):
    open_shift()
    device = FakeScanner()
    app = make_app(config(tmp_path, till_db), scanner_open=lambda path: device)
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        assert app.scanner_reader is not None and device.grabbed
        assert "scanner: evdev /dev/input/pos-scanner" in flat(app) and "scan:evdev" in screen_text(app)
        device.scan(barcode_of("L3SU-BLA-OS"))
        await drain(pilot, device)
        assert [(l.sku, l.qty) for l in app.cart.lines] == [("L3SU-BLA-OS", 1)]
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert type(app.screen).__name__ == "OrdersScreen"
        device.scan(barcode_of("L3SU-BLA-OS"))
        await drain(pilot, device)
        assert [(l.sku, l.qty) for l in app.cart.lines] == [("L3SU-BLA-OS", 2)]
        assert type(app.screen).__name__ == "OrdersScreen"       # the list stays open
        assert "Sale: Added" in flat(app)
        assert app.screen.query_one("#order-search").value == ""  # nothing typed into its search field
        device.scan("8961234567890")                             # a bad check digit: said on this screen
        await drain(pilot, device)
        assert "check digit" in flat(app) and len(app.cart.lines) == 1
        await pilot.press("escape", "f10")
        await pilot.pause()
        assert type(app.screen).__name__ == "PaymentScreen"
        device.scan(barcode_of("L3SU-BLA-OS"))                  # during payment: refused
        await drain(pilot, device)
        assert app.cart.lines[0].qty == 2 and app.screen.tenders == []
        assert "before scanning more items" in flat(app)


async def test_a_scan_on_a_screen_that_takes_none_is_refused_with_a_message(tmp_path, till_db):
    open_shift()
    device = FakeScanner()
    app = make_app(config(tmp_path, till_db), scanner_open=lambda path: device)
    async with app.run_test(size=(80, 24)) as pilot:
        device.scan(barcode_of("L3SU-BLA-OS"))                  # at sign-in: never a PIN, never the cart
        await drain(pilot, device)
        assert app.cart.lines == [] and "does not take scans" in flat(app)


async def test_without_the_device_the_keyboard_wedge_stays_and_the_till_says_why(tmp_path, till_db):
    open_shift()
    app = make_app(config(tmp_path, till_db, device=str(tmp_path / "no-scanner")))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        assert app.scanner_reader is None
        text = flat(app)
        assert "scanner: keyboard (evdev not used:" in text and "scan:kbd" in text
