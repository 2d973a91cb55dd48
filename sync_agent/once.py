"""Exactly once for outside calls the other side does not deduplicate.

Shopify's `fulfillmentCreate`, `fulfillmentOrderMove` and `tagsAdd`, and a courier's booking,
carry no idempotency key: sending one again after its answer was lost may do it twice (a second
fulfillment, a commitment moved twice, a second consignment). Every such call an outbox job
makes goes through `run_once`, the one place the rule lives:

    outcome = once.run_once(job, "create", send=lambda: ..., probe=lambda: ...)
    outcome.result            # the dict send() or probe() returned
    outcome.found_existing    # True when an earlier attempt had done it and nothing was sent

* `step` names the call inside the job (a job may make several: moves, then the fulfillment).
* Before sending, `run_once` commits a mark on the job (`job.result["once"][step]`), so a lost
  answer, a crash or a SIGKILL mid-request leaves it behind.
* `send()` makes the call ONCE and returns a JSON-able dict. It must not resend by itself
  (`ShopifyClient.call` never resends a mutation without an idempotency key once the request
  may have arrived).
* `probe()` reads the other side's current state and returns the dict of what the earlier
  attempt made (the fulfillment carrying our tracking number, the order at the new location,
  the booking with our reference), or None when it finds no trace of it.
* While a mark is out, the next `run_once` of that step calls `probe` first: found -> the
  found result, nothing sent; not found -> sent again (the earlier attempt did not apply).
* An exception with `answered = True` (the other side answered with an error, so nothing was
  done) clears the mark: the next attempt sends without probing. Any other exception keeps
  it. Exceptions from `send` and `probe` are raised unchanged: the caller keeps its own retry
  and failure policy.
* `probe=None` is for calls protected by an idempotency key instead: a resend reuses the key,
  which the other side remembers for KEY_WINDOW only; a resend whose first attempt is older
  raises `UnknownOutcome`, and the caller marks the job NEEDS_RECONCILIATION for a person; once
  that person retries it (`outbox.retry`), it is sent again.
  (`key_expired` states the same rule for callers with their own stored requests, such as the
  inventory batches.)
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable

from pos_core import db
from pos_core.models import OutboxJob, utcnow

KEY_WINDOW = dt.timedelta(hours=23)   # Shopify forgets idempotency keys after 24 h
MARKS = "once"


@dataclass
class Outcome:
    result: dict
    found_existing: bool = False


class UnknownOutcome(Exception):
    """An earlier attempt may have applied and nothing can tell: a person must compare."""


def key_expired(first_sent_at: dt.datetime | str | None, now: dt.datetime | None = None) -> bool:
    """True when a request first sent at `first_sent_at` may no longer be resent with its key."""
    if not first_sent_at:
        return False
    if isinstance(first_sent_at, str):
        first_sent_at = dt.datetime.fromisoformat(first_sent_at)
    return (now or utcnow()) - first_sent_at > KEY_WINDOW


def pending_mark(job: OutboxJob, step: str) -> dict | None:
    """The mark of an attempt of `step` whose answer never came, if there is one."""
    return ((job.result or {}).get(MARKS) or {}).get(step)


def run_once(job: OutboxJob, step: str, *, send: Callable[[], dict],
             probe: Callable[[], dict | None] | None,
             now: Callable[[], dt.datetime] = utcnow) -> Outcome:
    mark = pending_mark(job, step)
    if mark is not None:
        if probe is not None:
            found = probe()
            if found is not None:
                _clear(job, step)
                _note(job, "found_existing", step)
                return Outcome(dict(found), found_existing=True)
        elif key_expired(mark.get("first_at"), now()) and not _retried_by_hand_since(job, mark.get("first_at")):
            raise UnknownOutcome(
                f"no answer to {step} since {mark.get('first_at')} UTC and its idempotency key has expired; "
                "check the other side, then retry or settle the job by hand")
    _set(job, step, {"first_at": (mark or {}).get("first_at") or now().isoformat(),
                     "tries": int((mark or {}).get("tries", 0)) + 1})
    try:
        result = send()
    except Exception as exc:
        if getattr(exc, "answered", False):
            _clear(job, step)
        raise
    _clear(job, step)
    return Outcome(dict(result or {}))


def _retried_by_hand_since(job: OutboxJob, since: str | None) -> bool:
    """A person looked (outbox.retry after NEEDS_RECONCILIATION) and chose to send again."""
    return any(h.get("event") in ("manual_retry", "branch_retry") and (h.get("at") or "") > (since or "") for h in job.history or [])


# -- the marks, each in its own committed write ------------------------------------------------
def _store(job: OutboxJob, result: dict) -> None:
    with db.write():
        OutboxJob.update(result=result).where(OutboxJob.id == job.id).execute()
    job.result = result


def _set(job: OutboxJob, step: str, mark: dict) -> None:
    result = dict(job.result or {})
    result[MARKS] = {**(result.get(MARKS) or {}), step: mark}
    _store(job, result)


def _clear(job: OutboxJob, step: str) -> None:
    result = dict(job.result or {})
    marks = dict(result.get(MARKS) or {})
    if step in marks:
        marks.pop(step)
        if marks:
            result[MARKS] = marks
        else:
            result.pop(MARKS, None)
        _store(job, result)


def _note(job: OutboxJob, event: str, step: str) -> None:
    history = list(job.history or []) + [{"at": utcnow().isoformat(), "event": event, "step": step}]
    with db.write():
        OutboxJob.update(history=history).where(OutboxJob.id == job.id).execute()
    job.history = history
