"""Property: any set of promotions, through the real sale service, leaves a sale whose figures add
up, whose FBR invoice passes the simulator's strict validation, and whose full refund returns
exactly what was paid."""
from __future__ import annotations

import json
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings, strategies as st

from helpers import POLICY
from pos_core import promotions, refunds, sales
from pos_core.models import OrderPromotion, OutboxJob, Promotion
from pos_core.refunds import ReturnLine
from pos_core.sales import SaleLine, Tender
from simulators.fbr import validation

promo_st = st.one_of(
    st.builds(lambda v, cb, pr: ("item_percent", dict(value=v, combinable=cb, priority=pr)),
              st.integers(1, 10000), st.booleans(), st.integers(0, 3)),
    st.builds(lambda v, cb: ("item_amount", dict(value=v, skus=["1001", "1002"], combinable=cb)),
              st.integers(1, 400_00), st.booleans()),
    st.builds(lambda v, m: ("bill_percent", dict(value=v, min_spend_paisa=m)), st.integers(1, 5000), st.integers(0, 2000_00)),
    st.builds(lambda v: ("bill_amount", dict(value=v)), st.integers(1, 3000_00)),
    st.builds(lambda b, g: ("bxgy", dict(buy_qty=b, get_qty=g)), st.integers(1, 3), st.integers(1, 2)),
    st.builds(lambda p: ("bundle", dict(skus=["1001", "1003"], bundle_price_paisa=p)), st.integers(1, 590_00)),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_promoted_sales_add_up_pass_fbr_validation_and_refund_exactly(site, data):
    Promotion.update(active=False).execute()       # each example starts with its own promotions
    for i, (kind, fields) in enumerate(data.draw(st.lists(promo_st, max_size=5))):
        promotions.create(f"P{i} {kind}", kind, **fields)
    goods = [site.kurta, site.suit, site.book, site.lipstick]
    picked = data.draw(st.lists(st.tuples(st.sampled_from(goods), st.integers(1, 4)), min_size=1, max_size=4,
                                unique_by=lambda t: t[0].id))
    lines = [SaleLine(v.id, q) for v, q in picked]
    order = sales.complete_sale(POLICY, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.manager.id,
                                lines=lines, tenders=[Tender("cash", D("100000"))])
    rows = list(order.lines)
    assert order.subtotal_paisa == sum(l.qty * l.unit_price_paisa for l in rows)
    assert order.discount_paisa == sum(l.line_discount_paisa + l.order_discount_paisa for l in rows)
    assert order.total_paisa == sum(l.total_paisa for l in rows) == order.subtotal_paisa - order.discount_paisa
    given_away = sum(p.amount_paisa for p in OrderPromotion.select().where(OrderPromotion.order == order.id))
    assert given_away == order.discount_paisa          # no manual discounts here: all of it is promotions
    for l in rows:
        assert l.value_excl_paisa + l.tax_paisa == l.total_paisa and l.total_paisa >= 0
    job = OutboxJob.get((OutboxJob.doc_ref == order.uid) & (OutboxJob.channel == "fbr"))
    body = json.loads(job.payload["body"], parse_float=D)
    if order.total_paisa:
        invoice, errors = validation.validate(body, validation.STRICT)
        assert errors == [], errors
    assert D(str(body["Discount"])) == D(order.discount_paisa) / 100
    if order.total_paisa:
        back = refunds.refund(POLICY, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.manager.id,
                              sale_uid=order.uid, lines=[ReturnLine(l.id, l.qty) for l in rows])
        assert back.total_paisa == order.total_paisa
