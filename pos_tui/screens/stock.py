"""Ctrl+K: the branch manager's stock hub.

Scan or type an item: on hand at every branch, in transit, and its movements at this branch
(document, person, reason, time). F-keys open the branch's stock work: levels, transfers,
purchase orders, adjustments, stock takes and the Shopify reconciliation report.
"""
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
from .. import work
from ..widgets.keybar import KeyBar
from ..widgets.status import StatusBar
from ..ui import show_msg


class StockScreen(Screen):
    SCANS = "stock"
    BINDINGS = [
        Binding("escape", "back", "Back", id="stock.back"),
        Binding("f2", "levels", "Levels", id="stock.levels", priority=True, tooltip="Stock levels at this branch"),
        Binding("f3", "transfers", "Transfer", id="stock.transfers", priority=True,
                tooltip="Transfers to and from this branch"),
        Binding("f4", "purchases", "PO", id="stock.purchases", priority=True, tooltip="Purchase orders"),
        Binding("f5", "adjust", "Adjust", id="stock.adjust", priority=True, tooltip="Stock adjustment"),
        Binding("f6", "count", "Count", id="stock.count", priority=True, tooltip="Stock take"),
        Binding("f7", "reconcile", "Recon", id="stock.reconcile", priority=True,
                tooltip="Shopify reconciliation report"),
        Binding("f8", "labels", "Tags", id="stock.labels", priority=True, tooltip="Print price tags"),
    ]

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
        here = self.app.counter.branch
        self.query_one("#stock-view", Static).update(
            f"Stock at {escape(here.code)}: scan an item to see it at every branch and its history here.\n\n"
            "F2 levels (low, negative, category)   F3 transfers   F4 purchase orders\n"
            "F5 adjustment   F6 stock take   F7 reconciliation with Shopify   F8 price tags")

    def show_message(self, text: str, error: bool = False) -> None:
        show_msg(self, text, error)

    def scanned(self, code: str) -> None:
        self.look_up(code)

    @on(Input.Submitted, "#stock-code")
    def looked_up(self, event: Input.Submitted) -> None:
        event.input.value = ""
        self.look_up(event.value)

    @work.guarded("Looking up the item")
    def look_up(self, code: str) -> None:
        try:
            v = catalog.lookup(code).variant
        except PosError as exc:
            self.show_message(str(exc), True)
            return
        view = stock.variant_view(v.id)
        here = self.app.counter.branch
        lines = [f"[b]{escape(v.sku)}[/]  {escape(v.name)}", ""]
        codes = sorted(set(view["on_hand"]) | set(view["in_transit"]) | {here.code})
        for code in codes:
            qty = view["on_hand"].get(code, 0)
            transit = view["in_transit"].get(code, 0)
            mark = " (this branch)" if code == here.code else ""
            lines.append(f"  {code:8} on hand {qty:5}" + (f"   in transit to it {transit}" if transit else "") + mark)
        lines += ["", f"Last movements at {here.code} (time, units, kind, document, person, reason):"]
        for h in stock.history(v.id, here.id, limit=8):
            lines.append(f"  {pk_time(h.at, '%d-%m %H:%M')} {h.delta:+5} {h.kind[:11]:11} {escape(h.doc[:17]):17} "
                         f"{escape(h.person[:10]):10} {escape(h.reason[:14])}")
        self.query_one("#stock-view", Static).update("\n".join(lines))
        self.show_message(f"{v.sku}: {view['on_hand'].get(here.code, 0)} here")
        if self.app.cfg.hq.role == "branch":
            self.chain_view(v.sku, lines)

    def chain_view(self, sku: str, lines: list[str]) -> None:
        """In a chain: every branch as the head office has it (as of each one's last contact),
        fetched in a worker so a slow link never holds the counter."""
        from pos_core import hq_stock
        from pos_core.models import utcnow
        here, cfg = self.app.counter.branch.code, self.app.cfg

        def show(view) -> None:
            now = utcnow()
            rows = view.stock.get(sku, [])
            if not view.live and not rows:
                self.query_one("#stock-view", Static).update("\n".join(lines + ["", escape(view.error)]))
                return
            more = ["", "Every branch (head office; as of each branch's last sync):" if view.live else
                    escape(f"{view.error}; its last copy, fetched {hq_stock.ago(view.fetched_at, now)}:")]
            for r in rows:
                mark = " (this branch)" if r.branch == here else ""
                more.append(f"  {r.branch:8} on hand {r.on_hand:5}"
                            + (f"   in transit to it {r.in_transit}" if r.in_transit else "")
                            + f"   as of {hq_stock.age(r.as_of, now)}{mark}")
            self.query_one("#stock-view", Static).update("\n".join(lines + more))

        def offline(text: str) -> None:
            self.query_one("#stock-view", Static).update("\n".join(lines + ["", text]))

        # the head office's figures (kept as this box's copy), or the last copy while it is down
        work.run(self, lambda: hq_stock.look_up(cfg, [sku]), show, failed=offline, busy=None,
                 group="chain-stock", exclusive=True, what="other branches' stock")

    # --- the branch's stock work -------------------------------------------------------------
    def action_levels(self) -> None:
        self.app.open("stock_levels")

    def action_transfers(self) -> None:
        self.app.open("transfers")

    def action_purchases(self) -> None:
        self.app.open("purchase_orders")

    def action_adjust(self) -> None:
        self.app.open("adjustment")

    def action_count(self) -> None:
        self.app.open("stock_take")

    def action_reconcile(self) -> None:
        self.app.open("reconcile")

    def action_labels(self) -> None:
        self.app.open("labels")

    def action_back(self) -> None:
        self.app.pop_screen()
