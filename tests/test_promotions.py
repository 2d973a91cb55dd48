"""Promotions as pure arithmetic: each kind with its edge cases, combination rules, and a property
test that no set of promotions can make an order's totals disagree with its lines."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

from hypothesis import given, settings, strategies as st

from pos_core.pricing import Discount, PriceInput, price_lines
from pos_core.promotions import Item, Rule, evaluate, in_window


def items(*specs):
    return [Item(sku, cat, qty, price) for sku, cat, qty, price in specs]


def test_item_percent_only_on_its_category():
    out = evaluate([Rule(1, "Lawn 20%", "item_percent", 2000, category="Lawn")],
                   items(("A", "Lawn", 2, 1000_00), ("B", "Shoes", 1, 500_00)))
    assert out.line_promo == [400_00, 0] and out.names_for(0) == ["Lawn 20%"] and out.names_for(1) == []


def test_item_amount_is_per_unit_and_never_more_than_the_line():
    out = evaluate([Rule(1, "Rs 300 off", "item_amount", 300_00, skus=("A",))], items(("A", "", 3, 200_00)))
    assert out.line_promo == [600_00]   # 3 × Rs 300 would be 900: capped at the line's 600


def test_buy_two_get_one_cheapest_free_and_ties():
    rule = Rule(1, "3 for 2", "bxgy", buy_qty=2, get_qty=1, category="Socks")
    out = evaluate([rule], items(("A", "Socks", 1, 300_00), ("B", "Socks", 1, 200_00), ("C", "Socks", 1, 200_00)))
    assert sum(out.line_promo) == 200_00
    # The saving is spread over the three lines by value, so a refund of one unit gives back its real price.
    assert out.line_promo == [85_72, 57_14, 57_14]
    same = evaluate([rule], items(("C", "Socks", 1, 200_00), ("B", "Socks", 1, 200_00), ("A", "Socks", 1, 300_00)))
    assert sum(same.line_promo) == 200_00     # a tie for cheapest: the same saving whichever line it is
    assert evaluate([rule], items(("A", "Socks", 2, 300_00))).line_promo == [0]   # two is not three
    assert sum(evaluate([rule], items(("A", "Socks", 7, 100_00))).line_promo) == 200_00  # two groups of 3


def test_buy_x_get_a_fixed_item():
    rule = Rule(1, "Shoes + free socks", "bxgy", buy_qty=1, get_qty=1, category="Shoes", free_sku="SOCK")
    out = evaluate([rule], items(("SH", "Shoes", 2, 5000_00), ("SOCK", "Acc", 3, 300_00)))
    assert sum(out.line_promo) == 600_00     # two pairs of shoes: two pairs of socks free, not three
    assert evaluate([rule], items(("SH", "Shoes", 1, 5000_00))).line_promo == [0]   # no socks in the cart


def test_bundle_price():
    rule = Rule(1, "Suit + dupatta Rs 4000", "bundle", skus=("SUIT", "DUP"), bundle_price_paisa=4000_00)
    out = evaluate([rule], items(("SUIT", "", 2, 3500_00), ("DUP", "", 1, 1000_00)))
    assert sum(out.line_promo) == 500_00      # one bundle: the second suit is full price
    assert evaluate([rule], items(("SUIT", "", 1, 3500_00))).line_promo == [0]


def test_spend_over_threshold_on_the_bill():
    rule = Rule(1, "Rs 500 off over 5000", "bill_amount", 500_00, min_spend_paisa=5000_00)
    assert evaluate([rule], items(("A", "", 1, 4999_99))).order_promo == 0
    assert evaluate([rule], items(("A", "", 1, 5000_00))).order_promo == 500_00
    # A manual discount that takes the bill under the threshold loses the promotion.
    under = [Item("A", "", 1, 5000_00, Discount("percent", Decimal("1")))]
    assert evaluate([rule], under).order_promo == 0


def test_combination_rules_and_priority():
    lawn = Rule(1, "Lawn 20%", "item_percent", 2000, category="Lawn", priority=5, combinable=False)
    all10 = Rule(2, "Eid 10%", "item_percent", 1000, priority=1)
    bill = Rule(3, "Bill Rs 100", "bill_amount", 100_00)
    cart = items(("A", "Lawn", 1, 1000_00), ("B", "Shoes", 1, 1000_00))
    out = evaluate([all10, lawn, bill], cart)
    # Lawn's exclusive promotion closes its line; Eid 10% still applies to the shoes; the bill
    # promotion does not combine with an exclusive one.
    assert out.line_promo == [200_00, 100_00] and out.order_promo == 0
    both = evaluate([Rule(1, "A", "item_percent", 1000, priority=2), Rule(2, "B", "item_percent", 1000, priority=1)],
                    items(("A", "", 1, 1000_00)))
    assert both.line_promo == [190_00]        # 10% then 10% of what is left
    exclusive_bill = Rule(4, "Bill 50%", "bill_percent", 5000, combinable=False, priority=9)
    assert evaluate([exclusive_bill, all10], cart).order_promo == 0      # line promotions applied first
    assert evaluate([exclusive_bill], cart).order_promo == 1000_00


def test_time_windows_branches_and_happy_hour():
    now = dt.datetime(2026, 3, 30, 9, 0)      # 14:00 in Pakistan
    def p(**kw):
        base = dict(active=True, starts_at=None, ends_at=None, branches="", daily_from=None, daily_to=None)
        return SimpleNamespace(**(base | kw))
    assert in_window(p(starts_at=dt.datetime(2026, 3, 30), ends_at=dt.datetime(2026, 4, 2)), "LHR1", now)
    assert not in_window(p(ends_at=now), "LHR1", now)                 # ends exactly now: over
    assert not in_window(p(branches="KHI1,ISB1"), "LHR1", now)
    assert in_window(p(branches="KHI1, LHR1"), "LHR1", now)
    assert in_window(p(daily_from=13 * 60, daily_to=15 * 60), "LHR1", now)
    assert not in_window(p(daily_from=15 * 60, daily_to=17 * 60), "LHR1", now)
    assert in_window(p(daily_from=22 * 60, daily_to=2 * 60), "LHR1", dt.datetime(2026, 3, 30, 19, 30))  # 00:30 PKT
    assert not in_window(p(active=False), "LHR1", now)


rules_st = st.lists(st.one_of(
    st.builds(lambda v, c, pr, cb: Rule(None, "p", "item_percent", v, category=c, priority=pr, combinable=cb),
              st.integers(1, 10000), st.sampled_from(["", "X", "Y"]), st.integers(0, 3), st.booleans()),
    st.builds(lambda v, pr, cb: Rule(None, "a", "item_amount", v, priority=pr, combinable=cb),
              st.integers(1, 5000_00), st.integers(0, 3), st.booleans()),
    st.builds(lambda v, m, cb: Rule(None, "b", "bill_percent", v, min_spend_paisa=m, combinable=cb),
              st.integers(1, 10000), st.integers(0, 2000_00), st.booleans()),
    st.builds(lambda v, cb: Rule(None, "c", "bill_amount", v, combinable=cb), st.integers(1, 10000_00), st.booleans()),
    st.builds(lambda b, g, c: Rule(None, "x", "bxgy", buy_qty=b, get_qty=g, category=c),
              st.integers(1, 3), st.integers(1, 2), st.sampled_from(["", "X"])),
    st.builds(lambda p: Rule(None, "d", "bundle", skus=("S0", "S1"), bundle_price_paisa=p), st.integers(1, 3000_00)),
), max_size=6)
lines_st = st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["", "X", "Y"]), st.integers(1, 5),
                              st.integers(0, 3000_00), st.integers(0, 30), st.sampled_from([0, 1000, 1800])),
                    min_size=1, max_size=6)


@settings(max_examples=300, deadline=None)
@given(rules=rules_st, lines=lines_st, order_pct=st.integers(0, 50), inclusive=st.booleans())
def test_promotions_never_make_totals_inconsistent(rules, lines, order_pct, inclusive):
    cart = [Item(f"S{s}", c, q, p, Discount("percent", Decimal(d)) if d else None) for s, c, q, p, d, _ in lines]
    out = evaluate(rules, cart)
    gross = [it.qty * it.unit_price_paisa for it in cart]
    assert all(0 <= a <= g for a, g in zip(out.line_promo, gross))
    assert sum(a.amount_paisa for a in out.applied) == out.total_paisa
    inputs = [PriceInput(it.qty, it.unit_price_paisa, tax, it.discount, None, a)
              for it, a, (*_, tax) in zip(cart, out.line_promo, lines)]
    priced, totals = price_lines(inputs, Discount("percent", Decimal(order_pct)) if order_pct else None,
                                 inclusive, out.order_promo)
    assert totals.subtotal_paisa == sum(gross)
    assert totals.discount_paisa == sum(l.discount_paisa for l in priced) >= out.total_paisa
    assert totals.total_paisa == sum(l.total_paisa for l in priced)
    assert sum(l.order_promo_paisa for l in priced) == out.order_promo
    for l in priced:
        assert 0 <= l.discount_paisa <= l.gross_paisa
        assert l.value_excl_paisa + l.tax_paisa == l.total_paisa
        net = l.gross_paisa - l.discount_paisa
        assert (l.total_paisa if inclusive else l.value_excl_paisa) == net
        assert l.promo_paisa <= l.line_discount_paisa and l.order_promo_paisa <= l.order_discount_paisa
