"""The agent's courier work: booking and cancel jobs from the outbox, and the tracking poll.

Booking exactly once. A booking is not idempotent at Leopards or PostEx, so the job goes through
sync_agent.once as a send/probe pair: a mark is committed before the request goes out; while a
mark is out (the previous attempt timed out, lost its connection, got a 5xx, or the agent died
while sending) the next attempt first asks the courier for a parcel booked under our reference
(`adapter.find`) and, if there is one, records it as found instead of booking again. A clear
refusal (bad city, no phone) proves nothing was booked: the job fails with the courier's reason,
a person corrects it (pos_core.couriers.rebook) and it is sent again.
"""
from __future__ import annotations

import datetime as dt
import logging
import random
from pathlib import Path

from pos_core import couriers, db, outbox
from pos_core.errors import PosError
from pos_core.models import Consignment, OutboxJob, utcnow

from .. import once
from .base import CANCELLED, CourierError

log = logging.getLogger("sync_agent.couriers")
KINDS = ("book", "cancel")
TRACK_BATCH = 50        # parcels per tracking request where the courier takes a list


def recover_interrupted() -> int:
    """A courier job left SENDING by a crash goes back to PENDING; its next attempt probes first."""
    with db.write():
        return (OutboxJob.update(status=outbox.PENDING, next_attempt_at=utcnow())
                .where((OutboxJob.channel == couriers.COURIER) & (OutboxJob.status == outbox.SENDING)).execute())


def due_jobs(limit: int = 20) -> list[OutboxJob]:
    return list(OutboxJob.select().where((OutboxJob.channel == couriers.COURIER) & OutboxJob.kind.in_(KINDS)
                                         & (OutboxJob.status == outbox.PENDING)
                                         & (OutboxJob.next_attempt_at <= utcnow()))
                .order_by(OutboxJob.id).limit(limit))


def run_jobs(adapters: dict, *, url_templates: dict | None = None, label_dir: Path | None = None,
             limit: int = 20, rand=random.random) -> dict[str, int]:
    counts = {"synced": 0, "failed": 0, "deferred": 0, "found_existing": 0, "contact": 0}
    for job in due_jobs(limit):
        if not outbox.claim(job):
            continue
        adapter = adapters.get(job.payload.get("courier"))
        if adapter is None:
            outbox.update_job(job, outbox.FAILED, f"courier {job.payload.get('courier')!r} is not configured "
                              "([courier_api.<name>] in the config)", None, event="not_sent")
            counts["failed"] += 1
            continue
        try:
            if job.kind == "book":
                result = _book(adapter, job, url_templates)
                counts["found_existing"] += bool(result.get("found_existing"))
                if label_dir is not None:
                    _save_label(adapter, result, label_dir)
            else:
                result = _cancel(adapter, job)
            counts["contact"] += 1
        except PosError as exc:
            # The courier answered, but our records disagree (booked twice under two numbers?):
            # nothing more is sent for this job; a person compares.
            outbox.update_job(job, outbox.NEEDS_RECONCILIATION, f"check with the courier: {exc}", None,
                              event="conflict", answered=True)
            counts["failed"] += 1
            continue
        except CourierError as exc:
            counts["contact"] += exc.contact
            if exc.retryable:
                delay = min(300.0, 2.0 ** min(job.attempts + 1, 8)) * (0.5 + rand() / 2)
                outbox.update_job(job, outbox.PENDING, exc.message, None, event="send_failed",
                                  answered=exc.answered, next_at=utcnow() + dt.timedelta(seconds=delay))
                _note_uncertain(job, exc)
                counts["deferred"] += 1
            else:
                with db.write():
                    outbox.update_job(job, outbox.FAILED, exc.message, None, event="refused", answered=True)
                    if job.kind == "book":
                        couriers.record_booking_error(job.payload["consignment"], exc.message)
                counts["failed"] += 1
            continue
        counts["synced"] += 1
    return counts


def _book(adapter, job: OutboxJob, url_templates) -> dict:
    p = job.payload

    def send() -> dict:
        b = adapter.book(p)
        return {"tracking_number": b.tracking_number, "label_url": b.label_url}

    def probe() -> dict | None:
        # The earlier attempt may have booked the parcel: the courier's record under our reference.
        b = adapter.find(p["reference"], job.created_at.date())
        return None if b is None else {"tracking_number": b.tracking_number, "label_url": b.label_url}

    out = once.run_once(job, "book", send=send, probe=probe)
    result = {**out.result, "found_existing": out.found_existing, "reference": p["reference"]}
    with db.write():
        couriers.record_booked(p["consignment"], result["tracking_number"], label_url=result.get("label_url", ""),
                               found_existing=out.found_existing, url_templates=url_templates)
        outbox.update_job(job, outbox.SYNCED, "", result, event="found_existing" if out.found_existing else "synced",
                          answered=True)
    if out.found_existing:
        log.info("%s: parcel %s was already booked as %s by an earlier attempt; not booked again",
                 adapter.name, p["reference"], result["tracking_number"])
    return result


def _cancel(adapter, job: OutboxJob) -> dict:
    number = job.payload["tracking_number"]

    def send() -> dict:
        adapter.cancel(number)
        return {"cancelled": number}

    def probe() -> dict | None:
        return {"cancelled": number} if adapter.track(number).status == CANCELLED else None

    once.run_once(job, "cancel", send=send, probe=probe)
    with db.write():
        couriers.record_cancelled(job.payload["consignment"])
        outbox.update_job(job, outbox.SYNCED, "", {"cancelled": number}, event="synced", answered=True)
    return {"cancelled": number}


def _note_uncertain(job: OutboxJob, exc: CourierError) -> None:
    if job.kind == "book":
        couriers.record_booking_error(job.payload["consignment"], f"will retry: {exc.message}")


def _save_label(adapter, result: dict, label_dir: Path) -> None:
    """Keep the courier's own airway bill for the till to print; the till prints ours without it."""
    try:
        pdf = adapter.airway_bill(result["tracking_number"], result.get("label_url", ""))
        label_dir.mkdir(parents=True, exist_ok=True)
        path = label_dir / f"{result['tracking_number']}.pdf"
        path.write_bytes(pdf)
        with db.write():
            Consignment.update(label_url=str(path)).where(
                Consignment.tracking_number == result["tracking_number"]).execute()
    except (CourierError, OSError) as exc:
        log.warning("airway bill for %s not saved: %s", result["tracking_number"], exc)


def track_due(adapters: dict, *, shopify_enabled: bool, every: dict[str, dt.timedelta] | None = None,
              now: dt.datetime | None = None, limit: int = 200) -> dict[str, int]:
    """Read the status of each open parcel not read within its courier's interval."""
    counts = {"read": 0, "delivered": 0, "returning": 0, "errors": 0, "requests": 0}
    now = now or utcnow()
    shortest = min((every or {}).values(), default=dt.timedelta(minutes=30))
    due: dict[str, list[Consignment]] = {}
    for c in couriers.due_for_tracking(shortest, now, limit):
        gap = (every or {}).get(c.courier, shortest)
        if c.courier in adapters and not (c.last_tracked_at and c.last_tracked_at > now - gap):
            due.setdefault(c.courier, []).append(c)
    for name, parcels in due.items():
        adapter = adapters[name]
        many = getattr(adapter, "track_many", None)
        step = TRACK_BATCH if many else 1
        for i in range(0, len(parcels), step):
            chunk = parcels[i:i + step]
            counts["requests"] += 1
            try:
                if many:
                    found = many([c.tracking_number for c in chunk])
                else:
                    found = {chunk[0].tracking_number: adapter.track(chunk[0].tracking_number)}
            except CourierError as exc:
                counts["errors"] += len(chunk)
                with db.write():
                    Consignment.update(last_tracked_at=now, last_error=exc.message[:500]).where(
                        Consignment.id.in_([c.id for c in chunk])).execute()
                continue
            with db.write():    # one commit per answer; each parcel in its own savepoint
                for c in chunk:
                    t = found.get(c.tracking_number)
                    if t is None:
                        counts["errors"] += 1
                        Consignment.update(last_tracked_at=now, last_error="not in the courier's tracking answer").where(
                            Consignment.id == c.id).execute()
                        continue
                    try:
                        with db.write():
                            _record(c, t, counts, shopify_enabled, now)
                    except PosError as exc:
                        counts["errors"] += 1
                        log.warning("tracking %s not recorded: %s", c.tracking_number, exc)
    return counts


def _record(c: Consignment, t, counts: dict, shopify_enabled: bool, now) -> None:
    if t.status == CANCELLED:
        couriers.record_cancelled(c.uid)
        return
    before = c.status
    after = couriers.record_tracking(c.uid, t.status, t.words, shopify_enabled=shopify_enabled, now=now).status
    counts["read"] += 1
    if after != before:
        counts["delivered"] += after == couriers.DELIVERED
        counts["returning"] += after == couriers.RETURNING


def refresh_cities(adapters: dict) -> dict[str, int | str]:
    """Read each courier's city list and store it for the tills (pos_core.courier_cities)."""
    from pos_core import courier_cities
    out: dict[str, int | str] = {}
    for name, adapter in adapters.items():
        try:
            out[name] = courier_cities.store_cities(name, adapter.cities())
        except (CourierError, PosError) as exc:
            log.warning("%s city list not refreshed: %s", name, exc)
            out[name] = str(exc)
    return out


def collect_payments(adapters: dict, batch: int = 50) -> dict[str, int | str]:
    """COD paid over, read from the couriers that have a payment API (Leopards), for delivered
    parcels on no statement yet; matched like a statement (pos_core.courier_cod.import_payments)."""
    from pos_core import courier_cod
    from pos_core.errors import PosError
    out: dict[str, int | str] = {}
    for name, adapter in adapters.items():
        if not hasattr(adapter, "payments"):
            continue
        numbers = [o.tracking_number for o in courier_cod.owed(name) if o.kind == courier_cod.MISSING]
        rows = 0
        try:
            for i in range(0, len(numbers), batch):
                st = courier_cod.import_payments(name, adapter.payments(numbers[i:i + batch]),
                                                 source=f"api {utcnow():%Y-%m-%d}")
                rows += st.rows if st else 0
            out[name] = rows
        except (CourierError, PosError) as exc:
            log.warning("%s payments not read: %s", name, exc)
            out[name] = str(exc)
    return out
