"""F10: take payment. Split tender: each Enter adds a tender; when they cover the total the sale
completes. Esc goes back to the cart with nothing lost."""
from __future__ import annotations

from decimal import Decimal

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from pos_core.money import MoneyError, fmt, to_paisa
from pos_core.sales import TENDER_LABELS, Tender

WALLETS = ("JazzCash", "Easypaisa")


class PaymentScreen(ModalScreen):
    SCANS = "refuse"  # a scan here must not land in the amount field or pay twice
    BINDINGS = [
        Binding("escape", "cancel", "Back", id="pay.back"),
        Binding("f2", "method('cash')", "Cash", id="pay.cash", priority=True),
        Binding("f3", "method('card')", "Card", id="pay.card", priority=True),
        Binding("f4", "method('wallet')", "Wallet", id="pay.wallet", priority=True),
        Binding("f5", "method('bank')", "Bank", id="pay.bank", priority=True),
        Binding("f6", "method('store_credit')", "Credit", id="pay.store_credit", priority=True),
        Binding("f7", "method('points')", "Points", id="pay.points", priority=True),
        Binding("ctrl+d", "remove", "Remove tender", id="pay.remove", priority=True),
    ]

    def __init__(self, due_paisa: int, customer=None):
        super().__init__()
        self.due, self.customer = due_paisa, customer
        self.tenders: list[Tender] = []
        self.method, self.wallet = "cash", 0

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="payment"):
            yield Label(f"Payment   TOTAL DUE Rs {fmt(self.due)}", classes="dialog-title")
            yield Static(id="tenders")
            yield Label("", id="method")
            with Horizontal(classes="field"):
                yield Label("Amount Rs ", classes="field-label")
                yield Input(id="amount")
            with Horizontal(classes="field"):
                yield Label("Reference ", classes="field-label")
                yield Input(id="reference", placeholder="card slip no. / wallet or bank transaction id",
                            select_on_focus=False)
            yield Label("", id="pay-error", classes="error")
            yield Label("F2 cash F3 card F4 wallet F5 bank F6 credit F7 points  Enter: add  ^D: remove  Esc: back",
                        classes="hint")

    def on_mount(self) -> None:
        self.action_method("cash")

    def paid(self) -> int:
        return sum(to_paisa(t.amount) for t in self.tenders)

    def remaining(self) -> int:
        return max(self.due - self.paid(), 0)

    def render_state(self) -> None:
        rows = [f"{TENDER_LABELS[t.method]:<14} {t.reference[:20]:<20} {fmt(to_paisa(t.amount)):>12}"
                for t in self.tenders]
        rows.append(f"{'Paid':<35} {fmt(self.paid()):>12}")
        rows.append(f"[b]{'Remaining':<35} {fmt(self.remaining()):>12}[/]")
        self.query_one("#tenders", Static).update("\n".join(rows))
        label = TENDER_LABELS[self.method]
        if self.method == "wallet":
            label += f" ({WALLETS[self.wallet]}; F4 again switches)"
        if self.method == "store_credit" and self.customer:
            label += f" (balance Rs {fmt(self.customer.store_credit_paisa)})"
        if self.method == "points" and self.customer:
            points, value = self.points_left()
            label += f" ({points:,} points = Rs {fmt(points * value)})"
        self.query_one("#method", Label).update(f"Method: [b]{escape(label)}[/]")

    def error(self, text: str) -> None:
        self.query_one("#pay-error", Label).update(escape(text))
        self.app.bell()

    def show_message(self, text: str, error: bool = False) -> None:
        self.query_one("#pay-error", Label).update(escape(text))

    def points_left(self) -> tuple[int, int]:
        """(points the customer still has after the tenders entered, paisa per point)."""
        from pos_core import loyalty
        prog = loyalty.program()
        used = sum(to_paisa(t.amount) for t in self.tenders if t.method == "points") // prog.point_value_paisa
        return max(loyalty.balance(self.customer.id) - used, 0), prog.point_value_paisa

    def points_default(self) -> int:
        points, value = self.points_left()
        return min(points, self.remaining() // value) * value

    def action_method(self, method: str) -> None:
        if method == "wallet" and self.method == "wallet":
            self.wallet = (self.wallet + 1) % len(WALLETS)
        self.method = method
        ref = self.query_one("#reference", Input)
        ref.value = WALLETS[self.wallet] + " " if method == "wallet" else ""
        ref.cursor_position = len(ref.value)
        amount = self.query_one("#amount", Input)
        # Empty means "the remaining amount": Enter alone pays it exactly; typing gives the cash handed over.
        amount.value = ""
        amount.placeholder = f"Enter alone = Rs {fmt(self.remaining())}"
        if method == "points" and self.customer is not None:
            amount.placeholder = f"Enter alone = Rs {fmt(self.points_default())}"
        self.query_one("#pay-error", Label).update("")
        self.render_state()
        amount.focus()

    @on(Input.Submitted)
    def add(self, event: Input.Submitted) -> None:
        text = self.query_one("#amount", Input).value.strip()
        try:
            if self.method == "points" and self.customer is not None and not text:
                paisa = self.points_default()
            else:
                paisa = to_paisa(text) if text else self.remaining()
        except MoneyError as exc:
            self.error(str(exc))
            return
        if paisa <= 0:
            self.error("enter an amount more than zero")
            return
        if self.method != "cash" and paisa > self.remaining():
            self.error(f"{TENDER_LABELS[self.method]} cannot be more than the Rs {fmt(self.remaining())} remaining")
            return
        if self.method == "store_credit":
            if self.customer is None:
                self.error("store credit needs a customer on the sale (Esc, then F3)")
                return
            used = sum(to_paisa(t.amount) for t in self.tenders if t.method == "store_credit")
            if used + paisa > self.customer.store_credit_paisa:
                self.error(f"the customer has Rs {fmt(self.customer.store_credit_paisa)} store credit")
                return
        reference = self.query_one("#reference", Input).value.strip()
        if self.method == "points":
            self.add_points(paisa)
            return
        self.tenders.append(Tender(self.method, Decimal(paisa) / 100, reference))
        self.after_tender()

    def add_points(self, paisa: int) -> None:
        """Points are the customer's money: they confirm before any are used."""
        from pos_core import loyalty
        from pos_core.errors import PosError
        if self.customer is None:
            self.error("points need a customer on the sale (Esc, then F3)")
            return
        have, value = self.points_left()
        try:
            points = loyalty.points_of_tender(paisa)
        except PosError as exc:
            self.error(str(exc))
            return
        if points > have:
            self.error(f"the customer has {have:,} points (Rs {fmt(have * value)})")
            return

        def confirmed(ok) -> None:
            if ok:
                self.tenders.append(Tender("points", Decimal(paisa) / 100, f"{points} points"))
                self.after_tender()
        self.app.open("confirm", f"Customer {escape(self.customer.name or self.customer.phone)} pays "
                                 f"Rs {fmt(paisa)} with {points:,} points?", then=confirmed)

    def after_tender(self) -> None:
        if self.paid() >= self.due:
            self.dismiss(list(self.tenders))
            return
        self.action_method("cash")

    def action_remove(self) -> None:
        if self.tenders:
            self.tenders.pop()
            self.action_method(self.method)

    def action_cancel(self) -> None:
        self.dismiss(None)
