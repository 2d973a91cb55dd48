"""Automatic promotions: which apply to a cart, and how much each takes off.

`evaluate` is pure: it turns a cart and a list of rules into amounts (paisa) per line and for the
bill; `pricing.price_lines` then applies them like discounts (line promotions before the manual
line discount, bill promotions spread over the lines before the manual order discount, tax per
line after both). So pricing stays the one place money is computed, and a promotion can never make
the totals disagree with the lines.

Kinds:
- item_percent / item_amount: off each matching line (amount is per unit);
- bill_percent / bill_amount: off the whole bill;
- bxgy: buy `buy_qty` matching units, get `get_qty` free: the cheapest matching units, or units of
  `free_sku` when set. The saving is spread over every line that took part (by value), so a refund
  of one unit of a buy-2-get-1 gives back what that unit really cost, not its shelf price;
- bundle: the SKUs in `skus` (repeat a SKU to need two) together for `bundle_price_paisa`, spread the
  same way.
`min_spend_paisa` is a spend-over threshold (bill value after line promotions and manual line
discounts for bill kinds; value before promotions for the others).

Order and combination: line kinds first, then bill kinds, each by priority (higher first, then
oldest). A promotion that does not combine applies only to lines no promotion has touched yet and
then closes them; a bill promotion that does not combine applies only when no other promotion
applied, and then ends the evaluation. A combinable bill promotion is skipped when a line carries
a promotion that does not combine.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from .money import round_half_up, spread
from .pricing import Discount, PricingError

LINE_KINDS = ("item_percent", "item_amount", "bxgy", "bundle")
BILL_KINDS = ("bill_percent", "bill_amount")
KINDS = LINE_KINDS + BILL_KINDS
PKT = dt.timezone(dt.timedelta(hours=5))


@dataclass(frozen=True)
class Item:
    """A cart line as promotions see it."""
    sku: str
    category: str
    qty: int
    unit_price_paisa: int
    discount: Discount | None = None   # the manual line discount, for spend thresholds


@dataclass(frozen=True)
class Rule:
    id: int | None
    name: str
    kind: str
    value: int = 0                  # basis points (percent kinds) or paisa (amount kinds)
    category: str = ""
    skus: tuple[str, ...] = ()
    buy_qty: int = 0
    get_qty: int = 0
    free_sku: str = ""
    bundle_price_paisa: int = 0
    min_spend_paisa: int = 0
    priority: int = 0
    combinable: bool = True

    def matches(self, item: Item) -> bool:
        if self.skus and self.kind != "bundle":
            return item.sku in self.skus
        if self.category:
            return item.category.lower() == self.category.lower()
        return True


@dataclass(frozen=True)
class Applied:
    promotion_id: int | None
    name: str
    line: int | None      # index into the items; None = the bill
    amount_paisa: int


@dataclass
class Outcome:
    line_promo: list[int]
    order_promo: int = 0
    applied: list[Applied] = field(default_factory=list)

    @property
    def total_paisa(self) -> int:
        return sum(self.line_promo) + self.order_promo

    def names_for(self, line: int) -> list[str]:
        return [a.name for a in self.applied if a.line == line]

    def bill_names(self) -> list[str]:
        return [a.name for a in self.applied if a.line is None]

    def by_promotion(self) -> list[tuple[str, int]]:
        """(name, amount) per promotion, in the order they applied: for totals and the receipt."""
        out: dict[tuple, int] = {}
        for a in self.applied:
            out[(a.promotion_id, a.name)] = out.get((a.promotion_id, a.name), 0) + a.amount_paisa
        return [(name, amount) for (_, name), amount in out.items()]


NONE = Outcome([])


def evaluate(rules: list[Rule], items: list[Item]) -> Outcome:
    n = len(items)
    remaining = [it.qty * it.unit_price_paisa for it in items]
    touched = [False] * n
    closed = [False] * n
    out = Outcome([0] * n)
    gross_total = sum(remaining)
    skus = {it.sku for it in items}
    cats = {it.category.lower() for it in items}
    # Most running promotions are for other goods: drop them before the real work.
    ordered = sorted((r for r in rules if _may_apply(r, skus, cats)),
                     key=lambda r: (-r.priority, r.id if r.id is not None else 0))

    def apply_to(rule: Rule, amounts: dict[int, int]) -> None:
        for i, amount in amounts.items():
            if amount <= 0:
                continue
            remaining[i] -= amount
            out.line_promo[i] += amount
            out.applied.append(Applied(rule.id, rule.name, i, amount))
            touched[i] = True
            if not rule.combinable:
                closed[i] = True

    for rule in ordered:
        if rule.kind not in LINE_KINDS or gross_total < rule.min_spend_paisa:
            continue
        open_lines = [i for i in range(n) if not closed[i] and (rule.combinable or not touched[i])
                      and remaining[i] > 0]
        if rule.kind in ("item_percent", "item_amount"):
            amounts = {}
            for i in open_lines:
                if not rule.matches(items[i]):
                    continue
                if rule.kind == "item_percent":
                    amounts[i] = round_half_up(Decimal(remaining[i]) * rule.value / 10000)
                else:
                    amounts[i] = min(rule.value * items[i].qty, remaining[i])
            apply_to(rule, amounts)
        elif rule.kind == "bxgy":
            apply_to(rule, _bxgy(rule, items, open_lines, remaining))
        elif rule.kind == "bundle":
            apply_to(rule, _bundle(rule, items, open_lines, remaining))

    if any(closed):
        return out
    base = 0
    for i, it in enumerate(items):
        manual = 0
        if it.discount is not None:
            try:
                manual = it.discount.paisa_of(remaining[i])
            except PricingError:
                manual = 0  # pricing will refuse the line itself, with the message
        base += remaining[i] - manual
    for rule in ordered:
        if rule.kind not in BILL_KINDS or base < rule.min_spend_paisa or base <= 0:
            continue
        if not rule.combinable and out.applied:
            continue
        left = base - out.order_promo
        if rule.kind == "bill_percent":
            amount = round_half_up(Decimal(left) * rule.value / 10000)
        else:
            amount = min(rule.value, left)
        if amount <= 0:
            continue
        out.order_promo += amount
        out.applied.append(Applied(rule.id, rule.name, None, amount))
        if not rule.combinable:
            break
    return out


def _may_apply(rule: Rule, skus: set[str], cats: set[str]) -> bool:
    if rule.kind in BILL_KINDS:
        return True
    if rule.kind == "bundle":
        return set(rule.skus) <= skus
    if rule.free_sku and rule.free_sku not in skus:
        return False
    if rule.skus:
        return not skus.isdisjoint(rule.skus)
    return not rule.category or rule.category.lower() in cats


def _share(total: int, lines: list[int], remaining: list[int]) -> dict[int, int]:
    """Spread a saving over the lines that earned it, by what is left of each, never more than that."""
    total = min(total, sum(remaining[i] for i in lines))
    if total <= 0:
        return {}
    return dict(zip(lines, spread(total, [remaining[i] for i in lines])))


def _bxgy(rule: Rule, items: list[Item], open_lines: list[int], remaining: list[int]) -> dict[int, int]:
    if rule.buy_qty <= 0 or rule.get_qty <= 0:
        return {}
    if rule.free_sku:
        buy = [i for i in open_lines if rule.matches(items[i]) and items[i].sku != rule.free_sku]
        free = [i for i in open_lines if items[i].sku == rule.free_sku]
        free_units = min((sum(items[i].qty for i in buy) // rule.buy_qty) * rule.get_qty,
                         sum(items[i].qty for i in free))
        if not free_units:
            return {}
        prices = sorted(items[i].unit_price_paisa for i in free for _ in range(items[i].qty))
        return _share(sum(prices[:free_units]), buy + free, remaining)
    lines = [i for i in open_lines if rule.matches(items[i])]
    units = sorted(items[i].unit_price_paisa for i in lines for _ in range(items[i].qty))
    free_units = (len(units) // (rule.buy_qty + rule.get_qty)) * rule.get_qty
    # Ties for cheapest do not matter: the saving is the sum of the cheapest prices, spread over all.
    return _share(sum(units[:free_units]), lines, remaining) if free_units else {}


def _bundle(rule: Rule, items: list[Item], open_lines: list[int], remaining: list[int]) -> dict[int, int]:
    need: dict[str, int] = {}
    for sku in rule.skus:
        need[sku] = need.get(sku, 0) + 1
    if not need:
        return {}
    have: dict[str, int] = {}
    price: dict[str, int] = {}
    lines = []
    for i in open_lines:
        if items[i].sku in need:
            have[items[i].sku] = have.get(items[i].sku, 0) + items[i].qty
            price.setdefault(items[i].sku, items[i].unit_price_paisa)
            lines.append(i)
    bundles = min(have.get(sku, 0) // q for sku, q in need.items())
    if not bundles:
        return {}
    full = sum(price[sku] * q for sku, q in need.items())
    saving = bundles * (full - rule.bundle_price_paisa)
    return _share(saving, lines, remaining) if saving > 0 else {}


# --- rules from the database -------------------------------------------------------------------

def rule_of(p) -> Rule:
    return Rule(p.id, p.name, p.kind, p.value, p.category, tuple(p.skus or ()), p.buy_qty, p.get_qty,
                p.free_sku, p.bundle_price_paisa, p.min_spend_paisa, p.priority, p.combinable)


def in_window(p, branch_code: str, now_utc: dt.datetime) -> bool:
    if not p.active:
        return False
    if p.starts_at and now_utc < p.starts_at:
        return False
    if p.ends_at and now_utc >= p.ends_at:
        return False
    if p.branches:
        allowed = p.branches if isinstance(p.branches, frozenset) else {b.strip() for b in p.branches.split(",")}
        if branch_code not in allowed:
            return False
    if p.daily_from is not None and p.daily_to is not None:
        local = now_utc.replace(tzinfo=dt.timezone.utc).astimezone(PKT)
        minute = local.hour * 60 + local.minute
        if p.daily_from <= p.daily_to:
            if not (p.daily_from <= minute < p.daily_to):
                return False
        elif not (minute >= p.daily_from or minute < p.daily_to):  # e.g. 22:00 to 02:00
            return False
    return True


@dataclass(frozen=True)
class _Running:
    """A promotion as plain data with its window, so a sale never builds 200 ORM rows."""
    rule: Rule
    starts_at: dt.datetime | None
    ends_at: dt.datetime | None
    branches: frozenset
    daily_from: int | None
    daily_to: int | None
    active: bool = True


_cache: dict = {"key": None, "rows": [], "windows": {}}


def _running() -> list[_Running]:
    """Every active automatic promotion, re-read only when the table changed (its row count and
    latest updated_at: one small aggregate per sale, whichever process made the change)."""
    from peewee import fn

    from . import db
    from .models import Promotion
    key = (db.database.database, *Promotion.select(fn.COUNT(Promotion.id), fn.MAX(Promotion.updated_at)).tuples().get())
    if key != _cache["key"]:
        q = Promotion.select().where((Promotion.active == True) & (Promotion.coupon_only == False))  # noqa: E712
        _cache["rows"] = [_Running(rule_of(p), p.starts_at, p.ends_at,
                                   frozenset(b.strip() for b in p.branches.split(",") if b.strip()),
                                   p.daily_from, p.daily_to) for p in q]
        _cache["key"], _cache["windows"] = key, {}
    return _cache["rows"]


def _next_change(rows: list[_Running], now_utc: dt.datetime) -> dt.datetime:
    """The first moment after `now` at which any promotion's window opens or closes."""
    times = [t for r in rows for t in (r.starts_at, r.ends_at) if t is not None and t > now_utc]
    local = now_utc.replace(tzinfo=dt.timezone.utc).astimezone(PKT)
    minute = local.hour * 60 + local.minute
    start_of_minute = now_utc.replace(second=0, microsecond=0)
    for r in rows:
        for edge in (r.daily_from, r.daily_to):
            if edge is not None:
                ahead = (edge - minute) % (24 * 60) or 24 * 60
                times.append(start_of_minute + dt.timedelta(minutes=ahead))
    return min(times, default=dt.datetime.max)


def active_rules(branch_code: str, now_utc: dt.datetime, extra: list | None = None) -> list[Rule]:
    """The automatic promotions running at a branch now, plus `extra` (a coupon's promotion).
    The filtered list is kept until the next moment any window opens or closes."""
    rows = _running()
    cached = _cache["windows"].get(branch_code)
    if cached is None or not (cached[0] <= now_utc < cached[1]):
        rules = [r.rule for r in rows if in_window(r, branch_code, now_utc)]
        cached = (now_utc, _next_change(rows, now_utc), rules)
        _cache["windows"][branch_code] = cached
    out = list(cached[2])
    out += [rule_of(p) for p in (extra or []) if in_window(p, branch_code, now_utc)]
    return out


def create(name: str, kind: str, **fields) -> "object":
    """A manager's new promotion (pos-admin promo add). Checks what would make it meaningless."""
    from . import db
    from .errors import InvalidInput
    from .models import Promotion
    if kind not in KINDS:
        raise InvalidInput(f"promotion kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if not name.strip():
        raise InvalidInput("a promotion needs a name the cashier can read out")
    value = fields.get("value", 0)
    if kind.endswith("_percent") and not 0 < value <= 10000:
        raise InvalidInput("a percentage must be more than 0 and at most 100")
    if kind.endswith("_amount") and value <= 0:
        raise InvalidInput("an amount off must be more than zero")
    if kind == "bxgy" and (fields.get("buy_qty", 0) <= 0 or fields.get("get_qty", 0) <= 0):
        raise InvalidInput("buy X get Y needs both quantities above zero")
    if kind == "bundle" and (len(fields.get("skus") or []) < 2 or fields.get("bundle_price_paisa", 0) <= 0):
        raise InvalidInput("a bundle needs at least two SKUs and a price above zero")
    if fields.get("starts_at") and fields.get("ends_at") and fields["ends_at"] <= fields["starts_at"]:
        raise InvalidInput("a promotion must end after it starts")
    with db.write():
        return Promotion.create(name=name.strip(), kind=kind, **fields)
