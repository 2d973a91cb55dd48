"""The online orders list (Ctrl+W) and stock lookup (Ctrl+K) in the till."""
from __future__ import annotations

from pos_core import online_orders
from pos_core.models import Variant
from pos_tui.app import make_app

from test_till_kit import make_config, open_shift, screen_text, start_selling, till_db, type_text  # noqa: F401


def cod_order(name, phone, sku, qty=1):
    v = Variant.get(Variant.sku == sku)
    node = {"id": f"gid://shopify/Order/{name.strip('#')}", "name": name, "createdAt": "2026-11-23T09:00:00Z",
            "updatedAt": "2026-11-23T09:00:00Z", "paymentGatewayNames": ["Cash on Delivery (COD)"], "tags": [],
            "displayFinancialStatus": "PENDING", "displayFulfillmentStatus": "UNFULFILLED",
            "currentTotalPriceSet": {"shopMoney": {"amount": "4990.00"}},
            "customer": {"displayName": "Hina Baig", "defaultPhoneNumber": {"phoneNumber": phone}},
            "lineItems": {"nodes": [{"id": f"L-{name}", "sku": sku, "name": v.name, "quantity": qty,
                                     "currentQuantity": qty, "unfulfilledQuantity": qty}]}}
    return online_orders.record_from_shopify(node, ("Cash on Delivery (COD)",))[0]


async def test_online_orders_list_filters_and_searches(tmp_path, till_db):
    cod_order("#1001", "+923001234567", "L3SU-BLA-OS")
    cod_order("#1002", "+923214567890", "ELK-MAR-L")
    online_orders.confirm(online_orders.get("#1002").id, 1, shopify_enabled=False)
    open_shift()
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await pilot.press("ctrl+w")
        await pilot.pause()
        text = screen_text(app)
        assert "#1001" in text and "#1002" in text and "to confirm" in text and "03001234567" in text
        await type_text(pilot, "0321 4567890", enter=True)
        text = screen_text(app)
        assert "#1002" in text and "#1001" not in text
        await pilot.press("ctrl+u")
        await type_text(pilot, "", enter=True)
        for _ in range(2):  # all -> NEW -> TO_CONFIRM
            await pilot.press("f2")
        await pilot.pause()
        text = screen_text(app)
        assert "#1001" in text and "#1002" not in text and "state to_confirm" in text
        await pilot.press("escape")
        await pilot.pause()
        assert type(app.screen).__name__ == "SaleScreen"


async def test_stock_lookup_shows_every_branch_and_the_history(tmp_path, till_db):
    open_shift()
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await pilot.press("ctrl+k")
        await pilot.pause()
        await type_text(pilot, "PLS-001-M", enter=True)
        text = screen_text(app)
        assert "LHR1" in text and "KHI1" in text and "opening" in text and "(this branch)" in text
        await type_text(pilot, "NOPE-404", enter=True)
        assert "no item has this barcode or SKU" in screen_text(app)


def test_every_key_on_every_screen_has_an_id_and_is_listed_by_f1():
    from pos_tui.screens.help import key_rows
    rows = list(key_rows())
    assert {title for title, *_ in rows} >= {"Sale", "Online order", "Transfers", "Stock take", "Reconciliation"}
    assert [r for r in rows if not r[1]] == []
