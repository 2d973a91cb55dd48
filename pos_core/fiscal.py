"""FBR invoices through the outbox: what may be sent, and what each outcome does to the job.

FBR's IMS has no idempotency, and a duplicate fiscal invoice can only be undone by a credit
note. So the rules are stricter than Shopify's: a USIN is sent again automatically only when the
last request surely never reached FBR; an outcome nobody can know (a timeout after sending)
becomes NEEDS_RECONCILIATION for a person, who either resends the same USIN or records the
number found in FBR's portal.
"""
from __future__ import annotations

import datetime as dt
import random

from . import audit, db, outbox
from .errors import InvalidInput, NotFound, StateError
from .models import OutboxJob, PosOrder, utcnow
from .outbox import FAILED, FBR, NEEDS_RECONCILIATION, PENDING, SENDING, SYNCED

OFFLINE_ALARM_AFTER = dt.timedelta(hours=20)  # FBR allows 24 hours after the link returns
BACKOFF_CAP_S = 300


def is_test_number(number: str | None) -> bool:
    return bool(number) and "*test*" in number.lower()


def due_jobs(limit: int = 20, now: dt.datetime | None = None) -> list[OutboxJob]:
    """Pending FBR jobs in the order they were made, whose prerequisite (a credit note's
    original invoice) is already reported. The prerequisite is tested in the query itself, so
    any number of credit notes waiting on originals that FBR rejected (or that wait for a
    person) never hide the invoices behind them."""
    now = now or utcnow()
    original = OutboxJob.alias()
    reported = original.select(original.uid).where(original.status == SYNCED)
    return list(OutboxJob.select().where((OutboxJob.channel == FBR) & (OutboxJob.status == PENDING)
                                         & (OutboxJob.next_attempt_at <= now)
                                         & (OutboxJob.depends_on.is_null() | OutboxJob.depends_on.in_(reported)))
                .order_by(OutboxJob.id).limit(limit))


def needing_person() -> list[tuple[OutboxJob, str]]:
    """FBR documents a person must act on, with why: uncertain and rejected invoices, and the
    credit notes that wait on an original in one of those states (they cannot go before it)."""
    out: list[tuple[OutboxJob, str]] = []
    stuck = list(OutboxJob.select().where((OutboxJob.channel == FBR)
                                          & OutboxJob.status.in_([NEEDS_RECONCILIATION, FAILED]))
                 .order_by(OutboxJob.id))
    for job in stuck:
        out.append((job, job.last_error or job.status))
    by_uid = {j.uid: j for j in stuck}
    if by_uid:
        for job in (OutboxJob.select().where((OutboxJob.channel == FBR) & (OutboxJob.status == PENDING)
                                             & OutboxJob.depends_on.in_(list(by_uid)))
                    .order_by(OutboxJob.id)):
            first = by_uid[job.depends_on]
            out.append((job, f"waits for its original invoice {(first.payload or {}).get('usin')}, which is "
                             f"{first.status}: settle or resend that one first"))
    return sorted(out, key=lambda pair: pair[0].id)


def recover_interrupted(resend: bool = False) -> int:
    """A job left SENDING by a crash may have reached FBR: a person must look at it - unless the
    endpoint answers a repeated USIN with the original number (`resend`), when it is sent again."""
    if resend:
        with db.write():
            return (OutboxJob.update(status=PENDING, updated_at=utcnow(), next_attempt_at=utcnow(),
                                     last_error="the agent stopped while this invoice was being sent; resending "
                                                "the same USIN (FBR answers a repeat with the original number)")
                    .where((OutboxJob.channel == FBR) & (OutboxJob.status == SENDING)).execute())
    with db.write():
        return (OutboxJob.update(status=NEEDS_RECONCILIATION, updated_at=utcnow(),
                                 last_error="the agent stopped while this invoice was being sent; "
                                            "check FBR's portal, then resend or record the number")
                .where((OutboxJob.channel == FBR) & (OutboxJob.status == SENDING)).execute())


def mark_sending(job: OutboxJob) -> bool:
    """Claim the job before the request goes out; False if another worker has it."""
    with db.write():
        return bool(OutboxJob.update(status=SENDING, attempts=OutboxJob.attempts + 1, updated_at=utcnow())
                    .where((OutboxJob.id == job.id) & (OutboxJob.status == PENDING)).execute())


def record_success(job: OutboxJob, number: str, response: dict, test_mode: bool) -> None:
    with db.write():
        outbox.update_job(job, SYNCED, "", {"invoice_number": number, "test_mode": test_mode or is_test_number(number),
                                  "response": response}, event="accepted")
        PosOrder.update(fbr_invoice_number=number).where(PosOrder.uid == job.doc_ref).execute()


def record_rejection(job: OutboxJob, message: str, response: dict | None) -> None:
    with db.write():
        outbox.update_job(job, FAILED, message, {"response": response}, event="rejected", answered=True)


def record_not_sent(job: OutboxJob, message: str, now: dt.datetime | None = None) -> None:
    """The request surely never reached FBR: send the same USIN again later, with backoff."""
    now = now or utcnow()
    delay = random.uniform(0, min(BACKOFF_CAP_S, 5 * 2 ** min(job.attempts, 8)))
    with db.write():
        outbox.update_job(job, PENDING, message, None, event="not_sent", next_at=now + dt.timedelta(seconds=delay))
        PosOrder.update(fbr_offline=True).where(PosOrder.uid == job.doc_ref).execute()


def record_uncertain(job: OutboxJob, message: str, resend: bool = False, now: dt.datetime | None = None) -> None:
    """Nobody knows whether FBR numbered it: a person decides - or, where the site's endpoint
    answers a repeated USIN with the original number (`fbr.repeat_usin_returns_original`), the
    same USIN is sent again later, since it cannot get a second number."""
    if resend:
        now = now or utcnow()
        delay = random.uniform(0, min(BACKOFF_CAP_S, 5 * 2 ** min(job.attempts, 8)))
        with db.write():
            outbox.update_job(job, PENDING, f"will resend the same USIN: {message}", None, event="uncertain_resend",
                              next_at=now + dt.timedelta(seconds=delay))
            PosOrder.update(fbr_offline=True).where(PosOrder.uid == job.doc_ref).execute()
        return
    with db.write():
        outbox.update_job(job, NEEDS_RECONCILIATION, message, None, event="uncertain")
        PosOrder.update(fbr_offline=True).where(PosOrder.uid == job.doc_ref).execute()


def settle(job_uid: str, fiscal_number: str, staff_id: int | None) -> OutboxJob:
    """A person found the invoice in FBR's portal: record its number, send nothing."""
    number = (fiscal_number or "").strip()
    if not (8 <= len(number) <= 40) or any(ch.isspace() for ch in number):
        raise InvalidInput("enter the fiscal invoice number exactly as FBR's portal shows it")
    with db.write():
        job = OutboxJob.get_or_none((OutboxJob.uid == job_uid) & (OutboxJob.channel == FBR))
        if job is None:
            raise NotFound(f"no FBR job {job_uid}")
        if job.status not in (NEEDS_RECONCILIATION, FAILED):
            raise StateError(f"job {job_uid} is {job.status}; only an unresolved invoice can be settled")
        outbox.update_job(job, SYNCED, "", {"invoice_number": number, "test_mode": is_test_number(number),
                                  "settled_by": staff_id}, event="settled_by_hand")
        PosOrder.update(fbr_invoice_number=number).where(PosOrder.uid == job.doc_ref).execute()
        audit.log("fbr.settle", staff_id, job.doc_ref, number=number, job=job.uid)
    return job


def unsent_offline(link_back_at: dt.datetime | None, now: dt.datetime | None = None) -> list[PosOrder]:
    """Offline invoices still not reported 20 hours after the link came back: an alarm."""
    if link_back_at is None:
        return []
    now = now or utcnow()
    if now - link_back_at < OFFLINE_ALARM_AFTER:
        return []
    return list(PosOrder.select().join(OutboxJob, on=(OutboxJob.doc_ref == PosOrder.uid))
                .where((PosOrder.fbr_offline == True) & (OutboxJob.channel == FBR)  # noqa: E712
                       & (OutboxJob.status != SYNCED))
                .order_by(PosOrder.completed_at))


def invoice_number(order_uid: str) -> tuple[str | None, bool]:
    """(fiscal number, test mode) for the till's receipt, or (None, False) while pending."""
    job = (OutboxJob.select().where((OutboxJob.doc_ref == order_uid) & (OutboxJob.channel == FBR)
                                    & (OutboxJob.status == SYNCED)).order_by(OutboxJob.id.desc()).first())
    if job is None or not job.result:
        return None, False
    return job.result.get("invoice_number"), bool(job.result.get("test_mode"))
