"""One online order (Enter on the Ctrl+W list): who, where, what, its timeline and its shipments,
and every step staff take on it. Each step goes through pos_core in a worker thread, which posts
the outcome back as a message; refusals are shown on the message line.

Shipment keys (Pack, Unpack, Dispatch, Delivered, Returned) act on the shipment chosen with
Up/Down in the shipments table. The key line shows only the keys that apply right now.
"""
from __future__ import annotations

import datetime as dt
from typing import Callable

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Label, Static

from pos_core import (courier_cities, couriers, fulfillments, hq_claims, online_orders, policy as policymod, refunds,
                      staff as staffmod)
from pos_core.errors import PosError
from pos_core.models import Branch, Fulfillment, SmartOrderEvent
from pos_core.money import fmt

from ..widgets.keybar import key_label
from ..widgets.status import StatusBar
from .. import airway, work
from ..ui import ask_return_reason, ask_yes_no, branch_rows, local_phone, packed_extra, show_msg

PK_OFFSET = dt.timedelta(hours=5)  # Pakistan has no daylight saving


def pk_time(utc: dt.datetime | None, fmt_: str = "%d-%m %H:%M") -> str:
    return (utc + PK_OFFSET).strftime(fmt_) if utc else ""


def exchange_figures(order) -> tuple[list, list, int]:
    """(original lines [(name, qty, price)], replacement lines, amount: + to collect, - to refund)."""
    originals, replacements, delta = [], [], 0
    for l in order.lines:
        before = 0 if l.added_by_edit else l.quantity
        change = l.current_quantity - before
        delta += change * l.unit_price_paisa
        if change < 0:
            originals.append((l.name, -change, l.unit_price_paisa))
        elif change > 0:
            replacements.append((l.name, change, l.unit_price_paisa))
    return originals, replacements, delta


def event_text(e) -> str:
    d = e.detail or {}
    if e.kind == "edited":
        return "; ".join(f"{c.get('sku') or c.get('line')} {c['from']}->{c['to']}" for c in d.get("changes", []))
    parts = []
    for key in ("reason", "branch", "courier", "tracking", "tags", "to", "total"):
        if d.get(key) not in (None, "", []):
            value = "Rs " + fmt(d[key]) if key == "total" and isinstance(d[key], int) else d[key]
            parts.append(", ".join(value) if isinstance(value, list) else str(value))
    if "shipment" in d:
        parts.append(str(d["shipment"])[:8])
    return " ".join(parts)


class OnlineOrderScreen(Screen):
    SCANS = None
    AUTO_FOCUS = None
    BINDINGS = [
        Binding("escape", "back", "Back", id="online_order.back"),
        Binding("f2", "confirm", "Confirm", id="online_order.confirm", priority=True),
        Binding("f3", "cancel_order", "Cancel", id="online_order.cancel", priority=True),
        Binding("f4", "whatsapp", "WhatsApp/QR", id="online_order.whatsapp", priority=True),
        Binding("f5", "ship", "Ship", id="online_order.ship", tooltip="Smart Fulfillment: lines and branch",
                priority=True),
        Binding("f6", "pack", "Pack", id="online_order.pack", priority=True),
        Binding("f7", "unpack", "Unpack", id="online_order.unpack", priority=True),
        Binding("f8", "dispatch", "Dispatch", id="online_order.dispatch", priority=True),
        Binding("f9", "deliver", "Delivered", id="online_order.deliver", priority=True),
        Binding("f10", "returned", "Returned", id="online_order.returned", priority=True),
        Binding("ctrl+l", "airway_bill", "Airway bill", id="online_order.airway_bill",
                tooltip="Print the airway bill of a parcel the courier booked", priority=True),
        Binding("ctrl+f", "manual", "Manual", id="online_order.manual", tooltip="Manual Fulfillment",
                priority=True),
        Binding("ctrl+b", "branch_sync", "Branch sync", id="online_order.branch_sync", priority=True),
        Binding("ctrl+e", "exchange_return", "Exch return", id="online_order.exchange_return", priority=True),
        Binding("ctrl+x", "fix_stock", "Fix stock", id="online_order.fix_stock",
                tooltip="Fix Branch Stock (manager)", priority=True),
        Binding("ctrl+g", "goods_back", "Goods back?", id="online_order.goods_back",
                tooltip="Cancelled after packing: are the goods back on the shelf?", priority=True),
        Binding("up", "move(-1)", "Up", show=False, id="online_order.up"),
        Binding("down", "move(1)", "Down", show=False, id="online_order.down"),
        Binding("pageup", "scroll(-1)", "Scroll up", show=False, id="online_order.pageup"),
        Binding("pagedown", "scroll(1)", "Scroll down", show=False, id="online_order.pagedown"),
    ]
    SHIPMENT_STATES = {"pack": ("PENDING",), "unpack": ("PACKED",), "dispatch": ("PACKED",),
                       "deliver": ("DISPATCHED",), "returned": ("DISPATCHED", "DELIVERED")}
    DEFAULT_CSS = """
    #oo-head { height: 3; padding: 0 1; }
    #oo-scroll { height: 1fr; border: ascii $secondary; scrollbar-size-vertical: 1; }
    #oo-body { padding: 0 1; }
    #oo-ships { height: 6; border: ascii $secondary; scrollbar-size-vertical: 1; scrollbar-size-horizontal: 0; }
    #oo-keys { height: 2; padding: 0 1; }
    """

    def __init__(self, order_id: int):
        super().__init__()
        self.order_id = order_id
        self.order = online_orders.get(order_id)
        self.ships: list[Fulfillment] = []

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield Static(id="oo-head")
        scroll = VerticalScroll(id="oo-scroll")
        scroll.can_focus = False  # Up/Down choose the shipment; PgUp/PgDn scroll this
        with scroll:
            yield Static(id="oo-body")
        yield DataTable(id="oo-ships", cursor_type="row")
        yield Label("", id="msg")
        yield Static(id="oo-keys")

    def on_mount(self) -> None:
        table = self.query_one("#oo-ships", DataTable)
        table.can_focus = False
        for label, width in (("Shipment", 8), ("Mode", 11), ("Branch", 6), ("Status", 10), ("Courier", 9),
                             ("Tracking", 14), ("Units", 5)):
            table.add_column(label, width=width)
        self.reload()

    def on_screen_resume(self) -> None:
        self.reload()

    def show_message(self, text: str, error: bool = False) -> None:
        show_msg(self, text, error)

    # --- drawing --------------------------------------------------------------------------
    @work.guarded("Reading the order")
    def reload(self, select_uid: str | None = None) -> None:
        self.order = o = online_orders.get(self.order_id)
        pay = "COD" if o.is_cod else "paid"
        addr = o.shipping or {}
        address = ", ".join(str(addr[k]) for k in ("address1", "address2", "city", "province", "zip")
                            if addr.get(k))
        head = [f"[b]{escape(o.name)}[/]  [reverse] {o.state.replace('_', ' ')} [/]  {pay}  Rs {fmt(o.total_paisa)}"
                + (f"  to collect Rs {fmt(o.outstanding_paisa)}" if o.outstanding_paisa else "")
                + (f"  ({escape(o.financial_status.lower())})" if o.financial_status else ""),
                f"{escape(o.customer_name or '(no name)')}  {local_phone(o.phone) or 'no phone'}"
                + (f"  tel:{o.phone}" if o.phone else ""),
                "Address: " + escape(address or "(none)")]
        self.query_one("#oo-head", Static).update("\n".join(head))
        self.query_one("#oo-body", Static).update(escape(self.body_text(o)))
        self.ships = fulfillments.for_order(o.id)
        table = self.query_one("#oo-ships", DataTable)
        row = table.cursor_row
        table.clear()
        for f in self.ships:
            units = sum(l.qty for l in f.lines)
            status, tracking = airway.shipment_cells(f)   # "to be booked", "returning"
            table.add_row(f.uid[:8], f.mode.replace("_", " "), f.branch.code, status, escape(f.courier[:9]),
                          escape(tracking[:14]), f"{units:+d}" if f.mode == "repair" else str(units),
                          key=f.uid)
        if select_uid:
            row = next((i for i, f in enumerate(self.ships) if f.uid == select_uid), row)
        elif row < 0 or row >= len(self.ships):
            row = next((i for i, f in enumerate(self.ships) if f.status in ("PENDING", "PACKED", "DISPATCHED")),
                       max(0, len(self.ships) - 1))
        if self.ships:
            table.move_cursor(row=row)
        self.show_keys()

    def body_text(self, o) -> str:
        remaining = online_orders.remaining_units(o)
        out = [f"{'Lines':<44} {'Ordered':>7} {'Now':>4} {'Left':>4} {'Price':>10}"]
        for l in o.lines:
            mark = " (added)" if l.added_by_edit else ""
            out.append(f"{(l.name + mark)[:44]:<44} {l.quantity:>7} {l.current_quantity:>4} {remaining.get(l.id, 0):>4} "
                       f"{fmt(l.unit_price_paisa):>10}")
        out.append(f"{'Total':<62}{fmt(o.total_paisa):>12}")
        if o.exchange or o.edited:
            originals, replacements, delta = exchange_figures(o)
            if originals or replacements:
                out.append("Exchange by order edit:")
                out += [f"  out: {q} x {n[:50]}  ({fmt(p)})" for n, q, p in originals]
                out += [f"  in:  {q} x {n[:50]}  ({fmt(p)})" for n, q, p in replacements]
                if delta > 0:
                    out.append(f"  Collect Rs {fmt(delta)} more from the customer")
                elif delta < 0:
                    out.append(f"  Refund Rs {fmt(-delta)} to the customer")
                else:
                    out.append("  Even: nothing to collect or refund")
            extra = packed_extra(o)
            if extra:
                names = {l.id: l.name for l in o.lines}
                out.append("  Packed units removed by the edit (Ctrl+E puts them back): "
                           + ", ".join(f"{q} x {names[i][:30]}" for i, q in extra.items()))
        if o.needs_branch_sync:
            out.append("Fulfilled in Shopify: Ctrl+B says which branch the goods left from")
        if o.staff_cancel_reason or o.cancel_reason:
            out.append(f"Cancelled: {o.staff_cancel_reason or o.cancel_reason}")
        out.append("")
        out.append("Timeline (Pakistan time)")
        for e in o.events.order_by(SmartOrderEvent.at, SmartOrderEvent.id):
            who = e.staff.name.split()[0] if e.staff_id else ""
            out.append(f"  {pk_time(e.at)} {e.kind.replace('_', ' ')[:22]:<22} {e.source:<7} {who[:10]:<10} "
                       f"{event_text(e)[:22]}")
        return "\n".join(out)

    def applicable(self, action: str) -> bool:
        o = self.order
        cancelled = bool(o.cancelled_at or o.staff_cancel_reason)
        ship = self.shipment(quiet=True)
        if action == "dispatch" and (airway.refused_booking(ship) or airway.cancelled_booking(ship)) is not None:
            return True      # F8 again: refused (city again, another courier) or cancelled (book again)
        if action in self.SHIPMENT_STATES:
            return ship is not None and ship.mode == "smart" and ship.status in self.SHIPMENT_STATES[action] \
                and not (cancelled and action == "pack") \
                and not (action in ("unpack", "dispatch") and fulfillments.superseded_units(ship))
        left = any(online_orders.remaining_units(o).values())
        return {
            "confirm": o.is_cod and not o.confirmed_at and not cancelled,
            "cancel_order": not cancelled,
            "whatsapp": bool(o.phone),
            "ship": left and not cancelled,
            "manual": left and not cancelled,
            "branch_sync": o.needs_branch_sync,
            "exchange_return": bool(packed_extra(o)),
            "goods_back": cancelled and any(f.mode == "smart" and f.status == "PACKED" for f in self.ships),
            "airway_bill": ship is not None and bool(ship.tracking_number)
            and couriers.for_fulfillment(ship.uid) is not None,
        }.get(action, True)

    def show_keys(self) -> None:
        keymap = getattr(self.app, "_keymap", None) or {}
        parts = []
        for b in self.BINDINGS:
            if b.show and self.applicable(b.action.split("(")[0]):
                key = keymap.get(b.id, b.key).split(",")[0]
                parts.append(f"[b reverse]{escape(key_label(key))}[/] {escape(b.description)}")
        parts.append("[b reverse]Up/Down[/] shipment")
        self.query_one("#oo-keys", Static).update(" ".join(parts))

    # --- small helpers --------------------------------------------------------------------
    def action_move(self, step: int) -> None:
        table = self.query_one("#oo-ships", DataTable)
        if table.row_count:
            table.move_cursor(row=max(0, min(table.row_count - 1, table.cursor_row + step)))
            self.show_keys()

    def action_scroll(self, step: int) -> None:
        scroll = self.query_one("#oo-scroll", VerticalScroll)
        (scroll.scroll_page_down if step > 0 else scroll.scroll_page_up)(animate=False)

    def shipment(self, quiet: bool = False) -> Fulfillment | None:
        table = self.query_one("#oo-ships", DataTable)
        if not self.ships or not (0 <= table.cursor_row < len(self.ships)):
            if not quiet:
                self.show_message("No shipment yet: F5 creates one", True)
            return None
        return self.ships[table.cursor_row]

    def smart_shipment(self, action: str) -> Fulfillment | None:
        f = self.shipment()
        if f is None:
            return None
        if f.mode != "smart":
            self.show_message(f"Choose a Smart Fulfillment shipment (Up/Down); this one is {f.mode.replace('_', ' ')}",
                              True)
            return None
        wanted = self.SHIPMENT_STATES[action]
        if f.status not in wanted:
            self.show_message(f"Shipment {f.uid[:8]} is {f.status.lower()}; {action} needs "
                              f"{' or '.join(s.lower() for s in wanted)}", True)
            return None
        if action in ("unpack", "dispatch"):
            try:   # the rule lives in pos_core.fulfillments; asking first spares a courier prompt
                fulfillments.check_not_superseded(f, action)
            except PosError as exc:
                self.show_message(f"{exc} (Ctrl+E: exchange return, F5: the replacement)", True)
                return None
        return f

    def run(self, fn: Callable[[], str], then: Callable[[], None] | None = None) -> None:
        """Run fn (a pos_core step returning the text to show) through pos_tui.work."""
        def ok(text: str) -> None:
            self.reload()
            self.show_message(text)
            if then:
                then()

        def failed(text: str) -> None:
            self.reload()
            self.show_message(text, True)
        work.run(self, fn, ok, failed=failed, busy="Saving...", group="online", what="online order step",
                 unexpected="NOT saved ({error}); try again")

    @property
    def staff_id(self) -> int:
        return self.app.staff.id

    # --- confirm / cancel -----------------------------------------------------------------
    def action_confirm(self) -> None:
        o, cfg = self.order, self.app.cfg
        if not o.is_cod:
            self.show_message(f"{o.name} is paid online: nothing to confirm", True)
            return
        staff_id = self.staff_id

        def go() -> str:
            online_orders.confirm(o.id, staff_id, shopify_enabled=cfg.shopify.enabled)
            return f"{o.name} confirmed" + (" (tag queued for Shopify)" if cfg.shopify.enabled else "")
        self.run(go)

    def action_cancel_order(self) -> None:
        o, cfg, staff_id = self.order, self.app.cfg, self.staff_id

        def check(text: str):
            return (text.strip(), None) if text.strip() else (None, "a reason is required")

        def cancel(reason) -> None:
            if reason is None:
                return

            def go() -> str:
                online_orders.cancel_by_staff(o.id, staff_id, reason, shopify_enabled=cfg.shopify.enabled)
                return f"{o.name} cancelled: {reason}"
            self.run(go, then=self.ask_goods_back)
        self.app.open("prompt", f"Cancel {o.name}", "Why is it cancelled? (customer refused, wrong "
                                          "number, duplicate, ...)", check, then=cancel)

    def ask_goods_back(self) -> None:
        packed = [f for f in self.ships if f.mode == "smart" and f.status == "PACKED"]
        if not packed:
            return
        units = sum(l.qty for f in packed for l in f.lines)
        staff_id = self.staff_id

        def answered(yes: bool) -> None:
            def go() -> str:
                for f in packed:
                    fulfillments.after_cancel(f.uid, staff_id, yes)
                if yes:
                    hq_claims.release_unheld(self.app.cfg, packed[0].order_id)
                return (f"{units} packed unit(s) back in stock at {packed[0].branch.code}" if yes
                        else "Noted: the packed goods are not back yet (Ctrl+G when they are)")
            self.run(go)
        ask_yes_no(self.app, "Cancelled after packing",
                   f"{units} unit(s) were packed at {', '.join(sorted({f.branch.code for f in packed}))}.\n"
                   "Are the goods back on the shelf?", answered)

    def action_goods_back(self) -> None:
        o = self.order
        if not (o.cancelled_at or o.staff_cancel_reason):
            self.show_message(f"{o.name} is not cancelled", True)
            return
        if not any(f.mode == "smart" and f.status == "PACKED" for f in self.ships):
            self.show_message("No packed shipment is waiting", True)
            return
        self.ask_goods_back()

    def action_whatsapp(self) -> None:
        if not self.order.phone:
            self.show_message("This order has no phone number", True)
            return
        self.app.open("whatsapp", self.order.id)

    # --- Smart Fulfillment ----------------------------------------------------------------
    def _lines_screen(self, mode: str) -> None:

        def done(result) -> None:
            if result:
                text, uid = result
                self.reload(select_uid=uid)
                self.show_message(text)
        self.app.open("shipment_lines", self.order.id, mode, then=done)

    def action_ship(self) -> None:
        if not self.applicable("ship"):
            self.show_message("Nothing left to ship" if not (self.order.cancelled_at or self.order.staff_cancel_reason)
                              else f"{self.order.name} is cancelled", True)
            return
        self._lines_screen("smart")

    def action_manual(self) -> None:
        if not self.applicable("manual"):
            self.show_message("Nothing left to fulfil", True)
            return
        self._lines_screen("manual")

    def action_branch_sync(self) -> None:
        if not self.order.needs_branch_sync:
            self.show_message(f"{self.order.name} does not need a branch sync", True)
            return
        self._lines_screen("branch_sync")

    def action_exchange_return(self) -> None:
        if not packed_extra(self.order):
            self.show_message("No packed units were removed by an order edit", True)
            return
        self._lines_screen("exchange_return")

    def action_pack(self) -> None:
        f = self.smart_shipment("pack")
        if f:
            staff_id = self.staff_id
            self.run(lambda: (fulfillments.pack(f.uid, staff_id),
                              f"Packed {f.uid[:8]}: stock taken at {f.branch.code}; F8 when the courier takes it")[1])

    def action_unpack(self) -> None:
        f = self.smart_shipment("unpack")
        if f:
            staff_id = self.staff_id
            cfg, order_id = self.app.cfg, f.order_id
            self.run(lambda: (fulfillments.unpack(f.uid, staff_id),
                              f"Unpacked {f.uid[:8]}: goods back in stock at {f.branch.code}"
                              + hq_claims.release_unheld(cfg, order_id))[1])

    def action_dispatch(self) -> None:
        ship = self.shipment(quiet=True)
        refused = airway.refused_booking(ship)
        if refused is not None:
            self.fix_refused(refused)
            return
        cancelled = airway.cancelled_booking(ship)
        if cancelled is not None:
            rows = [r for r in airway.courier_rows(self.app.cfg, {}) if r[0].startswith(airway.API)]
            self.app.open("pick", f"Book {ship.uid[:8]} again (was {cancelled.tracking_number})",
                          [("Courier", 16), ("", 42)], rows,
                          then=lambda key: key and self.dispatch_booked(ship, key[len(airway.API):], again=cancelled))
            return
        f = self.smart_shipment("dispatch")
        if f is None:
            return
        cfg, staff_id = self.app.cfg, self.staff_id
        templates = {**fulfillments.COURIERS, **cfg.courier_urls}
        rows = airway.courier_rows(cfg, templates)

        def courier_chosen(courier) -> None:
            if not courier:
                return
            if courier.startswith(airway.API):
                self.dispatch_booked(f, courier[len(airway.API):])
                return

            def check(text: str):
                return (text.strip(), None) if text.strip() else (None, "enter the tracking (consignment) number")

            def tracking_entered(number) -> None:
                if not number:
                    return

                def go() -> str:
                    # in a chain: only the branch holding the lines' claim (asked at the head office)
                    note = hq_claims.may_act(cfg, f.uid, "dispatch")
                    d = fulfillments.dispatch(f.uid, staff_id, courier, number, shopify_enabled=cfg.shopify.enabled,
                                              url_templates=cfg.courier_urls, policy=policymod.from_config(cfg))
                    return (f"Dispatched {f.uid[:8]} by {courier} {number}" + (f" {d.tracking_url}" if d.tracking_url else "")
                            + note)
                self.run(go)
            self.app.open("prompt", f"Dispatch by {courier}", "Tracking (consignment) number:", check, then=tracking_entered)
        self.app.open("pick", f"Courier for shipment {f.uid[:8]}", [("Courier", 16), ("Tracking site", 42)],
                                        rows, then=courier_chosen)

    def dispatch_booked(self, f: Fulfillment, courier: str, again=None) -> None:
        """Dispatch with a courier whose API books the parcel: the city from the address (the
        person chooses when it is not certain), the weight, then "to be booked" until the agent
        has the courier's number."""
        cfg, staff_id = self.app.cfg, self.staff_id
        typed = again.city_name if again is not None else (self.order.shipping or {}).get("city") or ""
        name = couriers.NAMES[courier]

        def book(city_code: str, weight: int) -> None:
            def go() -> str:
                if again is not None:
                    c = couriers.book_again(again.uid, staff_id, courier, city_code, weight_grams=weight)
                    return (f"{f.uid[:8]} to be booked again with {name} to {c.city_name}; Shopify gets the "
                            "new number once the agent has it")
                note = hq_claims.may_act(cfg, f.uid, "dispatch")
                c = couriers.dispatch(f.uid, staff_id, courier, city_code, weight_grams=weight,
                                      shopify_enabled=cfg.shopify.enabled, url_templates=cfg.courier_urls,
                                      policy=policymod.from_config(cfg))
                return (f"Dispatched {f.uid[:8]} by {name} to {c.city_name}: to be booked; "
                        "the number comes back when the agent has booked it" + note)
            self.run(go)

        def city_chosen(code) -> None:
            if code:
                self.app.open("prompt", f"Dispatch by {name}", "Parcel weight in grams:", airway.check_weight,
                              value=str(again.weight_grams) if again is not None else "500",
                              then=lambda w: book(code, w) if w else None)

        city, options = airway.city_choice(courier, typed)
        if city is not None:
            city_chosen(city.code)
        else:
            self.app.open("pick", f"{name}: which city is '{typed or '(no city)'}'?", [("City", 24), ("Code", 10)],
                          options, then=city_chosen)

    def fix_refused(self, c) -> None:
        """The courier refused the booking (its words are shown): choose its city again, or send
        the parcel with another courier and type that courier's number."""
        cfg, staff_id = self.app.cfg, self.staff_id
        name = couriers.NAMES[c.courier]

        def city_chosen(code) -> None:
            if code:
                self.run(lambda: (couriers.rebook(c.uid, staff_id, city_code=code),
                                  f"{c.reference}: queued again for {name}; the agent books it")[1])

        def other_chosen(other) -> None:
            if not other:
                return

            def check(text: str):
                return (text.strip(), None) if text.strip() else (None, "enter the tracking (consignment) number")
            self.app.open("prompt", f"Send by {other}", "Tracking (consignment) number:", check,
                          then=lambda number: number and self.run(lambda: (
                              couriers.book_by_hand(c.uid, staff_id, other, number, url_templates=cfg.courier_urls),
                              f"Shipment goes by {other} {number}; the {name} booking is withdrawn")[1]))

        def chosen(how) -> None:
            if how == "city":
                self.app.open("pick", f"{name}: which city?", [("City", 24), ("Code", 10)],
                              [(x.code, [x.name, x.code]) for x in courier_cities.cities(c.courier)],
                              then=city_chosen)
            elif how == "other":
                templates = {**fulfillments.COURIERS, **cfg.courier_urls}
                self.app.open("pick", "Send with which courier?", [("Courier", 16), ("Tracking site", 42)],
                              [r for r in airway.courier_rows(cfg, templates) if not r[0].startswith(airway.API)],
                              then=other_chosen)
        self.app.open("pick", f"{name} refused: {c.last_error[:60]}", [("Do", 30), ("", 30)],
                      [("city", [f"Choose the {name} city again", f"now: {c.city_name}"]),
                       ("other", ["Send with another courier", "type its tracking number"])], then=chosen)

    def action_airway_bill(self) -> None:
        f = self.shipment()
        c = couriers.for_fulfillment(f.uid) if f is not None else None
        if c is None or not c.tracking_number:
            self.show_message("The airway bill prints once the courier has booked the parcel "
                              f"({couriers.describe(c)})" if c else "This shipment was not booked with a courier", True)
            return
        cfg = self.app.cfg

        def chosen(how) -> None:
            if how:
                self.run(lambda: airway.print_bill(cfg, c.uid, how))
        self.app.open("pick", f"Airway bill {c.tracking_number}", [("Print on", 22), ("", 40)],
                      airway.output_rows(cfg, c.uid), then=chosen)

    def action_deliver(self) -> None:
        f = self.smart_shipment("deliver")
        if f:
            cfg, staff_id = self.app.cfg, self.staff_id
            self.run(lambda: (hq_claims.may_act(cfg, f.uid, "deliver"),
                              fulfillments.deliver(f.uid, staff_id, shopify_enabled=cfg.shopify.enabled),
                              f"Shipment {f.uid[:8]} delivered")[2])

    def action_returned(self) -> None:
        f = self.smart_shipment("returned")
        if f is None:
            return
        cfg, staff_id = self.app.cfg, self.staff_id
        c = couriers.for_fulfillment(f.uid)
        if c is not None and c.tracking_number:
            # A courier's parcel comes back into stock only when it is here: scan its airway bill.
            branch = self.app.counter.branch

            def check(text: str):
                number = text.strip()
                if number != c.tracking_number:
                    return None, f"that is not this parcel's number ({c.tracking_number}); scan its airway bill"
                return number, None

            def scanned(number) -> None:
                if number:
                    self.run(lambda: (hq_claims.may_act(cfg, f.uid, "returned"),
                                      couriers.receive_return(number, branch.id, staff_id,
                                                              shopify_enabled=cfg.shopify.enabled,
                                                              policy=policymod.from_config(cfg)),
                                      f"Parcel {number} received back at {branch.code}: stock restored there")[2])
            self.app.open("prompt", f"Returned parcel {couriers.describe(c)}",
                          "Scan the airway bill of the parcel in your hands:", check, then=scanned)
            return

        def chosen(branch_id) -> None:
            if not branch_id:
                return

            def go(why: str, note: str) -> None:
                def back() -> str:
                    hq_claims.may_act(cfg, f.uid, "returned")
                    d = fulfillments.mark_returned(f.uid, staff_id, int(branch_id), shopify_enabled=cfg.shopify.enabled,
                                                   policy=policymod.from_config(cfg), return_reason=why, return_note=note)
                    units = sum(l.qty for l in d.lines)
                    return f"Returned: {units} unit(s) back in stock at {Branch.get_by_id(int(branch_id)).code}"
                self.run(back)
            # Taken back at the counter, the person there asks why (Returns: online parcels back). The
            # claim is checked first too, so a parcel this branch may not take in is refused before
            # anyone is asked; it is checked again as the goods are booked.
            self.run(lambda: hq_claims.may_act(cfg, f.uid, "returned") or "Why is it coming back?",
                     then=lambda: ask_return_reason(self.app, refunds.ONLINE_REASONS, "", go))
        if cfg.hq.role == "branch":
            # a chain branch's box books only its own stock: the goods come back here
            chosen(str(self.app.counter.branch_id))
            return
        self.app.open("pick", "Which branch received the returned goods?", [("Branch", 8), ("Name", 40)],
                                        branch_rows(self.app.counter.branch.code), then=chosen)

    # --- Fix Branch Stock -------------------------------------------------------------------
    def action_fix_stock(self) -> None:
        from pos_core import catalog
        o, app = self.order, self.app
        state: dict = {}
        skus = ", ".join(l.sku for l in o.lines if l.sku)[:60]

        def branch_chosen(branch_id) -> None:
            if not branch_id:
                return
            try:    # a chain: a branch's stock is fixed on its own box
                hq_claims.goods_here(app.cfg, Branch.get_by_id(int(branch_id)).code, "fix its stock")
            except PosError as exc:
                self.show_message(str(exc), True)
                return
            state["branch"] = int(branch_id)

            def check_item(text: str):
                try:
                    return catalog.lookup(text.strip()).variant, None
                except PosError as exc:
                    return None, str(exc)
            app.open("prompt", "Fix Branch Stock: item", f"SKU or barcode (order: {escape(skus)}):",
                                         check_item, o.lines[0].sku if o.lines else "", then=item_chosen)

        def item_chosen(variant) -> None:
            if variant is None:
                return
            state["variant"] = variant

            def check_qty(text: str):
                t = text.strip().replace(" ", "")
                try:
                    n = int(t)
                except ValueError:
                    return None, "a whole number: +2 adds two units, -1 takes one away"
                return (n, None) if n and abs(n) <= 9999 else (None, "not zero, at most 9999")
            app.open("prompt", "Fix Branch Stock: units", f"{escape(variant.name)}\nChange at the branch "
                                         "(+2 adds, -1 takes away):", check_qty, then=qty_chosen)

        def qty_chosen(qty) -> None:
            if qty is None:
                return
            state["qty"] = qty

            def check_reason(text: str):
                return (text.strip(), None) if text.strip() else (None, "say what went wrong")
            app.open("prompt", "Fix Branch Stock: reason", "What went wrong? (missed movement, booked at "
                                         "the wrong branch, ...)", check_reason, then=reason_given)

        def reason_given(reason) -> None:
            if not reason:
                return
            state["reason"] = reason
            if staffmod.may(app.staff, "stock_fix"):
                save(app.staff.id)
                return
            app.open("approval", "Fix Branch Stock needs a manager",
                                           lambda s: staffmod.may(s, "stock_fix"), then=lambda who: who and save(who.id))

        def save(staff_id: int) -> None:
            def go() -> str:
                f = fulfillments.fix_branch_stock(o.id, state["branch"], staff_id, [(state["variant"].id, state["qty"])],
                                                  state["reason"])
                return f"Stock fixed at {f.branch.code}: {state['qty']:+d} x {state['variant'].sku}"
            self.run(go)
        app.open("pick", "Fix Branch Stock: which branch?", [("Branch", 8), ("Name", 40)],
                                   branch_rows(app.counter.branch.code), then=branch_chosen)

    def action_back(self) -> None:
        self.app.pop_screen()
