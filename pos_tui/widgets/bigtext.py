"""Large ASCII digits for the change due: readable from the customer's side of the counter.

Textual's Digits widget draws with box characters that the Linux console font may not have,
so this uses the classic seven-segment ASCII shapes, three rows high.
"""
from __future__ import annotations

from textual.widgets import Static

_GLYPHS = {
    "0": (" _ ", "| |", "|_|"), "1": ("   ", "  |", "  |"), "2": (" _ ", " _|", "|_ "),
    "3": (" _ ", " _|", " _|"), "4": ("   ", "|_|", "  |"), "5": (" _ ", "|_ ", " _|"),
    "6": (" _ ", "|_ ", "|_|"), "7": (" _ ", "  |", "  |"), "8": (" _ ", "|_|", "|_|"),
    "9": (" _ ", "|_|", " _|"), ".": ("  ", "  ", "o "), ",": ("  ", "  ", "/ "),
    "-": ("   ", " _ ", "   "), " ": ("  ", "  ", "  "),
}


def render_big(text: str) -> str:
    rows = ["", "", ""]
    for ch in text:
        glyph = _GLYPHS.get(ch, _GLYPHS[" "])
        for i in range(3):
            rows[i] += glyph[i]
    return "\n".join(r.rstrip() for r in rows)


class BigText(Static):
    def show(self, text: str) -> None:
        self.update(render_big(text))
