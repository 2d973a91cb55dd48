"""Lay a `Receipt` or `Slip` out as print operations for a given paper width.

width is in characters of the printer's font A: 32 for 58 mm paper, 48 for
80 mm. Every Text op produced here fits the width exactly (double-size text
fits half of it), so the printer never wraps a line on its own and columns
stay straight. Standard library only.
"""

from __future__ import annotations

import textwrap
from decimal import Decimal

from .ops import QR, Barcode, Cut, DrawerKick, Feed, Image, Op, Rule, Text
from .receipt import FbrBlock, Receipt, Slip, format_money

WIDTH_58MM = 32
WIDTH_80MM = 48
_MIN_WIDTH = 24  # below this the money columns can't be made to fit

# FBR block wording (SRO 1006(I)/2021 sample receipt, see fbr-ims.md §2.1).
FBR_VERIFY_TEXT = (
    "Verify this invoice through FBR TaxAsaan MobileApp or SMS at 9966 "
    "and win exciting prizes in draw"
)
FBR_OFFLINE_TEXT = "Issued in offline mode - FBR invoice number pending"
FBR_TEST_TEXT = "FBR TEST INVOICE - NOT VALID FOR TAX"
# SRO 1006 asks for a 7x7 mm QR; at 203 dpi that is ~2 dots per module for a
# version-2 code, which cheap thermal heads smear. 12 mm gives ~4 dots per
# module and still sits comfortably on 58 mm paper.
FBR_QR_SIZE_MM = 12.0


# --------------------------------------------------------------------------
# Small text helpers. All return lines that are at most `width` long.
# --------------------------------------------------------------------------

def _wrap(text: str, width: int, indent: str = "") -> list[str]:
    """Word-wrap; words longer than the width (SKUs, numbers) are split."""
    return textwrap.wrap(
        text, width, initial_indent=indent, subsequent_indent=indent,
        break_long_words=True, break_on_hyphens=False,
    ) or []


def _left_right(left: str, right: str, width: int) -> list[str]:
    """`left` flush left and `right` flush right on one line when both fit;
    otherwise `left` wraps and `right` sits flush right on the last line or,
    if there is no room there either, on a line of its own."""
    if len(left) + 1 + len(right) <= width:
        return [left + " " * (width - len(left) - len(right)) + right]
    if len(right) >= width:  # can't happen with money, but never overflow
        return _wrap(left, width) + _wrap(right, width)
    lines = _wrap(left, width)
    last = lines[-1] if lines else ""
    if len(last) + 1 + len(right) <= width:
        lines[-1] = last + " " * (width - len(last) - len(right)) + right
    else:
        lines.append(right.rjust(width))
    return lines


def _texts(lines: list[str], **style) -> list[Op]:
    return [Text(line, **style) for line in lines]


def _centered(text: str, width: int, bold: bool = False) -> list[Op]:
    return _texts(_wrap(text, width), align="center", bold=bold)


def _banner(text: str, width: int) -> list[Op]:
    """Big centered text (double size) when it fits half the width, else bold."""
    if len(text) <= width // 2:
        return [Text(text, align="center", bold=True, double=True)]
    return _centered(text, width, bold=True)


def _check_width(width: int) -> None:
    if not isinstance(width, int) or width < _MIN_WIDTH:
        raise ValueError(f"width must be an int >= {_MIN_WIDTH} columns (32 for 58 mm, 48 for 80 mm)")


def _neg(amount: Decimal) -> str:
    """Deductions print with a minus; they are stored as positive numbers."""
    return "-" + format_money(amount) if amount > 0 else format_money(-amount)


# --------------------------------------------------------------------------
# Receipt
# --------------------------------------------------------------------------

def layout(receipt: Receipt, width: int) -> list[Op]:
    """The whole receipt as print operations, ending with a cut."""
    _check_width(width)
    ops: list[Op] = []
    if receipt.open_drawer and not receipt.reprint:
        ops.append(DrawerKick())
    ops += _header(receipt.header_lines, width)
    ops += _banner(receipt.title, width)
    if receipt.reprint:
        ops += _centered("*** REPRINT - DUPLICATE COPY ***", width, bold=True)
    ops += _invoice_details(receipt, width)
    ops += _items(receipt, width)
    ops += _totals(receipt, width)
    ops += _loyalty(receipt, width)
    if receipt.fbr is not None:
        ops += fbr_block(receipt.fbr, width)
    if receipt.footer_lines:
        ops.append(Rule())
        for line in receipt.footer_lines:
            ops += _centered(line, width)
    ops += [Feed(1), Cut()]
    return ops


def _header(header_lines: tuple[str, ...], width: int) -> list[Op]:
    ops: list[Op] = []
    if header_lines:
        ops += _banner(header_lines[0], width)  # shop name
        for line in header_lines[1:]:
            ops += _centered(line, width)
        ops.append(Rule())
    return ops


def _invoice_details(r: Receipt, width: int) -> list[Op]:
    rows = [("Invoice #:", r.number)]
    if r.ref_number:
        rows.append(("Original invoice #:", r.ref_number))
    if r.return_reason:
        rows.append(("Reason:", r.return_reason))
    rows += [
        ("Date:", r.when),
        (f"Branch: {r.branch}", f"Counter: {r.counter}"),
        ("Cashier:", r.cashier),
    ]
    if r.salesperson:
        rows.append(("Salesperson:", r.salesperson))
    if r.customer is not None:
        rows.append(("Customer:", r.customer.name))
        if r.customer.phone:
            rows.append(("Phone:", r.customer.phone))
        if r.customer.cnic_ntn:
            rows.append(("CNIC/NTN:", r.customer.cnic_ntn))
    lines: list[str] = []
    for left, right in rows:
        lines += _left_right(left, right, width)
    return _texts(lines)


def _items(r: Receipt, width: int) -> list[Op]:
    """Item rows: the name wraps over the full width, then a number row with
    `qty x price` and the line total in fixed columns, so every price and
    every total ends in the same column down the receipt."""
    prices = [format_money(line.unit_price) for line in r.lines]
    totals = [format_money(line.total) for line in r.lines]
    discounts = [_neg(line.discount) for line in r.lines if line.discount]
    qty_w = max((len(str(line.qty)) for line in r.lines), default=1)
    price_w = max([5, *map(len, prices)])  # 5 = len("Price") for the heading
    total_w = max([5, *map(len, totals), *map(len, discounts)])

    # Number row: <indent><qty> x <price><gap><total>. Prefer 2 spaces of
    # indent and gap; on 58 mm paper with huge amounts squeeze to 0 and 1;
    # if even that fails, put every total on a line of its own (qty and price
    # still in columns: 2 + 7-digit qty + 3 + 17-char price fits in 32).
    cells = qty_w + 3 + price_w
    one_row = None
    for indent, gap in ((2, 2), (0, 1)):
        if indent + cells + gap + total_w <= width:
            one_row = (indent, gap)
            break

    lines: list[str] = []
    price_end = width - total_w - one_row[1] if one_row else 0
    if one_row and price_end - 5 > len("Item"):
        heading = "Item".ljust(price_end - 5) + "Price" + "Total".rjust(width - price_end)
    else:
        heading = "Item" + "Total".rjust(width - 4)
    for i, line in enumerate(r.lines):
        lines += _wrap(line.name, width)
        if line.variant:
            lines += _wrap(line.variant, width, indent="  ")
        if one_row:
            qty_price = f"{line.qty:>{qty_w}} x {prices[i]:>{price_w}}"
            lines.append(qty_price.rjust(width - total_w - one_row[1]) + " " * one_row[1] + totals[i].rjust(total_w))
        else:
            lines.append(f"  {line.qty:>{qty_w}} x {prices[i]:>{price_w}}")
            lines.append(totals[i].rjust(width))
        if line.discount:
            lines += _left_right("  Discount", _neg(line.discount), width)

    count = f"Items: {len(r.lines)}"
    qty = f"Qty: {sum(line.qty for line in r.lines)}"
    return [Rule(), Text(heading, bold=True), Rule(), *_texts(lines), Rule(), *_texts(_left_right(count, qty, width))]


def _loyalty(r: Receipt, width: int) -> list[Op]:
    """Promotions, savings and points under the totals (a [receipt] template places them itself)."""
    rows: list[tuple[str, str]] = []
    if r.promotions:
        rows.append(("Promotions applied:", ""))
        rows += [(f"  {name}", _neg(amount)) for name, amount in r.promotions]
    if r.savings:
        rows.append(("You saved", "Rs " + format_money(r.savings)))
    if r.points is not None:
        p = r.points
        if p.earned:
            rows.append(("Points earned" if p.earned > 0 else "Points taken back", f"{abs(p.earned):,}"))
        if p.redeemed:
            rows.append(("Points redeemed" if p.redeemed > 0 else "Points given back", f"{abs(p.redeemed):,}"))
        rows.append(("Points balance", f"{p.balance:,}"))
    if not rows:
        return []
    lines: list[str] = []
    for left, right in rows:
        lines += _left_right(left, right, width)
    return [Rule(), *_texts(lines)]


def _totals(r: Receipt, width: int) -> list[Op]:
    t = r.totals
    rows: list[tuple[str, str, bool]] = [("Subtotal", format_money(t.subtotal), False)]
    if t.discount:
        rows.append(("Discount", _neg(t.discount), False))
    rows += [(tax.label, format_money(tax.amount), False) for tax in t.taxes]
    if t.service_fee is not None:
        # FBR's Re 1 fee: its own line, added to the amount payable (fbr-ims.md §2.2).
        rows.append(("POS Service Fee", format_money(t.service_fee), False))
    rows.append(("TOTAL", "Rs " + format_money(t.total), True))
    for tender in r.tenders:
        rows.append((tender.method, format_money(tender.amount), False))
    if r.tenders and r.change is not None:
        rows.append(("Change", format_money(r.change), False))

    ops: list[Op] = [Rule()]
    for label, amount, bold in rows:
        if bold:
            ops.append(Rule())
        ops += _texts(_left_right(label, amount, width), bold=bold)
        if bold:
            ops.append(Rule())
    return ops


# --------------------------------------------------------------------------
# FBR block (SRO 1006(I)/2021; fbr-ims.md §2.1)
#
# Only a real, live fiscal number gets the FBR mark (logo, QR, verification
# line). Offline receipts say the number is pending; sandbox numbers are
# bannered as not valid for tax and never carry the logo.
# --------------------------------------------------------------------------

def is_test_fiscal_number(fbr: FbrBlock) -> bool:
    number = fbr.fiscal_number or ""
    return fbr.test_mode or "*test*" in number.lower()


def fbr_block(fbr: FbrBlock, width: int) -> list[Op]:
    _check_width(width)
    ops: list[Op] = [Rule()]
    test = is_test_fiscal_number(fbr)
    if test:
        ops += _centered(FBR_TEST_TEXT, width, bold=True)

    if fbr.offline or not fbr.fiscal_number:
        ops += _centered(FBR_OFFLINE_TEXT, width)
        return ops

    number = fbr.fiscal_number
    label = "Test invoice #:" if test else "FBR Invoice #:"
    if len(label) + 1 + len(number) <= width:
        ops.append(Text(f"{label} {number}", align="center", bold=True))
    else:  # 58 mm: the number on its own line so it is never split
        ops.append(Text(label, align="center", bold=True))
        ops += _centered(number, width, bold=True)

    if test:
        # The QR still prints so sandbox runs exercise the printer, but with
        # no logo and no "verify / win prizes" line: it must not pass for a
        # live fiscal invoice.
        ops.append(QR(number, size_mm=FBR_QR_SIZE_MM))
        ops += _centered(FBR_TEST_TEXT, width, bold=True)
        return ops

    if fbr.logo_path:
        ops.append(Image(fbr.logo_path))
    ops.append(QR(number, size_mm=FBR_QR_SIZE_MM))  # the bare number, nothing else
    ops += _centered(FBR_VERIFY_TEXT, width)
    return ops


# --------------------------------------------------------------------------
# Generic slip (transfer slips, shift X/Z reports)
# --------------------------------------------------------------------------

def layout_slip(slip: Slip, width: int) -> list[Op]:
    _check_width(width)
    ops: list[Op] = _header(slip.header_lines, width)
    ops += _banner(slip.title, width)
    details = _left_right("No:", slip.number, width)
    if slip.when:
        details += _left_right("Date:", slip.when, width)
    ops += _texts(details)
    ops.append(Rule())
    for left, right in slip.lines:
        ops += _texts(_left_right(left, right, width) if right else _wrap(left, width) or [""])
    ops.append(Rule())
    if slip.barcode:
        ops.append(Barcode(slip.barcode))
    for line in slip.footer_lines:
        ops += _centered(line, width)
    ops += [Feed(1), Cut()]
    return ops


__all__ = ["layout", "layout_slip", "fbr_block", "is_test_fiscal_number", "WIDTH_58MM", "WIDTH_80MM"]
