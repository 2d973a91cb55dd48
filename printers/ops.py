"""Print operations: the small vocabulary between layout and output.

`printers.layout` produces a list of these; `printers.preview` turns them
into plain text and `printers.escpos_out` into ESC/POS bytes. Keeping them
as plain data lets the same receipt be previewed, tested and printed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

Align = Literal["left", "center", "right"]


@dataclass(frozen=True)
class Text:
    """One printed line. Layout guarantees len(text) <= width, or <= width // 2
    when `double` (double width and height), so the printer never wraps."""

    text: str
    align: Align = "left"
    bold: bool = False
    double: bool = False


@dataclass(frozen=True)
class Rule:
    """A full-width line of dashes."""


@dataclass(frozen=True)
class QR:
    data: str
    # Smallest printed side. The output chooses dots per module so the code is
    # at least this big at 203 dpi.
    size_mm: float = 12.0


@dataclass(frozen=True)
class Image:
    path: str


@dataclass(frozen=True)
class Barcode:
    value: str
    kind: str = "CODE128"


@dataclass(frozen=True)
class Urdu:
    """A line of Urdu, drawn as an image (printers.urdu) because thermal printers have no Urdu
    font. `left` is Latin text on the same row (an amount). Consecutive Urdu ops print as one
    image. `size` is the font size in dots."""

    text: str
    left: str = ""
    align: Align = "right"
    font: str = "nastaliq"
    size: int = 26


@dataclass(frozen=True)
class Feed:
    n: int = 1


@dataclass(frozen=True)
class Cut:
    pass


@dataclass(frozen=True)
class DrawerKick:
    """Open the cash drawer. Output sends it before anything else, wherever it
    sits in the list, so the cashier isn't waiting for the paper."""


Op = Union[Text, Rule, QR, Image, Barcode, Urdu, Feed, Cut, DrawerKick]

__all__ = ["Align", "Text", "Rule", "QR", "Image", "Barcode", "Urdu", "Feed", "Cut", "DrawerKick", "Op"]
