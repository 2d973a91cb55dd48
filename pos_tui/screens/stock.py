"""Ctrl+K: stock of an item at every branch, in transit, and its history at this branch."""
from __future__ import annotations

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Input, Label, Static

from pos_core import catalog, stock
from pos_core.errors import PosError

from ..receipts import pk_time
from ..widgets.keybar import KeyBar
from ..widgets.status import StatusBar
from .orders import _msg


class StockScreen(Screen):
    SCANS = None
    BINDINGS = [Binding("escape", "back", "Back", id="stock.back")]

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Horizontal(id="scan-row"):
            yield Label("Item >", id="scan-label")
            yield Input(id="stock-code", placeholder="scan or type a barcode or SKU")
        yield Static(id="stock-view")
        yield Label("", id="msg")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#stock-code", Input).focus()

    def show_message(self, text: str, error: bool = False) -> None:
        _msg(self, text, error)

    @on(Input.Submitted, "#stock-code")
    def looked_up(self, event: Input.Submitted) -> None:
        event.input.value = ""
        try:
            v = catalog.lookup(event.value).variant
        except PosError as exc:
            self.show_message(str(exc), True)
            return
        view = stock.variant_view(v.id)
        here = self.app.counter.branch
        lines = [f"[b]{escape(v.sku)}[/]  {escape(v.name)}", ""]
        for code, qty in view["on_hand"].items():
            transit = view["in_transit"].get(code, 0)
            mark = " (this branch)" if code == here.code else ""
            lines.append(f"  {code:8} on hand {qty:5}" + (f"   in transit here {transit}" if transit else "") + mark)
        lines += ["", f"Last movements at {here.code}:"]
        for h in stock.history(v.id, here.id, limit=8):
            lines.append(f"  {pk_time(h.at, '%d-%m %H:%M')} {h.delta:+5} {h.kind[:12]:12} {escape(h.doc[:20]):20} "
                         f"{escape(h.person[:12])}")
        self.query_one("#stock-view", Static).update("\n".join(lines))
        self.show_message(f"{v.sku}: {view['on_hand'].get(here.code, 0)} here")

    def action_back(self) -> None:
        self.app.pop_screen()
