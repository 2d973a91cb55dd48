"""COD settlement: a courier's payment statement matched against the parcels it delivered.

A courier collects the cash at the door and pays it over later, less its charges, with a statement
(CSV from its portal). Each statement row is matched to our consignment by its number:

    PAID           paid in full, nothing deducted
    CHARGES        paid in full less the courier's charges (paid + charges = what was due)
    SHORT_PAID     paid + charges is less than what was due (the difference stays owed)
    OVER_PAID      more than was due
    NOT_DELIVERED  money for a parcel our tracking does not show delivered (counted, and flagged)
    DUPLICATE      a parcel already settled in full on an earlier row or statement
    UNKNOWN        a number that is not one of our parcels with this courier
and `owed` lists what each courier still owes: delivered COD parcels never on a statement
(MISSING) and the rest of short-paid ones. Money is integer paisa; amounts are read as Decimal.
"""
from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from . import audit, couriers, db
from .errors import InvalidInput, StateError
from .models import CodStatement, CodStatementLine, Consignment

PAID, CHARGES, SHORT_PAID, OVER_PAID, NOT_DELIVERED, DUPLICATE, UNKNOWN, MISSING = (
    "PAID", "CHARGES", "SHORT_PAID", "OVER_PAID", "NOT_DELIVERED", "DUPLICATE", "UNKNOWN", "MISSING")
SETTLING = (PAID, CHARGES, SHORT_PAID, OVER_PAID, NOT_DELIVERED)   # rows whose money counts

# Column names seen in the couriers' statements (normalised: lower case, single spaces).
TRACKING_COLS = ("cn number", "cn #", "cn no", "cn", "consignment number", "consignment no", "tracking number",
                 "tracking no", "track number", "trackingnumber")
COLLECTED_COLS = ("cod amount", "collected amount", "amount collected", "cod", "invoice payment",
                  "invoicepayment", "collect amount")
CHARGES_COLS = ("delivery charges", "shipping charges", "charges", "service charges", "cod charges",
                "reversal charges", "gst", "sales tax", "fuel surcharge")
PAID_COLS = ("net payable", "net amount", "paid amount", "amount paid", "net paid", "payable amount",
             "net payment")


@dataclass(frozen=True)
class Owed:
    courier: str
    reference: str
    tracking_number: str
    order_name: str
    delivered_at: object
    due_paisa: int
    settled_paisa: int
    kind: str                      # MISSING or SHORT_PAID

    @property
    def owed_paisa(self) -> int:
        return self.due_paisa - self.settled_paisa


def import_statement(courier: str, text: str, *, source: str = "", staff_id: int | None = None) -> CodStatement:
    """Read and match a statement; all or nothing. The same file twice is refused."""
    if courier not in couriers.NAMES:
        raise InvalidInput(f"{courier!r} is not a courier we settle with (choose {', '.join(sorted(couriers.NAMES))})")
    rows = _parse(text)
    digest = hashlib.sha256(f"{courier}\n{text.strip()}".encode()).hexdigest()
    return _import(courier, rows, digest, source, staff_id)


def import_payments(courier: str, rows: list[tuple[str, int, int, int]], *, source: str = "api") -> CodStatement | None:
    """Payments the agent read from a courier's payment API: (number, collected, charges, paid) in
    paisa. Only parcels on no statement yet are taken (an API answers the same payment every day;
    a parcel already on a statement is for a person, with the courier's CSV), so nothing is
    counted twice. Returns the statement, or None when there was nothing new."""
    if courier not in couriers.NAMES:
        raise InvalidInput(f"{courier!r} is not a courier we settle with")
    fresh, seen = [], set()
    for number, collected, charges, paid in rows:
        number = str(number).strip()
        if not number or number in seen:
            continue
        seen.add(number)
        c = Consignment.get_or_none((Consignment.tracking_number == number) & (Consignment.courier == courier))
        if c is not None and CodStatementLine.select().where(CodStatementLine.consignment == c.id).exists():
            continue
        fresh.append((number, int(collected), abs(int(charges)), int(paid)))
    if not fresh:
        return None
    digest = hashlib.sha256(f"{courier}\napi\n{sorted(fresh)!r}".encode()).hexdigest()
    if CodStatement.get_or_none(CodStatement.digest == digest) is not None:
        return None
    return _import(courier, fresh, digest, source, None)


def _import(courier: str, rows: list[tuple[str, int, int, int]], digest: str, source: str,
            staff_id: int | None) -> CodStatement:
    with db.write():
        if CodStatement.get_or_none(CodStatement.digest == digest) is not None:
            raise StateError(f"this {couriers.NAMES[courier]} statement was imported already")
        st = CodStatement.create(courier=courier, source=source, digest=digest, staff=staff_id, rows=len(rows),
                                 paid_paisa=sum(r[3] for r in rows), charges_paisa=sum(r[2] for r in rows))
        for n, (number, collected, charges, paid) in enumerate(rows, start=1):
            c = Consignment.get_or_none((Consignment.tracking_number == number) & (Consignment.courier == courier))
            result, note = _classify(c, collected, charges, paid)
            CodStatementLine.create(statement=st, row_no=n, tracking_number=number, consignment=c,
                                    collected_paisa=collected, charges_paisa=charges, paid_paisa=paid,
                                    result=result, note=note)
        audit.log("courier.cod_statement", staff_id, st.uid, courier=courier, rows=len(rows), source=source)
    return st


def lines(statement: CodStatement) -> list[CodStatementLine]:
    return list(CodStatementLine.select().where(CodStatementLine.statement == statement.id)
                .order_by(CodStatementLine.row_no))


def summary(statement: CodStatement) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in lines(statement):
        out[line.result] = out.get(line.result, 0) + 1
    return out


def owed(courier: str | None = None) -> list[Owed]:
    """Delivered COD parcels the courier has not paid for in full, oldest delivery first."""
    q = Consignment.select().where((Consignment.status == couriers.DELIVERED) & (Consignment.cod_paisa > 0))
    if courier:
        q = q.where(Consignment.courier == courier)
    out = []
    for c in q.order_by(Consignment.delivered_at, Consignment.id):
        settled = _settled(c)
        if settled < c.cod_paisa:
            out.append(Owed(c.courier, c.reference, c.tracking_number or "", c.fulfillment.order.name, c.delivered_at,
                            int(c.cod_paisa), settled, SHORT_PAID if settled else MISSING))
    return out


def owed_totals(courier: str | None = None) -> dict[str, int]:
    totals: dict[str, int] = {}
    for row in owed(courier):
        totals[row.courier] = totals.get(row.courier, 0) + row.owed_paisa
    return totals


def charges_total(courier: str) -> int:
    return sum(int(l.charges_paisa) for l in CodStatementLine.select().join(CodStatement)
               .where((CodStatement.courier == courier) & CodStatementLine.result.in_(SETTLING)))


# --- helpers -------------------------------------------------------------------------------

def _settled(c: Consignment, before_id: int | None = None) -> int:
    q = CodStatementLine.select().where((CodStatementLine.consignment == c.id)
                                        & CodStatementLine.result.in_(SETTLING))
    if before_id is not None:
        q = q.where(CodStatementLine.id < before_id)
    return sum(int(l.paid_paisa) + int(l.charges_paisa) for l in q)


def _classify(c: Consignment | None, collected: int, charges: int, paid: int) -> tuple[str, str]:
    if c is None:
        return UNKNOWN, "not one of our parcels with this courier"
    if not c.cod_paisa:
        if paid > 0:
            return OVER_PAID, f"prepaid parcel: nothing was to be collected, {_rs(paid)} paid"
        return CHARGES, "prepaid parcel: charges only"
    due = int(c.cod_paisa) - _settled(c)
    if due <= 0:
        return DUPLICATE, "already settled in full"
    got = paid + charges
    notes = []
    if collected - charges != paid:
        notes.append(f"collected {_rs(collected)} less charges {_rs(charges)} is not the {_rs(paid)} paid")
    if c.status != couriers.DELIVERED:
        notes.append(f"our tracking shows it {couriers.LABELS.get(c.status, c.status)}, not delivered")
        return NOT_DELIVERED, "; ".join(notes)
    if got < due:
        notes.insert(0, f"short by {_rs(due - got)}")
        return SHORT_PAID, "; ".join(notes)
    if got > due:
        notes.insert(0, f"over by {_rs(got - due)}")
        return OVER_PAID, "; ".join(notes)
    return (CHARGES if charges else PAID), "; ".join(notes)


def _rs(paisa: int) -> str:
    return f"Rs {Decimal(paisa) / 100:,.2f}"


def _norm(h: str) -> str:
    return " ".join((h or "").replace("_", " ").replace("\ufeff", "").strip().lower().split())


def _parse(text: str) -> list[tuple[str, int, int, int]]:
    """(number, collected, charges, paid) per row, in paisa. Any bad row refuses the whole file."""
    if not text or not text.strip():
        raise InvalidInput("the statement is empty")
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [_norm(h) for h in next(reader)]
    except (StopIteration, csv.Error) as exc:
        raise InvalidInput(f"the statement is not a CSV file: {exc}") from None
    pick = lambda names: next((i for i, h in enumerate(header) if h in names), None)  # noqa: E731
    t_col, c_col, p_col = pick(TRACKING_COLS), pick(COLLECTED_COLS), pick(PAID_COLS)
    charge_cols = [i for i, h in enumerate(header) if h in CHARGES_COLS]
    if t_col is None or c_col is None:
        raise InvalidInput("the statement needs a consignment number column and a COD amount column; "
                           f"found {', '.join(h for h in header if h) or 'no headings'}")
    out, seen = [], set()
    for n, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(header):
            raise InvalidInput(f"line {n}: {len(row)} columns, the heading has {len(header)}; nothing imported")
        number = row[t_col].strip()
        if not number:
            raise InvalidInput(f"line {n}: no consignment number; nothing imported")
        if number in seen:
            raise InvalidInput(f"line {n}: {number} appears twice in this statement; nothing imported")
        seen.add(number)
        collected = _money(row[c_col], n, header[c_col])
        charges = sum(abs(_money(row[i], n, header[i])) for i in charge_cols)  # often written negative
        paid = _money(row[p_col], n, header[p_col]) if p_col is not None else collected - charges
        out.append((number, collected, charges, paid))
    if not out:
        raise InvalidInput("the statement has a heading but no rows")
    return out


def _money(cell: str, line: int, col: str) -> int:
    raw = (cell or "").strip().replace(",", "").replace("Rs.", "").replace("Rs", "").replace("PKR", "").strip()
    if raw in ("", "-"):
        return 0
    neg = raw.startswith("(") and raw.endswith(")")
    try:
        value = Decimal(raw.strip("()"))
    except InvalidOperation:
        raise InvalidInput(f"line {line}: {col} {cell!r} is not an amount; nothing imported") from None
    if not value.is_finite() or value.as_tuple().exponent < -2:
        raise InvalidInput(f"line {line}: {col} {cell!r} is not an amount in rupees and paisa; nothing imported")
    paisa = int(value * 100)
    return -paisa if neg else paisa
