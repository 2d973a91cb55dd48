"""Run-time rules Shopify enforces that the schema cannot express (checked before execution).

* @idempotent(key:) is mandatory on the mutations in idempotency.REQUIRES_IDEMPOTENT and
  refused elsewhere; the key cannot be empty/whitespace        -> top-level BAD_REQUEST
* changeFromQuantity must be *present* (null allowed) in every InventoryChangeInput,
  InventoryQuantityInput and InventoryMoveQuantityTerminalInput  -> top-level INVALID_FIELD_ARGUMENTS
* input arrays hold at most 250 elements                         -> top-level MAX_INPUT_SIZE_EXCEEDED
Presence has to be read from the raw JSON variables / literals: after coercion an omitted
field and an explicit null can no longer be told apart in every graphql-core version.
"""

from __future__ import annotations

from graphql import (
    FieldNode, GraphQLInputObjectType, GraphQLList, GraphQLNonNull, ListValueNode, ObjectValueNode,
    OperationDefinitionNode, OperationType, VariableNode,
)
from graphql.utilities import value_from_ast_untyped

from .cost import node_locations
from .idempotency import REQUIRES_IDEMPOTENT

MUST_BE_PRESENT = {
    "InventoryChangeInput": ("changeFromQuantity",),
    "InventoryQuantityInput": ("changeFromQuantity",),
    "InventoryMoveQuantityTerminalInput": ("changeFromQuantity",),
}
MAX_INPUT_ARRAY = 250


def _error(message: str, code: str, node=None) -> dict:
    err = {"message": message, "extensions": {"code": code}}
    if node is not None and node.loc:
        err["locations"] = node_locations(node)
    return err


def check_idempotent(op: OperationDefinitionNode, variables: dict) -> list[dict]:
    if op.operation != OperationType.MUTATION:
        return []
    errors = []
    for sel in op.selection_set.selections:
        if not isinstance(sel, FieldNode):
            continue
        name = sel.name.value
        directive = next((d for d in sel.directives or () if d.name.value == "idempotent"), None)
        if directive is None:
            if name in REQUIRES_IDEMPOTENT:
                errors.append(_error("The @idempotent directive is required for this mutation but was not provided.",
                                     "BAD_REQUEST", sel))
            continue
        if name not in REQUIRES_IDEMPOTENT:
            errors.append(_error(f"The @idempotent directive is not supported on the {name} mutation.",
                                 "BAD_REQUEST", directive))
            continue
        key = value_from_ast_untyped(directive.arguments[0].value, variables) if directive.arguments else None
        if not isinstance(key, str) or not key.strip():
            errors.append(_error("The idempotency key cannot be empty.", "BAD_REQUEST", directive))
    return errors


def check_inputs(schema, op: OperationDefinitionNode, raw_variables: dict) -> list[dict]:
    root = schema.mutation_type if op.operation == OperationType.MUTATION else schema.query_type
    errors: list[dict] = []
    for sel in op.selection_set.selections:
        if not isinstance(sel, FieldNode) or sel.name.value not in root.fields:
            continue
        fdef = root.fields[sel.name.value]
        for arg in sel.arguments or ():
            if arg.name.value in fdef.args:
                _literal(arg.value, fdef.args[arg.name.value].type, raw_variables, errors, arg)
    return errors


def _unwrap(t):
    return t.of_type if isinstance(t, GraphQLNonNull) else t


def _literal(node, t, raw_vars, errors, where) -> None:
    t = _unwrap(t)
    if isinstance(node, VariableNode):
        _json(raw_vars.get(node.name.value), t, errors, where)
    elif isinstance(t, GraphQLList):
        items = node.values if isinstance(node, ListValueNode) else [node]
        _size(len(items), errors, where)
        for item in items:
            _literal(item, t.of_type, raw_vars, errors, where)
    elif isinstance(t, GraphQLInputObjectType) and isinstance(node, ObjectValueNode):
        present = {f.name.value for f in node.fields}
        _presence(t, present, errors, where)
        for f in node.fields:
            if f.name.value in t.fields:
                _literal(f.value, t.fields[f.name.value].type, raw_vars, errors, where)


def _json(value, t, errors, where) -> None:
    t = _unwrap(t)
    if isinstance(t, GraphQLList) and isinstance(value, list):
        _size(len(value), errors, where)
        for item in value:
            _json(item, t.of_type, errors, where)
    elif isinstance(t, GraphQLInputObjectType) and isinstance(value, dict):
        _presence(t, set(value), errors, where)
        for k, v in value.items():
            if k in t.fields:
                _json(v, t.fields[k].type, errors, where)


def _presence(t, present: set, errors, where) -> None:
    missing = [f for f in MUST_BE_PRESENT.get(t.name, ()) if f not in present]
    if missing:
        msg = f"{t.name} must include the following argument: {', '.join(missing)}"
        if not any(e["message"] == msg for e in errors):
            errors.append(_error(msg, "INVALID_FIELD_ARGUMENTS", where))


def _size(n: int, errors, where) -> None:
    if n > MAX_INPUT_ARRAY:
        errors.append(_error(f"The input array size of {n} is greater than the maximum allowed of {MAX_INPUT_ARRAY}.",
                             "MAX_INPUT_SIZE_EXCEEDED", where))
