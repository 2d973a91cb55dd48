"""Drive a python-escpos printer from print operations.

`render(ops, printer)` works with any `escpos.escpos.Escpos` instance (Usb,
File, Network, Serial or Dummy in tests). It does not import escpos at module
level: the caller already holds a printer, and `printers.transport` takes care
of importing escpos cheaply.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence

from .ops import QR, Barcode, Cut, DrawerKick, Feed, Image, Op, Rule, Text, Urdu

log = logging.getLogger(__name__)

DEFAULT_DPI = 203  # every 58/80 mm thermal printer we sell into
_MM_PER_INCH = 25.4


def qr_module_dots(data: str, size_mm: float, dpi: int = DEFAULT_DPI) -> int:
    """Dots per QR module so the printed code is at least `size_mm` wide.

    Uses the smallest QR version that holds `data` at error correction M (what
    the `qrcode` library picks). A printer drawing natively may pick a bigger
    version, which only makes the code bigger, never smaller.
    """
    import qrcode  # small import; only needed when a QR is printed

    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    code.add_data(data)
    code.make(fit=True)
    modules = 17 + 4 * code.version
    dots_wanted = size_mm / _MM_PER_INCH * dpi
    return min(16, max(1, math.ceil(dots_wanted / modules)))  # ESC/POS allows 1-16


def _profile_dpi(printer) -> int:
    dpi = printer.profile.profile_data.get("media", {}).get("dpi")
    return dpi if isinstance(dpi, int) and dpi > 0 else DEFAULT_DPI


def _has_media_width(printer) -> bool:
    width = printer.profile.profile_data.get("media", {}).get("width", {}).get("pixels")
    return isinstance(width, int) and width > 0


class _Styler:
    """Sends text style only when it changes: fewer bytes over a 9600-baud
    serial line. Every attribute is set explicitly when it does change,
    because python-escpos' set() only sends what it is given, so bold from
    one line would otherwise leak into the next."""

    def __init__(self, printer) -> None:
        self.printer = printer
        self.current: tuple | None = None  # unknown printer state at start

    def __call__(self, align: str = "left", bold: bool = False, double: bool = False) -> None:
        wanted = (align, bold, double)
        if wanted != self.current:
            self.printer.set(
                align=align, bold=bold,
                normal_textsize=not double, double_height=double, double_width=double,
            )
            self.current = wanted


def render(ops: Sequence[Op], printer, *, width: int | None = None, qr_native: bool | None = None) -> None:
    """Send `ops` to `printer`.

    width: characters per line, used only for Rule (defaults to 48 when the
    profile's paper is 576 px or unknown, 32 for 384 px paper).
    qr_native: force native (GS ( k) or image QR; by default native when the
    printer's profile lists the qrCode feature.
    """
    from escpos.constants import QR_ECLEVEL_M  # escpos is already imported: the caller has a printer

    if width is None:
        pixels = printer.profile.profile_data.get("media", {}).get("width", {}).get("pixels")
        width = 32 if isinstance(pixels, int) and pixels <= 384 else 48
    if qr_native is None:
        qr_native = printer.profile.supports("qrCode")

    # The drawer opens before the first line prints, so the cashier can count
    # change while the receipt comes out.
    if any(isinstance(op, DrawerKick) for op in ops):
        printer.cashdraw(2)

    style = _Styler(printer)
    urdu_rows: list[Urdu] = []

    def flush_urdu() -> None:
        if urdu_rows:
            from . import urdu
            pixels = printer.profile.profile_data.get("media", {}).get("width", {}).get("pixels")
            dots = pixels if isinstance(pixels, int) and pixels > 0 else (384 if width <= 32 else 576)
            first = urdu_rows[0]
            img = urdu.render_lines([urdu.Line(u.text, u.left, u.align) for u in urdu_rows],
                                    dots=dots - dots % 8, font=first.font, size=first.size)
            style("left")
            printer.image(img, impl="bitImageRaster", fragment_height=max(img.height, 1))
            urdu_rows.clear()

    for op in ops:
        if isinstance(op, Urdu):
            urdu_rows.append(op)
            continue
        flush_urdu()
        if isinstance(op, Text):
            style(op.align, op.bold, op.double)
            printer.textln(op.text)
        elif isinstance(op, Rule):
            style()
            printer.textln("-" * width)
        elif isinstance(op, QR):
            style("center")  # native QR ignores center=; alignment does it
            size = qr_module_dots(op.data, op.size_mm, _profile_dpi(printer))
            printer.qr(op.data, ec=QR_ECLEVEL_M, size=size, native=qr_native,
                       center=not qr_native and _has_media_width(printer))
        elif isinstance(op, Image):
            if not os.path.isfile(op.path):
                # A missing logo must not cost the customer their receipt.
                log.warning("receipt image not found, skipped: %s", op.path)
                continue
            style("center")
            printer.image(op.path, center=_has_media_width(printer))
        elif isinstance(op, Barcode):
            style("center")
            # CODE128 needs ESC/POS function type B and a code-set prefix.
            value = "{B" + op.value if op.kind == "CODE128" and not op.value.startswith("{") else op.value
            printer.barcode(value, op.kind, function_type="B" if op.kind == "CODE128" else None,
                            pos="BELOW", align_ct=True)
        elif isinstance(op, Feed):
            printer.ln(op.n)
        elif isinstance(op, Cut):
            printer.cut()  # feeds first (ESC d 6) so the last line clears the blade
        elif isinstance(op, DrawerKick):
            pass  # already sent first
        else:
            raise TypeError(f"unknown print operation: {op!r}")
    flush_urdu()
    style.current = None  # force it: leave the printer plain for the next job
    style()


__all__ = ["render", "qr_module_dots"]
