"""Recent orders (with their Shopify and FBR status), reprint, refund and exchange."""
from __future__ import annotations

from decimal import Decimal

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Input, Label, Static

from pos_core import catalog, orders, outbox, refunds, staff as staffmod
from pos_core.errors import PosError
from pos_core.models import PosOrder, PosOrderLine, Variant
from pos_core.money import fmt
from pos_core.pricing import PricingError
from pos_core.refunds import ReturnLine
from pos_core.sales import Tender

from ..cart import Cart
from ..receipts import pk_time, receipt_text
from ..widgets.keybar import KeyBar
from ..widgets.status import StatusBar
from .. import work
from ..ui import ask_return_reason, show_msg

STATUS_STYLE = {"FAILED": "bold red", "NEEDS_ATTENTION": "bold red", "PENDING": "yellow", "SYNCED": "green"}


def styled(status: str) -> str:
    style = STATUS_STYLE.get(status)
    short = {"NEEDS_ATTENTION": "ATTENTION", "NOT_REQUIRED": "-"}.get(status, status)
    return f"[{style}]{short}[/]" if style else short


class OrdersScreen(Screen):
    SCANS = None
    STATUS_REFRESH_S = 3.0   # the agent syncs in the background: the list follows it
    BINDINGS = [
        Binding("escape", "back", "Back", id="orders.back"),
        Binding("f2", "preview", "Preview", id="orders.preview", priority=True),
        Binding("f3", "reprint", "Reprint", id="orders.reprint", priority=True),
        Binding("f4", "refund", "Refund", id="orders.refund", priority=True),
        Binding("f5", "exchange", "Exchange", id="orders.exchange", priority=True),
        Binding("f6", "gift", "Gift rcpt", id="orders.gift", priority=True,
                tooltip="A gift receipt: no prices, a barcode to exchange with"),
        Binding("up", "move(-1)", "Up", show=False, id="orders.up"),
        Binding("down", "move(1)", "Down", show=False, id="orders.down"),
    ]

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Horizontal(id="scan-row"):
            yield Label("Find order >", id="scan-label")
            yield Input(id="order-search", placeholder="number (000123), phone (0300...) or date (2026-11-23)")
        yield DataTable(id="orders", cursor_type="row")
        yield Label("", id="msg")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one("#orders", DataTable)
        table.can_focus = False
        # 80 columns: no room for a kind column; refund numbers carry an R, exchanges say so in Total.
        for label, width in (("Number", 15), ("Date (PKT)", 11), ("Customer", 11), ("Total", 10),
                             ("Shopify", 9), ("FBR", 9)):
            table.add_column(label, width=width, key=label)
        self.shown: dict[str, dict[str, str]] = {}   # uid -> the statuses on screen
        self.query_one("#order-search", Input).focus()
        self.reload("")
        self.set_interval(self.STATUS_REFRESH_S, self.refresh_statuses)

    def refresh_statuses(self) -> None:
        """Re-read the Shopify/FBR status of the rows on screen (one indexed query, in a worker)
        and change the cells that moved. Only while this screen is the one on top."""
        if self.app.screen is not self or not self.shown:
            return
        uids = list(self.shown)
        work.run(self, lambda: outbox.statuses_for(uids), self._statuses_read, failed=lambda _text: None,
                 busy=None, group="orders-status", exclusive=True, what="Refreshing the sync statuses")

    def _statuses_read(self, status: dict[str, dict[str, str]]) -> None:
        table = self.query_one("#orders", DataTable)
        for uid, st in status.items():
            if uid not in self.shown:
                continue   # the list was searched again meanwhile
            for channel, column in ((outbox.SHOPIFY, "Shopify"), (outbox.FBR, "FBR")):
                new = st.get(channel, "NOT_REQUIRED")
                if self.shown[uid].get(channel) != new:
                    table.update_cell(uid, column, styled(new))
                    self.shown[uid][channel] = new

    def show_message(self, text: str, error: bool = False) -> None:
        show_msg(self, text, error)

    @on(Input.Submitted, "#order-search")
    def searched(self, event: Input.Submitted) -> None:
        self.reload(event.value)

    def on_screen_resume(self) -> None:
        # Back from a refund or exchange: show the new documents and fresh sync statuses.
        self.reload(self.query_one("#order-search", Input).value)

    @work.guarded("Reading the orders")
    def reload(self, query: str) -> None:
        table = self.query_one("#orders", DataTable)
        table.clear()
        self.shown = {}
        try:
            found = orders.recent(self.app.counter.id, query)
        except PosError as exc:
            self.show_message(str(exc), True)
            return
        status = outbox.statuses_for([o.uid for o in found])
        for o in found:
            st = status.get(o.uid, {})
            self.shown[o.uid] = {outbox.SHOPIFY: st.get(outbox.SHOPIFY, "NOT_REQUIRED"),
                                 outbox.FBR: st.get(outbox.FBR, "NOT_REQUIRED")}
            total = o.total_paisa + o.service_fee_paisa
            amount = fmt(-total if o.kind == "refund" else total) + ("x" if o.exchange_uid else "")
            table.add_row(o.number, pk_time(o.completed_at, "%d-%m %H:%M"),
                          escape("0" + o.customer.phone[3:] if o.customer_id else "walk-in"), amount,
                          styled(st.get(outbox.SHOPIFY, "NOT_REQUIRED")), styled(st.get(outbox.FBR, "NOT_REQUIRED")),
                          key=o.uid)
        self.show_message(f"{len(found)} orders" + (f" for {query!r}" if query.strip() else " (latest at this counter)"))

    def action_move(self, step: int) -> None:
        table = self.query_one("#orders", DataTable)
        if table.row_count:
            table.move_cursor(row=max(0, min(table.row_count - 1, table.cursor_row + step)))

    def current(self) -> PosOrder | None:
        table = self.query_one("#orders", DataTable)
        if not table.row_count:
            self.show_message("No order selected", True)
            return None
        uid = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        return orders.by_uid(uid)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_preview(self) -> None:
        o = self.current()
        if o:
            self.app.open("text", f"Receipt {o.number}", receipt_text(self.app.cfg, o.uid))

    def action_reprint(self) -> None:
        o = self.current()
        if o:
            self.app.reprint(o.uid)
            self.show_message(f"Reprinting {o.number}...")

    def action_gift(self) -> None:
        o = self.current()
        if o and o.kind == "sale":
            self.app.print_document(o.uid, gift=True)
            self.show_message(f"Printing a gift receipt for {o.number}...")
        elif o:
            self.show_message("A gift receipt is for a sale", True)

    def _sale(self) -> PosOrder | None:
        o = self.current()
        if o is None:
            return None
        if o.kind != "sale":
            self.show_message("Choose a sale: refunds cannot be refunded", True)
            return None
        if self.app.shift is None:
            self.show_message("Open a shift first", True)
            return None
        return o

    def action_refund(self) -> None:
        o = self._sale()
        if o:
            self.app.open("refund", o)

    def action_exchange(self) -> None:
        o = self._sale()
        if o:
            self.app.open("exchange", o)


REFUND_TENDERS = (("as paid", None), ("cash", "cash"), ("store credit", "store_credit"))


class RefundScreen(Screen):
    """Choose lines and quantities to take back, restock or not, and how the money goes back."""

    SCANS = None
    KIND = "refund"
    FOCUS = "#return-lines"
    BINDINGS = [
        Binding("escape", "back", "Back", id="refund.back"),
        Binding("enter", "set_qty", "Qty back", id="refund.qty", priority=True),
        Binding("f3", "restock", "Restock y/n", id="refund.restock", priority=True),
        Binding("f4", "tender", "Refund by", id="refund.tender", priority=True),
        Binding("f6", "reason", "Reason", id="refund.reason", priority=True),
        Binding("f10", "confirm", "Do refund", id="refund.confirm", priority=True),
        Binding("up", "move(-1)", "Up", show=False, id="refund.up"),
        Binding("down", "move(1)", "Down", show=False, id="refund.down"),
    ]

    def __init__(self, sale: PosOrder):
        super().__init__()
        self.sale = sale
        self.lines = list(sale.lines.order_by(PosOrderLine.line_no))
        self.left = {l.id: refunds.refundable_qty(l) for l in self.lines}
        self.back = {l.id: 0 for l in self.lines}
        self.restock = {l.id: True for l in self.lines}
        self.tender = 0
        self.reason: str | None = None   # refunds.REASONS key, asked for before the refund is made
        self.note = ""

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield Label(f"{self.KIND.title()} against {self.sale.number} ({pk_time(self.sale.completed_at)})",
                    classes="dialog-title")
        yield DataTable(id="return-lines", cursor_type="row")
        yield Static(id="return-summary")
        yield Label("", id="msg")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one("#return-lines", DataTable)
        for label, width in (("#", 2), ("Item", 30), ("Sold", 4), ("Left", 4), ("Back", 4), ("Restock", 7),
                             ("Paid", 10)):
            table.add_column(label, width=width)
        self.query_one(self.FOCUS).focus()
        self.show_lines()

    def show_message(self, text: str, error: bool = False) -> None:
        show_msg(self, text, error)

    def returns(self) -> list[ReturnLine]:
        return [ReturnLine(l.id, self.back[l.id], self.restock[l.id]) for l in self.lines if self.back[l.id]]

    def show_lines(self) -> None:
        table = self.query_one("#return-lines", DataTable)
        row = table.cursor_row
        table.clear()
        for l in self.lines:
            table.add_row(str(l.line_no), escape(l.name[:30]), str(l.qty), str(self.left[l.id]), str(self.back[l.id]),
                          "yes" if self.restock[l.id] else "NO", fmt(l.total_paisa), key=str(l.id))
        table.move_cursor(row=row)
        self.render_summary()

    def returned_paisa(self) -> int:
        """The money going back; a part the sale paid with loyalty points goes back as points."""
        return refunds.refund_split(self.sale, self.returns())[0] if self.returns() else 0

    def returned_points(self) -> int:
        return refunds.refund_split(self.sale, self.returns())[1] if self.returns() else 0

    def reason_text(self) -> str:
        if not self.reason:
            return "reason: F6"
        return f"reason: {refunds.REASON_LABELS[self.reason]}" + (f" ({escape(self.note[:20])})" if self.note else "")

    def render_summary(self) -> None:
        points = self.returned_points()
        self.query_one("#return-summary", Static).update(
            f"Back to customer: Rs {fmt(self.returned_paisa())}" + (f" + {points:,} points" if points else "")
            + f"   refund by: {REFUND_TENDERS[self.tender][0]}\n{self.reason_text()}")

    def action_reason(self, then=None) -> None:
        """Why the goods came back, from the short list, then a note (needed for "Other")."""
        def noted(reason: str, note: str) -> None:
            self.reason, self.note = reason, note
            self.render_summary()
            if then is not None:
                then()
        ask_return_reason(self.app, refunds.REASONS, self.note, noted)

    def action_move(self, step: int) -> None:
        table = self.query_one("#return-lines", DataTable)
        table.move_cursor(row=max(0, min(table.row_count - 1, table.cursor_row + step)))

    def _line(self) -> PosOrderLine:
        return self.lines[self.query_one("#return-lines", DataTable).cursor_row]

    def action_set_qty(self) -> None:
        line = self._line()
        left = self.left[line.id]

        def check(text: str):
            t = text.strip() or "0"
            if not t.isdigit() or int(t) > left:
                return None, f"enter 0 to {left}"
            return int(t), None

        def done(qty) -> None:
            if qty is not None:
                self.back[line.id] = qty
                self.show_lines()
        self.app.open("prompt", "Quantity back", f"{escape(line.name)}\nHow many come back (0-{left})?",
                                          check, str(left), then=done)

    def action_restock(self) -> None:
        line = self._line()
        self.restock[line.id] = not self.restock[line.id]
        self.show_lines()

    def action_tender(self) -> None:
        self.tender = (self.tender + 1) % len(REFUND_TENDERS)
        self.render_summary()

    def action_back(self) -> None:
        self.app.pop_screen()

    def authorised(self, then) -> None:
        """Refunds and exchanges need a supervisor: the cashier's own role, or an approver's PIN."""
        app = self.app
        if staffmod.may(app.staff, self.KIND):
            then(None)
            return
        app.open("approval", f"A {self.KIND} needs a supervisor", lambda s: staffmod.may(s, self.KIND), then=lambda who: who and then(who.id))

    def action_confirm(self) -> None:
        if not self.returns():
            self.show_message("Set how many come back (Enter on a line)", True)
            return
        if self.reason is None:
            self.action_reason(then=self.action_confirm)
            return
        method = REFUND_TENDERS[self.tender][1]
        money = self.returned_paisa()
        # All of it back as points: no money tender at all.
        tenders = None if method is None else ([Tender(method, Decimal(money) / 100)] if money else [])
        app = self.app

        def go(approver_id) -> None:
            self.show_message("Saving the refund...")
            app.run_return("refund", dict(counter_id=app.counter.id, shift_id=app.shift.id, staff_id=app.staff.id,
                                          sale_uid=self.sale.uid, lines=self.returns(), tenders=tenders,
                                          approver_id=approver_id, reason=self.reason, note=self.note))
        self.authorised(go)

    def return_completed(self, msg) -> None:
        self.app.pop_screen()


class ExchangeScreen(RefundScreen, inherit_bindings=False):
    """Return lines (as a refund) and new items (scanned here): the customer pays or gets the net."""

    SCANS = "cart"
    KIND = "exchange"
    FOCUS = "#new-code"
    BINDINGS = [
        Binding("escape", "back", "Back", id="exchange.back"),
        Binding("ctrl+n", "set_qty", "Qty back", id="exchange.qty", priority=True),
        Binding("f3", "restock", "Restock y/n", id="exchange.restock", priority=True),
        Binding("f4", "tender", "Difference by", id="exchange.tender", priority=True),
        Binding("f6", "reason", "Reason", id="exchange.reason", priority=True),
        Binding("f10", "confirm", "Do exchange", id="exchange.confirm", priority=True),
        Binding("up", "move(-1)", "Up", show=False, id="exchange.up"),
        Binding("down", "move(1)", "Down", show=False, id="exchange.down"),
    ]

    def __init__(self, sale: PosOrder):
        super().__init__(sale)
        self.new = Cart()

    def compose(self) -> ComposeResult:
        # (Textual runs RefundScreen.on_mount for this screen too: it builds the table and focuses FOCUS.)
        self.new.prices_include_tax = self.app.cfg.prices_include_tax
        yield StatusBar(id="status")
        yield Label(f"Exchange against {self.sale.number}: Ctrl+N sets qty back on the chosen line",
                    classes="dialog-title")
        yield DataTable(id="return-lines", cursor_type="row")
        with Horizontal(id="scan-row"):
            yield Label("New item  >", id="scan-label")
            yield Input(id="new-code", placeholder="scan or type the new item's code")
        yield Static(id="new-lines")
        yield Static(id="return-summary")
        yield Label("", id="msg")
        yield KeyBar()

    @on(Input.Submitted, "#new-code")
    @work.guarded("Looking up the item")
    def code_entered(self, event: Input.Submitted) -> None:
        text = event.value
        event.input.value = ""
        if text.strip():
            self.scanned(text)

    def scanned(self, code: str) -> None:
        try:
            found = catalog.lookup(code)
        except PosError as exc:
            self.show_message(str(exc), True)
            return
        self.new.add(found.variant)
        self.render_summary()

    def new_total(self) -> int:
        return self.new.total_paisa(self.app.policy.service_fee_paisa) if self.new.lines else 0

    def render_summary(self) -> None:
        try:
            new_lines = self.query_one("#new-lines", Static)
        except Exception:  # noqa: BLE001 - not composed yet
            return
        new_lines.update("\n".join(f"+ {l.qty} x {escape(l.name[:40])}  {fmt(l.price_paisa)}"
                                   for l in self.new.lines) or "No new items yet")
        net = self.new_total() - self.returned_paisa()
        how = "customer pays" if net > 0 else "back to customer" if net < 0 else "even"
        by = "" if net >= 0 else f" by {REFUND_TENDERS[max(self.tender, 1)][0]}"
        self.query_one("#return-summary", Static).update(
            f"Returned Rs {fmt(self.returned_paisa())}  New Rs {fmt(self.new_total())}  "
            f"[b]Net Rs {fmt(abs(net))} {how}{by}[/]  {self.reason_text()}")

    def action_tender(self) -> None:
        self.tender = 2 if self.tender == 1 else 1
        self.render_summary()

    def action_confirm(self) -> None:
        if not self.returns():
            self.show_message("Set how many come back (Ctrl+N on a line)", True)
            return
        if self.reason is None:
            self.action_reason(then=self.action_confirm)
            return
        try:
            net = self.new_total() - self.returned_paisa()
        except PricingError as exc:
            self.show_message(str(exc), True)
            return
        app = self.app

        def run(tenders, approver_id) -> None:
            self.show_message("Saving the exchange...")
            app.run_return("exchange", dict(counter_id=app.counter.id, shift_id=app.shift.id, staff_id=app.staff.id,
                                            sale_uid=self.sale.uid, returns=self.returns(),
                                            new_lines=self.new.sale_lines(), tenders=tenders,
                                            approver_id=approver_id, reason=self.reason, note=self.note))

        def go(approver_id) -> None:
            if net > 0:
                app.open("payment", net, self.sale.customer if self.sale.customer_id else None, then=lambda tenders: tenders and run(tenders, approver_id))
            elif net < 0:
                method = REFUND_TENDERS[max(self.tender, 1)][1]
                run([Tender(method, Decimal(-net) / 100)], approver_id)
            else:
                run([], approver_id)
        self.authorised(go)
