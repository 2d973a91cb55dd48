"""bulkOperationRunQuery: validate the inner query, "run" it over simulated time, serve JSONL.

Status moves CREATED -> RUNNING -> COMPLETED as time passes (`duration_s`, 0.5 s by default); the
result is produced when a poll first observes completion, by executing the inner query against
the shop with page limits lifted. JSONL follows `groupObjects: false`: each connection node is
its own line; nested connection nodes carry `__parentId`; a child is written after its parent
but, as Shopify warns, not necessarily right after it (we delay each root's children by one
root). Non-connection objects (inventoryItem) stay inline.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from graphql import GraphQLError, OperationDefinitionNode, OperationType, execute, get_named_type, parse, validate

from .cost import _Walker, is_connection
from .state import parse_time

MAX_CONCURRENT = 5
MAX_CONNECTIONS = 5
MAX_DEPTH = 2
RESULT_TTL_S = 7 * 24 * 3600


class BulkManager:
    def __init__(self, sim, duration_s: float = 0.5):
        self.sim, self.state = sim, sim.state
        self.duration_s = duration_s
        self.fail_next = False
        self.no_operation_next = False   # answer the next run with neither an operation nor userErrors
        self._lock = threading.RLock()
        self.dir = self.state.data_dir / "bulk"
        self.dir.mkdir(exist_ok=True)

    @property
    def ops(self) -> dict:
        return self.state.data["bulk_operations"]

    # -- mutations ----------------------------------------------------------------------
    def run(self, query: str, group_objects: bool) -> dict:
        if self.no_operation_next:
            self.no_operation_next = False
            return {"bulkOperation": None, "userErrors": []}
        problem = self._check(query)
        if problem:
            return {"bulkOperation": None, "userErrors": [{"field": ["query"], "message": problem, "code": "INVALID"}]}
        with self.state.lock:
            running = [o for o in map(self.refresh, list(self.ops.values()))
                       if o["type"] == "QUERY" and o["status"] in ("CREATED", "RUNNING", "CANCELING")]
            if len(running) >= MAX_CONCURRENT:
                return {"bulkOperation": None, "userErrors": [{
                    "field": None, "code": "LIMIT_REACHED",
                    "message": f"A maximum of {MAX_CONCURRENT} bulk query operations can run at a time."}]}
            num = self.state.new_id()
            op = {"id": num, "status": "CREATED", "type": "QUERY", "query": query, "groupObjects": group_objects,
                  "createdAt": self.state.now(), "completedAt": None, "errorCode": None, "objectCount": "0",
                  "rootObjectCount": "0", "fileSize": None, "url": None, "partialDataUrl": None,
                  "startedEpoch": time.time(), "fail": self.fail_next}
            self.fail_next = False
            self.ops[str(num)] = op
            self.state.save()
            return {"bulkOperation": dict(op), "userErrors": []}

    def cancel(self, num) -> dict:
        with self.state.lock:
            op = self.ops.get(str(num))
            if op is None:
                return {"bulkOperation": None, "userErrors": [{"field": ["id"], "message": "Bulk operation does not exist"}]}
            op = self.refresh(op)
            if op["status"] not in ("CREATED", "RUNNING"):
                return {"bulkOperation": op, "userErrors": [{
                    "field": None, "message": f"A bulk operation cannot be canceled when it is {op['status'].lower()}"}]}
            op["status"] = "CANCELED"
            op["completedAt"] = self.state.now()
            self.state.save()
            return {"bulkOperation": op, "userErrors": []}

    # -- progress ---------------------------------------------------------------------------
    def refresh(self, op: dict) -> dict:
        """Advance one operation's status according to elapsed time; produce the file on completion."""
        with self.state.lock:
            if op["status"] in ("CREATED", "RUNNING"):
                elapsed = time.time() - op["startedEpoch"]
                if elapsed >= self.duration_s:
                    self._complete(op)
                elif op["status"] == "CREATED" and elapsed >= min(0.05, self.duration_s / 10):
                    op["status"] = "RUNNING"
            if op["status"] == "COMPLETED" and op["completedAt"]:
                if (self.state.clock.now() - parse_time(op["completedAt"])).total_seconds() > RESULT_TTL_S:
                    op.update(status="EXPIRED", url=None)
            return op

    def _complete(self, op: dict) -> None:
        lines, roots = self._execute(op["query"], op["groupObjects"])
        body = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)
        path = self.dir / f"{op['id']}.jsonl"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(body)
        tmp.replace(path)
        url = f"{self.sim.base_url}/_sim/bulk/{op['id']}.jsonl"
        if op.get("fail"):  # injected failure: half the file as partial data
            half = self.dir / f"{op['id']}.partial.jsonl"
            half.write_text("".join(body.splitlines(keepends=True)[: len(lines) // 2]))
            op.update(status="FAILED", errorCode="INTERNAL_SERVER_ERROR", url=None,
                      partialDataUrl=f"{self.sim.base_url}/_sim/bulk/{op['id']}.partial.jsonl")
        else:
            op.update(status="COMPLETED", url=url if lines else None, objectCount=str(len(lines)),
                      rootObjectCount=str(roots), fileSize=str(len(body.encode())))
        op["completedAt"] = self.state.now()
        self.state.save()

    def file(self, name: str) -> Path | None:
        path = (self.dir / name).resolve()
        return path if path.parent == self.dir.resolve() and path.exists() else None

    # -- the inner query ----------------------------------------------------------------------
    def _check(self, query: str) -> str | None:
        schema = self.sim.schema
        try:
            doc = parse(query)
        except GraphQLError as exc:
            return f"Invalid bulk query: {exc.message}"
        errors = validate(schema, doc)
        if errors:
            return f"Invalid bulk query: {errors[0].message}"
        ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
        if len(ops) != 1 or ops[0].operation != OperationType.QUERY:
            return "Bulk queries must contain exactly one query operation."
        walker = _Walker(schema, {}, {}, check_limits=False)
        found: list[int] = []

        def count(sel_set, parent, depth):
            for node, cond in walker.selections(sel_set):
                fdef = walker.field_def(parent, cond, node.name.value)
                if fdef is None:
                    continue
                named = get_named_type(fdef.type)
                if is_connection(named):
                    found.append(depth + 1)
                    inner = get_named_type(named.fields["nodes"].type)
                    for sub, _ in walker.selections(node.selection_set):
                        if sub.name.value == "nodes":
                            count(sub.selection_set, inner, depth + 1)
                        elif sub.name.value == "edges":
                            for n2, _ in walker.selections(sub.selection_set):
                                if n2.name.value == "node":
                                    count(n2.selection_set, inner, depth + 1)
                elif node.selection_set:
                    count(node.selection_set, named, depth)

        count(ops[0].selection_set, schema.query_type, 0)
        if not found:
            return "Bulk queries must contain at least one connection."
        if len(found) > MAX_CONNECTIONS:
            return f"Bulk queries cannot contain more than {MAX_CONNECTIONS} connections."
        if max(found) > MAX_DEPTH:
            return f"Bulk queries cannot contain connections with a nesting depth greater than {MAX_DEPTH}."
        return None

    def _execute(self, query: str, group_objects: bool) -> tuple[list[dict], int]:
        from .resolvers import Ctx, QueryRoot, field_resolver, type_resolver

        schema = self.sim.schema
        doc = parse(query)
        ctx = Ctx(self.sim, bulk=True)
        result = execute(schema, doc, root_value=QueryRoot(ctx), context_value=ctx,
                         field_resolver=field_resolver, type_resolver=type_resolver)
        if result.errors:
            raise result.errors[0]
        op = next(d for d in doc.definitions if isinstance(d, OperationDefinitionNode))
        walker = _Walker(schema, {}, {}, check_limits=False)
        per_root: list[tuple[dict, list[dict]]] = []

        def strip(obj, sel_set, obj_type, parent_id, children):
            """Copy `obj` without its connection fields; their nodes become child lines."""
            line = {}
            for node, cond in walker.selections(sel_set):
                key = node.alias.value if node.alias else node.name.value
                fdef = walker.field_def(obj_type, cond, node.name.value)
                if key not in obj or fdef is None:
                    continue
                named = get_named_type(fdef.type)
                value = obj[key]
                if is_connection(named) and value is not None:
                    inner = get_named_type(named.fields["nodes"].type)
                    for item, item_sel in _connection_nodes(walker, node, value):
                        child_lines: list[dict] = []
                        child = strip(item, item_sel, inner, parent_id, child_lines)
                        child["__parentId"] = obj.get("id") or parent_id
                        children.append(child)
                        children.extend(child_lines)
                elif isinstance(value, dict) and node.selection_set:
                    line[key] = strip(value, node.selection_set, named, obj.get("id") or parent_id, children)
                else:
                    line[key] = value
            return line

        for node, _ in walker.selections(op.selection_set):
            fdef = schema.query_type.fields[node.name.value]
            named = get_named_type(fdef.type)
            value = result.data.get(node.alias.value if node.alias else node.name.value)
            if not is_connection(named) or value is None:
                continue
            inner = get_named_type(named.fields["nodes"].type)
            for item, item_sel in _connection_nodes(walker, node, value):
                children: list[dict] = []
                per_root.append((strip(item, item_sel, inner, None, children), children))
        lines: list[dict] = []
        previous_children: list[dict] = []
        for root, children in per_root:
            lines.append(root)
            if group_objects:
                lines.extend(children)
            else:
                lines.extend(previous_children)  # children land after the *next* root
                previous_children = children
        lines.extend(previous_children)
        return lines, len(per_root)


def _connection_nodes(walker, conn_node, value):
    for sub, _ in walker.selections(conn_node.selection_set):
        key = sub.alias.value if sub.alias else sub.name.value
        if sub.name.value == "nodes":
            for item in value.get(key) or []:
                yield item, sub.selection_set
        elif sub.name.value == "edges":
            for inner, _ in walker.selections(sub.selection_set):
                if inner.name.value == "node":
                    nk = inner.alias.value if inner.alias else "node"
                    for edge in value.get(key) or []:
                        yield edge[nk], inner.selection_set
