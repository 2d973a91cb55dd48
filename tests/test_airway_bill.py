"""The airway bill on the receipt printer (a slip with the number as CODE128) and as a PDF label."""
import io
from decimal import Decimal

import pytest

from printers import airway_bill as awb
from printers.layout import layout_slip
from printers.ops import Barcode
from printers.preview import preview

BILL = awb.AirwayBill(courier="Leopards", tracking_number="LE000000042", reference="1001-ab12cd34",
                      order_name="#1001", consignee="Hina Baig", phone="+923001234567",
                      address="House 12, Street 4, Gulberg", city="Lahore", cod=Decimal("2599.00"),
                      weight_grams=750, pieces=1, shipper="Lahore Branch", shipper_address="Main Boulevard",
                      contents="2 x Lawn Kurta", when="2026-12-07 19:30")


@pytest.mark.parametrize("width", [32, 48])
def test_the_slip_shows_what_the_rider_needs_and_a_scannable_number(width):
    ops = layout_slip(awb.to_slip(BILL), width)
    text = preview(ops, width)
    for s in ("AIRWAY BILL", "LE000000042", "Hina Baig", "+923001234567", "LAHORE", "COLLECT Rs 2,599.00",
              "0.75 kg", "Lahore Branch"):
        assert s in text, s
    assert [(o.value, o.kind) for o in ops if isinstance(o, Barcode)] == [("LE000000042", "CODE128")]


def test_a_prepaid_parcel_says_collect_nothing():
    bill = awb.AirwayBill(**{**BILL.__dict__, "cod": Decimal("0")})
    assert "PREPAID" in preview(layout_slip(awb.to_slip(bill), 48), 48)


def test_the_pdf_label_is_one_4x6_page_with_the_number_and_the_cod():
    from pypdf import PdfReader
    pdf = awb.to_pdf(BILL)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert round(float(box.width) / 72, 1) == 4.0 and round(float(box.height) / 72, 1) == 6.0
    text = reader.pages[0].extract_text()
    for s in ("CN LE000000042", "Hina Baig", "LAHORE", "COLLECT Rs 2,599.00"):
        assert s in text, s


def test_no_bill_without_a_number_and_no_float_money():
    with pytest.raises(ValueError, match="not booked"):
        awb.AirwayBill(**{**BILL.__dict__, "tracking_number": ""})
    with pytest.raises(TypeError):
        awb.AirwayBill(**{**BILL.__dict__, "cod": 2599.0})
