"""Ctrl+K F6: a stock take counted by scanning, with a sale rung up during the count, posted."""
from __future__ import annotations

from pos_core import ledger
from pos_core.models import Adjustment, Branch, StockLevel, StockTake, StockTakeCount, Variant
from pos_tui.app import make_app

from test_till_kit import (barcode_of, core_cash_sale, flat, make_config, open_shift, screen_text,  # noqa: F401
                           settle, start_selling, till_db, type_text)


def on_hand(sku: str) -> int:
    return ledger.on_hand(Variant.get(Variant.sku == sku).id, Branch.get(Branch.code == "LHR1").id)


async def test_stock_take_with_a_sale_during_the_count(tmp_path, till_db):
    open_shift()
    lhr = Branch.get(Branch.code == "LHR1")
    a, b = [v.sku for v in Variant.select().join(StockLevel, on=(StockLevel.variant == Variant.id))
            .where((StockLevel.branch == lhr.id) & (StockLevel.on_hand >= 4) & (Variant.price_paisa >= 300000))
            .order_by(Variant.sku).limit(2)]
    na, nb = on_hand(a), on_hand(b)
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)  # Ayesha, a cashier
        await pilot.press("ctrl+k")
        await pilot.press("f6")
        await settle(pilot, app)
        assert "No stock take is open at LHR1" in flat(app)
        await pilot.press("f2")
        await settle(pilot, app)
        take = StockTake.get()
        assert f"{take.number} started" in flat(app)
        await pilot.press("f4")
        await settle(pilot, app)
        await type_text(pilot, "Aisle 3", enter=True)
        # A sale of one `a` at the other counter while the aisle is being counted...
        core_cash_sale([(a, 1)], cashier="bilal")
        # ...so the shelf holds na - 1, which is what gets counted: no loss.
        await type_text(pilot, f"{na - 2}*{a}", enter=True)
        await type_text(pilot, barcode_of(a), enter=True)
        for _ in range(nb - 2):  # two of b are missing
            await type_text(pilot, barcode_of(b), enter=True)
        assert f"{b}: {nb - 2} counted" in screen_text(app) and "Aisle 3" in screen_text(app)
        assert {c.area for c in StockTakeCount.select()} == {"Aisle 3"}
        await pilot.press("f5")
        await settle(pilot, app)
        text = flat(app)
        assert "a sale during the count is not a loss" in text and "2 counted, 1 differ" in text
        assert f"{b}" in text and "-2" in text
        await pilot.press("f10")
        await settle(pilot, app)
        await type_text(pilot, "y", enter=True)
        assert type(app.screen).__name__ == "ApprovalScreen"  # two of b are worth more than Rs 5,000
        await type_text(pilot, "3333", enter=True)
        await settle(pilot, app)
        take = StockTake.get()
        adj = Adjustment.get()
        assert take.status == "POSTED" and take.adjustment_id == adj.id and adj.approver.code == "imran"
        assert [(l.variant.sku, l.delta) for l in adj.lines] == [(b, -2)]
        assert on_hand(a) == na - 1 and on_hand(b) == nb - 2
        assert f"{take.number} posted: {adj.number}, approved by Imran Qureshi" in flat(app)
        assert "No stock take is open" in flat(app)
    assert ledger.check() == []
