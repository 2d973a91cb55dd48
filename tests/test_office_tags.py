"""Price tags for a picked list in the back office (Ctrl+T): an A4 sheet read back, or ZPL."""
from __future__ import annotations

import io

from pos_core import barcodes
from pos_core.models import Barcode, Product, Variant
from pos_office.app import make_app

from office_kit import office_config, screen_text, settle, type_text


async def test_picked_list_becomes_an_a4_sheet(site, database, tmp_path):
    bare = Variant.create(product=Product.create(title="Peshawari Chappal"), sku="PC-42", option_text="Brown / 42",
                          name="Peshawari Chappal - Brown / 42", price_paisa=4490_00)
    app = make_app(office_config(tmp_path, database), export_dir=tmp_path / "exports")
    async with app.run_test(size=(80, 24)) as pilot:
        await type_text(pilot, "3333", enter=True)
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert type(app.screen).__name__ == "TagsScreen"
        await type_text(pilot, "3*PC-42", enter=True)
        await type_text(pilot, "8961234567895", enter=True)  # the kurta, by its barcode
        await type_text(pilot, "0*PC-42", enter=True)
        assert "copies are a whole number" in screen_text(app)
        text = screen_text(app)
        assert "PC-42" in text and "1001" in text
        code = Barcode.get(Barcode.variant == bare.id).code
        assert barcodes.is_valid_ean13(code)
        await pilot.press("f9")
        await settle(pilot)
        assert "4 tags: sheet written" in " ".join(screen_text(app).split())
    sheet, = (tmp_path / "exports").glob("tags-*.pdf")
    from pypdf import PdfReader
    page = PdfReader(io.BytesIO(sheet.read_bytes())).pages[0].extract_text()
    assert page.count("Peshawari Chappal") == 3 and "Rs 4,490.00" in page and "Brown / 42" in page


async def test_tags_go_to_a_zpl_printer_when_one_is_set_up(site, database, tmp_path):
    device = tmp_path / "zebra.bin"
    cfg = office_config(tmp_path, database, labels={"language": "zpl", "device": str(device)})
    app = make_app(cfg, export_dir=tmp_path / "exports")
    async with app.run_test(size=(80, 24)) as pilot:
        await type_text(pilot, "3333", enter=True)
        await pilot.press("ctrl+t")
        await pilot.pause()
        await type_text(pilot, "2*1002", enter=True)
        await pilot.press("f9")
        await settle(pilot)
    data = device.read_text()
    assert data.count("^XA") == 1 and "^PQ2,0,1,Y" in data and "Item 1002" in data
