"""Line and order arithmetic: discounts, the order discount spread, tax, totals.

Pure functions over integers (paisa, basis points) and Decimal; no database. Every amount is
rounded once, per line, half-up to the paisa, and the order's figures are sums of its lines, so
they always add up.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .money import MoneyError, round_half_up, spread, to_paisa

MAX_QTY = 9999


class PricingError(ValueError):
    pass


@dataclass(frozen=True)
class Discount:
    kind: str      # "percent" or "amount"
    value: Decimal  # percent (0-100) or rupees

    def __post_init__(self):
        if self.kind not in ("percent", "amount"):
            raise PricingError(f"discount kind must be percent or amount, not {self.kind!r}")
        if isinstance(self.value, float):
            raise PricingError("a discount must not be a float")
        v = Decimal(self.value)
        if not v.is_finite() or v < 0:
            raise PricingError("a discount cannot be negative")
        if self.kind == "percent" and v > 100:
            raise PricingError("a percentage discount cannot exceed 100%")

    def paisa_of(self, base: int) -> int:
        if self.kind == "percent":
            return round_half_up(Decimal(base) * Decimal(self.value) / 100)
        try:
            amount = to_paisa(self.value)
        except MoneyError as exc:
            raise PricingError(str(exc)) from None
        if amount > base:
            raise PricingError(f"discount of Rs {self.value} is more than the Rs {Decimal(base) / 100} it applies to")
        return amount

    def as_json(self) -> dict:
        return {"kind": self.kind, "value": str(self.value)}

    @classmethod
    def from_json(cls, data: dict | None) -> "Discount | None":
        return None if not data else cls(data["kind"], Decimal(data["value"]))


@dataclass(frozen=True)
class PriceInput:
    qty: int
    unit_price_paisa: int
    tax_rate_bp: int
    discount: Discount | None = None
    tax_inclusive: bool | None = None  # None: the shop's setting; True for Third Schedule goods
    promo_paisa: int = 0   # what automatic promotions take off this line, before the manual discount


@dataclass(frozen=True)
class PricedLine:
    qty: int
    unit_price_paisa: int
    gross_paisa: int
    line_discount_paisa: int
    order_discount_paisa: int
    tax_rate_bp: int
    tax_paisa: int
    value_excl_paisa: int   # after discounts, before tax
    total_paisa: int        # what the customer pays for the line
    promo_paisa: int = 0        # the promotions' part of line_discount_paisa
    order_promo_paisa: int = 0  # the bill promotions' part of order_discount_paisa

    @property
    def discount_paisa(self) -> int:
        return self.line_discount_paisa + self.order_discount_paisa


@dataclass(frozen=True)
class Totals:
    subtotal_paisa: int
    discount_paisa: int
    tax_paisa: int
    total_paisa: int


def measured_price_paisa(unit_price_paisa: int, quantity: Decimal) -> int:
    """Goods sold by the metre or kilo: the unit price times the measured quantity, rounded
    half-up to the paisa once (the line then sells as one unit at this price)."""
    if isinstance(quantity, float) or not isinstance(quantity, Decimal):
        raise PricingError(f"a measured quantity must be a Decimal, not {quantity!r}")
    if not quantity.is_finite() or quantity <= 0:
        raise PricingError(f"a measured quantity must be more than zero, not {quantity}")
    if unit_price_paisa < 0:
        raise PricingError("a price cannot be negative")
    return round_half_up(Decimal(unit_price_paisa) * quantity)


def check_qty(qty: object) -> int:
    if isinstance(qty, bool) or not isinstance(qty, int):
        raise PricingError(f"quantity must be a whole number, not {qty!r}")
    if qty <= 0:
        raise PricingError(f"quantity must be at least 1, not {qty}")
    if qty > MAX_QTY:
        raise PricingError(f"quantity {qty} is more than {MAX_QTY}; check the entry")
    return qty


def price_lines(inputs: list[PriceInput], order_discount: Discount | None,
                prices_include_tax: bool, order_promo_paisa: int = 0) -> tuple[list[PricedLine], Totals]:
    """Promotions come in as amounts already worked out (promotions.py): a line's promotion is
    taken off before its manual discount, the bill promotions before the manual order discount,
    each spread over the lines like the order discount."""
    if not inputs:
        raise PricingError("an order needs at least one line")
    gross, after_line = [], []
    for item in inputs:
        check_qty(item.qty)
        if item.unit_price_paisa < 0:
            raise PricingError("a price cannot be negative")
        g = item.qty * item.unit_price_paisa
        if item.promo_paisa < 0 or item.promo_paisa > g:
            raise PricingError(f"a promotion of {item.promo_paisa} paisa does not fit a line worth {g}")
        d = item.promo_paisa + (item.discount.paisa_of(g - item.promo_paisa) if item.discount else 0)
        gross.append(g)
        after_line.append((g, d))
    weights = [g - d for g, d in after_line]
    base = sum(weights)
    if order_promo_paisa < 0 or order_promo_paisa > base:
        raise PricingError(f"bill promotions of {order_promo_paisa} paisa do not fit a bill worth {base}")
    promo_shares = spread(order_promo_paisa, weights)
    weights = [w - p for w, p in zip(weights, promo_shares)]
    manual = order_discount.paisa_of(base - order_promo_paisa) if order_discount else 0
    shares = [p + m for p, m in zip(promo_shares, spread(manual, weights))]

    lines = []
    for item, (g, d), share, pshare in zip(inputs, after_line, shares, promo_shares):
        net = g - d - share
        inclusive = prices_include_tax if item.tax_inclusive is None else item.tax_inclusive
        rate = Decimal(item.tax_rate_bp) / 10000
        if inclusive:
            tax = round_half_up(Decimal(net) * rate / (1 + rate))
            total, excl = net, net - tax
        else:
            tax = round_half_up(Decimal(net) * rate)
            total, excl = net + tax, net
        lines.append(PricedLine(item.qty, item.unit_price_paisa, g, d, share, item.tax_rate_bp,
                                tax, excl, total, item.promo_paisa, pshare))
    totals = Totals(
        subtotal_paisa=sum(l.gross_paisa for l in lines),
        discount_paisa=sum(l.discount_paisa for l in lines),
        tax_paisa=sum(l.tax_paisa for l in lines),
        total_paisa=sum(l.total_paisa for l in lines),
    )
    return lines, totals
