"""Calculated query cost and the leaky bucket, following Shopify's published rules.

Cost rules (shopify.dev "rate limits"; matches the estimates printed in the reference notes):
scalar/enum 0; object 1; connection 2 + first|last × (cost of one node); a list field that is
sized by `first` or by the length of an `ids` argument multiplies its element cost; pageInfo
and edges are free; every mutation field costs 10. Before execution the bucket must hold the
*requested* cost; afterwards the difference to the *actual* cost (same walk over the returned
data, counting only what came back) is refunded.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    FieldNode, FragmentDefinitionNode, FragmentSpreadNode, GraphQLList, GraphQLNonNull,
    GraphQLSchema, InlineFragmentNode, OperationDefinitionNode, OperationType, SelectionSetNode,
    get_named_type, is_leaf_type,
)
from graphql.utilities import value_from_ast_untyped
from graphql.language.location import get_location

MAX_QUERY_COST = 1000
MUTATION_COST = 10
MAX_PAGE = 250


def node_locations(node) -> list[dict] | None:
    if not node.loc:
        return None
    loc = get_location(node.loc.source, node.loc.start)
    return [{"line": loc.line, "column": loc.column}]


@dataclass
class CostReport:
    requested: int = 0
    errors: list[dict] = field(default_factory=list)


def is_connection(named_type) -> bool:
    return named_type.name.endswith("Connection") and "pageInfo" in getattr(named_type, "fields", {})


def _is_list(t) -> bool:
    if isinstance(t, GraphQLNonNull):
        t = t.of_type
    return isinstance(t, GraphQLList)


class _Walker:
    def __init__(self, schema: GraphQLSchema, fragments: dict, variables: dict, check_limits: bool):
        self.schema, self.fragments, self.variables = schema, fragments, variables
        self.check_limits = check_limits
        self.errors: list[dict] = []

    def args(self, fdef, node: FieldNode) -> dict:
        # Untyped evaluation is enough for sizes (first/last/ids) and works on graphql-core 3.2 and 3.3.
        out = {}
        for arg in node.arguments or ():
            try:
                out[arg.name.value] = value_from_ast_untyped(arg.value, self.variables)
            except Exception:
                pass  # bad arguments are reported by validation / execution, not here
        return out

    def selections(self, sel_set: SelectionSetNode | None):
        """Flatten fragments: yields FieldNodes with the type condition they were written under."""
        for sel in (sel_set.selections if sel_set else ()):
            if isinstance(sel, FieldNode):
                yield sel, None
            elif isinstance(sel, InlineFragmentNode):
                cond = sel.type_condition.name.value if sel.type_condition else None
                for f, c in self.selections(sel.selection_set):
                    yield f, c or cond
            elif isinstance(sel, FragmentSpreadNode):
                frag = self.fragments.get(sel.name.value)
                if frag:
                    for f, c in self.selections(frag.selection_set):
                        yield f, c or frag.type_condition.name.value

    def field_def(self, parent, cond: str | None, name: str):
        t = self.schema.get_type(cond) if cond else parent
        return getattr(t, "fields", {}).get(name)

    def cost(self, sel_set, parent, data: Any = None, actual: bool = False) -> int:
        """Cost of a selection set on one object; with `actual`, `data` is that object's result."""
        total = 0
        for node, cond in self.selections(sel_set):
            name = node.name.value
            if name.startswith("__"):
                continue
            fdef = self.field_def(parent, cond, name)
            if fdef is None:
                continue
            named = get_named_type(fdef.type)
            if is_leaf_type(named):
                continue
            key = node.alias.value if node.alias else name
            sub = data.get(key) if isinstance(data, dict) else None
            if actual and sub is None:
                continue
            args = self.args(fdef, node)
            if is_connection(named):
                total += self.connection(node, named, args, sub, actual)
            elif _is_list(fdef.type):
                elem = get_named_type(fdef.type)
                if actual and not self.sized(args):
                    # An unsized list (e.g. quantities(names:)) is estimated as one object: charge the same.
                    total += 1 + max((self.cost(node.selection_set, elem, e, True) for e in sub if e is not None), default=0)
                elif actual:
                    total += sum(1 + self.cost(node.selection_set, elem, e, True) for e in sub if e is not None)
                else:
                    n = len(args["ids"]) if isinstance(args.get("ids"), list) else args.get("first") or 1
                    self.limit(node, args)
                    total += n * (1 + self.cost(node.selection_set, elem))
            else:
                total += 1 + self.cost(node.selection_set, named, sub, actual)
        return total

    @staticmethod
    def sized(args: dict) -> bool:
        return isinstance(args.get("ids"), list) or args.get("first") is not None

    def limit(self, node: FieldNode, args: dict, connection: bool = False) -> None:
        if not self.check_limits:
            return
        name = node.name.value
        for arg in ("first", "last"):
            n = args.get(arg)
            if n is not None and (n > MAX_PAGE or n < 0):
                self.errors.append({
                    "message": f"The value of `{arg}` on field '{name}' must be between 0 and {MAX_PAGE} (got {n}).",
                    "locations": node_locations(node),
                    "extensions": {"code": "BAD_REQUEST"},
                })
        if connection and args.get("first") is None and args.get("last") is None:
            self.errors.append({"message": "you must provide one of first or last",
                                "locations": node_locations(node), "extensions": {"code": "BAD_REQUEST"}})

    def connection(self, node: FieldNode, conn_type, args: dict, data: Any, actual: bool) -> int:
        node_type = get_named_type(conn_type.fields["nodes"].type) if "nodes" in conn_type.fields else None
        if not actual:
            self.limit(node, args, connection=True)
            n = args.get("first") or args.get("last") or 0
        per_node = 0
        for sub, _ in self.selections(node.selection_set):
            name = sub.name.value
            if name == "nodes":
                if actual:
                    per_node += sum(1 + self.cost(sub.selection_set, node_type, e, True) for e in data.get(sub.alias.value if sub.alias else name) or [] if e)
                else:
                    per_node += 1 + self.cost(sub.selection_set, node_type)
            elif name == "edges":
                for inner, _ in self.selections(sub.selection_set):
                    if inner.name.value == "node":
                        if actual:
                            edges = data.get(sub.alias.value if sub.alias else name) or []
                            nk = inner.alias.value if inner.alias else "node"
                            per_node += sum(1 + self.cost(inner.selection_set, node_type, e.get(nk), True)
                                            for e in edges if e and e.get(nk))
                        else:
                            per_node += 1 + self.cost(inner.selection_set, node_type)
        return 2 + (per_node if actual else n * per_node)


def _parts(document, operation_name):
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    op = next((o for o in ops if operation_name is None or (o.name and o.name.value == operation_name)), None)
    return fragments, op


def requested_cost(schema, document, operation_name, variables, check_limits=True) -> CostReport:
    fragments, op = _parts(document, operation_name)
    if op is None:
        return CostReport()
    if op.operation == OperationType.MUTATION:
        n = sum(1 for s in op.selection_set.selections if isinstance(s, FieldNode) and not s.name.value.startswith("__"))
        return CostReport(requested=MUTATION_COST * max(n, 1))
    w = _Walker(schema, fragments, variables, check_limits)
    total = w.cost(op.selection_set, schema.query_type)
    return CostReport(requested=total, errors=w.errors)


def actual_cost(schema, document, operation_name, variables, data: dict | None) -> int:
    fragments, op = _parts(document, operation_name)
    if op is None or data is None:
        return 0
    if op.operation == OperationType.MUTATION:
        return requested_cost(schema, document, operation_name, variables).requested
    return _Walker(schema, fragments, variables, False).cost(op.selection_set, schema.query_type, data, actual=True)


def max_cost_error(cost: int) -> dict:
    return {
        "message": f"Query cost is {cost}, which exceeds the single query max cost limit ({MAX_QUERY_COST}).\n\n"
                   "See https://shopify.dev/concepts/about-apis/rate-limits for more information on how the\n"
                   "cost of a query is calculated.\n\nTo query larger amounts of data with fewer limits, bulk "
                   "operations should be used instead.\nSee https://shopify.dev/tutorials/perform-bulk-operations-"
                   "with-admin-api for usage details.\n",
        "extensions": {"code": "MAX_COST_EXCEEDED", "cost": cost, "maxCost": MAX_QUERY_COST},
    }


THROTTLED_ERROR = {"message": "Throttled",
                   "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}


class LeakyBucket:
    """Points refill continuously at `restore` per second up to `maximum` (per token, per shop)."""

    def __init__(self, maximum: float = 2000, restore: float = 100, clock=time.monotonic):
        self._lock = threading.Lock()
        self._clock = clock
        self.configure(maximum, restore)

    def configure(self, maximum: float, restore: float, currently: float | None = None) -> None:
        with self._lock:
            self.maximum, self.restore = float(maximum), float(restore)
            self._available = float(maximum if currently is None else currently)
            self._stamp = self._clock()

    def _refill(self) -> None:
        now = self._clock()
        self._available = min(self.maximum, self._available + (now - self._stamp) * self.restore)
        self._stamp = now

    def try_take(self, points: int) -> bool:
        with self._lock:
            self._refill()
            if self._available < points:
                return False
            self._available -= points
            return True

    def refund(self, points: int) -> None:
        with self._lock:
            self._refill()
            self._available = min(self.maximum, self._available + max(points, 0))

    def status(self) -> dict:
        with self._lock:
            self._refill()
            return {"maximumAvailable": self.maximum, "currentlyAvailable": math.floor(self._available),
                    "restoreRate": self.restore}
