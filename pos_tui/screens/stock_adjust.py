"""A stock adjustment: a reason, items with signed quantities, a note; above the value threshold
in the config a manager approves with a PIN on the spot."""
from __future__ import annotations

from rich.markup import escape
from textual.binding import Binding

from pos_core import adjustments
from pos_core.errors import PosError
from pos_core.money import fmt, to_paisa

from ..ui import StockBase, cut, find, is_manager, parse_entry

REASONS = {"damaged": "damaged goods (removes)", "lost": "lost or stolen (removes)",
           "found": "found (adds)", "expired": "expired (removes)", "sample": "given as a sample (removes)",
           "correction": "correction (either way: -2*code removes)"}


class AdjustScreen(StockBase):
    PLACEHOLDER = "scan items (3*code; for a correction -2*code removes)"
    COLUMNS = (("SKU", 16), ("Item", 34), ("Units", 6), ("Value Rs", 11))
    BINDINGS = StockBase.BINDINGS + [
        Binding("f2", "reason", "Reason", id="adjust.reason", priority=True, tooltip="Why stock changes"),
        Binding("f3", "note", "Note", id="adjust.note", priority=True, tooltip="Say what happened"),
        Binding("f8", "remove", "Remove", id="adjust.remove", priority=True, tooltip="Remove the chosen line"),
        Binding("f10", "post", "Post", id="adjust.post", priority=True, tooltip="Post the adjustment"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.reason = ""
        self.note = ""
        self.items: dict[int, list] = {}  # variant id -> [variant, delta]

    def on_mount(self) -> None:
        super().on_mount()
        self.action_reason()

    @property
    def threshold(self) -> int:
        return to_paisa(self.app.cfg.adjustment_approval_above)

    def value(self) -> int:
        return sum(abs(d) * v.price_paisa for v, d in self.items.values())

    def reload(self) -> None:
        self.fill([(str(vid), [escape(v.sku), escape(cut(v.name, 34)), f"{d:>+6}", f"{fmt(abs(d) * v.price_paisa):>11}"])
                   for vid, (v, d) in self.items.items()])
        value = self.value()
        approval = ("  [b]manager approval needed[/]" if value > self.threshold and not is_manager(self.app.staff)
                    else "")
        self.set_head(f"Adjustment at {escape(self.branch.code)}: reason [b]{escape(self.reason or 'F2: choose')}[/]"
                      f"   value Rs {fmt(value)} (approval above Rs {fmt(self.threshold)}){approval}\n"
                      f"Note: {escape(self.note) if self.note else 'F3: say what happened'}")

    def handle_code(self, text: str) -> None:
        if not self.reason:
            self.show_message("Choose the reason first (F2)", True)
            return
        try:
            qty, code, _ = parse_entry(text, signed=True)
            v = find(code)
        except PosError as exc:
            self.show_message(str(exc), True)
            return
        sign = adjustments.SIGN.get(self.reason)
        delta = qty * sign if sign is not None else qty  # under a one-way reason -code takes a scan back
        have = self.items.get(v.id, [v, 0])[1] + delta
        if have == 0:
            self.items.pop(v.id, None)
        else:
            self.items[v.id] = [v, have]
        self.reload()
        self.show_message(f"{v.sku}: {have:+d}")

    def action_reason(self) -> None:

        def chosen(key) -> None:
            if key is None:
                return
            if self.items and key in adjustments.SIGN:  # keep the lines, with the sign the reason needs
                for line in self.items.values():
                    line[1] = abs(line[1]) * adjustments.SIGN[key]
            self.reason = key
            self.reload()
        self.app.open("pick", "Reason for the adjustment", [("Reason", 12), ("Meaning", 50)],
                                        [(k, [k, d]) for k, d in REASONS.items()], then=chosen)

    def action_note(self) -> None:

        def done(text) -> None:
            if text is not None:
                self.note = text.strip()
                self.reload()
        self.app.open("prompt", "Adjustment note", "What happened:", value=self.note, then=done)

    def action_remove(self) -> None:
        key = self.current_key()
        if key is not None:
            self.items.pop(int(key), None)
            self.reload()

    def action_post(self) -> None:
        if not self.reason:
            self.show_message("Choose the reason first (F2)", True)
            return
        if not self.note:
            self.show_message("Say what happened in the note (F3)", True)
            return
        if not self.items:
            self.show_message("Scan the items first", True)
            return
        value = self.value()
        if value > self.threshold and not is_manager(self.app.staff):
            self.with_manager(f"Adjustment ({self.reason}) worth Rs {fmt(value)}", self._post)
        else:
            self._post(None)

    def _post(self, approver) -> None:
        items = [adjustments.AdjustItem(vid, d) for vid, (_, d) in self.items.items()]
        approver_id = approver.id if approver is not None and approver.id != self.app.staff.id else None
        units = sum(d for _, d in self.items.values())

        def saved(adj) -> None:
            self.items, self.note = {}, ""
            self.reload()
            by = f", approved by {approver.name}" if approver_id else ""
            self.show_message(f"{adj.number} posted: {units:+d} units ({adj.reason}){by}")
        self.core(adjustments.create, self.branch.id, self.app.staff.id, self.reason, items, self.note,
                  approver_id=approver_id, approval_above_paisa=self.threshold,
                  shopify_enabled=self.app.cfg.shopify.enabled, then=saved)
