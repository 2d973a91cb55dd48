"""COD settlement: a courier's statement matched against delivered parcels, each mismatch named,
and the money each courier still owes."""
import csv
import io

import pytest

from pos_core import courier_cod as cod, couriers, fulfillments, online_orders
from pos_core.errors import InvalidInput, StateError
from pos_core.models import CodStatement, CodStatementLine, Consignment

COD = ("Cash on Delivery (COD)",)
_n = iter(range(1, 10_000))


def order_node(site, n, amount="2599.00"):
    return {
        "id": f"gid://shopify/Order/{n}", "name": f"#{1000 + n}", "createdAt": "2026-11-23T09:00:00Z",
        "updatedAt": "2026-11-23T10:00:00Z", "cancelledAt": None, "cancelReason": None, "edited": False,
        "displayFinancialStatus": "PENDING", "displayFulfillmentStatus": "UNFULFILLED",
        "paymentGatewayNames": ["Cash on Delivery (COD)"], "tags": [], "note": "", "email": "", "phone": None,
        "currentTotalPriceSet": {"shopMoney": {"amount": amount, "currencyCode": "PKR"}},
        "totalOutstandingSet": {"shopMoney": {"amount": amount, "currencyCode": "PKR"}},
        "customer": {"displayName": "Hina Baig", "defaultPhoneNumber": {"phoneNumber": "+923001234567"}},
        "shippingAddress": {"name": "Hina Baig", "address1": "House 12, Street 4", "city": "Lahore"},
        "lineItems": {"nodes": [{"id": f"L{n}", "sku": site.kurta.sku, "name": site.kurta.name, "quantity": 1,
                                 "currentQuantity": 1, "unfulfilledQuantity": 1, "variant": {"id": None},
                                 "originalUnitPriceSet": {"shopMoney": {"amount": amount}}}]},
    }


def parcel(site, courier="leopards", *, delivered=True, amount="2599.00"):
    n = next(_n)
    order, _ = online_orders.record_from_shopify(order_node(site, n, amount), COD)
    online_orders.confirm(order.id, site.cashier.id, shopify_enabled=False)
    f = fulfillments.pack(fulfillments.create(order.id, site.lhr.id, site.cashier.id).uid, site.cashier.id)
    c = couriers.dispatch(f.uid, site.cashier.id, courier, "789" if courier == "leopards" else "Lahore",
                          shopify_enabled=False)
    couriers.record_booked(c.uid, f"CN{n:06d}")
    if delivered:
        couriers.record_tracking(c.uid, couriers.DELIVERED, "Delivered", shopify_enabled=False)
    return Consignment.get_by_id(c.id)


def csv_text(rows, header="CN Number,Order ID,COD Amount,Delivery Charges,Net Payable"):
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(header.split(","))
    w.writerows(rows)
    return out.getvalue()


def test_a_statement_with_every_kind_of_mismatch(site):
    paid, charged, short, over, missing = (parcel(site) for _ in range(5))
    returning = parcel(site, delivered=False)
    not_delivered = parcel(site, delivered=False)
    couriers.record_tracking(returning.uid, couriers.RETURNING, "Being Return", shopify_enabled=False)
    text = csv_text([
        (paid.tracking_number, paid.reference, "2599.00", "0", "2599.00"),
        (charged.tracking_number, charged.reference, "2,599.00", "-180.00", "2419.00"),
        (short.tracking_number, short.reference, "2000", "180", "1820"),
        (over.tracking_number, over.reference, "2599", "0", "2699"),
        (not_delivered.tracking_number, not_delivered.reference, "2599", "150", "2449"),
        ("LE999999", "x", "1500", "100", "1400"),
    ])
    st = cod.import_statement("leopards", text, source="payments-dec.csv", staff_id=site.manager.id)
    by = {l.tracking_number: l for l in cod.lines(st)}
    assert by[paid.tracking_number].result == cod.PAID
    assert by[charged.tracking_number].result == cod.CHARGES and by[charged.tracking_number].charges_paisa == 18000
    assert by[short.tracking_number].result == cod.SHORT_PAID and "short by Rs 599.00" in by[short.tracking_number].note
    assert by[over.tracking_number].result == cod.OVER_PAID and "over by Rs 100.00" in by[over.tracking_number].note
    assert by[not_delivered.tracking_number].result == cod.NOT_DELIVERED
    assert by["LE999999"].result == cod.UNKNOWN and by["LE999999"].consignment is None
    assert cod.summary(st) == {"PAID": 1, "CHARGES": 1, "SHORT_PAID": 1, "OVER_PAID": 1, "NOT_DELIVERED": 1,
                               "UNKNOWN": 1}
    assert st.paid_paisa == 259900 + 241900 + 182000 + 269900 + 244900 + 140000

    owed = {o.tracking_number: o for o in cod.owed("leopards")}
    # Missing: delivered, never on a statement. Short-paid: the rest is still owed. The returning
    # parcel was never delivered and owes nothing; charges are a cost, not a debt.
    assert set(owed) == {missing.tracking_number, short.tracking_number}
    assert owed[missing.tracking_number].kind == cod.MISSING and owed[missing.tracking_number].owed_paisa == 259900
    assert owed[short.tracking_number].kind == cod.SHORT_PAID and owed[short.tracking_number].owed_paisa == 59900
    assert cod.owed_totals() == {"leopards": 259900 + 59900}
    assert cod.charges_total("leopards") == 18000 + 18000 + 15000

    # The next statement pays the rest of the short one, and repeats a parcel paid already.
    st2 = cod.import_statement("leopards", csv_text([
        (short.tracking_number, short.reference, "599", "0", "599"),
        (paid.tracking_number, paid.reference, "2599", "0", "2599"),
    ]), source="payments-dec-2.csv")
    by2 = {l.tracking_number: l.result for l in cod.lines(st2)}
    assert by2 == {short.tracking_number: cod.PAID, paid.tracking_number: cod.DUPLICATE}
    assert [o.tracking_number for o in cod.owed()] == [missing.tracking_number]


def test_a_prepaid_parcel_on_a_statement_is_charges_only_or_over_paid(site):
    a, b = parcel(site), parcel(site)
    Consignment.update(cod_paisa=0).where(Consignment.id.in_([a.id, b.id])).execute()
    st = cod.import_statement("leopards", csv_text([(a.tracking_number, a.reference, "0", "180", "-180"),
                                                    (b.tracking_number, b.reference, "500", "0", "500")]))
    by = {l.tracking_number: l for l in cod.lines(st)}
    assert by[a.tracking_number].result == cod.CHARGES and "prepaid" in by[a.tracking_number].note
    assert by[b.tracking_number].result == cod.OVER_PAID and "prepaid" in by[b.tracking_number].note
    assert cod.owed() == []


def test_a_postex_statement_with_its_own_headings_and_no_net_column(site):
    a = parcel(site, "postex")
    b = parcel(site, "leopards")
    st = cod.import_statement("postex", csv_text(
        [(a.tracking_number, a.reference, "Rs 2599", "250"), (b.tracking_number, b.reference, "2599", "0")],
        header="Tracking Number,Order Ref,Invoice Payment,Shipping Charges"))
    by = {l.tracking_number: l for l in cod.lines(st)}
    assert by[a.tracking_number].result == cod.CHARGES and by[a.tracking_number].paid_paisa == 234900
    assert by[b.tracking_number].result == cod.UNKNOWN        # a Leopards parcel on a PostEx statement
    assert cod.owed("postex") == [] and [o.courier for o in cod.owed()] == ["leopards"]


@pytest.mark.parametrize("text,message", [
    ("", "empty"),
    ("Name,Amount\nx,1\n", "consignment number column"),
    ("CN Number,COD Amount\n", "no rows"),
    ("CN Number,COD Amount\nCN1,12.345\n", "line 2: cod amount '12.345'"),
    ("CN Number,COD Amount\nCN1,abc\n", "not an amount"),
    ("CN Number,COD Amount\nCN1,100\nCN1,100\n", "appears twice"),
    ("CN Number,COD Amount,Delivery Charges\nCN1,100\n", "columns"),
])
def test_a_bad_statement_is_refused_whole_with_one_line(site, text, message):
    with pytest.raises(InvalidInput, match=message):
        cod.import_statement("leopards", text)
    assert CodStatement.select().count() == 0 and CodStatementLine.select().count() == 0


def test_the_same_statement_twice_is_refused(site):
    c = parcel(site)
    text = csv_text([(c.tracking_number, c.reference, "2599", "0", "2599")])
    cod.import_statement("leopards", text)
    with pytest.raises(StateError, match="imported already"):
        cod.import_statement("leopards", text)
    with pytest.raises(InvalidInput, match="not a courier"):
        cod.import_statement("tcs", text)
    assert CodStatement.select().count() == 1
