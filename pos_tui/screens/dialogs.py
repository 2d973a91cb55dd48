"""Small modal dialogs: ask for a value, approve with a PIN, search, pick, preview, help.

Each returns its answer through `dismiss`; Esc always dismisses with None and changes nothing.
"""
from __future__ import annotations

from typing import Callable

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Label, Static

from pos_core import catalog, customers, db, staff as staffmod
from pos_core.errors import PosError
from pos_core.money import fmt

from ..widgets.cart import RowsView
from ..work import guarded, run as run_core

ESC = Binding("escape", "cancel", "Back", id="dialog.cancel")


class PromptScreen(ModalScreen):
    """Ask for one value. `check(text)` returns (value, None) or (None, error message)."""

    SCANS = "pass"  # a scan goes to the screen underneath, the field keeps what was typed
    BINDINGS = [ESC]
    THREADED = False  # run `check` in a worker thread (slow checks: PIN hashing)

    class Checked(Message):
        def __init__(self, value, error: str | None) -> None:
            super().__init__()
            self.value, self.error = value, error

    def __init__(self, title: str, label: str, check: Callable[[str], tuple[object, str | None]] | None = None,
                 value: str = "", password: bool = False):
        super().__init__()
        self.title_text, self.label, self.check, self.value, self.password = title, label, check, value, password

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Label(self.label)
            yield Input(value=self.value, password=self.password, id="prompt")
            yield Label("", id="prompt-error", classes="error")
            yield Label("Enter: OK   Esc: back", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#prompt", Input).focus()

    @on(Input.Submitted, "#prompt")
    def submitted(self, event: Input.Submitted) -> None:
        if self.check is None:
            self.dismiss(event.value)
            return
        if self.THREADED:
            self.query_one("#prompt-error", Label).update("Checking...")
            self._check_in_thread(event.value)
            return
        value, error = self.check(event.value)
        self.checked(self.Checked(value, error))

    @work(thread=True, exclusive=True, group="prompt-check", exit_on_error=False)
    def _check_in_thread(self, text: str) -> None:
        try:
            self.post_message(self.Checked(*self.check(text)))
        finally:
            db.close()

    @on(Checked)
    def checked(self, msg: "PromptScreen.Checked") -> None:
        if msg.error:
            self.query_one("#prompt-error", Label).update(escape(msg.error))
            self.app.bell()
            return
        self.dismiss(msg.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ApprovalScreen(PromptScreen):
    """A supervisor or manager approves on the spot with their PIN. Returns the Staff or None.
    `allowed(staff)` says whether this person may approve what is asked."""

    SCANS = None  # a PIN field: never treat typing here as a scan
    THREADED = True  # scrypt over every staff member takes ~60 ms each: keep the screen live

    def __init__(self, what: str, allowed: Callable[[object], bool]):
        self.allowed = allowed
        super().__init__("Approval needed", f"{what}\nSupervisor or manager PIN:", self._check, password=True)

    def _check(self, pin: str):
        try:
            staffmod.check_pin_format(pin)
        except PosError as exc:
            return None, str(exc)
        person = staffmod.authenticate(pin)
        if person is None:
            return None, "PIN not recognised"
        if person.id == self.app.staff.id:
            return None, "someone else must approve"
        if not self.allowed(person):
            return None, f"{person.name} ({person.role}) cannot approve this; ask a manager"
        return person, None


class ConfirmScreen(PromptScreen):
    def __init__(self, question: str):
        super().__init__("Please confirm", f"{question}\nType Y and Enter to confirm.",
                         lambda t: (True, None) if t.strip().lower() in ("y", "yes") else (None, "type Y, or Esc"))


class SearchScreen(ModalScreen):
    """F2: find an item by name; results as you type. Returns a variant id or None."""

    SCANS = "pass"
    BINDINGS = [ESC, Binding("down", "move(1)", "Next", show=False, id="search.down"),
                Binding("up", "move(-1)", "Previous", show=False, id="search.up")]
    COLUMNS = (("Item", 44, "left"), ("SKU", 14, "left"), ("Price", 10, "right"))

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label("Find an item (name, colour, size or SKU)", classes="dialog-title")
            yield Input(placeholder="e.g. lawn red m", id="search")
            yield RowsView(self.COLUMNS, id="results")
            yield Label("Type to search  Up/Down: choose  Enter: add  Esc: back", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#search", Input).focus()

    @on(Input.Changed, "#search")
    def changed(self, event: Input.Changed) -> None:
        try:
            found = catalog.search(event.value, limit=15)
        except Exception:  # noqa: BLE001 - half-typed text must never break the screen
            found = []
        self.query_one("#results", RowsView).set_rows([(v.name, v.sku, fmt(v.price_paisa)) for v in found],
                                                      [v.id for v in found])

    def action_move(self, step: int) -> None:
        self.query_one("#results", RowsView).move(step)

    @on(Input.Submitted, "#search")
    def submitted(self) -> None:
        key = self.query_one("#results", RowsView).current_key
        if key is None:
            self.app.bell()
            return
        self.dismiss(key)

    def action_cancel(self) -> None:
        self.dismiss(None)


class CustomerScreen(ModalScreen):
    """F3: attach a customer by phone; a new number asks for a name and creates the customer."""

    SCANS = "pass"
    BINDINGS = [ESC]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Customer", classes="dialog-title")
            yield Label("Mobile number (e.g. 0300 1234567):")
            yield Input(id="phone")
            yield Label("", id="cust-found")
            yield Input(placeholder="Name (new customer)", id="name", disabled=True)
            yield Label("", id="cust-error", classes="error")
            yield Label("Enter: attach   Esc: back", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#phone", Input).focus()

    def _error(self, text: str) -> None:
        self.query_one("#cust-error", Label).update(escape(text))
        self.app.bell()

    def show_message(self, text: str, error: bool = False) -> None:
        self.query_one("#cust-error", Label).update(escape(text))
        if error:
            self.app.bell()

    @on(Input.Submitted, "#phone")
    @guarded("Finding the customer")
    def phone_entered(self, event: Input.Submitted) -> None:
        try:
            found = customers.find_by_phone(event.value)
        except PosError as exc:
            self._error(str(exc))
            return
        if found is not None:
            self.dismiss(found)
            return
        name = self.query_one("#name", Input)
        name.disabled = False
        self.query_one("#cust-found", Label).update("New customer: enter a name")
        name.focus()

    @on(Input.Submitted, "#name")
    def name_entered(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            self._error("enter the customer's name")
            return
        phone, name = self.query_one("#phone", Input).value, event.value
        run_core(self, lambda: customers.get_or_create(phone, name), self.dismiss, failed=self._error, busy=None,
                 what="Saving the customer")

    def action_cancel(self) -> None:
        self.dismiss(None)


class PickScreen(ModalScreen):
    """Choose one row from a list (drafts). rows: [(key, [cells...])]. Returns the key or None."""

    SCANS = "pass"
    BINDINGS = [ESC, Binding("enter", "pick", "Choose", id="pick.choose")]

    def __init__(self, title: str, columns: list[tuple[str, int]], rows: list[tuple[str, list[str]]]):
        super().__init__()
        self.title_text, self.columns, self.rows = title, columns, rows

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(self.title_text, classes="dialog-title")
            yield DataTable(id="pick", cursor_type="row")
            yield Label("Up/Down: choose  Enter: open  Esc: back", classes="hint")

    def on_mount(self) -> None:
        table = self.query_one("#pick", DataTable)
        for name, width in self.columns:
            table.add_column(name, width=width)
        for key, cells in self.rows:
            table.add_row(*[escape(c) for c in cells], key=key)
        table.focus()

    @on(DataTable.RowSelected)
    def selected(self, event: DataTable.RowSelected) -> None:
        self.dismiss(event.row_key.value)

    def action_pick(self) -> None:
        table = self.query_one("#pick", DataTable)
        if table.row_count:
            self.dismiss(table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class TextScreen(ModalScreen):
    """A scrollable text: the receipt preview, the X report, the key map."""

    SCANS = "pass"
    BINDINGS = [ESC, Binding("f1", "cancel", "Close", show=False, id="text.close")]

    def __init__(self, title: str, text: str):
        super().__init__()
        self.title_text, self.text = title, text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide tall"):
            yield Label(self.title_text, classes="dialog-title")
            with VerticalScroll(id="text-scroll"):
                yield Static(escape(self.text), id="text-body")
            yield Label("Up/Down/PgUp/PgDn: scroll   Esc: close", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#text-scroll").focus()

    def action_cancel(self) -> None:
        self.dismiss(None)
