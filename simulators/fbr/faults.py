"""Fault injection for the invoice endpoints (reference fbr-ims.md §5.6).

Faults apply only to invoice POSTs (cloud PostData and the local
GetInvoiceNumberByModel), never to the health check or ``/_sim``.

Order in which a request meets them:

1. ``latency_ms`` - always, before anything else;
2. ``drop_rate`` - close the connection before processing: nothing stored,
   safe to retry;
3. ``error_rate`` - an HTML 5xx from the "proxy" (status picked from
   ``error_statuses``): nothing stored;
4. ``store_no_response_rate`` - the invoice is processed, stored and numbered,
   then the socket closes with no response: THE ambiguous case the sync agent
   must reconcile rather than blindly resend;
   ``error_after_store_rate`` - the invoice is processed, stored and numbered,
   then the gateway answers an HTML 5xx (from ``error_statuses``) instead of
   IMS's answer: a 502/503/504 proves nothing about whether it was numbered;
5. ``hang_rate`` x ``hang_seconds`` - sleep that long, then answer normally.
   With ``hang_after_store`` the invoice is stored first (accept-then-hang);
   otherwise it is processed only after the sleep.

With ``seed`` set, the same sequence of requests meets the same faults: every
request draws the same number of random values whatever is configured.
``max_faults`` stops injecting after that many faults (handy for "fail once,
then recover").
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field, fields
from typing import Any

ERROR_STATUSES = (500, 502, 503, 504)
DEFAULT_ERROR_STATUSES = (500, 502, 503)


@dataclass
class FaultConfig:
    latency_ms: int = 0
    error_rate: float = 0.0
    error_statuses: list[int] = field(default_factory=lambda: list(DEFAULT_ERROR_STATUSES))
    drop_rate: float = 0.0
    store_no_response_rate: float = 0.0
    error_after_store_rate: float = 0.0
    hang_seconds: float = 0.0
    hang_rate: float = 1.0
    hang_after_store: bool = False
    seed: int | None = None
    max_faults: int | None = None

    @classmethod
    def from_json(cls, data: Any) -> "FaultConfig":
        """Build from a JSON object; raises ValueError with a readable message."""
        if not isinstance(data, dict):
            raise ValueError("faults must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault keys {unknown}; known: {sorted(known)}")
        config = cls(**data)
        config.check()
        return config

    def check(self) -> None:
        for name in ("error_rate", "drop_rate", "store_no_response_rate", "hang_rate", "error_after_store_rate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ValueError(f"{name} must be a probability between 0 and 1")
        if self.error_rate + self.error_after_store_rate > 1:
            raise ValueError("error_rate + error_after_store_rate must not exceed 1")
        for name in ("latency_ms", "hang_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name} must be a non-negative number")
        if (not isinstance(self.error_statuses, list) or not self.error_statuses
                or any(s not in ERROR_STATUSES for s in self.error_statuses)):
            raise ValueError(f"error_statuses must be a non-empty subset of {list(ERROR_STATUSES)}")
        for name in ("seed", "max_faults"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"{name} must be an integer or null")
        if not isinstance(self.hang_after_store, bool):
            raise ValueError("hang_after_store must be true or false")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Plan:
    """What to do to one request."""

    latency_s: float = 0.0
    drop: bool = False
    error_status: int | None = None
    no_response: bool = False
    error_after_store: int | None = None
    hang_s: float = 0.0
    hang_after_store: bool = False


class FaultInjector:
    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self.configure(config or FaultConfig())

    def configure(self, config: FaultConfig) -> None:
        with self._lock:
            self.config = config
            self._rng = random.Random(config.seed)
            self.injected = 0

    def plan(self) -> Plan:
        with self._lock:
            c = self.config
            # Always draw all five, so a seeded run is reproducible whatever is enabled.
            r_drop, r_error, r_status, r_no_response, r_hang = (self._rng.random() for _ in range(5))
            budget_left = c.max_faults is None or self.injected < c.max_faults
            plan = Plan(latency_s=c.latency_ms / 1000)
            if budget_left:
                if r_drop < c.drop_rate:
                    plan = Plan(latency_s=plan.latency_s, drop=True)
                elif r_error < c.error_rate:
                    status = c.error_statuses[int(r_status * len(c.error_statuses))]
                    plan = Plan(latency_s=plan.latency_s, error_status=status)
                elif r_error < c.error_rate + c.error_after_store_rate:
                    # the same draw as error_rate (a band above it), so seeded runs stay the same
                    status = c.error_statuses[int(r_status * len(c.error_statuses))]
                    plan = Plan(latency_s=plan.latency_s, error_after_store=status)
                elif r_no_response < c.store_no_response_rate:
                    plan = Plan(latency_s=plan.latency_s, no_response=True)
                elif c.hang_seconds > 0 and r_hang < c.hang_rate:
                    plan = Plan(latency_s=plan.latency_s, hang_s=c.hang_seconds,
                                hang_after_store=c.hang_after_store)
            if plan != Plan(latency_s=plan.latency_s):
                self.injected += 1
            return plan

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {**self.config.to_json(), "injected": self.injected}
