"""Stock lookup for people: per branch and in transit, levels with filters, and history."""
from __future__ import annotations

from dataclasses import dataclass

from peewee import JOIN

from . import categories, ledger, transfers
from .models import Branch, Product, Staff, StockLevel, StockMovement, Variant


@dataclass(frozen=True)
class HistoryRow:
    at: object
    delta: int
    kind: str
    doc: str
    person: str
    reason: str


def variant_view(variant_id: int) -> dict:
    """{"on_hand": {branch: n}, "in_transit": {to branch: n}}"""
    return {"on_hand": ledger.on_hand_by_branch(variant_id), "in_transit": transfers.in_transit(variant_id)}


def branch_levels(branch_id: int, *, low_at: int | None = None, negative: bool = False,
                  category: str = "", limit: int = 500) -> list[tuple[str, str, int]]:
    """(sku, name, on hand) at a branch, optionally only low (<= low_at), negative, or one category."""
    q = (Variant.select(Variant.sku, Variant.name, StockLevel.on_hand)
         .join(StockLevel, JOIN.LEFT_OUTER, on=((StockLevel.variant == Variant.id) & (StockLevel.branch == branch_id)))
         .switch(Variant).join(Product)
         .where(Variant.tracked == True).order_by(Variant.sku).limit(limit))  # noqa: E712
    if category:
        q = q.where(categories.condition(category))
    rows = [(sku, name, on_hand or 0) for sku, name, on_hand in q.tuples()]
    if negative:
        rows = [r for r in rows if r[2] < 0]
    if low_at is not None:
        rows = [r for r in rows if r[2] <= low_at]
    return rows


def history(variant_id: int, branch_id: int, limit: int = 50) -> list[HistoryRow]:
    q = (StockMovement.select(StockMovement.created_at, StockMovement.delta, StockMovement.kind,
                              StockMovement.doc_ref, Staff.name, StockMovement.reason)
         .join(Staff, JOIN.LEFT_OUTER, on=(StockMovement.staff == Staff.id))
         .where((StockMovement.variant == variant_id) & (StockMovement.branch == branch_id))
         .order_by(StockMovement.id.desc()).limit(limit).tuples())
    return [HistoryRow(at, delta, kind, doc, name or "", reason) for at, delta, kind, doc, name, reason in q]


def branch_by_code(code: str) -> Branch | None:
    return Branch.get_or_none(Branch.code == code)
