"""The latest reconciliation of this branch's Shopify location with the ledger (read-only), each
difference with its likely causes; a manager may accept a correction for a row."""
from __future__ import annotations

from rich.markup import escape
from textual import on
from textual.binding import Binding
from textual.widgets import DataTable

from pos_core import reconcile

from ..receipts import pk_time
from ..ui import StockBase, cut

NO_REPORT = "No reconciliation report yet: the agent runs it hourly; or run `pos-agent reconcile`."


class ReconcileScreen(StockBase):
    CODE_LABEL = "Find >"
    PLACEHOLDER = "scan or type a SKU to jump to its row"
    COLUMNS = (("SKU", 16), ("Item", 19), ("Shopify", 7), ("Ledger", 6), ("Unexpl", 6), ("Status", 9))
    BINDINGS = StockBase.BINDINGS + [
        Binding("f5", "accept", "Accept", id="reconcile.accept", priority=True,
                tooltip="Correct Shopify for the chosen row (manager)"),
        Binding("f6", "refresh", "Refresh", id="reconcile.refresh", priority=True, tooltip="Read the report again"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.run = None

    def reload(self) -> None:
        location = self.branch.shopify_location_id
        self.run = reconcile.latest(location) if location else None
        if not location:
            self.fill([])
            self.set_head(f"{escape(self.branch.code)} is not mapped to a Shopify location: nothing to reconcile.")
            self.set_detail("")
            return
        if self.run is None:
            self.fill([])
            self.set_head(f"Shopify location {escape(location)}\n{escape(NO_REPORT)}")
            self.set_detail("")
            return
        rows = []
        for d in self.run.differences:
            status = "accepted" if d["accepted"] else ("explained" if not d["unexplained"] else "open")
            rows.append((d["inventoryItemId"], [escape(d["sku"]), escape(cut(d["name"], 19)),
                                                f"{d['shopify_on_hand']:>7}", f"{d['ledger_on_hand']:>6}",
                                                f"{d['unexplained']:>+6}" if d["unexplained"] else f"{0:>6}", status]))
        self.fill(rows)
        self.set_head(f"Shopify {escape(location)} vs the ledger, report {pk_time(self.run.started_at)}: "
                      f"{self.run.items_compared} items compared, {len(rows)} differ.\n"
                      "Read-only: the agent runs it hourly. F5 accepts a correction of the unexplained part.")
        self.show_causes()

    def _row(self, key: str | None) -> dict | None:
        if self.run is None or key is None:
            return None
        return next((d for d in self.run.differences if d["inventoryItemId"] == key), None)

    @on(DataTable.RowHighlighted, "#stock-rows")
    def highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_causes()

    def show_causes(self) -> None:
        d = self._row(self.current_key())
        if d is None:
            self.set_detail("")
            return
        causes = "; ".join(d["causes"]) or "no cause found"
        self.set_detail(f"[b]{escape(d['sku'])}[/]: {escape(causes)}")

    def handle_code(self, text: str) -> None:
        t = text.strip().upper()
        if self.run is None:
            self.show_message(NO_REPORT if self.branch.shopify_location_id else "No report for this branch", True)
            return
        for i, d in enumerate(self.run.differences):
            if t and t in (d["sku"].upper(),):
                self.table.move_cursor(row=i)
                self.show_causes()
                return
        from pos_core import catalog
        try:
            sku = catalog.lookup(text).variant.sku
        except Exception:  # noqa: BLE001
            sku = None
        for i, d in enumerate(self.run.differences):
            if d["sku"] == sku:
                self.table.move_cursor(row=i)
                self.show_causes()
                return
        self.show_message(f"{text.strip()} is not on this report (it agrees with Shopify)", True)

    def action_refresh(self) -> None:
        self.reload()

    def action_accept(self) -> None:
        d = self._row(self.current_key())
        if d is None:
            self.show_message("Choose a row first", True)
            return
        if d["accepted"]:
            self.show_message(f"{d['sku']}: the correction was already accepted", True)
            return
        if not d["unexplained"]:
            self.show_message(f"{d['sku']}: the difference is explained; nothing to correct", True)
            return
        run_uid, item = self.run.uid, d["inventoryItemId"]
        if "branches" in d:
            self._accept_share(d, run_uid, item)
            return
        target = d["shopify_available"] - d["unexplained"]

        def accept(manager) -> None:
            def saved(_) -> None:
                self.reload()
                self.show_message(f"{d['sku']}: correction queued (Shopify available {d['shopify_available']} -> "
                                  f"{target}), accepted by {manager.name}")
            self.core(reconcile.accept, run_uid, item, manager.id, then=saved)
        self.with_manager(f"Correct {d['sku']} in Shopify by {-d['unexplained']:+d}", accept)

    def _accept_share(self, d: dict, run_uid: str, item: str) -> None:
        """A location several branches share: this branch's part of the difference, named."""
        code = self.branch.code
        part = next((b for b in d["branches"] if b["branch"] == code), None)
        if part is None or not part["unexplained"] or part["accepted"]:
            self.show_message(f"{d['sku']}: nothing of {code}'s to correct here "
                              f"({'accepted' if part and part['accepted'] else 'its part is explained'})", True)
            return

        def accept(manager) -> None:
            def saved(_) -> None:
                self.reload()
                self.show_message(f"{d['sku']}: {code}'s correction queued ({-part['unexplained']:+d} in Shopify), "
                                  f"accepted by {manager.name}")
            self.core(reconcile.accept, run_uid, item, manager.id, code, then=saved)
        self.with_manager(f"Correct {d['sku']} in Shopify by {-part['unexplained']:+d} for {code}", accept)
