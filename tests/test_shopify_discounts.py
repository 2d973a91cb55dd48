"""Shopify's discount codes become the tills' coupons, read over real HTTP from the Shopify simulator
(the operation validated against the 2026-10 schema): a code printed on a parcel works in the branch."""
from __future__ import annotations

import json
from decimal import Decimal as D

import pytest

from helpers import POLICY
from pos_core import sales
from pos_core.config import ShopifyConfig
from pos_core.errors import InvalidInput
from pos_core.models import Coupon, Promotion
from simulators.shopify.server import start
from sync_agent.discounts import import_discount_codes
from sync_agent.shopify.client import ShopifyClient

TOKEN = "shpat_discount_test_token"
DISCOUNTS = [
    {"title": "Parcel insert 10%", "codes": ["PARCEL10"], "percentage": 0.1, "minimumSubtotal": "2000.00",
     "usageLimit": 1},
    {"title": "Rs 500 off", "codes": ["FLAT500", "flat500-b"], "amount": "500.00", "appliesOncePerCustomer": True,
     "usageLimit": 1, "usage": {"flat500-b": 1}, "endsAt": "2099-01-01T00:00:00Z"},
    {"title": "Old Eid code", "codes": ["EID2025"], "percentage": 0.2, "status": "EXPIRED"},
    {"title": "Lawn only", "codes": ["LAWN15"], "percentage": 0.15, "items": "products"},
]


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    data = tmp_path_factory.mktemp("discounts")
    (data / "seed.json").write_text(json.dumps({"discounts": DISCOUNTS}))
    handle = start(port=0, data_dir=data, token=TOKEN)
    yield handle
    handle.stop()


def test_discount_codes_become_coupons_and_work_at_the_till(site, shop):
    client = ShopifyClient(ShopifyConfig(enabled=True, shop="x", endpoint=shop.url), token=TOKEN)
    try:
        stats = import_discount_codes(client)
        assert stats == {"discounts": 3, "codes": 4, "skipped": 1}     # "Lawn only" is for chosen products
        again = import_discount_codes(client)                            # a second pass changes nothing
    finally:
        client.close()
    assert again == stats and Promotion.select().count() == 3 and Coupon.select().count() == 4
    parcel = Coupon.get(Coupon.code == "PARCEL10")
    assert (parcel.promotion.kind, parcel.promotion.value, parcel.promotion.coupon_only) == ("bill_percent", 1000, True)
    assert parcel.max_uses == 1 and parcel.min_spend_paisa == 2000_00
    flat = Coupon.get(Coupon.code == "FLAT500")
    assert (flat.promotion.kind, flat.promotion.value, flat.per_customer_limit) == ("bill_amount", 500_00, 1)
    assert Coupon.get(Coupon.code == "FLAT500-B").uses == 1                  # used online already
    assert not Coupon.get(Coupon.code == "EID2025").promotion.active

    def sell(code, customer_id=None):
        return sales.complete_sale(POLICY, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.cashier.id,
                                   lines=[sales.SaleLine(site.lipstick.id, 2)], tenders=[sales.Tender("cash", D("5000"))],
                                   coupon_code=code, customer_id=customer_id)
    order = sell("parcel10")
    assert order.discount_paisa == 259_80                                   # 10% of Rs 2,598
    with pytest.raises(InvalidInput, match="already been used"):
        sell("PARCEL10")
    with pytest.raises(InvalidInput, match="already been used"):
        sell("FLAT500-B")
    with pytest.raises(InvalidInput, match="not valid"):
        sell("EID2025")
    client = ShopifyClient(ShopifyConfig(enabled=True, shop="x", endpoint=shop.url), token=TOKEN)
    try:
        import_discount_codes(client)                                       # Shopify still says 0 uses:
    finally:
        client.close()
    assert Coupon.get(Coupon.code == "PARCEL10").uses == 1                  # the till's use is kept
