"""Keyboard-wedge scanner: timing rules, and a scan landing in the cart from another field."""
from __future__ import annotations

import asyncio

from textual import events

from pos_tui.app import make_app
from pos_tui.scanner import WedgeDetector

from test_till_kit import barcode_of, make_config, open_shift, start_selling, till_db, type_text  # noqa: F401


def feed(det, text, start=0.0, gap=0.005, enter=True):
    t, out = start, None
    for ch in text:
        out = det.feed(ch, t) or out
        t += gap
    return det.feed("\r", t) if enter else out


def test_a_fast_burst_ending_in_enter_is_a_scan():
    assert feed(WedgeDetector(50, 4), "8961234567895") == "8961234567895"


def test_human_typing_is_not_a_scan():
    assert feed(WedgeDetector(50, 4), "8961234567895", gap=0.15) is None


def test_a_short_burst_is_typing_not_a_scan():
    assert feed(WedgeDetector(50, 4), "123") is None


def test_a_pause_starts_a_new_burst_and_a_late_enter_is_not_a_scan():
    det = WedgeDetector(50, 4)
    feed(det, "99", enter=False)
    assert feed(det, "8961234567895", start=1.0) == "8961234567895"
    feed(det, "8961234567895", start=2.0, enter=False)
    assert det.feed("\r", 3.0) is None


def test_non_printable_keys_break_a_burst():
    det = WedgeDetector(50, 4)
    feed(det, "12", enter=False)
    det.feed("\x1b", 0.011)
    assert feed(det, "34", start=0.012) is None


async def test_a_scan_into_the_search_field_lands_in_the_cart(tmp_path, till_db):
    cfg = make_config(tmp_path, till_db, scanner={"min_length": 4, "max_gap_ms": 50})
    open_shift()
    app = make_app(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await pilot.press("f2")
        await pilot.pause()
        assert type(app.screen).__name__ == "SearchScreen"
        await type_text(pilot, "law")
        await asyncio.sleep(0.12)  # a person stops typing; then the scanner fires
        code = barcode_of("L3SU-BLA-OS")
        for ch in code:  # all posted within microseconds: scanner speed
            app.post_message(events.Key(ch, ch))
        app.post_message(events.Key("enter", "\r"))
        await pilot.pause()
        await pilot.pause()
        # In the cart, the search field keeps what the person typed, and the Enter did not
        # also pick a search result.
        assert [(l.sku, l.qty) for l in app.cart.lines] == [("L3SU-BLA-OS", 1)]
        assert type(app.screen).__name__ == "SearchScreen"
        assert app.screen.query_one("#search").value == "law"


async def test_a_scan_during_payment_is_refused_and_pays_nothing(tmp_path, till_db):
    cfg = make_config(tmp_path, till_db, scanner={"min_length": 4, "max_gap_ms": 50})
    open_shift()
    app = make_app(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await type_text(pilot, "L3SU-BLA-OS", enter=True)  # SKU typed at burst speed: also a scan
        assert len(app.cart.lines) == 1
        await pilot.press("f10")
        for ch in barcode_of("L3SU-BLA-OS"):
            app.post_message(events.Key(ch, ch))
        app.post_message(events.Key("enter", "\r"))
        await pilot.pause()
        await pilot.pause()
        assert type(app.screen).__name__ == "PaymentScreen"
        assert app.screen.tenders == [] and app.screen.query_one("#amount").value == ""
        assert app.cart.lines[0].qty == 1
