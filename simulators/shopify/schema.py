"""The real Admin API 2026-10 schema, built once per process (building takes ~1.5 s)."""

from __future__ import annotations

import gzip
import threading
from pathlib import Path

from graphql import GraphQLSchema, build_schema

SCHEMA_PATH = Path(__file__).with_name("shopify-admin-2026-10.graphql.gz")

_lock = threading.Lock()
_cache: dict[Path, GraphQLSchema] = {}


def load_schema(path: Path = SCHEMA_PATH) -> GraphQLSchema:
    with _lock:
        if path not in _cache:
            # assume_valid: Shopify's SDL has deprecated implementations of non-deprecated
            # interface fields, which graphql-core 3.3's schema validation rejects. Document
            # validation (what we need) is unaffected.
            _cache[path] = build_schema(gzip.open(path).read().decode(), assume_valid=True)
        return _cache[path]
