"""Price tags and shelf labels: TSPL (TSC, Xprinter and most cheap label printers), ZPL II (Zebra),
ESC/POS (the receipt printer) and an A4 sheet as PDF for the office printer.

Libraries: no well-kept Python library exists for TSPL, and the ZPL ones on PyPI are unmaintained
(simple-zpl2's last release was 2020), so both languages are written here, a few commands each,
following TSC's "TSPL/TSPL2 Programming Language" manual and Zebra's "ZPL II Programming Guide"
(tests check the output against that syntax). ESC/POS goes through our ops and python-escpos like
receipts. The PDF is drawn with fpdf2, the barcodes in it with python-barcode (EAN-13 and Code 128
as images), both maintained.

Input is `Label` (plain data); pos_core.shelf_labels builds them from goods receipts, transfers,
price changes and picked lists and `from_items` converts.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass
from decimal import Decimal

from .ops import Barcode, Cut, Feed, Op, Text
from .receipt import format_money

LANGUAGES = ("tspl", "zpl", "escpos", "pdf")


@dataclass(frozen=True)
class Label:
    name: str
    option: str
    price: Decimal
    code: str
    symbology: str = "CODE128"   # EAN13 or CODE128
    copies: int = 1
    sale_price: Decimal | None = None
    sku: str = ""
    urdu_name: str = ""          # Variant.urdu_name; only the PDF sheet can draw it

    def __post_init__(self):
        if not isinstance(self.price, Decimal) or (self.sale_price is not None and not isinstance(self.sale_price, Decimal)):
            raise TypeError("label prices must be Decimal")
        if self.symbology not in ("EAN13", "CODE128"):
            raise ValueError(f"symbology must be EAN13 or CODE128, not {self.symbology!r}")
        if self.symbology == "EAN13" and not (len(self.code) == 13 and self.code.isdigit()):
            raise ValueError(f"{self.code!r} is not an EAN-13")
        if not self.code or any(not (32 <= ord(c) < 127) for c in self.code):
            raise ValueError(f"{self.code!r}: a barcode holds printable ASCII only")


@dataclass(frozen=True)
class Stock:
    """The label roll: size of one label and the gap between labels."""
    width_mm: float = 50
    height_mm: float = 30
    gap_mm: float = 2
    dpi: int = 203

    def dots(self, mm: float) -> int:
        return round(mm * self.dpi / 25.4)


def from_items(items) -> list[Label]:
    """pos_core.shelf_labels.LabelItem -> Label (paisa to Decimal rupees)."""
    return [Label(i.name, i.option, Decimal(i.price_paisa) / 100, i.code, i.symbology, i.copies,
                  None if i.sale_price_paisa is None else Decimal(i.sale_price_paisa) / 100, i.sku,
                  i.urdu_name)
            for i in items]


def price_text(label: Label) -> str:
    return "Rs " + format_money(label.sale_price if label.sale_price is not None else label.price)


def _ascii(text: str) -> str:
    # Label printers' resident fonts are code page 437/1252: anything else prints as junk.
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in text)


def _fit(text: str, chars: int) -> str:
    text = _ascii(text)
    return text if len(text) <= chars else text[: max(chars - 1, 1)] + "."


# --- TSPL -------------------------------------------------------------------------------------

def _tspl_str(text: str) -> str:
    # TSPL strings are in double quotes; a quote inside is written \["] (TSPL manual, TEXT).
    return '"' + text.replace('"', '\\["]') + '"'


def tspl(labels: list[Label], stock: Stock = Stock()) -> bytes:
    """One TSPL job: SIZE/GAP/DIRECTION once, then per label CLS, TEXT, BARCODE, PRINT 1,copies."""
    w = stock.dots(stock.width_mm)
    out = [f"SIZE {stock.width_mm:g} mm,{stock.height_mm:g} mm", f"GAP {stock.gap_mm:g} mm,0 mm",
           "DIRECTION 1", "REFERENCE 0,0", "CODEPAGE 1252"]
    chars = max(8, (w - 16) // 12)  # font "2" is 12x20 dots
    bar_h = stock.dots(stock.height_mm * 0.35)
    for lb in labels:
        out.append("CLS")
        y = 8
        out.append(f'TEXT 8,{y},"2",0,1,1,{_tspl_str(_fit(lb.name, chars))}')
        y += 24
        if lb.option:
            out.append(f'TEXT 8,{y},"2",0,1,1,{_tspl_str(_fit(lb.option, chars))}')
            y += 24
        if lb.sale_price is not None:
            out.append(f'TEXT 8,{y},"2",0,1,1,{_tspl_str("Was Rs " + format_money(lb.price))}')
            out.append(f"BAR 8,{y + 10},{12 * (len(format_money(lb.price)) + 7)},2")  # strike the old price
            y += 24
        out.append(f'TEXT 8,{y},"3",0,1,1,{_tspl_str(price_text(lb))}')  # font 3: 16x24, the price stands out
        y += 30
        kind = "EAN13" if lb.symbology == "EAN13" else "128"
        # EAN13 takes the 12 data digits; the printer adds the check digit (TSPL manual, BARCODE).
        data = lb.code[:12] if kind == "EAN13" else lb.code
        out.append(f"BARCODE 16,{y},{_tspl_str(kind)},{bar_h},1,0,2,4,{_tspl_str(_ascii(data))}")
        out.append(f"PRINT 1,{lb.copies}")
    return ("\r\n".join(out) + "\r\n").encode("cp1252", errors="replace")


# --- ZPL II ------------------------------------------------------------------------------------

def _zpl_field(text: str) -> str:
    # ^FH_ lets a field carry _XX hex escapes; ^ and ~ would otherwise start a command.
    return "^FH_^FD" + "".join(f"_{ord(c):02X}" if c in "^~_" else c for c in text) + "^FS"


def zpl(labels: list[Label], stock: Stock = Stock()) -> str:
    """One ^XA...^XZ format per label, ^PQ for the copies; text in UTF-8 (^CI28)."""
    w, h = stock.dots(stock.width_mm), stock.dots(stock.height_mm)
    chars = max(8, (w - 16) // 14)
    bar_h = stock.dots(stock.height_mm * 0.3)
    out = []
    for lb in labels:
        f = ["^XA", "^CI28", f"^PW{w}", f"^LL{h}", "^LH0,0"]
        y = 8
        f.append(f"^FO8,{y}^A0N,24,20{_zpl_field(_fit(lb.name, chars))}")
        y += 28
        if lb.option:
            f.append(f"^FO8,{y}^A0N,22,18{_zpl_field(_fit(lb.option, chars))}")
            y += 26
        if lb.sale_price is not None:
            was = "Was Rs " + format_money(lb.price)
            f.append(f"^FO8,{y}^A0N,20,16{_zpl_field(was)}")
            f.append(f"^FO8,{y + 9}^GB{16 * len(was)},2,2^FS")  # strike the old price
            y += 24
        f.append(f"^FO8,{y}^A0N,34,28{_zpl_field(price_text(lb))}")
        y += 38
        if lb.symbology == "EAN13":
            # ^BE: EAN-13 from 12 digits, check digit computed by the printer; line below = digits.
            f.append(f"^FO24,{y}^BY2^BEN,{bar_h},Y,N^FD{lb.code[:12]}^FS")
        else:
            f.append(f"^FO24,{y}^BY2^BCN,{bar_h},Y,N,N{_zpl_field(lb.code)}")
        f.append(f"^PQ{lb.copies},0,1,Y")
        f.append("^XZ")
        out.append("\n".join(f))
    return "\n".join(out) + "\n"


# --- ESC/POS (on the receipt printer) ------------------------------------------------------------

def escpos_ops(labels: list[Label], width: int = 48) -> list[Op]:
    """Labels as receipt-printer operations, cut between labels, each copy printed."""
    ops: list[Op] = []
    for lb in labels:
        for _ in range(lb.copies):
            ops.append(Text(_fit(lb.name, width), align="center", bold=True))
            if lb.option:
                ops.append(Text(_fit(lb.option, width), align="center"))
            if lb.sale_price is not None:
                ops.append(Text("Was Rs " + format_money(lb.price), align="center"))
            price = price_text(lb)
            ops.append(Text(price, align="center", bold=True, double=len(price) <= width // 2))
            ops.append(Barcode(lb.code, "EAN13" if lb.symbology == "EAN13" else "CODE128"))
            ops += [Feed(1), Cut()]
    return ops


# --- A4 sheet (PDF) ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sheet:
    """An A4 sheet of sticky labels; the default is 3 x 8 labels of 63.5 x 33.9 mm (common 24-up)."""
    cols: int = 3
    rows: int = 8
    label_w: float = 63.5
    label_h: float = 33.9
    left: float = 7.2
    top: float = 12.9
    gap_x: float = 2.5
    gap_y: float = 0.0

    @property
    def per_page(self) -> int:
        return self.cols * self.rows


def _barcode_png(lb: Label) -> io.BytesIO:
    import barcode
    from barcode.writer import ImageWriter
    kind = "ean13" if lb.symbology == "EAN13" else "code128"
    data = lb.code[:12] if kind == "ean13" else lb.code  # python-barcode adds (and checks) the digit
    png = io.BytesIO()
    barcode.get(kind, data, writer=ImageWriter()).write(
        png, options={"module_height": 8.0, "font_size": 6, "text_distance": 3, "quiet_zone": 2, "dpi": 300})
    png.seek(0)
    return png


def _fit_width(pdf, text: str, width: float) -> str:
    """As much of `text` as fits `width` mm in the current font (a Unicode font draws any name)."""
    if pdf.get_string_width(text) <= width:
        return text
    while text and pdf.get_string_width(text + ".") > width:
        text = text[:-1]
    return text.rstrip() + "."


def pdf_sheet(labels: list[Label], sheet: Sheet = Sheet(), title: str = "Labels", urdu: bool = True) -> bytes:
    """Every copy of every label on A4 pages, left to right, top to bottom. With Debian's Noto
    fonts (printers/pdf_fonts.py) names are drawn as written and, with `urdu`, a tag whose item
    has an Urdu name shows it (shaped, right to left) on its own line under the size/colour;
    without the fonts the sheet is Helvetica, ASCII only, and no Urdu line is drawn (it would
    print as "?")."""
    from fpdf import FPDF
    from .pdf_fonts import Writer
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_title(title)
    pdf.set_auto_page_break(False)
    pdf.set_margins(0, 0, 0)
    w = Writer(pdf)
    fit = (lambda text, width, chars: _fit_width(pdf, text, width)) if w.unicode else (
        lambda text, width, chars: _fit(text, chars))
    copies = [lb for lb in labels for _ in range(lb.copies)]
    cache: dict[tuple[str, str], bytes] = {}
    for n, lb in enumerate(copies):
        slot = n % sheet.per_page
        if slot == 0:
            pdf.add_page()
        col, row = slot % sheet.cols, slot // sheet.cols
        x = sheet.left + col * (sheet.label_w + sheet.gap_x)
        y = sheet.top + row * (sheet.label_h + sheet.gap_y)
        w.font("B", 8)
        pdf.set_xy(x + 2, y + 1.5)
        pdf.cell(sheet.label_w - 4, 3.5, fit(lb.name, sheet.label_w - 4, 40))
        w.font("", 7)
        pdf.set_xy(x + 2, y + 5)
        pdf.cell(sheet.label_w * 0.55, 3, fit(lb.option, sheet.label_w * 0.45 - 2, 24))
        if urdu and w.unicode and lb.urdu_name.strip():
            # left of the "Was" price, above the barcode: the tag's one free line
            w.font("", 8)
            pdf.set_xy(x + 2, y + 8)
            pdf.cell(sheet.label_w * 0.45 - 2, 3.8, fit(lb.urdu_name.strip(), sheet.label_w * 0.45 - 2, 0))
        w.font("B", 10)
        pdf.set_xy(x + sheet.label_w * 0.45, y + 4.5)
        pdf.cell(sheet.label_w * 0.55 - 2, 4, price_text(lb), align="R")
        if lb.sale_price is not None:
            w.font("", 6)
            pdf.set_xy(x + sheet.label_w * 0.45, y + 8.5)
            pdf.cell(sheet.label_w * 0.55 - 2, 3, "Was Rs " + format_money(lb.price), align="R")
        key = (lb.symbology, lb.code)
        if key not in cache:
            cache[key] = _barcode_png(lb).getvalue()
        pdf.image(io.BytesIO(cache[key]), x=x + 4, y=y + 12, w=sheet.label_w - 8, h=sheet.label_h - 14)
    if not copies:
        pdf.add_page()
    return bytes(pdf.output())


# --- where labels go ([labels] in the config) -----------------------------------------------------

class LabelConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Output:
    """[labels] language = tspl|zpl (a label printer: device file or host:port), escpos (the
    counter's receipt printer), pdf (a file in `dir` for the office printer)."""
    language: str = "escpos"
    device: str = ""        # tspl/zpl: /dev/usb/lp1, or host:port for a network label printer
    dir: str = ""           # pdf: where sheets are written
    stock: Stock = Stock()
    urdu: bool = True       # pdf: a tag shows the item's Urdu name when it has one


def parse_output(raw: dict | None, source: str = "config [labels]") -> Output:
    raw = raw or {}
    known = {"language", "device", "dir", "width_mm", "height_mm", "gap_mm", "dpi", "urdu"}
    for key in raw:
        if key not in known:
            raise LabelConfigError(f"{source}: {key}: expected one of {', '.join(sorted(known))}, found unknown key")
    lang = raw.get("language", "escpos")
    if lang not in LANGUAGES:
        raise LabelConfigError(f"{source}: language: expected one of {', '.join(LANGUAGES)}, found {lang!r}")
    if lang in ("tspl", "zpl") and not isinstance(raw.get("device"), str):
        raise LabelConfigError(f"{source}: device: expected the label printer (/dev/usb/lp1 or host:9100), found nothing")
    if lang == "pdf" and not isinstance(raw.get("dir"), str):
        raise LabelConfigError(f"{source}: dir: expected a directory for the PDF sheets, found nothing")
    if not isinstance(raw.get("urdu", True), bool):
        raise LabelConfigError(f"{source}: urdu: expected true or false, found {raw['urdu']!r}")
    nums = {}
    for key, default, lo, hi in (("width_mm", 50, 20, 120), ("height_mm", 30, 10, 200), ("gap_mm", 2, 0, 20),
                                 ("dpi", 203, 150, 600)):
        v = raw.get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
            raise LabelConfigError(f"{source}: {key}: expected a number from {lo} to {hi}, found {v!r}")
        nums[key] = v
    return Output(lang, raw.get("device", ""), raw.get("dir", ""),
                  Stock(nums["width_mm"], nums["height_mm"], nums["gap_mm"], int(nums["dpi"])), raw.get("urdu", True))


def send(out: Output, labels: list[Label], receipt_printer: dict | None = None, name: str = "labels") -> str:
    """Print (or write) the labels; returns what was done, raises OSError/ValueError on failure."""
    if out.language == "pdf":
        from pathlib import Path
        path = Path(out.dir) / f"{name}.pdf"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pdf_sheet(labels, title=name, urdu=out.urdu))
        return f"sheet written to {path} ({pages_needed(labels)} page(s))"
    if out.language == "escpos":
        if receipt_printer is None:
            raise ValueError("no receipt printer is set up for this counter")
        from .transport import columns_for, print_ops
        result = print_ops(receipt_printer, escpos_ops(labels, columns_for(receipt_printer)))
        if not result.ok:
            raise OSError(result.error)
        return "printed on the receipt printer"
    data = tspl(labels, out.stock) if out.language == "tspl" else zpl(labels, out.stock).encode("utf-8")
    host, _, port = out.device.rpartition(":")
    if host and port.isdigit() and not out.device.startswith("/"):
        import socket
        with socket.create_connection((host, int(port)), timeout=5) as conn:
            conn.sendall(data)
    else:
        with open(out.device, "ab") as f:  # a usblp device or a file
            f.write(data)
    return f"sent to {out.device} ({out.language.upper()})"


def pages_needed(labels: list[Label], sheet: Sheet = Sheet()) -> int:
    return max(1, math.ceil(sum(lb.copies for lb in labels) / sheet.per_page))


__all__ = ["Label", "Stock", "Sheet", "from_items", "tspl", "zpl", "escpos_ops", "pdf_sheet", "pages_needed",
           "LANGUAGES", "price_text"]
