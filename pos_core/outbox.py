"""The outbox: work for the sync agent, written in the same transaction as its document.

A job's payload and idempotency key are fixed when it is made. Statuses:
PENDING -> SENDING -> SYNCED, or FAILED (a person reads the error and retries), or
NEEDS_RECONCILIATION (the outcome is unknown: FBR timed out after the request was sent).
"""
from __future__ import annotations

import datetime as dt
from collections import Counter as Tally

from . import audit, db
from .errors import NotFound, StateError
from .models import Branch, OutboxJob, Variant, new_uid, utcnow

SHOPIFY, FBR = "shopify", "fbr"
PENDING, SENDING, SYNCED, FAILED, NEEDS_RECONCILIATION = (
    "PENDING", "SENDING", "SYNCED", "FAILED", "NEEDS_RECONCILIATION")
# What a document shows for a channel, derived from its jobs.
DOC_PENDING, DOC_SYNCED, DOC_FAILED, DOC_ATTENTION, DOC_NOT_REQUIRED = (
    "PENDING", "SYNCED", "FAILED", "NEEDS_ATTENTION", "NOT_REQUIRED")


def enqueue(channel: str, kind: str, payload: dict, doc_type: str, doc_ref: str,
            depends_on: str | None = None) -> OutboxJob:
    """Call inside the document's write transaction."""
    now = utcnow()
    return OutboxJob.create(channel=channel, kind=kind, payload=payload, doc_type=doc_type,
                            doc_ref=doc_ref, depends_on=depends_on, created_at=now,
                            updated_at=now, next_attempt_at=now)


def inventory_payload(variant: Variant, branch: Branch, delta: int, reason: str,
                      reference_uri: str) -> dict:
    """One `available` delta for Shopify, with what the agent needs to send and explain it."""
    return {
        "inventoryItemId": variant.shopify_inventory_item_id,
        "locationId": branch.shopify_location_id,
        "delta": delta,
        "name": "available",
        "reason": reason,
        "referenceDocumentUri": reference_uri,
        "sku": variant.sku,
        "variantId": variant.id,
        "branch": branch.code,
    }


def wants_inventory_push(variant: Variant, branch: Branch, shopify_enabled: bool) -> bool:
    """Only stock Shopify knows about, at a branch mapped to a Shopify location, is pushed."""
    return (shopify_enabled and variant.tracked and bool(variant.shopify_inventory_item_id)
            and bool(branch.shopify_location_id))


def enqueue_many(rows: list[dict]) -> None:
    """Several jobs in one INSERT: dicts of channel, kind, payload, doc_type, doc_ref[, depends_on]."""
    if not rows:
        return
    now = utcnow()
    OutboxJob.insert_many([{"uid": new_uid(), "idempotency_key": new_uid(), "status": PENDING, "attempts": 0,
                            "history": [], "created_at": now, "updated_at": now, "next_attempt_at": now,
                            "depends_on": None, **r} for r in rows]).execute()


def inventory_jobs(deltas: dict[tuple[int, int], int], reason: str, reference_uri: str, doc_type: str,
                   doc_ref: str, shopify_enabled: bool, variants: dict[int, Variant] | None = None,
                   branches: dict[int, Branch] | None = None) -> list[dict]:
    """Job rows for one `available` delta per (variant, branch) with a non-zero net change.
    Callers that already hold the variants and branches pass them in, to save the lookups."""
    if not shopify_enabled:
        return []
    rows = []
    for (variant_id, branch_id), delta in sorted(deltas.items()):
        if not delta:
            continue
        variant = (variants or {}).get(variant_id) or Variant.get_by_id(variant_id)
        branch = (branches or {}).get(branch_id) or Branch.get_by_id(branch_id)
        if wants_inventory_push(variant, branch, shopify_enabled):
            rows.append({"channel": SHOPIFY, "kind": "inventory_adjust", "doc_type": doc_type, "doc_ref": doc_ref,
                         "payload": inventory_payload(variant, branch, delta, reason, reference_uri)})
    return rows


def enqueue_inventory(deltas: dict[tuple[int, int], int], reason: str, reference_uri: str,
                      doc_type: str, doc_ref: str, shopify_enabled: bool) -> None:
    """One job per (variant, branch) with a non-zero net delta."""
    enqueue_many(inventory_jobs(deltas, reason, reference_uri, doc_type, doc_ref, shopify_enabled))


def jobs_for(doc_ref: str, channel: str | None = None) -> list[OutboxJob]:
    q = OutboxJob.select().where(OutboxJob.doc_ref == doc_ref)
    if channel:
        q = q.where(OutboxJob.channel == channel)
    return list(q.order_by(OutboxJob.id))


def summarise(statuses: list[str]) -> str:
    if not statuses:
        return DOC_NOT_REQUIRED
    if FAILED in statuses:
        return DOC_FAILED
    if NEEDS_RECONCILIATION in statuses:
        return DOC_ATTENTION
    if all(s == SYNCED for s in statuses):
        return DOC_SYNCED
    return DOC_PENDING


def doc_status(doc_ref: str, channel: str) -> str:
    return summarise([j.status for j in jobs_for(doc_ref, channel)])


def statuses_for(doc_refs: list[str]) -> dict[str, dict[str, str]]:
    """{doc_ref: {"shopify": status, "fbr": status}} for a page of documents, in one query."""
    found: dict[str, dict[str, list[str]]] = {d: {SHOPIFY: [], FBR: []} for d in doc_refs}
    if doc_refs:
        for ref, channel, status in (OutboxJob.select(OutboxJob.doc_ref, OutboxJob.channel, OutboxJob.status)
                                     .where(OutboxJob.doc_ref.in_(doc_refs)).tuples()):
            found[ref].setdefault(channel, []).append(status)
    return {ref: {ch: summarise(sts) for ch, sts in chans.items()} for ref, chans in found.items()}


def queue_depths() -> dict[str, dict[str, int]]:
    """{"shopify": {"PENDING": n, "FAILED": n, ...}, "fbr": {...}}"""
    depths: dict[str, dict[str, int]] = {SHOPIFY: {}, FBR: {}}
    rows = (OutboxJob.select(OutboxJob.channel, OutboxJob.status, OutboxJob.id)
            .where(OutboxJob.status != SYNCED).tuples())
    tally = Tally((channel, status) for channel, status, _ in rows)
    for (channel, status), n in tally.items():
        depths.setdefault(channel, {})[status] = n
    return depths


def retry(job_uid: str, staff_id: int | None = None) -> OutboxJob:
    """Put a FAILED or NEEDS_RECONCILIATION job back in the queue.

    If the failed attempt reached the other side and was answered with an error, Shopify will
    refuse that key again (IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED), and a corrected request is a new
    attempt: the payload is rebuilt from the current mapping and gets a new key; the old key is
    kept in the history. A request that never got an answer keeps its payload and key.
    A job a chain branch handed to the head office (`via_hq`) is retried there: the request goes
    up and the head office, which saw the answer, decides about the key (shopify_relay.py).
    """
    with db.write():
        job = OutboxJob.get_or_none(OutboxJob.uid == job_uid)
        if job is None:
            raise NotFound(f"no outbox job {job_uid}")
        if job.status not in (FAILED, NEEDS_RECONCILIATION):
            raise StateError(f"job {job_uid} is {job.status}; only FAILED or NEEDS_RECONCILIATION "
                             "jobs can be retried")
        if job.via_hq:
            from . import shopify_relay
            shopify_relay.ask_retry(job, staff_id)
        else:
            retry_job(job, staff_id)
        audit.log("outbox.retry", staff_id, doc_ref=job.doc_ref, job=job.uid)
    return job


def retry_job(job: OutboxJob, staff_id: int | None, event: str = "manual_retry", **note) -> None:
    """Back to PENDING (inside the caller's transaction), with a new key if Shopify answered."""
    history = list(job.history or [])
    answered = bool(history and history[-1].get("answered"))
    if answered and job.channel == SHOPIFY:
        history.append({"at": utcnow().isoformat(), "event": "retired_key",
                        "key": job.idempotency_key})
        job.idempotency_key = new_uid()
        if job.kind == "inventory_adjust":
            job.payload = _refresh_mapping(job.payload)
    # once.py counts any retry by a person (here or asked by a branch) as "a person looked"
    history.append({"at": utcnow().isoformat(), "event": event, "staff": staff_id, **note})
    job.history = history
    job.status, job.next_attempt_at, job.updated_at = PENDING, utcnow(), utcnow()
    job.last_error = ""
    job.save()


def _refresh_mapping(payload: dict) -> dict:
    # By SKU first: a variant id is local to the site that made the job (a branch's, at the head office).
    variant = (Variant.get_or_none(Variant.sku == payload["sku"]) if payload.get("sku") else None) \
        or Variant.get_or_none(Variant.id == payload.get("variantId"))
    branch = Branch.get_or_none(Branch.code == payload.get("branch"))
    fresh = dict(payload)
    if variant is not None and variant.shopify_inventory_item_id:
        fresh["inventoryItemId"] = variant.shopify_inventory_item_id
    if branch is not None and branch.shopify_location_id:
        fresh["locationId"] = branch.shopify_location_id
    return fresh


def claim(job: OutboxJob) -> bool:
    """Mark a PENDING job SENDING before its request goes out; False if another worker has it."""
    with db.write():
        return bool(OutboxJob.update(status=SENDING, attempts=OutboxJob.attempts + 1, updated_at=utcnow())
                    .where((OutboxJob.id == job.id) & (OutboxJob.status == PENDING)).execute())


def update_job(job: OutboxJob, status: str, error: str, result: dict | None, *, event: str,
               answered: bool = False, next_at: dt.datetime | None = None) -> None:
    """Record an attempt's outcome on the job, with a line in its history."""
    now = utcnow()
    history = list(job.history or [])
    history.append({"at": now.isoformat(), "event": event, "error": error, "answered": answered})
    fields = {OutboxJob.status: status, OutboxJob.last_error: error, OutboxJob.history: history,
              OutboxJob.updated_at: now}
    if result is not None:
        fields[OutboxJob.result] = result
    if next_at is not None:
        fields[OutboxJob.next_attempt_at] = next_at
    with db.write():
        OutboxJob.update(fields).where(OutboxJob.id == job.id).execute()
    job.status, job.last_error, job.history = status, error, history
    if result is not None:
        job.result = result
