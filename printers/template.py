"""Receipt templates: what a receipt shows, in what order, on which paper, in which language.

The owner writes one `[receipt]` section in the config (see config.example.toml):

    paper = "80mm"                 # or "58mm"; empty: the printer's width
    logo = "/etc/pos/logo.png"     # any bitmap; made 1-bit and no wider than the paper
    header = ["Gulberg Fashion House", {ur = "گلبرگ فیشن ہاؤس"}]   # a string is English,
    footer = [{ur = "خریداری کا شکریہ"}, "Thank you"]               # {ur = "..."} is Urdu
    return_policy = ["Exchange within 14 days with this receipt"]
    blocks = ["logo", "header", "title", "details", "cashier", "salesperson", "customer",
              "items", "promotions", "totals", "savings", "points", "fbr", "return_policy", "footer"]
    urdu_names = true              # items' Urdu names under the Roman name
    urdu_font = "nastaliq"         # or "naskh"

`blocks` lists what prints, top to bottom: leave one out and it is not printed. "details"
(number and date), "items" and "totals" are what makes it a receipt, so they cannot be left out.
A gift receipt (`layout(..., gift=True)`) drops every price, total, tender and the FBR block, and
prints the invoice number as a barcode so the gift can be exchanged.

`parse()` checks everything once, at start (unknown key, block, paper or font, a logo that is not
an image, Urdu lines without libraqm or the font) and raises TemplateError with one line, so a
wrong template stops the till before the first sale, never producing a broken receipt.
Standard library only until a logo or Urdu is used (Pillow then).
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import layout as L
from .ops import Barcode, Cut, DrawerKick, Feed, Image, Op, Rule, Text, Urdu
from .receipt import Receipt, format_money

BLOCKS = ("logo", "header", "title", "details", "cashier", "salesperson", "customer", "items",
          "promotions", "totals", "savings", "points", "fbr", "return_policy", "footer")
REQUIRED = ("details", "items", "totals")
PAPERS = {"58mm": L.WIDTH_58MM, "80mm": L.WIDTH_80MM}
DOTS = {L.WIDTH_58MM: 384, L.WIDTH_80MM: 576}
KEYS = {"paper", "logo", "header", "footer", "return_policy", "blocks", "urdu_names", "urdu_font", "urdu_size"}
GIFT_TITLE = "GIFT RECEIPT"


class TemplateError(ValueError):
    pass


@dataclass(frozen=True)
class TextLine:
    text: str
    urdu: bool = False


@dataclass(frozen=True)
class Template:
    width: int | None = None        # None: the printer's
    logo_path: str | None = None    # the prepared 1-bit copy
    header: tuple[TextLine, ...] = ()  # empty: the receipt's own header lines
    footer: tuple[TextLine, ...] = ()  # empty: the receipt's own footer lines
    return_policy: tuple[TextLine, ...] = ()
    blocks: tuple[str, ...] = BLOCKS
    urdu_names: bool = False
    urdu_font: str = "nastaliq"
    urdu_size: int = 26


def _err(source: str, key: str, expected: str, found) -> TemplateError:
    return TemplateError(f"receipt template ({source}): {key}: expected {expected}, found {found!r}")


def _lines(raw, key: str, source: str) -> tuple[TextLine, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _err(source, key, 'a list of lines ("text" or {ur = "..."})', raw)
    out = []
    for item in raw:
        if isinstance(item, str):
            out.append(TextLine(item))
        elif isinstance(item, dict) and set(item) == {"ur"} and isinstance(item["ur"], str) and item["ur"].strip():
            out.append(TextLine(item["ur"], urdu=True))
        elif isinstance(item, dict) and set(item) == {"en"} and isinstance(item["en"], str):
            out.append(TextLine(item["en"]))
        else:
            raise _err(source, key, 'each line "text", {en = "..."} or {ur = "..."}', item)
    return tuple(out)


def parse(raw: dict | None, source: str = "config [receipt]", printer_width: int | None = None) -> Template:
    """A checked Template; TemplateError (one line) for anything wrong."""
    raw = raw or {}
    if not isinstance(raw, dict):
        raise _err(source, "(section)", "a table of settings", raw)
    for key in raw:
        if key not in KEYS:
            raise _err(source, key, "one of " + ", ".join(sorted(KEYS)), "unknown key")
    width = printer_width
    if "paper" in raw:
        if raw["paper"] not in PAPERS:
            raise _err(source, "paper", "58mm or 80mm", raw["paper"])
        width = PAPERS[raw["paper"]]
    blocks = raw.get("blocks", list(BLOCKS))
    if not isinstance(blocks, list) or not all(isinstance(b, str) for b in blocks):
        raise _err(source, "blocks", "a list of block names", blocks)
    for b in blocks:
        if b not in BLOCKS:
            raise _err(source, "blocks", "names from " + ", ".join(BLOCKS), b)
    if len(set(blocks)) != len(blocks):
        raise _err(source, "blocks", "each block once", [b for b in blocks if blocks.count(b) > 1][0])
    for b in REQUIRED:
        if b not in blocks:
            raise _err(source, "blocks", f"{', '.join(REQUIRED)} always present", f"no {b}")
    urdu_names = raw.get("urdu_names", False)
    if not isinstance(urdu_names, bool):
        raise _err(source, "urdu_names", "true or false", urdu_names)
    font = raw.get("urdu_font", "nastaliq")
    size = raw.get("urdu_size", 26)
    if not isinstance(size, int) or isinstance(size, bool) or not 14 <= size <= 64:
        raise _err(source, "urdu_size", "a font size in dots, 14 to 64", size)
    header = _lines(raw.get("header"), "header", source)
    footer = _lines(raw.get("footer"), "footer", source)
    policy = _lines(raw.get("return_policy"), "return_policy", source)
    if font not in ("nastaliq", "naskh"):
        raise _err(source, "urdu_font", "nastaliq or naskh", font)
    if urdu_names or any(line.urdu for line in (*header, *footer, *policy)):
        from . import urdu
        try:
            urdu.check_available(font)
        except urdu.UrduError as exc:
            raise TemplateError(f"receipt template ({source}): Urdu cannot be printed: {exc}") from None
    logo = None
    if raw.get("logo"):
        if not isinstance(raw["logo"], str):
            raise _err(source, "logo", "the path of an image file", raw["logo"])
        logo = prepare_logo(raw["logo"], DOTS.get(width or L.WIDTH_80MM, 576), source)
    return Template(width, logo, header, footer, policy, tuple(blocks), urdu_names, font, size)


def prepare_logo(path: str, dots: int, source: str = "template") -> str:
    """A 1-bit copy of the logo no wider than the paper, cached by content; its path."""
    p = Path(path)
    if not p.is_file():
        raise _err(source, "logo", "an image file that exists", path)
    data = p.read_bytes()
    try:
        from PIL import Image as PILImage
        import io
        img = PILImage.open(io.BytesIO(data))
        img.load()
    except Exception:  # noqa: BLE001 - any decoder failure is "not an image"
        raise _err(source, "logo", "a bitmap (PNG, BMP, GIF, JPEG)", path) from None
    digest = hashlib.sha256(data + str(dots).encode()).hexdigest()[:16]
    cache = Path(os.environ.get("POS_CACHE_DIR") or tempfile.gettempdir()) / "pos-logos"
    cache.mkdir(parents=True, exist_ok=True)
    out = cache / f"logo-{digest}.png"
    if not out.exists():
        img = img.convert("L")
        if img.width > dots:
            img = img.resize((dots, max(1, round(img.height * dots / img.width))))
        img.convert("1").save(out)
    return str(out)


def uses_urdu(t: Template) -> bool:
    return t.urdu_names or any(line.urdu for line in (*t.header, *t.footer, *t.return_policy))


# --- laying a receipt out with a template ---------------------------------------------------

def _text_lines(lines: tuple[TextLine, ...], width: int, t: Template, bold_first: bool = False) -> list[Op]:
    ops: list[Op] = []
    for i, line in enumerate(lines):
        if line.urdu:
            ops.append(Urdu(line.text, align="center", font=t.urdu_font, size=t.urdu_size))
        elif i == 0 and bold_first:
            ops += L._banner(line.text, width)
        else:
            ops += L._centered(line.text, width)
    return ops


def _rows(rows: list[tuple[str, str]], width: int) -> list[Op]:
    out: list[str] = []
    for left, right in rows:
        out += L._left_right(left, right, width)
    return L._texts(out)


def layout(receipt: Receipt, t: Template, width: int | None = None, gift: bool = False) -> list[Op]:
    """The receipt as print operations, following the template's blocks."""
    width = t.width or width or L.WIDTH_80MM
    L._check_width(width)
    r = receipt
    ops: list[Op] = []
    if r.open_drawer and not r.reprint and not gift:
        ops.append(DrawerKick())
    for block in t.blocks:
        if block == "logo" and t.logo_path:
            ops.append(Image(t.logo_path))
        elif block == "header":
            header = t.header or tuple(TextLine(h) for h in r.header_lines)
            if header:
                ops += _text_lines(header, width, t, bold_first=True)
                ops.append(Rule())
        elif block == "title":
            ops += L._banner(GIFT_TITLE if gift else r.title, width)
            if r.reprint:
                ops += L._centered("*** REPRINT - DUPLICATE COPY ***", width, bold=True)
        elif block == "details":
            rows = [("Invoice #:", r.number)]
            if r.ref_number:
                rows.append(("Original invoice #:", r.ref_number))
            if r.return_reason:
                rows.append(("Reason:", r.return_reason))
            rows += [("Date:", r.when), (f"Branch: {r.branch}", f"Counter: {r.counter}")]
            ops += _rows(rows, width)
        elif block == "cashier":
            ops += _rows([("Cashier:", r.cashier)], width)
        elif block == "salesperson" and r.salesperson:
            ops += _rows([("Salesperson:", r.salesperson)], width)
        elif block == "customer" and r.customer is not None and not gift:
            rows = [("Customer:", r.customer.name)]
            if r.customer.phone:
                rows.append(("Phone:", r.customer.phone))
            if r.customer.cnic_ntn:
                rows.append(("CNIC/NTN:", r.customer.cnic_ntn))
            ops += _rows(rows, width)
        elif block == "items":
            ops += _gift_items(r, width, t) if gift else _items(r, width, t)
        elif block == "promotions" and r.promotions and not gift:
            ops.append(Rule())
            ops += _rows([(name, L._neg(amount)) for name, amount in r.promotions], width)
        elif block == "totals" and not gift:
            ops += L._totals(r, width)
        elif block == "savings" and r.savings and not gift:
            ops += L._texts(L._left_right("You saved", "Rs " + format_money(r.savings), width), bold=True)
        elif block == "points" and r.points is not None and not gift:
            p = r.points
            ops.append(Rule())
            rows = [("Points earned", str(p.earned))]
            if p.redeemed:
                rows.append(("Points redeemed", str(p.redeemed)))
            rows.append(("Points balance", str(p.balance)))
            ops += _rows(rows, width)
        elif block == "fbr" and r.fbr is not None and not gift:
            ops += L.fbr_block(r.fbr, width)
        elif block == "return_policy" and t.return_policy:
            ops.append(Rule())
            ops += _text_lines(t.return_policy, width, t)
        elif block == "footer":
            footer = t.footer or tuple(TextLine(f) for f in r.footer_lines)
            if footer:
                ops.append(Rule())
                ops += _text_lines(footer, width, t)
    if gift:
        ops.append(Barcode(r.number))  # scanned at the counter when the gift comes back
    ops += [Feed(1), Cut()]
    return ops


def _items(r: Receipt, width: int, t: Template) -> list[Op]:
    ops = L._items(r, width)
    if not (t.urdu_names and any(line.urdu_name for line in r.lines)):
        return ops
    # Put each item's Urdu name right after its Roman name line(s).
    out: list[Op] = []
    names = {line.name: line.urdu_name for line in r.lines if line.urdu_name}
    first_lines = {L._wrap(line.name, width)[0]: line.name for line in r.lines if line.name}
    pending = None
    for op in ops:
        out.append(op)
        if isinstance(op, Text) and op.text in first_lines and first_lines[op.text] in names:
            pending = names[first_lines[op.text]]
            out.append(Urdu(pending, font=t.urdu_font, size=t.urdu_size))
    return out


def _gift_items(r: Receipt, width: int, t: Template) -> list[Op]:
    lines: list[Op] = [Rule(), Text("Item" + "Qty".rjust(width - 4), bold=True), Rule()]
    for line in r.lines:
        lines += L._texts(L._left_right(line.name, str(line.qty), width))
        if t.urdu_names and line.urdu_name:
            lines.append(Urdu(line.urdu_name, font=t.urdu_font, size=t.urdu_size))
        if line.variant:
            lines += L._texts(L._wrap(line.variant, width, indent="  "))
    lines.append(Rule())
    lines += L._texts(L._left_right(f"Items: {len(r.lines)}", f"Qty: {sum(x.qty for x in r.lines)}", width))
    return lines


__all__ = ["Template", "TemplateError", "TextLine", "parse", "layout", "uses_urdu", "BLOCKS", "REQUIRED"]
