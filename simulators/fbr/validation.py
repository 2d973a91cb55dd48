"""Stateless checks on an IMS invoice payload (reference fbr-ims.md §1.3-1.5, §5.3).

Two modes:

* ``strict``: what our sync agent must get right. JSON types must be the
  proper ones, POSID has 6 digits, PCTCode has exactly 8 digits, amounts are
  finite and non-negative, and the arithmetic adds up (header totals = sums
  of the items, item TotalAmount = SaleValue + TaxCharged + FurtherTax,
  TaxCharged = SaleValue x TaxRate / 100 within a tolerance).
* ``lenient``: what live evidence suggests the real service does. Numbers
  and integers may arrive as strings, ``"null"`` means null, a few more
  DateTime formats parse, and no arithmetic is checked.

Money is always ``Decimal``: the body is parsed with ``parse_float=Decimal``
so ``28.98`` is exactly 28.98, never the nearest binary float.

Checks that need the store (duplicate USIN, RefUSIN exists, credit does not
exceed the original) live in ``ims.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

STRICT = "strict"
LENIENT = "lenient"
MODES = (STRICT, LENIENT)

PAYMENT_MODES = frozenset(range(1, 7))  # 1 Cash .. 6 Cheque
HEADER_TYPES = frozenset({1, 2, 3})  # New, Debit, Credit
ITEM_TYPES = frozenset({1, 3, 11, 12})  # New, Credit, Third Schedule new/credit
THIRD_SCHEDULE = frozenset({11, 12})
# Which item types go with which header type. The item code for a debit is
# undocumented (reference §6.4), so a debit accepts any item type.
ITEM_TYPES_FOR_HEADER = {1: frozenset({1, 11}), 2: ITEM_TYPES, 3: frozenset({3, 12})}

DEFAULT_TOLERANCE = Decimal("0.01")

STRICT_DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S",)
# Seen in the wild (reference §1.3 and the JS PRA client in §4).
LENIENT_DATETIME_FORMATS = STRICT_DATETIME_FORMATS + (
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%b %d %Y %H:%M:%S",
)

_CNIC = re.compile(r"\d{13}")
_NTN = re.compile(r"[0-9A-Za-z]{7}(-?[0-9A-Za-z])?")
_PHONE = re.compile(r"\+?[0-9][0-9 -]*")
_PCT_STRICT = re.compile(r"\d{8}")
_PCT_LENIENT = re.compile(r"\d{1,8}")
_INT_TEXT = re.compile(r"\s*\d+\s*")

_MISSING = object()


@dataclass
class Item:
    item_code: str | None
    item_name: str | None
    pct_code: str | None
    quantity: Decimal | None
    tax_rate: Decimal | None
    sale_value: Decimal | None
    discount: Decimal | None
    further_tax: Decimal | None
    tax_charged: Decimal | None
    total_amount: Decimal | None
    invoice_type: int | None
    ref_usin: str | None


@dataclass
class Invoice:
    """The payload after type coercion; amounts are Decimal."""

    posid: int | None
    usin: str | None
    ref_usin: str | None
    date_time: datetime | None
    total_sale_value: Decimal | None
    total_quantity: Decimal | None
    total_tax_charged: Decimal | None
    total_bill_amount: Decimal | None
    discount: Decimal | None
    further_tax: Decimal | None
    payment_mode: int | None
    invoice_type: int | None
    items: list[Item] = field(default_factory=list)


def _show(value: Any) -> str:
    text = repr(value if not isinstance(value, Decimal) else str(value))
    return text if len(text) <= 40 else text[:37] + "..."


class _Reader:
    """Reads typed fields from a JSON object, collecting errors instead of raising."""

    def __init__(self, mode: str) -> None:
        self.strict = mode == STRICT
        self.errors: list[str] = []

    def fail(self, where: str, message: str) -> None:
        self.errors.append(f"{where}: {message}")

    def _raw(self, obj: dict, key: str, where: str, required: bool) -> Any:
        value = obj.get(key, _MISSING)
        # A live pharmacy POS sends "RefUSIN": "null" and it is accepted (§1.3).
        if not self.strict and value == "null":
            value = None
        if value is _MISSING or value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.fail(where, "is required")
            return None
        return value

    def text(self, obj: dict, key: str, where: str, *, max_len: int, required: bool = False,
             pattern: re.Pattern | None = None, pattern_msg: str = "") -> str | None:
        value = self._raw(obj, key, where, required)
        if value is None:
            return None
        if isinstance(value, str):
            text = value
        elif not self.strict and isinstance(value, (int, Decimal)) and not isinstance(value, bool):
            text = str(value)  # eAsasa sends "USIN": 1111 and "PCTCode": 0 (§1.3)
        else:
            self.fail(where, f"must be a string, got {_show(value)}")
            return None
        # The format message explains more than the length one ("12345-1234567-8"
        # is too long *because* of the dashes), so it wins.
        if pattern is not None and not pattern.fullmatch(text):
            self.fail(where, f"{pattern_msg}, got {_show(text)}")
        elif len(text) > max_len:
            self.fail(where, f"is longer than {max_len} characters ({len(text)})")
        return text

    def integer(self, obj: dict, key: str, where: str, *, required: bool = True,
                allowed: frozenset[int] | None = None) -> int | None:
        value = self._raw(obj, key, where, required)
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif not self.strict and isinstance(value, str) and _INT_TEXT.fullmatch(value):
            number = int(value)
        else:
            self.fail(where, f"must be an integer, got {_show(value)}")
            return None
        if allowed is not None and number not in allowed:
            self.fail(where, f"must be one of {sorted(allowed)}, got {number}")
        return number

    def amount(self, obj: dict, key: str, where: str, *, required: bool = True) -> Decimal | None:
        value = self._raw(obj, key, where, required)
        if value is None:
            return None
        if isinstance(value, bool):
            number = None
        elif isinstance(value, int):
            number = Decimal(value)
        elif isinstance(value, Decimal):
            number = value
        elif not self.strict and isinstance(value, str):
            try:
                number = Decimal(value.strip())  # "18%" fails here, as it should
            except InvalidOperation:
                number = None
        else:
            number = None
        if number is None:
            self.fail(where, f"must be a number, got {_show(value)}")
            return None
        if not number.is_finite():
            self.fail(where, f"must be a finite number, got {_show(value)}")
            return None
        if self.strict and number < 0:
            self.fail(where, f"must not be negative, got {number}")
        return number

    def date_time(self, obj: dict, key: str, where: str) -> datetime | None:
        value = self._raw(obj, key, where, True)
        if value is None:
            return None
        formats = STRICT_DATETIME_FORMATS if self.strict else LENIENT_DATETIME_FORMATS
        if isinstance(value, str):
            for fmt in formats:
                try:
                    return datetime.strptime(value, fmt)
                except ValueError:
                    continue
        self.fail(where, f"must be 'yyyy-MM-dd HH:mm:ss', got {_show(value)}")
        return None


def validate(payload: Any, mode: str = STRICT,
             tolerance: Decimal = DEFAULT_TOLERANCE) -> tuple[Invoice | None, list[str]]:
    """Return the coerced invoice and a list of human-readable errors (empty = valid)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}")
    if not isinstance(payload, dict):
        return None, ["body: must be a JSON object"]
    r = _Reader(mode)

    if r.strict:
        number = payload.get("InvoiceNumber")
        if number not in (None, ""):
            r.fail("InvoiceNumber", f"must be empty on request (FBR fills it in), got {_show(number)}")

    posid = r.integer(payload, "POSID", "POSID")
    if posid is not None:
        if r.strict and not 100000 <= posid <= 999999:
            r.fail("POSID", f"must be a 6-digit POS registration number, got {posid}")
        elif posid <= 0:
            r.fail("POSID", f"must be positive, got {posid}")

    invoice = Invoice(
        posid=posid,
        usin=r.text(payload, "USIN", "USIN", max_len=50, required=True),
        ref_usin=r.text(payload, "RefUSIN", "RefUSIN", max_len=50),
        date_time=r.date_time(payload, "DateTime", "DateTime"),
        total_sale_value=r.amount(payload, "TotalSaleValue", "TotalSaleValue"),
        total_quantity=r.amount(payload, "TotalQuantity", "TotalQuantity"),
        total_tax_charged=r.amount(payload, "TotalTaxCharged", "TotalTaxCharged"),
        total_bill_amount=r.amount(payload, "TotalBillAmount", "TotalBillAmount"),
        discount=r.amount(payload, "Discount", "Discount", required=False),
        further_tax=r.amount(payload, "FurtherTax", "FurtherTax", required=False),
        payment_mode=r.integer(payload, "PaymentMode", "PaymentMode", allowed=PAYMENT_MODES),
        invoice_type=r.integer(payload, "InvoiceType", "InvoiceType", allowed=HEADER_TYPES),
    )
    if invoice.total_bill_amount is not None and invoice.total_bill_amount == 0:
        r.fail("TotalBillAmount", "must not be zero")

    r.text(payload, "BuyerName", "BuyerName", max_len=150)
    r.text(payload, "BuyerNTN", "BuyerNTN", max_len=9, pattern=_NTN,
           pattern_msg="must be a 7-character NTN, optionally with a check digit (1234567-8)")
    # The spec's own sample "12345-1234567-8" overflows varchar(13): dashes are refused in both modes.
    r.text(payload, "BuyerCNIC", "BuyerCNIC", max_len=13, pattern=_CNIC,
           pattern_msg="must be 13 digits without dashes")
    r.text(payload, "BuyerPhoneNumber", "BuyerPhoneNumber", max_len=20,
           pattern=_PHONE if r.strict else None, pattern_msg="must be a phone number (digits)")

    _check_references(r, invoice)
    items = payload.get("Items")
    if not isinstance(items, list) or not items:
        r.fail("Items", "must be a non-empty list")
    else:
        for index, raw in enumerate(items):
            item = _read_item(r, raw, f"Items[{index}]", invoice)
            if item is not None:
                invoice.items.append(item)

    if r.strict and not r.errors:
        # Arithmetic only makes sense once every field has the right type.
        _check_arithmetic(r, invoice, tolerance)
    return invoice, r.errors


def _check_references(r: _Reader, invoice: Invoice) -> None:
    if invoice.invoice_type in (2, 3):
        if not invoice.ref_usin:
            kind = "credit" if invoice.invoice_type == 3 else "debit"
            r.fail("RefUSIN", f"is required for a {kind} note (the original bill's USIN)")
        elif invoice.ref_usin == invoice.usin:
            r.fail("RefUSIN", "must refer to another invoice, not to this USIN")
    elif invoice.invoice_type == 1 and invoice.ref_usin and r.strict:
        r.fail("RefUSIN", f"must be null on a new sale, got {_show(invoice.ref_usin)}")


def _read_item(r: _Reader, raw: Any, where: str, invoice: Invoice) -> Item | None:
    if not isinstance(raw, dict):
        r.fail(where, "must be an object")
        return None
    item = Item(
        item_code=r.text(raw, "ItemCode", f"{where}.ItemCode", max_len=50, required=True),
        item_name=r.text(raw, "ItemName", f"{where}.ItemName", max_len=150, required=True),
        pct_code=r.text(raw, "PCTCode", f"{where}.PCTCode", max_len=8, required=True,
                        pattern=_PCT_STRICT if r.strict else _PCT_LENIENT,
                        pattern_msg="must be 8 digits with no dot (0101.2100 -> 01012100)"),
        quantity=r.amount(raw, "Quantity", f"{where}.Quantity"),
        tax_rate=r.amount(raw, "TaxRate", f"{where}.TaxRate"),
        sale_value=r.amount(raw, "SaleValue", f"{where}.SaleValue"),
        discount=r.amount(raw, "Discount", f"{where}.Discount", required=False),
        further_tax=r.amount(raw, "FurtherTax", f"{where}.FurtherTax", required=False),
        tax_charged=r.amount(raw, "TaxCharged", f"{where}.TaxCharged"),
        total_amount=r.amount(raw, "TotalAmount", f"{where}.TotalAmount"),
        invoice_type=r.integer(raw, "InvoiceType", f"{where}.InvoiceType", allowed=ITEM_TYPES),
        ref_usin=r.text(raw, "RefUSIN", f"{where}.RefUSIN", max_len=50),
    )
    if item.tax_rate is not None and item.tax_rate > 100:
        r.fail(f"{where}.TaxRate", f"must be a percentage (18 for 18%), got {item.tax_rate}")
    allowed = ITEM_TYPES_FOR_HEADER.get(invoice.invoice_type)
    if allowed and item.invoice_type in ITEM_TYPES and item.invoice_type not in allowed:
        r.fail(f"{where}.InvoiceType",
               f"{item.invoice_type} does not fit header InvoiceType {invoice.invoice_type} "
               f"(expected one of {sorted(allowed)})")
    if invoice.invoice_type in (2, 3) and invoice.ref_usin and item.ref_usin != invoice.ref_usin:
        r.fail(f"{where}.RefUSIN", f"must repeat the header RefUSIN {_show(invoice.ref_usin)}, "
                                   f"got {_show(item.ref_usin)}")
    return item


def _check_arithmetic(r: _Reader, invoice: Invoice, tolerance: Decimal) -> None:
    zero = Decimal(0)
    for index, item in enumerate(invoice.items):
        where = f"Items[{index}]"
        further = item.further_tax or zero
        expected_total = item.sale_value + item.tax_charged + further
        if abs(item.total_amount - expected_total) > tolerance:
            r.fail(f"{where}.TotalAmount",
                   f"{item.total_amount} != SaleValue + TaxCharged + FurtherTax = {expected_total}")
        # Third Schedule tax is worked out on the printed retail price, not on
        # SaleValue, and how IMS wants it filled is undocumented (§2.3).
        if item.invoice_type not in THIRD_SCHEDULE:
            expected_tax = item.sale_value * item.tax_rate / 100
            if abs(item.tax_charged - expected_tax) > tolerance:
                r.fail(f"{where}.TaxCharged",
                       f"{item.tax_charged} != SaleValue x TaxRate / 100 = "
                       f"{expected_tax.quantize(Decimal('0.0001'))}")

    sums = {
        "TotalSaleValue": (invoice.total_sale_value, "SaleValue", "sale_value"),
        "TotalTaxCharged": (invoice.total_tax_charged, "TaxCharged", "tax_charged"),
        "TotalBillAmount": (invoice.total_bill_amount, "TotalAmount", "total_amount"),
        "TotalQuantity": (invoice.total_quantity, "Quantity", "quantity"),
    }
    for header, (declared, item_field, attr) in sums.items():
        total = sum((getattr(item, attr) for item in invoice.items), zero)
        if abs(declared - total) > tolerance:
            r.fail(header, f"{declared} != sum of item {item_field} = {total}")
