"""GraphQL views over the shop state, and the Query/Mutation roots.

graphql-core calls `field_resolver` for every field: a view exposes a GraphQL field either as a
plain attribute/property or as a method taking (info, **arguments). Plain dicts are read by key.
A field a view does not implement raises a clear error instead of silently returning null, so a
test that needs it fails loudly ("not implemented by the simulator").
"""

from __future__ import annotations

import time
from typing import Any

from graphql import GraphQLError
from graphql.utilities import value_from_ast_untyped

from . import inventory
from .idempotency import MESSAGES, NEW, arguments_hash
from .pagination import connection
from .search import SearchError, matches, parse
from .state import ALL_NAMES, gid, gid_type, level_gid, parse_gid, parse_time


class Ctx:
    """Per-request context: the simulator, and whether we run a bulk query (no page limits)."""

    def __init__(self, sim, bulk: bool = False):
        self.sim, self.state, self.bulk = sim, sim.state, bulk


def variables_of(info) -> dict:
    vv = info.variable_values
    return getattr(vv, "coerced", vv) or {}  # graphql-core 3.3 wraps them, 3.2 does not


class NotImplementedField(GraphQLError):
    def __init__(self, type_name: str, field: str):
        super().__init__(f"{type_name}.{field} is not implemented by the simulator",
                         extensions={"code": "NOT_IMPLEMENTED_IN_SIMULATOR"})


def field_resolver(source: Any, info, **args):
    name = info.field_name
    if isinstance(source, dict):
        value = source.get(name)
    else:
        value = getattr(source, name, _MISSING)
        if value is _MISSING:
            raise NotImplementedField(getattr(source, "typename", type(source).__name__), name)
    return value(info, **args) if callable(value) else value


def type_resolver(value, info, abstract_type):
    return getattr(value, "typename", None)


_MISSING = object()


def _search(args, fields_fn, text_fn=lambda _: ""):
    try:
        groups = parse(args.get("query"))
    except SearchError as exc:
        raise GraphQLError(str(exc), extensions={"code": "BAD_REQUEST"}) from exc
    return lambda obj: matches(groups, fields_fn(obj), lambda: text_fn(obj))


def _t(value: str | None):
    return parse_time(value) if value else None


def _sort(sort_key: str | None, mapping: dict, default: str):
    fn = mapping.get(sort_key or default) or mapping[default]
    return fn


class View:
    typename = "Node"

    def __init__(self, ctx: Ctx, raw: dict):
        self.ctx, self.raw = ctx, raw

    def __getattr__(self, name):  # plain stored fields
        if name.startswith("_"):  # never pretend to have dunders (graphql-core probes __await__)
            raise AttributeError(name)
        raw = self.__dict__.get("raw")
        if raw is not None and name in raw:
            return raw[name]
        return _MISSING

    @property
    def id(self):
        return gid(self.typename, self.raw["id"])

    @property
    def legacyResourceId(self):
        return str(self.raw["id"])


# -- catalog -------------------------------------------------------------------------------
class ShopView(View):
    typename = "Shop"


class LocationView(View):
    typename = "Location"
    fulfillmentService = None
    isFulfillmentService = False

    @property
    def hasActiveInventory(self):
        return bool(self.ctx.state.levels_at(self.raw["id"]))

    @property
    def legacyResourceId(self):
        return str(self.raw["id"])

    def inventoryLevels(self, info, **args):
        return level_connection(self.ctx, self.ctx.state.levels_at(self.raw["id"]), args)

    def inventoryLevel(self, info, inventoryItemId):
        lv = self.ctx.state.level(parse_gid(inventoryItemId, "InventoryItem"), self.raw["id"])
        return LevelView(self.ctx, lv) if lv else None


class ProductView(View):
    typename = "Product"

    def _variants(self):
        return [VariantView(self.ctx, v) for v in self.ctx.state.variants_of(self.raw)]

    def variants(self, info, **args):
        return connection(self._variants(), key=lambda v: (v.raw["position"], v.raw["id"]), args=args, bulk=self.ctx.bulk)

    @property
    def variantsCount(self):
        return {"count": len(self.raw["variant_ids"]), "precision": "EXACT"}

    @property
    def totalInventory(self):
        st = self.ctx.state
        return sum(st.quantity(lv, "available") for v in self.ctx.state.variants_of(self.raw)
                   for lv in st.levels_of_item(v["inventory_item_id"]))

    @property
    def hasOnlyDefaultVariant(self):
        return len(self.raw["variant_ids"]) == 1


class VariantView(View):
    typename = "ProductVariant"

    @property
    def product(self):
        return ProductView(self.ctx, self.ctx.state.data["products"][str(self.raw["product_id"])])

    @property
    def inventoryItem(self):
        return ItemView(self.ctx, self.ctx.state.data["inventory_items"][str(self.raw["inventory_item_id"])])

    @property
    def displayName(self):
        return f"{self.product.raw['title']} - {self.raw['title']}"

    def metafield(self, info, key, namespace=None):
        # Single-line text metafields only, which is what the POS reads (custom.urdu_name).
        ns = namespace or "app"
        value = (self.raw.get("metafields") or {}).get(f"{ns}.{key}")
        if value is None:
            return None
        return {"namespace": ns, "key": key, "value": value, "type": "single_line_text_field",
                "id": f"gid://shopify/Metafield/{self.raw['id']}"}

    @property
    def inventoryQuantity(self):
        st = self.ctx.state
        return sum(st.quantity(lv, "available") for lv in st.levels_of_item(self.raw["inventory_item_id"]))


class ItemView(View):
    typename = "InventoryItem"

    @property
    def _variant(self):
        return self.ctx.state.data["variants"][str(self.raw["variant_id"])]

    @property
    def sku(self):
        return self._variant["sku"]

    @property
    def variant(self):
        return VariantView(self.ctx, self._variant)

    def inventoryLevel(self, info, locationId, **_):
        lv = self.ctx.state.level(self.raw["id"], parse_gid(locationId, "Location"))
        return LevelView(self.ctx, lv) if lv else None  # null = not stocked at that location

    def inventoryLevels(self, info, **args):
        return level_connection(self.ctx, self.ctx.state.levels_of_item(self.raw["id"]), args)

    @property
    def locationsCount(self):
        return {"count": len(self.ctx.state.levels_of_item(self.raw["id"])), "precision": "EXACT"}


def level_connection(ctx, levels, args):
    keep = _search(args, lambda lv: {
        "updated_at": lambda: [_t(lv["updatedAt"])],
        "inventory_item_id": lambda: [lv["item"]],
        "id": lambda: [lv["id"]],
    })
    views = [LevelView(ctx, lv) for lv in levels if keep(lv)]
    return connection(views, key=lambda v: (v.raw["id"], v.raw["id"]), args=args, bulk=ctx.bulk)


class LevelView(View):
    typename = "InventoryLevel"
    isActive = True
    canDeactivate = True
    deactivationAlert = None

    @property
    def id(self):
        return level_gid(self.raw)

    @property
    def item(self):
        return ItemView(self.ctx, self.ctx.state.data["inventory_items"][str(self.raw["item"])])

    @property
    def location(self):
        return LocationView(self.ctx, self.ctx.state.data["locations"][str(self.raw["location"])])

    def quantities(self, info, names):
        out = []
        for name in names:
            if name not in ALL_NAMES:
                raise GraphQLError(f"Invalid quantity name: {name}", extensions={"code": "BAD_REQUEST"})
            out.append({
                "id": f"gid://shopify/InventoryQuantity/{self.raw['id']}?inventory_item_id={self.raw['item']}&name={name}",
                "name": name, "quantity": self.ctx.state.quantity(self.raw, name),
                "updatedAt": self.raw["quantity_updated"].get(name, self.raw["updatedAt"]),
            })
        return out


class CustomerView(View):
    typename = "Customer"

    @property
    def displayName(self):
        return " ".join(p for p in (self.raw["firstName"], self.raw["lastName"]) if p) or self.raw.get("email") or ""

    @property
    def numberOfOrders(self):
        return str(self.raw["numberOfOrders"])

    @property
    def amountSpent(self):
        return {"amount": self.raw["amountSpent"], "currencyCode": "PKR"}

    @property
    def defaultEmailAddress(self):
        return {"emailAddress": self.raw["email"]} if self.raw.get("email") else None

    @property
    def defaultPhoneNumber(self):
        return {"phoneNumber": self.raw["phone"]} if self.raw.get("phone") else None

    @property
    def defaultAddress(self):
        if not self.raw.get("city"):
            return None
        return {"address1": None, "address2": None, "city": self.raw["city"], "province": None, "zip": None,
                "countryCodeV2": "PK", "phone": self.raw.get("phone")}


class BulkView(View):
    typename = "BulkOperation"

    def __init__(self, ctx, raw):
        super().__init__(ctx, ctx.sim.bulk.refresh(raw))


VIEW_FOR_TYPE = {"Product": ("product", ProductView), "ProductVariant": ("variant", VariantView),
                 "InventoryItem": ("inventory_item", ItemView), "Location": ("location", LocationView),
                 "Customer": ("customer", CustomerView)}


def node_for(ctx: Ctx, value: str):
    """Any supported GID -> view (or None), for node/nodes and stored payload references."""
    kind = gid_type(value)
    num = parse_gid(value)
    if kind in VIEW_FOR_TYPE:
        getter, cls = VIEW_FOR_TYPE[kind]
        raw = getattr(ctx.state, getter)(num)
        return cls(ctx, raw) if raw else None
    if kind == "InventoryLevel":
        lv = ctx.state.level_by_id(num)
        return LevelView(ctx, lv) if lv else None
    if kind == "BulkOperation":
        raw = ctx.state.data["bulk_operations"].get(str(num))
        return BulkView(ctx, raw) if raw else None
    if kind == "Shop" and num == ctx.state.data["shop"]["id"]:
        return ShopView(ctx, ctx.state.data["shop"])
    if kind in ("Order", "FulfillmentOrder", "Fulfillment"):
        return _order_node(ctx, kind, num)
    return None


def _order_node(ctx: Ctx, kind: str, num):
    from . import order_views as ov, orders as om  # order_views imports this module
    if kind == "Order":
        return ov.order_view(ctx, num)
    if kind == "FulfillmentOrder":
        fo = om.fo_by_id(ctx.state, num)
        return ov.FulfillmentOrderView(ctx, fo) if fo and om.routed(ctx.state, fo) else None
    f = ctx.state.data["fulfillments"].get(str(num)) if num is not None else None
    return ov.FulfillmentView(ctx, f) if f else None


def materialize(ctx: Ctx, payload):
    """Stored mutation payload (JSON) -> objects graphql-core can serialize."""
    if isinstance(payload, dict):
        if set(payload) == {"__ref"}:
            return node_for(ctx, payload["__ref"])
        return {k: materialize(ctx, v) for k, v in payload.items()}
    if isinstance(payload, list):
        return [materialize(ctx, v) for v in payload]
    return payload


class Typed(dict):
    """A plain object that is one member of a union or interface (type_resolver reads `typename`)."""

    def __init__(self, typename: str, **fields):
        super().__init__(fields, __typename=typename)
        self.typename = typename


def _money(text) -> dict:
    return {"amount": str(text), "currencyCode": "PKR"}


def discount_view(d: dict) -> dict:
    """A DiscountNode over a DiscountCodeBasic (the only kind the simulator keeps)."""
    return Typed("DiscountNode", id=gid("DiscountCodeNode", d["id"]), discount=_code_basic(d))


def _code_basic(d: dict) -> "Typed":
    if d.get("percentage") is not None:
        value = Typed("DiscountPercentage", percentage=float(d["percentage"]))
    else:
        value = Typed("DiscountAmount", amount=_money(d["amount"]), appliesOnEachItem=d["appliesOnEachItem"])
    minimum = (Typed("DiscountMinimumSubtotal", greaterThanOrEqualToSubtotal=_money(d["minimumSubtotal"]))
               if d.get("minimumSubtotal") else None)
    items = Typed("AllDiscountItems", allItems=True) if d.get("items", "all") == "all" else Typed(
        "DiscountProducts", products={"nodes": [], "pageInfo": {"hasNextPage": False, "endCursor": None}})

    def codes(info, **args):
        rows = [{"id": gid("DiscountRedeemCode", d["id"] * 100 + i), "code": c,
                 "asyncUsageCount": int(d.get("usage", {}).get(c, 0))} for i, c in enumerate(d["codes"])]
        return connection(rows, key=lambda r: (r["id"], r["id"]), args=args)
    basic = Typed("DiscountCodeBasic", title=d["title"], status=d["status"], startsAt=d["startsAt"],
                  endsAt=d["endsAt"], usageLimit=d["usageLimit"], appliesOncePerCustomer=d["appliesOncePerCustomer"],
                  codes=codes, minimumRequirement=minimum, createdAt=d["createdAt"], updatedAt=d["updatedAt"],
                  asyncUsageCount=sum(int(v) for v in d.get("usage", {}).values()),
                  codesCount={"count": len(d["codes"]), "precision": "EXACT"},
                  customerGets={"value": value, "items": items, "appliesOnOneTimePurchase": True,
                                "appliesOnSubscription": False})
    return basic


# -- roots ---------------------------------------------------------------------------------
class QueryRoot:
    typename = "QueryRoot"

    def __init__(self, ctx: Ctx):
        self.ctx, self.state = ctx, ctx.state

    def shop(self, info):
        return ShopView(self.ctx, self.state.data["shop"])

    def inventoryProperties(self, info):
        comprises = {"on_hand": ["available", "committed", "damaged", "quality_control", "reserved", "safety_stock"],
                     "unavailable": ["damaged", "quality_control", "reserved", "safety_stock"]}
        belongs = {n: [k for k, v in comprises.items() if n in v] for n in ALL_NAMES}
        return {"quantityNames": [{"name": n, "displayName": n.replace("_", " ").capitalize(), "isInUse": True,
                                   "belongsTo": belongs[n], "comprises": comprises.get(n, [])} for n in ALL_NAMES]}

    def locations(self, info, **args):
        keep = _search(args, lambda loc: {"name": lambda: [loc["name"]], "id": lambda: [loc["id"]],
                                          "active": lambda: [str(loc["isActive"]).lower()]},
                       lambda loc: loc["name"])
        locs = [LocationView(self.ctx, loc) for loc in self.state.data["locations"].values()
                if (args.get("includeInactive") or loc["isActive"]) and keep(loc)]
        key = _sort(args.get("sortKey"), {"ID": lambda v: (v.raw["id"], v.raw["id"]),
                                           "NAME": lambda v: (v.raw["name"], v.raw["id"])}, "NAME")
        return connection(locs, key=key, args=args, bulk=self.ctx.bulk)

    def discountNodes(self, info, **args):
        keep = _search(args, lambda d: {"method": lambda: ["code"], "status": lambda: [d["status"].lower()],
                                        "title": lambda: [d["title"]]}, lambda d: d["title"])
        rows = [discount_view(d) for d in self.state.data["discounts"].values() if keep(d)]
        return connection(rows, key=lambda v: (v["id"], v["id"]), args=args, bulk=self.ctx.bulk)

    def discountNode(self, info, id):
        d = self.state.discount(id)
        return discount_view(d) if d else None

    def location(self, info, id=None):
        if id is None:  # the shop's primary location
            locs = list(self.state.data["locations"].values())
            return LocationView(self.ctx, locs[0]) if locs else None
        loc = self.state.location(parse_gid(id, "Location"))
        return LocationView(self.ctx, loc) if loc else None

    def products(self, info, **args):
        st = self.state

        def fields(p):
            variants = st.variants_of(p)
            return {
                "updated_at": lambda: [_t(p["updatedAt"])], "created_at": lambda: [_t(p["createdAt"])],
                "status": lambda: [p["status"]], "tag": lambda: p["tags"], "title": lambda: [p["title"]],
                "product_type": lambda: [p["productType"]], "vendor": lambda: [p["vendor"]],
                "id": lambda: [p["id"]], "sku": lambda: [v["sku"] for v in variants],
                "barcode": lambda: [v["barcode"] for v in variants],
            }
        keep = _search(args, fields, lambda p: p["title"])
        views = [ProductView(self.ctx, p) for p in st.live_products() if keep(p)]
        key = _sort(args.get("sortKey"), {
            "ID": lambda v: (v.raw["id"], v.raw["id"]), "UPDATED_AT": lambda v: (v.raw["updatedAt"], v.raw["id"]),
            "CREATED_AT": lambda v: (v.raw["createdAt"], v.raw["id"]), "TITLE": lambda v: (v.raw["title"], v.raw["id"]),
            "VENDOR": lambda v: (v.raw["vendor"], v.raw["id"]), "PRODUCT_TYPE": lambda v: (v.raw["productType"], v.raw["id"]),
        }, "ID")
        return connection(views, key=key, args=args, bulk=self.ctx.bulk)

    def product(self, info, id):
        p = self.state.product(parse_gid(id, "Product"))
        return ProductView(self.ctx, p) if p else None

    def productVariant(self, info, id):
        v = self.state.variant(parse_gid(id, "ProductVariant"))
        return VariantView(self.ctx, v) if v else None

    def productVariants(self, info, **args):
        st = self.state
        keep = _search(args, lambda v: {
            "updated_at": lambda: [_t(v["updatedAt"])], "sku": lambda: [v["sku"]], "barcode": lambda: [v["barcode"]],
            "product_id": lambda: [v["product_id"]], "id": lambda: [v["id"]],
        }, lambda v: v["title"])
        views = [VariantView(self.ctx, v) for p in st.live_products() for v in st.variants_of(p) if keep(v)]
        key = _sort(args.get("sortKey"), {"ID": lambda v: (v.raw["id"], v.raw["id"]),
                                           "SKU": lambda v: (v.raw["sku"] or "", v.raw["id"]),
                                           "POSITION": lambda v: (v.raw["position"], v.raw["id"])}, "ID")
        return connection(views, key=key, args=args, bulk=self.ctx.bulk)

    def inventoryItem(self, info, id):
        it = self.state.inventory_item(parse_gid(id, "InventoryItem"))
        return ItemView(self.ctx, it) if it else None

    def inventoryLevel(self, info, id):
        return node_for(self.ctx, id) if gid_type(id) == "InventoryLevel" else None

    def customers(self, info, **args):
        keep = _search(args, lambda c: {
            "updated_at": lambda: [_t(c["updatedAt"])], "created_at": lambda: [_t(c["createdAt"])],
            "phone": lambda: [c["phone"]], "email": lambda: [c["email"]], "tag": lambda: c["tags"],
            "id": lambda: [c["id"]], "state": lambda: [c["state"]], "first_name": lambda: [c["firstName"]],
            "last_name": lambda: [c["lastName"]],
        }, lambda c: f"{c['firstName']} {c['lastName']} {c['phone']} {c['email']}")
        views = [CustomerView(self.ctx, c) for c in self.state.data["customers"].values() if keep(c)]
        key = _sort(args.get("sortKey"), {
            "ID": lambda v: (v.raw["id"], v.raw["id"]), "UPDATED_AT": lambda v: (v.raw["updatedAt"], v.raw["id"]),
            "CREATED_AT": lambda v: (v.raw["createdAt"], v.raw["id"]),
            "NAME": lambda v: (v.displayName, v.raw["id"]),
        }, "ID")
        return connection(views, key=key, args=args, bulk=self.ctx.bulk)

    def customer(self, info, id):
        c = self.state.customer(parse_gid(id, "Customer"))
        return CustomerView(self.ctx, c) if c else None

    def deletionEvents(self, info, **args):
        types = set(args.get("subjectTypes") or ["COLLECTION", "PRODUCT"])
        keep = _search(args, lambda e: {"occurred_at": lambda: [_t(e["occurredAt"])],
                                        "subject_type": lambda: [e["subjectType"]]})
        events = [(i, e) for i, e in enumerate(self.state.data["deletion_events"]) if e["subjectType"] in types and keep(e)]
        page = connection(events, key=lambda ie: (ie[1]["occurredAt"], ie[0]), args=args, bulk=self.ctx.bulk)
        page["nodes"] = [e for _, e in page["nodes"]]
        page["edges"] = [{"cursor": ed["cursor"], "node": ed["node"][1]} for ed in page["edges"]]
        return page

    def orders(self, info, **args):
        from .order_views import order_connection
        return order_connection(self.ctx, args)

    def order(self, info, id):
        return node_for(self.ctx, id) if gid_type(id) == "Order" else None

    def fulfillmentOrder(self, info, id):
        return node_for(self.ctx, id) if gid_type(id) == "FulfillmentOrder" else None

    def fulfillment(self, info, id):
        return node_for(self.ctx, id) if gid_type(id) == "Fulfillment" else None

    def node(self, info, id):
        return node_for(self.ctx, id)

    def nodes(self, info, ids):
        return [node_for(self.ctx, i) for i in ids]

    def bulkOperation(self, info, id):
        raw = self.state.data["bulk_operations"].get(str(parse_gid(id, "BulkOperation")))
        return BulkView(self.ctx, raw) if raw else None

    def currentBulkOperation(self, info, type="QUERY"):
        ops = [o for o in self.state.data["bulk_operations"].values() if o["type"] == type]
        return BulkView(self.ctx, max(ops, key=lambda o: o["id"])) if ops else None

    def bulkOperations(self, info, **args):
        ops = [self.ctx.sim.bulk.refresh(o) for o in self.state.data["bulk_operations"].values()]
        keep = _search(args, lambda o: {"status": lambda: [o["status"]], "operation_type": lambda: [o["type"]],
                                        "created_at": lambda: [_t(o["createdAt"])], "id": lambda: [o["id"]]})
        views = [BulkView(self.ctx, o) for o in ops if keep(o)]
        key = _sort(args.get("sortKey"), {"CREATED_AT": lambda v: (v.raw["createdAt"], v.raw["id"]),
                                           "COMPLETED_AT": lambda v: (v.raw["completedAt"] or "", v.raw["id"])},
                    "CREATED_AT")
        return connection(views, key=key, args=args, bulk=self.ctx.bulk)


class MutationRoot:
    typename = "Mutation"

    def __init__(self, ctx: Ctx):
        self.ctx, self.state, self.sim = ctx, ctx.state, ctx.sim

    def _idempotent(self, info, mutation: str, args: dict, apply, result_field: str, typed: bool):
        node = info.field_nodes[0]
        directive = next(d for d in node.directives if d.name.value == "idempotent")  # app.py checked presence
        key = value_from_ast_untyped(directive.arguments[0].value, variables_of(info))
        outcome = self.sim.idem.begin(mutation, key, arguments_hash(args))
        if outcome.kind == "REPLAY":
            return materialize(self.ctx, outcome.payload)  # nothing applied again
        if outcome.kind != NEW:
            error = {"field": None, "message": MESSAGES[outcome.kind]}
            if typed:
                error["code"] = outcome.kind
            return {result_field: None, "userErrors": [error]}
        try:
            hold = self.sim.faults.config.hold_mutation_ms
            if hold:
                time.sleep(hold / 1000.0)  # test hook: keep this key "in flight"
            with self.state.lock:
                payload, failed = apply(key)
                self.sim.idem.finish(mutation, key, payload, failed)
                self.state.save()  # change + idempotency record in one atomic write
        except BaseException:
            self.sim.idem.abandon(mutation, key)
            raise
        return materialize(self.ctx, payload)

    def inventoryAdjustQuantities(self, info, input):
        return self._idempotent(info, "inventoryAdjustQuantities", {"input": input},
                                lambda key: inventory.adjust(self.state, input, key),
                                "inventoryAdjustmentGroup", typed=True)

    def inventorySetQuantities(self, info, input):
        return self._idempotent(info, "inventorySetQuantities", {"input": input},
                                lambda key: inventory.set_quantities(self.state, input, key),
                                "inventoryAdjustmentGroup", typed=True)

    def inventoryActivate(self, info, **args):
        return self._idempotent(info, "inventoryActivate", args,
                                lambda key: inventory.activate(self.state, args, key),
                                "inventoryLevel", typed=False)

    # -- orders: none of these accept @idempotent; a resend applies again (fulfillmentCreate!) --
    def _locked(self, apply):
        with self.state.lock:
            out = apply()
            self.state.save()
        return out

    def fulfillmentCreate(self, info, fulfillment, message=None):
        from . import orders as om
        from .order_views import FulfillmentView
        out = self._locked(lambda: om.fulfillment_create(self.state, fulfillment, message, origin="api"))
        if out["fulfillment"] is not None:
            out["fulfillment"] = FulfillmentView(self.ctx, out["fulfillment"])
        return out

    def fulfillmentTrackingInfoUpdate(self, info, fulfillmentId, trackingInfoInput, notifyCustomer=None):
        from . import orders as om
        from .order_views import FulfillmentView
        out = self._locked(lambda: om.fulfillment_tracking_update(self.state, fulfillmentId, trackingInfoInput,
                                                                  notifyCustomer))
        if out["fulfillment"] is not None:
            out["fulfillment"] = FulfillmentView(self.ctx, out["fulfillment"])
        return out

    def fulfillmentOrderMove(self, info, id, newLocationId, fulfillmentOrderLineItems=None):
        from . import orders as om
        from .order_views import FulfillmentOrderView
        out = self._locked(lambda: om.fulfillment_order_move(self.state, id, newLocationId, fulfillmentOrderLineItems))
        for k in ("movedFulfillmentOrder", "originalFulfillmentOrder", "remainingFulfillmentOrder"):
            if out[k] is not None:
                out[k] = FulfillmentOrderView(self.ctx, out[k])
        return out

    def _tags(self, id, tags, add):
        from . import orders as om
        from .order_views import OrderView
        record, kind, errors = self._locked(lambda: om.tags_change(self.state, id, tags, add))
        if errors:
            return {"node": None, "userErrors": errors}
        view = {"Order": OrderView, "Customer": CustomerView, "Product": ProductView}[kind]
        return {"node": view(self.ctx, record), "userErrors": []}

    def tagsAdd(self, info, id, tags):
        return self._tags(id, tags, add=True)

    def discountCodeDeactivate(self, info, id):
        """Shopify ends the discount now (status EXPIRED) and so every one of its codes; doing it
        again changes nothing. An id that is no code discount is refused with a userError."""
        d = self._locked(lambda: self.state.deactivate_discount(id))
        if d is None:
            return {"codeDiscountNode": None,
                    "userErrors": [{"field": ["id"], "message": "Discount does not exist", "code": "INVALID",
                                    "extraInfo": None}]}
        return {"codeDiscountNode": Typed("DiscountCodeNode", id=gid("DiscountCodeNode", d["id"]),
                                          codeDiscount=_code_basic(d)), "userErrors": []}

    def tagsRemove(self, info, id, tags):
        return self._tags(id, tags, add=False)

    # -- catalog ------------------------------------------------------------------------------
    def productVariantsBulkUpdate(self, info, productId, variants, allowPartialUpdates=False, media=None):
        """Supports what the POS sends (barcode, and sku/price for admin-side tests). Shopify's
        rules kept: the product must exist, every variant must be its own, and with
        allowPartialUpdates false one error changes nothing."""
        supported = {"id", "barcode", "sku", "price", "compareAtPrice"}

        def apply():
            errors = []
            num = parse_gid(productId, "Product")
            product = self.state.product(num)
            if product is None:
                return {"product": None, "productVariants": None, "userErrors": [
                    {"field": ["productId"], "message": "Product does not exist", "code": "PRODUCT_DOES_NOT_EXIST"}]}
            targets = []
            for i, spec in enumerate(variants):
                vnum = parse_gid(spec.get("id"), "ProductVariant") if spec.get("id") else None
                variant = self.state.variant(vnum)
                extra = set(k for k, v in spec.items() if v is not None) - supported
                if not spec.get("id"):
                    errors.append({"field": ["variants", str(i), "id"], "message": "Product variant is missing ID attribute",
                                   "code": "PRODUCT_VARIANT_ID_MISSING"})
                elif variant is None:
                    errors.append({"field": ["variants", str(i), "id"], "message": "Product variant does not exist",
                                   "code": "PRODUCT_VARIANT_DOES_NOT_EXIST"})
                elif variant["product_id"] != num:
                    errors.append({"field": ["variants", str(i), "id"],
                                   "message": "Product variant does not belong to this product",
                                   "code": "MUST_BE_FOR_THIS_PRODUCT"})
                elif extra:
                    errors.append({"field": ["variants", str(i)], "code": "INVALID_INPUT",
                                   "message": f"simulator does not support {sorted(extra)}"})
                elif spec.get("barcode") is not None and len(spec["barcode"]) > 255:
                    errors.append({"field": ["variants", str(i), "barcode"], "message": "Barcode is too long",
                                   "code": "TOO_LONG"})
                else:
                    targets.append((variant, spec))
            if errors and not allowPartialUpdates:
                return {"product": None, "productVariants": None, "userErrors": errors}
            ts = self.state.now()
            for variant, spec in targets:
                for field in ("barcode", "sku", "compareAtPrice"):
                    if field in spec:
                        variant[field] = spec[field]
                if "price" in spec:
                    variant["price"] = str(spec["price"])
                variant["updatedAt"] = ts
            if targets:
                product["updatedAt"] = ts
            return {"product": ProductView(self.ctx, product),
                    "productVariants": [VariantView(self.ctx, v) for v, _ in targets], "userErrors": errors}

        return self._locked(apply)

    def bulkOperationRunQuery(self, info, query, groupObjects=False):
        payload = self.sim.bulk.run(query, groupObjects)
        if payload["bulkOperation"]:
            payload["bulkOperation"] = BulkView(self.ctx, payload["bulkOperation"])
        return payload

    def bulkOperationCancel(self, info, id):
        payload = self.sim.bulk.cancel(parse_gid(id, "BulkOperation"))
        if payload["bulkOperation"]:
            payload["bulkOperation"] = BulkView(self.ctx, payload["bulkOperation"])
        return payload
