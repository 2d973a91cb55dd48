"""Ctrl+T in the back office: price tags for a picked list, as an A4 sheet (PDF) or to the label
printer of `[labels]`.

Type or scan an SKU or barcode (3*code for three tags); items without a barcode are given one.
F9 makes the tags: with `[labels] language = "tspl"|"zpl"` they go to that printer, otherwise an A4
PDF sheet is written to the export folder (and, in a browser session, downloaded).
"""
from __future__ import annotations

import datetime as dt

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from pos_core import catalog, db, shelf_labels
from pos_core.errors import InvalidInput, PosError


def parse_pick(text: str) -> tuple[int, str]:
    t = (text or "").strip()
    qty = 1
    if "*" in t:
        q, _, t = t.partition("*")
        if not q.strip().isdigit() or not 1 <= int(q) <= shelf_labels.MAX_COPIES:
            raise InvalidInput(f"copies are a whole number from 1 to {shelf_labels.MAX_COPIES}, as in 3*code")
        qty = int(q)
    return qty, catalog.check_code(t)


class TagsScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "Back", id="office.tags.back"),
        Binding("delete", "remove", "Remove", id="office.tags.remove"),
        Binding("f9", "make", "Make tags", id="office.tags.make"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.items: list = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Price tags: type or scan an SKU or barcode (3*code for three); F9 makes them", id="tags-head")
            yield Input(placeholder="SKU or barcode", id="tags-code")
            yield DataTable(id="tags-table", zebra_stripes=True, cursor_type="row")
            yield Static("", id="tags-status")
        yield Footer()

    def on_mount(self) -> None:
        t = self.query_one("#tags-table", DataTable)
        for name, width in (("SKU", 14), ("Item", 28), ("Option", 12), ("Price", 10), ("Tags", 5)):
            t.add_column(name, width=width)
        t.can_focus = False
        self.query_one("#tags-code", Input).focus()

    def status(self, text: str) -> None:
        self.query_one("#tags-status", Static).update(escape(text))

    def redraw(self) -> None:
        from pos_core.money import fmt
        t = self.query_one("#tags-table", DataTable)
        t.clear()
        for i, it in enumerate(self.items):
            t.add_row(it.sku, it.name[:28], it.option[:12], fmt(it.price_paisa).rjust(10), str(it.copies), key=str(i))

    @on(Input.Submitted, "#tags-code")
    def picked(self, event: Input.Submitted) -> None:
        text, event.input.value = event.value, ""
        try:
            qty, code = parse_pick(text)
            v = catalog.lookup(code).variant
            with db.write():  # an item without a barcode is given one
                new = shelf_labels.for_variants([(v.id, qty)], self.app.cfg.barcodes if self.app.cfg else None,
                                                assign=shelf_labels.may_assign(self.app.cfg))
        except PosError as exc:
            self.status(str(exc))
            return
        self.items += new
        self.redraw()
        self.status(f"{new[0].sku}: {qty} tag(s), code {new[0].code}")

    def action_remove(self) -> None:
        t = self.query_one("#tags-table", DataTable)
        if self.items:
            gone = self.items.pop(min(t.cursor_row, len(self.items) - 1))
            self.redraw()
            self.status(f"{gone.sku} removed")

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_make(self) -> None:
        if not self.items:
            self.status("nothing to make: type an SKU first")
            return
        from printers import labels
        cfg = self.app.cfg
        try:
            out = labels.parse_output(cfg.labels if cfg else {})
        except labels.LabelConfigError as exc:
            self.status(str(exc))
            return
        if out.language not in ("tspl", "zpl"):  # the office has no receipt printer: a sheet
            out = labels.Output("pdf", dir=str(self.app.export_dir), stock=out.stock, urdu=out.urdu)
        self.make(out, labels.from_items(self.items))

    @work(thread=True, group="tags", exit_on_error=False)
    def make(self, out, items) -> None:
        from pathlib import Path
        from printers import labels
        name = "tags-" + dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        try:
            done = labels.send(out, items, None, name)
        except Exception as exc:  # noqa: BLE001 - a printer or disk problem never takes the app down
            self.app.call_from_thread(self.status, f"tags not made: {exc}")
            return
        if out.language == "pdf" and getattr(self.app, "is_web", False):
            self.app.call_from_thread(self.app.deliver_binary, Path(out.dir) / f"{name}.pdf",
                                      save_filename=f"{name}.pdf")
        self.app.call_from_thread(self.status, f"{sum(i.copies for i in items)} tags: {done}")
