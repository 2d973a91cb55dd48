"""Shopify's code discounts and the tills' coupons (issue 16).

* Read: the shop's code discounts become coupons, page by page, every 10 minutes.
* Written back (job kind `discount_deactivate`, made in the sale's transaction by
  pos_core/coupons.py): a Shopify code used up at the till is ended in Shopify, so a single-use
  code printed on a parcel cannot be used again online. Shopify is read first: a discount already
  ended (or one Shopify no longer has) needs nothing; one with several codes is not ended, since
  that would stop its other codes too: the job fails with what to do by hand. Ending a discount
  sets a value, so a resend after a lost answer ends it once (no once.py mark is needed).
"""
from __future__ import annotations

from pos_core import coupons
from pos_core.models import OutboxJob

from .orders import JobRefused
from .shopify.client import ShopifyClient

PAGE = 20   # about 20 cost points a discount: a page stays well under the 1,000 limit
KIND = coupons.WRITEBACK_KIND


def import_discount_codes(client: ShopifyClient) -> dict:
    nodes, after = [], None
    while True:
        res = client.call("DiscountCodes", {"first": PAGE, "after": after})
        conn = res.data["discountNodes"]
        nodes += conn["nodes"]
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    return coupons.import_shopify(nodes)


def deactivate(client: ShopifyClient, job: OutboxJob) -> dict:
    p = job.payload
    node = client.call("DiscountCodeState", {"id": p["discountId"]}).data.get("discountNode")
    d = (node or {}).get("discount") or {}
    if d.get("status") == "EXPIRED":
        return {"status": "EXPIRED", "found_existing": True}
    codes = int(((d.get("codesCount") or {}).get("count")) or 1)
    if codes > 1:
        raise JobRefused(f"Shopify discount {d.get('title') or p['discountId']!r} has {codes} codes: ending it "
                         f"would stop the other {codes - 1} too, so nothing was sent. Code {p['code']} is used up "
                         "at the till; delete that code from the discount in Shopify admin by hand")
    # A discount the read did not find is still sent: Shopify's own answer (a userError) is shown.
    data = client.call("DiscountCodeDeactivate", {"id": p["discountId"]}, payload_field="discountCodeDeactivate").data
    ended = ((data["discountCodeDeactivate"].get("codeDiscountNode") or {}).get("codeDiscount") or {})
    return {"status": ended.get("status"), "endsAt": ended.get("endsAt"), "found_existing": False}
