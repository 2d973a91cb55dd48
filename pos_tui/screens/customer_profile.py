"""F3 with a customer attached: who they are to the shop. Points and their last movements, store
credit, lifetime spend, purchases at every branch and online (Smart Orders by the same phone),
notes and marketing consent. Read from the books each time it opens."""
from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from pos_core import customers
from pos_core.money import fmt

from ..receipts import pk_time

KINDS = {"earn": "earned", "redeem": "paid with", "refund_earn": "taken back", "refund_redeem": "given back",
         "expire": "expired", "adjust": "adjusted", "settle": "settled"}


def receipt_summary(order, site_name: str) -> str:
    """The receipt in a few lines, for WhatsApp instead of paper."""
    from pos_core.models import PosOrderLine
    lines = [f"{site_name}: receipt {order.number}, {pk_time(order.completed_at)}"]
    for l in order.lines.order_by(PosOrderLine.line_no):
        lines.append(f"{l.qty} x {l.name}  Rs {fmt(l.total_paisa)}")
    if order.discount_paisa:
        lines.append(f"You saved Rs {fmt(order.discount_paisa)}")
    lines.append(f"Total Rs {fmt(order.total_paisa + order.service_fee_paisa)}")
    from pos_core import loyalty
    if order.customer_id and loyalty.program().active:
        lines.append(f"Points balance {loyalty.balance(order.customer_id):,}")
    lines.append("Thank you!")
    return "\n".join(lines)


def whatsapp_text(customer, site_name: str) -> str:
    """The wa.me link of the customer's last receipt, and a QR of it to open on the shop's phone."""
    from pos_core.models import PosOrder
    order = (PosOrder.select().where((PosOrder.customer == customer.id) & (PosOrder.kind == "sale")
                                     & (PosOrder.status == "COMPLETED"))
             .order_by(PosOrder.completed_at.desc()).first())
    if order is None:
        return "This customer has no receipt yet."
    link = customers.whatsapp_link(customer.phone, receipt_summary(order, site_name))
    import io

    import qrcode
    qr = qrcode.QRCode(border=1)
    qr.add_data(link)
    out = io.StringIO()
    qr.print_ascii(out=out)
    return f"Receipt {order.number} for {customer.phone}. Scan with the shop's phone, or open:\n{link}\n\n{out.getvalue()}"


def profile_text(customer_id: int) -> str:
    p = customers.profile(customer_id)
    c = p.customer
    out = [f"{c.name or '(no name)'}   {c.phone}",
           f"Points {p.points:,}   Store credit Rs {fmt(p.credit_paisa)}   Lifetime spend Rs {fmt(p.lifetime_spend_paisa)}",
           f"Marketing messages: {'yes' if p.marketing_consent else 'no'}"]
    if p.notes:
        out.append(f"Notes: {p.notes}")
    out += ["", "Last points movements:"]
    out += [f"  {pk_time(e.created_at, '%d-%m-%Y')}  {e.delta:+8,}  {KINDS.get(e.kind, e.kind):10} {e.doc_ref}"
            for e in p.movements] or ["  none yet"]
    out += ["", "Purchases (every branch and online):"]
    out += [f"  {pk_time(x.when, '%d-%m-%Y') if x.when else '':10}  {x.where:6} {x.number:18} "
            f"{x.kind if not x.state else x.state:10} {fmt(x.total_paisa):>12}" for x in p.purchases] or ["  none yet"]
    return "\n".join(out)


class CustomerProfileScreen(ModalScreen):
    SCANS = "pass"
    BINDINGS = [
        Binding("escape", "close", "Back", id="profile.back"),
        Binding("f3", "change", "Other customer", id="profile.change", priority=True),
        Binding("ctrl+d", "detach", "Walk-in", id="profile.detach", priority=True),
        Binding("f5", "notes", "Notes", id="profile.notes", priority=True),
        Binding("f6", "consent", "Consent", id="profile.consent", priority=True),
        Binding("f7", "whatsapp", "WhatsApp receipt", id="profile.whatsapp", priority=True),
    ]

    def __init__(self, customer):
        super().__init__()
        self.customer = customer

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide tall"):
            yield Label("Customer", classes="dialog-title")
            with VerticalScroll(id="profile-scroll"):
                yield Static(id="profile-body")
            yield Label("F3 other customer  ^D walk-in  F5 notes  F6 consent  F7 WhatsApp receipt  Esc back",
                        classes="hint")

    def on_mount(self) -> None:
        self.refresh_profile()
        self.query_one("#profile-scroll").focus()

    def refresh_profile(self) -> None:
        self.query_one("#profile-body", Static).update(escape(profile_text(self.customer.id)))

    def action_close(self) -> None:
        self.dismiss(None)

    def action_change(self) -> None:
        self.dismiss("change")

    def action_detach(self) -> None:
        self.dismiss("detach")

    def action_notes(self) -> None:
        current = customers.profile(self.customer.id).notes

        def done(text) -> None:
            if text is not None:
                customers.set_profile(self.customer.id, notes=text)
                self.refresh_profile()
        self.app.open("prompt", "Notes", "Notes about this customer (sizes, preferences):", None, current, then=done)

    def action_whatsapp(self) -> None:
        self.app.open("text", "WhatsApp receipt", whatsapp_text(self.customer, self.app.cfg.site_name))

    def action_consent(self) -> None:
        now = customers.profile(self.customer.id).marketing_consent
        customers.set_profile(self.customer.id, marketing_consent=not now)
        self.refresh_profile()
