"""Every .graphql document in the project is valid against Shopify Admin 2026-10, and mutations
that Shopify requires to be idempotent carry @idempotent(key:).

Self-contained on purpose (schema from tests/fixtures, no import from /work/shared or from the
simulator), so it guards the agent's documents on any machine.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from graphql import (
    DocumentNode, FieldNode, FragmentDefinitionNode, FragmentSpreadNode, OperationDefinitionNode, build_schema,
    parse, validate, visit, Visitor,
)

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = ROOT / "tests" / "fixtures" / "shopify-admin-2026-10.graphql.gz"
SKIP_DIRS = {".venv", "node_modules", ".git"}
# Shopify 2026-10: mandatory @idempotent (changelog "Making idempotency mandatory ...").
NEEDS_IDEMPOTENT = {
    "inventoryAdjustQuantities", "inventorySetQuantities", "inventoryMoveQuantities", "inventoryActivate",
    "inventoryTransferCreate", "inventoryTransferCreateAsReadyToShip", "inventoryTransferDuplicate",
    "inventoryTransferSetItems", "inventoryShipmentCreate", "inventoryShipmentCreateInTransit",
    "inventoryShipmentAddItems", "inventoryShipmentReceive", "locationActivate", "locationDeactivate",
    "refundCreate", "inventorySetOnHandQuantities",
}
GRAPHQL_FILES = sorted(p for p in ROOT.rglob("*.graphql") if not SKIP_DIRS & set(p.relative_to(ROOT).parts))


@pytest.fixture(scope="module")
def schema():
    # assume_valid: Shopify's SDL trips graphql-core 3.3's interface-deprecation schema check;
    # validating documents against it is unaffected.
    return build_schema(gzip.open(SCHEMA_FILE).read().decode(), assume_valid=True)


@pytest.fixture(scope="module")
def shared_fragments():
    shared = {}
    for path in GRAPHQL_FILES:
        for d in parse(path.read_text()).definitions:
            if isinstance(d, FragmentDefinitionNode):
                shared[d.name.value] = d
    return shared


class _Spreads(Visitor):
    def __init__(self):
        super().__init__()
        self.names: set[str] = set()

    def enter_fragment_spread(self, node: FragmentSpreadNode, *_):
        self.names.add(node.name.value)


def with_fragments(doc: DocumentNode, shared: dict) -> DocumentNode:
    """Append fragments spread but defined in another file (the agent concatenates them)."""
    own = {d.name.value for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
    extra, todo = {}, [doc]
    while todo:
        spreads = _Spreads()
        visit(todo.pop(), spreads)
        for name in spreads.names - own - set(extra):
            if name in shared:
                extra[name] = shared[name]
                todo.append(shared[name])
    return DocumentNode(definitions=tuple(doc.definitions) + tuple(extra.values()))


def test_the_agent_has_its_operations():
    names = {p.stem for p in GRAPHQL_FILES if "sync_agent" in p.parts}
    assert {"InventoryAdjust", "InventorySet", "InventoryActivate", "ProductsWithVariants", "BulkRunQuery",
            "BulkCatalogQuery", "BulkOperationById", "CustomersUpdatedSince", "ShopAndLocations",
            "LocationInventoryLevels", "InventoryItemAtLocation"} <= names


@pytest.mark.parametrize("path", GRAPHQL_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_document_is_valid_for_2026_10(path, schema, shared_fragments):
    doc = parse(path.read_text())
    has_operation = any(isinstance(d, OperationDefinitionNode) for d in doc.definitions)
    errors = [e.message for e in validate(schema, with_fragments(doc, shared_fragments))
              if has_operation or "is never used" not in e.message]  # a fragments-only file
    assert errors == []


@pytest.mark.parametrize("path", GRAPHQL_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_mutations_carry_required_idempotent(path):
    missing = []
    for op in parse(path.read_text()).definitions:
        if isinstance(op, OperationDefinitionNode) and op.operation.value == "mutation":
            for sel in op.selection_set.selections:
                if isinstance(sel, FieldNode) and sel.name.value in NEEDS_IDEMPOTENT:
                    if not any(d.name.value == "idempotent" for d in sel.directives or ()):
                        missing.append(sel.name.value)
    assert missing == []


def test_the_checks_can_fail(schema):
    """The two checks above really reject what Shopify rejects."""
    stale = parse("mutation { inventoryAdjustQuantities(input: {name: \"available\", reason: \"correction\", "
                  "changes: [{inventoryItemId: \"x\", locationId: \"y\", delta: 1, compareQuantity: 1}]}) "
                  "{ userErrors { field } } }")
    assert any("compareQuantity" in e.message for e in validate(schema, stale))
    op = stale.definitions[0]
    assert not op.selection_set.selections[0].directives  # and it lacks @idempotent
