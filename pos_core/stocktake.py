"""Stock takes while the shop stays open.

Starting a take freezes each in-scope item's level and remembers the ledger's position. Counts
come in by scanning, from several people in different areas, each stamped with the ledger
position when it was taken. An item's expected quantity at counting time is its frozen level plus
every movement at the branch between the freeze and its last count, so a sale rung up while the
aisle was being counted does not show up as a loss. Posting turns the differences into one
counted adjustment.
"""
from __future__ import annotations

from dataclasses import dataclass

from peewee import JOIN, fn

from . import adjustments, audit, categories, db, numbering, staff as staffmod
from .errors import InvalidInput, NotFound, StateError
from .models import Branch, Product, StockLevel, StockMovement, StockTake, StockTakeCount, StockTakeItem, Variant, utcnow


@dataclass(frozen=True)
class Difference:
    variant_id: int
    sku: str
    name: str
    expected: int
    counted: int | None  # None: not counted

    @property
    def delta(self) -> int:
        return 0 if self.counted is None else self.counted - self.expected


def start(branch_id: int, staff_id: int, category: str = "") -> StockTake:
    person = staffmod.get(staff_id)
    branch = Branch.get_or_none(Branch.id == branch_id)
    if branch is None:
        raise NotFound(f"no branch {branch_id}")
    with db.write():
        if StockTake.select().where((StockTake.branch == branch_id) & (StockTake.status == "COUNTING")).exists():
            raise StateError(f"a stock take is already open at {branch.code}; post or cancel it first")
        position = StockMovement.select(fn.MAX(StockMovement.id)).scalar() or 0
        take = StockTake.create(number=numbering.next_branch_number(branch, "ST"), branch=branch, category=category,
                                started_by=person, snapshot_movement_id=position)
        scope = Variant.select(Variant.id, fn.COALESCE(StockLevel.on_hand, 0)).join(
            StockLevel, JOIN.LEFT_OUTER, on=((StockLevel.variant == Variant.id) & (StockLevel.branch == branch_id))).switch(Variant).join(Product).where(Variant.tracked == True)  # noqa: E712
        if category:
            scope = scope.where(categories.condition(category))
        StockTakeItem.insert_many([{"take": take.id, "variant": v, "frozen_qty": q} for v, q in scope.tuples()]).execute()
        audit.log("stocktake.start", person.id, take.number, category=category)
    return take


def get(ref: str) -> StockTake:
    take = StockTake.get_or_none((StockTake.number == ref) | (StockTake.uid == ref))
    if take is None:
        raise NotFound(f"no stock take {ref}")
    return take


def count(ref: str, staff_id: int, variant_id: int, qty: int = 1, area: str = "") -> StockTakeCount:
    """One scan (qty 1) or a typed count; a negative qty corrects an over-scan."""
    person = staffmod.get(staff_id)
    if isinstance(qty, bool) or not isinstance(qty, int) or qty == 0 or abs(qty) > 99_999:
        raise InvalidInput("a count is a whole number of units")
    with db.write():
        take = get(ref)
        if take.status != "COUNTING":
            raise StateError(f"stock take {take.number} is {take.status}")
        if not StockTakeItem.select().where((StockTakeItem.take == take.id)
                                            & (StockTakeItem.variant == variant_id)).exists():
            raise InvalidInput("this item is not in the stock take's scope")
        position = StockMovement.select(fn.MAX(StockMovement.id)).scalar() or 0
        return StockTakeCount.create(take=take, variant=variant_id, qty=qty, area=area, staff=person,
                                     last_movement_id=position)


def review(ref: str) -> list[Difference]:
    take = get(ref)
    counted = {v: (int(q), int(pos)) for v, q, pos in
               StockTakeCount.select(StockTakeCount.variant, fn.SUM(StockTakeCount.qty),
                                     fn.MAX(StockTakeCount.last_movement_id))
               .where(StockTakeCount.take == take.id).group_by(StockTakeCount.variant).tuples()}
    out = []
    for item in StockTakeItem.select(StockTakeItem, Variant).join(Variant).where(StockTakeItem.take == take.id):
        expected = item.frozen_qty
        qty = None
        if item.variant_id in counted:
            qty, position = counted[item.variant_id]
            moved = (StockMovement.select(fn.COALESCE(fn.SUM(StockMovement.delta), 0))
                     .where((StockMovement.variant == item.variant_id) & (StockMovement.branch == take.branch_id)
                            & (StockMovement.id > take.snapshot_movement_id) & (StockMovement.id <= position))
                     .scalar())
            expected += int(moved or 0)
        out.append(Difference(item.variant_id, item.variant.sku, item.variant.name, expected, qty))
    return sorted(out, key=lambda d: d.sku)


def post(ref: str, staff_id: int, *, approver_id: int | None = None, approval_above_paisa: int = 5_000_00,
         shopify_enabled: bool, zero_uncounted: bool = False) -> StockTake:
    """Turn the differences into one counted adjustment. Uncounted items change only when the
    count covered the whole scope and `zero_uncounted` says so."""
    person = staffmod.get(staff_id)
    with db.write():
        take = get(ref)
        if take.status != "COUNTING":
            raise StateError(f"stock take {take.number} is {take.status}")
        diffs = review(ref)
        items = []
        for d in diffs:
            delta = -d.expected if (d.counted is None and zero_uncounted) else d.delta
            if delta:
                items.append(adjustments.AdjustItem(d.variant_id, delta))
        adj = None
        if items:
            adj = adjustments.create(take.branch_id, person.id, "count", items, note=f"stock take {take.number}",
                                     approver_id=approver_id, approval_above_paisa=approval_above_paisa,
                                     shopify_enabled=shopify_enabled, source_ref=take.uid)
        take.status, take.posted_at, take.adjustment = "POSTED", utcnow(), adj
        take.save()
        audit.log("stocktake.post", person.id, take.number, lines=len(items))
    return take


def cancel(ref: str, staff_id: int) -> StockTake:
    person = staffmod.get(staff_id)
    with db.write():
        take = get(ref)
        if take.status != "COUNTING":
            raise StateError(f"stock take {take.number} is {take.status}")
        take.status = "CANCELLED"
        take.save()
        audit.log("stocktake.cancel", person.id, take.number)
    return take
