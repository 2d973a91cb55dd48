"""Money and tax arithmetic: the rounding cases that break naive code."""
from decimal import Decimal as D

import pytest

from pos_core.money import MoneyError, fmt, prorate, spread, to_paisa, to_rupees
from pos_core.pricing import Discount, PriceInput, PricingError, price_lines


def test_to_paisa_accepts_text_and_decimal_exactly():
    assert to_paisa("1,250.50") == 125050
    assert to_paisa(D("99.99")) == 9999
    assert to_paisa("Rs 10") == 1000
    assert to_rupees(125050) == D("1250.50")
    assert fmt(123456789) == "1,234,567.89"
    assert fmt(-50) == "-0.50"


@pytest.mark.parametrize("bad", [0.1, "abc", "1.005", D("NaN"), "1e30", True])
def test_to_paisa_refuses_what_cannot_be_money(bad):
    with pytest.raises(MoneyError):
        to_paisa(bad)


def test_spread_adds_up_exactly_and_is_stable():
    assert spread(10000, [33333, 33333, 33333]) == [3334, 3333, 3333]
    assert sum(spread(1, [1, 1, 1])) == 1
    assert spread(0, [5, 7]) == [0, 0]
    parts = spread(99999, [17, 1, 123456, 5])
    assert sum(parts) == 99999


def test_prorate_rounds_half_up():
    assert prorate(101, 1, 2) == 51
    assert prorate(100, 1, 3) == 33
    assert prorate(200, 1, 3) == 67


def test_three_units_at_99_99_inclusive_18pct_tax_per_line_not_per_unit():
    lines, totals = price_lines([PriceInput(3, 9999, 1800)], None, prices_include_tax=True)
    line = lines[0]
    # 299.97 * 18/118 = 45.7581... -> 45.76; per-unit rounding would give 3 * 15.25 = 45.75.
    assert line.tax_paisa == 4576
    assert line.total_paisa == 29997
    assert line.value_excl_paisa == 29997 - 4576
    assert totals.total_paisa == 29997 and totals.tax_paisa == 4576


def test_order_discount_of_100_over_three_lines_of_333_33_adds_up():
    inputs = [PriceInput(1, 33333, 1800) for _ in range(3)]
    lines, totals = price_lines(inputs, Discount("amount", D("100")), prices_include_tax=True)
    assert [l.order_discount_paisa for l in lines] == [3334, 3333, 3333]
    assert sum(l.order_discount_paisa for l in lines) == 10000
    assert totals.total_paisa == 99999 - 10000
    assert totals.subtotal_paisa - totals.discount_paisa == totals.total_paisa
    assert sum(l.tax_paisa for l in lines) == totals.tax_paisa


def test_zero_rated_lines_mixed_with_18pct():
    inputs = [PriceInput(2, 50000, 0), PriceInput(1, 11800, 1800)]
    lines, totals = price_lines(inputs, Discount("percent", D("10")), prices_include_tax=True)
    assert lines[0].tax_paisa == 0
    assert lines[0].value_excl_paisa == lines[0].total_paisa
    # 118.00 less 10% = 106.20 -> tax 106.20*18/118 = 16.20
    assert lines[1].total_paisa == 10620 and lines[1].tax_paisa == 1620
    assert totals.total_paisa == 90000 + 10620


def test_tax_exclusive_prices_add_tax_on_top():
    lines, totals = price_lines([PriceInput(3, 9999, 1800)], None, prices_include_tax=False)
    # 299.97 * 0.18 = 53.9946 -> 53.99
    assert lines[0].tax_paisa == 5399
    assert totals.total_paisa == 29997 + 5399
    assert totals.subtotal_paisa - totals.discount_paisa + totals.tax_paisa == totals.total_paisa


def test_third_schedule_is_tax_inclusive_even_in_an_exclusive_shop():
    lines, _ = price_lines([PriceInput(1, 129900, 1800, tax_inclusive=True)], None, prices_include_tax=False)
    assert lines[0].total_paisa == 129900
    assert lines[0].tax_paisa == 19815  # 1299 * 18/118 = 198.1525


def test_line_discounts_amount_and_percent():
    lines, _ = price_lines([PriceInput(2, 10000, 1800, Discount("amount", D("15.50"))),
                            PriceInput(1, 3333, 1800, Discount("percent", D("12.5")))], None, True)
    assert lines[0].line_discount_paisa == 1550
    assert lines[1].line_discount_paisa == 417  # 33.33 * 12.5% = 4.16625 -> 4.17


@pytest.mark.parametrize("make", [
    lambda: price_lines([PriceInput(0, 100, 1800)], None, True),
    lambda: price_lines([PriceInput(-1, 100, 1800)], None, True),
    lambda: price_lines([PriceInput(10 ** 6, 100, 1800)], None, True),
    lambda: price_lines([PriceInput(1, 100, 1800, Discount("amount", D("2")))], None, True),
    lambda: price_lines([], None, True),
    lambda: Discount("percent", D("101")),
    lambda: Discount("amount", D("-1")),
])
def test_bad_quantities_and_discounts_are_refused(make):
    with pytest.raises(PricingError):
        make()
