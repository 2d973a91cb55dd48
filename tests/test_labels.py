"""Price tags: which labels (goods receipt, transfer, price change, picked list), and their TSPL, ZPL,
ESC/POS and A4 PDF output, checked against the printers' documented command syntax."""
from __future__ import annotations

import io
import re
from decimal import Decimal as D

import pytest

from pos_core import barcodes, purchasing, shelf_labels, transfers
from pos_core.errors import InvalidInput, NotFound
from pos_core.models import Barcode, Product, Variant
from printers import labels
from printers.ops import Barcode as BarcodeOp, Cut, Text

LAWN = labels.Label("Lawn 3pc Suit", "Red / M", D("2500"), barcodes.in_store_code("21", 1), "EAN13", 2, D("1999"))
KURTA = labels.Label('Kurta "white" ^~_', "", D("1250.50"), "KUR-1", "CODE128")

# TSPL/TSPL2 Programming Language manual (TSC): the commands and parameter forms we use.
TSPL_SYNTAX = {
    "SIZE": r"SIZE \d+(\.\d+)? mm,\d+(\.\d+)? mm",
    "GAP": r"GAP \d+(\.\d+)? mm,\d+(\.\d+)? mm",
    "DIRECTION": r"DIRECTION [01]",
    "REFERENCE": r"REFERENCE \d+,\d+",
    "CODEPAGE": r"CODEPAGE (437|850|852|860|863|865|857|1250|1251|1252|1253|1254|UTF-8)",
    "CLS": r"CLS",
    # TEXT X,Y,"font",rotation,x-multiplication,y-multiplication,"content"
    "TEXT": r'TEXT \d+,\d+,"[1-8]",(0|90|180|270),([1-9]|10),([1-9]|10),"([^"\\]|\\\["\])*"',
    # BAR X,Y,width,height
    "BAR": r"BAR \d+,\d+,\d+,\d+",
    # BARCODE X,Y,"code type",height,human readable,rotation,narrow,wide,"code"
    "BARCODE": r'BARCODE \d+,\d+,"(128|EAN13|EAN8|39|128M)",\d+,[0-3],(0|90|180|270),\d+,\d+,"[^"]+"',
    "PRINT": r"PRINT \d+(,\d+)?",
}


def check_tspl(data: bytes) -> list[list[str]]:
    assert data.endswith(b"\r\n") and b"\n" not in data.replace(b"\r\n", b"")  # CR LF ends every command
    lines = data.decode("cp1252").split("\r\n")[:-1]
    for line in lines:
        cmd = line.split(" ", 1)[0]
        assert cmd in TSPL_SYNTAX, line
        assert re.fullmatch(TSPL_SYNTAX[cmd], line), line
    assert [l.split()[0] for l in lines[:2]] == ["SIZE", "GAP"]
    jobs, current = [], None
    for line in lines:
        if line == "CLS":
            current = []
        elif line.startswith("PRINT"):
            jobs.append(current + [line])
            current = None
        elif current is not None:
            current.append(line)
    return jobs


def test_tspl_follows_the_manual_and_prints_each_copy():
    jobs = check_tspl(labels.tspl([LAWN, KURTA], labels.Stock(50, 30, 2)))
    assert len(jobs) == 2
    lawn, kurta = jobs
    assert lawn[-1] == "PRINT 1,2" and kurta[-1] == "PRINT 1,1"
    assert 'BARCODE 16,' in lawn[-2] and f'"EAN13"' in lawn[-2] and lawn[-2].endswith(f'"{LAWN.code[:12]}"')
    assert any('"Rs 1,999.00"' in l for l in lawn) and any('"Was Rs 2,500.00"' in l for l in lawn)
    assert any(l.startswith("BAR ") for l in lawn)  # the old price struck through
    assert '"128"' in kurta[-2] and kurta[-2].endswith('"KUR-1"')
    assert any('\\["]white\\["]' in l for l in kurta)  # a quote in the name is escaped, not ending the string


def test_tspl_everything_stays_on_the_label():
    stock = labels.Stock(50, 30, 2)
    for line in labels.tspl([LAWN], stock).decode().split("\r\n"):
        if line.startswith(("TEXT", "BARCODE")):
            x, y = map(int, line.split(" ", 1)[1].split(",")[:2])
            assert x < stock.dots(50) and y < stock.dots(30) - 20


# ZPL II Programming Guide (Zebra): field and format commands used.
ZPL_COMMAND = re.compile(r"\^(XA|XZ|CI\d+|PW\d+|LL\d+|LH\d+,\d+|FO\d+,\d+|A0N,\d+,\d+|BY\d|BEN,\d+,[YN],[YN]|"
                         r"BCN,\d+,[YN],[YN],[YN]|GB\d+,\d+,\d+|FH_|FD[^\^]*|FS|PQ\d+,\d+,\d+,[YN])")


def check_zpl(text: str) -> list[str]:
    formats = re.findall(r"\^XA(.*?)\^XZ", text, re.S)
    assert text.count("^XA") == text.count("^XZ") == len(formats)
    for f in formats:
        rest = f.replace("\n", "")
        pos = 0
        while pos < len(rest):
            m = ZPL_COMMAND.match(rest, pos)
            assert m, f"not ZPL at {rest[pos:pos + 20]!r}"
            pos = m.end()
        assert rest.count("^FD") == rest.count("^FS") - rest.count("^GB")  # every field closed
        assert "~" not in re.sub(r"_[0-9A-F]{2}", "", rest)  # no stray control prefix in the data
    return formats


def test_zpl_follows_the_guide_and_escapes_control_characters():
    lawn, kurta = check_zpl(labels.zpl([LAWN, KURTA], labels.Stock(50, 30)))
    assert "^PW400" in lawn and "^LL240" in lawn and "^CI28" in lawn
    assert f"^BEN,72,Y,N^FD{LAWN.code[:12]}^FS" in lawn and "^PQ2,0,1,Y" in lawn
    assert "^BCN," in kurta and "^FDKUR-1^FS" in kurta
    # ^ ~ and _ inside data go as _5E _7E _5F under ^FH_
    assert '^FH_^FDKurta "white" _5E_7E_5F^FS' in kurta


def test_escpos_labels_print_every_copy_with_its_barcode():
    ops = labels.escpos_ops([LAWN, KURTA], width=32)
    assert ops.count(BarcodeOp(LAWN.code, "EAN13")) == 2 and ops.count(BarcodeOp("KUR-1", "CODE128")) == 1
    assert ops.count(Cut()) == 3
    assert all(len(o.text) <= (16 if o.double else 32) for o in ops if isinstance(o, Text))
    from printers._escpos_env import load_escpos
    from printers.escpos_out import render
    p = load_escpos().Dummy()
    render(ops, p, width=32)
    assert b"Lawn 3pc Suit" in p.output and b"KUR-1" in p.output


def test_pdf_sheet_reads_back_with_every_label_on_the_right_number_of_pages():
    from pypdf import PdfReader
    many = [LAWN, labels.Label("Khussa", "Gold / 38", D("3200"), "KHU-38", "CODE128", copies=21)]
    data = labels.pdf_sheet(many)
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) == labels.pages_needed(many) == 1  # 2 + 21 = 23 labels, 24 per page
    text = reader.pages[0].extract_text()
    assert text.count("Khussa") == 21 and text.count("Lawn 3pc Suit") == 2
    assert text.count("Rs 3,200.00") == 21 and "Rs 1,999.00" in text and "Was Rs 2,500.00" in text
    assert len(reader.pages[0].images) == 2  # one image per distinct code, stored once ...
    drawn = reader.pages[0].get_contents().get_data().count(b" Do")
    assert drawn == 23  # ... and drawn on every label
    more = labels.pdf_sheet([labels.Label("Khussa", "", D("1"), "K", copies=25)])
    assert len(PdfReader(io.BytesIO(more)).pages) == 2


def test_bad_labels_are_refused_clearly():
    with pytest.raises(ValueError, match="not an EAN-13"):
        labels.Label("x", "", D("1"), "12345", "EAN13")
    with pytest.raises(TypeError):
        labels.Label("x", "", 1.5, "A")
    with pytest.raises(ValueError, match="printable ASCII"):
        labels.Label("x", "", D("1"), "ABC\x01")


# --- which labels (database) -------------------------------------------------------------------

def test_goods_receipt_gives_one_label_per_unit_and_codes_to_items_without(site):
    p = Product.create(title="Unstitched Lawn")
    bare = Variant.create(product=p, sku="UL-1", name="Unstitched Lawn - Blue", option_text="Blue", price_paisa=180000)
    sup = purchasing.supplier("Faisalabad Mills")
    po = purchasing.create(site.lhr.id, sup.id, site.manager.id,
                           [purchasing.OrderItem(bare.id, 6, D("900")), purchasing.OrderItem(site.kurta.id, 3, D("50"))])
    grn = purchasing.receive(po.number, site.manager.id, [purchasing.Delivered(bare.id, 5), purchasing.Delivered(site.kurta.id, 3)],
                             shopify_enabled=False)
    items = shelf_labels.for_goods_receipt(grn.number)
    assert [(i.sku, i.copies) for i in items] == [("UL-1", 5), ("1001", 3)]
    assert items[0].name == "Unstitched Lawn" and items[0].option == "Blue" and items[0].price_paisa == 180000
    assert barcodes.is_valid_ean13(items[0].code) and items[0].symbology == "EAN13"
    assert Barcode.get(Barcode.variant == bare.id).code == items[0].code
    assert items[1].code == "8961234567895"
    with pytest.raises(NotFound):
        shelf_labels.for_goods_receipt("GRN-NOPE")


def test_transfer_labels_count_what_arrived(site):
    t = transfers.create(site.lhr.id, site.khi.id, site.manager.id,
                         [transfers.TransferItem(site.kurta.id, 4), transfers.TransferItem(site.suit.id, 2)])
    with pytest.raises(InvalidInput, match="draft"):
        shelf_labels.for_transfer_received(t.number)
    transfers.dispatch(t.number, site.manager.id, shopify_enabled=False)
    transfers.receive(t.number, site.manager.id, {site.kurta.id: 3, site.suit.id: 2}, shopify_enabled=False)
    assert [(i.sku, i.copies) for i in shelf_labels.for_transfer_received(t.number)] == [("1001", 3), ("1002", 2)]


def test_price_change_and_picked_lists(site):
    items = shelf_labels.for_price_change([site.suit.id, site.kurta.id, site.suit.id], copies={site.kurta.id: 4})
    assert [(i.sku, i.copies) for i in items] == [("1002", 1), ("1001", 4)]
    picked = shelf_labels.for_variants([(site.book.id, 2)], sale_prices={site.book.id: 40000})
    lb, = labels.from_items(picked)
    assert lb.sale_price == D("400") and lb.price == D("500") and lb.copies == 2
    with pytest.raises(InvalidInput, match="below the price"):
        shelf_labels.for_variants([(site.book.id, 1)], sale_prices={site.book.id: 60000})
    with pytest.raises(InvalidInput, match="copies must be"):
        shelf_labels.for_variants([(site.book.id, 0)])
    with pytest.raises(NotFound):
        shelf_labels.for_variants([(999999, 1)])


def test_price_changes_from_the_catalog_import_become_a_tag_list(site):
    from pos_core.catalog_import import ImportStats, upsert_products, upsert_variants
    ids = upsert_products([{"id": "gid://shopify/Product/5", "title": "Kurta", "productType": "Men"}], ImportStats())
    row = {"id": "gid://shopify/ProductVariant/51", "sku": "KRT-1", "price": "2500.00", "title": "Default Title",
           "product": "gid://shopify/Product/5", "productTitle": "Kurta"}
    upsert_variants([row], ids, ImportStats())
    assert shelf_labels.price_changes() == []  # a new item is not a price change
    upsert_variants([{**row, "price": "2200.00"}], ids, ImportStats())
    upsert_variants([{**row, "price": "2200.00"}], ids, ImportStats())  # unchanged: no second event
    v = Variant.get(Variant.sku == "KRT-1")
    assert shelf_labels.price_changes() == [v.id]
    items = shelf_labels.for_price_change(shelf_labels.price_changes())
    assert [(i.sku, i.price_paisa, i.copies) for i in items] == [("KRT-1", 220000, 1)]
    from pos_core.models import AuditEvent
    ev = AuditEvent.get(AuditEvent.action == "price_change")
    assert ev.detail == {"variant_id": v.id, "old": 250000, "new": 220000}
    with pytest.raises(InvalidInput):
        shelf_labels.price_changes(0)


def test_send_to_a_network_label_printer_a_device_file_and_a_pdf_folder(tmp_path):
    import socket
    import threading
    got = bytearray()
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve():
        conn, _ = server.accept()
        with conn:
            while chunk := conn.recv(65536):
                got.extend(chunk)
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    out = labels.parse_output({"language": "zpl", "device": f"127.0.0.1:{port}"})
    assert "sent to 127.0.0.1" in labels.send(out, [LAWN])
    t.join(5)
    server.close()
    check_zpl(got.decode("utf-8"))
    dev = tmp_path / "lp1"
    assert "TSPL" in labels.send(labels.parse_output({"language": "tspl", "device": str(dev)}), [KURTA])
    check_tspl(dev.read_bytes())
    done = labels.send(labels.parse_output({"language": "pdf", "dir": str(tmp_path / "sheets")}), [LAWN], name="grn-1")
    assert (tmp_path / "sheets" / "grn-1.pdf").read_bytes().startswith(b"%PDF") and "1 page" in done
    with pytest.raises(ValueError, match="no receipt printer"):
        labels.send(labels.parse_output({}), [LAWN], None)
    with pytest.raises(OSError):
        labels.send(labels.parse_output({"language": "zpl", "device": "127.0.0.1:1"}), [LAWN])


def test_a_chains_branch_does_not_make_barcodes(site):
    from types import SimpleNamespace
    p = Product.create(title="Bare")
    bare = Variant.create(product=p, sku="BARE-1", name="Bare", price_paisa=100)
    branch_cfg = SimpleNamespace(hq=SimpleNamespace(role="branch"))
    assert not shelf_labels.may_assign(branch_cfg) and shelf_labels.may_assign(SimpleNamespace())
    with pytest.raises(InvalidInput, match="head office gives it one"):
        shelf_labels.for_variants([(bare.id, 1)], assign=shelf_labels.may_assign(branch_cfg))
    assert not Barcode.select().where(Barcode.variant == bare.id).exists()
    assert [i.sku for i in shelf_labels.for_variants([(site.kurta.id, 1)], assign=False)] == ["1001"]
