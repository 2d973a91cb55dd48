"""Ctrl+K F7: the reconciliation report for this branch's location, and a manager accepting a row."""
from __future__ import annotations

from pos_core import ledger, reconcile
from pos_core.models import Branch, OutboxJob, Variant
from pos_core.reconcile import ShopifyLevel
from pos_tui.app import make_app

from test_till_kit import flat, make_config, open_shift, screen_text, settle, start_selling, till_db, type_text  # noqa: F401

LOC = "gid://shopify/Location/101"


async def test_reconciliation_report_and_an_accepted_correction(tmp_path, till_db):
    open_shift()
    lhr = Branch.get(Branch.code == "LHR1")
    lhr.shopify_location_id = LOC
    lhr.save()
    a, b = Variant.get(Variant.sku == "L3SU-BLA-OS"), Variant.get(Variant.sku == "ELK-MAR-L")
    for n, v in enumerate((a, b), start=1):
        v.shopify_inventory_item_id = f"gid://shopify/InventoryItem/{n}"
        v.save()
    qa, qb = ledger.on_hand(a.id, lhr.id), ledger.on_hand(b.id, lhr.id)
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await pilot.press("ctrl+k")
        await pilot.press("f7")
        await settle(pilot, app)
        assert "No reconciliation report yet" in flat(app) and "pos-agent reconcile" in flat(app)
        # The agent's hourly run, planted: someone set `a` to 3 more in Shopify's admin.
        reconcile.compare(LOC, [ShopifyLevel("gid://shopify/InventoryItem/1", qa + 3, qa + 3),
                                ShopifyLevel("gid://shopify/InventoryItem/2", qb, qb)])
        await pilot.press("f6")
        await settle(pilot, app)
        text = flat(app)
        assert "1 differ" in text and "L3SU-BLA-OS" in text and "open" in text
        assert "+3 changed directly in Shopify" in text
        await pilot.press("f5")
        await settle(pilot, app)
        assert type(app.screen).__name__ == "ApprovalScreen"
        await type_text(pilot, "3333", enter=True)
        await settle(pilot, app)
        job = OutboxJob.get(OutboxJob.kind == "inventory_set")
        assert job.payload["quantity"] == qa and job.payload["changeFromQuantity"] == qa + 3
        text = flat(app)
        assert "accepted" in text and f"correction queued (Shopify available {qa + 3} -> {qa})" in text
        await pilot.press("f5")
        await settle(pilot, app)
        assert "already accepted" in flat(app)
    assert ledger.check() == []


async def test_a_branch_without_a_location_says_so(tmp_path, till_db):
    open_shift()
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await pilot.press("ctrl+k")
        await pilot.press("f7")
        await settle(pilot, app)
        assert "LHR1 is not mapped to a Shopify location" in flat(app)
        await pilot.press("escape")
        await pilot.press("f2")  # levels: low, negative, category
        await settle(pilot, app)
        assert type(app.screen).__name__ == "LevelsScreen"
        await pilot.press("f3")
        await settle(pilot, app)
        assert "negative: 0 items" in flat(app)
        await type_text(pilot, "0", enter=True)
        text = flat(app)
        assert "low (<= 0)" in text
        await pilot.press("f5")  # all, then one category
        await pilot.press("f4")
        await settle(pilot, app)
        await pilot.press("down", "down")  # (every category), Cosmetics, Fragrance
        await pilot.press("enter")
        await settle(pilot, app)
        assert "category Fragrance: 1 items" in flat(app) and "ATTAR" in screen_text(app).upper()


async def test_a_shared_location_row_is_corrected_for_this_branch_only(tmp_path, till_db):
    """Two branches on one Shopify location (a single box): F5 corrects this branch's part only,
    named; the other branch's part stays open."""
    from pos_core import adjustments
    from pos_core.models import Staff
    open_shift()
    lhr, other = Branch.get(Branch.code == "LHR1"), Branch.select().where(Branch.code != "LHR1").first()
    for b in (lhr, other):
        b.shopify_location_id = LOC
        b.save()
    a = Variant.get(Variant.sku == "L3SU-BLA-OS")
    a.shopify_inventory_item_id = "gid://shopify/InventoryItem/1"
    a.save()
    manager = Staff.get(Staff.role == "manager")
    for b, delta in ((lhr, -2), (other, -1)):     # never told to Shopify
        adjustments.create(b.id, manager.id, "damaged", [adjustments.AdjustItem(a.id, delta)], "wet", shopify_enabled=False)
    total = ledger.on_hand(a.id, lhr.id) + ledger.on_hand(a.id, other.id)
    reconcile.compare(LOC, [ShopifyLevel("gid://shopify/InventoryItem/1", total + 3, total + 3)])
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await pilot.press("ctrl+k")
        await pilot.press("f7")
        await settle(pilot, app)
        assert "+2 at LHR1: moved there and never told to Shopify" in flat(app)
        await pilot.press("f5")
        await settle(pilot, app)
        await type_text(pilot, "3333", enter=True)
        await settle(pilot, app)
        assert "LHR1's correction queued (-2 in Shopify)" in flat(app)
        job = OutboxJob.get(OutboxJob.kind == "inventory_adjust")
        assert (job.payload["branch"], job.payload["delta"]) == ("LHR1", -2)
        await pilot.press("f5")
        await settle(pilot, app)
        assert "nothing of LHR1's to correct here (accepted)" in flat(app)
        run = reconcile.latest(LOC)
        parts = {p["branch"]: p["accepted"] for p in run.differences[0]["branches"]}
        assert parts == {"LHR1": True, other.code: False}
