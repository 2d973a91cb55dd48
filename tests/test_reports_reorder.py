"""Reorder and rebalancing suggestions: the forecasting method on its own, then against the ledger."""
from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings, strategies as st

from pos_core import ledger
from pos_core.ledger import Movement
from pos_core.models import StockMovement
from pos_core.reports import Filters, reorder

S = reorder.Settings(lead_days=7, review_days=7, history_days=56)
MONDAY = dt.date(2027, 1, 4)


def test_steady_demand_forecasts_the_rate_times_the_horizon_without_safety():
    fc = reorder.forecast([2] * 56, MONDAY, S)
    assert fc.level == pytest.approx(2) and fc.factors == (1.0,) * 7
    assert fc.demand == pytest.approx(28) and fc.safety == 0


def test_weekday_seasonality_puts_the_demand_on_fridays():
    daily = [7 if (MONDAY + dt.timedelta(days=i)).weekday() == 4 else 0 for i in range(56)]
    fc = reorder.forecast(daily, MONDAY, S)
    assert fc.factors[4] == pytest.approx(7) and fc.factors[0] == 0
    assert fc.demand == pytest.approx(14)      # two Fridays in the next 14 days, 7 each
    assert fc.safety > 0                        # the days are uneven, so some safety stock


def test_smoothing_follows_a_change_in_the_rate():
    fc = reorder.forecast([1] * 28 + [5] * 28, MONDAY, S)
    assert 3 < fc.level < 5                     # moved most of the way to the new rate
    flat = reorder.forecast([5] * 56, MONDAY, S)
    assert fc.level < flat.level


def _sell_daily(site, variant, branch, per_day: int, days: int, end: dt.date):
    for i in range(days):
        day = end - dt.timedelta(days=i)
        key = f"sale:test:{variant.sku}:{branch.code}:{day}"
        ledger.record(Movement(key, variant.id, branch.id, -per_day, "sale", "pos_order", key))
        when = dt.datetime.combine(day, dt.time(12)) - dt.timedelta(hours=5)
        StockMovement.update(created_at=when).where(StockMovement.event_key == key).execute()


def test_suggestion_and_rebalancing_against_the_ledger(site):
    end = dt.date(2027, 2, 28)
    # Karachi sells one suit a day: 50 opening - 56 sold + 10 found = 4 on hand.
    _sell_daily(site, site.suit, site.khi, 1, 56, end)
    ledger.record(Movement("adjust:found", site.suit.id, site.khi.id, 10, "adjustment", "adjustment", "ADJ-1"))
    f = Filters(dt.date(2027, 2, 1), end)
    rep = reorder.suggestions(f, S)
    row = rep.row(branch="KHI1", sku="1002")
    # need = ceil(14 x 1 + 0 safety) = 14; 14 - 4 on hand = 10
    assert (row["on_hand"], row["incoming"], row["qty"]) == (4, 0, 10)
    assert rep.row(branch="KHI1", sku="1002")["per_day"] == 1.0
    # Lahore has 50 suits and sells none: they should move before anything is bought.
    moves = reorder.rebalancing(f, S)
    assert moves.rows == [["LHR1", "KHI1", "1002", "Item 1002", 10, "unsold there", 4]]
    # A branch filter shows only that branch's needs.
    assert reorder.suggestions(Filters(f.start, f.end, branch_id=site.lhr.id), S).rows == []


def test_incoming_transfers_reduce_the_suggestion(site):
    from pos_core import transfers
    end = dt.date(2027, 2, 28)
    _sell_daily(site, site.suit, site.khi, 1, 56, end)
    ledger.record(Movement("adjust:found", site.suit.id, site.khi.id, 10, "adjustment", "adjustment", "ADJ-1"))
    t = transfers.create(site.lhr.id, site.khi.id, site.manager.id, [transfers.TransferItem(site.suit.id, 6)])
    transfers.dispatch(t.number, site.manager.id, shopify_enabled=False)
    row = reorder.suggestions(Filters(dt.date(2027, 2, 1), end), S).row(branch="KHI1", sku="1002")
    assert (row["incoming"], row["qty"]) == (6, 4)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.integers(0, 55), st.integers(1, 9), max_size=20), st.integers(0, 6),
       st.sampled_from([0.1, 0.2, 0.5]))
def test_the_sparse_forecast_is_the_same_arithmetic(days, offset, alpha):
    first = MONDAY + dt.timedelta(days=offset)
    s = reorder.Settings(alpha=alpha)
    daily = [days.get(i, 0) for i in range(56)]
    if not any(daily):
        return
    dense, sparse = reorder.forecast(daily, first, s), reorder.forecast_sparse(days, 56, first, s)
    assert sparse.factors == pytest.approx(dense.factors)
    assert sparse.level == pytest.approx(dense.level, rel=1e-9, abs=1e-12)
    assert sparse.demand == pytest.approx(dense.demand, rel=1e-9, abs=1e-12)
    assert sparse.safety == pytest.approx(dense.safety, rel=1e-9, abs=1e-12)


def test_stored_forecasts_give_what_the_ledger_gives(site, monkeypatch):
    """The reorder and rebalancing reports from the stored forecasts equal the forecast computed
    straight from the ledger (every filter), say when they were computed, and are recomputed when
    a forecast for an open day gets old."""
    from pos_core import transfers
    from pos_core.models import SummaryWatermark
    from pos_core.reports import summary
    end = dt.date(2027, 2, 28)
    _sell_daily(site, site.suit, site.khi, 1, 56, end)
    _sell_daily(site, site.kurta, site.lhr, 2, 40, end)
    _sell_daily(site, site.kurta, site.khi, 3, 20, end - dt.timedelta(days=3))
    _sell_daily(site, site.book, site.lhr, 1, 9, end)
    t = transfers.create(site.lhr.id, site.khi.id, site.manager.id, [transfers.TransferItem(site.suit.id, 6)])
    transfers.dispatch(t.number, site.manager.id, shopify_enabled=False)
    filters = [Filters(dt.date(2027, 2, 1), end), Filters(dt.date(2027, 1, 1), end, branch_id=site.khi.id),
               Filters(dt.date(2027, 2, 1), end, category="Apparel")]
    from pos_core.models import Product
    Product.update(category="Apparel").execute()
    clock = [dt.datetime(2027, 3, 1, 10)]          # the day after `end`, closed
    monkeypatch.setattr(summary, "now", lambda: clock[0])
    got = {(fn.__name__, i): fn(f) for fn in (reorder.suggestions, reorder.rebalancing) for i, f in enumerate(filters)}
    assert any("Forecast as of 2027-03-01 15:00" in n for n in got[("suggestions", 0)].notes)
    assert got[("suggestions", 0)].rows and got[("rebalancing", 0)].rows
    stamp = SummaryWatermark.get(SummaryWatermark.name == "reorder_forecast").updated_at
    monkeypatch.setattr(reorder, "USE_STORED", False)
    for (name, i), rep in got.items():
        direct = getattr(reorder, name)(filters[i])
        assert rep.rows == direct.rows, (name, filters[i])
        assert not any("as of" in n for n in direct.notes)
    monkeypatch.setattr(reorder, "USE_STORED", True)
    # A closed day's forecast is reused however old; an open day's only for an hour.
    clock[0] = dt.datetime(2027, 3, 9)
    reorder.suggestions(filters[0])
    assert SummaryWatermark.get(SummaryWatermark.name == "reorder_forecast").updated_at == stamp
    today = Filters(dt.date(2027, 3, 1), dt.date(2027, 3, 9))
    reorder.suggestions(today)
    first = SummaryWatermark.get(SummaryWatermark.name == "reorder_forecast").updated_at
    clock[0] += dt.timedelta(minutes=30)
    reorder.suggestions(today)
    assert SummaryWatermark.get(SummaryWatermark.name == "reorder_forecast").updated_at == first
    clock[0] += dt.timedelta(hours=1)
    reorder.suggestions(today)
    assert SummaryWatermark.get(SummaryWatermark.name == "reorder_forecast").updated_at > first
