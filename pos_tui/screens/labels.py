"""Ctrl+K F8: price tags. A list of labels to print, with a preview of the selected one.

Fill it by scanning items (3*code = three tags), or with F2 from a goods receipt (one tag per unit
received), F3 from a received transfer (one per unit that arrived) or F4 with the items whose price
the catalog import changed in the last days. The PO and transfer screens open it with F9. Items with no barcode get one (config [barcodes]) before their
tag is made, so every tag scans. F9 prints on the label printer of config [labels] (TSPL, ZPL),
the receipt printer (ESC/POS) or writes an A4 PDF sheet.
"""
from __future__ import annotations

from rich.markup import escape
from textual import on, work
from textual.binding import Binding
from textual.message import Message

from pos_core import catalog, shelf_labels
from pos_core.errors import PosError

from ..ui import StockBase, cut, parse_entry


class TagsPrinted(Message):
    def __init__(self, ok: bool, text: str) -> None:
        super().__init__()
        self.ok, self.text = ok, text


class LabelsScreen(StockBase):
    CODE_LABEL = "Tag >"
    PLACEHOLDER = "scan an item to add its tag, 3*code for three"
    COLUMNS = (("SKU", 12), ("Item", 26), ("Option", 10), ("Price", 10), ("Code", 13), ("Tags", 5))
    BINDINGS = StockBase.BINDINGS + [
        Binding("f2", "from_receipt", "GRN", id="labels.grn", priority=True,
                tooltip="One tag per unit of a goods receipt"),
        Binding("f3", "from_transfer", "Transfer", id="labels.transfer", priority=True,
                tooltip="One tag per unit of a received transfer"),
        Binding("f4", "price_changes", "Price chg", id="labels.price_changes", priority=True,
                tooltip="Tags for items whose price changed in the last days"),
        Binding("delete", "remove", "Remove", id="labels.remove", priority=True, tooltip="Remove the selected tag"),
        Binding("f9", "print", "Print", id="labels.print", priority=True, tooltip="Print every tag in the list"),
    ]
    DEFAULT_CSS = """
    LabelsScreen #stock-detail { max-height: 9; }
    """

    def __init__(self, items: list | None = None, title: str = "") -> None:
        super().__init__()
        self.items: list = list(items or [])
        self.title_text = title

    # --- the list ----------------------------------------------------------------------------
    def reload(self) -> None:
        from pos_core.money import fmt
        rows = [(str(i), [escape(cut(it.sku, 12)), escape(cut(it.name, 26)), escape(cut(it.option, 10)),
                          fmt(it.sale_price_paisa or it.price_paisa).rjust(10), it.code[:13], f"{it.copies:>5}"])
                for i, it in enumerate(self.items)]
        self.fill(rows)
        total = sum(it.copies for it in self.items)
        what = f" ({escape(self.title_text)})" if self.title_text else ""
        self.set_head(f"Price tags{what}: {len(self.items)} items, {total} tags. "
                      f"Printer: {escape(self._output_name())}")
        self.show_preview()

    def _output_name(self) -> str:
        from printers import labels
        try:
            return labels.parse_output(self.app.cfg.labels).language.upper()
        except labels.LabelConfigError as exc:
            return f"not set up ({exc})"

    def show_preview(self) -> None:
        from printers import labels
        from printers.preview import preview
        key = self.current_key()
        if key is None:
            self.set_detail("Scan items to make their tags; F2 goods receipt, F3 received transfer.")
            return
        one = labels.from_items([self.items[int(key)]])[0]
        lines = preview(labels.escpos_ops([type(one)(**{**one.__dict__, "copies": 1})], 32), 32).splitlines()
        # The preview without the feed/cut lines: what one tag carries.
        self.set_detail("\n".join(escape(l) for l in lines if l.strip() and "8<" not in l))

    def on_data_table_row_highlighted(self, _event) -> None:
        self.show_preview()

    def add(self, new: list) -> None:
        for it in new:
            for i, old in enumerate(self.items):
                if old.variant_id == it.variant_id:
                    self.items[i] = type(old)(**{**old.__dict__, "copies": min(old.copies + it.copies,
                                                                                shelf_labels.MAX_COPIES)})
                    break
            else:
                self.items.append(it)
        self.reload()

    # --- input -------------------------------------------------------------------------------
    def handle_code(self, text: str) -> None:
        try:
            qty, code, _ = parse_entry(text)
            v = catalog.lookup(code).variant
        except PosError as exc:
            self.show_message(str(exc), True)
            return

        def added(new) -> None:
            self.add(new)
            self.show_message(f"{new[0].sku}: {qty} tag(s) added (code {new[0].code})")
        # An item without a barcode is given one: a write, so through core (a worker thread).
        self.core(shelf_labels.for_variants, [(v.id, qty)], self.app.cfg.barcodes, busy=None, then=added,
                  assign=shelf_labels.may_assign(self.app.cfg))

    def _from(self, title: str, fn, kind: str) -> None:
        def loaded(number, new) -> None:
            self.title_text = f"{kind} {number}"
            self.add(new)
            self.show_message(f"{sum(i.copies for i in new)} tags from {kind} {number}")

        def chosen(number) -> None:
            if number:
                n = number.strip()
                self.core(fn, n, self.app.cfg.barcodes, busy="Making tags...", then=lambda new: loaded(n, new),
                          assign=shelf_labels.may_assign(self.app.cfg))
        self.app.open("prompt", title, f"{kind} number:", lambda t: (t, None) if t.strip() else (None, "type a number"),
                      then=chosen)

    def action_from_receipt(self) -> None:
        self._from("Tags for a goods receipt", shelf_labels.for_goods_receipt, "goods receipt")

    def action_from_transfer(self) -> None:
        self._from("Tags for a received transfer", shelf_labels.for_transfer_received, "transfer")

    def action_price_changes(self) -> None:
        def loaded(days, new) -> None:
            if not new:
                self.show_message(f"no price changed in the last {days} day(s)")
                return
            self.title_text = f"price changes, {days} day(s)"
            self.add(new)
            self.show_message(f"{len(new)} item(s) changed price in the last {days} day(s)")

        def changed(days: int) -> list:
            ids = shelf_labels.price_changes(days)
            return shelf_labels.for_price_change(ids, self.app.cfg.barcodes,
                                                 assign=shelf_labels.may_assign(self.app.cfg)) if ids else []

        def chosen(days) -> None:
            if days is not None:
                self.core(changed, days, busy="Making tags...", then=lambda new: loaded(days, new))

        def check(text):
            t = text.strip() or "7"
            return (int(t), None) if t.isdigit() and 1 <= int(t) <= 365 else (None, "a number of days, 1 to 365")
        self.app.open("prompt", "Tags for price changes", "Changed in the last how many days?", check, "7",
                      then=chosen)

    def action_remove(self) -> None:
        key = self.current_key()
        if key is not None:
            gone = self.items.pop(int(key))
            self.reload()
            self.show_message(f"{gone.sku}: removed")

    # --- printing ----------------------------------------------------------------------------
    def action_print(self) -> None:
        from printers import labels
        if not self.items:
            self.show_message("nothing to print: scan items first", True)
            return
        try:
            out = labels.parse_output(self.app.cfg.labels)
        except labels.LabelConfigError as exc:
            self.show_message(str(exc), True)
            return
        from ..receipts import printer_settings
        self.show_message("printing tags ...")
        self._send(out, labels.from_items(self.items), printer_settings(self.app.cfg))

    @work(thread=True, group="print", exit_on_error=False)
    def _send(self, out, items, receipt_printer) -> None:
        from printers import labels
        import datetime as dt
        name = "labels-" + dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        try:
            done = labels.send(out, items, receipt_printer, name)
            self.post_message(TagsPrinted(True, f"{sum(i.copies for i in items)} tags: {done}"))
        except Exception as exc:  # noqa: BLE001 - a printer never takes the till down
            self.post_message(TagsPrinted(False, f"tags did NOT print (F9 tries again): {exc}"))

    @on(TagsPrinted)
    def _tags_printed(self, msg: TagsPrinted) -> None:
        msg.stop()
        self.show_message(msg.text, not msg.ok)
