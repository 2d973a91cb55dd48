"""Issue 14: in a chain the head office's agent talks to Shopify; a branch's agent does not.

A branch box makes Shopify jobs as a single shop does (in the document's transaction). Its agent,
with `[hq] shopify = "head-office"` (the default for a branch), never sends them:

1. **Hand over** (`hand_over`, the branch's agent, before each push): a job that never left the
   box becomes a `shopify_relay` row (the branch's row: its stored payload as exact JSON text, its
   idempotency key, kind, document) and is marked `via_hq` in the same transaction. Nothing on this
   box sends a `via_hq` job again, whatever the config says later (the worker's queries skip it).
   A job this box had already started to send itself (SENDING, a stored batch, a mark of a call
   Shopify does not deduplicate) is not handed over: its answer was lost here, so the head office
   could not know whether to resend it. It goes to NEEDS_RECONCILIATION for a person; retried, it
   goes through the head office like any other.
2. **Sent at the head office** (`arrived`, when the relay row is applied there): the job becomes a
   job of the head office's outbox with the same uid, payload and key, `origin_branch` set. The
   head office's agent sends it like its own: the same batches and key-age rule (counted from its
   first send there), the same `once.py` marks and probes (stored on the head office's job: the
   mark lives where the sending happens).
3. **The outcome comes back** (`publish` at the head office, `absorb` at the branch): whenever the
   head office's job changes, its `shopify_outcome` row (the head office's row, readable only by
   that branch) is written; the branch pulls it and sets its own job's status, error, result and
   key from it (and a fulfillment's Shopify id), so the till's sync screen and `pos-agent status`
   show where the document has got to.
4. **Retry at the branch** (`outbox.retry` on a `via_hq` job) reaches the head office as a request:
   the relay row's `retries` goes up; the head office runs its own `outbox.retry` on its copy,
   which decides whether the key is kept (no answer came) or replaced (Shopify answered with an
   error), since only the head office saw the answer. A manager at the head office may retry the
   same job there with `pos-admin retry`; either way the outcome flows down.
"""
from __future__ import annotations

import datetime as dt
import json

from . import chain, db, outbox
from .models import Branch, Fulfillment, OutboxJob, ShopifyOutcome, ShopifyRelay, SmartOrder, utcnow

HELD = ("this box was sending it to Shopify itself before Shopify work went through the head office, and "
        "its answer never came: compare in Shopify, then retry it (it goes through the head office) or leave it")
KEPT_RESULT = ("fulfillmentId", "adjustmentGroupId", "quantityAfterChange", "found_existing", "idempotencyKey",
               "batch_uid", "referenceDocumentUri", "tags")


HQ_COMMAND = "(pos-agent reconcile)"
AT_BRANCH = ("(the head office's reconciliation: ask the head office to run `pos-agent reconcile` there, "
             "this branch cannot)")


def in_branch_words(error: str) -> str:
    """A head-office error shown at the branch: a step only the head office can take says so
    (its agent talks to Shopify, so `pos-agent reconcile` is the head office's command)."""
    return (error or "").replace(HQ_COMMAND, AT_BRANCH)


def _text(payload) -> str:
    # the same text OutboxJob.payload is stored as (JSONField), so the head office gets it unchanged
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


def _tried_here(job: OutboxJob) -> bool:
    return job.status == outbox.SENDING or bool(job.batch_uid) or bool((job.result or {}).get("once"))


# --- at a branch --------------------------------------------------------------------------------

def waiting() -> int:
    """Jobs not yet handed over (a cheap read, so an idle agent takes no write lock)."""
    return (OutboxJob.select().where((OutboxJob.channel == outbox.SHOPIFY) & (OutboxJob.via_hq == False)  # noqa: E712
                                     & OutboxJob.status.in_([outbox.PENDING, outbox.SENDING])).count())


def hand_over(branch_code: str) -> dict:
    """Hand this box's unsent Shopify jobs to the head office (see the module's docstring)."""
    counts = {"handed": 0, "held": 0}
    if not waiting():
        return counts
    now = utcnow()
    with db.write():
        branch = Branch.get_or_none(Branch.code == branch_code)
        if branch is None:
            return counts       # the head office's records have not arrived yet
        jobs = list(OutboxJob.select().where((OutboxJob.channel == outbox.SHOPIFY) & (OutboxJob.via_hq == False)  # noqa: E712
                                             & OutboxJob.status.in_([outbox.PENDING, outbox.SENDING]))
                    .order_by(OutboxJob.id))
        deps = {j.depends_on for j in jobs if j.depends_on}
        ready = {uid for (uid,) in OutboxJob.select(OutboxJob.uid).where(
            OutboxJob.uid.in_(list(deps)) & ((OutboxJob.status == outbox.SYNCED) | (OutboxJob.via_hq == True))  # noqa: E712
        ).tuples()} if deps else set()
        relayed = {uid for (uid,) in OutboxJob.select(OutboxJob.uid).where(
            OutboxJob.uid.in_(list(deps)) & (OutboxJob.via_hq == True)).tuples()} if deps else set()  # noqa: E712
        for job in jobs:
            if _tried_here(job):
                job.history = list(job.history or []) + [{"at": now.isoformat(), "event": "held_at_handover",
                                                          "answered": False, "error": HELD}]
                job.status, job.last_error, job.updated_at = outbox.NEEDS_RECONCILIATION, HELD, now
                job.result = {"before_head_office": job.result} if job.result else None
                job.batch_uid = None
                job.save()
                counts["held"] += 1
                continue
            if job.depends_on and job.depends_on not in ready:
                continue        # a fulfillment waiting for its courier booking here (it writes the number in)
            ShopifyRelay.create(job_uid=job.uid, branch=branch.id, kind=job.kind, payload=_text(job.payload),
                                idempotency_key=job.idempotency_key, doc_type=job.doc_type, doc_ref=job.doc_ref,
                                depends_on=job.depends_on if job.depends_on in relayed else None,
                                created_at=now, updated_at=now)
            job.via_hq = True
            job.last_error = ""
            job.history = list(job.history or []) + [{"at": now.isoformat(), "event": "to_head_office"}]
            job.updated_at = now
            job.save()
            counts["handed"] += 1
    return counts


def absorb(job_uids: list[str]) -> int:
    """The head office's outcomes just pulled, onto this box's jobs (inside the pull's transaction,
    after its own change rows were forgotten, so what is written here goes up as the branch's)."""
    n = 0
    for out in ShopifyOutcome.select().where(ShopifyOutcome.job_uid.in_(job_uids)):
        job = OutboxJob.get_or_none(OutboxJob.uid == out.job_uid)
        if job is None:
            continue
        now = utcnow()
        history = list(job.history or [])
        if out.idempotency_key != job.idempotency_key:
            history.append({"at": now.isoformat(), "event": "retired_key", "key": job.idempotency_key,
                            "by": "head office"})
            job.idempotency_key = out.idempotency_key
        error = in_branch_words(out.last_error)
        if out.status != job.status or error != job.last_error:
            history.append({"at": now.isoformat(), "event": "head_office", "status": out.status,
                            "error": error})
        result = json.loads(out.result or "{}")
        job.result = {**(job.result or {}), **result,
                      "head_office": {"first_sent_at": out.first_sent_at, "attempts": out.attempts}}
        job.status, job.last_error, job.attempts = out.status, error, out.attempts
        job.history, job.updated_at = history, now
        job.save()
        ShopifyRelay.update(hq_status=out.status, updated_at=now).where(
            (ShopifyRelay.job_uid == out.job_uid) & (ShopifyRelay.hq_status != out.status)).execute()
        if job.kind == "fulfillment_create" and out.status == outbox.SYNCED and result.get("fulfillmentId"):
            (Fulfillment.update(shopify_fulfillment_id=result["fulfillmentId"])
             .where((Fulfillment.uid == job.payload.get("fulfillmentUid"))
                    & Fulfillment.shopify_fulfillment_id.is_null()).execute())
        n += 1
    return n


def ask_retry(job: OutboxJob, staff_id: int | None) -> None:
    """A person at the branch retries a job the head office sends (inside outbox.retry's
    transaction): the request goes up; the key stays as the head office last said."""
    now = utcnow()
    job.history = list(job.history or []) + [{"at": now.isoformat(), "event": "manual_retry", "staff": staff_id,
                                              "via": "head office"}]
    job.status, job.last_error, job.next_attempt_at, job.updated_at = (
        outbox.PENDING, "retry asked of the head office", now, now)
    job.save()
    (ShopifyRelay.update(retries=ShopifyRelay.retries + 1, updated_at=now)
     .where(ShopifyRelay.job_uid == job.uid).execute())


def summary() -> dict[str, int]:
    """This box's Shopify jobs by where they are: not yet handed over, and by the head office's status."""
    out: dict[str, int] = {}
    for via, status, n in (OutboxJob.select(OutboxJob.via_hq, OutboxJob.status, OutboxJob.id)
                           .where((OutboxJob.channel == outbox.SHOPIFY) & (OutboxJob.status != outbox.SYNCED))
                           .tuples()):
        key = f"head office {status}" if via else f"here {status}"
        out[key] = out.get(key, 0) + 1
    return out


# --- at the head office -------------------------------------------------------------------------

def arrived(relay_id: int) -> None:
    """A branch's relay row was applied here (inside the applier's transaction)."""
    r = ShopifyRelay.get_by_id(relay_id)
    code = Branch.get_by_id(r.branch_id).code
    job = OutboxJob.get_or_none(OutboxJob.uid == r.job_uid)
    now = utcnow()
    if job is None:
        status, error = outbox.PENDING, ""
        history = [{"at": now.isoformat(), "event": "from_branch", "branch": code}]
        if r.hq_status == outbox.SYNCED:
            # The branch heard it was sent; this head office no longer knows it (restored from an
            # older backup): never send it again.
            status = outbox.SYNCED
            history.append({"at": now.isoformat(), "event": "known_synced", "error": "", "answered": False})
        elif r.hq_status:
            status = outbox.NEEDS_RECONCILIATION
            error = (f"the head office had this job before ({r.hq_status} when {code} last heard) and no longer "
                     "has it (restored from an older backup?): compare in Shopify, then retry it or leave it")
            history.append({"at": now.isoformat(), "event": "unknown_outcome", "error": error, "answered": False})
        payload = json.loads(r.payload)
        OutboxJob.create(uid=r.job_uid, channel=outbox.SHOPIFY, kind=r.kind, payload=payload,
                         idempotency_key=r.idempotency_key, doc_type=r.doc_type, doc_ref=r.doc_ref,
                         depends_on=r.depends_on, origin_branch=code, status=status, last_error=error,
                         history=history, created_at=now, updated_at=now, next_attempt_at=now)
        if r.kind == "tags_add" and status == outbox.PENDING:
            # the head office polls the order: its own copy must know the tags are ours coming back
            # (the branch noted them on its copy of the order, which does not travel)
            order = SmartOrder.get_or_none(SmartOrder.shopify_id == payload.get("orderId"))
            if order is not None:
                order.pending_tags = sorted(set(order.pending_tags or []) | set(payload.get("tags") or []))
                order.save()
        return
    seen = sum(1 for h in job.history or [] if h.get("event") in ("branch_retry", "branch_retry_noop"))
    for _ in range(max(0, r.retries - seen)):
        if job.status in (outbox.FAILED, outbox.NEEDS_RECONCILIATION):
            outbox.retry_job(job, None, event="branch_retry", branch=code)
        else:
            job.history = list(job.history or []) + [{"at": now.isoformat(), "event": "branch_retry_noop",
                                                      "branch": code, "note": f"nothing to do: {job.status}"}]
            job.save()


RECENT = dt.timedelta(hours=1)


def publish(limit: int = 500, full: bool = False) -> int:
    """Write the outcome row of every branch job whose state changed since it was last written.
    Only jobs still open or changed in the last hour are looked at (a SYNCED job's last change is
    when it became SYNCED), so the cost follows the live queue, not the history; `full` (at the
    agent's start, after it may have been down for longer) looks at every one."""
    recent = "" if full else "AND (j.status <> 'SYNCED' OR j.updated_at > ?) "
    params = () if full else (utcnow() - RECENT,)
    rows = db.database.execute_sql(chain._sql(db.database, 
        "SELECT j.id FROM outbox_job j LEFT JOIN shopify_outcome o ON o.job_uid = j.uid "
        f"WHERE j.origin_branch IS NOT NULL {recent}AND (o.id IS NULL OR o.status <> j.status "
        "OR o.job_updated_at IS NULL OR o.job_updated_at <> j.updated_at OR o.idempotency_key <> j.idempotency_key) "
        f"ORDER BY j.id LIMIT {int(limit)}"), params).fetchall()
    if not rows:
        return 0
    branches = {b.code: b.id for b in Branch.select()}
    with db.write():
        for job in OutboxJob.select().where(OutboxJob.id.in_([r[0] for r in rows])):
            res = job.result or {}
            batch = res.get("batch") or res.get("last_batch") or {}
            marks = res.get("once") or {}
            first = batch.get("first_sent_at") or min((m.get("first_at") or "" for m in marks.values()), default="")
            o = ShopifyOutcome
            values = {o.branch: branches[job.origin_branch], o.status: job.status, o.last_error: job.last_error,
                      o.idempotency_key: job.idempotency_key, o.attempts: job.attempts,
                      o.result: json.dumps({k: res[k] for k in KEPT_RESULT if k in res}, sort_keys=True),
                      o.first_sent_at: first, o.job_updated_at: job.updated_at, o.updated_at: utcnow()}
            (o.insert({o.job_uid: job.uid, **values})
             .on_conflict(conflict_target=[o.job_uid], update=values).execute())
    return len(rows)
