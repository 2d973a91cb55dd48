"""Parcels booked with a courier's API: from dispatch to Delivered or back on the shelf.

At dispatch the branch chooses the courier and the destination city (from the courier's own list,
pos_core.courier_cities). In that one transaction the shipment becomes DISPATCHED, a Consignment is
made "to be booked", a `courier`/`book` outbox job is written, and the Shopify `fulfillment_create`
job is written to depend on it. The agent books the parcel (sync_agent/couriers); `record_booked`
puts the consignment (tracking) number on the shipment and into the waiting Shopify job, so the
number goes to Shopify with the fulfillment. With no link, the parcel simply stays "to be booked"
and is booked when the link returns.

Statuses of a consignment:
  TO_BE_BOOKED -> BOOKED -> IN_TRANSIT -> DELIVERED
                                       -> RETURNING (the courier is bringing it back) -> RETURNED
  BOOKED -> CANCELLED (the booking was cancelled with the courier)
RETURNED is set only when the parcel is scanned in at a branch (`receive_return`): only then does
the stock come back, at that branch. Until then the shipment shows as returning.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from . import audit, courier_cities, db, fulfillments, online_orders, outbox, staff as staffmod
from .errors import InvalidInput, NotFound, StateError
from .fbr_invoice import pk_time
from .models import Consignment, Fulfillment, OutboxJob, utcnow
from .policy import SalePolicy

COURIER = "courier"                 # the outbox channel
NAMES = {"leopards": "Leopards", "postex": "PostEx"}   # company name sent to Shopify
TO_BE_BOOKED, BOOKED, IN_TRANSIT, DELIVERED, RETURNING, RETURNED, CANCELLED = (
    "TO_BE_BOOKED", "BOOKED", "IN_TRANSIT", "DELIVERED", "RETURNING", "RETURNED", "CANCELLED")
OPEN = (BOOKED, IN_TRANSIT, RETURNING)       # what the tracking poll follows
LABELS = {TO_BE_BOOKED: "to be booked", BOOKED: "booked", IN_TRANSIT: "in transit",
          DELIVERED: "delivered", RETURNING: "returning", RETURNED: "returned", CANCELLED: "cancelled"}


def dispatch(uid: str, staff_id: int, courier: str, city_code: str, *, shopify_enabled: bool,
             weight_grams: int = 500, pieces: int = 1, cod_paisa: int | None = None,
             notify_customer: bool = True, policy: SalePolicy | None = None,
             url_templates: dict[str, str] | None = None) -> Consignment:
    """Hand a packed shipment to a courier whose API books it. Returns the consignment, to be booked."""
    person = staffmod.get(staff_id)
    if courier not in NAMES:
        raise InvalidInput(f"{courier!r} is not a courier we can book with (choose {', '.join(sorted(NAMES))})")
    city = courier_cities.find(courier, city_code)
    if isinstance(weight_grams, bool) or not isinstance(weight_grams, int) or not 1 <= weight_grams <= 100_000:
        raise InvalidInput("the weight is grams, 1 to 100000")
    if isinstance(pieces, bool) or not isinstance(pieces, int) or not 1 <= pieces <= 99:
        raise InvalidInput("pieces is a whole number, 1 to 99")
    with db.write():
        f = Fulfillment.get_or_none((Fulfillment.uid == uid) & (Fulfillment.mode == "smart"))
        if f is None:
            raise NotFound(f"no smart shipment {uid}")
        if f.status != "PACKED":
            raise StateError(f"shipment is {f.status}; pack it before dispatch")
        order = f.order
        ship = order.shipping or {}
        if cod_paisa is None:
            cod_paisa = _cod_for(f)
        if isinstance(cod_paisa, bool) or not isinstance(cod_paisa, int) or cod_paisa < 0:
            raise InvalidInput("the COD amount is a whole number of paisa, not negative")
        address = ", ".join(x for x in (ship.get("address1"), ship.get("address2")) if x)
        if not address:
            raise InvalidInput(f"order {order.name} has no shipping address to book a parcel to")
        phone = order.phone or ship.get("phone") or ""
        if not phone:
            raise InvalidInput(f"order {order.name} has no phone number; a courier will not book without one")
        c = _new_consignment(f, person.id, courier=courier, city_code=city.code, city_name=city.name,
                             consignee_name=ship.get("name") or order.customer_name or "Customer", phone=phone,
                             address=address, cod_paisa=cod_paisa, weight_grams=weight_grams, pieces=pieces)
        job = OutboxJob.get(OutboxJob.uid == c.booking_job)
        fulfillments.mark_dispatched(f, person.id, NAMES[courier], "", "", shopify_enabled=shopify_enabled,
                                     notify_customer=notify_customer, policy=policy, depends_on=job.uid,
                                     consignment=c.uid, booking="to be booked")
    return c


def _new_consignment(f: Fulfillment, staff_id: int, **fields) -> Consignment:
    """A consignment to be booked and its booking job, inside the caller's transaction."""
    c = Consignment(fulfillment=f, status=TO_BE_BOOKED, **fields)
    c.reference = f"{f.order.name.lstrip('#')}-{c.uid[:8]}"
    c.history = [_h(TO_BE_BOOKED, staff_id)]
    job = outbox.enqueue(COURIER, "book", booking_payload(c), "consignment", c.uid)
    c.booking_job = job.uid
    c.save(force_insert=True)
    return c


def book_again(consignment_uid: str, staff_id: int, courier: str, city_code: str, *,
               weight_grams: int | None = None) -> Consignment:
    """A cancelled booking of a dispatched shipment, booked again (same or another courier): a new
    consignment, to be booked; once booked, its number replaces the old one on the shipment and
    in Shopify (a tracking update when the fulfillment was already created)."""
    person = staffmod.get(staff_id)
    if courier not in NAMES:
        raise InvalidInput(f"{courier!r} is not a courier we can book with (choose {', '.join(sorted(NAMES))})")
    city = courier_cities.find(courier, city_code)
    with db.write():
        old = _get(consignment_uid)
        if old.status != CANCELLED:
            raise StateError(f"consignment {old.reference} is {LABELS[old.status]}; only a cancelled one is "
                             "booked again")
        f = old.fulfillment
        if f.status != "DISPATCHED":
            raise StateError(f"shipment {f.uid[:8]} is {f.status.lower()}; only a dispatched one is booked again")
        if for_fulfillment(f.uid).id != old.id:
            raise StateError(f"shipment {f.uid[:8]} already has a newer booking")
        c = _new_consignment(f, person.id, courier=courier, city_code=city.code, city_name=city.name,
                             consignee_name=old.consignee_name, phone=old.phone, address=old.address,
                             cod_paisa=old.cod_paisa, weight_grams=weight_grams or old.weight_grams,
                             pieces=old.pieces)
        # A Shopify fulfillment not sent yet must not go out with the cancelled number: it waits
        # for the new booking, which writes the new number into it.
        for job in outbox.jobs_for(f.uid, outbox.SHOPIFY):
            if job.kind == "fulfillment_create" and job.status == outbox.PENDING and not job.attempts:
                job.depends_on = c.booking_job
                job.save(only=[OutboxJob.depends_on])
        online_orders.add_event(f.order, "courier_booking_again", person.id, shipment=f.uid, courier=NAMES[courier],
                                instead_of=old.tracking_number)
        audit.log("courier.book_again", person.id, c.reference, instead_of=old.reference)
    return c


def booking_payload(c: Consignment) -> dict:
    """What the agent sends, fixed at dispatch (money in paisa; the adapter writes rupees)."""
    f = c.fulfillment
    return {"courier": c.courier, "consignment": c.uid, "reference": c.reference,
            "consignee": {"name": c.consignee_name, "phone": c.phone, "address": c.address},
            "city": {"code": c.city_code, "name": c.city_name}, "cod_paisa": c.cod_paisa,
            "weight_grams": c.weight_grams, "pieces": c.pieces, "branch": f.branch.code,
            "description": "; ".join(f"{l.qty} x {l.variant.name}" for l in f.lines)[:250],
            "order": f.order.name}


def record_booked(consignment_uid: str, tracking_number: str, *, label_url: str = "",
                  found_existing: bool = False, url_templates: dict[str, str] | None = None) -> Consignment:
    """The courier booked it: the number goes on the shipment and into the waiting Shopify job."""
    tracking_number = (tracking_number or "").strip()
    if not tracking_number:
        raise InvalidInput("the courier answered without a consignment number")
    with db.write():
        c = _get(consignment_uid)
        if c.status != TO_BE_BOOKED:
            if c.tracking_number == tracking_number:
                return c            # already recorded (a repeated answer)
            raise StateError(f"consignment {c.reference} is {c.status} with {c.tracking_number}; "
                             f"the courier now says {tracking_number}: check with the courier")
        c.status, c.tracking_number, c.booked_at, c.label_url, c.last_error = (
            BOOKED, tracking_number, utcnow(), label_url or "", "")
        c.history = list(c.history or []) + [_h(BOOKED, None, tracking=tracking_number, found_existing=found_existing)]
        c.save()
        f = c.fulfillment
        templates = {**fulfillments.COURIERS, **(url_templates or {})}
        url = templates.get(NAMES[c.courier], "").format(n=tracking_number)
        f.tracking_number, f.tracking_url = tracking_number, url
        f.history = list(f.history or []) + [{"at": utcnow().isoformat(), "status": f.status, "staff": None,
                                              "booked": tracking_number, "courier": NAMES[c.courier]}]
        f.save()
        # The Shopify job has waited on the booking and has never been sent: it is completed here,
        # once, before its first attempt. A fulfillment already sent (the parcel was booked again
        # after a cancellation) gets a tracking update once it exists.
        tracking = {"company": NAMES[c.courier], "number": tracking_number, "url": url}
        sent = None
        for job in outbox.jobs_for(f.uid, outbox.SHOPIFY):
            if job.kind != "fulfillment_create":
                continue
            if job.status == outbox.PENDING and not job.attempts:
                job.payload = dict(job.payload, tracking=tracking)
                job.save(only=[OutboxJob.payload])
            else:
                sent = job
        if sent is not None:
            outbox.enqueue(outbox.SHOPIFY, "tracking_update", {
                "fulfillmentUid": f.uid, "fulfillmentId": f.shopify_fulfillment_id, "tracking": tracking,
                "notifyCustomer": True}, "fulfillment", f.uid, depends_on=sent.uid)
        online_orders.add_event(f.order, "courier_booked", None, shipment=f.uid, courier=NAMES[c.courier],
                                tracking=tracking_number, found_existing=found_existing)
    return c


def record_booking_error(consignment_uid: str, error: str) -> None:
    """Shown with the parcel in "to be booked" until a person fixes it (city, phone) and retries."""
    with db.write():
        Consignment.update(last_error=error[:500]).where(Consignment.uid == consignment_uid).execute()


def rebook(consignment_uid: str, staff_id: int, city_code: str | None = None, phone: str | None = None) -> Consignment:
    """Correct what the courier refused (city, phone) and put the booking back in the queue.
    Safe: the courier answered with a refusal, so nothing was booked. (A booking whose outcome is
    unknown is never FAILED: it stays queued and is looked up by reference before any resend.)"""
    person = staffmod.get(staff_id)
    with db.write():
        c = _get(consignment_uid)
        if c.status != TO_BE_BOOKED:
            raise StateError(f"consignment {c.reference} is {LABELS[c.status]}, not waiting to be booked")
        job = OutboxJob.get(OutboxJob.uid == c.booking_job)
        if job.status not in (outbox.FAILED, outbox.NEEDS_RECONCILIATION):
            raise StateError(f"the booking of {c.reference} is {job.status}; only a refused one is corrected")
        if city_code:
            city = courier_cities.find(c.courier, city_code)
            c.city_code, c.city_name = city.code, city.name
        if phone:
            c.phone = phone.strip()
        c.history = list(c.history or []) + [_h("CORRECTED", person.id, city=c.city_name, phone=c.phone)]
        c.last_error = ""
        c.save()
        job.payload = booking_payload(c)
        job.save(only=[OutboxJob.payload])
        outbox.retry(job.uid, person.id)
    return c


def book_by_hand(consignment_uid: str, staff_id: int, courier: str, tracking_number: str, *,
                 url_templates: dict[str, str] | None = None) -> Consignment:
    """The courier refused the parcel (or it never went out) and it leaves with another courier,
    booked on the counter or the courier's portal: that number goes on the shipment and to Shopify.
    Only when nothing can have been booked through the API: the booking was refused, or never sent."""
    person = staffmod.get(staff_id)
    courier, number = (courier or "").strip(), (tracking_number or "").strip()
    if not courier or not number:
        raise InvalidInput("enter the courier and the tracking (consignment) number")
    with db.write():
        c = _get(consignment_uid)
        if c.status != TO_BE_BOOKED:
            raise StateError(f"consignment {c.reference} is {LABELS[c.status]}; only one still to be booked "
                             "can go with another courier")
        # Take the job away from the agent in the same statement that checks it was never sent
        # (or was refused), so it cannot be sent while we write.
        taken = (OutboxJob.update(status=outbox.SYNCED, updated_at=utcnow(),
                                  result={"superseded": f"booked by hand: {courier} {number}"})
                 .where((OutboxJob.uid == c.booking_job)
                        & ((OutboxJob.status == outbox.FAILED)
                           | ((OutboxJob.status == outbox.PENDING) & (OutboxJob.attempts == 0)))).execute())
        if not taken:
            raise StateError(f"the booking of {c.reference} may have reached {NAMES[c.courier]} (it is being "
                             "sent or its answer was lost); wait for it, or check their portal first")
        c.status = CANCELLED
        c.history = list(c.history or []) + [_h("BOOKED_BY_HAND", person.id, courier=courier, tracking=number)]
        c.save()
        f = c.fulfillment
        templates = {**fulfillments.COURIERS, **(url_templates or {})}
        url = templates.get(courier, "").format(n=number)
        f.courier, f.tracking_number, f.tracking_url = courier, number, url
        f.save()
        for job in outbox.jobs_for(f.uid, outbox.SHOPIFY):
            if job.kind == "fulfillment_create" and job.depends_on == c.booking_job and not job.attempts:
                job.payload = dict(job.payload, tracking={"company": courier, "number": number, "url": url})
                job.save(only=[OutboxJob.payload])
        online_orders.add_event(f.order, "booked_by_hand", person.id, shipment=f.uid, courier=courier,
                                tracking=number, instead_of=NAMES[c.courier])
        audit.log("courier.by_hand", person.id, c.reference, courier=courier, tracking=number)
    return c


def request_cancel(consignment_uid: str, staff_id: int) -> OutboxJob:
    """Cancel a booking with the courier (before it is picked up)."""
    person = staffmod.get(staff_id)
    with db.write():
        c = _get(consignment_uid)
        if c.status != BOOKED:
            raise StateError(f"consignment {c.reference} is {LABELS[c.status]}; only a booked, not yet "
                             "picked up parcel can be cancelled")
        audit.log("courier.cancel", person.id, c.reference, tracking=c.tracking_number)
        return outbox.enqueue(COURIER, "cancel", {"courier": c.courier, "consignment": c.uid,
                                                  "tracking_number": c.tracking_number}, "consignment", c.uid)


def record_cancelled(consignment_uid: str) -> Consignment:
    with db.write():
        c = _get(consignment_uid)
        c.status = CANCELLED
        c.history = list(c.history or []) + [_h(CANCELLED, None)]
        c.save()
        online_orders.add_event(c.fulfillment.order, "courier_cancelled", None, shipment=c.fulfillment.uid,
                                tracking=c.tracking_number)
    return c


def due_for_tracking(every: dt.timedelta, now: dt.datetime | None = None, limit: int = 200) -> list[Consignment]:
    now = now or utcnow()
    return list(Consignment.select().where(Consignment.status.in_(OPEN) & (
        Consignment.last_tracked_at.is_null() | (Consignment.last_tracked_at <= now - every)))
        .order_by(Consignment.last_tracked_at.asc(nulls="first"), Consignment.id).limit(limit))


def record_tracking(consignment_uid: str, status: str, courier_status: str, *, shopify_enabled: bool,
                    now: dt.datetime | None = None) -> Consignment:
    """What the courier's tracking says, in our words (IN_TRANSIT, DELIVERED, RETURNING)."""
    now = now or utcnow()
    if status not in (BOOKED, IN_TRANSIT, DELIVERED, RETURNING):
        raise InvalidInput(f"unknown tracking status {status!r}")
    with db.write():
        c = _get(consignment_uid)
        c.last_tracked_at, c.courier_status = now, courier_status[:250]
        if c.status in OPEN and status != c.status and _forward(c.status, status):
            c.status = status
            c.history = list(c.history or []) + [_h(status, None, courier=courier_status)]
            f = c.fulfillment
            if status == DELIVERED:
                c.delivered_at = now
                if f.status == "DISPATCHED":
                    fulfillments.mark_delivered(f, None, shopify_enabled=shopify_enabled,
                                                source="courier", courier_status=courier_status)
            elif status == RETURNING:
                online_orders.add_event(f.order, "returning", None, shipment=f.uid, courier=NAMES[c.courier],
                                        tracking=c.tracking_number, courier_status=courier_status)
        c.save()
    return c


def receive_return(tracking_number: str, branch_id: int, staff_id: int, *, shopify_enabled: bool,
                   policy: SalePolicy | None = None) -> Consignment:
    """The returned parcel is in hand at a branch (its airway bill scanned): stock comes back here."""
    number = (tracking_number or "").strip()
    with db.write():
        c = (Consignment.select().where(Consignment.tracking_number == number)
             .order_by(Consignment.id.desc()).first()) if number else None
        if c is None:
            raise NotFound(f"no parcel with consignment number {number!r}")
        if c.status == RETURNED:
            raise StateError(f"{number} was already received back at {c.received_branch.code}")
        if c.status not in (BOOKED, IN_TRANSIT, RETURNING, DELIVERED):
            raise StateError(f"{number} is {LABELS[c.status]}; it was never handed to the courier")
        fulfillments.mark_returned(c.fulfillment.uid, staff_id, branch_id, shopify_enabled=shopify_enabled,
                                   reason=f"returned by {NAMES[c.courier]} ({c.courier_status or 'scanned in'})",
                                   policy=policy)
        mark_received(c, branch_id, staff_id, branch=branch_id)
    return c


def mark_received(c: Consignment, branch_id: int | None, staff_id: int | None, **detail) -> None:
    """The parcel is back in a branch's hands (inside the caller's transaction)."""
    c.status, c.returned_at, c.received_branch = RETURNED, utcnow(), branch_id
    c.history = list(c.history or []) + [_h(RETURNED, staff_id, **detail)]
    c.save()


def to_be_booked() -> list[tuple[Consignment, OutboxJob | None]]:
    """Parcels dispatched but not yet booked, oldest first, each with its booking job."""
    rows = list(Consignment.select().where(Consignment.status == TO_BE_BOOKED).order_by(Consignment.id))
    jobs = {j.uid: j for j in OutboxJob.select().where(OutboxJob.uid.in_([c.booking_job for c in rows]))} if rows else {}
    return [(c, jobs.get(c.booking_job)) for c in rows]


def airway_bill_data(c: Consignment) -> dict:
    """What an airway bill shows (printers.airway_bill.AirwayBill's fields). Only a booked parcel
    has one: the consignment number is the courier's, and we never print a made-up one."""
    if not c.tracking_number:
        raise StateError(f"parcel {c.reference} is {LABELS[c.status]}; its airway bill prints once the "
                         "courier has booked it")
    f = c.fulfillment
    return {"courier": NAMES.get(c.courier, c.courier), "tracking_number": c.tracking_number,
            "reference": c.reference, "order_name": f.order.name, "consignee": c.consignee_name, "phone": c.phone,
            "address": c.address, "city": c.city_name, "cod": Decimal(int(c.cod_paisa)) / 100,
            "weight_grams": int(c.weight_grams), "pieces": int(c.pieces), "shipper": f.branch.name,
            "shipper_address": f.branch.address or "",
            "contents": "; ".join(f"{l.qty} x {l.variant.name}" for l in f.lines)[:200],
            "when": pk_time(c.booked_at)[:16] if c.booked_at else ""}


def for_fulfillment(fulfillment_uid: str) -> Consignment | None:
    return (Consignment.select().join(Fulfillment).where(Fulfillment.uid == fulfillment_uid)
            .order_by(Consignment.id.desc()).first())


def find(ref: str) -> Consignment:
    """By uid, tracking number or our reference."""
    c = Consignment.get_or_none((Consignment.uid == ref) | (Consignment.tracking_number == ref)
                                | (Consignment.reference == ref))
    if c is None:
        raise NotFound(f"no consignment {ref!r}")
    return c


def describe(c: Consignment) -> str:
    """One line for lists: 'Leopards LE123 in transit (Arrived at hub)'."""
    number = c.tracking_number or "-"
    extra = f" ({c.courier_status})" if c.courier_status else (f" ({c.last_error})" if c.last_error else "")
    return f"{NAMES.get(c.courier, c.courier)} {number} {LABELS.get(c.status, c.status)}{extra}"


# --- helpers -------------------------------------------------------------------------------

_ORDER = {BOOKED: 0, IN_TRANSIT: 1, RETURNING: 2, DELIVERED: 2}


def _forward(old: str, new: str) -> bool:
    """Tracking never goes backwards; a delivered parcel may still be reported returning (refused
    after a failed attempt) only if our record had not settled it as delivered."""
    if old in (DELIVERED, RETURNING):
        return False
    return _ORDER.get(new, 0) >= _ORDER.get(old, 0)


def _cod_for(f: Fulfillment) -> int:
    """A COD order's outstanding amount goes on its first parcel (later parcels of a split order
    carry what is left), so the customer pays once in total."""
    order = f.order
    if not order.is_cod:
        return 0
    others = (Consignment.select().join(Fulfillment)
              .where((Fulfillment.order == order.id) & (Consignment.status != CANCELLED)))
    return max(0, int(order.outstanding_paisa or 0) - sum(int(c.cod_paisa) for c in others))


def _get(uid: str) -> Consignment:
    c = Consignment.get_or_none(Consignment.uid == uid)
    if c is None:
        raise NotFound(f"no consignment {uid}")
    return c


def _h(status: str, staff_id: int | None, **detail) -> dict:
    return {"at": utcnow().isoformat(), "status": status, "staff": staff_id, **detail}
