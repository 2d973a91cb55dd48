"""Stored orders and shifts -> `printers.receipt` data, and the printer settings dict.

Everything a receipt shows is read back from the database, so a reprint is identical to the
first print (apart from the REPRINT banner) and shows what the books hold, not what the screen
held.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from peewee import fn

from pos_core.models import Payment, PosOrder, PosOrderLine, Shift
from printers import receipt as r
from printers.settings import printer_settings  # noqa: F401 (shared with the agent's doctor)

PK_OFFSET = dt.timedelta(hours=5)  # Pakistan Standard Time, no daylight saving


def pk_time(utc: dt.datetime | None, fmt: str = "%d-%m-%Y %H:%M") -> str:
    return (utc + PK_OFFSET).strftime(fmt) if utc else ""


def rupees(paisa: int) -> Decimal:
    return Decimal(paisa) / 100


_templates: dict[tuple, object] = {}


def receipt_template(cfg):
    """The site's checked receipt template, or None for the built-in layout. Raises
    printers.template.TemplateError (one line) for a broken one: the till checks it at start.
    Parsed once per config; when it prints Urdu, the font is loaded in the background at once."""
    if not cfg.receipt:
        return None
    key = (cfg.path, repr(cfg.receipt), cfg.printer.width)
    if key not in _templates:
        from printers import template
        tpl = template.parse(cfg.receipt, f"{cfg.path} [receipt]", printer_width=cfg.printer.width)
        if template.uses_urdu(tpl):
            import threading
            from printers import urdu
            threading.Thread(target=urdu.warm_up, args=(tpl.urdu_font, tpl.urdu_size), daemon=True,
                             name="urdu-font").start()
        _templates[key] = tpl
    return _templates[key]


def receipt_text(cfg, uid: str, gift: bool = False) -> str:
    """The stored document's receipt as plain text, as the printer would lay it out (previews).
    Urdu lines show as (Urdu): the console cannot draw them."""
    from printers.layout import layout
    from printers.preview import preview
    order = PosOrder.get(PosOrder.uid == uid)
    tpl = receipt_template(cfg)
    if tpl is not None or gift:
        from printers import template
        tpl = tpl or template.Template()
        width = tpl.width or (32 if cfg.printer.width == 32 else 48)
        return preview(template.layout(build_receipt(order, cfg), tpl, width, gift=gift), width, urdu_text=False)
    width = 32 if cfg.printer.width == 32 else 48
    return preview(layout(build_receipt(order, cfg), width), width)


def tender_label(p: Payment) -> str:
    from pos_core.sales import TENDER_LABELS
    # For wallets the reference is the wallet's name (JazzCash, Easypaisa): that is what the
    # customer recognises on the slip.
    if p.method == "wallet" and p.reference:
        return p.reference.split()[0]
    return TENDER_LABELS.get(p.method, p.method)


def _short_name(line: PosOrderLine) -> tuple[str, str]:
    option = line.variant.option_text if line.variant_id else ""
    if option and line.name.endswith(" - " + option):
        return line.name[: -len(option) - 3], option
    return line.name, ""


def fbr_block(order: PosOrder, cfg) -> r.FbrBlock | None:
    """The receipt's FBR part, as the database knows it now (the agent may have settled it since
    the first print, so a reprint carries the number).

    With a number: the number, the logo (if configured) and the QR of the bare number. Without
    (offline, or FBR slower than the till's wait): "issued in offline mode", no logo, no QR.
    A sandbox number, or one FBR marked *test*, always prints as a TEST invoice.
    """
    if cfg.fbr.mode == "off":
        return None
    from pos_core import fiscal
    number, test = fiscal.invoice_number(order.uid)
    number = number or order.fbr_invoice_number
    test = test or cfg.fbr.mode == "sandbox" or fiscal.is_test_number(number)
    return r.FbrBlock(fiscal_number=number, offline=not number, test_mode=test,
                      logo_path=(cfg.fbr.logo_path or None) if number and not test else None)


def build_receipt(order: PosOrder, cfg, reprint: bool = False) -> r.Receipt:
    lines = list(order.lines.order_by(PosOrderLine.line_no))
    payments = list(order.payments.order_by(Payment.id))
    items, taxes = [], defaultdict(int)
    for line in lines:
        name, option = _short_name(line)
        gross = line.qty * line.unit_price_paisa
        items.append(r.ReceiptLine(name, option, line.qty, rupees(line.unit_price_paisa),
                                   rupees(line.line_discount_paisa), rupees(gross - line.line_discount_paisa),
                                   urdu_name=line.variant.urdu_name if line.variant_id else None))
        taxes[line.tax_rate_bp] += line.tax_paisa
    incl = " incl." if order.prices_include_tax else ""
    tax_lines = [r.TaxLine(f"Sales tax {Decimal(bp) / 100:g}%{incl}", rupees(amount))
                 for bp, amount in sorted(taxes.items()) if amount]
    order_discount = sum(l.order_discount_paisa for l in lines)
    totals = r.Totals(
        subtotal=rupees(sum(l.qty * l.unit_price_paisa - l.line_discount_paisa for l in lines)),
        discount=rupees(order_discount), taxes=tuple(tax_lines),
        service_fee=rupees(order.service_fee_paisa) if order.service_fee_paisa > 0 else None,
        total=rupees(order.total_paisa + order.service_fee_paisa))
    # Cash shows what was handed over; the change line gives the rest back.
    tenders = tuple(r.Tender(tender_label(p), rupees(p.tendered_paisa if p.method == "cash" else p.amount_paisa))
                    for p in payments)
    tendered_cash = sum(p.tendered_paisa for p in payments if p.method == "cash")
    cust = None
    if order.customer_id:
        c = order.customer
        buyer = order.buyer or {}
        cust = r.Customer(c.name or "Customer", c.phone, buyer.get("cnic") or buyer.get("ntn") or None)
    fbr = fbr_block(order, cfg)
    extras = loyalty_fields(order)
    title = r.SALE if order.kind == "sale" else r.REFUND
    if order.exchange_uid:
        title = r.EXCHANGE
    return r.Receipt(
        title=title, header_lines=tuple(cfg.printer.header) or (cfg.site_name,), number=order.number,
        when=pk_time(order.completed_at), branch=order.branch.code, counter=order.counter.code,
        cashier=order.cashier.name, customer=cust, lines=tuple(items), totals=totals, tenders=tenders,
        # A refund hands money back: "Change 0.00" under it only confuses.
        change=rupees(order.change_paisa) if order.kind == "sale" else None, footer_lines=tuple(cfg.printer.footer),
        ref_number=order.original.number if order.original_id else None, reprint=reprint, fbr=fbr,
        return_reason=_reason(order),
        open_drawer=bool(cfg.printer.open_drawer and tendered_cash and not reprint), **extras)


def _reason(order: PosOrder) -> str | None:
    from pos_core.refunds import REASON_LABELS
    if order.kind != "refund" or not order.return_reason:
        return None
    label = REASON_LABELS.get(order.return_reason, order.return_reason)
    return f"{label} - {order.return_note}" if order.return_note else label


def loyalty_fields(order: PosOrder) -> dict:
    """Savings, promotions, points and salesperson, read back from the books (so a reprint matches).
    The points balance is the one right after this document's own entries."""
    from pos_core import commission
    from pos_core.models import OrderPromotion, PointsEntry
    promos: dict[str, int] = {}
    for p in OrderPromotion.select().where(OrderPromotion.order == order.id).order_by(OrderPromotion.id):
        promos[p.name] = promos.get(p.name, 0) + p.amount_paisa
    out: dict = {"promotions": [(name, rupees(amount)) for name, amount in promos.items()]}
    if order.kind == "sale" and order.discount_paisa > 0:
        out["savings"] = rupees(order.discount_paisa)
    people = sorted(set(commission.line_salespeople(order.id).values()))
    if people:
        out["salesperson"] = ", ".join(people)
    if order.customer_id:
        mine = list(PointsEntry.select().where((PointsEntry.customer == order.customer_id)
                                               & (PointsEntry.doc_ref == order.number)))
        if mine:
            last = max(e.id for e in mine)
            balance = (PointsEntry.select(fn.COALESCE(fn.SUM(PointsEntry.delta), 0))
                       .where((PointsEntry.customer == order.customer_id) & (PointsEntry.id <= last)).scalar())
            earned = sum(e.delta for e in mine if e.kind in ("earn", "refund_earn"))
            redeemed = -sum(e.delta for e in mine if e.kind in ("redeem", "refund_redeem"))
            out["points"] = r.PointsLine(earned, redeemed, int(balance))
    return out


def shift_slip(shift: Shift, cfg, title: str) -> r.Slip:
    """X report (shift still open) or Z report (closed), as a two-column slip."""
    from pos_core import shifts
    from pos_core.sales import TENDER_LABELS
    s = shifts.summary(shift)
    m = lambda paisa: r.format_money(rupees(paisa))  # noqa: E731
    rows = [("Opened", pk_time(shift.opened_at)), ("By", shift.staff.name),
            ("Opening float", m(s.opening_float)),
            (f"Sales ({s.sales_count})", m(s.sales_total)), (f"Refunds ({s.refunds_count})", m(s.refunds_total))]
    for kind, methods in sorted(s.by_method.items()):
        for method, amount in sorted(methods.items()):
            rows.append((f"  {kind} {TENDER_LABELS.get(method, method)}", m(amount)))
    rows += [("Cash sales", m(s.cash_sales)), ("Cash refunds", m(s.cash_refunds)),
             ("Cash in", m(s.cash_in)), ("Cash out", m(s.cash_out)), ("Expected cash", m(s.expected))]
    if shift.status == "CLOSED":
        rows += [("Closed", pk_time(shift.closed_at)), ("Counted cash", m(shift.counted_paisa)),
                 ("Variance", m(shift.counted_paisa - shift.expected_paisa))]
    return r.Slip(title=title, number=f"{shift.counter.label} #{shift.id}", lines=tuple(rows),
                  header_lines=tuple(cfg.printer.header[:1]) or (cfg.site_name,),
                  when=pk_time(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)))
