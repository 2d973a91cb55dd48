"""Recent orders with their sync status, reprint, refund, exchange, the sync screen and receipts."""
from __future__ import annotations

import re

from pos_core import outbox
from pos_core.models import AuditEvent, OutboxJob, PosOrder, StockLevel, Variant
from pos_tui.app import make_app
from pos_tui.receipts import build_receipt

from test_till_kit import (core_cash_sale, flat, make_config, open_shift, screen_text, settle, staff,  # noqa: F401
                           start_selling, till_db, type_text)


def on_hand(sku: str) -> int:
    return StockLevel.get((StockLevel.variant == Variant.get(Variant.sku == sku).id) & (StockLevel.branch == 1)).on_hand


async def test_orders_list_search_statuses_and_reprint(tmp_path, till_db):
    open_shift()
    sale = core_cash_sale([("L3SU-BLA-OS", 1)])
    other = core_cash_sale([("ELK-MAR-L", 2)])
    outbox.enqueue(outbox.FBR, "invoice", {"x": 1}, "pos_order", other.uid)
    OutboxJob.update(status="FAILED", last_error="FBR said: invalid POSID").execute()
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await pilot.press("ctrl+o")
        await pilot.pause()
        text = screen_text(app)
        assert sale.number in text and other.number in text and "FAILED" in text
        await type_text(pilot, sale.number[-6:], enter=True)
        text = screen_text(app)
        assert sale.number in text and other.number not in text and "1 orders" in text
        await pilot.press("f3")
        await settle(pilot, app)
        printed = (tmp_path / "printer.bin").read_bytes()
        assert b"REPRINT" in printed and sale.number.encode() in printed
        assert b"\x1bp" not in printed  # a reprint never opens the drawer
        await pilot.press("f2")
        await pilot.pause()
        assert "Lawn 3pc Suit" in app.screen.text


async def test_refund_one_line_needs_a_supervisor_and_restocks(tmp_path, till_db):
    open_shift()
    sale = core_cash_sale([("L3SU-BLA-OS", 2), ("ELK-MAR-L", 1)])
    before = on_hand("L3SU-BLA-OS")
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await pilot.press("ctrl+o")
        await pilot.press("f4")
        await pilot.pause()
        assert type(app.screen).__name__ == "RefundScreen"
        await pilot.press("enter")
        await pilot.press("ctrl+u")
        await type_text(pilot, "3", enter=True)
        assert "enter 0 to 2" in screen_text(app)
        await pilot.press("ctrl+u")
        await type_text(pilot, "1", enter=True)
        assert "Back to customer: Rs 4,990.00" in screen_text(app) and "reason: F6" in screen_text(app)
        await pilot.press("f10")                       # no reason yet: the till asks for one first
        await pilot.pause()
        assert type(app.screen).__name__ == "PickScreen" and "Wrong size" in screen_text(app)
        await pilot.press("down", "enter")             # Damaged, Wrong size
        await pilot.pause()
        assert "(optional, Enter to skip)" in screen_text(app)
        await pilot.press("enter")
        await pilot.pause()
        assert type(app.screen).__name__ == "ApprovalScreen"
        await type_text(pilot, "2222", enter=True)
        await settle(pilot, app)
        refund = PosOrder.get(PosOrder.kind == "refund")
        assert refund.original_id == sale.id and refund.total_paisa == 499000
        assert (refund.return_reason, refund.return_note) == ("wrong_size", "")
        assert [(l.sku, l.qty, l.restock) for l in refund.lines] == [("L3SU-BLA-OS", 1, True)]
        assert on_hand("L3SU-BLA-OS") == before + 1
        assert AuditEvent.select().count() >= 1
        # The refund's receipt: the cash going back, and no "Change 0.00" under it.
        from pos_tui.receipts import receipt_text
        text = receipt_text(app.cfg, refund.uid)
        assert "Original invoice" in text and "Change" not in text
        assert re.search(r"^Reason: +Wrong size$", text, re.M)
        assert re.search(r"^Change +[\d,.]+$", receipt_text(app.cfg, sale.uid), re.M)
        assert type(app.screen).__name__ == "OrdersScreen"
        assert b"REFUND" in (tmp_path / "printer.bin").read_bytes()


async def test_refund_by_a_supervisor_without_restock_to_store_credit(tmp_path, till_db):
    open_shift()
    from pos_core import customers
    cust = customers.get_or_create("03211234567", "Hina")
    sale = core_cash_sale([("L3SU-BLA-OS", 1)])
    sale.customer = cust
    sale.save()
    before = on_hand("L3SU-BLA-OS")
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app, "2222")
        await pilot.press("ctrl+o")
        await type_text(pilot, "0321-1234567", enter=True)
        assert sale.number in screen_text(app)
        await pilot.press("f4")
        await pilot.press("enter")
        await type_text(pilot, "", enter=True)        # the default: everything left
        await pilot.press("f3", "f4", "f4")            # no restock; refund by store credit
        assert "refund by: store credit" in screen_text(app) and "NO" in screen_text(app)
        await pilot.press("f6", "down", "down", "down", "down", "enter")   # Other: needs a few words
        await type_text(pilot, "", enter=True)
        assert "needs a few words" in screen_text(app)
        await type_text(pilot, "stain on the sleeve", enter=True)
        assert "reason: Other (stain on the sleeve)" in screen_text(app)
        await pilot.press("f10")
        await settle(pilot, app)
        refund = PosOrder.get(PosOrder.kind == "refund")
        assert (refund.return_reason, refund.return_note) == ("other", "stain on the sleeve")
        assert [p.method for p in refund.payments] == ["store_credit"]
        assert refund.customer.store_credit_paisa == 499000
        assert on_hand("L3SU-BLA-OS") == before


async def test_exchange_a_kurti_for_a_dearer_suit_customer_pays_the_difference(tmp_path, till_db):
    open_shift()
    sale = core_cash_sale([("ELK-MAR-L", 1)])              # 3,450
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app, "2222")
        await pilot.press("ctrl+o")
        await pilot.press("f5")
        await pilot.pause()
        assert type(app.screen).__name__ == "ExchangeScreen"
        await pilot.press("ctrl+n")
        await type_text(pilot, "", enter=True)
        await pilot.pause()
        assert app.focused.id == "new-code"
        await type_text(pilot, "L3SU-BLA-OS", enter=True)  # 4,990
        assert "Net Rs 1,540.00 customer pays" in screen_text(app)
        await pilot.press("f10")
        await pilot.pause()
        await pilot.press("down", "down", "enter")     # Changed mind
        await pilot.pause()
        await type_text(pilot, "wants the suit", enter=True)
        assert type(app.screen).__name__ == "PaymentScreen"
        await type_text(pilot, "2000", enter=True)
        await settle(pilot, app)
        credit = PosOrder.get(PosOrder.kind == "refund")
        new = PosOrder.get((PosOrder.kind == "sale") & (PosOrder.id != sale.id))
        assert credit.exchange_uid == new.exchange_uid and credit.exchange_uid
        assert (credit.return_reason, credit.return_note) == ("changed_mind", "wants the suit")
        assert sorted((p.method, p.amount_paisa) for p in new.payments) == [("cash", 154000), ("exchange", 345000)]
        assert new.change_paisa == 46000
        assert b"EXCHANGE" in (tmp_path / "printer.bin").read_bytes()


async def test_sync_screen_lists_failures_and_retry_needs_a_supervisor(tmp_path, till_db):
    open_shift()
    sale = core_cash_sale([("L3SU-BLA-OS", 1)])
    job = outbox.enqueue(outbox.SHOPIFY, "inventory_adjust", {"delta": -1}, "pos_order", sale.uid)
    OutboxJob.update(status="FAILED", last_error="Shopify: location not found").execute()
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        assert "1 FAILED" in screen_text(app)
        await pilot.press("ctrl+y")
        await pilot.pause()
        text = screen_text(app)
        assert sale.number in text and "FAILED" in text and "location not found" in text
        await pilot.press("f5")
        await pilot.pause()
        assert type(app.screen).__name__ == "ApprovalScreen"
        await type_text(pilot, "2222", enter=True)
        await pilot.pause()
        assert OutboxJob.get_by_id(job.id).status == "PENDING"
        assert "retried by Sana Malik" in screen_text(app)


def test_receipt_with_fbr_on_shows_the_fee_taxes_and_pending_number(tmp_path, till_db):
    open_shift()
    sale = core_cash_sale([("L3SU-BLA-OS", 1), ("ML-BLA-OS", 1)])
    cfg = make_config(tmp_path, till_db, fbr={"mode": "sandbox", "posid": "123456"})
    sale.service_fee_paisa = 100
    receipt = build_receipt(sale, cfg)
    assert receipt.fbr.offline and receipt.fbr.fiscal_number is None and receipt.fbr.test_mode
    assert receipt.totals.service_fee is not None and str(receipt.totals.service_fee) == "1"
    assert [t.label for t in receipt.totals.taxes] == ["Sales tax 18% incl."]
    assert receipt.tenders[0].method == "Cash"
    off = build_receipt(sale, make_config(tmp_path, till_db))
    assert off.fbr is None


async def test_the_recent_orders_list_follows_the_agent(tmp_path, till_db, monkeypatch):
    """A refund shown PENDING turns SYNCED on the open list once the agent has sent it, without
    leaving and coming back."""
    from pos_tui.screens.orders import OrdersScreen
    monkeypatch.setattr(OrdersScreen, "STATUS_REFRESH_S", 0.2)
    open_shift()
    sale = core_cash_sale([("L3SU-BLA-OS", 1)])
    job = outbox.enqueue(outbox.SHOPIFY, "inventory_adjust", {"x": 1}, "pos_order", sale.uid)
    fbr = outbox.enqueue(outbox.FBR, "invoice", {"x": 1}, "pos_order", sale.uid)
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await pilot.press("ctrl+o")
        await settle(pilot, app)
        row = next(line for line in screen_text(app).splitlines() if sale.number in line)
        assert row.count("PENDING") == 2
        # the agent, in its own process, syncs both jobs
        OutboxJob.update(status="SYNCED").where(OutboxJob.id == job.id).execute()
        OutboxJob.update(status="FAILED", last_error="FBR said: invalid POSID").where(OutboxJob.id == fbr.id).execute()
        for _ in range(30):
            await pilot.pause(0.1)
            await settle(pilot, app)
            row = next(line for line in screen_text(app).splitlines() if sale.number in line)
            if "SYNCED" in row and "FAILED" in row:
                break
        assert "SYNCED" in row and "FAILED" in row and "PENDING" not in row
        assert type(app.screen).__name__ == "OrdersScreen"
