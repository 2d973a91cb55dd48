"""Customers, found by the phone number people give at the counter."""
from __future__ import annotations

import re

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
               staff_id: int | None = None) -> None:
    """Move store credit; call inside the document's transaction."""
    inserted = (CreditEntry.insert(customer=customer_id, delta_paisa=delta_paisa, doc_ref=doc_ref,
                                   event_key=event_key, staff=staff_id, created_at=utcnow())
                .on_conflict_ignore().as_rowcount().execute())
    if inserted:
        (Customer.update(store_credit_paisa=Customer.store_credit_paisa + delta_paisa,
                         updated_at=utcnow())
         .where(Customer.id == customer_id).execute())
