"""A small, synchronous client for the Shopify Admin GraphQL API (2026-10).

* one long-lived `httpx.Client` with explicit timeouts;
* operations are read from `operations/*.graphql` by name (shared fragments appended);
* every answer is checked for the served `X-Shopify-API-Version`;
* `extensions.cost.throttleStatus` is read after every answer and the next request waits until
  the bucket holds enough points for it (no THROTTLED in normal operation);
* every failure is classified (`RETRY` or `PERMANENT`) and says whether Shopify ANSWERED it
  (an HTTP response with a body came back) or whether the request may not have arrived;
* the access token never appears in a message, a log line or an exception.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import httpx

from pos_core import config as configmod

log = logging.getLogger("sync_agent.shopify")

OPERATIONS_DIR = Path(__file__).resolve().parent / "operations"
RETRY, PERMANENT = "RETRY", "PERMANENT"
NOT_ARRIVED, MAY_HAVE_ARRIVED, ANSWERED = "not_arrived", "may_have_arrived", "answered"

# userError codes that mean "try again with the same key"
RETRY_USER_CODES = {"IDEMPOTENCY_CONCURRENT_REQUEST", "ADJUST_QUANTITIES_FAILED", "SERVICE_UNAVAILABLE"}
RETRY_TOP_CODES = {"THROTTLED", "INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE"}
RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}
# Mutations without a key whose second application changes nothing (they set values, they do not
# add anything): `call` may resend them after a lost answer.
SAME_EFFECT_TWICE = frozenset({"VariantBarcodesSet", "DiscountCodeDeactivate"})
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=20.0, write=20.0, pool=5.0)
_FRAGMENT_SPREAD = re.compile(r"\.\.\.\s*([A-Za-z_][A-Za-z0-9_]*)")
_FRAGMENT_DEF = re.compile(r"\bfragment\s+([A-Za-z_][A-Za-z0-9_]*)\s+on\b")


class ShopifyError(Exception):
    """A request that did not succeed.

    kind:     RETRY (resend the same request, same key) or PERMANENT (do not resend as is)
    arrival:  ANSWERED (Shopify answered it), MAY_HAVE_ARRIVED (read timeout, dropped connection,
              5xx from the edge) or NOT_ARRIVED (connection refused / connect timeout)
    code:     Shopify's error code when there is one (THROTTLED, INVALID_INVENTORY_ITEM, ...)
    wait:     a server-suggested wait in seconds (throttling), or None
    """

    def __init__(self, kind: str, arrival: str, message: str, code: str | None = None,
                 wait: float | None = None, user_errors: list | None = None):
        super().__init__(message)
        self.kind, self.arrival, self.message, self.code = kind, arrival, message, code
        self.wait, self.user_errors = wait, user_errors or []

    @property
    def answered(self) -> bool:
        return self.arrival == ANSWERED

    @property
    def retryable(self) -> bool:
        return self.kind == RETRY

    def __str__(self) -> str:
        return self.message


@dataclass
class Result:
    data: dict
    cost: dict = field(default_factory=dict)
    version: str = ""


def load_operation(name: str, directory: Path = OPERATIONS_DIR) -> str:
    """The text of `name.graphql` plus every fragment it spreads that lives in another file."""
    text = (directory / f"{name}.graphql").read_text()
    fragments: dict[str, str] = {}
    for path in directory.glob("*.graphql"):
        body = path.read_text()
        for m in _FRAGMENT_DEF.finditer(body):
            fragments[m.group(1)] = body
    have = set(_FRAGMENT_DEF.findall(text))
    todo = set(_FRAGMENT_SPREAD.findall(text)) - have
    while todo:
        frag = todo.pop()
        if frag in have or frag not in fragments:
            continue
        text += "\n" + fragments[frag]
        have |= set(_FRAGMENT_DEF.findall(fragments[frag]))
        todo |= set(_FRAGMENT_SPREAD.findall(fragments[frag])) - have
    return text


def backoff_delay(attempt: int, base: float = 1.0, cap: float = 60.0,
                  rand: Callable[[], float] = random.random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return rand() * min(cap, base * (2 ** max(0, attempt)))


def scrub(text: str, secret: str) -> str:
    if secret and secret in text:
        text = text.replace(secret, "[token]")
    return text


class ShopifyClient:
    def __init__(self, cfg: configmod.ShopifyConfig, cfg_path: str = "", *, token: str | None = None,
                 timeout: httpx.Timeout | None = None, sleep: Callable[[float], None] = time.sleep,
                 rand: Callable[[], float] = random.random, clock: Callable[[], float] = time.monotonic,
                 transport: httpx.BaseTransport | None = None):
        self.cfg = cfg
        self._token = token if token is not None else configmod.read_secret(
            cfg.token, cfg.token_file, cfg_path, "shopify.token")
        if not self._token:
            raise configmod.ConfigError(cfg_path, "shopify.token", "an Admin API access token "
                                        "(shopify.token or shopify.token_file)", "nothing")
        base = cfg.endpoint.rstrip("/") if cfg.endpoint else f"https://{cfg.shop}"
        self.url = f"{base}/admin/api/{cfg.api_version}/graphql.json"
        self.sleep, self.rand, self.clock = sleep, rand, clock
        self._http = httpx.Client(
            timeout=timeout or DEFAULT_TIMEOUT,
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=2, keepalive_expiry=30),
            transport=transport,
            headers={"Content-Type": "application/json", "User-Agent": "pos-pk-sync/0.1",
                     "X-Shopify-Access-Token": self._token},
        )
        self._ops: dict[str, str] = {}
        self._lock = threading.Lock()
        # throttle bookkeeping (from the last answer)
        self._available: float | None = None
        self._maximum: float = 1000.0
        self._restore: float = 50.0
        self._seen_at: float = 0.0
        self._last_cost: dict[str, float] = {}
        self.version_warnings = 0
        self.served_version = ""
        self.requests = 0
        self.paced_seconds = 0.0

    # -- plumbing -------------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def operation(self, name: str) -> str:
        if name not in self._ops:
            self._ops[name] = load_operation(name)
        return self._ops[name]

    def _scrub(self, text: str) -> str:
        return scrub(text, self._token)

    # -- pacing ---------------------------------------------------------------------------
    def _estimate(self, name: str, is_mutation: bool) -> float:
        return self._last_cost.get(name, 10.0 if is_mutation else 100.0)

    def _pace(self, need: float) -> None:
        """Sleep until the bucket (as last reported, plus what was restored since) holds `need`."""
        if self._available is None:
            return
        now = self.clock()
        have = min(self._maximum, self._available + (now - self._seen_at) * self._restore)
        need = min(need, self._maximum)
        if have < need:
            wait = (need - have) / self._restore
            self.paced_seconds += wait
            self.sleep(wait)

    def _note_cost(self, name: str, cost: dict | None) -> None:
        if not cost:
            return
        ts = cost.get("throttleStatus") or {}
        if ts:
            self._maximum = float(ts.get("maximumAvailable") or self._maximum)
            self._restore = float(ts.get("restoreRate") or self._restore) or 1.0
            self._available = float(ts.get("currentlyAvailable") or 0)
            self._seen_at = self.clock()
        if cost.get("requestedQueryCost") is not None:
            self._last_cost[name] = float(cost["requestedQueryCost"])

    # -- one request ----------------------------------------------------------------------
    def execute(self, name: str, variables: dict | None = None, *, payload_field: str | None = None) -> Result:
        """Send operation `name` once. Returns its data or raises ShopifyError (classified).

        With `payload_field` (a mutation's root field) the payload's userErrors are classified too.
        """
        query = self.operation(name)
        is_mutation = query.lstrip().startswith("mutation") or "\nmutation " in query
        body = json.dumps({"query": query, "variables": variables or {}, "operationName": name})
        with self._lock:
            self._pace(self._estimate(name, is_mutation))
            self.requests += 1
            try:
                resp = self._http.post(self.url, content=body)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                raise ShopifyError(RETRY, NOT_ARRIVED, f"cannot connect to Shopify: {self._describe(exc)}") from None
            except httpx.TimeoutException as exc:
                raise ShopifyError(RETRY, MAY_HAVE_ARRIVED,
                                   f"no answer from Shopify in time ({type(exc).__name__})") from None
            except httpx.TransportError as exc:
                raise ShopifyError(RETRY, MAY_HAVE_ARRIVED,
                                   f"connection to Shopify lost before the answer: {self._describe(exc)}") from None
            return self._interpret(name, resp, payload_field)

    def _describe(self, exc: Exception) -> str:
        return self._scrub(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)

    def _interpret(self, name: str, resp: httpx.Response, payload_field: str | None) -> Result:
        version = resp.headers.get("X-Shopify-API-Version", "")
        if version and version != self.cfg.api_version:
            self.version_warnings += 1
            log.warning("SHOPIFY API VERSION MISMATCH: asked for %s, Shopify served %s - the agent was "
                        "built for %s; upgrade it before Shopify drops that version",
                        self.cfg.api_version, version, self.cfg.api_version)
        self.served_version = version or self.served_version
        status = resp.status_code
        try:
            doc = resp.json()
        except ValueError:
            doc = None
        if status >= 500 or status in RETRY_STATUSES:
            wait = None
            if status == 429:
                try:
                    wait = float(resp.headers.get("Retry-After", "1"))
                except ValueError:
                    wait = 1.0
            raise ShopifyError(RETRY, MAY_HAVE_ARRIVED if status >= 500 else ANSWERED,
                               f"Shopify answered HTTP {status}", code=f"HTTP_{status}", wait=wait)
        if status in (401, 403):
            raise ShopifyError(PERMANENT, ANSWERED, f"Shopify refused the access token (HTTP {status}); "
                               "check the app is installed and the token and scopes are right",
                               code=f"HTTP_{status}")
        if status >= 400 or not isinstance(doc, dict):
            detail = ""
            if isinstance(doc, dict) and doc.get("errors"):
                detail = ": " + self._scrub(json.dumps(doc["errors"])[:300])
            raise ShopifyError(PERMANENT, ANSWERED, f"Shopify answered HTTP {status}{detail}", code=f"HTTP_{status}")
        cost = (doc.get("extensions") or {}).get("cost") or {}
        self._note_cost(name, cost)
        errors = doc.get("errors")
        if errors:
            if not isinstance(errors, list):
                errors = [{"message": str(errors)}]
            codes = [((e.get("extensions") or {}).get("code") or "") for e in errors if isinstance(e, dict)]
            text = "; ".join(self._scrub(str(e.get("message", e))) for e in errors if isinstance(e, dict))
            code = next((c for c in codes if c), None)
            if any(c in RETRY_TOP_CODES for c in codes):
                wait = None
                if code == "THROTTLED":
                    ts = cost.get("throttleStatus") or {}
                    need = float(cost.get("requestedQueryCost") or 0)
                    have = float(ts.get("currentlyAvailable") or 0)
                    rate = float(ts.get("restoreRate") or 50) or 1.0
                    wait = max(1.0, math.ceil((need - have) / rate))
                raise ShopifyError(RETRY, ANSWERED, f"Shopify: {text} ({code})", code=code, wait=wait)
            raise ShopifyError(PERMANENT, ANSWERED, f"Shopify rejected the request: {text}"
                               + (f" ({code})" if code else ""), code=code)
        data = doc.get("data") or {}
        if payload_field:
            payload = data.get(payload_field) or {}
            user_errors = payload.get("userErrors") or []
            if user_errors:
                codes = [ue.get("code") for ue in user_errors]
                text = "; ".join(self._scrub(self._user_error_text(ue)) for ue in user_errors)
                code = next((c for c in codes if c), None)
                kind = RETRY if all(c in RETRY_USER_CODES for c in codes) else PERMANENT
                raise ShopifyError(kind, ANSWERED, f"Shopify refused it: {text}", code=code,
                                   user_errors=user_errors)
        return Result(data=data, cost=cost, version=version)

    @staticmethod
    def _user_error_text(ue: dict) -> str:
        where = ".".join(str(f) for f in (ue.get("field") or []))
        code = f" [{ue['code']}]" if ue.get("code") else ""
        return f"{ue.get('message', '')}{code}" + (f" at {where}" if where else "")

    # -- with retries -----------------------------------------------------------------------
    def is_deduplicated(self, name: str, variables: dict | None) -> bool:
        """May this request be sent twice without doing its work twice? Queries always; a
        mutation only with an idempotency key (Shopify's `@idempotent`)."""
        if name in SAME_EFFECT_TWICE:
            return True
        query = self.operation(name)
        is_mutation = query.lstrip().startswith("mutation") or "\nmutation " in query
        return not is_mutation or bool((variables or {}).get("idempotencyKey"))

    def call(self, name: str, variables: dict | None = None, *, payload_field: str | None = None,
             attempts: int = 5, base: float = 0.5, cap: float = 30.0) -> Result:
        """`execute` with backoff on RETRY outcomes (the same request, so the same key).

        A mutation Shopify does not deduplicate (fulfillmentCreate, fulfillmentOrderMove, tagsAdd)
        is resent here only when the request surely did not apply (it never arrived, or Shopify
        answered THROTTLED); a lost answer is raised to the caller, whose job resends only after
        reading Shopify's state (sync_agent/once.py)."""
        safe = self.is_deduplicated(name, variables)
        for attempt in range(attempts):
            try:
                return self.execute(name, variables, payload_field=payload_field)
            except ShopifyError as exc:
                if not exc.retryable or attempt == attempts - 1:
                    raise
                if not safe and exc.arrival == MAY_HAVE_ARRIVED:
                    raise
                delay = exc.wait if exc.wait is not None else backoff_delay(attempt, base, cap, self.rand)
                log.info("shopify %s: %s; retrying in %.1f s", name, exc.message, delay)
                self.sleep(delay)
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def download(self, url: str) -> Iterator[httpx.Response]:
        """Stream a download (bulk results) through the same client.

        The access token is not sent with it: bulk result URLs are pre-signed."""
        req = self._http.build_request("GET", url)
        del req.headers["X-Shopify-Access-Token"]
        resp = self._http.send(req, stream=True)
        try:
            yield resp
        finally:
            resp.close()
