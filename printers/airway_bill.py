"""The airway bill (courier label) of a booked parcel: on the receipt printer, or as a PDF label.

`AirwayBill` is plain data the till fills from pos_core.couriers.airway_bill_data. `to_slip` gives
the receipt printer's version (the consignment number as CODE128, so the courier's rider and our
returns desk can scan it); `to_pdf` a 4 x 6 inch label for a label printer or to save and send,
drawn with fpdf2 and python-barcode. When the agent saved the courier's own PDF, the till prints
that instead (it carries the courier's routing codes); this one is the fallback and the offline
copy, never a different number.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from decimal import Decimal

from .receipt import Slip, format_money

LABEL_MM = (101.6, 152.4)     # 4 x 6 inches


@dataclass(frozen=True)
class AirwayBill:
    courier: str
    tracking_number: str
    reference: str
    order_name: str
    consignee: str
    phone: str
    address: str
    city: str
    cod: Decimal
    weight_grams: int
    pieces: int
    shipper: str
    shipper_address: str = ""
    shipper_phone: str = ""
    contents: str = ""
    when: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.cod, Decimal):
            raise TypeError(f"cod must be a Decimal, got {type(self.cod).__name__}")
        if not self.tracking_number:
            raise ValueError("an airway bill needs the consignment number; the parcel is not booked yet")


def cod_text(bill: AirwayBill) -> str:
    return f"COLLECT Rs {format_money(bill.cod)}" if bill.cod > 0 else "PREPAID - collect nothing"


def to_slip(bill: AirwayBill) -> Slip:
    lines = [
        (bill.courier, bill.tracking_number), ("Order", bill.order_name), ("Ref", bill.reference),
        ("TO", ""), (bill.consignee, ""), (bill.phone, ""), (bill.address, ""), (bill.city.upper(), ""),
        ("", ""), (cod_text(bill), ""),
        ("Weight", f"{Decimal(bill.weight_grams) / 1000:.2f} kg"), ("Pieces", str(bill.pieces)),
    ]
    if bill.contents:
        lines.append(("Contents", bill.contents[:80]))
    lines += [("FROM", ""), (bill.shipper, "")]
    if bill.shipper_address:
        lines.append((bill.shipper_address, ""))
    if bill.shipper_phone:
        lines.append((bill.shipper_phone, ""))
    return Slip(title="AIRWAY BILL", number=bill.tracking_number, lines=lines, barcode=bill.tracking_number,
                when=bill.when or None)


def _barcode_png(data: str) -> bytes:
    from barcode import Code128
    from barcode.writer import ImageWriter
    out = io.BytesIO()
    Code128(data, writer=ImageWriter()).write(out, options={"module_height": 12.0, "font_size": 8,
                                                            "text_distance": 4.0, "quiet_zone": 2.0})
    return out.getvalue()


def to_pdf(bill: AirwayBill) -> bytes:
    """A one-page 4 x 6 inch label. A consignee's name or address in Urdu is shaped with the Noto
    fonts (printers/pdf_fonts.py); without them it prints as '?' (core fonts are Latin-1)."""
    from fpdf import FPDF
    from .pdf_fonts import Writer

    pdf = FPDF(unit="mm", format=LABEL_MM)
    fonts = Writer(pdf)
    t = fonts.text
    pdf.set_auto_page_break(False)
    pdf.set_margins(5, 5, 5)
    pdf.add_page()
    w = LABEL_MM[0] - 10
    fonts.font("B", 16)
    pdf.cell(w, 8, t(bill.courier), new_x="LMARGIN", new_y="NEXT")
    pdf.image(io.BytesIO(_barcode_png(bill.tracking_number)), x=5, w=w, h=28)
    fonts.font("B", 12)
    pdf.cell(w, 6, t(f"CN {bill.tracking_number}"), align="C", new_x="LMARGIN", new_y="NEXT")
    fonts.font("", 9)
    pdf.cell(w, 5, t(f"Order {bill.order_name}   Ref {bill.reference}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    fonts.font("B", 11)
    pdf.cell(w, 6, "TO", new_x="LMARGIN", new_y="NEXT")
    fonts.font("", 11)
    pdf.multi_cell(w, 5, t(f"{bill.consignee}\n{bill.phone}\n{bill.address}"), new_x="LMARGIN", new_y="NEXT")
    fonts.font("B", 14)
    pdf.cell(w, 8, t(bill.city.upper()), new_x="LMARGIN", new_y="NEXT")
    fonts.font("B", 15)
    pdf.cell(w, 10, t(cod_text(bill)), border=1, align="C", new_x="LMARGIN", new_y="NEXT")
    fonts.font("", 9)
    pdf.cell(w, 5, t(f"Weight {Decimal(bill.weight_grams) / 1000:.2f} kg   Pieces {bill.pieces}   {bill.when}"),
             new_x="LMARGIN", new_y="NEXT")
    if bill.contents:
        pdf.multi_cell(w, 4, t(f"Contents: {bill.contents[:200]}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    fonts.font("B", 9)
    pdf.cell(w, 5, "FROM", new_x="LMARGIN", new_y="NEXT")
    fonts.font("", 9)
    pdf.multi_cell(w, 4, t("\n".join(x for x in (bill.shipper, bill.shipper_address, bill.shipper_phone) if x)),
                   new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
