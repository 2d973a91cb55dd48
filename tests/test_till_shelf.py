"""The till and the shelf: a fabric label scanned at the sale screen, price tags with a preview."""
from __future__ import annotations

from decimal import Decimal

from pos_core import barcodes
from pos_core.config import BarcodeRules
from pos_core.models import Barcode, PosOrder, PosOrderLine, Product, Variant
from pos_tui.app import make_app

from test_till_kit import (barcode_of, flat, make_config, open_shift, screen_text, settle, start_selling,  # noqa: F401
                           till_db, type_text)


def fabric() -> Variant:
    p = Product.create(title="Khaddar Plain")
    return Variant.create(product=p, sku="KHD-PLN", name="Khaddar Plain", price_paisa=1200_00, plu=4321,
                          measure_unit="m", tax_rate_bp=1800, pct_code="5208.1100")


async def test_a_quantity_label_sells_at_its_measured_price(tmp_path, till_db):
    open_shift()
    v = fabric()
    code = barcodes.embedded_code(BarcodeRules(), 4321, quantity=Decimal("2.35"))
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)  # Ayesha, a cashier: no price overrides allowed
        await type_text(pilot, code, enter=True)
        assert "Khaddar Plain 2.350 m" in flat(app) and "2,820.00" in screen_text(app)
        await type_text(pilot, code, enter=True)  # a second cut of cloth is its own line
        assert len(app.cart.lines) == 2
        await pilot.press("f4")  # quantity of a measured line: refused
        await pilot.pause()
        assert "come from its label" in flat(app)
        await type_text(pilot, "2*" + code, enter=True)
        assert "without a quantity" in flat(app) and len(app.cart.lines) == 2
        await pilot.press("f10")
        await pilot.pause()
        await type_text(pilot, "6000", enter=True)
        await settle(pilot, app)
        order = PosOrder.get(PosOrder.kind == "sale")
        lines = list(PosOrderLine.select().where(PosOrderLine.order == order.id))
        assert [(l.variant_id, l.qty, l.unit_price_paisa, l.price_overridden, l.scanned_code) for l in lines] == \
            [(v.id, 1, 2820_00, False, code)] * 2
        assert order.total_paisa == 5640_00


async def test_price_tags_preview_and_print_as_tspl(tmp_path, till_db):
    open_shift()
    p = Product.create(title="Unstitched Lawn")
    bare = Variant.create(product=p, sku="UL-BLUE", name="Unstitched Lawn - Blue", option_text="Blue",
                          price_paisa=1800_00)
    device = tmp_path / "labelprinter.bin"
    cfg = make_config(tmp_path, till_db, labels={"language": "tspl", "device": str(device)})
    app = make_app(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await pilot.press("ctrl+k")
        await pilot.pause()
        await pilot.press("f8")
        await pilot.pause()
        assert type(app.screen).__name__ == "LabelsScreen"
        assert "Printer: TSPL" in flat(app)
        await type_text(pilot, "3*UL-BLUE", enter=True)
        code = Barcode.get(Barcode.variant == bare.id).code  # given a code for its tag
        assert barcodes.is_valid_ean13(code) and code.startswith("21")
        await type_text(pilot, barcode_of("L3SU-BLA-OS"), enter=True)
        text = flat(app)
        assert "2 items, 4 tags" in text
        await pilot.press("up")
        await pilot.pause()
        text = flat(app)  # the preview of the selected tag
        assert "Unstitched Lawn" in text and "Rs 1,800.00" in text and f"[EAN13: {code}]" in text
        await pilot.press("f9")
        await settle(pilot, app)
        assert "4 tags: sent to" in flat(app)
        data = device.read_bytes().decode("cp1252")
        assert data.startswith("SIZE 50 mm,30 mm\r\n") and data.count("PRINT 1,3") == 1
        assert f'"EAN13",' in data and code[:12] in data


async def test_price_tags_without_a_label_printer_say_so(tmp_path, till_db):
    open_shift()
    app = make_app(make_config(tmp_path, till_db, labels={"language": "zpl"}))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await pilot.press("ctrl+k")
        await pilot.press("f8")
        await pilot.pause()
        await type_text(pilot, barcode_of("L3SU-BLA-OS"), enter=True)
        await pilot.press("f9")
        await settle(pilot, app)
        assert "device: expected the label printer" in flat(app)


async def test_receipt_template_with_urdu_prints_raster_and_a_gift_receipt_has_no_prices(tmp_path, till_db):
    from test_till_kit import core_cash_sale
    open_shift()
    Variant.update(urdu_name="لان کا سوٹ").where(Variant.sku == "L3SU-BLA-OS").execute()
    order = core_cash_sale([("L3SU-BLA-OS", 1)])
    cfg = make_config(tmp_path, till_db, receipt={
        "header": ["Gulberg Fashion House", {"ur": "گلبرگ فیشن ہاؤس"}], "footer": [{"ur": "خریداری کا شکریہ"}],
        "urdu_names": True, "return_policy": ["Exchange within 14 days"]})
    app = make_app(cfg)
    printer = tmp_path / "printer.bin"
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert type(app.screen).__name__ == "OrdersScreen"
        await pilot.press("f2")  # preview: Urdu shows as (Urdu) on the console
        await pilot.pause()
        text = screen_text(app)
        assert text.count("(Urdu)") == 2  # header and the item name; the footer is further down
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("f3")  # reprint, through the template
        await settle(pilot, app)
        data = printer.read_bytes()
        assert data.count(b"\x1dv0") == 3 and b"Exchange within 14 days" in data and b"4,990.00" in data
        printer.write_bytes(b"")
        await pilot.press("f6")  # gift receipt
        await settle(pilot, app)
        assert "Gift receipt" in flat(app) and "printed" in flat(app)
        gift = printer.read_bytes()
        assert b"GIFT RECEIPT" in gift and b"4,990.00" not in gift and order.number.encode() in gift


async def test_tags_from_a_received_transfer_and_from_price_changes(tmp_path, till_db):
    from pos_core import audit, transfers
    from pos_core.models import Branch, Staff
    open_shift()
    lhr, khi = Branch.get(Branch.code == "LHR1"), Branch.get(Branch.code == "KHI1")
    imran = Staff.get(Staff.code == "imran")
    kurta = Variant.get(Variant.sku == "L3SU-BLA-OS")
    t = transfers.create(khi.id, lhr.id, imran.id, [transfers.TransferItem(kurta.id, 2)])
    transfers.dispatch(t.number, imran.id, shopify_enabled=False)
    transfers.receive(t.number, imran.id, {kurta.id: 2}, shopify_enabled=False)
    other = Variant.get(Variant.sku == "PLS-002-L")
    audit.log("price_change", None, other.sku, variant_id=other.id, old=249000, new=199000)
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app, "3333")
        await pilot.press("ctrl+k")
        await pilot.press("f3")
        await pilot.pause()
        await type_text(pilot, t.number, enter=True)
        await pilot.pause()
        assert type(app.screen).__name__ == "TransferScreen", type(app.screen).__name__
        await pilot.press("f9")
        await pilot.pause()
        assert type(app.screen).__name__ == "LabelsScreen"
        assert "1 items, 2 tags" in flat(app)
        await pilot.press("f4")
        await pilot.pause()
        await pilot.press("enter")  # 7 days
        await settle(pilot, app)
        assert "1 item(s) changed price" in flat(app) and "2 items, 3 tags" in flat(app)


async def test_tags_for_the_last_delivery_of_a_purchase_order(tmp_path, till_db):
    from pos_core import purchasing
    from pos_core.models import Branch, Staff
    open_shift()
    imran = Staff.get(Staff.code == "imran")
    lhr = Branch.get(Branch.code == "LHR1")
    p = Product.create(title="Unstitched Khaddar")
    bare = Variant.create(product=p, sku="UK-GRY", name="Unstitched Khaddar - Grey", option_text="Grey",
                          price_paisa=2200_00)
    po = purchasing.create(lhr.id, purchasing.supplier("Faisalabad Mills").id, imran.id,
                           [purchasing.OrderItem(bare.id, 10, Decimal("1100"))])
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app, "3333")
        app.open("purchase_order", po.number)
        await pilot.pause()
        await pilot.press("f9")
        await settle(pilot, app)
        assert "nothing has been received" in flat(app)
        purchasing.receive(po.number, imran.id, [purchasing.Delivered(bare.id, 6)], shopify_enabled=False)
        await pilot.press("f9")
        await settle(pilot, app)
        assert type(app.screen).__name__ == "LabelsScreen"
        assert "1 items, 6 tags" in flat(app) and "goods receipt" in flat(app)
        assert barcodes.is_valid_ean13(Barcode.get(Barcode.variant == bare.id).code)


async def test_a_parked_measured_line_comes_back_at_its_label_price(tmp_path, till_db):
    open_shift()
    v = fabric()
    code = barcodes.embedded_code(BarcodeRules(), 4321, quantity=Decimal("2.35"))
    app = make_app(make_config(tmp_path, till_db))
    async with app.run_test(size=(80, 24)) as pilot:
        await start_selling(pilot, app)
        await type_text(pilot, code, enter=True)
        await pilot.press("f8")
        await settle(pilot, app)
        assert app.cart.lines == []
        await pilot.press("f9")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        [line] = app.cart.lines
        assert (line.variant_id, line.scanned_code, line.price_paisa) == (v.id, code, 2820_00)
        assert "Khaddar Plain 2.350 m" in flat(app)
