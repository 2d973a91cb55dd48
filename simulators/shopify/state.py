"""The simulated shop: plain JSON-able dicts, one lock, atomic persistence.

Everything the fake knows lives in `ShopState.data` so that one `json.dump` captures the shop,
the inventory, the idempotency records and the bulk operations together. A change and the
idempotency record that proves it was applied are therefore persisted in the same atomic
write: a crash can never leave "applied but key forgotten" behind.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

GID_RE = re.compile(r"^gid://shopify/(?P<type>[A-Za-z]+)/(?P<id>\d+)(?:\?(?P<query>.*))?$")

# Quantities stored per (item, location). on_hand and unavailable are derived (see quantities()).
STORED_NAMES = ("available", "committed", "reserved", "damaged", "quality_control",
                "safety_stock", "incoming")
UNAVAILABLE_PARTS = ("damaged", "quality_control", "reserved", "safety_stock")
ALL_NAMES = STORED_NAMES + ("on_hand", "unavailable")


def gid(type_name: str, num: int | str) -> str:
    return f"gid://shopify/{type_name}/{num}"


def parse_gid(value: Any, expected: str | None = None) -> int | None:
    """Numeric id of a Shopify GID, or None when it is malformed / of another type."""
    m = GID_RE.match(value) if isinstance(value, str) else None
    if not m or (expected and m.group("type") != expected):
        return None
    return int(m.group("id"))


def gid_type(value: Any) -> str | None:
    m = GID_RE.match(value) if isinstance(value, str) else None
    return m.group("type") if m else None


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> datetime:
    dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


class Clock:
    """Wall clock plus an offset that tests can advance (idempotency expiry, updated_at windows)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        # Shopify timestamps have second precision.
        return (datetime.now(timezone.utc) + self.offset).replace(microsecond=0)

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


def empty_shop() -> dict:
    return {
        "schema_version": 1,
        "next_id": 1001,
        "shop": {
            "id": 1, "name": "Rang-e-Bahar Clothing", "myshopifyDomain": "rang-e-bahar.myshopify.com",
            "currencyCode": "PKR", "ianaTimezone": "Asia/Karachi", "email": "owner@rang-e-bahar.example",
            "plan": {"publicDisplayName": "Basic", "shopifyPlus": False, "partnerDevelopment": False},
        },
        "locations": {}, "products": {}, "variants": {}, "inventory_items": {},
        "levels": {},          # "<item id>:<location id>" -> level (exists only once activated)
        "customers": {},
        "discounts": {},       # code discounts (DiscountCodeBasic), for the tills' coupons
        "deletion_events": [],
        "adjustments": [],     # applied inventory changes, for /_sim/adjustments
        "idempotency": {},     # "<mutation>:<key>" -> record (see idempotency.py)
        "bulk_operations": {},
        # Online orders (orders.py). Order names count from #1001 like a new Shopify store.
        "orders": {}, "fulfillment_orders": {}, "fulfillments": {}, "next_order_number": 1001,
    }


class ShopState:
    def __init__(self, data_dir: Path | None, clock: Clock | None = None) -> None:
        self.lock = threading.RLock()
        self.clock = clock or Clock()
        self.data_dir = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="shopify-sim-"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.data_dir / "state.json"
        self.data = empty_shop()
        if self.path.exists():
            self.data = json.loads(self.path.read_text())
            for key, value in empty_shop().items():  # files written by older versions
                self.data.setdefault(key, value)

    # -- persistence ---------------------------------------------------------------------
    def save(self) -> None:
        """Write state.json atomically (tmp file + fsync + rename): a kill never leaves half a file."""
        with self.lock:
            text = json.dumps(self.data, separators=(",", ":"), sort_keys=True)
            fd, tmp = tempfile.mkstemp(dir=self.data_dir, prefix=".state-", suffix=".tmp")
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)

    # -- ids and time --------------------------------------------------------------------
    def new_id(self) -> int:
        with self.lock:
            n = self.data["next_id"]
            self.data["next_id"] = n + 1
            return n

    def now(self) -> str:
        return iso(self.clock.now())

    # -- lookups -------------------------------------------------------------------------
    def location(self, num: int | None) -> dict | None:
        return self.data["locations"].get(str(num)) if num is not None else None

    def product(self, num: int | None) -> dict | None:
        p = self.data["products"].get(str(num)) if num is not None else None
        return p if p and not p.get("deleted") else None

    def variant(self, num: int | None) -> dict | None:
        v = self.data["variants"].get(str(num)) if num is not None else None
        return v if v and self.product(v["product_id"]) else None

    def inventory_item(self, num: int | None) -> dict | None:
        it = self.data["inventory_items"].get(str(num)) if num is not None else None
        return it if it and self.variant(it["variant_id"]) else None

    def customer(self, num: int | None) -> dict | None:
        return self.data["customers"].get(str(num)) if num is not None else None

    def level(self, item_id: int, location_id: int) -> dict | None:
        return self.data["levels"].get(f"{item_id}:{location_id}")

    def level_by_id(self, num: int) -> dict | None:
        for lvl in self.data["levels"].values():
            if lvl["id"] == num:
                return lvl
        return None

    def levels_of_item(self, item_id: int) -> list[dict]:
        return [lv for lv in self.data["levels"].values() if lv["item"] == item_id]

    def levels_at(self, location_id: int) -> list[dict]:
        return [lv for lv in self.data["levels"].values()
                if lv["location"] == location_id and self.inventory_item(lv["item"])]

    def live_products(self) -> list[dict]:
        return [p for p in self.data["products"].values() if not p.get("deleted")]

    def variants_of(self, product: dict) -> list[dict]:
        return [self.data["variants"][str(v)] for v in product["variant_ids"]]

    # -- quantities ----------------------------------------------------------------------
    @staticmethod
    def quantity(level: dict, name: str) -> int:
        q = level["quantities"]
        if name == "unavailable":
            return sum(q[n] for n in UNAVAILABLE_PARTS)
        if name == "on_hand":  # on_hand = available + committed + unavailable; incoming is outside
            return q["available"] + q["committed"] + sum(q[n] for n in UNAVAILABLE_PARTS)
        return q[name]

    def touch_level(self, level: dict, names: list[str]) -> None:
        ts = self.now()
        level["updatedAt"] = ts
        for n in names:
            level["quantity_updated"][n] = ts
        item = self.data["inventory_items"][str(level["item"])]
        item["updatedAt"] = ts

    def new_level(self, item_id: int, location_id: int, available: int = 0) -> dict:
        ts = self.now()
        level = {
            "id": self.new_id(), "item": item_id, "location": location_id,
            "quantities": {n: 0 for n in STORED_NAMES}, "quantity_updated": {},
            "createdAt": ts, "updatedAt": ts,
        }
        level["quantities"]["available"] = available
        self.data["levels"][f"{item_id}:{location_id}"] = level
        return level

    # -- admin-side changes (what a merchant does in the Shopify admin) -------------------
    def add_location(self, spec: dict) -> dict:
        with self.lock:
            num, ts = self.new_id(), self.now()
            loc = {
                "id": num, "name": spec["name"], "isActive": spec.get("isActive", True),
                "fulfillsOnlineOrders": spec.get("fulfillsOnlineOrders", True),
                "shipsInventory": spec.get("shipsInventory", True),
                "code": spec.get("code"),
                "address": {"address1": spec.get("address1"), "address2": None,
                            "city": spec.get("city"), "province": spec.get("province"),
                            "provinceCode": spec.get("provinceCode"), "zip": spec.get("zip"),
                            "countryCode": "PK", "phone": spec.get("phone")},
                "createdAt": ts, "updatedAt": ts, "deactivatedAt": None,
            }
            self.data["locations"][str(num)] = loc
            return loc

    def resolve_location(self, ref: Any) -> dict | None:
        """A location by GID, number, name or branch code (seed files use names/codes)."""
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            return self.location(int(ref))
        num = parse_gid(ref, "Location")
        if num is not None:
            return self.location(num)
        for loc in self.data["locations"].values():
            if ref in (loc["name"], loc.get("code")):
                return loc
        return None

    def create_product(self, spec: dict) -> dict:
        with self.lock:
            num, ts = self.new_id(), self.now()
            title = spec["title"]
            product = {
                "id": num, "title": title,
                "handle": spec.get("handle") or re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-"),
                "status": spec.get("status", "ACTIVE"), "vendor": spec.get("vendor", ""),
                "productType": spec.get("productType", ""), "tags": list(spec.get("tags", [])),
                "createdAt": ts, "updatedAt": ts, "variant_ids": [], "deleted": False,
            }
            self.data["products"][str(num)] = product
            for position, vspec in enumerate(spec.get("variants") or [{}], start=1):
                self._create_variant(product, vspec, position, ts)
            return product

    def _create_variant(self, product: dict, spec: dict, position: int, ts: str) -> dict:
        vnum, inum = self.new_id(), self.new_id()
        options = spec.get("selectedOptions") or [
            {"name": k, "value": v} for k, v in (spec.get("options") or {}).items()
        ] or [{"name": "Title", "value": "Default Title"}]
        variant = {
            "id": vnum, "product_id": product["id"],
            "title": spec.get("title") or " / ".join(o["value"] for o in options),
            "sku": spec.get("sku"), "barcode": spec.get("barcode"),
            "price": str(spec.get("price", "0.00")), "compareAtPrice": spec.get("compareAtPrice"),
            "taxable": spec.get("taxable", True), "inventoryPolicy": spec.get("inventoryPolicy", "DENY"),
            "position": position, "selectedOptions": options, "inventory_item_id": inum,
            "createdAt": ts, "updatedAt": ts,
            "metafields": dict(spec.get("metafields") or {}),  # "namespace.key" -> value
        }
        item = {"id": inum, "variant_id": vnum, "tracked": spec.get("tracked", True),
                "requiresShipping": True, "createdAt": ts, "updatedAt": ts}
        self.data["variants"][str(vnum)] = variant
        self.data["inventory_items"][str(inum)] = item
        product["variant_ids"].append(vnum)
        for ref, qty in (spec.get("inventory") or {}).items():
            loc = self.resolve_location(ref)
            if loc is None:
                raise ValueError(f"unknown location {ref!r}")
            qty = qty if isinstance(qty, dict) else {"available": qty}
            level = self.new_level(inum, loc["id"])
            for name, value in qty.items():
                if name not in STORED_NAMES:
                    raise ValueError(f"unknown quantity name {name!r}")
                level["quantities"][name] = int(value)
        return variant

    PRODUCT_FIELDS = ("title", "handle", "status", "vendor", "productType", "tags")
    VARIANT_FIELDS = ("title", "sku", "barcode", "price", "compareAtPrice", "taxable", "inventoryPolicy")

    def update_product(self, num: int, spec: dict) -> dict:
        """Merchant edits a product (and/or its variants): bumps updatedAt like Shopify does."""
        with self.lock:
            product = self.product(num)
            if product is None:
                raise KeyError(f"product {num} not found")
            ts = self.now()
            for field in self.PRODUCT_FIELDS:
                if field in spec:
                    product[field] = spec[field]
            for vspec in spec.get("variants", []):
                if "id" in vspec:
                    vnum = parse_gid(vspec["id"], "ProductVariant") or int(vspec["id"])
                    variant = self.data["variants"][str(vnum)]
                    if variant["product_id"] != num:
                        raise KeyError(f"variant {vnum} is not on product {num}")
                    for field in self.VARIANT_FIELDS:
                        if field in vspec:
                            variant[field] = str(vspec[field]) if field == "price" else vspec[field]
                    if "metafields" in vspec:
                        variant.setdefault("metafields", {}).update(vspec["metafields"])
                    if "tracked" in vspec:
                        self.data["inventory_items"][str(variant["inventory_item_id"])]["tracked"] = vspec["tracked"]
                    variant["updatedAt"] = ts
                else:
                    self._create_variant(product, vspec, len(product["variant_ids"]) + 1, ts)
            product["updatedAt"] = ts
            return product

    def delete_product(self, num: int) -> None:
        with self.lock:
            product = self.product(num)
            if product is None:
                raise KeyError(f"product {num} not found")
            ts = self.now()
            product["deleted"] = True
            product["updatedAt"] = ts
            self.data["deletion_events"].append(
                {"subjectId": gid("Product", num), "subjectType": "PRODUCT", "occurredAt": ts})

    def add_discount(self, spec: dict) -> dict:
        """A code discount off the whole order: {"title", "codes": [...], "percentage" (0-1) or
        "amount" (text), "minimumSubtotal", "usageLimit", "appliesOncePerCustomer", "startsAt",
        "endsAt", "status", "usage": {code: count}}."""
        with self.lock:
            num, ts = self.new_id(), self.now()
            d = {"id": num, "title": spec["title"], "codes": list(spec["codes"]),
                 "percentage": spec.get("percentage"), "amount": spec.get("amount"),
                 "appliesOnEachItem": bool(spec.get("appliesOnEachItem", False)),
                 "minimumSubtotal": spec.get("minimumSubtotal"), "usageLimit": spec.get("usageLimit"),
                 "appliesOncePerCustomer": bool(spec.get("appliesOncePerCustomer", False)),
                 "startsAt": spec.get("startsAt") or ts,
                 "endsAt": spec.get("endsAt"), "status": spec.get("status", "ACTIVE"),
                 "usage": dict(spec.get("usage", {})), "items": spec.get("items", "all"),
                 "createdAt": ts, "updatedAt": ts}
            self.data["discounts"][str(num)] = d
            return d

    def discount(self, discount_gid: str) -> dict | None:
        if gid_type(discount_gid) != "DiscountCodeNode":
            return None
        return self.data["discounts"].get(str(parse_gid(discount_gid, "DiscountCodeNode")))

    def deactivate_discount(self, discount_gid: str) -> dict | None:
        """As Shopify: the discount ends now (EXPIRED); an ended one stays as it is."""
        d = self.discount(discount_gid)
        if d is not None and d["status"] != "EXPIRED":
            ts = self.now()
            d.update(status="EXPIRED", endsAt=ts, updatedAt=ts)
        return d

    def delete_discount(self, discount_gid: str) -> bool:
        d = self.discount(discount_gid)
        if d is not None:
            del self.data["discounts"][str(d["id"])]
        return d is not None

    def upsert_customer(self, spec: dict) -> dict:
        with self.lock:
            ts = self.now()
            num = parse_gid(spec.get("id"), "Customer") if spec.get("id") else None
            if num is not None:
                cust = self.customer(num)
                if cust is None:
                    raise KeyError(f"customer {num} not found")
            else:
                num = self.new_id()
                cust = {"id": num, "firstName": None, "lastName": None, "phone": None, "email": None,
                        "tags": [], "note": None, "state": "ENABLED", "city": None,
                        "numberOfOrders": 0, "amountSpent": "0.00", "createdAt": ts}
                self.data["customers"][str(num)] = cust
            for field in ("firstName", "lastName", "phone", "email", "tags", "note", "state", "city"):
                if field in spec:
                    cust[field] = spec[field]
            cust["updatedAt"] = ts
            return cust

    def set_level_quantities(self, item_id: int, location_id: int, values: dict, activate: bool = True) -> dict:
        """Admin/online-side stock change (e.g. an online order moving available -> committed)."""
        with self.lock:
            if self.inventory_item(item_id) is None or self.location(location_id) is None:
                raise KeyError("unknown inventory item or location")
            level = self.level(item_id, location_id)
            if level is None:
                if not activate:
                    raise KeyError("item not stocked at location")
                level = self.new_level(item_id, location_id)
            before = {n: level["quantities"][n] for n in values}
            for name, value in values.items():
                if name not in STORED_NAMES:
                    raise ValueError(f"unknown quantity name {name!r}")
                level["quantities"][name] = int(value)
            self.touch_level(level, list(values))
            self.data["adjustments"].append({
                "source": "admin", "idempotencyKey": None, "mutation": None, "reason": "admin",
                "referenceDocumentUri": None, "inventoryItemId": gid("InventoryItem", item_id),
                "locationId": gid("Location", location_id),
                "changes": {n: int(values[n]) - before[n] for n in values}, "time": self.now()})
            return level

    # -- views for tests -------------------------------------------------------------------
    def snapshot(self) -> dict:
        """The shop as tests see it at GET /_sim/state (GIDs, derived quantities)."""
        with self.lock:
            inventory = []
            for lv in self.data["levels"].values():
                item = self.inventory_item(lv["item"])
                if item is None:  # its product was deleted: gone from Shopify too
                    continue
                variant = self.data["variants"][str(item["variant_id"])]
                inventory.append({
                    "inventoryItemId": gid("InventoryItem", lv["item"]),
                    "locationId": gid("Location", lv["location"]),
                    "sku": variant["sku"],
                    "levelId": level_gid(lv), "updatedAt": lv["updatedAt"],
                    **{n: self.quantity(lv, n) for n in ALL_NAMES},
                })
            products = []
            for p in self.data["products"].values():
                products.append({
                    "id": gid("Product", p["id"]), "title": p["title"], "status": p["status"],
                    "deleted": p.get("deleted", False), "updatedAt": p["updatedAt"],
                    "variants": [{
                        "id": gid("ProductVariant", v["id"]), "sku": v["sku"], "barcode": v["barcode"],
                        "price": v["price"], "inventoryItemId": gid("InventoryItem", v["inventory_item_id"]),
                        "tracked": self.data["inventory_items"][str(v["inventory_item_id"])]["tracked"],
                    } for v in self.variants_of(p)],
                })
            return {
                "shop": self.data["shop"],
                "now": self.now(),
                "locations": [{"id": gid("Location", loc["id"]), "name": loc["name"], "code": loc.get("code"),
                               "isActive": loc["isActive"]} for loc in self.data["locations"].values()],
                "products": products,
                "customers": [{"id": gid("Customer", c["id"]), "firstName": c["firstName"],
                               "lastName": c["lastName"], "phone": c["phone"], "updatedAt": c["updatedAt"]}
                              for c in self.data["customers"].values()],
                "inventory": inventory,
            }


def level_gid(level: dict) -> str:
    # Shopify's InventoryLevel GIDs carry the item as a query parameter.
    return f"gid://shopify/InventoryLevel/{level['id']}?inventory_item_id={level['item']}"
