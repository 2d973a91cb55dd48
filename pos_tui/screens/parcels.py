"""Parcels (F3 on the online orders list): this branch's courier parcels, and the returns desk.

Scan (or type) the consignment number on a returned parcel's airway bill: it is received back
here and its goods go back into this branch's stock (pos_core.couriers.receive_return). A parcel
the courier still shows as on its way is received only after a yes. F2 cycles the list: open
(to be booked, booked, in transit, returning), returning, to be booked, all.

In a chain a courier may bring back a parcel another branch sent: a number that is not one of this
branch's parcels is offered to take in here (pos_core.hq_returns: decided at the head office, so it
is never taken back twice; needs the head-office link, and says so when it is down).
"""
from __future__ import annotations

from decimal import Decimal

from rich.markup import escape
from textual.binding import Binding

from pos_core import couriers, hq_claims, hq_returns, policy as policymod
from pos_core.models import Consignment, Fulfillment

from .. import airway
from ..ui import StockBase, cut

VIEWS = [("open", couriers.OPEN + (couriers.TO_BE_BOOKED,)), ("returning", (couriers.RETURNING,)),
         ("to be booked", (couriers.TO_BE_BOOKED,)), ("all", None)]


class ParcelsScreen(StockBase):
    CODE_LABEL = "Parcel >"
    PLACEHOLDER = "scan a returned parcel's airway bill (consignment number)"
    COLUMNS = (("Number", 14), ("Courier", 8), ("Order", 7), ("Status", 12), ("City", 12), ("COD", 9),
               ("Courier says", 12))
    BINDINGS = StockBase.BINDINGS + [
        Binding("f2", "next_view", "View", id="parcels.view", priority=True,
                tooltip="open, returning, to be booked, all"),
        Binding("ctrl+l", "airway_bill", "Airway bill", id="parcels.airway_bill", priority=True,
                tooltip="Print the highlighted parcel's airway bill"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.view = 0

    def reload(self) -> None:
        name, statuses = VIEWS[self.view]
        q = (Consignment.select(Consignment, Fulfillment).join(Fulfillment)
             .where(Fulfillment.branch == self.branch.id).order_by(Consignment.id.desc()).limit(200))
        if statuses:
            q = q.where(Consignment.status.in_(statuses))
        rows = []
        for c in q:
            rows.append((c.uid, [c.tracking_number or "-", couriers.NAMES.get(c.courier, c.courier),
                                 cut(c.fulfillment.order.name, 7), couriers.LABELS.get(c.status, c.status),
                                 cut(c.city_name, 12), f"{Decimal(int(c.cod_paisa)) / 100:,.0f}",
                                 escape(cut(c.courier_status or c.last_error, 12))]))
        self.fill(rows)
        self.set_head(f"[b]Parcels[/] at {escape(self.branch.code)}: {name} ({len(rows)})  "
                      "scan a returned parcel to put its goods back in stock here")

    def action_next_view(self) -> None:
        self.view = (self.view + 1) % len(VIEWS)
        self.reload()

    def action_airway_bill(self) -> None:
        uid = self.current_key()
        c = Consignment.get_or_none(Consignment.uid == uid) if uid else None
        if c is None or not c.tracking_number:
            self.show_message("Choose a booked parcel (Up/Down): the airway bill prints once the courier "
                              "has booked it", True)
            return
        cfg = self.app.cfg

        def chosen(how) -> None:
            if how:
                self.core(airway.print_bill, cfg, c.uid, how, then=lambda text: self.show_message(text))
        self.app.open("pick", f"Airway bill {c.tracking_number}", [("Print on", 22), ("", 40)],
                      airway.output_rows(cfg, c.uid), then=chosen)

    def handle_code(self, text: str) -> None:
        number = text.strip()
        if not number:
            return
        c = (Consignment.select().where(Consignment.tracking_number == number)
             .order_by(Consignment.id.desc()).first())
        if c is None and self.app.cfg.hq.role == "branch":
            self.confirm(f"{number} is not one of {self.branch.code}'s parcels: another branch's "
                         "returned here? take it in (asks the head office)", lambda: self.take_in(number))
            return
        if c is None:
            self.show_message(f"No parcel {number}: check the number on the airway bill", True)
            return
        if c.status == couriers.RETURNING:
            self.receive(c)
        elif c.status in (couriers.BOOKED, couriers.IN_TRANSIT, couriers.DELIVERED):
            self.confirm(f"{number} is {couriers.LABELS[c.status]}: receive here?", lambda: self.receive(c))
        elif c.status == couriers.RETURNED:
            self.show_message(f"{number} was already received back at {c.received_branch.code}: nothing moves", True)
        else:
            self.show_message(f"{number} is {couriers.LABELS.get(c.status, c.status)}: nothing to receive", True)

    def receive(self, c: Consignment) -> None:
        cfg, staff_id, branch = self.app.cfg, self.app.staff.id, self.branch

        def go():
            hq_claims.may_act(cfg, c.fulfillment.uid, "returned")   # a chain: the branch holding the claim
            return couriers.receive_return(c.tracking_number, branch.id, staff_id,
                                           shopify_enabled=cfg.shopify.enabled, policy=policymod.from_config(cfg))

        def done(received) -> None:
            self.reload()
            self.show_message(f"{received.tracking_number} ({received.fulfillment.order.name}) received back at "
                              f"{branch.code}: goods back in stock here")
        self.core(go, then=done)

    def take_in(self, number: str) -> None:
        cfg, staff_id, branch = self.app.cfg, self.app.staff.id, self.branch

        def done(f) -> None:
            shipped_by = (f.history or [{}])[0].get("shipped_by", "another branch")
            self.show_message(f"{number} ({shipped_by}'s parcel, order {f.order.name}) taken back at {branch.code}: "
                              f"goods in stock here; {shipped_by} is told through the head office")
        self.core(hq_returns.take_in, cfg, number, staff_id, shopify_enabled=cfg.shopify.enabled, then=done)
