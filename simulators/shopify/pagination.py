"""Relay connections with opaque keyset cursors, like Shopify's.

A cursor encodes the sort value and id of the last item seen, so paging stays correct while the
underlying list changes (an item updated between pages moves to the end of an UPDATED_AT sort
and shows up again later, as on Shopify).
"""

from __future__ import annotations

import base64
import json
from typing import Any, Callable, Sequence

from graphql import GraphQLError

MAX_PAGE = 250


def encode_cursor(sort_value: Any, num: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"last_id": num, "last_value": sort_value}).encode()).decode()


def decode_cursor(cursor: str) -> tuple:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return (data["last_value"], data["last_id"])
    except Exception as exc:  # any garbage → Shopify answers with an argument error
        raise GraphQLError("Invalid cursor for current pagination sort.", extensions={"code": "BAD_REQUEST"}) from exc


def connection(items: Sequence[Any], *, key: Callable[[Any], tuple], args: dict, bulk: bool = False) -> dict:
    """Page `items` (already filtered). `key(item)` → (sort value, numeric id), unique per item."""
    first, last = args.get("first"), args.get("last")
    after, before = args.get("after"), args.get("before")
    reverse = bool(args.get("reverse"))
    ordered = sorted(items, key=key, reverse=reverse)

    def beyond(item, cursor, direction):  # is item strictly after (+1) / before (-1) the cursor?
        k, c = key(item), decode_cursor(cursor)
        forward = k > c if not reverse else k < c
        return forward if direction > 0 else (not forward and k != c)

    if after:
        ordered = [i for i in ordered if beyond(i, after, +1)]
    if before:
        ordered = [i for i in ordered if beyond(i, before, -1)]
    total = len(ordered)
    if first is not None:
        page = ordered[:first]
    elif last is not None:
        page = ordered[max(0, total - last):]
    else:
        page = ordered if bulk else ordered[:MAX_PAGE]
    cursors = [encode_cursor(*key(i)) for i in page]
    start = total - len(page) if last is not None and first is None else 0
    return {
        "edges": [{"cursor": c, "node": n} for c, n in zip(cursors, page)],
        "nodes": list(page),
        "pageInfo": {
            "hasNextPage": start + len(page) < total or bool(before),
            "hasPreviousPage": start > 0 or bool(after),
            "startCursor": cursors[0] if cursors else None,
            "endCursor": cursors[-1] if cursors else None,
        },
    }
