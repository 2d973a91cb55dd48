"""What goes on a receipt: plain, frozen data with no printing logic.

The till builds a `Receipt` (or a `Slip`) from a stored order; `printers.layout`
turns it into print operations. Standard library only, so the till can import
it without paying for python-escpos.

Money is always `Decimal` rupees. Floats are rejected at construction time
because a float that slipped in would print e.g. 0.30000000000000004 rounded
differently from what the books hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from decimal import ROUND_HALF_UP, Decimal

# Receipt titles the till uses. Not enforced: a new kind of document should
# not need a printer change.
SALE = "SALE RECEIPT"
REFUND = "REFUND"
EXCHANGE = "EXCHANGE"
TRANSFER = "TRANSFER SLIP"

_PAISA = Decimal("0.01")


def format_money(amount: Decimal) -> str:
    """`Decimal("1234.5")` -> `"1,234.50"`; negatives keep a leading minus."""
    _require_decimal("amount", amount)
    return f"{amount.quantize(_PAISA, rounding=ROUND_HALF_UP):,.2f}"


def _require_decimal(name: str, value: object) -> None:
    if not isinstance(value, Decimal):
        raise TypeError(f"{name} must be a Decimal, got {type(value).__name__}: {value!r}")


def _freeze_sequences(obj: object) -> None:
    """Store list fields as tuples, so callers may pass lists but the frozen
    object really is immutable (and hashable)."""
    for f in fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        if isinstance(value, list):
            object.__setattr__(obj, f.name, tuple(value))


@dataclass(frozen=True)
class Customer:
    name: str
    phone: str | None = None
    # FBR wants the buyer's CNIC or NTN when the invoice is above Rs 100,000.
    cnic_ntn: str | None = None


@dataclass(frozen=True)
class ReceiptLine:
    name: str
    variant: str  # e.g. "Red / M"; "" when the product has no variants
    qty: int
    unit_price: Decimal
    discount: Decimal  # line discount in rupees, positive number
    total: Decimal  # what the line costs after the discount
    urdu_name: str | None = None  # printed as an image beside the Roman name when the template asks

    def __post_init__(self) -> None:
        if not isinstance(self.qty, int) or isinstance(self.qty, bool):
            raise TypeError(f"qty must be an int, got {self.qty!r}")
        for name in ("unit_price", "discount", "total"):
            _require_decimal(name, getattr(self, name))


@dataclass(frozen=True)
class TaxLine:
    label: str  # e.g. "Sales tax 18%"
    amount: Decimal

    def __post_init__(self) -> None:
        _require_decimal("amount", self.amount)


@dataclass(frozen=True)
class Tender:
    method: str  # label as printed: "Cash", "Card", "JazzCash", ...
    amount: Decimal

    def __post_init__(self) -> None:
        _require_decimal("amount", self.amount)


@dataclass(frozen=True)
class Totals:
    subtotal: Decimal
    discount: Decimal  # whole-bill discount as a positive number; 0 prints nothing
    taxes: tuple[TaxLine, ...]
    # FBR's Re 1 POS service fee (SRO 1279(I)/2021). A separate line, never
    # mixed into tax; None on documents that don't collect it (e.g. refunds).
    service_fee: Decimal | None
    total: Decimal

    def __post_init__(self) -> None:
        _freeze_sequences(self)
        for name in ("subtotal", "discount", "total"):
            _require_decimal(name, getattr(self, name))
        if self.service_fee is not None:
            _require_decimal("service_fee", self.service_fee)


@dataclass(frozen=True)
class FbrBlock:
    """The FBR part of the receipt, as known when printing.

    fiscal_number is None (or offline True) while the invoice is queued for
    FBR; the receipt then says the number is pending and carries no FBR mark.
    """

    fiscal_number: str | None
    offline: bool = False
    test_mode: bool = False  # sandbox: never print it as a live fiscal invoice
    logo_path: str | None = None


@dataclass
class PointsLine:
    """Loyalty points on this receipt (points are whole numbers)."""
    earned: int
    redeemed: int
    balance: int


@dataclass(frozen=True)
class Receipt:
    title: str
    header_lines: tuple[str, ...]  # shop name first, then address, NTN/STRN, PoS No
    number: str  # our own invoice number (FBR's USIN), e.g. LHR1-C2-000123
    when: str  # already formatted in Pakistan time by the caller
    branch: str
    counter: str
    cashier: str
    customer: Customer | None
    lines: tuple[ReceiptLine, ...]
    totals: Totals
    tenders: tuple[Tender, ...]
    change: Decimal | None = None  # None: no change line (refunds: the money goes back)
    footer_lines: tuple[str, ...] = ()
    ref_number: str | None = None  # refunds/exchanges: the original invoice number
    return_reason: str | None = None  # refunds: why the goods came back, as the till says it
    reprint: bool = False
    fbr: FbrBlock | None = None
    # The till decides (cash taken or paid out); a reprint never opens the drawer.
    open_drawer: bool = False
    # Agreed between issues 16 and 17; the receipt template decides which of them print.
    savings: Decimal | None = None
    points: PointsLine | None = None
    salesperson: str | None = None
    promotions: list[tuple[str, Decimal]] = field(default_factory=list)  # (name, amount)

    def __post_init__(self) -> None:
        _freeze_sequences(self)
        if self.change is not None:
            _require_decimal("change", self.change)
        if self.savings is not None:
            _require_decimal("savings", self.savings)
        for _, amount in self.promotions:
            _require_decimal("promotion amount", amount)


@dataclass(frozen=True)
class Slip:
    """A generic two-column document: transfer slips, shift X/Z reports."""

    title: str
    number: str
    lines: tuple[tuple[str, str], ...]  # (left, right); right may be ""
    barcode: str | None = None  # CODE128 of e.g. the transfer number
    footer_lines: tuple[str, ...] = ()
    header_lines: tuple[str, ...] = ()
    when: str | None = None

    def __post_init__(self) -> None:
        _freeze_sequences(self)
        object.__setattr__(self, "lines", tuple(tuple(pair) for pair in self.lines))


__all__ = [
    "SALE", "REFUND", "EXCHANGE", "TRANSFER",
    "Customer", "ReceiptLine", "PointsLine", "TaxLine", "Tender", "Totals", "FbrBlock",
    "Receipt", "Slip", "format_money",
]
