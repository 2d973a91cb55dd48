"""Purchase orders for this branch: the open ones, a new one (supplier, items, unit costs), and
receiving a delivery by scanning what came (optionally at another unit cost) into a goods receipt."""
from __future__ import annotations

from decimal import Decimal

from rich.markup import escape
from textual.binding import Binding

from pos_core import purchasing
from pos_core.errors import InvalidInput, PosError
from pos_core.models import PurchaseOrder, PurchaseOrderLine
from pos_core.money import fmt, to_paisa

from ..receipts import pk_time
from ..ui import StockBase, cut, find, parse_entry

OPEN = ("OPEN", "PARTIAL")


def rs(paisa: int | None) -> str:
    return "" if paisa is None else fmt(paisa)


def ask_cost(screen, title: str, then) -> None:

    def check(text: str):
        try:
            value = Decimal(text.strip().replace(",", ""))
            if to_paisa(value) < 0:
                raise InvalidInput("a unit cost cannot be negative")
        except PosError as exc:
            return None, str(exc)
        except Exception:  # noqa: BLE001
            return None, "enter rupees, e.g. 550 or 549.50"
        return value, None
    screen.app.open("prompt", title, "Unit cost (Rs):", check, then=lambda v: then(v) if v is not None else None)


class PurchaseOrdersScreen(StockBase):
    CODE_LABEL = "PO >"
    PLACEHOLDER = "type a PO number, or Enter to open the chosen row"
    COLUMNS = (("Number", 15), ("Supplier", 14), ("Status", 8), ("Ordrd", 5), ("Recvd", 5), ("Due", 5),
               ("Created", 11))
    BINDINGS = StockBase.BINDINGS + [
        Binding("f2", "new", "New", id="po.new", priority=True, tooltip="New purchase order"),
        Binding("f3", "open", "Open", id="po.open", priority=True, tooltip="Open / receive the chosen order"),
        Binding("f4", "all", "Open/All", id="po.all", priority=True, tooltip="Open orders only, or all"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.show_all = False

    def on_screen_resume(self) -> None:
        self.reload()

    def reload(self) -> None:
        q = (PurchaseOrder.select().where(PurchaseOrder.branch == self.branch.id)
             .order_by(PurchaseOrder.id.desc()).limit(200))
        if not self.show_all:
            q = q.where(PurchaseOrder.status.in_(OPEN))
        rows = []
        for po in q:
            ordered = sum(l.qty_ordered for l in po.lines)
            got = sum(l.qty_received for l in po.lines)
            due = sum(max(l.qty_ordered - l.qty_received, 0) for l in po.lines)
            rows.append((po.number, [escape(po.number), escape(cut(po.supplier.name, 14)), po.status,
                                     f"{ordered:>5}", f"{got:>5}", f"{due:>5}", pk_time(po.created_at, "%d-%m %H:%M")]))
        self.fill(rows)
        self.set_head(f"Purchase orders at {escape(self.branch.code)}, {'all' if self.show_all else 'open'}: "
                      f"{len(rows)}")

    def handle_code(self, text: str) -> None:
        ref = text.strip()
        if not ref:
            self.action_open()
            return
        def saved(po) -> None:
            self.open(po)
        self.core(purchasing.get, ref.upper() if ref.upper().startswith("PO-") else ref, busy=None, then=saved)

    def open(self, po: PurchaseOrder) -> None:
        if po.branch_id != self.branch.id:
            self.show_message(f"{po.number} is for {po.branch.code}", True)
            return
        self.app.open("purchase_order", po.number)

    def action_open(self) -> None:
        key = self.current_key()
        if key is None:
            self.show_message("No purchase order to open", True)
            return
        self.open(purchasing.get(key))

    def action_all(self) -> None:
        self.show_all = not self.show_all
        self.reload()

    def action_new(self) -> None:

        def named(name) -> None:
            if name:
                self.app.open("new_purchase_order", name.strip())
        self.app.open("prompt", "New purchase order", "Supplier name:",
                                          lambda t: (t, None) if t.strip() else (None, "enter the supplier's name"), then=named)


class NewPurchaseOrderScreen(StockBase):
    """Items and unit costs: '10*code@550' orders ten at Rs 550; F3 sets the chosen line's cost."""

    PLACEHOLDER = "code, 10*code, or 10*code@550 (unit cost Rs)"
    COLUMNS = (("SKU", 16), ("Item", 24), ("Qty", 6), ("Unit cost", 10), ("Value", 11))
    BINDINGS = StockBase.BINDINGS + [
        Binding("f2", "supplier", "Supplier", id="po_new.supplier", priority=True, tooltip="Change the supplier"),
        Binding("f3", "cost", "Cost", id="po_new.cost", priority=True, tooltip="Unit cost of the chosen line"),
        Binding("f8", "remove", "Remove", id="po_new.remove", priority=True, tooltip="Remove the chosen line"),
        Binding("f10", "save", "Save PO", id="po_new.save", priority=True, tooltip="Save the purchase order"),
    ]

    def __init__(self, supplier: str) -> None:
        super().__init__()
        self.supplier = supplier
        self.items: dict[int, list] = {}  # variant id -> [variant, qty, unit cost Decimal | None]

    def reload(self) -> None:
        rows, total = [], 0
        for vid, (v, q, c) in self.items.items():
            value = q * to_paisa(c) if c is not None else None
            total += value or 0
            rows.append((str(vid), [escape(v.sku), escape(cut(v.name, 24)), f"{q:>6}",
                                    f"{rs(to_paisa(c)) if c is not None else 'F3: cost?':>10}", f"{rs(value):>11}"]))
        self.fill(rows)
        units = sum(q for _, q, _ in self.items.values())
        self.set_head(f"New PO for {escape(self.branch.code)} from [b]{escape(self.supplier)}[/]: "
                      f"{len(self.items)} lines, {units} units, Rs {fmt(total)}")

    def handle_code(self, text: str) -> None:
        try:
            qty, code, cost = parse_entry(text, signed=True, cost=True)
            v = find(code)
        except PosError as exc:
            self.show_message(str(exc), True)
            return
        _, have, known = self.items.get(v.id, [v, 0, None])
        if known is None and cost is None:
            avg = purchasing.average_cost(v.id)
            known = Decimal(avg) / 100 if avg is not None else None
        have += qty
        if have <= 0:
            self.items.pop(v.id, None)
        else:
            self.items[v.id] = [v, have, cost if cost is not None else known]
        self.reload()
        self.show_message(f"{v.sku}: {max(have, 0)} ordered" + ("" if have <= 0 or self.items[v.id][2] is not None
                                                                 else "; F3 sets its unit cost"))

    def action_supplier(self) -> None:

        def named(name) -> None:
            if name and name.strip():
                self.supplier = name.strip()
                self.reload()
        self.app.open("prompt", "Supplier", "Supplier name:", value=self.supplier, then=named)

    def action_cost(self) -> None:
        key = self.current_key()
        if key is None:
            return
        line = self.items[int(key)]

        def set_cost(value) -> None:
            line[2] = value
            self.reload()
        ask_cost(self, f"{line[0].sku}", set_cost)

    def action_remove(self) -> None:
        key = self.current_key()
        if key is not None:
            self.items.pop(int(key), None)
            self.reload()

    def action_save(self) -> None:
        missing = [v.sku for v, _, c in self.items.values() if c is None]
        if missing:
            self.show_message(f"Unit cost missing for {', '.join(missing[:3])}: choose the line and F3", True)
            return
        items = [purchasing.OrderItem(vid, q, c) for vid, (_, q, c) in self.items.items()]
        branch_id, staff_id, supplier = self.branch.id, self.app.staff.id, self.supplier

        def save():   # in the worker: the supplier (found or added) and the order, one step
            return purchasing.create(branch_id, purchasing.supplier(supplier).id, staff_id, items)

        def saved(po) -> None:
            self.app.open("purchase_order", po.number, f"{po.number} saved: scan a delivery to receive it", switch=True)
        self.core(save, then=saved)


class PurchaseOrderScreen(StockBase):
    """Ordered / received / due per line; scan a delivery (code@cost for another unit cost), F10."""

    PLACEHOLDER = "scan what was delivered (5*code, code@560 for another cost)"
    COLUMNS = (("SKU", 15), ("Item", 19), ("Ordrd", 5), ("Recvd", 5), ("Due", 5), ("Now", 5), ("Cost", 9))
    BINDINGS = StockBase.BINDINGS + [
        Binding("f3", "cost", "Cost", id="po_one.cost", priority=True,
                tooltip="Another unit cost for the chosen line in this delivery"),
        Binding("f7", "close", "Close", id="po_one.close", priority=True, tooltip="Close: nothing more will come"),
        Binding("f8", "cancel_po", "Cancel", id="po_one.cancel", priority=True, tooltip="Cancel (no deliveries yet)"),
        Binding("f10", "receive", "Receive", id="po_one.receive", priority=True,
                tooltip="Confirm this delivery (goods receipt)"),
        Binding("f9", "tags", "Tags", id="po_one.tags", priority=True,
                tooltip="Price tags for the last delivery, one per unit"),
    ]

    def __init__(self, number: str, note: str = "") -> None:
        super().__init__()
        self.number, self.first_note = number, note
        self.delivery: dict[int, list] = {}  # variant id -> [variant, qty, unit cost override or None]

    def on_mount(self) -> None:
        super().on_mount()
        if self.first_note:
            self.show_message(self.first_note)

    @property
    def po(self) -> PurchaseOrder:
        return purchasing.get(self.number)

    def action_tags(self) -> None:
        from pos_core import shelf_labels
        from pos_core.models import GoodsReceipt
        grn = (GoodsReceipt.select().where(GoodsReceipt.order == self.po.id)
               .order_by(GoodsReceipt.id.desc()).first())
        if grn is None:
            self.show_message("nothing has been received on this order yet", True)
            return
        # Items without a barcode are given one here: a write, so through core (a worker).
        self.core(shelf_labels.for_goods_receipt, grn.number, self.app.cfg.barcodes, busy="Making tags...",
                  assign=shelf_labels.may_assign(self.app.cfg),
                  then=lambda items: self.app.open("labels", items, f"goods receipt {grn.number}"))

    def reload(self) -> None:
        po = self.po
        rows, on_order = [], set()
        for l in po.lines.order_by(PurchaseOrderLine.id):
            on_order.add(l.variant_id)
            now = self.delivery.get(l.variant_id)
            cost = now[2] if now and now[2] is not None else Decimal(l.unit_cost_paisa) / 100
            rows.append((str(l.variant_id), [escape(l.variant.sku), escape(cut(l.variant.name, 19)),
                                             f"{l.qty_ordered:>5}", f"{l.qty_received:>5}",
                                             f"{l.qty_ordered - l.qty_received:>5}", f"{now[1] if now else '':>5}",
                                             f"{rs(to_paisa(cost)):>9}"]))
        for vid, (v, q, c) in self.delivery.items():
            if vid not in on_order:
                rows.append((str(vid), [escape(v.sku), escape(cut("(not ordered) " + v.name, 19)), "", "", "",
                                        f"{q:>5}", f"{rs(to_paisa(c)) if c is not None else 'F3: cost?':>9}"]))
        self.fill(rows)
        receipts = [g.number for g in po.receipts]
        head = [f"[b]{escape(po.number)}[/] from {escape(po.supplier.name)}  [b]{po.status}[/]  "
                f"by {escape(po.created_by.name)} {pk_time(po.created_at)}"]
        if receipts:
            head.append("Deliveries: " + ", ".join(receipts[-3:]) + (" ..." if len(receipts) > 3 else ""))
        if po.status in OPEN:
            n = sum(q for _, q, _ in self.delivery.values())
            head.append(f"This delivery: {n} units scanned; F10 confirms it.")
        self.set_head("\n".join(head))

    def handle_code(self, text: str) -> None:
        po = self.po
        if po.status not in OPEN:
            self.show_message(f"{po.number} is {po.status}: it takes no more deliveries", True)
            return
        try:
            qty, code, cost = parse_entry(text, signed=True, cost=True)
            v = find(code)
        except PosError as exc:
            self.show_message(str(exc), True)
            return
        _, have, known = self.delivery.get(v.id, [v, 0, None])
        have += qty
        if have <= 0:
            self.delivery.pop(v.id, None)
        else:
            self.delivery[v.id] = [v, have, cost if cost is not None else known]
        self.reload()
        self.show_message(f"{v.sku}: {max(have, 0)} in this delivery")

    def action_cost(self) -> None:
        key = self.current_key()
        if key is None or int(key) not in self.delivery:
            self.show_message("Scan the item first; then F3 sets its cost in this delivery", True)
            return
        line = self.delivery[int(key)]

        def set_cost(value) -> None:
            line[2] = value
            self.reload()
        ask_cost(self, f"{line[0].sku} in this delivery", set_cost)

    def action_receive(self) -> None:
        if not self.delivery:
            self.show_message("Nothing scanned for this delivery yet", True)
            return
        items = [purchasing.Delivered(vid, q, c) for vid, (_, q, c) in self.delivery.items()]
        units = sum(q for _, q, _ in self.delivery.values())

        def saved(grn) -> None:
            self.delivery = {}
            self.reload()
            self.show_message(f"{grn.number}: {units} units received; {self.number} is {self.po.status}")
        self.core(purchasing.receive, self.number, self.app.staff.id, items,
                  shopify_enabled=self.app.cfg.shopify.enabled, then=saved)

    def action_close(self) -> None:
        def go() -> None:
            def saved(po) -> None:
                self.reload()
                self.show_message(f"{po.number} closed; what was still due will not come")
            self.core(purchasing.close, self.number, self.app.staff.id, then=saved)
        self.confirm(f"Close {self.number}? Nothing more will be received on it.", go)

    def action_cancel_po(self) -> None:
        def go() -> None:
            def saved(po) -> None:
                self.reload()
                self.show_message(f"{po.number} cancelled")
            self.core(purchasing.cancel, self.number, self.app.staff.id, then=saved)
        self.confirm(f"Cancel {self.number}?", go)
