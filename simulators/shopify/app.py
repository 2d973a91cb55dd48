"""The request pipeline of the GraphQL endpoint, independent of the HTTP plumbing.

Order of checks (each stage can end the request):
 1. access token                          -> HTTP 401, Shopify's {"errors": "[API] ..."} body
 2. JSON body / syntax                    -> HTTP 400 / GraphQL errors
 3. transport faults (latency, 5xx, drop) -> decided here, acted on by server.py
 4. schema validation, variable coercion  -> {"errors": [...]} (HTTP 200)
 5. run-time rules (rules.py)             -> BAD_REQUEST / INVALID_FIELD_ARGUMENTS / MAX_INPUT_SIZE_EXCEEDED
 6. cost: first/last limits, > 1000 cap   -> BAD_REQUEST / MAX_COST_EXCEEDED
 7. leaky bucket                          -> THROTTLED (HTTP 200, actualQueryCost null)
 8. execute; refund requested - actual
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from graphql import GraphQLError, OperationDefinitionNode, OperationType, execute, parse, validate
from graphql.execution.values import get_variable_values

from . import cost, rules
from .bulk import BulkManager
from .faults import Decision, Faults
from .idempotency import IdempotencyStore
from .resolvers import Ctx, MutationRoot, QueryRoot, field_resolver, type_resolver
from .schema import load_schema
from .seed import initialise
from .state import ShopState

SUPPORTED_VERSIONS = ("2025-10", "2026-01", "2026-04", "2026-07", "2026-10")
UNAUTHORIZED = {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}


@dataclass
class Reply:
    status: int = 200
    body: dict | str | None = None
    headers: dict = field(default_factory=dict)
    drop_before: bool = False   # close the socket, nothing was applied
    drop_after: bool = False    # request applied, close the socket instead of answering


def _format_error(err: GraphQLError, code: str | None = None) -> dict:
    out = {"message": err.message}
    if err.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in err.locations]
    if err.path:
        out["path"] = list(err.path)
    ext = dict(err.extensions or {})
    if code and "code" not in ext:
        ext["code"] = code
    if ext:
        out["extensions"] = ext
    return out


def _validation_code(message: str) -> str:
    # Shopify (graphql-ruby) names its static validation errors; map the common ones.
    table = [("Cannot query field", "undefinedField"), ("Unknown argument", "argumentNotAccepted"),
             ("Unknown type", "undefinedType"), ("is required, but it was not provided", "missingRequiredArguments"),
             ("Variable \"", "variableMismatch"), ("Syntax Error", "parseError")]
    return next((code for needle, code in table if needle in message), "GRAPHQL_VALIDATION_FAILED")


def coerce_variables(schema, op, raw: dict):
    """(coerced dict, errors) on graphql-core 3.2 (dict | list) and 3.3 (VariableValues | list)."""
    result = get_variable_values(schema, op.variable_definitions or (), raw)
    if isinstance(result, list):
        return None, result
    return getattr(result, "coerced", result), []


class Simulator:
    def __init__(self, data_dir=None, token: str = "shpat_test", seed_products: int = 0,
                 bucket: float = 2000, restore: float = 100, served_version: str | None = None,
                 bulk_seconds: float = 0.5, faults: dict | None = None, read_all_orders: bool = False):
        self.schema = load_schema()
        self.state = ShopState(Path(data_dir) if data_dir else None)
        initialise(self.state, seed_products)
        self.token = token
        self.served_version = served_version   # force X-Shopify-API-Version (mismatch tests)
        self.read_all_orders = read_all_orders  # without the scope, orders older than 60 days are invisible
        self.idem = IdempotencyStore(self.state)
        self.idem.clear_in_flight()
        self.bucket = cost.LeakyBucket(bucket, restore)
        self.faults = Faults(**(faults or {}))
        self.base_url = "http://127.0.0.1"      # set by the server once the port is known
        self.bulk = BulkManager(self, bulk_seconds)
        self.requests = 0

    def version_header(self, requested: str) -> str:
        if self.served_version:
            return self.served_version
        # Unsupported versions "fall forward" to the oldest supported one.
        return requested if requested in SUPPORTED_VERSIONS or requested == "unstable" else SUPPORTED_VERSIONS[0]

    # -- the endpoint ------------------------------------------------------------------------
    def handle_graphql(self, version: str, token: str | None, body: bytes) -> Reply:
        self.requests += 1
        headers = {"X-Shopify-API-Version": self.version_header(version)}
        if token != self.token:
            return Reply(401, UNAUTHORIZED, headers)
        try:
            payload = json.loads(body or b"{}")
            query = payload["query"]
            variables = payload.get("variables") or {}
            operation_name = payload.get("operationName")
            if not isinstance(query, str) or not isinstance(variables, dict):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            return Reply(400, {"errors": {"query": "Required parameter missing or invalid"}}, headers)

        try:
            document = parse(query)
        except GraphQLError as err:
            document = None
            syntax_error = err
        op = self._operation(document, operation_name) if document else None
        is_mutation = bool(op and op.operation == OperationType.MUTATION)

        roots = tuple(sel.name.value for sel in op.selection_set.selections
                      if hasattr(sel, "name")) if op else ()
        decision: Decision = self.faults.decide(is_mutation, roots)
        if decision.latency_s:
            time.sleep(decision.latency_s)
        if decision.status:
            return Reply(decision.status, "<html><body><h1>%d</h1>Service temporarily unavailable.</body></html>"
                         % decision.status, {**headers, "Content-Type": "text/html"})
        if decision.drop_before:
            return Reply(drop_before=True)

        reply = self._graphql(document, op, variables, operation_name,
                              None if document else syntax_error, headers)
        reply.drop_after = decision.drop_after
        return reply

    @staticmethod
    def _operation(document, operation_name):
        ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if operation_name is None:
            return ops[0] if len(ops) == 1 else None
        return next((o for o in ops if o.name and o.name.value == operation_name), None)

    def _errors(self, errors: list[dict], headers, requested=None) -> Reply:
        body = {"errors": errors}
        if requested is not None:
            body["extensions"] = {"cost": {"requestedQueryCost": requested, "actualQueryCost": None,
                                           "throttleStatus": self.bucket.status()}}
        return Reply(200, body, headers)

    def _graphql(self, document, op, variables, operation_name, syntax_error, headers) -> Reply:
        if syntax_error is not None:
            return self._errors([_format_error(syntax_error, "parseError")], headers)
        errors = validate(self.schema, document)
        if errors:
            return self._errors([_format_error(e, _validation_code(e.message)) for e in errors], headers)
        if op is None:
            return self._errors([{"message": "An operation name is required" if operation_name is None
                                  else f'No operation named "{operation_name}"',
                                  "extensions": {"code": "OPERATION_NOT_FOUND"}}], headers)
        coerced, var_errors = coerce_variables(self.schema, op, variables)
        if var_errors:
            return self._errors([_format_error(e, "INVALID_VARIABLE") for e in var_errors], headers)

        problems = rules.check_idempotent(op, coerced) + rules.check_inputs(self.schema, op, variables)
        if problems:
            return self._errors(problems, headers)
        report = cost.requested_cost(self.schema, document, operation_name, coerced)
        if report.errors:
            return self._errors(report.errors, headers, report.requested)
        if report.requested > cost.MAX_QUERY_COST:
            return self._errors([cost.max_cost_error(report.requested)], headers, report.requested)
        if not self.bucket.try_take(report.requested):
            return self._errors([cost.THROTTLED_ERROR], headers, report.requested)

        ctx = Ctx(self)
        is_mutation = op.operation == OperationType.MUTATION
        root = MutationRoot(ctx) if is_mutation else QueryRoot(ctx)
        run = lambda: execute(self.schema, document, root_value=root, context_value=ctx,  # noqa: E731
                              variable_values=variables, operation_name=operation_name,
                              field_resolver=field_resolver, type_resolver=type_resolver)
        if is_mutation:
            result = run()          # mutation resolvers lock their own critical sections
        else:
            with self.state.lock:   # a query sees one consistent snapshot
                result = run()
        actual = cost.actual_cost(self.schema, document, operation_name, coerced, result.data)
        self.bucket.refund(report.requested - actual)
        body: dict = {}
        if result.errors:
            body["errors"] = [_format_error(e) for e in result.errors]
        body["data"] = result.data
        body["extensions"] = {"cost": {"requestedQueryCost": report.requested, "actualQueryCost": actual,
                                       "throttleStatus": self.bucket.status()}}
        return Reply(200, body, headers)

    def close(self) -> None:
        self.state.save()
