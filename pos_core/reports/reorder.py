"""Reorder and rebalancing suggestions from sales velocity.

The method, per item and branch (documented here so a test can hold it to it):

1. Demand history: units sold each Pakistan day (counter sales and online orders packed there)
   over the `history_days` up to the period's last day, days without a sale counted as 0.
2. Weekday seasonality: factor(w) = mean units on weekday w / mean units per day (1 when
   nothing sold), so a Friday-heavy item gets a Friday factor above 1.
3. Level: simple exponential smoothing (alpha) of the de-seasonalised series (units / factor),
   started from the mean of the first week; weekdays that never sell (factor 0) are skipped.
4. Forecast for the next `lead_days + review_days` days: Σ level x factor(weekday of the day).
5. Safety stock: z x standard deviation of daily units x √(lead + review days).
6. Suggestion = ceil(forecast + safety) − on hand − incoming (transfers on their way in and
   purchase-order units not yet received), if above zero.

Rebalancing: for each item, a branch whose on hand is above its own need (forecast + safety, zero
for an item that does not sell there) gives its surplus to branches with a suggestion, largest
surplus to largest need first, before anything is bought. Quantities are units (floats are fine
for a forecast of units; money stays Decimal).
"""
from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass

from .. import db
from .common import Column, Filters, Report, pk_day, query, rupees
from .stock import unit_costs

DEMAND_KINDS = ("sale", "pack")


@dataclass(frozen=True)
class Settings:
    lead_days: int = 7
    review_days: int = 7
    history_days: int = 56
    alpha: float = 0.2
    z: float = 1.65

    @property
    def horizon(self) -> int:
        return self.lead_days + self.review_days


@dataclass(frozen=True)
class Forecast:
    level: float                 # de-seasonalised units per day
    factors: tuple[float, ...]   # Monday .. Sunday
    demand: float                # units over the horizon
    safety: float


def forecast(daily: list[int], first_day: dt.date, settings: Settings) -> Forecast:
    """`daily[i]` is units sold on first_day + i; the horizon starts the day after the last."""
    n = len(daily)
    mean = sum(daily) / n if n else 0.0
    factors = []
    for w in range(7):
        same = [d for i, d in enumerate(daily) if (first_day + dt.timedelta(days=i)).weekday() == w]
        factors.append((sum(same) / len(same)) / mean if same and mean else 1.0)
    # A weekday that never sells (factor 0) says nothing about the level: it is left out.
    weekdays = [(first_day + dt.timedelta(days=i)).weekday() for i in range(n)]
    deseason = [d / factors[w] for d, w in zip(daily, weekdays) if factors[w]]
    first_week = [d / factors[w] for d, w in zip(daily[:7], weekdays[:7]) if factors[w]] or deseason[:1]
    level = sum(first_week) / len(first_week) if first_week else 0.0
    for x in deseason[len(first_week):]:
        level = settings.alpha * x + (1 - settings.alpha) * level
    start = first_day + dt.timedelta(days=n)
    demand = sum(level * factors[(start + dt.timedelta(days=k)).weekday()] for k in range(settings.horizon))
    sd = math.sqrt(sum((d - mean) ** 2 for d in daily) / n) if n else 0.0
    return Forecast(level, tuple(factors), demand, settings.z * sd * math.sqrt(settings.horizon))


def _weekday_counts(first_day: dt.date, n: int) -> list[int]:
    counts = [0] * 7
    for i in range(n):
        counts[(first_day + dt.timedelta(days=i)).weekday()] += 1
    return counts


def _active_before(i: int, active: list[int], wd0: int) -> int:
    """How many days j < i of the window fall on one of the `active` weekdays."""
    total = 0
    for w in active:
        c = (w - wd0) % 7
        if i > c:
            total += (i - c - 1) // 7 + 1
    return total


def forecast_sparse(days: dict[int, int], n: int, first_day: dt.date, settings: Settings,
                    counts: list[int] | None = None) -> Forecast:
    """`forecast` for a series given only by its days with sales ({day index: units}), which is
    what nearly every item is: the same arithmetic, with runs of zero days folded into one
    power of (1 - alpha). `forecast` stays the definition; a test holds the two equal."""
    if n < 7:
        daily = [0] * n
        for i, d in days.items():
            daily[i] = d
        return forecast(daily, first_day, settings)
    counts = counts or _weekday_counts(first_day, n)
    wd0 = first_day.weekday()
    total = sum(days.values())
    mean = total / n
    sums = [0] * 7
    for i, d in days.items():
        sums[(wd0 + i) % 7] += d
    factors = [(sums[w] / counts[w]) / mean if counts[w] and mean else 1.0 for w in range(7)]
    active = [w for w in range(7) if factors[w]]
    entries = sorted(days.items())
    # With a week or more of history every weekday occurs in the first week, so at least one
    # active day starts the level (active is never empty: no sales means every factor is 1).
    first_n = _active_before(7, active, wd0)
    level = sum(d / factors[(wd0 + i) % 7] for i, d in entries if i < 7 and factors[(wd0 + i) % 7]) / first_n
    pos = start_i = 7             # the next day index to fold in
    keep = 1 - settings.alpha
    for i, d in entries:
        if i < start_i:
            continue
        w = (wd0 + i) % 7
        zeros = _active_before(i, active, wd0) - _active_before(pos, active, wd0)
        level *= keep ** zeros
        if factors[w]:
            level = settings.alpha * (d / factors[w]) + keep * level
        pos = i + 1
    level *= keep ** (_active_before(n, active, wd0) - _active_before(pos, active, wd0))
    start = first_day + dt.timedelta(days=n)
    demand = sum(level * factors[(start + dt.timedelta(days=k)).weekday()] for k in range(settings.horizon))
    sq = sum((d - mean) ** 2 for d in days.values()) + (n - len(days)) * mean ** 2
    sd = math.sqrt(sq / n)
    return Forecast(level, tuple(factors), demand, settings.z * sd * math.sqrt(settings.horizon))


def _history(f: Filters, settings: Settings) -> tuple[dt.date, dict[tuple[int, int], dict[int, int]]]:
    first = f.end - dt.timedelta(days=settings.history_days - 1)
    window = Filters(first, f.end)
    kinds = ", ".join(f"'{k}'" for k in DEMAND_KINDS)
    day = pk_day("m.created_at")
    series: dict[tuple[int, int], dict[int, int]] = defaultdict(dict)
    cat_join, params = "", [window.start_utc, window.end_utc]
    if f.category is not None:
        cat_join = " JOIN variant v ON v.id = m.variant_id JOIN product pr ON pr.id = v.product_id AND pr.category = ?"
        params = [f.category] + params
    for variant_id, branch_id, d, units in query(
            f"SELECT m.variant_id, m.branch_id, {day}, SUM(-m.delta) FROM stock_movement m{cat_join} "
            f"WHERE m.kind IN ({kinds}) AND m.created_at >= ? AND m.created_at < ? "
            f"GROUP BY m.variant_id, m.branch_id, {day}", params):
        i = (dt.date.fromisoformat(d) - first).days
        if 0 <= i < settings.history_days:
            one = series[(int(variant_id), int(branch_id))]
            one[i] = one.get(i, 0) + int(units or 0)
    return first, series


def _incoming() -> dict[tuple[int, int], int]:
    got: dict[tuple[int, int], int] = defaultdict(int)
    for v, b, q in query("SELECT tl.variant_id, t.to_branch_id, SUM(tl.qty_sent) FROM transfer_line tl "
                         "JOIN transfer t ON t.id = tl.transfer_id WHERE t.status = 'DISPATCHED' "
                         "GROUP BY tl.variant_id, t.to_branch_id"):
        got[(int(v), int(b))] += int(q or 0)
    for v, b, q in query("SELECT pl.variant_id, po.branch_id, SUM(pl.qty_ordered - pl.qty_received) "
                         "FROM purchase_order_line pl JOIN purchase_order po ON po.id = pl.order_id "
                         "WHERE po.status IN ('OPEN', 'PARTIAL') AND pl.qty_ordered > pl.qty_received "
                         "GROUP BY pl.variant_id, po.branch_id"):
        got[(int(v), int(b))] += int(q or 0)
    return got


def _in_chunks(sql: str, ids: list[int]) -> list[tuple]:
    """`sql` with `IN ({ids})`, run in chunks (a chain sells tens of thousands of items a month)."""
    out: list[tuple] = []
    ids = sorted(set(ids))
    for i in range(0, len(ids), 900):
        part = ids[i:i + 900]
        out += query(sql.replace("{ids}", ", ".join("?" * len(part))), part)
    return out


def _levels(variant_ids: list[int]) -> dict[tuple[int, int], int]:
    """Stock levels of these items at every branch (only the items that sold are ever needed)."""
    return {(int(v), int(b)): int(q) for v, b, q in
            _in_chunks("SELECT variant_id, branch_id, on_hand FROM stock_level WHERE variant_id IN ({ids})", variant_ids)}


def _names(variant_ids: list[int]) -> tuple[dict[int, tuple[str, str]], dict[int, str]]:
    variants = {int(i): (s, n) for i, s, n in _in_chunks("SELECT id, sku, name FROM variant WHERE id IN ({ids})",
                                                          variant_ids)}
    branches = {int(i): c for i, c in query("SELECT id, code FROM branch")}
    return variants, branches


def compute_needs(f: Filters, settings: Settings = Settings()) -> list[dict]:
    """Every item and branch that sold in the history window, with its forecast and suggestion,
    computed from the ledger now (the definition the stored forecasts are held to)."""
    first, series = _history(f, settings)
    counts = _weekday_counts(first, settings.history_days)
    forecasts = {key: forecast_sparse(days, settings.history_days, first, settings, counts)
                 for key, days in series.items()}
    return _with_levels(forecasts)


def _need(fc: Forecast) -> int:
    return math.ceil(fc.demand + fc.safety - 1e-9)


def _with_levels(forecasts: dict[tuple[int, int], Forecast],
                 levels: dict[tuple[int, int], int] | None = None) -> list[dict]:
    levels = _levels([v for v, _ in forecasts]) if levels is None else levels
    incoming = _incoming()
    out = []
    for (variant_id, branch_id), fc in forecasts.items():
        on_hand, coming = levels.get((variant_id, branch_id), 0), incoming.get((variant_id, branch_id), 0)
        need = _need(fc)
        out.append({"variant_id": variant_id, "branch_id": branch_id, "on_hand": on_hand, "incoming": coming,
                    "forecast": fc, "need": need, "suggest": max(0, need - on_hand - coming)})
    return out


# --- stored forecasts ---------------------------------------------------------------------------
# Forecasting every item at every branch (~150,000 series for a chain) takes seconds, and the
# answer for a closed day never changes. So the forecasts for the default settings are stored
# (`reorder_forecast`, one as-of day at a time): computed each night by the agent for yesterday,
# or by the first report that needs another day. A forecast for a day not yet closed (a period
# ending today) is reused for FRESH; the report says when it was computed. Levels and incoming
# stock are always read live. `compute_needs` stays the definition; a test holds the two equal.
USE_STORED = True
FRESH = dt.timedelta(hours=1)
_MARK = "reorder_forecast"


def _closed(day: dt.date, at: dt.datetime) -> bool:
    from .common import PK_OFFSET
    from .summary import SETTLE
    return at >= dt.datetime.combine(day + dt.timedelta(days=1), dt.time()) - PK_OFFSET + SETTLE


def store_forecasts(as_of: dt.date, settings: Settings = Settings()) -> dt.datetime:
    """Forecast every item and branch as of `as_of` from the ledger and store it; returns when."""
    from . import summary
    first, series = _history(Filters(as_of, as_of), settings)
    counts = _weekday_counts(first, settings.history_days)
    rows = []
    for (v, b), days in series.items():
        fc = forecast_sparse(days, settings.history_days, first, settings, counts)
        rows.append((v, b, fc.level, fc.demand, fc.safety, _need(fc)))
    at = summary.now()
    with db.write():   # computed above, outside the write lock; written in one short transaction
        query("DELETE FROM reorder_forecast", fetch=False)
        for i in range(0, len(rows), 500):
            chunk = rows[i:i + 500]
            query("INSERT INTO reorder_forecast (variant_id, branch_id, level, demand, safety, need) VALUES "
                  + ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(chunk)), [x for r in chunk for x in r], fetch=False)
        query("DELETE FROM summary_watermark WHERE name = ?", [_MARK], fetch=False)
        query("INSERT INTO summary_watermark (name, through_id, updated_at) VALUES (?, ?, ?)",
              [_MARK, as_of.toordinal(), at], fetch=False)
    return at


def stored_at(as_of: dt.date) -> dt.datetime | None:
    """When the stored forecasts for `as_of` were computed, if they may be used now."""
    from . import summary
    row = query("SELECT through_id, updated_at FROM summary_watermark WHERE name = ?", [_MARK])
    if not row or int(row[0][0]) != as_of.toordinal():
        return None
    at = row[0][1] if isinstance(row[0][1], dt.datetime) else dt.datetime.fromisoformat(str(row[0][1]))
    return at if _closed(as_of, at) or summary.now() - at < FRESH else None


def needs(f: Filters, settings: Settings = Settings(),
          short_only: bool = False) -> tuple[list[dict], dt.datetime | None]:
    """`compute_needs`, from the stored forecasts when they serve (the default settings), with
    the time they were computed (None: computed now). `short_only`: from the stored forecasts,
    only the items and branches whose need is above what they hold (the others cannot have a
    suggestion; incoming stock only lowers it)."""
    if not USE_STORED or settings != Settings():
        return compute_needs(f, settings), None
    from .summary import writes_allowed
    at = stored_at(f.end)
    if at is None and not writes_allowed():
        return compute_needs(f, settings), None
    at = at or store_forecasts(f.end, settings)
    where, params = ["1 = 1"], []
    if f.category is not None:
        where.append("r.variant_id IN (SELECT cv.id FROM variant cv JOIN product cp ON cp.id = cv.product_id "
                     "WHERE cp.category = ?)")
        params.append(f.category)
    if short_only:
        where.append("r.need > COALESCE(sl.on_hand, 0)")
    return _stored(query(f"{_STORED_SQL} WHERE {' AND '.join(where)} ORDER BY r.variant_id, r.branch_id", params)), at


_STORED_SQL = ("SELECT r.variant_id, r.branch_id, r.level, r.demand, r.safety, sl.on_hand FROM reorder_forecast r "
               "LEFT JOIN stock_level sl ON sl.variant_id = r.variant_id AND sl.branch_id = r.branch_id")


def _stored(rows: list[tuple]) -> list[dict]:
    forecasts, levels = {}, {}
    for v, b, lv, dm, sf, on_hand in rows:
        key = (int(v), int(b))
        forecasts[key] = Forecast(float(lv), (), float(dm), float(sf))
        if on_hand is not None:
            levels[key] = int(on_hand)
    return _with_levels(forecasts, levels)


def _as_of_note(at: dt.datetime | None) -> list[str]:
    from .common import PK_OFFSET
    if at is None:
        return []
    return [f"Forecast as of {(at + PK_OFFSET).strftime('%Y-%m-%d %H:%M')} (Pakistan time); levels are live."]


def suggestions(f: Filters, settings: Settings = Settings()) -> Report:
    """Per branch: what to order (a draft purchase order once exported)."""
    all_needs, at = needs(f, settings, short_only=True)
    wanted = [n["variant_id"] for n in all_needs if n["suggest"] > 0]
    variants, branches = _names(wanted)
    costs = unit_costs(wanted)
    rows = []
    for n in all_needs:
        if n["suggest"] <= 0 or (f.branch_id is not None and n["branch_id"] != f.branch_id):
            continue
        sku, name = variants[n["variant_id"]]
        cost = costs.get(n["variant_id"])
        rows.append([branches[n["branch_id"]], sku, name, n["on_hand"], n["incoming"],
                     round(n["forecast"].level, 2), round(n["forecast"].demand, 1), round(n["forecast"].safety, 1),
                     n["suggest"], rupees(cost) if cost is not None else None,
                     rupees(cost * n["suggest"]) if cost is not None else None])
    rows.sort(key=lambda r: (r[0], -r[8], r[1]))
    cols = [Column("branch", "Branch"), Column("sku", "SKU"), Column("name", "Item"), Column("on_hand", "On hand", "int"),
            Column("incoming", "Incoming", "int"), Column("per_day", "Per day", "dec"),
            Column("forecast", f"Next {settings.horizon}d", "dec"), Column("safety", "Safety", "dec"),
            Column("qty", "Order", "int"), Column("unit_cost", "Unit cost", "money"), Column("value", "Value", "money")]
    return Report("Reorder suggestions", cols, rows, filters=f, notes=[
        f"Exponential smoothing (alpha {settings.alpha}) with weekday factors over {settings.history_days} days; "
        f"lead {settings.lead_days} + review {settings.review_days} days; safety z={settings.z}."] + _as_of_note(at))


def rebalancing(f: Filters, settings: Settings = Settings()) -> Report:
    """Transfers from branches holding more than they need to branches that will run out."""
    all_needs, at = needs(f, settings, short_only=True)
    wanted_ids = [n["variant_id"] for n in all_needs if n["suggest"] > 0]
    variants, branches = _names(wanted_ids)
    if at is not None:   # stored: the other branches' own needs, for the wanted items only
        all_needs = _stored(_in_chunks(f"{_STORED_SQL} WHERE r.variant_id IN ({{ids}})", wanted_ids))
    by_variant: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for (v, b), on_hand in _levels(wanted_ids).items():
        if on_hand > 0:
            by_variant[v].append((b, on_hand))
    need_of = {(n["variant_id"], n["branch_id"]): n for n in all_needs}
    wanting: dict[int, list[dict]] = defaultdict(list)
    for n in all_needs:
        if n["suggest"] > 0 and (f.branch_id is None or n["branch_id"] == f.branch_id):
            wanting[n["variant_id"]].append(n)
    rows = []
    for variant_id, receivers in wanting.items():
        takers = {r["branch_id"] for r in receivers}
        donors = []
        for b, on_hand in by_variant.get(variant_id, []):
            if b in takers:
                continue
            own = need_of.get((variant_id, b))
            # An item that does not sell at a branch is all surplus there; otherwise keep its need.
            surplus = on_hand if own is None else min(on_hand, on_hand + own["incoming"] - own["need"])
            if surplus > 0:
                donors.append([b, surplus, own is None])
        donors.sort(key=lambda d: (-d[1], d[0]))
        for r in sorted(receivers, key=lambda r: (-r["suggest"], r["branch_id"])):
            want = r["suggest"]
            for d in donors:
                if want <= 0:
                    break
                qty = min(want, d[1])
                if qty <= 0:
                    continue
                d[1] -= qty
                want -= qty
                sku, name = variants[variant_id]
                rows.append([branches[d[0]], branches[r["branch_id"]], sku, name, qty,
                             "unsold there" if d[2] else "surplus", r["on_hand"]])
    rows.sort(key=lambda x: (x[0], x[1], x[2]))
    cols = [Column("from", "From"), Column("to", "To"), Column("sku", "SKU"), Column("name", "Item"),
            Column("qty", "Move", "int"), Column("why", "Why"), Column("to_on_hand", "At dest.", "int")]
    return Report("Rebalancing suggestions", cols, rows, filters=f, notes=[
        "A branch gives only what is above its own forecast need; then order the rest."] + _as_of_note(at))
