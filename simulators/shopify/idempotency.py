"""@idempotent(key:) bookkeeping, as Shopify describes it for 2026-04+.

Records live in the shop state (persisted with the change they protect) keyed by
"<mutation field>:<key>":  {"hash", "status": in_flight|succeeded|failed, "payload", "createdAt"}.

* same key + same arguments, finished      -> the stored payload again, nothing applied
* same key + other arguments               -> IDEMPOTENCY_KEY_PARAMETER_MISMATCH
* same key while the first is in flight    -> IDEMPOTENCY_CONCURRENT_REQUEST
* same key after a failed first attempt    -> IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED
* records expire after 24 h (sim clock), after which the key executes again.
These come back as payload userErrors (typed `code` where the payload's error type has one).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .state import ShopState, parse_time

RETENTION = timedelta(hours=24)

# Mutations that require (and are the only ones that accept) @idempotent in 2026-10.
REQUIRES_IDEMPOTENT = frozenset({
    "inventoryAdjustQuantities", "inventorySetQuantities", "inventoryMoveQuantities",
    "inventoryActivate", "inventorySetOnHandQuantities", "inventoryTransferCreate",
    "inventoryTransferCreateAsReadyToShip", "inventoryTransferDuplicate", "inventoryTransferSetItems",
    "inventoryShipmentCreate", "inventoryShipmentCreateInTransit", "inventoryShipmentAddItems",
    "inventoryShipmentReceive", "locationActivate", "locationDeactivate", "refundCreate",
})

MESSAGES = {
    "IDEMPOTENCY_CONCURRENT_REQUEST":
        "A request with this idempotency key is currently in progress, please try again.",
    "IDEMPOTENCY_KEY_PARAMETER_MISMATCH":
        "The idempotency key was already used with different parameters.",
    "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED":
        "The previous attempt with this idempotency key failed. Retry with a new idempotency key.",
}

NEW = "NEW"


@dataclass
class Outcome:
    kind: str                  # NEW, REPLAY or one of the IDEMPOTENCY_* codes
    payload: Any = None        # stored payload for REPLAY


def arguments_hash(args: dict) -> str:
    # Arguments as graphql-core coerced them: an explicit null and an omitted field differ.
    return hashlib.sha256(json.dumps(args, sort_keys=True, default=str).encode()).hexdigest()


class IdempotencyStore:
    def __init__(self, state: ShopState):
        self.state = state

    @property
    def records(self) -> dict:
        return self.state.data["idempotency"]

    def begin(self, mutation: str, key: str, args_hash: str) -> Outcome:
        record_key = f"{mutation}:{key}"
        with self.state.lock:
            record = self.records.get(record_key)
            if record and self.state.clock.now() - parse_time(record["createdAt"]) > RETENTION:
                record = None  # forgotten after 24 h: the key executes again
            if record is None:
                self.records[record_key] = {"hash": args_hash, "status": "in_flight", "payload": None,
                                            "createdAt": self.state.now()}
                return Outcome(NEW)
            if record["status"] == "in_flight":
                return Outcome("IDEMPOTENCY_CONCURRENT_REQUEST")
            if record["hash"] != args_hash:
                return Outcome("IDEMPOTENCY_KEY_PARAMETER_MISMATCH")
            if record["status"] == "failed":
                return Outcome("IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED")
            return Outcome("REPLAY", record["payload"])

    def finish(self, mutation: str, key: str, payload: Any, failed: bool) -> None:
        """Called under state.lock, in the same critical section (and save) as the change itself."""
        record = self.records[f"{mutation}:{key}"]
        record.update(status="failed" if failed else "succeeded", payload=payload)

    def abandon(self, mutation: str, key: str) -> None:
        """An unexpected exception: forget the in-flight record so a retry can run."""
        with self.state.lock:
            rec = self.records.get(f"{mutation}:{key}")
            if rec and rec["status"] == "in_flight":
                del self.records[f"{mutation}:{key}"]

    def clear_in_flight(self) -> None:
        """On start-up: a request in flight when the process died was never applied."""
        for k in [k for k, r in self.records.items() if r["status"] == "in_flight"]:
            del self.records[k]
