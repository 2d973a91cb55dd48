"""The sale being rung up: plain Python, no widgets, priced by pos_core.pricing.

The screen renders a Cart; the sale is completed from `sale_lines()`. Keeping it apart from the
widgets means a redraw can never lose a line, and parking a draft stores exactly this.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pricing, promotions and the sale services load on first use, not at start-up
    from pos_core.models import Customer, Variant
    from pos_core.pricing import Discount
    from pos_core.promotions import Outcome
    from pos_core.sales import SaleLine


@dataclass
class CartLine:
    variant_id: int
    sku: str
    name: str
    option: str
    qty: int
    catalog_price_paisa: int
    tax_rate_bp: int
    third_schedule: bool
    override_paisa: int | None = None
    discount: Discount | None = None
    # A price- or quantity-embedded label (fabric by the metre): the code fixes the price; the
    # sale reads it again, so this is not a price override. Always one unit, never merged.
    scanned_code: str | None = None
    measured_paisa: int | None = None
    category: str = ""
    salesperson_id: int | None = None
    salesperson: str = ""

    @property
    def price_paisa(self) -> int:
        if self.measured_paisa is not None:
            return self.measured_paisa
        return self.catalog_price_paisa if self.override_paisa is None else self.override_paisa

    @classmethod
    def of(cls, v: "Variant", qty: int = 1) -> "CartLine":
        return cls(v.id, v.sku, v.name, v.option_text, qty, v.price_paisa, v.tax_rate_bp, v.third_schedule,
                   category=v.product.category)


@dataclass
class Cart:
    prices_include_tax: bool = True
    lines: list[CartLine] = field(default_factory=list)
    order_discount: Discount | None = None
    customer: "Customer | None" = None
    draft_uid: str | None = None
    approver_id: int | None = None     # who approved a discount or override beyond the limit
    approver_name: str = ""
    # Promotions running at this branch (promotions.Rule), loaded by the app; the same rules the
    # core applies when the sale completes, so the screen shows what the receipt will.
    rules: list = field(default_factory=list)
    coupon_code: str = ""
    coupon_rule: object | None = None
    salesperson_id: int | None = None  # the badge scanned last: lines added from now on are theirs
    salesperson: str = ""

    def add_measured(self, measured) -> int:
        """A scanned price/quantity label (pos_core.barcodes.MeasuredLine): a line of its own."""
        v = measured.variant
        line = CartLine(v.id, v.sku, measured.description, v.option_text, 1, v.price_paisa, v.tax_rate_bp,
                        v.third_schedule, scanned_code=measured.embedded.code, measured_paisa=measured.price_paisa,
                        category=v.product.category, salesperson_id=self.salesperson_id, salesperson=self.salesperson)
        self.lines.append(line)
        return len(self.lines) - 1

    def add(self, v: "Variant", qty: int = 1) -> int:
        """Add an item, or one more of it if it is already on a plain line; returns the index."""
        for i, line in enumerate(self.lines):
            if (line.variant_id == v.id and line.override_paisa is None and line.discount is None
                    and line.scanned_code is None and line.salesperson_id == self.salesperson_id):
                line.qty += qty
                return i
        line = CartLine.of(v, qty)
        line.salesperson_id, line.salesperson = self.salesperson_id, self.salesperson
        self.lines.append(line)
        return len(self.lines) - 1

    def clear(self) -> None:
        self.lines.clear()
        self.order_discount = self.customer = self.draft_uid = self.approver_id = None
        self.approver_name = ""
        self.coupon_code, self.coupon_rule = "", None
        self.salesperson_id, self.salesperson = None, ""

    def sale_lines(self) -> list["SaleLine"]:
        from pos_core.sales import SaleLine
        return [SaleLine(l.variant_id, l.qty,
                         None if l.override_paisa is None else Decimal(l.override_paisa) / 100, l.discount,
                         l.scanned_code, l.salesperson_id)
                for l in self.lines]

    def outcome(self) -> Outcome | None:
        rules = self.rules + ([self.coupon_rule] if self.coupon_rule is not None else [])
        if not rules or not self.lines:
            return None
        from pos_core.promotions import Item, evaluate
        return evaluate(rules, [Item(l.sku, l.category, l.qty, l.price_paisa, l.discount) for l in self.lines])

    def priced(self, outcome: Outcome | None = None):
        """(priced lines, totals) or ([], None) for an empty cart. Raises PricingError."""
        if not self.lines:
            return [], None
        from pos_core.pricing import PriceInput, price_lines
        outcome = outcome if outcome is not None else self.outcome()
        inputs = [PriceInput(l.qty, l.price_paisa, l.tax_rate_bp, l.discount, True if l.third_schedule else None,
                             outcome.line_promo[i] if outcome else 0)
                  for i, l in enumerate(self.lines)]
        return price_lines(inputs, self.order_discount, self.prices_include_tax,
                           outcome.order_promo if outcome else 0)

    def total_paisa(self, service_fee_paisa: int = 0) -> int:
        from pos_core.pricing import PricingError
        try:
            _, totals = self.priced()
        except PricingError:
            return 0
        return (totals.total_paisa + service_fee_paisa) if totals else 0
