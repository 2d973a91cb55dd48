"""GraphQL views of orders, line items, fulfillment orders, fulfillments, agreements, refunds.

Same conventions as resolvers.py: a view answers a field with an attribute/property, or a method
taking (info, **arguments); a field it does not implement fails loudly. Only fields the agent's
documents (and the reference's) select are implemented, plus cheap neighbours.
"""

from __future__ import annotations

from graphql import GraphQLError

from . import orders as om
from .pagination import connection
from .resolvers import CustomerView, LocationView, ProductView, VariantView, View, _search, _sort, _t
from .search import SearchError, matches, parse
from .state import gid


def money_bag(amount) -> dict:
    m = {"amount": om.money(amount), "currencyCode": "PKR"}
    return {"shopMoney": m, "presentmentMoney": dict(m)}


def _list_first(items: list, first) -> list:
    return items if first is None else items[:first]


# -- orders ------------------------------------------------------------------------------------
class OrderView(View):
    typename = "Order"
    currencyCode = "PKR"
    presentmentCurrencyCode = "PKR"
    retailLocation = None          # online orders; POS orders are not simulated
    taxesIncluded = True
    requiresShipping = True
    discountCode = None
    discountCodes: list = []
    customAttributes: list = []

    @property
    def _o(self):
        return self.raw

    @property
    def _totals(self):
        return om.totals(self.raw)

    @property
    def number(self):
        return self.raw["number"]

    @property
    def paymentGatewayNames(self):
        return self.raw["gateways"]

    @property
    def displayFinancialStatus(self):
        return om.financial_status(self.raw)

    @property
    def displayFulfillmentStatus(self):
        return om.fulfillment_status(self.ctx.state, self.raw)

    @property
    def customer(self):
        c = self.ctx.state.customer(self.raw["customer_id"]) if self.raw["customer_id"] else None
        return CustomerView(self.ctx, c) if c else None

    @property
    def shippingAddress(self):
        return self._address()

    @property
    def displayAddress(self):
        return self._address()

    @property
    def billingAddress(self):
        return self._address()

    def _address(self):
        a = self.raw["shipping_address"]
        if not a:
            return None
        keys = ("name", "firstName", "lastName", "phone", "address1", "address2", "city", "province",
                "provinceCode", "zip", "countryCodeV2", "company")
        out = {k: a.get(k) for k in keys}
        out["id"] = gid("MailingAddress", self.raw["id"]) + "?model_name=Address"
        out["country"] = "Pakistan" if out["countryCodeV2"] == "PK" else None
        return out

    # quantities and money
    @property
    def currentSubtotalLineItemsQuantity(self):
        return sum(om.current_qty(li) for li in self.raw["line_items"])

    @property
    def subtotalLineItemsQuantity(self):
        return sum(li["quantity"] - li["edit_removed"] for li in self.raw["line_items"])

    currentSubtotalPriceSet = property(lambda self: money_bag(self._totals["current_subtotal"]))
    subtotalPriceSet = property(lambda self: money_bag(self._totals["subtotal"]))
    currentTotalPriceSet = property(lambda self: money_bag(self._totals["current_total"]))
    originalTotalPriceSet = property(lambda self: money_bag(self._totals["original_total"]))
    totalPriceSet = property(lambda self: money_bag(self._totals["total"]))
    totalOutstandingSet = property(lambda self: money_bag(self._totals["outstanding"]))
    totalReceivedSet = property(lambda self: money_bag(self._totals["received"]))
    totalRefundedSet = property(lambda self: money_bag(self._totals["refunded"]))
    netPaymentSet = property(lambda self: money_bag(self._totals["paid"] - self._totals["refunded"]))
    totalShippingPriceSet = property(lambda self: money_bag(self._totals["shipping"]))
    currentShippingPriceSet = property(lambda self: money_bag(self._totals["current_shipping"]))
    totalTaxSet = property(lambda self: money_bag(0))
    currentTotalTaxSet = property(lambda self: money_bag(0))
    totalDiscountsSet = property(lambda self: money_bag(0))
    currentTotalDiscountsSet = property(lambda self: money_bag(0))

    @property
    def fullyPaid(self):
        return self._totals["outstanding"] <= 0 and not self.raw["voided"]

    @property
    def unpaid(self):
        return self.displayFinancialStatus in ("PENDING", "AUTHORIZED")

    @property
    def canMarkAsPaid(self):
        return not self.raw["cancelledAt"] and self._totals["outstanding"] > 0

    @property
    def fulfillable(self):
        return any(om.unfulfilled_qty(li) for li in self.raw["line_items"]) and not self.raw["cancelledAt"]

    @property
    def restockable(self):
        return any(om.current_qty(li) for li in self.raw["line_items"])

    @property
    def refundable(self):
        return self._totals["paid"] > self._totals["refunded"]

    # connections and lists
    def lineItems(self, info, **args):
        views = [LineItemView(self.ctx, li, self.raw) for li in self.raw["line_items"]]
        return connection(views, key=lambda v: (v.raw["id"], v.raw["id"]), args=args, bulk=self.ctx.bulk)

    def fulfillmentOrders(self, info, displayable=False, **args):
        st = self.ctx.state
        fos = [fo for fo in om.fos_of(st, self.raw) if om.routed(st, fo)]
        if displayable:  # hide FOs emptied by moves/edits with nothing shipped from them
            fos = [fo for fo in fos if fo["fulfillment_ids"] or sum(fl["total"] for fl in fo["lines"]) > 0]
        keep = _search(args, lambda fo: {"status": lambda: [fo["status"]], "id": lambda: [fo["id"]],
                                         "assigned_location_id": lambda: [fo["location_id"]],
                                         "updated_at": lambda: [_t(fo["updatedAt"])]})
        views = [FulfillmentOrderView(self.ctx, fo) for fo in fos if keep(fo)]
        return connection(views, key=lambda v: (v.raw["id"], v.raw["id"]), args=args, bulk=self.ctx.bulk)

    def fulfillments(self, info, first=None, query=None):
        keep = _search({"query": query}, lambda f: {"id": lambda: [f["id"]], "created_at": lambda: [_t(f["createdAt"])]})
        items = [FulfillmentView(self.ctx, f) for f in om.fulfillments_of(self.ctx.state, self.raw) if keep(f)]
        return _list_first(items, first)

    @property
    def fulfillmentsCount(self):
        return {"count": len(self.raw["fulfillment_ids"]), "precision": "EXACT"}

    def agreements(self, info, **args):
        keep = _search(args, lambda a: {"happened_at": lambda: [_t(a["happenedAt"])], "id": lambda: [a["id"]],
                                        "reason": lambda: [a["reason"]]})
        views = [AgreementView(self.ctx, a, self.raw) for a in self.raw["agreements"] if keep(a)]
        return connection(views, key=lambda v: (v.raw["id"], v.raw["id"]), args=args, bulk=self.ctx.bulk)

    def transactions(self, info, first=None, **_):
        return _list_first([TransactionView(self.ctx, t, self.raw) for t in self.raw["transactions"]], first)

    @property
    def transactionsCount(self):
        return {"count": len(self.raw["transactions"]), "precision": "EXACT"}

    def refunds(self, info, first=None):
        return _list_first([RefundView(self.ctx, r, self.raw) for r in self.raw["refunds"]], first)


def _order_fields(st, o):
    return {
        "updated_at": lambda: [_t(o["updatedAt"])], "created_at": lambda: [_t(o["createdAt"])],
        "processed_at": lambda: [_t(o["processedAt"])], "id": lambda: [o["id"]],
        "status": lambda: (["cancelled"] if o["cancelledAt"] else []) + (["closed"] if o["closed"] else ["open", "not_closed"]),
        "financial_status": lambda: [om.financial_status(o).lower()],
        "fulfillment_status": lambda: {"FULFILLED": ["shipped", "fulfilled"], "PARTIALLY_FULFILLED": ["partial"],
                                       "UNFULFILLED": ["unshipped", "unfulfilled"], "ON_HOLD": ["on_hold"],
                                       "RESTOCKED": ["restocked"]}.get(om.fulfillment_status(st, o), []),
        "gateway": lambda: o["gateways"], "tag": lambda: o["tags"], "test": lambda: [str(o["test"]).lower()],
        "name": lambda: [o["name"], o["name"].lstrip("#")], "sku": lambda: [li["sku"] for li in o["line_items"]],
        "location_id": lambda: [fo["location_id"] for fo in om.fos_of(st, o)],
        "email": lambda: [o["email"]], "phone": lambda: [o["phone"]],
        "customer_id": lambda: [o["customer_id"]],
    }


def _order_filter(st, query):
    try:
        groups = parse(query)
    except SearchError as exc:
        raise GraphQLError(str(exc), extensions={"code": "BAD_REQUEST"}) from exc
    for group in groups:          # tag_not:x is NOT tag:x
        for term in group:
            if term.field == "tag_not":
                term.field, term.negate = "tag", not term.negate
    text = lambda o: " ".join(str(x) for x in (o["name"], o["email"], o["phone"]) if x)  # noqa: E731
    return lambda o: matches(groups, _order_fields(st, o), lambda: text(o))


def order_connection(ctx, args: dict) -> dict:
    st = ctx.state
    keep = _order_filter(st, args.get("query"))
    views = [OrderView(ctx, o) for o in st.data["orders"].values()
             if om.visible_order(st, o, ctx.sim.read_all_orders) and keep(o)]
    key = _sort(args.get("sortKey"), {
        "UPDATED_AT": lambda v: (v.raw["updatedAt"], v.raw["id"]), "CREATED_AT": lambda v: (v.raw["createdAt"], v.raw["id"]),
        "PROCESSED_AT": lambda v: (v.raw["processedAt"], v.raw["id"]), "ID": lambda v: (v.raw["id"], v.raw["id"]),
        "ORDER_NUMBER": lambda v: (v.raw["number"], v.raw["id"]),
        "TOTAL_PRICE": lambda v: (float(om.totals(v.raw)["total"]), v.raw["id"]),
        "CURRENT_TOTAL_PRICE": lambda v: (float(om.totals(v.raw)["current_total"]), v.raw["id"]),
    }, "PROCESSED_AT")
    return connection(views, key=key, args=args, bulk=ctx.bulk)


def order_view(ctx, num) -> OrderView | None:
    o = ctx.state.data["orders"].get(str(num)) if num is not None else None
    if o is None or not om.visible_order(ctx.state, o, ctx.sim.read_all_orders):
        return None
    return OrderView(ctx, o)


class LineItemView(View):
    typename = "LineItem"
    requiresShipping = True
    taxable = True
    isGiftCard = False
    merchantEditable = True
    nonFulfillableQuantity = 0
    customAttributes: list = []
    discountAllocations: list = []
    duties: list = []

    def __init__(self, ctx, raw, order):
        super().__init__(ctx, raw)
        self.order = order

    @property
    def name(self):
        return f"{self.raw['title']} - {self.raw['variant_title']}" if self.raw["variant_title"] else self.raw["title"]

    title = property(lambda self: self.raw["title"])
    variantTitle = property(lambda self: self.raw["variant_title"])
    currentQuantity = property(lambda self: om.current_qty(self.raw))
    unfulfilledQuantity = property(lambda self: om.unfulfilled_qty(self.raw))
    refundableQuantity = property(lambda self: om.current_qty(self.raw))
    restockable = property(lambda self: om.current_qty(self.raw) > 0)
    originalUnitPriceSet = property(lambda self: money_bag(self.raw["price"]))
    discountedUnitPriceSet = property(lambda self: money_bag(self.raw["price"]))
    discountedUnitPriceAfterAllDiscountsSet = property(lambda self: money_bag(self.raw["price"]))
    originalTotalSet = property(lambda self: money_bag(om.Decimal(self.raw["price"]) * self.raw["quantity"]))
    unfulfilledOriginalTotalSet = property(
        lambda self: money_bag(om.Decimal(self.raw["price"]) * om.unfulfilled_qty(self.raw)))
    totalDiscountSet = property(lambda self: money_bag(0))

    def discountedTotalSet(self, info, withCodeDiscounts=False):
        return money_bag(om.Decimal(self.raw["price"]) * om.current_qty(self.raw))

    @property
    def variant(self):
        v = self.ctx.state.variant(self.raw["variant_id"])
        return VariantView(self.ctx, v) if v else None      # null once the product is deleted

    @property
    def product(self):
        p = self.ctx.state.product(self.raw["product_id"])
        return ProductView(self.ctx, p) if p else None


# -- fulfillment orders --------------------------------------------------------------------------
class FulfillmentOrderView(View):
    typename = "FulfillmentOrder"
    fulfillAt = None
    fulfillBy = None

    @property
    def _order(self):
        return self.ctx.state.data["orders"][str(self.raw["order_id"])]

    @property
    def order(self):
        return OrderView(self.ctx, self._order)

    orderId = property(lambda self: gid("Order", self.raw["order_id"]))
    orderName = property(lambda self: self._order["name"])
    orderProcessedAt = property(lambda self: self._order["processedAt"])

    @property
    def assignedLocation(self):
        loc = self.ctx.state.location(self.raw["location_id"])
        a = loc["address"]
        return {"name": loc["name"], "location": LocationView(self.ctx, loc), "address1": a.get("address1"),
                "address2": a.get("address2"), "city": a.get("city"), "province": a.get("province"),
                "zip": a.get("zip"), "countryCode": a.get("countryCode") or "PK", "phone": a.get("phone")}

    @property
    def fulfillmentHolds(self):
        return [{"id": gid("FulfillmentHold", h["id"]), "reason": h["reason"], "reasonNotes": h.get("reasonNotes"),
                 "displayReason": h["reason"].replace("_", " ").capitalize(), "handle": None,
                 "heldByApp": None, "heldByRequestingApp": False} for h in self.raw["holds"]]

    @property
    def supportedActions(self):
        return [{"action": a, "externalUrl": None} for a in om.supported_actions(self.raw)]

    def lineItems(self, info, **args):
        order = self._order
        views = [FulfillmentOrderLineView(self.ctx, fl, order) for fl in self.raw["lines"] if fl["total"] > 0 or fl["remaining"]]
        return connection(views, key=lambda v: (v.raw["id"], v.raw["id"]), args=args, bulk=self.ctx.bulk)

    def fulfillments(self, info, **args):
        views = [FulfillmentView(self.ctx, self.ctx.state.data["fulfillments"][str(i)]) for i in self.raw["fulfillment_ids"]]
        return connection(views, key=lambda v: (v.raw["id"], v.raw["id"]), args=args, bulk=self.ctx.bulk)


class FulfillmentOrderLineView(View):
    typename = "FulfillmentOrderLineItem"
    requiresShipping = True
    warnings: list = []

    def __init__(self, ctx, raw, order):
        super().__init__(ctx, raw)
        self._li = om.line_by_id(order, raw["line_item_id"])
        self._order = order

    totalQuantity = property(lambda self: self.raw["total"])
    remainingQuantity = property(lambda self: self.raw["remaining"])
    sku = property(lambda self: self._li["sku"])
    productTitle = property(lambda self: self._li["title"])
    variantTitle = property(lambda self: self._li["variant_title"])
    vendor = property(lambda self: self._li["vendor"])
    inventoryItemId = property(lambda self: gid("InventoryItem", self._li["inventory_item_id"]))
    lineItem = property(lambda self: LineItemView(self.ctx, self._li, self._order))

    @property
    def variant(self):
        v = self.ctx.state.variant(self._li["variant_id"])
        return VariantView(self.ctx, v) if v else None


# -- fulfillments ----------------------------------------------------------------------------------
class FulfillmentView(View):
    typename = "Fulfillment"
    deliveredAt = None
    inTransitAt = None
    estimatedDeliveryAt = None
    requiresShipping = True
    service = None
    originAddress = None

    @property
    def _order(self):
        return self.ctx.state.data["orders"][str(self.raw["order_id"])]

    order = property(lambda self: OrderView(self.ctx, self._order))
    totalQuantity = property(lambda self: sum(x["quantity"] for x in self.raw["lines"]))
    displayStatus = property(lambda self: "FULFILLED")

    @property
    def location(self):
        loc = self.ctx.state.location(self.raw["location_id"])
        return LocationView(self.ctx, loc) if loc else None

    def trackingInfo(self, info, first=None):
        numbers, urls = self.raw["tracking_numbers"], self.raw["tracking_urls"]
        if not numbers and not urls:
            return []
        rows = [{"company": self.raw["tracking_company"], "number": n, "url": urls[i] if i < len(urls) else None}
                for i, n in enumerate(numbers)] or [{"company": self.raw["tracking_company"], "number": None, "url": urls[0]}]
        return _list_first(rows, first)

    def fulfillmentLineItems(self, info, **args):
        order = self._order
        views = [FulfillmentLineView(self.ctx, x, order) for x in self.raw["lines"]]
        return connection(views, key=lambda v: (v.raw["id"], v.raw["id"]), args=args, bulk=self.ctx.bulk)

    def fulfillmentOrders(self, info, **args):
        views = [FulfillmentOrderView(self.ctx, om.fo_by_id(self.ctx.state, i)) for i in self.raw["fo_ids"]]
        return connection(views, key=lambda v: (v.raw["id"], v.raw["id"]), args=args, bulk=self.ctx.bulk)


class FulfillmentLineView(View):
    typename = "FulfillmentLineItem"

    def __init__(self, ctx, raw, order):
        super().__init__(ctx, raw)
        self._li = om.line_by_id(order, raw["line_item_id"])
        self._order = order

    lineItem = property(lambda self: LineItemView(self.ctx, self._li, self._order))
    originalTotalSet = property(lambda self: money_bag(om.Decimal(self._li["price"]) * self.raw["quantity"]))
    discountedTotalSet = property(lambda self: money_bag(om.Decimal(self._li["price"]) * self.raw["quantity"]))


# -- agreements, transactions, refunds ----------------------------------------------------------------
class AgreementView(View):
    """OrderAgreement / OrderEditAgreement / RefundAgreement (the SalesAgreement interface)."""
    app = None
    user = None

    def __init__(self, ctx, raw, order):
        super().__init__(ctx, raw)
        self._order = order
        self.typename = raw["kind"]

    @property
    def id(self):
        return gid("SalesAgreement", self.raw["id"])

    order = property(lambda self: OrderView(self.ctx, self._order))

    @property
    def refund(self):
        r = next((r for r in self._order["refunds"] if r["id"] == self.raw["refund_id"]), None)
        return RefundView(self.ctx, r, self._order) if r else None

    def sales(self, info, **args):
        views = [SaleView(self.ctx, s, self._order) for s in self.raw["sales"]]
        return connection(views, key=lambda v: (v.raw["id"], v.raw["id"]), args=args, bulk=self.ctx.bulk)


class SaleView(View):
    typename = "ProductSale"
    taxes: list = []

    def __init__(self, ctx, raw, order):
        super().__init__(ctx, raw)
        self._order = order

    @property
    def id(self):
        return gid("Sale", self.raw["id"])

    lineItem = property(lambda self: LineItemView(self.ctx, om.line_by_id(self._order, self.raw["line_item_id"]), self._order))
    totalAmount = property(lambda self: money_bag(self.raw["amount"]))
    totalDiscountAmountAfterTaxes = property(lambda self: money_bag(0))
    totalDiscountAmountBeforeTaxes = property(lambda self: money_bag(0))
    totalTaxAmount = property(lambda self: money_bag(0))


class TransactionView(View):
    typename = "OrderTransaction"
    test = False
    errorCode = None
    parentTransaction = None
    paymentId = None
    fees: list = []

    def __init__(self, ctx, raw, order):
        super().__init__(ctx, raw)
        self._order = order

    formattedGateway = property(lambda self: self.raw["gateway"])
    manualPaymentGateway = property(lambda self: self.raw["manual"])
    amountSet = property(lambda self: money_bag(self.raw["amount"]))
    order = property(lambda self: OrderView(self.ctx, self._order))


class RefundView(View):
    typename = "Refund"

    def __init__(self, ctx, raw, order):
        super().__init__(ctx, raw)
        self._order = order

    processedAt = property(lambda self: self.raw["createdAt"])
    updatedAt = property(lambda self: self.raw["createdAt"])
    totalRefundedSet = property(lambda self: money_bag(self.raw["amount"]))
    order = property(lambda self: OrderView(self.ctx, self._order))

    def refundLineItems(self, info, **args):
        rows = []
        for i, x in enumerate(self.raw["lines"]):
            li = om.line_by_id(self._order, x["line_item_id"])
            loc = self.ctx.state.location(x["location_id"]) if x["location_id"] else None
            price = om.Decimal(li["price"])
            rows.append((i, {"id": None, "quantity": x["quantity"], "restockType": x["restockType"],
                             "restocked": x["restocked"], "location": LocationView(self.ctx, loc) if loc else None,
                             "lineItem": LineItemView(self.ctx, li, self._order), "priceSet": money_bag(price),
                             "subtotalSet": money_bag(price * x["quantity"]), "totalTaxSet": money_bag(0)}))
        page = connection(rows, key=lambda r: (r[0], r[0]), args=args, bulk=self.ctx.bulk)
        page["nodes"] = [r for _, r in page["nodes"]]
        page["edges"] = [{"cursor": e["cursor"], "node": e["node"][1]} for e in page["edges"]]
        return page
