"""Customers, found by the phone number people give at the counter."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from . import db
from .errors import InvalidInput
from .models import CreditEntry, Customer, utcnow


def normalise_phone(text: str) -> str:
    """Pakistani numbers to +92XXXXXXXXXX: 03001234567, 0300-1234567, 923001234567, +92 300 1234567."""
    digits = re.sub(r"[\s\-().]", "", text or "")
    if digits.startswith("+"):
        digits = digits[1:]
    elif digits.startswith("0092"):
        digits = digits[2:]
    if not digits.isdigit():
        raise InvalidInput(f"{text!r} is not a phone number")
    if digits.startswith("92") and len(digits) == 12:
        national = digits[2:]
    elif digits.startswith("0") and len(digits) == 11:
        national = digits[1:]
    elif len(digits) == 10 and digits.startswith("3"):
        national = digits
    else:
        raise InvalidInput(f"{text!r} is not a Pakistani mobile number (e.g. 0300 1234567)")
    if not national.startswith("3"):
        # Landlines exist, but customers are reached on mobiles; keep the rule and the message plain.
        raise InvalidInput(f"{text!r} is not a mobile number (it should start 03..)")
    return "+92" + national


def find_by_phone(text: str) -> Customer | None:
    return Customer.get_or_none(Customer.phone == normalise_phone(text))


def get_or_create(phone: str, name: str = "") -> Customer:
    p = normalise_phone(phone)
    with db.write():
        c = Customer.get_or_none(Customer.phone == p)
        if c is None:
            c = Customer.create(phone=p, name=name.strip())
        elif name.strip() and not c.name:
            c.name, c.updated_at = name.strip(), utcnow()
            c.save()
    return c


def add_credit(customer_id: int, delta_paisa: int, doc_ref: str, event_key: str,
               staff_id: int | None = None) -> bool:
    """Move store credit; call inside the document's transaction. False when the event key was
    recorded before (nothing changed)."""
    inserted = (CreditEntry.insert(customer=customer_id, delta_paisa=delta_paisa, doc_ref=doc_ref,
                                   event_key=event_key, staff=staff_id, created_at=utcnow())
                .on_conflict_ignore().as_rowcount().execute())
    if inserted:
        (Customer.update(store_credit_paisa=Customer.store_credit_paisa + delta_paisa,
                         updated_at=utcnow())
         .where(Customer.id == customer_id).execute())
    return bool(inserted)


# --- profiles (issue 16) -------------------------------------------------------------------------

@dataclass(frozen=True)
class Purchase:
    when: "dt.datetime"   # UTC
    where: str            # branch code, or "online"
    number: str
    kind: str             # sale, refund, online
    total_paisa: int      # negative for refunds
    state: str = ""


@dataclass(frozen=True)
class Profile:
    customer: Customer
    points: int
    credit_paisa: int
    lifetime_spend_paisa: int
    notes: str
    marketing_consent: bool
    movements: list      # the last PointsEntry rows, newest first
    purchases: list[Purchase]


def profile(customer_id: int, history: int = 15) -> Profile:
    """What the customer screen (F3) shows: till purchases at every branch and Smart Orders by
    the same phone number, lifetime spend (sales less refunds, online orders not cancelled)."""
    from peewee import fn

    from . import loyalty
    from .models import Branch, CustomerProfile, PosOrder, SmartOrder
    c = Customer.get_or_none(Customer.id == customer_id)
    if c is None:
        raise InvalidInput(f"no customer with id {customer_id}")
    extra = CustomerProfile.get_or_none(CustomerProfile.customer == c.id)
    till = (PosOrder.select(PosOrder, Branch).join(Branch)
            .where((PosOrder.customer == c.id) & (PosOrder.status == "COMPLETED") & PosOrder.kind.in_(["sale", "refund"]))
            .order_by(PosOrder.completed_at.desc()).limit(history))
    online = (SmartOrder.select().where(SmartOrder.phone == c.phone)
              .order_by(SmartOrder.created_at_shopify.desc()).limit(history))
    purchases = [Purchase(o.completed_at, o.branch.code, o.number, o.kind,
                          o.total_paisa if o.kind == "sale" else -o.total_paisa) for o in till]
    purchases += [Purchase(_shopify_time(s.created_at_shopify), "online", s.name, "online", s.total_paisa,
                           "cancelled" if s.cancelled_at else s.state.lower()) for s in online]
    purchases.sort(key=lambda p: p.when or dt.datetime.min, reverse=True)
    sums = dict(PosOrder.select(PosOrder.kind, fn.SUM(PosOrder.total_paisa))
                .where((PosOrder.customer == c.id) & (PosOrder.status == "COMPLETED"))
                .group_by(PosOrder.kind).tuples())
    online_total = (SmartOrder.select(fn.COALESCE(fn.SUM(SmartOrder.total_paisa), 0))
                    .where((SmartOrder.phone == c.phone) & SmartOrder.cancelled_at.is_null()).scalar())
    spend = int(sums.get("sale") or 0) - int(sums.get("refund") or 0) + int(online_total or 0)
    return Profile(c, loyalty.balance(c.id), c.store_credit_paisa, spend, extra.notes if extra else "",
                   bool(extra and extra.marketing_consent), loyalty.movements(c.id), purchases[:history])


def _shopify_time(text: str):
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.timezone.utc).replace(tzinfo=None)
    except (ValueError, AttributeError):
        return None


def set_profile(customer_id: int, *, notes: str | None = None, marketing_consent: bool | None = None,
                name: str | None = None) -> None:
    from .models import CustomerProfile
    if notes is not None and len(notes) > 2000:
        raise InvalidInput("notes are limited to 2,000 characters")
    with db.write():
        c = Customer.get_or_none(Customer.id == customer_id)
        if c is None:
            raise InvalidInput(f"no customer with id {customer_id}")
        row = CustomerProfile.get_or_none(CustomerProfile.customer == c.id) or CustomerProfile(customer=c.id)
        if notes is not None:
            row.notes = notes.strip()
        if marketing_consent is not None and marketing_consent != row.marketing_consent:
            row.marketing_consent, row.consent_at = marketing_consent, utcnow()
        row.updated_at = utcnow()
        row.save()
        if name is not None and name.strip() != c.name:
            c.name, c.updated_at = name.strip(), utcnow()
            c.save()


def whatsapp_link(phone: str, text: str) -> str:
    """A wa.me link that opens WhatsApp with the receipt summary typed in (nothing is sent by us)."""
    from urllib.parse import quote
    return f"https://wa.me/{normalise_phone(phone)[1:]}?text={quote(text)}"
