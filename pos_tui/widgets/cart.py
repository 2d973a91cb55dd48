"""The cart as a plain fixed-column text block.

A DataTable renders every cell through Rich on each frame (about 10 ms for a full cart on the
test box); a scan must reach the screen within 30 ms, so the cart is drawn as one Text instead.
"""
from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

COLUMNS = (("#", 2, "right"), ("Item", 22, "left"), ("Size/var", 10, "left"), ("Qty", 4, "right"),
           ("Price", 10, "right"), ("Disc", 9, "right"), ("Total", 11, "right"))


def _cell(text: str, width: int, align: str) -> str:
    text = text[:width]
    return text.rjust(width) if align == "right" else text.ljust(width)


def format_row(cells) -> str:
    return " ".join(_cell(str(c), w, a) for c, (_, w, a) in zip(cells, COLUMNS))


HEADER = format_row([name for name, _, _ in COLUMNS])


class CartView(Widget):
    """Rows of plain strings; `cursor` is the highlighted line (what F4/F5/F7/Ctrl+D act on)."""

    can_focus = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rows: list[tuple] = []
        self.notes: dict[int, str] = {}
        self.cursor = 0

    def set_rows(self, rows: list[tuple], cursor: int, notes: dict[int, str] | None = None) -> None:
        """notes: row index -> a second, dim line under it (the promotion that priced it)."""
        self.rows = rows
        self.notes = notes or {}
        self.cursor = max(0, min(cursor, len(rows) - 1)) if rows else 0
        self.refresh()

    def move(self, step: int) -> None:
        if self.rows:
            self.set_rows(self.rows, self.cursor + step)

    def render(self) -> Text:
        text = Text(HEADER + "\n", style="bold", no_wrap=True, overflow="crop")
        room = max(1, self.content_size.height - 1)
        # Keep the highlighted line in view; a long cart scrolls with the cursor.
        first = max(0, min(self.cursor - room + 1, len(self.rows) - room)) if self.cursor >= room else 0
        for i in range(first, min(len(self.rows), first + room)):
            line = format_row(self.rows[i])
            text.append(line + "\n", style="reverse" if i == self.cursor else "")
            if i in self.notes:
                text.append("     " + self.notes[i][:70] + "\n", style="dim italic")
        if not self.rows:
            text.append("  (empty: scan an item or press F2 to find one)", style="dim")
        return text


class RowsView(Widget):
    """A plain list with a highlighted row (search results): cheap to redraw on every keystroke."""

    can_focus = False

    def __init__(self, columns: tuple, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.columns = columns
        self.rows: list[tuple] = []
        self.keys: list = []
        self.cursor = 0

    def set_rows(self, rows: list[tuple], keys: list) -> None:
        self.rows, self.keys, self.cursor = rows, keys, 0
        self.refresh()

    def move(self, step: int) -> None:
        if self.rows:
            self.cursor = max(0, min(len(self.rows) - 1, self.cursor + step))
            self.refresh()

    @property
    def current_key(self):
        return self.keys[self.cursor] if self.rows else None

    def _line(self, cells) -> str:
        return " ".join(_cell(str(c), w, a) for c, (_, w, a) in zip(cells, self.columns))

    def render(self) -> Text:
        text = Text(self._line([name for name, _, _ in self.columns]) + "\n", style="bold", no_wrap=True)
        room = max(1, self.content_size.height - 1)
        first = max(0, self.cursor - room + 1)
        for i in range(first, min(len(self.rows), first + room)):
            text.append(self._line(self.rows[i]) + "\n", style="reverse" if i == self.cursor else "")
        return text
