"""Write the barcodes the shop generated (pos_core/barcodes.py, job kind `variant_barcodes`) to
Shopify with productVariantsBulkUpdate, one product per job.

Shopify is read first: a variant that already has our code is done (an earlier attempt whose answer
was lost, so a resend is harmless anyway: setting a value is idempotent); a variant that meanwhile
got a different code in Shopify admin keeps it (reported in the job's result, never overwritten; the
next catalog import brings that code to the tills too, beside ours); a variant deleted in Shopify is
skipped.
"""
from __future__ import annotations

import logging

from pos_core.models import OutboxJob

from .shopify.client import ShopifyClient

log = logging.getLogger(__name__)
KIND = "variant_barcodes"


def set_barcodes(client: ShopifyClient, job: OutboxJob) -> dict:
    p = job.payload
    ids = [row["id"] for row in p["variants"]]
    nodes = client.call("VariantBarcodes", {"ids": ids}).data.get("nodes") or []
    current = {n["id"]: n for n in nodes if n}
    send, already, kept, missing = [], 0, [], []
    for row in p["variants"]:
        node = current.get(row["id"])
        if node is None:
            missing.append(row["id"])
            continue
        have = (node.get("barcode") or "").strip()
        if have == row["barcode"]:
            already += 1
        elif have:
            kept.append({"id": row["id"], "shopify": have, "ours": row["barcode"]})
        else:
            send.append({"id": row["id"], "barcode": row["barcode"]})
    if send:
        client.call("ProductVariantsBulkUpdate", {"productId": p["productId"], "variants": send},
                    payload_field="productVariantsBulkUpdate")
    if kept:
        log.warning("barcodes: %d variant(s) of %s already have another barcode in Shopify; kept theirs",
                    len(kept), p["productId"])
    return {"set": len(send), "already": already, "kept_shopify": kept, "missing": missing}
