"""Transport fault injection for the GraphQL endpoint (never for /_sim/* control endpoints).

Config (POST /_sim/faults, all optional; unknown keys are refused so a typo does not silently
disable a test):
    latency_ms          added delay before the request is handled
    error_rate          probability of an HTTP 502/503 (chosen from error_statuses), nothing applied
    error_statuses      default [502, 503]
    drop_before_rate    probability of closing the socket without a response, nothing applied
    drop_after_rate     probability of applying the request, then closing the socket ("lost ack")
    hold_mutation_ms    keep an @idempotent mutation in flight this long (IDEMPOTENCY_CONCURRENT_REQUEST tests)
    scope               "all" | "mutations" | "queries"  (which requests the rates apply to)
    fields              only requests whose root fields include one of these (e.g. ["fulfillmentCreate"]);
                        null = every request in scope
    max_faults          stop injecting after this many injected faults (null = unlimited)
    seed                seed of the fault RNG, for deterministic sequences
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field


@dataclass
class FaultConfig:
    latency_ms: float = 0
    error_rate: float = 0.0
    error_statuses: list = field(default_factory=lambda: [502, 503])
    drop_before_rate: float = 0.0
    drop_after_rate: float = 0.0
    hold_mutation_ms: float = 0
    scope: str = "all"
    fields: list | None = None
    max_faults: int | None = None
    seed: int | None = None


@dataclass
class Decision:
    latency_s: float = 0.0
    status: int | None = None      # 502/503 instead of handling
    drop_before: bool = False
    drop_after: bool = False


class Faults:
    def __init__(self, **config) -> None:
        self._lock = threading.Lock()
        self.injected = 0
        self.configure(config, replace=True)

    def configure(self, changes: dict, replace: bool = False) -> dict:
        base = FaultConfig() if replace else self.config
        values = asdict(base)
        unknown = set(changes) - set(values)
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        values.update(changes)
        cfg = FaultConfig(**values)
        for name in ("error_rate", "drop_before_rate", "drop_after_rate"):
            if not 0.0 <= float(getattr(cfg, name)) <= 1.0:
                raise ValueError(f"{name} must be a probability between 0 and 1")
        if cfg.scope not in ("all", "mutations", "queries"):
            raise ValueError("scope must be all, mutations or queries")
        with self._lock:
            self.config = cfg
            self.injected = 0
            self._rng = random.Random(cfg.seed)
        return self.describe()

    def reset(self) -> dict:
        return self.configure({}, replace=True)

    def describe(self) -> dict:
        return {**asdict(self.config), "injected": self.injected}

    def decide(self, is_mutation: bool, root_fields: tuple = ()) -> Decision:
        with self._lock:
            cfg = self.config
            d = Decision(latency_s=cfg.latency_ms / 1000.0)
            in_scope = cfg.scope == "all" or (cfg.scope == "mutations") == is_mutation
            if cfg.fields is not None and not set(cfg.fields) & set(root_fields):
                in_scope = False
            # Always draw the same number of values so a seed gives the same sequence whatever fires.
            r_err, r_before, r_after, r_pick = (self._rng.random() for _ in range(4))
            if not in_scope or (cfg.max_faults is not None and self.injected >= cfg.max_faults):
                return d
            if r_err < cfg.error_rate:
                d.status = cfg.error_statuses[int(r_pick * len(cfg.error_statuses))]
            elif r_before < cfg.drop_before_rate:
                d.drop_before = True
            elif r_after < cfg.drop_after_rate:
                d.drop_after = True
            if d.status or d.drop_before or d.drop_after:
                self.injected += 1
            return d
