"""Branch stock: an append-only ledger of movements and the level it projects.

A movement is recorded together with the level change in the caller's transaction. The unique
`event_key` names the physical event (`sale:<order uid>:<line>`), so a step that is retried, or
run twice by two processes, moves stock once; the second attempt changes nothing and says so.
"""
from __future__ import annotations

from dataclasses import dataclass

from peewee import JOIN, fn

from . import db
from .models import Branch, StockLevel, StockMovement, Variant, utcnow
from playhouse.shortcuts import EXCLUDED


@dataclass(frozen=True)
class Movement:
    event_key: str
    variant_id: int
    branch_id: int
    delta: int
    kind: str
    doc_type: str
    doc_ref: str
    staff_id: int | None = None
    reason: str = ""
    note: str = ""


def record(m: Movement) -> bool:
    """Apply one movement. Returns False (and changes nothing) if its event was already recorded."""
    if m.delta == 0:
        return False
    with db.write():
        inserted = (StockMovement
                    .insert(event_key=m.event_key, variant=m.variant_id, branch=m.branch_id,
                            delta=m.delta, kind=m.kind, doc_type=m.doc_type, doc_ref=m.doc_ref,
                            staff=m.staff_id, reason=m.reason, note=m.note, created_at=utcnow())
                    .on_conflict_ignore()
                    .as_rowcount()
                    .execute())
        if not inserted:
            return False
        (StockLevel
         .insert(variant=m.variant_id, branch=m.branch_id, on_hand=m.delta)
         .on_conflict(conflict_target=[StockLevel.variant, StockLevel.branch],
                      update={StockLevel.on_hand: StockLevel.on_hand + EXCLUDED.on_hand})
         .execute())
    return True


def record_many(movements: list[Movement]) -> list[Movement]:
    """Apply several movements in the caller's transaction with three statements, whatever their
    number; returns those that were new (the others had been recorded before)."""
    movements = [m for m in movements if m.delta]
    if not movements:
        return []
    keys = [m.event_key for m in movements]
    seen = {k for (k,) in StockMovement.select(StockMovement.event_key)
            .where(StockMovement.event_key.in_(keys)).tuples()}
    fresh, taken = [], set()
    for m in movements:
        if m.event_key not in seen and m.event_key not in taken:
            fresh.append(m)
            taken.add(m.event_key)
    if not fresh:
        return []
    now = utcnow()
    # A concurrent writer of the same key makes this INSERT fail and the whole document roll
    # back (the unique index is the last word); it never counts twice.
    StockMovement.insert_many([
        {"event_key": m.event_key, "variant": m.variant_id, "branch": m.branch_id, "delta": m.delta,
         "kind": m.kind, "doc_type": m.doc_type, "doc_ref": m.doc_ref, "staff": m.staff_id,
         "reason": m.reason, "note": m.note, "created_at": now} for m in fresh]).execute()
    net: dict[tuple[int, int], int] = {}
    for m in fresh:
        net[(m.variant_id, m.branch_id)] = net.get((m.variant_id, m.branch_id), 0) + m.delta
    (StockLevel
     .insert_many([{"variant": v, "branch": b, "on_hand": d} for (v, b), d in sorted(net.items())])
     .on_conflict(conflict_target=[StockLevel.variant, StockLevel.branch],
                  update={StockLevel.on_hand: StockLevel.on_hand + EXCLUDED.on_hand})
     .execute())
    return fresh


def record_all(movements: list[Movement]) -> int:
    """Apply several movements in one transaction; returns how many were new."""
    with db.write():
        return len(record_many(movements))


def on_hand(variant_id: int, branch_id: int) -> int:
    level = (StockLevel.select(StockLevel.on_hand)
             .where((StockLevel.variant == variant_id) & (StockLevel.branch == branch_id))
             .scalar())
    return level or 0


def on_hand_by_branch(variant_id: int) -> dict[str, int]:
    """Every branch's level for one variant, zero where nothing ever moved."""
    rows = (Branch.select(Branch.code, fn.COALESCE(StockLevel.on_hand, 0).alias("qty"))
            .join(StockLevel, JOIN.LEFT_OUTER,
                  on=((StockLevel.branch == Branch.id) & (StockLevel.variant == variant_id)))
            .order_by(Branch.code).tuples())
    return {code: qty for code, qty in rows}


@dataclass(frozen=True)
class Mismatch:
    variant_sku: str
    branch_code: str
    level: int
    ledger: int


def check() -> list[Mismatch]:
    """Recompute every level from the ledger; return where the projection disagrees."""
    sums = {(v, b): s for v, b, s in
            StockMovement.select(StockMovement.variant, StockMovement.branch, fn.SUM(StockMovement.delta))
            .group_by(StockMovement.variant, StockMovement.branch).tuples()}
    levels = {(v, b): q for v, b, q in
              StockLevel.select(StockLevel.variant, StockLevel.branch, StockLevel.on_hand).tuples()}
    bad = [(key, levels.get(key, 0), int(sums.get(key, 0) or 0))
           for key in set(sums) | set(levels)
           if levels.get(key, 0) != int(sums.get(key, 0) or 0)]
    if not bad:
        return []
    skus = dict(Variant.select(Variant.id, Variant.sku).tuples())
    codes = dict(Branch.select(Branch.id, Branch.code).tuples())
    return sorted((Mismatch(skus.get(v, str(v)), codes.get(b, str(b)), level, ledger)
                   for (v, b), level, ledger in bad), key=lambda m: (m.branch_code, m.variant_sku))
