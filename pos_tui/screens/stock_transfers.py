"""Transfers: this branch's outgoing and incoming by status; a new draft by scanning; dispatch with
a printed slip (CODE128 of the number); at the other branch, scan the slip to open it, scan what
arrived, confirm; a manager settles each line that came short or over."""
from __future__ import annotations

from rich.markup import escape
from textual.binding import Binding
from textual.widgets import Input

from pos_core import transfers
from pos_core.errors import PosError
from pos_core.models import Branch, Transfer, TransferLine

from ..receipts import pk_time
from ..ui import StockBase, cut, find, parse_entry

FILTERS = ("open", "DRAFT", "DISPATCHED", "DISCREPANCY", "RECEIVED", "CANCELLED", "all")
OPEN = ("DRAFT", "DISPATCHED", "DISCREPANCY")

WHAT_HAPPENS = {
    "lost_in_transit": "nothing moves: the units are lost on the way",
    "returned_to_sender": "+{n} back in stock at {src}",
    "found_at_receiver": "+{n} at {dst}: they turned up later",
    "sender_sent_extra": "-{n} at {src}: more left than was recorded",
    "receiver_miscounted": "-{n} at {dst}: fewer arrived than were counted",
}


class TransfersScreen(StockBase):
    CODE_LABEL = "Transfer >"
    PLACEHOLDER = "scan the slip or type its number; Enter: open the chosen row"
    COLUMNS = (("Number", 16), ("Way", 4), ("Branch", 6), ("Status", 11), ("Units", 6), ("Created", 11),
               ("By", 9))
    BINDINGS = StockBase.BINDINGS + [
        Binding("f2", "new", "New", id="transfers.new", priority=True, tooltip="New transfer to another branch"),
        Binding("f3", "open", "Open", id="transfers.open", priority=True, tooltip="Open the chosen transfer"),
        Binding("f4", "filter", "Status", id="transfers.filter", priority=True, tooltip="Show another status"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filter = "open"

    def on_screen_resume(self) -> None:
        self.reload()

    def reload(self) -> None:
        b = self.branch
        q = (Transfer.select().where((Transfer.from_branch == b.id) | (Transfer.to_branch == b.id))
             .order_by(Transfer.id.desc()).limit(200))
        if self.filter == "open":
            q = q.where(Transfer.status.in_(OPEN))
        elif self.filter != "all":
            q = q.where(Transfer.status == self.filter)
        rows = []
        for t in q:
            out = t.from_branch_id == b.id
            units = sum(l.qty_sent for l in t.lines)
            rows.append((t.number, [escape(t.number), "out" if out else "in",
                                    escape((t.to_branch if out else t.from_branch).code), t.status, f"{units:>6}",
                                    pk_time(t.created_at, "%d-%m %H:%M"), escape(cut(t.created_by.name, 9))]))
        self.fill(rows)
        self.set_head(f"Transfers of {escape(b.code)}, {self.filter.lower()}: {len(rows)}   "
                      "(out: sent from here, in: coming here)")

    def handle_code(self, text: str) -> None:
        ref = text.strip()
        if not ref:
            self.action_open()
            return
        def saved(t) -> None:
            self.open(t)
        self.core(transfers.get, ref.upper() if ref.upper().startswith("TR-") else ref, busy=None, then=saved)

    def open(self, t: Transfer) -> None:
        b = self.branch
        if b.id not in (t.from_branch_id, t.to_branch_id):
            self.show_message(f"{t.number} goes from {t.from_branch.code} to {t.to_branch.code}, not this branch",
                              True)
            return
        self.app.open("transfer", t.number)

    def action_open(self) -> None:
        key = self.current_key()
        if key is None:
            self.show_message("No transfer to open", True)
            return
        self.open(transfers.get(key))

    def action_filter(self) -> None:
        self.filter = FILTERS[(FILTERS.index(self.filter) + 1) % len(FILTERS)]
        self.reload()

    def action_new(self) -> None:
        others = [b for b in Branch.select().order_by(Branch.code) if b.id != self.branch.id]
        if not others:
            self.show_message("There is no other branch to send to", True)
            return

        def chosen(key) -> None:
            if key is not None:
                self.app.open("new_transfer", int(key))
        self.app.open("pick", f"Send from {self.branch.code} to", [("Code", 8), ("Branch", 40)],
                                        [(str(b.id), [b.code, b.name]) for b in others], then=chosen)


class NewTransferScreen(StockBase):
    """A draft to another branch: every scan adds one (3*code adds three, -1*code takes one off)."""

    PLACEHOLDER = "scan each item (3*code adds three, -1*code takes one off)"
    COLUMNS = (("SKU", 16), ("Item", 40), ("Qty", 6), ("Here", 6))
    BINDINGS = StockBase.BINDINGS + [
        Binding("f3", "note", "Note", id="transfer_new.note", priority=True, tooltip="Add a note"),
        Binding("f8", "remove", "Remove", id="transfer_new.remove", priority=True, tooltip="Remove the chosen line"),
        Binding("f10", "save", "Save draft", id="transfer_new.save", priority=True, tooltip="Save the draft"),
    ]

    def __init__(self, to_branch_id: int) -> None:
        super().__init__()
        self.to_branch = Branch.get_by_id(to_branch_id)
        self.items: dict[int, list] = {}  # variant id -> [variant, qty]
        self.note = ""

    def reload(self) -> None:
        from pos_core import ledger
        rows = [(str(vid), [escape(v.sku), escape(cut(v.name, 40)), f"{q:>6}",
                            f"{ledger.on_hand(vid, self.branch.id):>6}"]) for vid, (v, q) in self.items.items()]
        self.fill(rows)
        units = sum(q for _, q in self.items.values())
        self.set_head(f"New transfer {escape(self.branch.code)} -> {escape(self.to_branch.code)}: "
                      f"{len(self.items)} lines, {units} units" + (f"\nNote: {escape(self.note)}" if self.note else ""))

    def handle_code(self, text: str) -> None:
        try:
            qty, code, _ = parse_entry(text, signed=True)
            v = find(code)
        except PosError as exc:
            self.show_message(str(exc), True)
            return
        have = self.items.get(v.id, [v, 0])[1] + qty
        if have <= 0:
            self.items.pop(v.id, None)
        else:
            self.items[v.id] = [v, have]
        self.reload()
        self.show_message(f"{v.sku}: {max(have, 0)} to send")

    def action_remove(self) -> None:
        key = self.current_key()
        if key is not None:
            self.items.pop(int(key), None)
            self.reload()

    def action_note(self) -> None:

        def done(text) -> None:
            if text is not None:
                self.note = text.strip()
                self.reload()
        self.app.open("prompt", "Transfer note", "Note (optional):", value=self.note, then=done)

    def action_save(self) -> None:
        items = [transfers.TransferItem(vid, q) for vid, (_, q) in self.items.items()]
        def saved(t) -> None:
            self.app.open("transfer", t.number, f"Draft {t.number} saved: F5 dispatches it", switch=True)
        self.core(transfers.create, self.branch.id, self.to_branch.id, self.app.staff.id, items, self.note,
                  then=saved)


class TransferScreen(StockBase):
    """One transfer. At the sender: dispatch (prints the slip) or cancel a draft. At the receiver:
    scan what arrived, then confirm. Then a manager settles any line that came short or over."""

    PLACEHOLDER = "receiving: scan each item that arrived (3*code for three)"
    COLUMNS = (("#", 2), ("SKU", 14), ("Item", 14), ("Sent", 5), ("Count", 5), ("Diff", 5), ("Settled", 18))
    BINDINGS = StockBase.BINDINGS + [
        Binding("f5", "dispatch", "Dispatch", id="transfer.dispatch", priority=True,
                tooltip="Dispatch the draft and print its slip"),
        Binding("f6", "slip", "Slip", id="transfer.slip", priority=True, tooltip="Print the transfer slip"),
        Binding("f7", "settle", "Settle", id="transfer.settle", priority=True,
                tooltip="Settle the chosen line's difference (manager)"),
        Binding("f8", "cancel_draft", "Cancel", id="transfer.cancel", priority=True, tooltip="Cancel the draft"),
        Binding("f10", "receive", "Received", id="transfer.receive", priority=True,
                tooltip="Confirm what arrived"),
        Binding("f9", "tags", "Tags", id="transfer.tags", priority=True,
                tooltip="Price tags for what arrived, one per unit"),
    ]

    def __init__(self, number: str, note: str = "") -> None:
        super().__init__()
        self.number, self.first_note = number, note
        self.counted: dict[int, int] = {}

    def on_mount(self) -> None:
        super().on_mount()
        if self.first_note:
            self.show_message(self.first_note)

    @property
    def t(self) -> Transfer:
        return transfers.get(self.number)

    def action_tags(self) -> None:
        from pos_core import shelf_labels
        self.core(shelf_labels.for_transfer_received, self.number, self.app.cfg.barcodes, busy="Making tags...",
                  assign=shelf_labels.may_assign(self.app.cfg),
                  then=lambda items: self.app.open("labels", items, f"transfer {self.number}"))

    def _lines(self, t: Transfer) -> list[TransferLine]:
        return list(t.lines.order_by(TransferLine.line_no))

    def receiving(self, t: Transfer) -> bool:
        return t.status == "DISPATCHED" and t.to_branch_id == self.branch.id

    def reload(self) -> None:
        t = self.t
        rows = []
        for l in self._lines(t):
            got = l.qty_received if l.qty_received is not None else (
                self.counted.get(l.variant_id) if self.receiving(t) else None)
            diff = "" if got is None else f"{got - l.qty_sent:+d}" if got != l.qty_sent else "0"
            settled = (l.resolution or "").replace("_", " ")
            if not settled and l.qty_received is not None and l.qty_received != l.qty_sent:
                settled = "OPEN"
            rows.append((str(l.line_no), [str(l.line_no), escape(l.variant.sku), escape(cut(l.variant.name, 14)),
                                          f"{l.qty_sent:>5}", "" if got is None else f"{got:>5}", f"{diff:>5}",
                                          settled]))
        self.fill(rows)
        head = [f"[b]{escape(t.number)}[/]  {escape(t.from_branch.code)} -> {escape(t.to_branch.code)}  "
                f"[b]{t.status}[/]  made by {escape(t.created_by.name)} {pk_time(t.created_at)}"]
        if t.dispatched_at:
            head.append(f"Dispatched by {escape(t.dispatched_by.name)} {pk_time(t.dispatched_at)}"
                        + (f"; received by {escape(t.received_by.name)} {pk_time(t.received_at)}"
                           if t.received_at else ""))
        if self.receiving(t):
            head.append("Scan what arrived, then F10. Uncounted lines arrived as 0.")
        elif t.status == "DRAFT":
            head.append("Draft: F5 dispatches (stock leaves this branch, slip prints); F8 cancels."
                        if t.from_branch_id == self.branch.id else f"Draft: {escape(t.from_branch.code)} will dispatch it.")
        elif t.status == "DISCREPANCY":
            head.append("Differences: choose a line marked OPEN and F7 to settle it (manager PIN).")
        if t.note:
            head.append(f"Note: {escape(t.note)}")
        self.set_head("\n".join(head))
        self.query_one("#stock-code", Input).placeholder = (
            self.PLACEHOLDER if self.receiving(t) else f"{t.status.lower()}: nothing to scan here")

    def handle_code(self, text: str) -> None:
        t = self.t
        if not self.receiving(t):
            if text.strip().upper() == t.number:
                return
            self.show_message(f"{t.number} is {t.status}" + ("" if t.to_branch_id == self.branch.id
                              else f"; it is received at {t.to_branch.code}") + ": nothing to count", True)
            return
        try:
            qty, code, _ = parse_entry(text, signed=True)
            v = find(code)
        except PosError as exc:
            self.show_message(str(exc), True)
            return
        if v.id not in {l.variant_id for l in t.lines}:
            self.show_message(f"{v.sku} is not on {t.number}: keep it aside, it needs a transfer of its own", True)
            return
        n = max(self.counted.get(v.id, 0) + qty, 0)
        self.counted[v.id] = n
        self.reload()
        self.show_message(f"{v.sku}: {n} counted")

    def action_dispatch(self) -> None:
        t = self.t
        if t.from_branch_id != self.branch.id:
            self.show_message(f"{t.number} is dispatched by {t.from_branch.code}", True)
            return
        def saved(t) -> None:
            self.reload()
            self.show_message(f"{t.number} dispatched; printing the slip")
            self.action_slip()
        self.core(transfers.dispatch, t.number, self.app.staff.id, shopify_enabled=self.app.cfg.shopify.enabled,
                  then=saved)

    def action_slip(self) -> None:
        t = self.t
        if t.status in ("DRAFT", "CANCELLED"):
            self.show_message(f"{t.number} is {t.status}: the slip prints once it is dispatched", True)
            return
        self.print_slip(transfer_slip(t, self.app.cfg), f"Transfer slip {t.number}")

    def action_cancel_draft(self) -> None:
        t = self.t
        if t.status != "DRAFT" or t.from_branch_id != self.branch.id:
            self.show_message(f"{t.number} is {t.status}: only the sender's draft can be cancelled", True)
            return

        def go() -> None:
            def saved(_) -> None:
                self.reload()
                self.show_message(f"{t.number} cancelled")
            self.core(transfers.cancel, t.number, self.app.staff.id, then=saved)
        self.confirm(f"Cancel draft {t.number}?", go)

    def action_receive(self) -> None:
        t = self.t
        if not self.receiving(t):
            self.show_message(f"{t.number} is {t.status}: nothing to receive here", True)
            return
        counted = dict(self.counted)

        def go() -> None:
            def saved(done) -> None:
                self.counted = {}
                self.reload()
                if done.status == "DISCREPANCY":
                    self.show_message(f"{t.number} received with differences: a manager settles each OPEN line (F7)",
                                      True)
                else:
                    self.show_message(f"{t.number} received complete")
            self.core(transfers.receive, t.number, self.app.staff.id, counted,
                      shopify_enabled=self.app.cfg.shopify.enabled, then=saved)
        sent = sum(l.qty_sent for l in t.lines)
        got = sum(counted.values())
        if got != sent:
            self.confirm(f"{got} counted of {sent} sent. Receive with this difference?", go)
        else:
            go()

    def action_settle(self) -> None:
        t = self.t
        key = self.current_key()
        line = t.lines.where(TransferLine.line_no == int(key)).first() if key else None
        if t.status != "DISCREPANCY" or line is None or line.qty_received is None:
            self.show_message(f"{t.number} has no difference to settle", True)
            return
        if line.resolution:
            self.show_message(f"Line {line.line_no} was settled: {line.resolution.replace('_', ' ')}", True)
            return
        diff = line.qty_received - line.qty_sent
        if diff == 0:
            self.show_message(f"Line {line.line_no} arrived complete", True)
            return
        kind = "shortfall" if diff < 0 else "excess"
        fmt = dict(n=abs(diff), src=t.from_branch.code, dst=t.to_branch.code)
        options = [(name, [name.replace("_", " "), WHAT_HAPPENS[name].format(**fmt)])
                   for name, (applies, *_rest) in transfers.RESOLUTIONS.items() if applies == kind]

        def chosen(resolution) -> None:
            if resolution is None:
                return

            def settle(manager) -> None:
                def saved(_) -> None:
                    self.reload()
                    self.show_message(f"Line {line.line_no} settled ({resolution.replace('_', ' ')}) "
                                      f"by {manager.name}; {t.number} is {self.t.status}")
                self.core(transfers.resolve, t.number, line.line_no, resolution, manager.id,
                          shopify_enabled=self.app.cfg.shopify.enabled, then=saved)
            self.with_manager(f"Settle {line.variant.sku}: {abs(diff)} {kind}, {resolution.replace('_', ' ')}",
                              settle)
        self.app.open("pick", f"{line.variant.sku}: {abs(diff)} units {kind}",
                                        [("Settle as", 20), ("What happens", 48)], options, then=chosen)


def transfer_slip(t: Transfer, cfg):
    from printers import receipt as r
    from ..receipts import pk_time as when
    lines = [("From", f"{t.from_branch.code} {t.from_branch.name}"), ("To", f"{t.to_branch.code} {t.to_branch.name}"),
             ("Dispatched by", t.dispatched_by.name if t.dispatched_by_id else "")]
    units = 0
    for l in t.lines.order_by(TransferLine.line_no):
        lines.append((f"{l.variant.sku} {l.variant.option_text}".strip(), f"x {l.qty_sent}"))
        units += l.qty_sent
    lines += [("Units", str(units))]
    if t.note:
        lines.append((f"Note: {t.note}", ""))
    return r.Slip(title=r.TRANSFER, number=t.number, lines=tuple(lines), barcode=t.number,
                  header_lines=tuple(cfg.printer.header[:1]) or (cfg.site_name,),
                  footer_lines=("Receiving branch: scan this barcode",), when=when(t.dispatched_at or t.created_at))
