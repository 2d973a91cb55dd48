"""Ctrl+W: online orders from Shopify, by state, searchable by order name or phone.
Enter searches when the search text changed, otherwise opens the highlighted order."""
from __future__ import annotations

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Input, Label

from pos_core import online_orders
from pos_core.errors import PosError
from pos_core.money import fmt

from .. import work
from ..widgets.keybar import KeyBar
from ..widgets.status import StatusBar
from ..ui import show_msg

FILTERS = (None,) + online_orders.STATES


class OnlineOrdersScreen(Screen):
    SCANS = None
    BINDINGS = [
        Binding("escape", "back", "Back", id="online.back"),
        Binding("enter", "open", "Open", id="online.open"),
        Binding("f2", "next_state", "State", id="online.state", priority=True),
        Binding("f3", "parcels", "Parcels", id="online.parcels", priority=True,
                tooltip="Courier parcels at this branch; scan returns back into stock"),
        Binding("up", "move(-1)", "Up", show=False, id="online.up"),
        Binding("down", "move(1)", "Down", show=False, id="online.down"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.state_index = 0
        self.searched_for = ""

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Horizontal(id="scan-row"):
            yield Label("Find order >", id="scan-label")
            yield Input(id="online-search", placeholder="order name (#1001) or phone (0300...)")
        yield DataTable(id="online", cursor_type="row")
        yield Label("", id="msg")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one("#online", DataTable)
        table.can_focus = False
        for label, width in (("Order", 8), ("State", 17), ("Customer", 16), ("Phone", 12), ("Total", 10), ("Pay", 5)):
            table.add_column(label, width=width)
        self.query_one("#online-search", Input).focus()
        self.reload()

    def show_message(self, text: str, error: bool = False) -> None:
        show_msg(self, text, error)

    @on(Input.Submitted, "#online-search")
    def searched(self, event: Input.Submitted) -> None:
        if event.value.strip() != self.searched_for:
            self.reload()
        else:
            self.action_open()

    def action_open(self) -> None:
        table = self.query_one("#online", DataTable)
        if not table.row_count:
            self.show_message("No order to open", True)
            return
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        self.app.open("online_order", int(key))

    def on_screen_resume(self) -> None:
        table = self.query_one("#online", DataTable)
        row = table.cursor_row
        self.reload()
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))

    @work.guarded("Reading the online orders")
    def reload(self) -> None:
        table = self.query_one("#online", DataTable)
        table.clear()
        state = FILTERS[self.state_index]
        text = self.query_one("#online-search", Input).value
        self.searched_for = text.strip()
        try:
            found = online_orders.search(state=state, text=text)
        except PosError as exc:
            self.show_message(str(exc), True)
            return
        for o in found:
            phone = "0" + o.phone[3:] if o.phone.startswith("+92") else o.phone
            table.add_row(escape(o.name), o.state.replace("_", " ").lower(), escape(o.customer_name[:16]),
                          phone, fmt(o.total_paisa), "COD" if o.is_cod else "paid", key=str(o.id))
        self.show_message(f"{len(found)} online orders" + (f" in state {state.lower()}" if state else "")
                          + ("; Enter opens the highlighted one" if found else ""))

    def action_parcels(self) -> None:
        self.app.open("parcels")

    def action_next_state(self) -> None:
        self.state_index = (self.state_index + 1) % len(FILTERS)
        self.reload()

    def action_move(self, step: int) -> None:
        table = self.query_one("#online", DataTable)
        if table.row_count:
            table.move_cursor(row=max(0, min(table.row_count - 1, table.cursor_row + step)))

    def action_back(self) -> None:
        self.app.pop_screen()
