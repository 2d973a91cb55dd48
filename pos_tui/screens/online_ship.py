"""Lines and a branch for an online order: Smart Fulfillment (a new shipment), Manual Fulfillment,
Branch Sync and an exchange return. Each line shows its stock at every branch; a branch that
cannot cover what is chosen is flagged (for goods leaving a branch). Returns (text, shipment uid).

At a chain branch the other branches' figures come from the head office (`hq_stock`, asked in a
worker): on hand, in transit, each as of that branch's last sync with its age; with the link down,
the last copy this box kept, with its age. This branch's own figures are its ledger, live.
"""
from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Label, Static

from pos_core import fulfillments, hq_claims, hq_stock, online_orders
from pos_core.models import Branch, utcnow

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
    #os-summary { height: 2; padding: 0 1; }
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
        self.picked = False                     # F3 pressed: keep the person's choice
        self.chain = False                      # a chain branch: other branches from the head office
        self.view: hq_stock.ChainView | None = None

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
        self.chain = self.leaving and self.app.cfg.hq.role == "branch"
        if self.chain:
            cols = (("", 1), ("Branch", 6), ("Name", 16), ("Has every line?", 27), ("As of", 12))
        else:
            cols = (("", 1), ("Branch", 6), ("Name", 24), ("Stock" if not self.leaving else "Can cover", 33))
        for label, width in cols:
            branches.add_column(label, width=width)
        self.refresh_options()
        self.pick_default()
        self.show()
        if not self.lines:
            self.show_message("Nothing to do for this order", True)
        elif self.chain:
            self.ask_head_office()

    def pick_default(self) -> None:
        """This branch if it covers the lines (or nothing does), else the first branch that does."""
        here = self.app.counter.branch_id
        covering = [i for i, b in enumerate(self.branches) if self.options[b.id].can_cover]
        at_here = next((i for i, b in enumerate(self.branches) if b.id == here), 0)
        self.branch_index = at_here if (not self.leaving or at_here in covering or not covering) else covering[0]

    def sku_of(self, line) -> str:
        return line.variant.sku if line.variant_id else (line.sku or "")

    def ask_head_office(self) -> None:
        cfg, skus = self.app.cfg, [self.sku_of(l) for l in self.lines if self.sku_of(l)]

        def got(view) -> None:
            self.view = view
            self.refresh_options()
            if not self.picked:
                self.pick_default()
            self.show()
            if view.live:
                self.show_message("Other branches: the head office's figures, each as of that branch's last sync")
            elif view.fetched_at is None:
                self.show_message(f"{view.error}; no copy kept yet, so other branches are not known here", True)
            else:
                self.show_message(f"{view.error}; showing the last copy, fetched "
                                  f"{hq_stock.ago(view.fetched_at, utcnow())}", True)
        self.show_message("Asking the head office for every branch's stock...")
        work.run(self, lambda: hq_stock.look_up(cfg, skus), got, busy=None, group="chain-stock", exclusive=True,
                 what="other branches' stock")

    def here_code(self) -> str:
        return self.app.counter.branch.code

    def elsewhere(self) -> dict[str, dict[str, int]]:
        """SKU -> {branch: on hand} for every branch but this one: the head office's figures, 0 for
        one it has not told us about (this box's ledger holds only its own branch's stock)."""
        if not self.chain:
            return {}
        here = self.here_code()
        out = {}
        for l in self.lines:
            rows = self.view.stock.get(self.sku_of(l), []) if self.view else []
            told = {r.branch: r.on_hand for r in rows}
            out[self.sku_of(l)] = {b.code: told.get(b.code, 0) for b in self.branches if b.code != here}
        return out

    def known(self, branch: Branch) -> bool:
        """Whether this screen has a figure for the branch (its own, or from the head office)."""
        if not self.chain or branch.code == self.here_code():
            return True
        return self.view is not None and all(self.view.of(self.sku_of(l), branch.code) for l in self.lines)

    def figure(self, line, branch: Branch) -> tuple[int, int, str]:
        """(on hand, in transit, as of) of a line's item at a branch, as this screen knows it."""
        have = self.options[branch.id].stock.get(line.id, 0)
        if not self.chain or branch.code == self.here_code():
            return have, 0, "live (here)" if self.chain else ""
        row = self.view.of(self.sku_of(line), branch.code) if self.view else None
        if row is None:
            return have, 0, "asking..." if self.view is None else "not known"
        return row.on_hand, row.in_transit, hq_stock.ago(row.as_of, utcnow())

    def branch_age(self, branch: Branch) -> str:
        if not self.lines:
            return ""
        return self.figure(self.lines[0], branch)[2]

    def show_message(self, text: str, error: bool = False) -> None:
        show_msg(self, text, error)

    def wanted(self) -> dict[int, int]:
        return {k: v for k, v in self.qty.items() if v}

    def refresh_options(self) -> None:
        wanted = self.wanted() or {l.id: 0 for l in self.lines}
        self.options = {o.branch_id: o for o in fulfillments.branch_options(self.order_id, wanted, self.elsewhere())}

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
                have, transit, _ = self.figure(l, b)
                text = f"{have}+{transit}" if transit else str(have)
                if not self.known(b):
                    text, short = "?", False
                cells.append(f"[b]{text}![/]" if short else text)
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
            elif not self.known(b):
                note = "asking the head office" if self.view is None else "not known (no copy)"
            elif opt.can_cover:
                note = "EVERY LINE" if self.chain else "yes"
            else:
                note = "SHORT " + ", ".join(f"{q} x {names[lid][:18]}" for lid, q in opt.short.items())
            cells = [">" if i == self.branch_index else "", b.code]
            if self.chain:
                cells += [escape(b.name[:16]), escape(note[:27]), escape(self.branch_age(b))]
            else:
                cells += [escape(b.name[:24]), escape(note[:33])]
            branches.add_row(*cells, key=str(b.id))
        self.show_summary()

    def show_summary(self) -> None:
        units = sum(self.wanted().values())
        opt = self.options[self.branch.id]
        where = "from" if self.leaving else "back into stock at"
        flag = "" if (not self.leaving or opt.can_cover) else "  [b]cannot cover[/]"
        self.query_one("#os-summary", Static).update(
            self.line_across() + f"{units} unit(s) {where} [b]{self.branch.code}[/]{flag}   F10 saves")

    def line_across(self) -> str:
        """The chosen line at every branch with each figure's age: 'KHI1 3+1 (12m ago)'. Chain only."""
        table = self.query_one("#os-lines", DataTable)
        if not self.chain or not self.lines or not (0 <= table.cursor_row < len(self.lines)):
            return ""
        line = self.lines[table.cursor_row]
        parts = []
        for b in self.branches:
            have, transit, when = self.figure(line, b)
            if not self.known(b):
                parts.append(f"{b.code} ? ({when})")
                continue
            parts.append(f"{b.code} {have}" + (f"+{transit}" if transit else "") + f" ({when.replace('live (here)', 'here')})")
        return escape((f"{self.sku_of(line)[:10]}: " + "  ".join(parts))[:76]) + "\n"

    def action_move(self, step: int) -> None:
        table = self.query_one("#os-lines", DataTable)
        if table.row_count:
            table.move_cursor(row=max(0, min(table.row_count - 1, table.cursor_row + step)))
            self.show_summary()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "os-lines" and self.options:
            self.show_summary()

    def action_next_branch(self) -> None:
        self.branch_index = (self.branch_index + 1) % len(self.branches)
        self.forced = False
        self.picked = True
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
                # In a chain only the branch's own box moves its stock, and the head office decides
                # which branch takes these lines (a refusal names the branch holding them; offline:
                # packing needs the link). One shop: nothing.
                hq_claims.goods_here(cfg, branch.code, {"smart": "pack it", "manual": "record it",
                                                        "branch_sync": "record the branch sync"}[mode])
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
