"""Shopify's code discounts into the tills' coupons (issue 16), read page by page."""
from __future__ import annotations

from pos_core import coupons

from .shopify.client import ShopifyClient

PAGE = 20   # about 20 cost points a discount: a page stays well under the 1,000 limit


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
