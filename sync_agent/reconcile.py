"""The reconciliation job: read Shopify's quantities at each mapped location and let pos_core
compare them with the ledger. It waits until the outbox holds nothing for the location, reads
page by page within the rate limit, and never changes anything itself."""
from __future__ import annotations

import logging

from pos_core import hq, reconcile
from pos_core.models import Branch, ReconciliationRun

from .shopify.client import ShopifyClient

log = logging.getLogger("pos.agent.reconcile")
PAGE = 200  # ~603 points a page: well under the 1,000-point ceiling


def read_location(client: ShopifyClient, location_id: str) -> tuple[list[reconcile.ShopifyLevel], int]:
    """Every inventory level at the location: (levels, query cost points used)."""
    levels, after, cost = [], None, 0
    while True:
        result = client.call("LocationInventoryLevels", {"locationId": location_id, "first": PAGE, "after": after,
                                                         "query": None, "names": ["available", "on_hand"]})
        cost += int((result.cost or {}).get("actualQueryCost") or 0)
        page = result.data["location"]["inventoryLevels"]
        for node in page["nodes"]:
            q = {x["name"]: x["quantity"] for x in node["quantities"]}
            levels.append(reconcile.ShopifyLevel(node["item"]["id"], q.get("available", 0), q.get("on_hand", 0)))
        if not page["pageInfo"]["hasNextPage"]:
            return levels, cost
        after = page["pageInfo"]["endCursor"]


def run(client: ShopifyClient, location_id: str | None = None) -> list[ReconciliationRun]:
    """Reconcile one location, or every location a branch maps to. Locations with changes still
    in the outbox are skipped this time (they would show as differences that are not real)."""
    locations = [location_id] if location_id else sorted(
        {b.shopify_location_id for b in Branch.select() if b.shopify_location_id})
    runs = []
    for loc in locations:
        if not reconcile.outbox_clear(loc):
            log.info("reconcile %s: outbox not empty yet, skipped", loc)
            continue
        behind = hq.branches_behind(loc) if hq.is_hq() else []
        if behind:   # at the head office: a branch's ledger and jobs here are not complete yet
            log.info("reconcile %s: %s still sending to the head office, skipped", loc, ", ".join(behind))
            continue
        levels, cost = read_location(client, loc)
        run_ = reconcile.compare(loc, levels, cost_used=cost)
        log.info("reconcile %s: %d items, %d differences, %d points", loc, len(levels), len(run_.differences), cost)
        runs.append(run_)
    return runs
