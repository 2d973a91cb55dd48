"""Pushes the outbox's Shopify stock deltas as `inventoryAdjustQuantities` batches.

The life of a batch (see docs/sync.md):

1. CLAIM (one short IMMEDIATE transaction): take the oldest due PENDING job, add due jobs with
   the same reason and location (up to 250 changes), build the exact variables and the batch's
   idempotency key, store them in the first job's `result["batch"]`, give every member the
   `batch_uid`, mark them SENDING. Nothing is sent before this commit.
2. SEND (no transaction open): the stored variables with the stored key, as they are.
3. RECORD (one short transaction):
   * success: every member SYNCED with the adjustment group id and its quantityAfterChange;
   * retryable failure (network, timeout, 5xx, THROTTLED, IDEMPOTENCY_CONCURRENT_REQUEST):
     members back to PENDING with attempts+1 and a backed-off `next_attempt_at`, batch kept;
     the next claim resends the SAME stored batch with the SAME key;
   * permanent failure: the change(s) Shopify pointed at are FAILED with a readable message and
     a history entry `answered: True` (so `pos_core.outbox.retry` issues a new key); the other
     members are released to be batched again (under a new key, because the key is derived from
     the members), so one bad job never blocks the others.
A batch found SENDING at start-up (the agent died mid-request) is resent as stored (`recover`).
The key-age rule: a stored batch whose last answer was lost and that was first sent more than
23 hours ago (Shopify forgets keys after 24) is never resent; it goes to NEEDS_RECONCILIATION,
checked before every resend and at start-up (`expire_unknown`).
"""
from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import uuid
from dataclasses import dataclass, field
from typing import Callable

from pos_core import db
from pos_core.models import OutboxJob, new_uid, utcnow
from pos_core.outbox import FAILED, NEEDS_RECONCILIATION, PENDING, SENDING, SHOPIFY, SYNCED

from . import once
from .shopify.client import ShopifyClient, ShopifyError, backoff_delay

log = logging.getLogger("sync_agent.outbox")

KIND = "inventory_adjust"
MAX_CHANGES = 250
KEY_NAMESPACE = uuid.UUID("6f1d3c2e-8a4b-5e7f-9c0d-1a2b3c4d5e6f")
RESEND_WINDOW = once.KEY_WINDOW          # Shopify keeps idempotency keys for 24 h
SCAN_LIMIT = 2000
MIN_RETRY_DELAY = 0.5
# A job a chain branch handed to the head office (issue 14) is never sent from this box.
_SENT_HERE = OutboxJob.via_hq == False  # noqa: E712


def batch_key(job_keys: list[str]) -> str:
    """A one-job batch uses the job's own key; a larger one a key derived from its members' keys,
    so the same members always give the same key and a different set never reuses one."""
    if len(job_keys) == 1:
        return job_keys[0]
    return str(uuid.uuid5(KEY_NAMESPACE, "\n".join(job_keys)))


@dataclass
class Batch:
    uid: str
    key: str
    variables: dict
    jobs: list[OutboxJob]
    resend: bool = False


@dataclass
class Summary:
    batches: int = 0
    synced: int = 0
    failed: int = 0
    retrying: int = 0
    contact: bool = False
    last_error: str | None = None
    errors: list[str] = field(default_factory=list)


class OutboxWorker:
    def __init__(self, client: ShopifyClient, *, now: Callable[[], dt.datetime] = utcnow,
                 rand: Callable[[], float] = random.random, backoff_base: float = 1.0,
                 backoff_cap: float = 60.0, max_changes: int = MAX_CHANGES,
                 stop: threading.Event | None = None):
        self.client, self.now, self.rand = client, now, rand
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self.max_changes = max_changes
        self.stop = stop or threading.Event()

    # -- start-up ---------------------------------------------------------------------------
    def recover(self) -> int:
        """Batches left SENDING by a crash go back to PENDING, due now, with their stored batch;
        their answer is lost, so a batch first sent more than 23 hours ago is not resent (the
        key-age rule, checked here at start-up before anything is sent)."""
        now = self.now()
        with db.write():
            stuck = list(OutboxJob.select().where((OutboxJob.status == SENDING) & (OutboxJob.channel == SHOPIFY)
                                                  & (OutboxJob.kind == KIND) & _SENT_HERE))
            for job in stuck:
                job.history = list(job.history or []) + [{
                    "at": now.isoformat(), "event": "interrupted", "batch": job.batch_uid, "answered": False,
                    "error": "the agent stopped while this batch was being sent"}]
                job.status, job.next_attempt_at, job.updated_at = PENDING, now, now
                job.save()
            expired = self.expire_unknown()
        if stuck:
            log.info("recovered %d job(s) that were being sent when the agent stopped; resending as stored",
                     len(stuck))
        if expired:
            log.warning("%d stock change(s) had no answer from Shopify for over 23 hours: NEEDS_RECONCILIATION, "
                        "not resent", expired)
        return len(stuck)

    def expire_unknown(self) -> int:
        """Every stored batch whose last answer was lost and whose key is older than 23 h goes to
        NEEDS_RECONCILIATION. Returns how many jobs."""
        now = self.now()
        n = 0
        with db.write():
            uids = {u for (u,) in OutboxJob.select(OutboxJob.batch_uid).where(
                (OutboxJob.channel == SHOPIFY) & (OutboxJob.kind == KIND) & OutboxJob.batch_uid.is_null(False) & _SENT_HERE
                & OutboxJob.status.in_([PENDING, SENDING])).tuples()}
            for uid in uids:
                members = list(OutboxJob.select().where((OutboxJob.batch_uid == uid)
                                                        & OutboxJob.status.in_([PENDING, SENDING])))
                record = next(((j.result or {}).get("batch") for j in members
                               if (j.result or {}).get("batch", {}).get("uid") == uid), None)
                if record and self._expired(record, members, now):
                    self._to_reconciliation(members, record, now)
                    n += len(members)
        return n

    @staticmethod
    def _expired(record: dict, jobs: list[OutboxJob], now) -> bool:
        """Shopify may have applied this batch (its last answer was lost) and no longer knows its key."""
        if not once.key_expired(record.get("first_sent_at"), now):
            return False
        for job in jobs:
            mine = [h for h in job.history or [] if h.get("batch") == record["uid"]]
            if not mine or not mine[-1].get("answered"):
                return True
        return False

    @staticmethod
    def _to_reconciliation(jobs: list[OutboxJob], record: dict, now, error: str = "") -> None:
        since = record.get("first_sent_at", "")[:16].replace("T", " ")
        for job in jobs:
            job.status = NEEDS_RECONCILIATION
            job.last_error = (f"no confirmed answer from Shopify since {since} UTC and Shopify keeps an idempotency "
                              "key for 24 hours only: resending could apply this change twice. Compare Shopify's "
                              "quantity (pos-agent reconcile), then retry it or leave it"
                              + (f". Last error: {error}" if error else ""))
            job.history = list(job.history or []) + [{"at": now.isoformat(), "event": "unknown_outcome",
                                                      "key": record.get("idempotencyKey"), "batch": record["uid"],
                                                      "error": error or "key expired", "answered": False}]
            job.batch_uid = None
            if (job.result or {}).get("batch", {}).get("uid") == record["uid"]:
                job.result = {"last_batch": job.result["batch"]}
            job.updated_at = now
            job.save()

    # -- the loop ---------------------------------------------------------------------------
    def run_once(self, max_batches: int | None = None) -> Summary:
        """Send every due batch (or `max_batches`), stopping early when `stop` is set."""
        summary = Summary()
        while not self.stop.is_set() and (max_batches is None or summary.batches < max_batches):
            batch = self.claim()
            if batch is None:
                break
            summary.batches += 1
            self.send(batch, summary)
        return summary

    # -- 1. claim -----------------------------------------------------------------------------
    def claim(self) -> Batch | None:
        with db.write():
            now = self.now()
            pending = list(OutboxJob.select()
                           .where((OutboxJob.channel == SHOPIFY) & (OutboxJob.kind == KIND)
                                  & (OutboxJob.status == PENDING) & _SENT_HERE)
                           .order_by(OutboxJob.id).limit(SCAN_LIMIT))
            # Order per location: while a stored batch waits for its retry, later changes at
            # that location wait behind it instead of overtaking it in new batches.
            blocked = {j.payload.get("locationId") for j in pending
                       if j.batch_uid and j.next_attempt_at > now and isinstance(j.payload, dict)}
            due = [j for j in pending if j.next_attempt_at <= now
                   and (j.batch_uid or not isinstance(j.payload, dict) or j.payload.get("locationId") not in blocked)]
            if not due:
                return None
            waiting = {j.depends_on for j in due if j.depends_on}
            synced = set()
            if waiting:
                synced = {uid for (uid,) in OutboxJob.select(OutboxJob.uid).where(
                    OutboxJob.uid.in_(list(waiting)) & (OutboxJob.status == SYNCED)).tuples()}
            ready = [j for j in due if not j.depends_on or j.depends_on in synced]
            if not ready:
                return None
            first = ready[0]
            if first.batch_uid:
                batch = self._stored_batch(first, now)
                if batch is not None:
                    return batch
            fresh = [j for j in ready if not j.batch_uid]
            return self._new_batch(fresh, now) if fresh else None

    def _stored_batch(self, first: OutboxJob, now) -> Batch | None:
        members = list(OutboxJob.select().where(OutboxJob.batch_uid == first.batch_uid)
                       .order_by(OutboxJob.id))
        lead = next((j for j in members if (j.result or {}).get("batch", {}).get("uid") == first.batch_uid), None)
        if lead is None:  # a batch without its record cannot be resent as stored: release it
            log.error("batch %s has no stored request; releasing its jobs", first.batch_uid)
            (OutboxJob.update(batch_uid=None).where(OutboxJob.batch_uid == first.batch_uid)
             .execute())
            return None
        record = lead.result["batch"]
        by_uid = {j.uid: j for j in members}
        jobs = [by_uid[u] for u in record["jobs"] if u in by_uid and by_uid[u].status in (PENDING, SENDING)]
        if self._expired(record, jobs, now):   # the key-age rule, before any resend
            self._to_reconciliation(jobs, record, now)
            log.warning("batch %s: no answer for over 23 hours; NEEDS_RECONCILIATION, not resent", record["uid"])
            return None
        ids = [j.id for j in jobs]
        OutboxJob.update(status=SENDING, updated_at=now).where(OutboxJob.id.in_(ids)).execute()
        for j in jobs:
            j.status, j.updated_at = SENDING, now
        return Batch(record["uid"], record["idempotencyKey"], record["variables"], jobs, resend=True)

    def _new_batch(self, fresh: list[OutboxJob], now) -> Batch | None:
        chosen: list[OutboxJob] = []
        group = None
        for job in fresh:
            problem = _payload_problem(job.payload)
            if problem:
                self._fail_locally(job, problem, now)
                continue
            p = job.payload
            this = (p.get("name", "available"), p["reason"], p["locationId"])
            solo = _is_solo(job)
            if group is None:
                group = this
                chosen.append(job)
                if solo:
                    break
            elif this == group and not solo:
                chosen.append(job)
            if len(chosen) >= self.max_changes:
                break
        if not chosen:
            return None
        uid = new_uid()
        key = batch_key([j.idempotency_key for j in chosen])
        refs = {j.payload.get("referenceDocumentUri") for j in chosen}
        reference = refs.pop() if len(refs) == 1 and None not in refs else f"gid://pk-pos/SyncBatch/{uid}"
        name, reason, _ = group
        variables = {
            "idempotencyKey": key,
            "input": {
                "name": name, "reason": reason, "referenceDocumentUri": reference,
                "changes": [{"inventoryItemId": j.payload["inventoryItemId"],
                             "locationId": j.payload["locationId"], "delta": int(j.payload["delta"]),
                             # explicit null: Shopify requires the field; null = no compare-and-swap
                             "changeFromQuantity": None} for j in chosen],
            },
        }
        lead = chosen[0]
        lead.result = {"batch": {"uid": uid, "idempotencyKey": key, "variables": variables,
                                 "jobs": [j.uid for j in chosen], "created_at": now.isoformat(),
                                 "first_sent_at": now.isoformat()}}
        lead.save(only=[OutboxJob.result])
        (OutboxJob.update(status=SENDING, batch_uid=uid, updated_at=now)
         .where(OutboxJob.id.in_([j.id for j in chosen])).execute())
        for j in chosen:
            j.status, j.batch_uid, j.updated_at = SENDING, uid, now
        return Batch(uid, key, variables, chosen)

    def _fail_locally(self, job: OutboxJob, problem: str, now) -> None:
        job.status, job.last_error, job.updated_at = FAILED, problem, now
        job.history = list(job.history or []) + [
            {"at": now.isoformat(), "event": "not_sent", "error": problem, "answered": False}]
        job.save()

    # -- 2. send, 3. record ------------------------------------------------------------------
    def send(self, batch: Batch, summary: Summary) -> None:
        try:
            res = self.client.execute("InventoryAdjust", batch.variables,
                                      payload_field="inventoryAdjustQuantities")
        except ShopifyError as exc:
            summary.contact = summary.contact or exc.answered
            summary.last_error = exc.message
            summary.errors.append(exc.message)
            if exc.retryable:
                self._record_retry(batch, exc)
                summary.retrying += len(batch.jobs)
            else:
                summary.failed += self._record_permanent(batch, exc)
            return
        summary.contact = True
        group = (res.data.get("inventoryAdjustQuantities") or {}).get("inventoryAdjustmentGroup") or {}
        self._record_success(batch, group)
        summary.synced += len(batch.jobs)

    def _record_success(self, batch: Batch, group: dict) -> None:
        available = [c for c in group.get("changes") or [] if c.get("name") == batch.variables["input"]["name"]]
        now = self.now()
        with db.write():
            for job in batch.jobs:
                p = job.payload
                idx = next((i for i, c in enumerate(available)
                            if (c.get("item") or {}).get("id") == p["inventoryItemId"]
                            and (c.get("location") or {}).get("id") == p["locationId"]), None)
                change = available.pop(idx) if idx is not None else {}
                result = dict(job.result or {})
                result.update({"batch_uid": batch.uid, "idempotencyKey": batch.key,
                               "adjustmentGroupId": group.get("id"),
                               "referenceDocumentUri": batch.variables["input"]["referenceDocumentUri"],
                               "quantityAfterChange": change.get("quantityAfterChange")})
                job.result = result
                job.status, job.last_error, job.updated_at = SYNCED, "", now
                job.attempts += 1
                job.save()

    def _record_retry(self, batch: Batch, exc: ShopifyError) -> None:
        now = self.now()
        lead_record = self._lead_record(batch)
        first_sent = dt.datetime.fromisoformat(lead_record["first_sent_at"]) if lead_record else now
        too_old = now - first_sent > RESEND_WINDOW
        tries = max(j.attempts for j in batch.jobs)  # one delay for the whole batch
        # full jitter, but never "again at once": a run must not spin on a dead link
        delay = max(MIN_RETRY_DELAY, backoff_delay(tries, self.backoff_base, self.backoff_cap, self.rand))
        if exc.wait:
            delay = max(delay, exc.wait)
        with db.write():
            for job in batch.jobs:
                job.attempts += 1
                history = list(job.history or [])
                if too_old:
                    job.status = NEEDS_RECONCILIATION
                    job.last_error = ("no confirmed answer from Shopify for 23 hours; the idempotency key "
                                      f"is about to expire, so compare stock before resending. Last error: {exc.message}")
                    history.append({"at": now.isoformat(), "event": "unknown_outcome", "key": batch.key,
                                    "error": exc.message, "answered": False})
                    job.batch_uid = None
                else:
                    job.status = PENDING
                    job.next_attempt_at = now + dt.timedelta(seconds=delay)
                    job.last_error = f"will retry: {exc.message}"
                    if not history or history[-1].get("error") != exc.message:
                        history.append({"at": now.isoformat(), "event": "send_failed", "key": batch.key,
                                        "batch": batch.uid, "error": exc.message, "arrival": exc.arrival,
                                        "answered": exc.answered, "retry": True})
                job.history = history
                job.updated_at = now
                job.save()

    def _record_permanent(self, batch: Batch, exc: ShopifyError) -> int:
        """Fail the culprit job(s); release the rest to be batched again. Returns how many failed."""
        now = self.now()
        culprits: dict[int, list[str]] = {}
        for ue in exc.user_errors:
            f = ue.get("field") or []
            if len(f) >= 3 and f[0] == "input" and f[1] == "changes" and str(f[2]).isdigit():
                culprits.setdefault(int(f[2]), []).append(ShopifyClient._user_error_text(ue))
        jobs = batch.jobs
        by_change = {i: job for i, job in enumerate(jobs)}
        if len(jobs) == 1:
            failing = {0: [exc.message]}
        elif culprits and all(i in by_change for i in culprits):
            failing = culprits
        else:
            failing = {}
        with db.write():
            for i, job in enumerate(jobs):
                history = list(job.history or [])
                job.attempts += 1
                job.updated_at = now
                if i in failing:
                    p = job.payload
                    why = "; ".join(failing[i]) if len(jobs) > 1 else exc.message
                    job.status = FAILED
                    job.last_error = (f"{p.get('sku') or p['inventoryItemId']} at {p.get('branch') or p['locationId']} "
                                      f"({int(p['delta']):+d}): {why}")
                    history.append({"at": now.isoformat(), "event": "rejected", "key": batch.key,
                                    "batch": batch.uid, "code": exc.code, "error": job.last_error,
                                    "answered": exc.answered})
                else:
                    job.status = PENDING
                    job.next_attempt_at = now
                    job.last_error = ""
                    history.append({"at": now.isoformat(), "event": "batch_split", "key": batch.key,
                                    "batch": batch.uid, "answered": exc.answered,
                                    "error": "another change in its batch was refused",
                                    "solo": not failing})
                job.batch_uid = None
                if (job.result or {}).get("batch", {}).get("uid") == batch.uid:
                    job.result = {"last_batch": job.result["batch"]}
                job.history = history
                job.save()
        if failing:
            log.warning("Shopify refused %d stock change(s): %s", len(failing), exc.message)
        else:
            log.warning("Shopify refused a batch of %d without naming a change; sending them one by one: %s",
                        len(jobs), exc.message)
        return len(failing)

    @staticmethod
    def _lead_record(batch: Batch) -> dict | None:
        for job in batch.jobs:
            rec = (job.result or {}).get("batch")
            if rec and rec.get("uid") == batch.uid:
                return rec
        rec = (OutboxJob.select(OutboxJob.result).where(OutboxJob.batch_uid == batch.uid)
               .order_by(OutboxJob.id).first())
        return (rec.result or {}).get("batch") if rec else None


def _is_solo(job: OutboxJob) -> bool:
    hist = job.history or []
    return bool(hist) and hist[-1].get("event") == "batch_split" and bool(hist[-1].get("solo"))


def _payload_problem(p: dict) -> str | None:
    if not isinstance(p, dict):
        return "the job's payload is not a stock change"
    if not p.get("inventoryItemId"):
        return f"{p.get('sku', 'this item')} has no Shopify inventory item id; import the catalog or fix the mapping"
    if not p.get("locationId"):
        return f"branch {p.get('branch', '?')} is not mapped to a Shopify location ([shopify.locations] in the config)"
    if not isinstance(p.get("delta"), int) or isinstance(p.get("delta"), bool) or p["delta"] == 0:
        return f"the stock change {p.get('delta')!r} is not a non-zero whole number"
    if not p.get("reason"):
        return "the stock change has no reason"
    return None
