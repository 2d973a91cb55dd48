"""Plain-text rendering of print operations.

Used by the till's on-screen preview and by the golden-file tests, so a
reviewer can read a receipt diff. Standard library only.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable

from .ops import QR, Barcode, Cut, DrawerKick, Feed, Image, Op, Rule, Text, Urdu


def _fit_placeholder(label: str, content: str, width: int) -> str:
    """`[QR: 1234...]`: the content is shortened with '...' to fit one line."""
    line = f"[{label}: {content}]"
    if len(line) > width:
        room = width - len(label) - 7  # "[", ": ", "...]"
        line = f"[{label}: {content[:max(room, 0)]}...]"
    return line.center(width).rstrip()


def _cut_line(width: int) -> str:
    """A dashed line with scissors, so the end of a receipt is obvious."""
    dashes = "- " * width
    half = (width - 4) // 2
    return (dashes[:half].rstrip() + " 8< " + dashes[: width - half - 4]).rstrip()


def preview(ops: Iterable[Op], width: int, urdu_text: bool = True) -> str:
    """Render ops as text, one printed line per text line, no trailing spaces.

    urdu_text=False shows each Urdu line as "(Urdu)" (plus its Latin part): the till's screen
    runs on the Linux console, which cannot draw Urdu.

    Double-size text is shown as normal characters (layout keeps it within
    half the width, and only centres it). A drawer kick prints nothing.
    """
    out: list[str] = []
    for op in ops:
        if isinstance(op, Text):
            # Layout never exceeds the width; wrap anyway, like the printer would.
            pieces = textwrap.wrap(op.text, width, drop_whitespace=False, replace_whitespace=False) if len(op.text) > width else [op.text]
            for piece in pieces or [""]:
                if op.align == "center":
                    piece = piece.strip().center(width)
                elif op.align == "right":
                    piece = piece.rjust(width)
                out.append(piece.rstrip())
        elif isinstance(op, Rule):
            out.append("-" * width)
        elif isinstance(op, QR):
            out.append(_fit_placeholder("QR", op.data, width))
        elif isinstance(op, Image):
            out.append("[LOGO]".center(width).rstrip())
        elif isinstance(op, Barcode):
            out.append(_fit_placeholder(op.kind, op.value, width))
        elif isinstance(op, Urdu):
            # Printed as an image; the preview shows the text itself (the amount on the left).
            body = op.text if urdu_text else "(Urdu)"
            text = body.center(width) if op.align == "center" and not op.left else \
                op.left + body.rjust(max(width - len(op.left), 0))
            out.append(text.rstrip())
        elif isinstance(op, Feed):
            out.extend([""] * op.n)
        elif isinstance(op, Cut):
            out.append(_cut_line(width))
        elif isinstance(op, DrawerKick):
            pass  # not on paper
        else:
            raise TypeError(f"unknown print operation: {op!r}")
    return "\n".join(out) + "\n"


__all__ = ["preview"]
