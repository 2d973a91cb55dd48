"""Urdu drawn by Pillow+raqm with Debian's Noto fonts, its ESC/POS raster, and receipt templates."""
from __future__ import annotations

import time
from decimal import Decimal as D
from pathlib import Path

import pytest

from printers import layout as L, template, urdu
from printers.ops import Barcode, DrawerKick, Image, Text, Urdu
from printers.preview import preview
from printers.receipt import (Customer, FbrBlock, PointsLine, Receipt, ReceiptLine, TaxLine, Tender,
                              Totals)

FIXTURES = Path(__file__).parent / "fixtures"
REFERENCE = FIXTURES / "urdu_receipt_576.png"
# Ten lines a Lahore clothing shop prints: shop name, items with amounts, thanks.
TEN_LINES = [
    urdu.Line("گلبرگ فیشن ہاؤس", align="center"),
    urdu.Line("مین بلیوارڈ، گلبرگ، لاہور", align="center"),
    urdu.Line("لان کا سوٹ تین پیس", "2,500.00"),
    urdu.Line("کرتا سفید کاٹن", "1,250.00"),
    urdu.Line("کھدر سادہ ۲ میٹر", "2,820.00"),
    urdu.Line("دوپٹہ شیفون", "950.00"),
    urdu.Line("کل رقم", "7,520.00"),
    urdu.Line("نقد", "8,000.00"),
    urdu.Line("بقایا", "480.00"),
    urdu.Line("خریداری کا شکریہ", align="center"),
]
TOLERANCE = 0.005  # share of pixels that may differ from the stored image (font hinting, versions)


def _share_differing(a, b) -> float:
    return urdu.differing_pixels(a, b) / (a.width * a.height)


def test_ten_urdu_lines_match_the_stored_reference_image():
    img = urdu.render_lines(TEN_LINES, dots=576, font="nastaliq")
    assert img.size[0] == 576 and img.mode == "1"
    if not REFERENCE.exists():  # first run on a new font version: write it, then look at it
        img.save(REFERENCE)
        pytest.fail(f"wrote a new reference {REFERENCE}; check it by eye and commit it")
    from PIL import Image as PILImage
    ref = PILImage.open(REFERENCE).convert("1")
    share = _share_differing(img, ref) if ref.size == img.size else 1.0
    assert share <= TOLERANCE, (
        f"{share:.2%} of pixels differ from {REFERENCE.name} (made with Pillow 13.0, libraqm 0.7.0, "
        "fonts-noto-extra 20201225); after a font or Pillow upgrade, look at a new render and replace it")
    # and it is really ink where the text is: a blank or unshaped image would differ a lot
    blank = PILImage.new("1", img.size, 1)
    assert _share_differing(img, blank) > 0.03


def test_shaping_is_real_joined_letters_are_narrower_than_isolated_ones():
    # With raqm the letters of "پاکستان" join; drawn one by one (isolated forms) they are wider.
    font = urdu._font("naskh", 30)
    joined = font.getlength("لکھنؤ", direction="rtl", language="ur")
    isolated = sum(font.getlength(ch, direction="rtl", language="ur") for ch in "لکھنؤ")
    assert joined < isolated * 0.9


def test_escpos_raster_decodes_back_to_the_same_image():
    img = urdu.render_lines(TEN_LINES[:4], dots=384, font="naskh", size=22)
    data = urdu.raster(img)
    assert data.startswith(b"\x1dv0")  # GS v 0, python-escpos' bitImageRaster
    back = urdu.decode_raster(data)
    assert back.size == img.size and urdu.differing_pixels(back, img) == 0


def test_ten_line_receipt_renders_within_300_ms():
    urdu.render_lines(TEN_LINES[:1])  # fonts load once per process
    t0 = time.perf_counter()
    img = urdu.render_lines(TEN_LINES, dots=576)
    urdu.raster(img)
    assert time.perf_counter() - t0 < 0.3


def test_missing_font_is_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.setattr(urdu, "FONT_DIRS", (str(tmp_path),))
    monkeypatch.setenv("POS_URDU_FONT_DIR", str(tmp_path))
    with pytest.raises(urdu.UrduError, match="apt-get install fonts-noto-extra"):
        urdu.check_available("nastaliq")
    with pytest.raises(template.TemplateError) as e:
        template.parse({"footer": [{"ur": "شکریہ"}]})
    assert "\n" not in str(e.value) and "fonts-noto-extra" in str(e.value)


def test_escpos_output_prints_consecutive_urdu_ops_as_one_image():
    from printers._escpos_env import load_escpos
    from printers.escpos_out import render
    p = load_escpos().Dummy()
    ops = [Text("Gulberg Fashion House"), Urdu("گلبرگ فیشن ہاؤس", align="center"),
           Urdu("کرتا", left="1,250.00"), Text("Thank you")]
    render(ops, p, width=48)
    out = p.output
    assert out.count(b"\x1dv0") == 1 and b"Gulberg Fashion House" in out and b"Thank you" in out
    assert urdu.decode_raster(out).size == (576, int(26 * 2.0) * 2)


# --- templates ------------------------------------------------------------------------------

def _receipt(**kw) -> Receipt:
    lines = (ReceiptLine("Lawn 3pc Suit", "Red / M", 2, D("2500"), D("0"), D("5000"), urdu_name="لان کا سوٹ"),
             ReceiptLine("Khaddar Plain 2.350 m", "", 1, D("2820"), D("100"), D("2720")))
    base = dict(
        title="SALE RECEIPT", header_lines=("Gulberg Fashion House", "Main Boulevard"), number="LHR1-C1-000123",
        when="07-12-2026 19:05", branch="LHR1", counter="C1", cashier="Ayesha",
        customer=Customer("Sana Khan", "+923001234567"), lines=lines,
        totals=Totals(D("7720"), D("0"), (TaxLine("Sales tax 18% incl.", D("1177.63")),), D("1"), D("7721")),
        tenders=(Tender("Cash", D("8000")),), change=D("279"), footer_lines=("Thank you",),
        fbr=FbrBlock("123456ABC", logo_path=None), open_drawer=True, savings=D("100"),
        points=PointsLine(earned=77, redeemed=0, balance=1077), salesperson="Bilal",
        promotions=[("Lawn week 10%", D("100"))])
    base.update(kw)
    return Receipt(**base)


# What each optional block puts on paper (a piece of text only it prints).
MARKS = {"cashier": "Ayesha", "salesperson": "Bilal", "customer": "Sana Khan", "promotions": "Lawn week",
         "savings": "You saved", "points": "Points balance", "fbr": "FBR Invoice #", "return_policy": "14 days",
         "footer": "Thank you", "header": "Gulberg Fashion", "title": "SALE RECEIPT"}
OPTIONAL = [b for b in template.BLOCKS if b not in template.REQUIRED]


@pytest.mark.parametrize("width", [32, 48])
def test_every_block_on_and_each_one_off_at_both_widths(width, tmp_path):
    from PIL import Image as PILImage
    logo = tmp_path / "logo.png"
    PILImage.new("RGB", (1000, 200), "white").save(logo)
    raw = {"return_policy": ["Exchange within 14 days with this receipt"], "logo": str(logo)}
    full = template.parse(raw, printer_width=width)
    ops = template.layout(_receipt(), full)
    text = preview(ops, width)
    for block, mark in MARKS.items():
        assert mark in text, block
    assert any(isinstance(o, Image) for o in ops) and isinstance(ops[0], DrawerKick)
    assert all(len(o.text) <= (width // 2 if o.double else width) for o in ops if isinstance(o, Text))
    for off in OPTIONAL:
        t = template.parse({**raw, "blocks": [b for b in template.BLOCKS if b != off]}, printer_width=width)
        ops = template.layout(_receipt(), t)
        text = preview(ops, width)
        if off == "logo":
            assert not any(isinstance(o, Image) for o in ops)
        else:
            assert MARKS[off] not in text, off
        for other, mark in MARKS.items():
            if other != off and not (off == "fbr" and other == "fbr"):
                assert mark in text, (off, other)
        assert all(len(o.text) <= width for o in ops if isinstance(o, Text))


def test_blocks_print_in_the_order_given():
    t = template.parse({"blocks": ["title", "items", "totals", "details", "cashier"]}, printer_width=48)
    text = preview(template.layout(_receipt(), t), 48)
    assert text.index("SALE RECEIPT") < text.index("Lawn 3pc") < text.index("TOTAL") < text.index("Invoice #") \
        < text.index("Ayesha")
    assert "Gulberg" not in text and "Bilal" not in text


def test_gift_receipt_has_no_prices_and_a_barcode_to_exchange_with():
    t = template.parse({}, printer_width=32)
    ops = template.layout(_receipt(), t, gift=True)
    text = preview(ops, 32)
    assert "GIFT RECEIPT" in text and "Lawn 3pc Suit" in text and "Red / M" in text
    for money in ("2,500.00", "7,721.00", "8,000.00", "Change", "You saved", "Points", "FBR", "Sana Khan"):
        assert money not in text, money
    assert Barcode("LHR1-C1-000123") in ops and not any(isinstance(o, DrawerKick) for o in ops)


def test_urdu_header_footer_and_item_names_print_as_images():
    t = template.parse({"header": ["Gulberg Fashion House", {"ur": "گلبرگ فیشن ہاؤس"}],
                        "footer": [{"ur": "خریداری کا شکریہ"}, {"en": "Thank you"}], "urdu_names": True,
                        "urdu_font": "naskh"}, printer_width=48)
    ops = template.layout(_receipt(), t)
    urdu_ops = [o for o in ops if isinstance(o, Urdu)]
    assert [o.text for o in urdu_ops] == ["گلبرگ فیشن ہاؤس", "لان کا سوٹ", "خریداری کا شکریہ"]
    assert all(o.font == "naskh" for o in urdu_ops)
    names = [o.text for o in ops if isinstance(o, (Text, Urdu))]
    assert names.index("لان کا سوٹ") == names.index("Lawn 3pc Suit") + 1  # under its Roman name


def test_the_built_in_layout_still_serves_a_site_without_a_template():
    r = _receipt()
    ops = L.layout(r, 48)
    assert ops[0] == DrawerKick() and not any(isinstance(o, Urdu) for o in ops)  # Urdu only through a template
    assert "Lawn 3pc Suit" in preview(ops, 48)


@pytest.mark.parametrize("raw, words", [
    ({"paper": "70mm"}, "paper: expected 58mm or 80mm"),
    ({"blocks": ["items", "totals"]}, "no details"),
    ({"blocks": ["details", "items", "totals", "qr"]}, "found 'qr'"),
    ({"blocks": ["details", "items", "totals", "items"]}, "each block once"),
    ({"header": [1]}, "header: expected each line"),
    ({"header": [{"fr": "x"}]}, "header: expected each line"),
    ({"colour": "red"}, "colour: expected one of"),
    ({"urdu_font": "arial"}, "urdu_font"),
    ({"urdu_size": 2}, "urdu_size"),
    ({"logo": "/nonexistent/logo.png"}, "logo: expected an image file that exists"),
])
def test_a_broken_template_is_one_line_naming_the_key(raw, words):
    with pytest.raises(template.TemplateError) as e:
        template.parse(raw, "pos.toml [receipt]")
    msg = str(e.value)
    assert words in msg and "\n" not in msg and msg.startswith("receipt template (pos.toml [receipt])")


def test_a_logo_that_is_not_an_image_is_refused_and_a_wide_one_is_scaled(tmp_path):
    bad = tmp_path / "logo.png"
    bad.write_text("not a picture")
    with pytest.raises(template.TemplateError, match="a bitmap"):
        template.parse({"logo": str(bad)})
    from PIL import Image as PILImage
    PILImage.new("RGB", (1200, 300), "black").save(bad)
    t = template.parse({"logo": str(bad), "paper": "58mm"})
    img = PILImage.open(t.logo_path)
    assert img.size == (384, 96) and img.mode == "1"


def test_the_till_refuses_to_start_on_a_broken_template(tmp_path):
    import subprocess
    import sys
    db = tmp_path / "pos.db"
    cfg = tmp_path / "pos.toml"
    cfg.write_text(f'[database]\nurl = "sqlite:///{db}"\n[receipt]\nblocks = ["items"]\n')
    subprocess.run([sys.executable, "-m", "pos_core.admin", "--config", str(cfg), "init"], check=True,
                   capture_output=True, timeout=60)
    r = subprocess.run([sys.executable, "-m", "pos_tui", "--config", str(cfg)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "receipt template" in r.stderr and "no details" in r.stderr


def test_the_example_config_has_a_valid_template_and_label_section():
    from pos_core import config
    from printers import labels
    root = Path(__file__).parent.parent
    cfg = config.load(str(root / "config.example.toml"))
    t = template.parse(cfg.receipt, "config.example.toml [receipt]", printer_width=cfg.printer.width)
    assert t.width == 48 and t.urdu_names and t.header[1].urdu and t.blocks == template.BLOCKS
    assert labels.parse_output(cfg.labels).language == "escpos"
    for bad, words in [({"language": "dpl"}, "language"), ({"language": "pdf"}, "dir"),
                       ({"width_mm": 500}, "width_mm"), ({"colour": 1}, "unknown key")]:
        with pytest.raises(labels.LabelConfigError, match=words):
            labels.parse_output(bad)


def test_a_line_too_wide_for_58mm_wraps_and_keeps_its_amount_clear():
    from PIL import ImageOps
    long = urdu.Line("کڑھائی والی لان کی قمیض شلوار اور شیفون کا دوپٹہ تین پیس سوٹ", "12,345.00")
    img = urdu.render_lines([long], dots=384, font="naskh", size=24)
    row = int(24 * urdu.LINE_FACTOR["naskh"])
    assert img.height >= 2 * row  # wrapped onto more rows
    amount_w = int(urdu._latin(int(24 * 0.85)).getlength("12,345.00"))
    for top in range(0, img.height, row):
        box = ImageOps.invert(img.crop((0, top, img.width, top + row)).convert("L")).getbbox()
        assert box is not None and box[2] <= img.width  # ink on every row, inside the paper
    # the last row carries the amount on the left; Urdu never runs into it
    last = ImageOps.invert(img.crop((0, img.height - row, img.width, img.height)).convert("L"))
    gap = last.crop((4 + amount_w + 8, 0, 4 + amount_w + 24, row)).getbbox()
    assert gap is None
