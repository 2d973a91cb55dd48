"""Ctrl+K F3: a transfer made by scanning, dispatched with a printed slip, opened at the other
branch by scanning the slip's number, received short, and the shortfall settled by a manager."""
from __future__ import annotations

from pos_core import branches, ledger
from pos_core.models import Branch, Transfer, Variant
from pos_tui.app import make_app

from test_till_kit import (barcode_of, make_config, open_shift, screen_text, settle, start_selling,  # noqa: F401
                           till_db, type_text)


def on_hand(sku: str, branch: str) -> int:
    return ledger.on_hand(Variant.get(Variant.sku == sku).id, Branch.get(Branch.code == branch).id)


async def test_transfer_scanned_dispatched_received_short_and_settled(tmp_path, till_db):
    open_shift()
    a, b = "L3SU-BLA-OS", "ELK-MAR-L"
    lhr_a, khi_a, lhr_b, khi_b = on_hand(a, "LHR1"), on_hand(a, "KHI1"), on_hand(b, "LHR1"), on_hand(b, "KHI1")
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await pilot.press("ctrl+k")
        await pilot.press("f3")
        await settle(pilot, app)
        assert type(app.screen).__name__ == "TransfersScreen"
        await pilot.press("f2")  # new: pick the branch (KHI1 is the only other)
        await settle(pilot, app)
        await pilot.press("enter")
        await settle(pilot, app)
        assert type(app.screen).__name__ == "NewTransferScreen"
        await type_text(pilot, barcode_of(a), enter=True)
        await type_text(pilot, barcode_of(a), enter=True)
        await type_text(pilot, f"3*{b}", enter=True)
        text = screen_text(app)
        assert "LHR1 -> KHI1: 2 lines, 5 units" in text
        await pilot.press("f10")
        await settle(pilot, app)
        t = Transfer.select().order_by(Transfer.id.desc()).get()  # the demo already has one in transit
        assert type(app.screen).__name__ == "TransferScreen" and t.status == "DRAFT"
        assert on_hand(a, "LHR1") == lhr_a  # a draft moves nothing
        await pilot.press("f5")
        await settle(pilot, app)
        t = Transfer.select().order_by(Transfer.id.desc()).get()  # the demo already has one in transit
        assert t.status == "DISPATCHED" and on_hand(a, "LHR1") == lhr_a - 2 and on_hand(b, "LHR1") == lhr_b - 3
        data = (tmp_path / "printer.bin").read_bytes()
        assert t.number.encode() in data and b"\x1dk" in data and b"TRANSFER SLIP" in data
        assert f"Transfer slip {t.number} printed" in screen_text(app)
        await pilot.press("escape")
        await pilot.press("escape")
        await settle(pilot, app)
        assert type(app.screen).__name__ == "StockScreen"

        # The Karachi counter: scan the slip's barcode to open the transfer.
        app.counter = branches.find_counter("KHI1", "C1")
        await pilot.press("f3")
        await settle(pilot, app)
        assert t.number in screen_text(app) and " in " in screen_text(app)
        await type_text(pilot, t.number, enter=True)
        assert type(app.screen).__name__ == "TransferScreen"
        assert "Scan what arrived" in screen_text(app)
        await type_text(pilot, barcode_of(a), enter=True)
        await type_text(pilot, barcode_of(a), enter=True)
        await type_text(pilot, f"2*{barcode_of(b)}", enter=True)
        await type_text(pilot, "PLS-001-M", enter=True)
        assert "not on " + t.number in screen_text(app)
        await pilot.press("f10")
        await settle(pilot, app)
        assert type(app.screen).__name__ == "ConfirmScreen"
        await type_text(pilot, "y", enter=True)
        t = Transfer.select().order_by(Transfer.id.desc()).get()  # the demo already has one in transit
        assert t.status == "DISCREPANCY"
        assert on_hand(a, "KHI1") == khi_a + 2 and on_hand(b, "KHI1") == khi_b + 2
        text = screen_text(app)
        assert "OPEN" in text and "-1" in text and "received with differences" in " ".join(text.split())
        # Ayesha is a cashier: the settlement needs Imran's manager PIN.
        await pilot.press("down")
        await pilot.press("f7")
        await settle(pilot, app)
        assert type(app.screen).__name__ == "PickScreen"
        assert "returned to sender" in screen_text(app) and "sender sent extra" not in screen_text(app)
        await pilot.press("down")  # lost in transit, returned to sender, found at receiver
        await pilot.press("enter")
        await settle(pilot, app)
        assert type(app.screen).__name__ == "ApprovalScreen"
        await type_text(pilot, "2222", enter=True)  # a supervisor may not
        assert "cannot approve" in screen_text(app)
        await pilot.press("ctrl+u")
        await type_text(pilot, "3333", enter=True)
        await settle(pilot, app)
        assert type(app.screen).__name__ == "TransferScreen"
        t = Transfer.select().order_by(Transfer.id.desc()).get()  # the demo already has one in transit
        assert t.status == "RECEIVED"
        assert on_hand(b, "LHR1") == lhr_b - 3 + 1  # returned to sender
        assert "returned to sender" in screen_text(app)
    assert ledger.check() == []
