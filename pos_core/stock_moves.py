"""Moving stock for a branch document and telling Shopify, in the document's transaction.

Only movements the ledger actually applies are pushed, so a step that is retried after a crash
queues its Shopify change once, exactly like it moves the stock once.
"""
from __future__ import annotations

from collections import defaultdict

from . import ledger, outbox
from .ledger import Movement


def apply(movements: list[Movement], *, shopify_reason: str | None, reference_uri: str, doc_type: str,
          doc_ref: str, shopify_enabled: bool) -> int:
    """Record `movements`; queue their net Shopify deltas unless `shopify_reason` is None."""
    deltas: dict[tuple[int, int], int] = defaultdict(int)
    applied = ledger.record_many(movements)
    for m in applied:
        deltas[(m.variant_id, m.branch_id)] += m.delta
    if shopify_reason and deltas:
        outbox.enqueue_inventory(dict(deltas), shopify_reason, reference_uri, doc_type, doc_ref, shopify_enabled)
    return len(applied)
