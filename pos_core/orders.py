"""Read-only queries for the till's recent orders list: by number, phone or date."""
from __future__ import annotations

import datetime as dt
import re

from peewee import JOIN

from .customers import normalise_phone
from .errors import InvalidInput
from .models import Customer, PosOrder

PK_OFFSET = dt.timedelta(hours=5)  # Pakistan has no daylight saving time
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


def recent(counter_id: int | None = None, query: str = "", limit: int = 50) -> list[PosOrder]:
    """Completed sales and refunds, newest first.

    `query` is an order number (or its tail, e.g. "000123"), a customer's phone, or a date
    YYYY-MM-DD in Pakistan time. Empty: the latest orders of this counter.
    """
    q = (PosOrder.select(PosOrder, Customer).join(Customer, JOIN.LEFT_OUTER, on=(PosOrder.customer == Customer.id))
         .where(PosOrder.status == "COMPLETED"))
    text = (query or "").strip()
    m = _DATE.match(text)
    if m:
        try:
            day = dt.datetime(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            raise InvalidInput(f"{text} is not a date (use YYYY-MM-DD)") from None
        start = day - PK_OFFSET  # midnight in Pakistan, in UTC
        q = q.where((PosOrder.completed_at >= start) & (PosOrder.completed_at < start + dt.timedelta(days=1)))
    elif text and (text.startswith(("0", "+")) and sum(c.isdigit() for c in text) >= 10):
        q = q.where(Customer.phone == normalise_phone(text))
    elif text:
        q = q.where(PosOrder.number.endswith(text.upper()))
    elif counter_id is not None:
        q = q.where(PosOrder.counter == counter_id)
    return list(q.order_by(PosOrder.completed_at.desc(), PosOrder.id.desc()).limit(limit))


def by_uid(uid: str) -> PosOrder | None:
    return PosOrder.get_or_none(PosOrder.uid == uid)
