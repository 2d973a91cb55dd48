"""Stock take at this branch while the shop stays open: start (whole branch or a category), count
by scanning (several tills at once, each scan a count with its area), review what differs, post
(manager PIN above the threshold) or cancel."""
from __future__ import annotations

from rich.markup import escape
from textual.binding import Binding

from pos_core import adjustments, stocktake
from pos_core.errors import PosError
from pos_core.models import Product, Staff, StockTake, StockTakeCount, Variant
from pos_core.money import fmt, to_paisa

from ..receipts import pk_time
from ..ui import StockBase, cut, find, is_manager, parse_entry

EXPLAIN = ("Expected = the level at the start plus every sale, receipt or transfer here up to the item's "
           "last count: a sale during the count is not a loss. Uncounted items stay as they are.")

COUNT_COLUMNS = (("Time", 5), ("SKU", 15), ("Item", 20), ("Qty", 4), ("Area", 8), ("By", 9))
REVIEW_COLUMNS = (("SKU", 16), ("Item", 30), ("Expect", 6), ("Counted", 7), ("Diff", 6))


class StockTakeScreen(StockBase):
    PLACEHOLDER = "scan each item (3*code counts three, -1*code takes one off)"
    BINDINGS = StockBase.BINDINGS + [
        Binding("f2", "start", "Start", id="take.start", priority=True, tooltip="Start a count of the branch"),
        Binding("f3", "start_category", "Category", id="take.category", priority=True,
                tooltip="Start a count of one category"),
        Binding("f4", "area", "Area", id="take.area", priority=True, tooltip="Area label for the next scans"),
        Binding("f5", "review", "Review", id="take.review", priority=True, tooltip="Counts / differences"),
        Binding("f8", "cancel_take", "Cancel", id="take.cancel", priority=True, tooltip="Cancel the stock take"),
        Binding("f10", "post", "Post", id="take.post", priority=True, tooltip="Post the differences"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.area = ""
        self.reviewing = False
        self.columns = ()

    def open_take(self) -> StockTake | None:
        return (StockTake.select().where((StockTake.branch == self.branch.id) & (StockTake.status == "COUNTING"))
                .order_by(StockTake.id.desc()).first())

    def _columns(self, cols) -> None:
        if self.columns == cols:
            return
        self.table.clear(columns=True)
        for name, width in cols:
            self.table.add_column(name, width=width)
        self.columns = cols

    def reload(self) -> None:
        take = self.open_take()
        if take is None:
            self._columns(COUNT_COLUMNS)
            self.fill([])
            self.set_head(f"No stock take is open at {escape(self.branch.code)}.\n"
                          "F2 starts one for the whole branch, F3 for one category.")
            return
        scope = f"category {take.category}" if take.category else "whole branch"
        head = (f"[b]{escape(take.number)}[/] {escape(scope)}, {escape(cut(take.started_by.name, 14))}, "
                f"{pk_time(take.started_at, '%d-%m %H:%M')}  area [b]{escape(cut(self.area, 12) or '-')}[/] (F4)")
        if self.reviewing:
            self._columns(REVIEW_COLUMNS)
            diffs = stocktake.review(take.number)
            counted = [d for d in diffs if d.counted is not None]
            rows = [(str(d.variant_id), [escape(d.sku), escape(cut(d.name, 30)), f"{d.expected:>6}", f"{d.counted:>7}",
                                         f"{d.delta:>+6}" if d.delta else f"{0:>6}"])
                    for d in sorted(counted, key=lambda d: (d.delta == 0, d.sku))]
            self.fill(rows, keep=False)
            value = self._value(counted)
            self.set_head(f"{head}\n{EXPLAIN}\n{len(counted)} counted, "
                          f"{sum(1 for d in counted if d.delta)} differ (Rs {fmt(value)}), "
                          f"{len(diffs) - len(counted)} not counted. F10 posts.")
        else:
            self._columns(COUNT_COLUMNS)
            q = (StockTakeCount.select(StockTakeCount, Variant, Staff).join(Variant).switch(StockTakeCount)
                 .join(Staff).where(StockTakeCount.take == take.id).order_by(StockTakeCount.id.desc()).limit(200))
            self.fill([(str(c.id), [pk_time(c.created_at, "%H:%M"), escape(c.variant.sku),
                                    escape(cut(c.variant.name, 20)), f"{c.qty:>+4}", escape(cut(c.area, 8)),
                                    escape(cut(c.staff.name, 9))]) for c in q], keep=False)
            n = StockTakeCount.select().where(StockTakeCount.take == take.id).count()
            self.set_head(f"{head}\nCounting: {n} scans so far from every till (latest first). "
                          "F5 shows the differences.")

    def _value(self, diffs) -> int:
        items = [adjustments.AdjustItem(d.variant_id, d.delta) for d in diffs if d.delta]
        return adjustments.value_paisa(items) if items else 0

    def handle_code(self, text: str) -> None:
        take = self.open_take()
        if take is None:
            self.show_message("No stock take is open: F2 starts one", True)
            return
        try:
            qty, code, _ = parse_entry(text, signed=True)
            v = find(code)
        except PosError as exc:
            self.show_message(str(exc), True)
            return
        def saved(_) -> None:
            self.reload()
            total = sum(c.qty for c in StockTakeCount.select(StockTakeCount.qty).where(
                (StockTakeCount.take == take.id) & (StockTakeCount.variant == v.id)))
            self.show_message(f"{v.sku}: {total} counted")
        self.core(stocktake.count, take.number, self.app.staff.id, v.id, qty, self.area, then=saved)

    def _start(self, category: str) -> None:
        def saved(take) -> None:
            self.reviewing = False
            self.reload()
            self.show_message(f"{take.number} started: levels frozen; scan to count")
        self.core(stocktake.start, self.branch.id, self.app.staff.id, category, then=saved)

    def action_start(self) -> None:
        self._start("")

    def action_start_category(self) -> None:
        cats = [c for (c,) in Product.select(Product.category).distinct().order_by(Product.category).tuples() if c]
        self.app.open("pick", "Count one category", [("Category", 40)], [(c, [c]) for c in cats], then=lambda key: self._start(key) if key else None)

    def action_area(self) -> None:

        def done(text) -> None:
            if text is not None:
                self.area = text.strip()[:32]
                self.reload()
        self.app.open("prompt", "Area", "Where are you counting (e.g. Aisle 3, store room)?",
                                          value=self.area, then=done)

    def action_review(self) -> None:
        if self.open_take() is None:
            self.show_message("No stock take is open", True)
            return
        self.reviewing = not self.reviewing
        self.reload()

    def action_cancel_take(self) -> None:
        take = self.open_take()
        if take is None:
            self.show_message("No stock take is open", True)
            return

        def go() -> None:
            def saved(_) -> None:
                self.reviewing = False
                self.reload()
                self.show_message(f"{take.number} cancelled: nothing changed")
            self.core(stocktake.cancel, take.number, self.app.staff.id, then=saved)
        self.confirm(f"Cancel {take.number}? Its counts are dropped.", go)

    def action_post(self) -> None:
        take = self.open_take()
        if take is None:
            self.show_message("No stock take is open", True)
            return
        diffs = [d for d in stocktake.review(take.number) if d.counted is not None and d.delta]
        value = self._value(diffs)
        threshold = to_paisa(self.app.cfg.adjustment_approval_above)

        def post(approver) -> None:
            approver_id = approver.id if approver is not None and approver.id != self.app.staff.id else None
            def saved(done) -> None:
                self.reviewing = False
                self.reload()
                adj = f": {done.adjustment.number}" if done.adjustment_id else ": no differences, nothing changed"
                by = f", approved by {approver.name}" if approver_id else ""
                self.show_message(f"{take.number} posted{adj}{by}")
            self.core(stocktake.post, take.number, self.app.staff.id, approver_id=approver_id,
                      approval_above_paisa=threshold, shopify_enabled=self.app.cfg.shopify.enabled, then=saved)

        def confirmed() -> None:
            if value > threshold and not is_manager(self.app.staff):
                self.with_manager(f"Stock take {take.number}: {len(diffs)} differences worth Rs {fmt(value)}", post)
            else:
                post(None)
        self.confirm(f"Post {take.number}: {len(diffs)} items change stock (Rs {fmt(value)})?", confirmed)
