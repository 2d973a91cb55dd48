"""A fixed-size text panel that repaints itself without asking for a new layout.

`Static.update` requests a layout refresh (its size might change), which makes Textual reflow
and repaint the whole screen: about 10 ms a frame here. The totals, customer and message areas
have fixed sizes in the stylesheet, so they only need their own region repainted.
"""
from __future__ import annotations

from rich.text import Text
from textual.widget import Widget


class Panel(Widget):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._markup = ""

    def show(self, markup: str) -> None:
        if markup != self._markup:
            self._markup = markup
            self.refresh()

    @property
    def text(self) -> str:
        return Text.from_markup(self._markup).plain

    def render(self) -> Text:
        return Text.from_markup(self._markup)
