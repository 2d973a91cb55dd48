"""Pieces the till's screens share; this module imports no screen (screens open one another by
name through `app.open`, see SCREENS in app.py).

General helpers first (message line, yes/no question, branch rows), then the base of the branch
manager's stock screens (Ctrl+K and its F-keys): every stock screen has the same shape in 80x24: status line, a code field (scan or type), a short
head, one table, a message line and the key line. Scans typed or read by the scanner go to
`handle_code`. Every change goes through pos_core; its errors become the message line.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Callable

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Input, Label, Static

from pos_core import catalog, staff as staffmod
from pos_core.errors import InvalidInput, PosError
from pos_core.money import to_paisa

from .widgets.keybar import KeyBar
from .widgets.status import StatusBar


# --- general ----------------------------------------------------------------------------------------
def show_msg(screen, text: str, error: bool = False) -> None:
    """Put one line on the screen's #msg label (markup escaped); errors beep."""
    label = screen.query_one("#msg", Label)
    label.set_class(error, "error")
    label.update(escape(text))
    if error:
        screen.app.bell()


def ask_yes_no(app, title: str, question: str, done: Callable[[bool], None]) -> None:
    def check(text: str):
        t = text.strip().lower()
        if t in ("y", "yes"):
            return True, None
        if t in ("n", "no"):
            return False, None
        return None, "type Y or N"
    app.open("prompt", title, f"{question}\nType Y (yes) or N (no) and Enter.", check,
             then=lambda answer: answer is not None and done(answer))


def ask_return_reason(app, reasons, note: str, done: Callable[[str, str], None]) -> None:
    """Why goods come back, from the short list (refunds.REASONS, or ONLINE_REASONS for a parcel),
    then a note (needed for "Other"); `done(reason, note)`, or nothing if the person escapes."""
    from pos_core import refunds
    labels = dict(reasons)

    def picked(reason) -> None:
        if reason is None:
            return

        def check(text: str):
            try:
                return refunds.check_reason(reason, text, labels)[1], None
            except PosError as exc:
                return None, str(exc)
        optional = "" if reason == "other" else " (optional, Enter to skip)"
        app.open("prompt", "Return note", f"{labels[reason]}: a few words{optional}", check, note,
                 then=lambda text: text is not None and done(reason, text))
    app.open("pick", "Why is it coming back?", [("Reason", 30)], [(key, [label]) for key, label in reasons],
             then=picked)


def branch_rows(current_code: str = "") -> list[tuple[str, list[str]]]:
    """Every branch as a pick row, this till's branch first."""
    from pos_core.models import Branch
    rows = [(str(b.id), [b.code, b.name + (" (this till)" if b.code == current_code else "")])
            for b in Branch.select().order_by(Branch.code)]
    rows.sort(key=lambda r: r[1][0] != current_code)
    return rows


def packed_extra(order) -> dict[int, int]:
    """Order line id -> packed units an edit removed (they wait for an exchange return)."""
    from pos_core import online_orders
    covered = online_orders.coverage(order)
    return {l.id: covered.get(l.id, 0) - l.current_quantity for l in order.lines
            if covered.get(l.id, 0) > l.current_quantity}


def local_phone(phone: str) -> str:
    """+923001234567 -> 03001234567, as people here write it."""
    return "0" + phone[3:] if phone.startswith("+92") else phone


# --- the stock screens' base --------------------------------------------------------------------

MOVE_KEYS = [Binding("up", "move(-1)", "Up", show=False, id="stock.up"),
             Binding("down", "move(1)", "Down", show=False, id="stock.down"),
             Binding("pageup", "move(-10)", "PgUp", show=False, id="stock.page_up"),
             Binding("pagedown", "move(10)", "PgDn", show=False, id="stock.page_down")]


def parse_entry(text: str, *, signed: bool = False, cost: bool = False) -> tuple[int, str, Decimal | None]:
    """'code', '3*code', '-2*code' (signed only), 'code@550' or '3*code@550' (cost only).
    Returns (qty, code, unit cost or None)."""
    t = (text or "").strip()
    unit_cost = None
    if "@" in t:
        if not cost:
            raise InvalidInput("a cost (@) is not asked for here")
        t, _, c = t.rpartition("@")
        try:
            unit_cost = Decimal(c.strip().replace(",", ""))
            to_paisa(unit_cost)
        except (InvalidOperation, PosError, ValueError):
            raise InvalidInput(f"{c.strip()!r} is not a unit cost (e.g. 3*code@550)") from None
        if unit_cost < 0:
            raise InvalidInput("a unit cost cannot be negative")
    qty = 1
    if "*" in t:
        q, _, t = t.partition("*")
        q = q.strip()
        body = q[1:] if q[:1] in "+-" else q
        if not body.isdigit() or (q[:1] == "-" and not signed) or not 1 <= int(body) <= 9999:
            raise InvalidInput("quantity is a whole number from 1 to 9999, as in 3*code"
                               + (" or -3*code" if signed else ""))
        qty = -int(body) if q[:1] == "-" else int(body)
    elif signed and t[:1] == "-" and len(t) > 1:
        t, qty = t[1:], -1
    code = catalog.check_code(t)
    return qty, code, unit_cost


def find(code: str):
    return catalog.lookup(code).variant


def cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "~"


def is_manager(person) -> bool:
    return person is not None and staffmod.may(person, "stock_fix")


class SlipPrinted(Message):
    def __init__(self, what: str, ok: bool, error: str | None, warning: str | None) -> None:
        super().__init__()
        self.what, self.ok, self.error, self.warning = what, ok, error, warning


class StockBase(Screen):
    """Code field + head + table. Subclasses set COLUMNS and implement handle_code and reload."""

    SCANS = "stock"
    CODE_LABEL = "Item >"
    PLACEHOLDER = "scan, or type code / 3*code"
    COLUMNS: tuple[tuple[str, int], ...] = ()
    BINDINGS = [Binding("escape", "back", "Back", id="stock.common.back")] + MOVE_KEYS
    DEFAULT_CSS = """
    StockBase #stock-head { height: auto; max-height: 5; padding: 0 1; }
    StockBase #stock-rows { height: 1fr; border: ascii $secondary; scrollbar-size-vertical: 1;
                            scrollbar-size-horizontal: 0; }
    StockBase #stock-detail { height: auto; max-height: 3; padding: 0 1; }
    """

    def __init_subclass__(cls, **kwargs) -> None:
        # The reads these screens make on the UI thread (reload, a scanned code) are guarded the
        # same way as the writes: an unexpected error is logged and shown, the till goes on.
        from . import work
        super().__init_subclass__(**kwargs)
        for name in ("reload", "handle_code"):
            if name in cls.__dict__:
                setattr(cls, name, work.guarded("Reading the stock")(cls.__dict__[name]))

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Horizontal(id="scan-row"):
            yield Label(self.CODE_LABEL, id="scan-label")
            yield Input(id="stock-code", placeholder=self.PLACEHOLDER)
        yield Static(id="stock-head")
        yield DataTable(id="stock-rows", cursor_type="row")
        yield Static(id="stock-detail")
        yield Label("", id="msg")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.table
        table.can_focus = False
        for name, width in self.COLUMNS:
            table.add_column(name, width=width)
        self.query_one("#stock-code", Input).focus()
        self.reload()

    # --- plumbing ----------------------------------------------------------------------------
    @property
    def table(self) -> DataTable:
        return self.query_one("#stock-rows", DataTable)

    @property
    def branch(self):
        return self.app.counter.branch

    def set_head(self, text: str) -> None:
        self.query_one("#stock-head", Static).update(text)

    def set_detail(self, text: str) -> None:
        self.query_one("#stock-detail", Static).update(text)

    def show_message(self, text: str, error: bool = False) -> None:
        label = self.query_one("#msg", Label)
        label.set_class(error, "error")
        label.update(escape(text))
        if error:
            self.app.bell()

    def fill(self, rows: list[tuple[str, list[str]]], keep: bool = True) -> None:
        table = self.table
        row = table.cursor_row if keep else 0
        table.clear()
        for key, cells in rows:
            table.add_row(*cells, key=key)
        if table.row_count:
            table.move_cursor(row=min(max(row, 0), table.row_count - 1))

    def current_key(self) -> str | None:
        table = self.table
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value

    def action_move(self, step: int) -> None:
        table = self.table
        if table.row_count:
            table.move_cursor(row=min(max(table.cursor_row + step, 0), table.row_count - 1))

    working = False   # a core step is running: the next one waits (no double posting)

    def core(self, fn: Callable, *args, then: Callable[[object], None] | None = None,
             busy: str | None = "Saving...", **kwargs) -> None:
        """Run fn(*args, **kwargs) (a pos_core step) through pos_tui.work: in a worker thread, then
        then(result) here. Any error, "database is locked" included, goes to the message line."""
        from . import work
        if self.working:
            self.show_message("Still working on the last step: a moment, then try again", True)
            return
        self.working = True

        def done(result) -> None:
            self.working = False
            if then is not None:
                then(result)

        def failed(text: str) -> None:
            self.working = False
            self.show_message(text, True)
        # `what` names the step in the log; the cashier reads whether anything was saved.
        unexpected = ("NOT saved ({error}); nothing changed, try again" if busy
                      else "could not read it ({error}); try again")
        work.run(self, lambda: fn(*args, **kwargs), done, failed=failed, busy=busy, group="stock",
                 what=f"{type(self).__name__}.{getattr(fn, '__name__', 'step')}", unexpected=unexpected)

    def with_manager(self, what: str, then: Callable[[object], None]) -> None:
        """Call then(person) with the signed-in manager, or after a manager approves with a PIN."""
        if is_manager(self.app.staff):
            then(self.app.staff)
            return

        def done(person) -> None:
            if person is None:
                self.show_message("Not approved: nothing changed", True)
            else:
                then(person)
        self.app.open("approval", what, is_manager, then=done)

    def confirm(self, question: str, then: Callable[[], None]) -> None:
        self.app.open("confirm", question, then=lambda ok: then() if ok else None)

    # --- input -------------------------------------------------------------------------------
    @on(Input.Submitted, "#stock-code")
    def _submitted(self, event: Input.Submitted) -> None:
        event.input.value = ""
        self.handle_code(event.value)

    def scanned(self, code: str) -> None:
        """A keyboard-wedge scan (called by the app)."""
        self.handle_code(code)

    def handle_code(self, text: str) -> None:  # pragma: no cover - overridden
        pass

    def reload(self) -> None:  # pragma: no cover - overridden
        pass

    def action_back(self) -> None:
        self.app.pop_screen()

    # --- printing ----------------------------------------------------------------------------
    def print_slip(self, slip, what: str) -> None:
        from .receipts import printer_settings
        settings = printer_settings(self.app.cfg)
        if settings is None:
            self.show_message(f"{what}: no printer is set up for this counter", True)
            return
        self._print(settings, slip, what)

    @work(thread=True, group="print", exit_on_error=False)
    def _print(self, settings: dict, slip, what: str) -> None:
        from printers.layout import layout_slip
        from printers.transport import columns_for, print_ops
        try:
            result = print_ops(settings, layout_slip(slip, columns_for(settings)))
            self.post_message(SlipPrinted(what, result.ok, result.error, result.warning))
        except Exception as exc:  # noqa: BLE001 - a printer never takes the till down
            self.post_message(SlipPrinted(what, False, str(exc), None))

    @on(SlipPrinted)
    def _printed(self, msg: SlipPrinted) -> None:
        msg.stop()
        if msg.ok:
            self.show_message(f"{msg.what} printed" + (f" ({msg.warning})" if msg.warning else ""))
        else:
            self.show_message(f"{msg.what} did NOT print (F6 prints it again): {msg.error}", True)
