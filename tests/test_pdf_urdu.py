"""Urdu names in PDFs (a branch name in a report export, a consignee on an airway bill) come out
as shaped Urdu, not "?" or boxes: the text layer reads back as the Urdu that was written, and the
embedded Naskh font holds the joined (initial, medial, final) letter forms that only HarfBuzz's
shaping picks, with no glyph missing from the font.

Needs Debian's Noto fonts (scripts/ci-fonts) and uharfbuzz (a dependency)."""
from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from pypdf import PdfReader

from pos_core.models import Branch, Variant
from pos_core.reports import Filters
from pos_core.reports import sales as sales_report
from pos_office import exports
from printers import airway_bill as awb
from printers import pdf_fonts

import reports_data

BRANCH_UR = "گلبرگ لاہور"
CONSIGNEE_UR = "حنا بیگ"
KURTA_UR = "قمیض لان"
# Arabic Presentation Forms A and B: the contextual shapes a shaper substitutes for base letters
PRESENTATION = [(0xFB50, 0xFDFF), (0xFE70, 0xFEFF)]


def _text(pdf_bytes: bytes) -> str:
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf_bytes)).pages)


def _urdu_glyphs(pdf_bytes: bytes) -> list[str]:
    """Glyph names in the embedded Urdu font subset (fontTools names them by the code points
    that map to them, so a joined form reads uniFExx)."""
    from fontTools.ttLib import TTFont
    names = []
    for page in PdfReader(io.BytesIO(pdf_bytes)).pages:
        for ref in page["/Resources"]["/Font"].values():
            font = ref.get_object()
            if "Naskh" not in str(font["/BaseFont"]):
                continue
            desc = font["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object()
            names += TTFont(io.BytesIO(desc["/FontFile2"].get_object().get_data())).getGlyphOrder()
    return names


def _joined_forms(names: list[str]) -> set[str]:
    out = set()
    for n in names:
        if n.startswith("uni") and len(n) == 7:
            cp = int(n[3:], 16)
            if any(lo <= cp <= hi for lo, hi in PRESENTATION):
                out.add(n)
    return out


@pytest.fixture(autouse=True)
def _fonts():
    if not pdf_fonts.use_unicode(__import__("fpdf").FPDF()):
        pytest.fail("Noto Sans / Noto Naskh Arabic or uharfbuzz missing: run scripts/ci-fonts and pip install -e .")


def test_a_report_pdf_shows_an_urdu_branch_name_shaped(site, tmp_path):
    reports_data.build(site)
    Branch.update(name=BRANCH_UR).where(Branch.id == site.lhr.id).execute()
    rep = sales_report.by("branch", Filters(dt.date(2027, 2, 1), dt.date(2027, 2, 28)))
    assert rep.row(key="LHR1")["name"] == BRANCH_UR
    path = exports.export(rep, "pdf", tmp_path, scope=f"{BRANCH_UR}, All counters")
    data = path.read_bytes()
    text = _text(data)
    # Every Urdu word is in the text layer, and nothing became "?" (the old core-font PDF did).
    for word in BRANCH_UR.split():
        assert text.count(word) >= 2, text          # the table row and the scope line
    assert "?" not in text and "1,635.74" in text and "Sales by branch" in text
    names = _urdu_glyphs(data)
    joined = _joined_forms(names)
    # "گلبرگ": gaf, lam, beh join, so at least initial and medial forms are used; "لاہور": lam-alef
    assert len(joined) >= 4, names
    assert ".notdef" not in names[1:]


def test_an_airway_bill_shapes_an_urdu_consignee():
    bill = awb.AirwayBill(courier="Leopards", tracking_number="LE000000042", reference="1001-ab12cd34",
                          order_name="#1001", consignee=CONSIGNEE_UR, phone="0300-1234567",
                          address="House 12, Street 4, Gulberg", city="Lahore", cod=Decimal("2599.00"),
                          weight_grams=500, pieces=1, contents="Kurta", shipper="Gulberg Fashion House",
                          shipper_address="Main Boulevard", shipper_phone="042-111", when="07-12-2026")
    data = awb.to_pdf(bill)
    text = _text(data)
    assert all(word in text for word in CONSIGNEE_UR.split()) and "LE000000042" in text
    assert "2,599.00" in text and "?" not in text
    assert len(_joined_forms(_urdu_glyphs(data))) >= 3     # ح ن ا / ب ی گ joined
    assert len(PdfReader(io.BytesIO(data)).pages) == 1


def test_shaping_is_what_joins_the_letters():
    """The same word without shaping uses only the base letters: the joined forms above come from
    HarfBuzz, not from the font on its own."""
    from fpdf import FPDF
    out = {}
    for shaped in (True, False):
        pdf = FPDF()
        pdf_fonts.use_unicode(pdf)
        pdf.set_text_shaping(shaped)
        pdf.add_page()
        pdf.set_font(pdf_fonts.FAMILY, "", 12)
        pdf.cell(0, 10, BRANCH_UR)
        out[shaped] = _joined_forms(_urdu_glyphs(bytes(pdf.output())))
    assert out[True] and not out[False]


def test_top_items_carry_the_urdu_name_into_the_pdf(site, tmp_path):
    reports_data.build(site)
    Variant.update(urdu_name=KURTA_UR).where(Variant.id == site.kurta.id).execute()
    rep = sales_report.by("item", Filters(dt.date(2027, 2, 1), dt.date(2027, 2, 28)), limit=200)
    assert rep.row(key="1001")["urdu"] == KURTA_UR and rep.row(key="1004")["urdu"] == ""
    data = exports.export(rep, "pdf", tmp_path).read_bytes()
    text = _text(data)
    assert all(word in text for word in KURTA_UR.split()) and "?" not in text
    # قمیض: qaf initial, meem and yeh medial, dad final
    assert {"uniFED7", "uniFEE4", "uniFEBE"} <= _joined_forms(_urdu_glyphs(data)), _urdu_glyphs(data)


def test_price_tags_show_the_items_urdu_name_shaped_unless_turned_off(site, tmp_path):
    """The A4 tag sheet: a tag whose item has an Urdu name shows it (shaped Naskh) under the
    size/colour, by default; an item without one gets no Urdu line; `[labels] urdu = false`
    leaves it off. The Roman name, price and barcode stay as they were."""
    from pos_core import shelf_labels
    from printers import labels
    Variant.update(urdu_name=KURTA_UR).where(Variant.id == site.kurta.id).execute()
    items = shelf_labels.for_variants([(site.kurta.id, 2), (site.book.id, 1)], assign=False)
    assert [i.urdu_name for i in items] == [KURTA_UR, ""]
    tags = labels.from_items(items)
    out = labels.parse_output({"language": "pdf", "dir": str(tmp_path)})
    assert out.urdu is True
    labels.send(out, tags, name="tags")
    data = (tmp_path / "tags.pdf").read_bytes()
    text = _text(data)
    kurta, book = Variant.get_by_id(site.kurta.id), Variant.get_by_id(site.book.id)
    assert text.count(KURTA_UR.split()[0]) == 2 and text.count(KURTA_UR.split()[1]) == 2, text   # both copies
    assert text.count(tags[0].name) == 2 and tags[1].name in text and "?" not in text
    assert labels.price_text(tags[0]) in text and kurta.urdu_name and not book.urdu_name
    assert {"uniFED7", "uniFEE4", "uniFEBE"} <= _joined_forms(_urdu_glyphs(data))     # قمیض joined
    plain = labels.parse_output({"language": "pdf", "dir": str(tmp_path), "urdu": False})
    labels.send(plain, tags, name="plain")
    off = (tmp_path / "plain.pdf").read_bytes()
    assert KURTA_UR.split()[0] not in _text(off) and not _urdu_glyphs(off)
    assert _text(off).count(tags[0].name) == 2
    with pytest.raises(labels.LabelConfigError, match="urdu: expected true or false"):
        labels.parse_output({"language": "pdf", "dir": str(tmp_path), "urdu": "yes"})


def test_a_long_urdu_name_is_cut_to_the_tag_and_stays_on_one_line():
    from printers import labels
    long = "قمیض لان " * 12
    tag = labels.Label("Lawn", "M", Decimal("10"), "L1", urdu_name=long)
    page = PdfReader(io.BytesIO(labels.pdf_sheet([tag]))).pages[0]
    urdu = [line for line in page.extract_text().splitlines() if "قمیض" in line]
    assert len(urdu) == 1 and len(urdu[0]) < len(long.strip()), urdu
