"""F4 on an online order: the customer's phone, a tel: line, the wa.me link with the confirmation
message, and the same link as a QR code to scan with a phone at the counter.

The QR is drawn with the three block characters every Linux console font has (CP437 219, 220,
223: full, lower half, upper half), two modules per character cell, light modules as blocks so a
dark terminal shows a normal dark-on-light code with a light quiet zone. At 80x24 the screen has
24 rows, i.e. 48 modules: a QR up to version 7 (about 150 bytes). The full confirmation message
makes a ~200 byte link (version 9, 28 rows), so on a small screen the link and the QR both carry
a shorter wording of the same message; a taller terminal gets the full one.
"""
from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Label, Static

from pos_core import online_orders

from ..ui import local_phone

SHORT_TEMPLATES = (
    "{shop}: please reply YES to confirm your COD order {order} of Rs {total}.",
    "Reply YES to confirm COD order {order}, Rs {total}.",
)
QUIET = 1  # modules of light border around the code


def qr_lines(data: str, max_rows: int, max_cols: int) -> list[str] | None:
    """The QR code for `data` as text rows, or None if it cannot fit in max_rows x max_cols."""
    import qrcode  # ~40 ms: only when a QR is shown
    from qrcode.exceptions import DataOverflowError
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_L, border=QUIET)
    try:
        qr.add_data(data, optimize=20)
        qr.make(fit=True)
    except DataOverflowError:
        return None
    matrix = qr.get_matrix()  # True = dark module, quiet zone included
    size = len(matrix)
    if size > max_cols or (size + 1) // 2 > max_rows:
        return None
    rows = []
    for y in range(0, size, 2):
        top = matrix[y]
        bottom = matrix[y + 1] if y + 1 < size else [True] * size  # past the end: nothing to draw
        rows.append("".join({(False, False): "\u2588", (False, True): "\u2580", (True, False): "\u2584",
                             (True, True): " "}[(t, b)] for t, b in zip(top, bottom)))
    return rows


def whatsapp_view(order, shop_name: str, max_rows: int, max_cols: int) -> tuple[str, str, list[str] | None, bool]:
    """(message, link, qr rows or None, shortened): the full confirmation message when its QR fits."""
    message = online_orders.confirmation_message(order, shop_name)
    link = online_orders.whatsapp_link(order, message)
    if not link:
        return message, "", None, False
    rows = qr_lines(link, max_rows, max_cols)
    if rows is not None:
        return message, link, rows, False
    for template in SHORT_TEMPLATES:
        short = online_orders.confirmation_message(order, shop_name, template)
        short_link = online_orders.whatsapp_link(order, short)
        rows = qr_lines(short_link, max_rows, max_cols)
        if rows is not None:
            return short, short_link, rows, True
    return message, link, None, False


class WhatsAppScreen(Screen):
    """A screen of its own so the code can use every row of an 80x24 console."""

    SCANS = None
    BINDINGS = [Binding("escape", "back", "Back", id="online_whatsapp.back")]
    DEFAULT_CSS = """
    WhatsAppScreen { layout: horizontal; }
    #wa-qr { width: auto; height: 100%; padding: 0; }
    #wa-side { width: 1fr; height: 100%; padding: 0 1; }
    #wa-title { text-style: bold reverse; width: 100%; }
    #wa-text { height: 1fr; }
    """

    def __init__(self, order_id: int):
        super().__init__()
        self.order_id = order_id
        self.link = ""
        self.qr: list[str] | None = None

    def compose(self) -> ComposeResult:
        order = online_orders.get(self.order_id)
        width, height = self.app.size
        message, self.link, self.qr, short = whatsapp_view(order, self.app.cfg.site_name, height, max(0, width - 30))
        with Horizontal():
            yield Static("\n".join(self.qr or []), id="wa-qr")
            with Vertical(id="wa-side"):
                yield Label(f"WhatsApp {escape(order.name)}", id="wa-title")
                lines = [escape(order.customer_name or "(no name)")]
                if order.phone:
                    lines += [f"Phone: {local_phone(order.phone)}", f"tel:{order.phone}", "", "wa.me link:",
                              escape(self.link), "", "Message:", escape(message)]
                    if short:
                        lines += ["", "(short wording: the full message needs a taller screen)"]
                    if self.qr is None:
                        lines += ["", "The link is too long for a QR on this screen; open it on a phone."]
                    else:
                        lines += ["", "Scan the code with the shop phone, send, then F2 Confirm when the "
                                      "customer replies YES."]
                else:
                    lines += ["", "This order has no phone number: confirm by email or cancel."]
                yield Static("\n".join(lines), id="wa-text")
                yield Label("Esc: back", classes="hint")

    def action_back(self) -> None:
        self.app.pop_screen()
