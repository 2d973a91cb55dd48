"""Opening a shift with a float, cash in and out, the X report, and closing with a count."""
from __future__ import annotations

from decimal import Decimal

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Input, Label, Static

from pos_core import shifts, staff as staffmod
from pos_core.errors import PosError
from pos_core.money import MoneyError, fmt, to_paisa

from .. import work
from ..receipts import shift_slip
from ..widgets.keybar import KeyBar
from ..widgets.status import StatusBar


def money_check(text: str, allow_zero: bool = True):
    try:
        paisa = to_paisa(text or "0")
    except MoneyError as exc:
        return None, str(exc)
    if paisa < 0 or (paisa == 0 and not allow_zero):
        return None, "enter an amount more than zero"
    return Decimal(paisa) / 100, None


def slip_text(slip) -> str:
    from printers.layout import layout_slip
    from printers.preview import preview
    return preview(layout_slip(slip, 40), 40)


class OpenShiftScreen(Screen):
    SCANS = None
    BINDINGS = [Binding("ctrl+l", "sign_out", "Sign out", id="shift.sign_out", priority=True)]

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Vertical(classes="dialog"):
            yield Label("Open a shift", classes="dialog-title")
            # A Static wraps in the 60-column dialog; a Label would cut the sentence at 80x24.
            yield Static("No shift is open at this counter. Count the float in the drawer.", classes="wrap")
            yield Label("Opening float (Rs):")
            yield Input(id="float")
            yield Label("", id="shift-msg", classes="error")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#float", Input).focus()

    def show_message(self, text: str, error: bool = False) -> None:
        self.query_one("#shift-msg", Label).update(escape(text))

    @on(Input.Submitted, "#float")
    def submitted(self, event: Input.Submitted) -> None:
        app = self.app
        amount, error = money_check(event.value)
        if error:
            app.bell()
            self.show_message(error, True)
            return

        def opened(shift) -> None:
            app.shift = shift
            app.enter_till()

        def failed(text: str) -> None:
            app.bell()
            self.show_message(text, True)
        work.run(self, lambda: shifts.open_shift(app.counter.id, app.staff.id, amount), opened, failed=failed,
                 busy="Opening the shift...", what="Opening the shift")

    def action_sign_out(self) -> None:
        self.app.sign_out()


class ShiftScreen(Screen):
    """Ctrl+T from the sale screen: the X report and the drawer's cash movements."""

    SCANS = None
    BINDINGS = [
        Binding("escape", "back", "Back", id="shift.back"),
        Binding("f2", "cash('in')", "Cash in", id="shift.cash_in"),
        Binding("f3", "cash('out')", "Cash out", id="shift.cash_out"),
        Binding("f4", "print_x", "Print X", id="shift.print_x"),
        Binding("f9", "close_shift", "Close shift", id="shift.close"),
    ]

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield Label("Shift - X report", classes="dialog-title")
        yield Static(id="xreport")
        yield Label("", id="shift-msg")
        yield KeyBar()

    def on_mount(self) -> None:
        self.reload()

    @work.guarded("Reading the shift")
    def reload(self) -> None:
        self.query_one("#xreport", Static).update(escape(slip_text(shift_slip(self.app.shift, self.app.cfg, "X REPORT"))))

    def show_message(self, text: str, error: bool = False) -> None:
        label = self.query_one("#shift-msg", Label)
        label.set_class(error, "error")
        label.update(escape(text))

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_print_x(self) -> None:
        self.app.print_shift(self.app.shift.id, "X REPORT")

    def action_cash(self, kind: str) -> None:
        app = self.app
        state: dict = {}

        def do(approver=None) -> None:
            def recorded(_) -> None:
                self.show_message(f"Cash {kind}: Rs {fmt(to_paisa(state['amount']))} recorded")
                self.reload()
            shift_id, staff_id = app.shift.id, app.staff.id
            work.run(self, lambda: shifts.cash_movement(shift_id, staff_id, kind, state["amount"], state["reason"],
                                                        approver_id=approver.id if approver else None),
                     recorded, busy="Saving...", what=f"Cash {kind}")

        def got_reason(reason) -> None:
            if reason is None:
                return
            state["reason"] = reason
            if kind == "out" and not staffmod.may(app.staff, "cash_out"):
                app.open("approval", "Taking cash out of the drawer",
                                               lambda s: staffmod.may(s, "cash_out"), then=lambda who: who and do(who))
            else:
                do()

        def got_amount(amount) -> None:
            if amount is None:
                return
            state["amount"] = amount
            app.open("prompt", f"Cash {kind}", "Reason (e.g. change from bank, petty cash):",
                                         lambda t: (t.strip(), None) if t.strip() else (None, "say why"), then=got_reason)

        app.open("prompt", f"Cash {kind}", "Amount (Rs):", lambda t: money_check(t, False), then=got_amount)

    def action_close_shift(self) -> None:
        if self.app.cart.lines:
            self.show_message("Park or finish the sale on the till before closing the shift", True)
            return
        self.app.open("close_shift")


NOTES = (5000, 1000, 500, 100, 50, 20, 10)


class CloseShiftScreen(Screen):
    """Count the drawer by denomination; expected, counted and the variance update as you type."""

    SCANS = None
    BINDINGS = [
        Binding("escape", "back", "Back", id="close.back"),
        Binding("f10", "close", "Close shift", id="close.confirm", priority=True),
    ]

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield Label("Close shift - count the drawer (Tab/Enter: next field)", classes="dialog-title")
        with Horizontal():
            with Vertical(id="count-fields"):
                for note in NOTES:
                    with Horizontal(classes="field"):
                        yield Label(f"Rs {note:>5} x", classes="field-label")
                        yield Input(id=f"n{note}", classes="count")
                with Horizontal(classes="field"):
                    yield Label("Coins Rs  ", classes="field-label")
                    yield Input(id="coins", classes="count")
            yield Static(id="count-summary")
        yield Label("", id="close-msg")
        yield KeyBar()

    def on_mount(self) -> None:
        self.expected = shifts.summary(self.app.shift).expected
        self.query_one(f"#n{NOTES[0]}", Input).focus()
        self.recount()

    def show_message(self, text: str, error: bool = False) -> None:
        label = self.query_one("#close-msg", Label)
        label.set_class(error, "error")
        label.update(escape(text))

    def counts(self) -> tuple[dict[int, int], Decimal]:
        notes = {}
        for note in NOTES:
            text = self.query_one(f"#n{note}", Input).value.strip() or "0"
            if not text.isdigit():
                raise PosError(f"the count of Rs {note} notes must be a whole number")
            notes[note] = int(text)
        coins, error = money_check(self.query_one("#coins", Input).value.strip())
        if error:
            raise PosError(f"coins: {error}")
        return notes, coins

    @on(Input.Changed)
    def recount(self) -> None:
        try:
            notes, coins = self.counts()
            counted = shifts.count_total(notes, coins)
        except PosError as exc:
            self.show_message(str(exc), True)
            return
        self.show_message("")
        var = counted - self.expected
        self.query_one("#count-summary", Static).update(
            f"Expected  Rs {fmt(self.expected):>12}\nCounted   Rs {fmt(counted):>12}\n"
            f"Variance  Rs {fmt(var):>12}  {'over' if var > 0 else 'short' if var < 0 else 'exact'}\n\n"
            "F10: close the shift")

    @on(Input.Submitted)
    def next_field(self) -> None:
        self.focus_next()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_close(self) -> None:
        app = self.app
        try:
            notes, coins = self.counts()
        except PosError as exc:
            self.show_message(str(exc), True)
            app.bell()
            return
        shift_id, staff_id = app.shift.id, app.staff.id

        def close():   # in the worker: close, then the Z report's text from the closed shift
            shift = shifts.close_shift(shift_id, staff_id, notes, coins)
            return shift, slip_text(shift_slip(shift, app.cfg, "Z REPORT"))

        def closed(result) -> None:
            shift, text = result
            app.shift = None
            app.print_shift(shift.id, "Z REPORT")
            # The shift is over: show the Z report, then the counter goes back to sign-in.
            app.sign_out()
            app.open("text", "Z report (printing)", text)
        work.run(self, close, closed, busy="Closing the shift...", what="Closing the shift")
