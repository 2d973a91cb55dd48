"""Stock levels at this branch, with filters: low (<= N), negative, one category."""
from __future__ import annotations

from rich.markup import escape
from textual.binding import Binding

from pos_core import stock
from pos_core.models import Product

from ..ui import StockBase, cut


class LevelsScreen(StockBase):
    CODE_LABEL = "Low at >"
    PLACEHOLDER = "a number shows items with that many or fewer; empty: all"
    COLUMNS = (("SKU", 16), ("Item", 46), ("On hand", 8))
    BINDINGS = StockBase.BINDINGS + [
        Binding("f2", "low", "Low<=5", id="levels.low", priority=True, tooltip="Items with 5 or fewer"),
        Binding("f3", "negative", "Negative", id="levels.negative", priority=True, tooltip="Items below zero"),
        Binding("f4", "category", "Category", id="levels.category", priority=True, tooltip="One category"),
        Binding("f5", "all", "All", id="levels.all", priority=True, tooltip="Clear the filters"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.low_at: int | None = None
        self.negative = False
        self.category = ""

    def reload(self) -> None:
        rows = stock.branch_levels(self.branch.id, low_at=self.low_at, negative=self.negative,
                                   category=self.category)
        self.fill([(sku, [escape(sku), escape(cut(name, 46)), f"{qty:>8}"]) for sku, name, qty in rows], keep=False)
        parts = []
        if self.low_at is not None:
            parts.append(f"low (<= {self.low_at})")
        if self.negative:
            parts.append("negative")
        if self.category:
            parts.append(f"category {self.category}")
        shown = ", ".join(parts) or "all tracked items"
        more = " (first 500)" if len(rows) >= 500 else ""
        self.set_head(f"Levels at {escape(self.branch.code)}: {escape(shown)}: {len(rows)} items{more}")

    def handle_code(self, text: str) -> None:
        t = text.strip()
        if not t:
            self.low_at = None
        elif t.lstrip("-").isdigit():
            self.low_at = int(t)
        else:
            self.show_message("type a number (e.g. 5), or use F2-F5", True)
            return
        self.reload()

    def action_low(self) -> None:
        self.low_at, self.negative = 5, False
        self.reload()

    def action_negative(self) -> None:
        self.negative, self.low_at = True, None
        self.reload()

    def action_category(self) -> None:
        cats = [c for (c,) in Product.select(Product.category).distinct().order_by(Product.category).tuples() if c]

        def chosen(key) -> None:
            if key is not None:
                self.category = "" if key == "*" else key
                self.reload()
        self.app.open("pick", "Category", [("Category", 40)],
                                        [("*", ["(every category)"])] + [(c, [c]) for c in cats], then=chosen)

    def action_all(self) -> None:
        self.low_at, self.negative, self.category = None, False, ""
        self.reload()
