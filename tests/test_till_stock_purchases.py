"""Ctrl+K F4: a purchase order made at the till and received in two deliveries by scanning."""
from __future__ import annotations

from pos_core import ledger
from pos_core.models import Branch, GoodsReceipt, GoodsReceiptLine, PurchaseOrder, Variant
from pos_tui.app import make_app

from test_till_kit import (barcode_of, make_config, open_shift, screen_text, settle, start_selling,  # noqa: F401
                           till_db, type_text)


def on_hand(sku: str) -> int:
    return ledger.on_hand(Variant.get(Variant.sku == sku).id, Branch.get(Branch.code == "LHR1").id)


async def test_purchase_order_received_in_two_deliveries(tmp_path, till_db):
    open_shift()
    a, b = "L3SU-BLA-OS", "ELK-MAR-L"
    start_a, start_b = on_hand(a), on_hand(b)
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app, "3333")
        await pilot.press("ctrl+k")
        await pilot.press("f4")
        await pilot.press("f2")
        await settle(pilot, app)
        await type_text(pilot, "Al-Karam Textiles", enter=True)
        assert type(app.screen).__name__ == "NewPurchaseOrderScreen"
        await type_text(pilot, f"10*{a}@3000", enter=True)
        await type_text(pilot, f"6*{barcode_of(b)}", enter=True)
        await pilot.press("f10")
        await settle(pilot, app)
        assert "Unit cost missing for ELK-MAR-L" in " ".join(screen_text(app).split())
        await pilot.press("down")
        await pilot.press("f3")
        await settle(pilot, app)
        await type_text(pilot, "1500", enter=True)
        assert "Rs 39,000.00" in screen_text(app)  # 10 x 3000 + 6 x 1500
        await pilot.press("f10")
        await settle(pilot, app)
        po = PurchaseOrder.get()
        assert type(app.screen).__name__ == "PurchaseOrderScreen" and po.supplier.name == "Al-Karam Textiles"
        # First delivery: 4 of a, all 6 of b, scanned.
        await type_text(pilot, f"4*{a}", enter=True)
        for _ in range(6):
            await type_text(pilot, barcode_of(b), enter=True)
        await pilot.press("f10")
        await settle(pilot, app)
        assert PurchaseOrder.get().status == "PARTIAL"
        assert on_hand(a) == start_a + 4 and on_hand(b) == start_b + 6
        text = screen_text(app)
        assert "GRN-LHR1-000001: 10 units received" in text and "PARTIAL" in text
        # Second delivery: the last 6 of a, at a new unit cost.
        await type_text(pilot, f"6*{barcode_of(a)}@3100", enter=True)
        await pilot.press("f10")
        await settle(pilot, app)
        assert PurchaseOrder.get().status == "RECEIVED" and on_hand(a) == start_a + 10
        assert GoodsReceipt.select().count() == 2
        costs = sorted((l.variant.sku, l.qty, l.unit_cost_paisa) for l in GoodsReceiptLine.select())
        assert costs == [(b, 6, 150000), (a, 4, 300000), (a, 6, 310000)]
        await type_text(pilot, a, enter=True)
        assert "takes no more deliveries" in screen_text(app)
        await pilot.press("escape")
        await settle(pilot, app)
        assert "open: 0" in screen_text(app)
        await pilot.press("f4")
        await settle(pilot, app)
        assert po.number in screen_text(app) and "RECEIVED" in screen_text(app)
    assert ledger.check() == []
