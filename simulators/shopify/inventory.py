"""Inventory mutation rules (inventoryAdjustQuantities, inventorySetQuantities, inventoryActivate).

Each function validates the whole request first and applies nothing if anything is wrong
(all-or-nothing per call, the reference's working assumption). It returns
(payload, failed): `payload` is JSON (stored with the idempotency record) in which objects the
client may expand further are references `{"__ref": gid}` resolved by the GraphQL views.
Must be called with `state.lock` held.

Inferred behaviour (not documented by Shopify; verify on a dev store):
* adjusting/setting an item at a location where it is not stocked -> INVALID_LOCATION
  "The specified inventory item is not stocked at the location." (activate it first);
* activating an already active level with `available` -> generic userError, nothing changed.
"""

from __future__ import annotations

import re

from .state import ShopState, gid, level_gid, parse_gid

REASONS = frozenset({
    "correction", "cycle_count_available", "damaged", "movement_created", "movement_updated",
    "movement_received", "movement_canceled", "other", "promotion", "quality_control", "received",
    "reservation_created", "reservation_deleted", "reservation_updated", "restock", "safety_stock",
    "shrinkage",
})
ADJUST_NAMES = ("available", "damaged", "quality_control", "reserved", "safety_stock", "incoming")
SET_NAMES = ("available", "on_hand")
ON_HAND_PARTS = ("available", "committed", "damaged", "quality_control", "reserved", "safety_stock")
ADJUST_BOUND = 2_000_000_000
SET_MAX = 1_000_000_000
URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")


def _err(field, message, code=None) -> dict:
    e = {"field": field, "message": message}
    if code is not None:
        e["code"] = code
    return e


def _common_checks(input_: dict, names: tuple, name_code: str) -> list[dict]:
    errors = []
    if input_["name"] not in names:
        errors.append(_err(["input", "name"], f"The quantity name must be one of: {', '.join(names)}.", name_code))
    if input_["reason"] not in REASONS:
        errors.append(_err(["input", "reason"], "The specified reason is invalid.", "INVALID_REASON"))
    ref = input_.get("referenceDocumentUri")
    if ref is not None and not URI_RE.match(ref):
        errors.append(_err(["input", "referenceDocumentUri"], "The reference document URI is invalid.",
                           "INVALID_REFERENCE_DOCUMENT"))
    return errors


def _locate(state: ShopState, row: dict, path: list) -> tuple[dict | None, dict | None]:
    """(level, error) for one change row."""
    item_num = parse_gid(row["inventoryItemId"], "InventoryItem")
    loc_num = parse_gid(row["locationId"], "Location")
    if state.inventory_item(item_num) is None:
        return None, _err(path + ["inventoryItemId"], "The specified inventory item could not be found.",
                          "INVALID_INVENTORY_ITEM")
    if state.location(loc_num) is None:
        return None, _err(path + ["locationId"], "The specified location could not be found.", "INVALID_LOCATION")
    level = state.level(item_num, loc_num)
    if level is None:
        return None, _err(path + ["locationId"], "The specified inventory item is not stocked at the location.",
                          "INVALID_LOCATION")
    return level, None


def _change(name, delta, after, level, ledger=None) -> dict:
    return {"name": name, "delta": delta, "quantityAfterChange": after, "ledgerDocumentUri": ledger,
            "item": {"__ref": gid("InventoryItem", level["item"])},
            "location": {"__ref": gid("Location", level["location"])}}


def _group(state, input_, changes) -> dict:
    return {"id": gid("InventoryAdjustmentGroup", state.new_id()), "createdAt": state.now(),
            "reason": input_["reason"], "referenceDocumentUri": input_.get("referenceDocumentUri"),
            "changes": changes}


def _log(state, mutation, key, input_, group) -> None:
    for ch in group["changes"]:
        state.data["adjustments"].append({
            "source": "api", "mutation": mutation, "idempotencyKey": key,
            "adjustmentGroupId": group["id"], "reason": input_["reason"],
            "referenceDocumentUri": input_.get("referenceDocumentUri"),
            "inventoryItemId": ch["item"]["__ref"], "locationId": ch["location"]["__ref"],
            "name": ch["name"], "delta": ch["delta"], "quantityAfterChange": ch["quantityAfterChange"],
            "ledgerDocumentUri": ch["ledgerDocumentUri"], "time": group["createdAt"],
        })


def adjust(state: ShopState, input_: dict, key: str) -> tuple[dict, bool]:
    name = input_["name"]
    errors = _common_checks(input_, ADJUST_NAMES, "INVALID_QUANTITY_NAME")
    ledgers = {c.get("ledgerDocumentUri") for c in input_["changes"] if c.get("ledgerDocumentUri")}
    if len(ledgers) > 1:
        errors.append(_err(["input", "changes"], "Only one ledger document URI is allowed per request.",
                           "MAX_ONE_LEDGER_DOCUMENT"))
    planned: list[tuple[dict, dict]] = []
    scratch: dict[int, dict] = {}  # level id -> simulated quantities (several changes may hit one level)
    for i, row in enumerate(input_["changes"]):
        path = ["input", "changes", str(i)]
        ledger = row.get("ledgerDocumentUri")
        if name == "available" and ledger:
            errors.append(_err(path + ["ledgerDocumentUri"], "A ledger document URI is not allowed when adjusting available.",
                               "INVALID_AVAILABLE_DOCUMENT"))
        elif name != "available" and name in ADJUST_NAMES and not ledger:
            errors.append(_err(path + ["ledgerDocumentUri"], "A ledger document URI is required for this quantity name.",
                               "INVALID_QUANTITY_DOCUMENT"))
        elif ledger and ledger.startswith("gid://shopify/"):
            errors.append(_err(path + ["ledgerDocumentUri"], "The ledger document URI cannot be a Shopify resource.",
                               "INTERNAL_LEDGER_DOCUMENT"))
        elif ledger and not URI_RE.match(ledger):
            errors.append(_err(path + ["ledgerDocumentUri"], "The ledger document URI is invalid.", "INVALID_LEDGER_DOCUMENT"))
        level, error = _locate(state, row, path)
        if error:
            errors.append(error)
            continue
        if name not in ADJUST_NAMES:
            continue
        q = scratch.setdefault(level["id"], dict(level["quantities"]))
        if row["changeFromQuantity"] is not None and row["changeFromQuantity"] != q[name]:
            errors.append(_err(path + ["changeFromQuantity"],
                               f"The specified compare quantity {row['changeFromQuantity']} does not match the current quantity {q[name]}.",
                               "CHANGE_FROM_QUANTITY_STALE"))
        after = q[name] + row["delta"]
        if after > ADJUST_BOUND:
            errors.append(_err(path + ["delta"], "The quantity can't be higher than 2,000,000,000.", "INVALID_QUANTITY_TOO_HIGH"))
        elif after < -ADJUST_BOUND:
            errors.append(_err(path + ["delta"], "The quantity can't be lower than -2,000,000,000.", "INVALID_QUANTITY_TOO_LOW"))
        q[name] = after
        planned.append((level, row))
    if errors:
        return {"inventoryAdjustmentGroup": None, "userErrors": errors}, True
    changes = []
    for level, row in planned:
        level["quantities"][name] += row["delta"]
        changes.append(_change(name, row["delta"], level["quantities"][name], level, row.get("ledgerDocumentUri")))
        touched = [name]
        if name in ON_HAND_PARTS:  # on_hand moves with every part of it; incoming is outside on_hand
            changes.append(_change("on_hand", row["delta"], state.quantity(level, "on_hand"), level))
            touched.append("on_hand")
        state.touch_level(level, touched)
    group = _group(state, input_, changes)
    _log(state, "inventoryAdjustQuantities", key, input_, group)
    return {"inventoryAdjustmentGroup": group, "userErrors": []}, False


def set_quantities(state: ShopState, input_: dict, key: str) -> tuple[dict, bool]:
    name = input_["name"]
    errors = _common_checks(input_, SET_NAMES, "INVALID_NAME")
    seen, planned = set(), []
    for i, row in enumerate(input_["quantities"]):
        path = ["input", "quantities", str(i)]
        pair = (row["inventoryItemId"], row["locationId"])
        if pair in seen:
            errors.append(_err(path, "The combination of inventoryItemId and locationId must be unique.",
                               "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR"))
            continue
        seen.add(pair)
        if row["quantity"] < 0:
            errors.append(_err(path + ["quantity"], "The quantity can't be negative.", "INVALID_QUANTITY_NEGATIVE"))
        elif row["quantity"] > SET_MAX:
            errors.append(_err(path + ["quantity"], "The quantity can't be higher than 1,000,000,000.",
                               "INVALID_QUANTITY_TOO_HIGH"))
        level, error = _locate(state, row, path)
        if error:
            errors.append(error)
            continue
        if name not in SET_NAMES:
            continue
        current = state.quantity(level, name)
        if row["changeFromQuantity"] is not None and row["changeFromQuantity"] != current:
            errors.append(_err(path + ["changeFromQuantity"],
                               f"The specified compare quantity {row['changeFromQuantity']} does not match the current quantity {current}.",
                               "CHANGE_FROM_QUANTITY_STALE"))
        planned.append((level, row, current))
    if errors:
        return {"inventoryAdjustmentGroup": None, "userErrors": errors}, True
    changes = []
    for level, row, current in planned:
        delta = row["quantity"] - current
        # Setting on_hand moves `available` by the same delta (committed/unavailable are untouched).
        level["quantities"]["available"] += delta
        changes.append(_change(name, delta, state.quantity(level, name), level))
        other = "on_hand" if name == "available" else "available"
        changes.append(_change(other, delta, state.quantity(level, other), level))
        state.touch_level(level, ["available", "on_hand"])
    group = _group(state, input_, changes)
    _log(state, "inventorySetQuantities", key, input_, group)
    return {"inventoryAdjustmentGroup": group, "userErrors": []}, False


def activate(state: ShopState, args: dict, key: str) -> tuple[dict, bool]:
    item_num = parse_gid(args["inventoryItemId"], "InventoryItem")
    loc_num = parse_gid(args["locationId"], "Location")
    if state.inventory_item(item_num) is None:
        return {"inventoryLevel": None, "userErrors": [_err(["inventoryItemId"], "Inventory item does not exist")]}, True
    if state.location(loc_num) is None:
        return {"inventoryLevel": None, "userErrors": [_err(["locationId"], "Location does not exist")]}, True
    available = args.get("available")
    if available is None:
        available = args.get("onHand")
    level = state.level(item_num, loc_num)
    if level is not None:
        if available is not None:
            return {"inventoryLevel": None, "userErrors": [_err(
                ["available"], "Not allowed to set available quantity when the item is already active at the location.")]}, True
        return {"inventoryLevel": {"__ref": level_gid(level)}, "userErrors": []}, False
    if available is not None and available < 0:
        return {"inventoryLevel": None, "userErrors": [_err(["available"], "Available must be greater than or equal to 0")]}, True
    level = state.new_level(item_num, loc_num, available or 0)
    state.touch_level(level, ["available", "on_hand"])
    state.data["adjustments"].append({
        "source": "api", "mutation": "inventoryActivate", "idempotencyKey": key, "adjustmentGroupId": None,
        "reason": "activate", "referenceDocumentUri": None,
        "inventoryItemId": gid("InventoryItem", item_num), "locationId": gid("Location", loc_num),
        "name": "available", "delta": available or 0, "quantityAfterChange": available or 0,
        "ledgerDocumentUri": None, "time": state.now()})
    return {"inventoryLevel": {"__ref": level_gid(level)}, "userErrors": []}, False
