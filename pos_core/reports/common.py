"""What every report shares: the filters, the period in Pakistan days, the result shape, SQL helpers.

Reports are plain SQL over the documents (orders, lines, payments, the stock ledger), written once
for SQLite and PostgreSQL: the only dialect differences are how a UTC timestamp becomes a Pakistan
day, hour and weekday, and the parameter mark. Results are `Report` objects (columns and rows of
plain values, money as Decimal rupees) that the back office shows, charts and exports.

Periods are whole Pakistan days. A document belongs to the day it was completed on (Pakistan time),
so a refund in March of a February sale lowers March, the month the money went back: the books of
a closed month never change.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Sequence

from .. import db
from ..errors import InvalidInput

PK_OFFSET = dt.timedelta(hours=5)  # Pakistan Standard Time, no daylight saving
QUICK_PICKS = ("today", "yesterday", "this_week", "this_month", "last_month")
QUICK_LABELS = {"today": "Today", "yesterday": "Yesterday", "this_week": "This week",
                "this_month": "This month", "last_month": "Last month"}


def pk_today(now_utc: dt.datetime | None = None) -> dt.date:
    now = now_utc or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    return (now + PK_OFFSET).date()


def quick_period(name: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """(first day, last day), both inclusive. Weeks start on Monday."""
    if name == "today":
        return today, today
    if name == "yesterday":
        d = today - dt.timedelta(days=1)
        return d, d
    if name == "this_week":
        return today - dt.timedelta(days=today.weekday()), today
    if name == "this_month":
        return today.replace(day=1), today
    if name == "last_month":
        last = today.replace(day=1) - dt.timedelta(days=1)
        return last.replace(day=1), last
    raise InvalidInput(f"unknown period {name!r}; use one of {', '.join(QUICK_PICKS)}")


def parse_day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"{text.strip()!r} is not a date; write it as YYYY-MM-DD") from None


@dataclass(frozen=True)
class Filters:
    """What a person narrowed the report to. Days are Pakistan dates, both ends included."""
    start: dt.date
    end: dt.date
    branch_id: int | None = None
    counter_id: int | None = None
    cashier_id: int | None = None
    category: str | None = None
    method: str | None = None   # a payment method: orders paid (at least partly) that way
    salesperson_id: int | None = None  # lines attributed to this person (a refund line: its sold line's)

    def __post_init__(self):
        if self.end < self.start:
            raise InvalidInput(f"the period ends ({self.end}) before it starts ({self.start})")

    @classmethod
    def quick(cls, name: str, today: dt.date | None = None, **kw) -> "Filters":
        start, end = quick_period(name, today or pk_today())
        return cls(start, end, **kw)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def start_utc(self) -> dt.datetime:
        return dt.datetime.combine(self.start, dt.time()) - PK_OFFSET

    @property
    def end_utc(self) -> dt.datetime:
        """Exclusive: the first UTC instant after the last day."""
        return dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time()) - PK_OFFSET

    def previous(self) -> "Filters":
        """The period of the same length just before this one, for comparisons."""
        n = dt.timedelta(days=self.days)
        return replace(self, start=self.start - n, end=self.end - n)


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = "text"   # text, int, money, pct, date


@dataclass
class Report:
    title: str
    columns: list[Column]
    rows: list[list[Any]]
    totals: list[Any] | None = None
    notes: list[str] = field(default_factory=list)
    filters: Filters | None = None

    def column(self, key: str) -> list[Any]:
        i = [c.key for c in self.columns].index(key)
        return [r[i] for r in self.rows]

    def as_dicts(self) -> list[dict[str, Any]]:
        keys = [c.key for c in self.columns]
        return [dict(zip(keys, r)) for r in self.rows]

    def row(self, **match) -> dict[str, Any]:
        """The one row whose columns have these values (tests and drill-downs)."""
        found = [d for d in self.as_dicts() if all(d[k] == v for k, v in match.items())]
        if len(found) != 1:
            raise LookupError(f"{len(found)} rows match {match} in {self.title}")
        return found[0]


def rupees(paisa) -> Decimal:
    return Decimal(int(paisa or 0)) / 100



def day_summary_where(f: Filters, source: tuple[str, list], alias: str) -> tuple[str, list[str], list]:
    """(FROM clause, conditions, parameters) over a day-stamped summary as `alias`: `source` is
    what a summary.*_source returned (the table, or the stored days with the open day live, and
    its parameters), narrowed to the period's days and the branch, counter and cashier filters."""
    table, params = source
    keys, key_params = keys_where(f, alias)
    return (f"FROM {table} {alias}", [f"{alias}.day >= ?", f"{alias}.day <= ?"] + keys,
            params + [f.start.isoformat(), f.end.isoformat()] + key_params)

# --- SQL in both dialects ------------------------------------------------------------------------

def pk_day(col: str) -> str:
    """A UTC timestamp column as the Pakistan date, text 'YYYY-MM-DD' on both databases."""
    if db.is_sqlite():
        return f"date({col}, '+5 hours')"
    return f"to_char({col} + interval '5 hours', 'YYYY-MM-DD')"


def pk_hour(col: str) -> str:
    if db.is_sqlite():
        return f"CAST(strftime('%H', {col}, '+5 hours') AS INTEGER)"
    return f"CAST(extract(hour from {col} + interval '5 hours') AS INTEGER)"


def pk_weekday(col: str) -> str:
    """0 = Sunday ... 6 = Saturday on both."""
    if db.is_sqlite():
        return f"CAST(strftime('%w', {col}, '+5 hours') AS INTEGER)"
    return f"CAST(extract(dow from {col} + interval '5 hours') AS INTEGER)"


def query(sql: str, params: Sequence[Any] = (), fetch: bool = True) -> list[tuple]:
    """Run report SQL written with `?` marks on either database."""
    if db.is_sqlite():
        # Stored as peewee writes them: 'YYYY-MM-DD HH:MM:SS[.ffffff]', which compares as text.
        params = [p.strftime("%Y-%m-%d %H:%M:%S") if isinstance(p, dt.datetime) else p for p in params]
    else:
        sql = sql.replace("%", "%%").replace("?", "%s")
    cursor = db.database.execute_sql(sql, tuple(params))
    return list(cursor.fetchall()) if fetch else []


def keys_where(f: Filters, alias: str) -> tuple[list[str], list[Any]]:
    """Conditions and parameters for the branch, counter and cashier filters on `alias`'s columns
    of those names (documents and the day-stamped summaries alike)."""
    sql, params = [], []
    for column, value in (("branch_id", f.branch_id), ("counter_id", f.counter_id), ("cashier_id", f.cashier_id)):
        if value is not None:
            sql.append(f"{alias}.{column} = ?")
            params.append(value)
    return sql, params


def order_where(f: Filters, alias: str = "o", with_method: bool = True) -> tuple[str, list[Any]]:
    """Completed sales and refunds in the period, narrowed by branch, counter, cashier, method."""
    a = alias
    sql = [f"{a}.status = 'COMPLETED'", f"{a}.kind IN ('sale', 'refund')",
           f"{a}.completed_at >= ?", f"{a}.completed_at < ?"]
    keys, params = keys_where(f, a)
    sql += keys
    params = [f.start_utc, f.end_utc] + params
    if with_method and f.method:
        sql.append(f"EXISTS (SELECT 1 FROM payment pm WHERE pm.order_id = {a}.id AND pm.method = ?)")
        params.append(f.method)
    return " AND ".join(sql), params


SIGN = "(CASE WHEN o.kind = 'refund' THEN -1 ELSE 1 END)"


def line_salesperson(alias: str = "l") -> str:
    """The salesperson a line counts for: its own, or on a refund line the sold line's (refund
    lines carry none), so a return takes the sale back from the person who made it."""
    return (f"COALESCE({alias}.salesperson_id, (SELECT sl.salesperson_id FROM pos_order_line sl "
            f"WHERE sl.id = {alias}.original_line_id))")


def salesperson_where(f: Filters, alias: str = "l") -> tuple[str, list]:
    if f.salesperson_id is None:
        return "", []
    return f" AND {line_salesperson(alias)} = ?", [f.salesperson_id]
