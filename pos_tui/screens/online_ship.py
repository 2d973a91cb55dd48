"""Lines and a branch for an online order: Smart Fulfillment (a new shipment), Manual Fulfillment,
Branch Sync and an exchange return. Each line shows its stock at every branch; a branch that
cannot cover what is chosen is flagged (for goods leaving a branch). Returns (text, shipment uid).
"""
from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Label, Static

from pos_core import fulfillments, hq_claims, online_orders
from pos_core.models import Branch

from ..widgets.keybar import KeyBar
from ..widgets.status import StatusBar
from .. import work
from ..ui import packed_extra, show_msg

MODES = {  # title, save key description, goods leave the branch, quantities can be changed
    "smart": ("Smart Fulfillment: lines to ship and the branch they leave from", True, True),
    "manual": ("Manual Fulfillment: what left the branch (nothing is sent to Shopify)", True, True),
    "branch_sync": ("Branch Sync: the branch the goods fulfilled in Shopify left from", True, False),
    "exchange_return": ("Exchange return: packed units removed by the edit, back on a shelf", False, True),
}
MAX_BRANCH_COLUMNS = 3




class LinesBranchScreen(Screen):
    SCANS = None
    BINDINGS = [
        Binding("escape", "back", "Back", id="online_ship.back"),
        Binding("enter", "set_qty", "Qty", id="online_ship.qty", priority=True),
        Binding("f3", "next_branch", "Branch", id="online_ship.branch", priority=True),
        Binding("f10", "save", "Save", id="online_ship.save", priority=True),
        Binding("up", "move(-1)", "Up", show=False, id="online_ship.up"),
        Binding("down", "move(1)", "Down", show=False, id="online_ship.down"),
    ]
    DEFAULT_CSS = """
    #os-title { text-style: bold reverse; width: 100%; padding: 0 1; }
    #os-lines { height: 1fr; border: ascii $secondary; scrollbar-size-vertical: 1; scrollbar-size-horizontal: 0; }
    #os-branches { height: 7; border: ascii $secondary; scrollbar-size-vertical: 1; scrollbar-size-horizontal: 0; }
    #os-summary { height: 1; padding: 0 1; }
    """

    def __init__(self, order_id: int, mode: str):
        super().__init__()
        self.order_id, self.mode = order_id, mode
        self.title_text, self.leaving, self.editable = MODES[mode]
        self.order = online_orders.get(order_id)
        self.lines = list(self.order.lines)
        if mode == "branch_sync":
            self.limit = online_orders.uncovered_units(self.order)
        elif mode == "exchange_return":
            self.limit = packed_extra(self.order)
        else:
            self.limit = online_orders.remaining_units(self.order)
        self.lines = [l for l in self.lines if self.limit.get(l.id)]
        self.qty = {l.id: self.limit[l.id] for l in self.lines}
        self.branches = list(Branch.select().order_by(Branch.code))
        self.options: dict[int, fulfillments.BranchOption] = {}
        self.branch_index = 0
        self.forced = False

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield Label(escape(f"{self.order.name}  {self.title_text}"), id="os-title")
        yield DataTable(id="os-lines", cursor_type="row")
        yield DataTable(id="os-branches", cursor_type="row")
        yield Static(id="os-summary")
        yield Label("", id="msg")
        yield KeyBar()

    def on_mount(self) -> None:
        lines = self.query_one("#os-lines", DataTable)
        lines.focus()
        cols = [("#", 2), ("Item", 26), ("Ord", 3), ("Now", 3), ("Left" if self.mode != "exchange_return" else "Xtra", 4),
                ("Qty", 4)] + [(b.code, 6) for b in self.branches[:MAX_BRANCH_COLUMNS]]
        for label, width in cols:
            lines.add_column(label, width=width)
        branches = self.query_one("#os-branches", DataTable)
        branches.can_focus = False
        for label, width in (("", 1), ("Branch", 6), ("Name", 24), ("Stock" if not self.leaving else "Can cover", 33)):
            branches.add_column(label, width=width)
        self.refresh_options()
        here = self.app.counter.branch_id
        covering = [i for i, b in enumerate(self.branches) if self.options[b.id].can_cover]
        at_here = next((i for i, b in enumerate(self.branches) if b.id == here), 0)
        self.branch_index = at_here if (not self.leaving or at_here in covering or not covering) else covering[0]
        self.show()
        if not self.lines:
            self.show_message("Nothing to do for this order", True)

    def show_message(self, text: str, error: bool = False) -> None:
        show_msg(self, text, error)

    def wanted(self) -> dict[int, int]:
        return {k: v for k, v in self.qty.items() if v}

    def refresh_options(self) -> None:
        wanted = self.wanted() or {l.id: 0 for l in self.lines}
        self.options = {o.branch_id: o for o in fulfillments.branch_options(self.order_id, wanted)}

    @property
    def branch(self) -> Branch:
        return self.branches[self.branch_index]

    def show(self) -> None:
        table = self.query_one("#os-lines", DataTable)
        row = table.cursor_row
        table.clear()
        for n, l in enumerate(self.lines, start=1):
            label = f"{l.sku} {l.variant.option_text}" if l.variant_id and l.sku else l.name
            cells = [str(n), escape(label[:26]), str(l.quantity), str(l.current_quantity), str(self.limit[l.id]),
                     str(self.qty[l.id])]
            for b in self.branches[:MAX_BRANCH_COLUMNS]:
                opt = self.options[b.id]
                short = self.leaving and l.id in opt.short
                cells.append(f"[b]{opt.stock.get(l.id, 0)}![/]" if short else str(opt.stock.get(l.id, 0)))
            table.add_row(*cells, key=str(l.id))
        if self.lines:
            table.move_cursor(row=max(0, min(row, len(self.lines) - 1)))
        names = {l.id: l.name for l in self.lines}
        branches = self.query_one("#os-branches", DataTable)
        branches.clear()
        for i, b in enumerate(self.branches):
            opt = self.options[b.id]
            if not self.leaving:
                note = ", ".join(f"{opt.stock.get(l.id, 0)} x {l.sku}" for l in self.lines)
            elif opt.can_cover:
                note = "yes"
            else:
                note = "SHORT " + ", ".join(f"{q} x {names[lid][:18]}" for lid, q in opt.short.items())
            branches.add_row(">" if i == self.branch_index else "", b.code, escape(b.name[:24]), escape(note[:33]),
                             key=str(b.id))
        units = sum(self.wanted().values())
        opt = self.options[self.branch.id]
        where = "from" if self.leaving else "back into stock at"
        flag = "" if (not self.leaving or opt.can_cover) else "  [b]cannot cover[/]"
        self.query_one("#os-summary", Static).update(
            f"{units} unit(s) {where} [b]{self.branch.code}[/]{flag}   F10 saves")

    def action_move(self, step: int) -> None:
        table = self.query_one("#os-lines", DataTable)
        if table.row_count:
            table.move_cursor(row=max(0, min(table.row_count - 1, table.cursor_row + step)))

    def action_next_branch(self) -> None:
        self.branch_index = (self.branch_index + 1) % len(self.branches)
        self.forced = False
        self.show()

    def action_set_qty(self) -> None:
        if not self.lines:
            return
        if not self.editable:
            self.show_message("A branch sync takes exactly what Shopify shows fulfilled", True)
            return
        line = self.lines[self.query_one("#os-lines", DataTable).cursor_row]
        most = self.limit[line.id]

        def check(text: str):
            t = text.strip() or "0"
            if not t.isdigit() or int(t) > most:
                return None, f"enter 0 to {most}"
            return int(t), None

        def done(qty) -> None:
            if qty is not None:
                self.qty[line.id] = qty
                self.forced = False
                self.refresh_options()
                self.show()
        self.app.open("prompt", "Quantity", f"{escape(line.name)}\nHow many (0-{most})?", check,
                                          str(self.qty[line.id]), then=done)

    def action_save(self) -> None:
        wanted = self.wanted()
        if not wanted:
            self.show_message("Choose at least one unit (Enter on a line)", True)
            return
        opt = self.options[self.branch.id]
        if self.leaving and not opt.can_cover and not self.forced:
            self.forced = True
            self.show_message(f"{self.branch.code} does not have enough stock: F3 for another branch, or F10 "
                              "again if the goods really are there", True)
            return
        order_id, branch, staff_id, mode = self.order_id, self.branch, self.app.staff.id, self.mode
        cfg = self.app.cfg

        def go() -> str:
            if mode in ("smart", "manual", "branch_sync"):
                # In a chain the head office decides which branch packs these lines (a refusal
                # names the branch holding them; offline: packing needs the link). One shop: nothing.
                hq_claims.claim_for(cfg, order_id, None if mode == "branch_sync" else list(wanted), branch.code)
            if mode == "smart":
                f = fulfillments.create(order_id, branch.id, staff_id, wanted)
                text = f"Shipment {f.uid[:8]} from {branch.code}: F6 packs it (takes the stock)"
            elif mode == "manual":
                f = fulfillments.manual(order_id, branch.id, staff_id, wanted)
                text = f"Manual fulfillment recorded: {sum(wanted.values())} unit(s) out of {branch.code}"
            elif mode == "branch_sync":
                f = fulfillments.branch_sync(order_id, branch.id, staff_id)
                text = f"Branch sync: {sum(l.qty for l in f.lines)} unit(s) taken from {branch.code}"
            else:
                f = fulfillments.exchange_return(order_id, branch.id, staff_id, wanted)
                text = f"Exchange return: {sum(wanted.values())} unit(s) back in stock at {branch.code}"
            self.result = (text, f.uid)
            return text
        work.run(self, go, lambda _text: self.dismiss(self.result), busy="Saving...", group="online",
                 what="shipment lines", unexpected="NOT saved ({error}); try again")

    def action_back(self) -> None:
        self.dismiss(None)
