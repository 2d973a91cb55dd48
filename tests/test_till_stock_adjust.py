"""Ctrl+K F5: adjustments below the approval threshold, and above it with a manager's PIN."""
from __future__ import annotations

from pos_core import ledger
from pos_core.models import Adjustment, Branch, Variant
from pos_tui.app import make_app

from test_till_kit import (barcode_of, flat, make_config, open_shift, screen_text, settle, start_selling,  # noqa: F401
                           till_db, type_text)


def on_hand(sku: str) -> int:
    return ledger.on_hand(Variant.get(Variant.sku == sku).id, Branch.get(Branch.code == "LHR1").id)


async def test_adjustment_below_and_above_the_threshold(tmp_path, till_db):
    open_shift()
    a = "L3SU-BLA-OS"  # Rs 4,990: one is below the Rs 5,000 threshold, two are above
    start = on_hand(a)
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)  # Ayesha, a cashier
        await pilot.press("ctrl+k")
        await pilot.press("f5")
        await settle(pilot, app)
        assert type(app.screen).__name__ == "PickScreen"
        await pilot.press("enter")  # damaged
        await settle(pilot, app)
        await type_text(pilot, barcode_of(a), enter=True)
        await pilot.press("f10")
        await settle(pilot, app)
        assert "Say what happened" in screen_text(app)
        await pilot.press("f3")
        await settle(pilot, app)
        await type_text(pilot, "water leak in the store room", enter=True)
        assert "-1" in screen_text(app) and "Rs 4,990.00" in screen_text(app)
        await pilot.press("f10")
        await settle(pilot, app)
        adj = Adjustment.get()
        assert adj.reason == "damaged" and adj.approver_id is None and adj.staff.code == "ayesha"
        assert f"{adj.number} posted: -1 units (damaged)" in flat(app)
        assert on_hand(a) == start - 1

        # Above the threshold: Imran approves with his PIN.
        await pilot.press("f3")
        await settle(pilot, app)
        await type_text(pilot, "two more found soaked", enter=True)
        await type_text(pilot, f"2*{a}", enter=True)
        assert "manager approval needed" in screen_text(app)
        await pilot.press("f10")
        await settle(pilot, app)
        assert type(app.screen).__name__ == "ApprovalScreen"
        await type_text(pilot, "3333", enter=True)
        await settle(pilot, app)
        adj2 = Adjustment.select().order_by(Adjustment.id.desc()).get()
        assert adj2.id != adj.id and adj2.approver.code == "imran" and [l.delta for l in adj2.lines] == [-2]
        assert f"{adj2.number} posted: -2 units (damaged), approved by Imran Qureshi" in flat(app)
        assert on_hand(a) == start - 3

        # A correction may add: +1 by scanning, and Esc at the approval leaves stock alone.
        await pilot.press("f2")
        await settle(pilot, app)
        for _ in range(5):
            await pilot.press("down")
        await pilot.press("enter")
        await settle(pilot, app)
        await pilot.press("f3")
        await settle(pilot, app)
        await type_text(pilot, "recount", enter=True)
        await type_text(pilot, f"3*{a}", enter=True)
        await pilot.press("f10")
        await settle(pilot, app)
        await pilot.press("escape")
        await settle(pilot, app)
        assert "Not approved: nothing changed" in screen_text(app) and on_hand(a) == start - 3
    assert ledger.check() == []
