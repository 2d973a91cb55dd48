"""The three ways an online order leaves a branch, and what each does to branch stock.

- Smart Fulfillment, led from the till: Pending -> Packed (-q at the chosen branch) -> Dispatched
  (the agent creates the Shopify fulfillment with courier and tracking) -> Delivered (a tag), or
  Returned (+q at the branch that received the goods, a restock pushed to Shopify). Unpacking a
  packed shipment before dispatch gives the stock back.
- Manual Fulfillment: staff record what left the branch (-q); nothing is written to Shopify.
- Branch Sync: Shopify shows the order fulfilled (an admin did it there); staff say which branch
  the goods left from (-q there); nothing is pushed, because Shopify already deducted them.
And Fix Branch Stock, a manager's traceable correction (±q) for an order whose movement was missed
or booked at the wrong branch. Every movement's event key names the fulfillment and line, so a
repeated step moves nothing.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import audit, db, fbr_invoice, ledger, numbering, online_orders, outbox, staff as staffmod, stock_moves
from .errors import InvalidInput, NotFound, StateError
from .ledger import Movement
from .models import Branch, Fulfillment, FulfillmentLine, Variant, utcnow
from .policy import SalePolicy
from .pricing import PriceInput, price_lines

COURIERS = {  # tracking page per courier; {n} is the consignment number. Overridable in config.
    "TCS": "https://www.tcsexpress.com/track/{n}",
    "Leopards": "https://www.leopardscourier.com/tracking?cn={n}",
    "M&P": "https://www.mulphilog.com/tracking/{n}",
    "PostEx": "https://postex.pk/tracking?cn={n}",
}


@dataclass(frozen=True)
class BranchOption:
    branch_code: str
    branch_id: int
    stock: dict[int, int]          # order line id -> on hand at this branch
    short: dict[int, int]          # order line id -> units it cannot cover

    @property
    def can_cover(self) -> bool:
        return not self.short


def branch_options(order_id: int, lines: dict[int, int] | None = None,
                   elsewhere: dict[str, dict[str, int]] | None = None) -> list[BranchOption]:
    """For each branch: stock of every line's item and where it falls short of what is wanted.
    `elsewhere` (a chain branch: SKU -> {branch code: on hand} as the head office has it) gives the
    figures of the branches this site's ledger does not hold; any other comes from the ledger."""
    order = online_orders.get(order_id)
    wanted = lines if lines is not None else online_orders.remaining_units(order)
    by_id = {l.id: l for l in order.lines}
    elsewhere = elsewhere or {}
    out = []
    for b in Branch.select().order_by(Branch.code):
        stock, short = {}, {}
        for line_id, qty in wanted.items():
            line = by_id[line_id]
            there = elsewhere.get(line.variant.sku if line.variant_id else line.sku, {})
            if b.code in there:
                have = there[b.code]
            else:
                have = ledger.on_hand(line.variant_id, b.id) if line.variant_id else 0
            stock[line_id] = have
            if qty > have:
                short[line_id] = qty - have
        out.append(BranchOption(b.code, b.id, stock, short))
    return out


def create(order_id: int, branch_id: int, staff_id: int, lines: dict[int, int] | None = None) -> Fulfillment:
    """A Smart Fulfillment for the whole remaining order or chosen lines and quantities."""
    return _new(order_id, branch_id, staff_id, "smart", "PENDING", lines)


def pack(uid: str, staff_id: int) -> Fulfillment:
    person = staffmod.get(staff_id)
    with db.write():
        f = _get(uid, "smart")
        if f.status != "PENDING":
            raise StateError(f"shipment is {f.status}; only a pending one can be packed")
        if f.order.cancelled_at or f.order.staff_cancel_reason:
            raise StateError(f"order {f.order.name} is cancelled")
        _move(f, "pack", -1, person.id, "packed for online order")
        _set(f, "PACKED", person.id)
    return f


def superseded_units(f: Fulfillment) -> dict[int, int]:
    """Order line id -> units this packed smart shipment holds that an order edit removed and
    that wait for the exchange return (more units of the line are packed or sent than the order
    now wants). Empty for any other shipment."""
    if f.mode != "smart" or f.status != "PACKED":
        return {}
    order = f.order
    covered = online_orders.coverage(order)
    current = {l.id: l.current_quantity for l in order.lines}
    out = {}
    for fl in f.lines:
        extra = min(fl.qty, covered.get(fl.order_line_id, 0) - current.get(fl.order_line_id, 0))
        if extra > 0:
            out[fl.order_line_id] = extra
    return out


def check_not_superseded(f: Fulfillment, action: str) -> None:
    """Refuse to unpack or dispatch a shipment holding units the order edit removed: unpacking
    would put them on the shelf outside the exchange return that accounts for them, dispatching
    would ship the item the customer no longer wants. The exchange return comes first."""
    extra = superseded_units(f)
    if extra:
        raise StateError(f"cannot {action} shipment {f.uid[:8]}: {sum(extra.values())} unit(s) in it were removed "
                         "by the order edit; record the exchange return first (it puts them back on the shelf), "
                         "then ship the replacement")


def unpack(uid: str, staff_id: int, reason: str = "unpacked before dispatch") -> Fulfillment:
    person = staffmod.get(staff_id)
    with db.write():
        f = _get(uid, "smart")
        if f.status != "PACKED":
            raise StateError(f"shipment is {f.status}; only a packed one can be unpacked")
        check_not_superseded(f, "unpack")
        _move(f, "unpack", +1, person.id, reason)
        _set(f, "UNPACKED", person.id, reason=reason)
    return f


def dispatch(uid: str, staff_id: int, courier: str, tracking_number: str, *, shopify_enabled: bool,
             url_templates: dict[str, str] | None = None, notify_customer: bool = True,
             policy: SalePolicy | None = None) -> Fulfillment:
    """Hand the parcel to the courier. The agent creates the Shopify fulfillment; with FBR on, the
    shipment is invoiced under the branch's online POSID (its own USIN series, OL-<branch>-n)."""
    person = staffmod.get(staff_id)
    courier, tracking_number = courier.strip(), tracking_number.strip()
    if not courier or not tracking_number:
        raise InvalidInput("enter the courier and the tracking (consignment) number")
    templates = {**COURIERS, **(url_templates or {})}
    url = templates.get(courier, "").format(n=tracking_number)
    with db.write():
        f = _get(uid, "smart")
        if f.status != "PACKED":
            raise StateError(f"shipment is {f.status}; pack it before dispatch")
        check_not_superseded(f, "dispatch")
        mark_dispatched(f, person.id, courier, tracking_number, url, shopify_enabled=shopify_enabled,
                        notify_customer=notify_customer, policy=policy)
    return f


def mark_dispatched(f: Fulfillment, staff_id: int, courier: str, tracking_number: str, url: str, *,
                    shopify_enabled: bool, notify_customer: bool = True, policy: SalePolicy | None = None,
                    depends_on: str | None = None, **detail) -> None:
    """The dispatch itself, inside the caller's transaction. A parcel booked through a courier's API
    (pos_core.couriers) has no tracking number yet: its Shopify fulfillment job `depends_on` the
    booking job, which writes the number into it before it can be sent."""
    f.courier, f.tracking_number, f.tracking_url = courier, tracking_number, url
    f.dispatched_at = utcnow()
    _set(f, "DISPATCHED", staff_id, at=f.dispatched_at, courier=courier, tracking=tracking_number, **detail)
    if shopify_enabled:
        outbox.enqueue(outbox.SHOPIFY, "fulfillment_create", {
            "orderId": f.order.shopify_id, "locationId": f.branch.shopify_location_id,
            "lines": [{"lineItemId": l.order_line.shopify_line_id, "quantity": l.qty} for l in f.lines],
            "tracking": {"company": courier, "number": tracking_number, "url": url},
            "notifyCustomer": notify_customer, "fulfillmentUid": f.uid,
            "message": f"Shipped from {f.branch.name}",
        }, "fulfillment", f.uid, depends_on=depends_on)
    if policy is not None and policy.fbr_enabled:
        _queue_invoice(f, policy, credit=False)


def deliver(uid: str, staff_id: int, *, shopify_enabled: bool) -> Fulfillment:
    person = staffmod.get(staff_id)
    with db.write():
        f = _get(uid, "smart")
        mark_delivered(f, person.id, shopify_enabled=shopify_enabled)
    return f


def mark_delivered(f: Fulfillment, staff_id: int | None, *, shopify_enabled: bool, **detail) -> None:
    """Inside the caller's transaction; staff_id None when the courier's tracking said so."""
    if f.status != "DISPATCHED":
        raise StateError(f"shipment is {f.status}; only a dispatched one can be delivered")
    _set(f, "DELIVERED", staff_id, **detail)
    online_orders.queue_tags(f.order, ["pos-delivered"], shopify_enabled)


def mark_returned(uid: str, staff_id: int, receiving_branch_id: int, *, shopify_enabled: bool,
                  reason: str = "returned / COD refused", policy: SalePolicy | None = None,
                  return_reason: str | None = None, return_note: str = "") -> Fulfillment:
    """Goods came back (refused at the door, or returned): +q where they physically arrived.
    `return_reason` (a key of refunds.ONLINE_REASONS) and `return_note`: why, as the person taking
    the parcel in at the counter was told; kept on the RETURNED step of the shipment's history."""
    from .refunds import ONLINE_REASON_LABELS, check_reason
    why, note = check_reason(return_reason, return_note, ONLINE_REASON_LABELS)
    person = staffmod.get(staff_id)
    branch = Branch.get_or_none(Branch.id == receiving_branch_id)
    if branch is None:
        raise NotFound(f"no branch {receiving_branch_id}")
    with db.write():
        f = _get(uid, "smart")
        if f.status not in ("DISPATCHED", "DELIVERED"):
            raise StateError(f"shipment is {f.status}; only a dispatched or delivered one can come back")
        moves = [Movement(f"return:{f.uid}:{l.line_no}", l.variant_id, branch.id, l.qty, "online-return",
                          "fulfillment", f"{f.order.name}/{f.uid[:8]}", person.id, reason=reason) for l in f.lines]
        stock_moves.apply(moves, shopify_reason="restock", reference_uri=f"gid://pk-pos/OnlineReturn/{f.uid}",
                          doc_type="fulfillment", doc_ref=f.uid, shopify_enabled=shopify_enabled)
        _set(f, "RETURNED", person.id, branch=branch.code, reason=reason,
             **({"return_reason": why, "return_note": note} if why else {}))
        online_orders.queue_tags(f.order, ["pos-returned"], shopify_enabled)
        invoice = next((j for j in outbox.jobs_for(f.uid, outbox.FBR) if j.kind == "invoice"), None)
        if invoice is not None and policy is not None:
            _queue_invoice(f, policy, credit=True, ref=invoice)
    return f


def manual(order_id: int, branch_id: int, staff_id: int, lines: dict[int, int] | None = None,
           note: str = "") -> Fulfillment:
    """What left the branch for an order, recorded by staff without Shopify access."""
    with db.write():
        f = _new(order_id, branch_id, staff_id, "manual", "DONE", lines, reason=note)
        _move(f, "manual", -1, staff_id, note or "manual fulfillment")
    return f


def branch_sync(order_id: int, branch_id: int, staff_id: int) -> Fulfillment:
    """Shopify shows units fulfilled that no local record covers: they left from this branch."""
    with db.write():
        order = online_orders.get(order_id)
        if not order.needs_branch_sync:
            raise StateError(f"order {order.name} does not need a branch sync")
        f = _new(order_id, branch_id, staff_id, "branch_sync", "DONE", online_orders.uncovered_units(order),
                 check_remaining=False)
        _move(f, "branch-sync", -1, staff_id, "fulfilled in Shopify, left this branch")
        order = online_orders.get(order_id)
        order.needs_branch_sync = False
        online_orders.refresh_state(order)
    return f


def fix_branch_stock(order_id: int, branch_id: int, staff_id: int, changes: list[tuple[int, int]],
                     reason: str) -> Fulfillment:
    """A manager's correction: (variant id, signed units) at a branch, with the reason."""
    person = staffmod.get(staff_id)
    staffmod.require(person, "stock_fix")
    if not reason.strip():
        raise InvalidInput("say what went wrong (missed movement, wrong branch, ...)")
    if not changes or any(isinstance(d, bool) or not isinstance(d, int) or d == 0 or abs(d) > 9999 for _, d in changes):
        raise InvalidInput("each correction is a whole number of units, not zero")
    with db.write():
        order = online_orders.get(order_id)
        if Branch.get_or_none(Branch.id == branch_id) is None:
            raise NotFound(f"no branch {branch_id}")
        f = Fulfillment.create(order=order, mode="repair", branch=branch_id, status="DONE", created_by=person,
                               reason=reason.strip())
        for n, (variant_id, delta) in enumerate(changes, start=1):
            if Variant.get_or_none(Variant.id == variant_id) is None:
                raise NotFound(f"no item with id {variant_id}")
            FulfillmentLine.create(fulfillment=f, line_no=n, variant=variant_id, qty=delta)
            ledger.record(Movement(f"repair:{f.uid}:{n}", variant_id, branch_id, delta, "repair", "fulfillment",
                                   f"{order.name}/{f.uid[:8]}", person.id, reason=reason.strip()))
        online_orders.add_event(order, "stock_fixed", person.id, branch=f.branch.code, reason=reason.strip(),
                                changes=[list(c) for c in changes])
        audit.log("online.fix_stock", person.id, order.name, reason=reason.strip())
    return f


def after_cancel(uid: str, staff_id: int, back_on_shelf: bool) -> Fulfillment:
    """The order was cancelled after packing: restore the goods if they are back on the shelf."""
    person = staffmod.get(staff_id)
    with db.write():
        f = _get(uid, "smart")
        if not (f.order.cancelled_at or f.order.staff_cancel_reason):
            raise StateError(f"order {f.order.name} is not cancelled")
        if f.status != "PACKED":
            raise StateError(f"shipment is {f.status}; only packed goods wait on a cancellation")
        if back_on_shelf:
            _move(f, "unpack", +1, person.id, "order cancelled, goods back on the shelf")
            _set(f, "UNPACKED", person.id, reason="cancelled")
        else:
            online_orders.add_event(f.order, "cancelled_goods_not_back", person.id, shipment=f.uid)
    return f


def exchange_return(order_id: int, branch_id: int, staff_id: int, lines: dict[int, int]) -> Fulfillment:
    """An order edit removed units that were packed and not yet dispatched: they come out of the
    packed shipment and go back on the shelf at the chosen branch. Nothing is pushed: Shopify's
    edit already put the unfulfilled units back in `available`."""
    with db.write():
        order = online_orders.get(order_id)
        covered = online_orders.coverage(order)
        by_id = {l.id: l for l in order.lines}
        packed = {}  # order line -> [(shipment line, units)] in packed, undispatched shipments
        for fl in (FulfillmentLine.select(FulfillmentLine, Fulfillment).join(Fulfillment)
                   .where((Fulfillment.order == order.id) & (Fulfillment.mode == "smart")
                          & (Fulfillment.status == "PACKED")).order_by(Fulfillment.id.desc())):
            packed.setdefault(fl.order_line_id, []).append(fl)
        for line_id, qty in lines.items():
            line = by_id.get(line_id)
            if line is None:
                raise InvalidInput(f"line {line_id} is not on order {order.name}")
            extra = min(covered.get(line_id, 0) - line.current_quantity,
                        sum(fl.qty for fl in packed.get(line_id, [])))
            if isinstance(qty, bool) or not isinstance(qty, int) or qty <= 0 or qty > extra:
                raise InvalidInput(f"{line.name}: {max(extra, 0)} packed unit(s) were removed by the edit, not {qty}")
        f = _new(order_id, branch_id, staff_id, "exchange_return", "DONE", lines, check_remaining=False)
        _move(f, "exchange-return", +1, staff_id, "removed by order edit, back on the shelf")
        emptied = set()
        for line_id, qty in lines.items():
            for fl in packed[line_id]:  # take the units out of the packed shipments, newest first
                take = min(qty, fl.qty)
                if take:
                    fl.qty -= take
                    qty -= take
                    if fl.qty:
                        fl.save()
                    else:
                        fl.delete_instance()
                        emptied.add(fl.fulfillment_id)
        for shipment_id in emptied:
            shipment = Fulfillment.get_by_id(shipment_id)
            if not shipment.lines.count():
                _set(shipment, "UNPACKED", staff_id, reason="all units removed by an order edit")
        online_orders.refresh_state(online_orders.get(order_id))
    return f


def for_order(order_id: int) -> list[Fulfillment]:
    return list(Fulfillment.select().where(Fulfillment.order == order_id).order_by(Fulfillment.id))


# --- helpers -------------------------------------------------------------------------------

def _queue_invoice(f: Fulfillment, policy: SalePolicy, *, credit: bool, ref=None) -> None:
    lines = list(f.lines)
    inputs = [PriceInput(l.qty, l.order_line.unit_price_paisa if l.order_line else l.variant.price_paisa,
                         l.variant.tax_rate_bp, None, True if l.variant.third_schedule else None) for l in lines]
    priced, _ = price_lines(inputs, None, policy.prices_include_tax)
    items = [{"sku": l.variant.sku, "name": l.variant.name, "pct_code": l.variant.pct_code, "qty": p.qty,
              "tax_rate_bp": p.tax_rate_bp, "value_excl_paisa": p.value_excl_paisa, "tax_paisa": p.tax_paisa,
              "total_paisa": p.total_paisa, "third_schedule": l.variant.third_schedule} for l, p in zip(lines, priced)]
    usin = numbering.next_branch_number(f.branch, "OLR" if credit else "OL")
    payload = fbr_invoice.build_online(usin, utcnow(), items, f.branch.fbr_online_posid or policy.fbr_posid,
                                       cod=f.order.is_cod, credit=credit,
                                       ref_usin=ref.payload["usin"] if ref else None,
                                       buyer_name=f.order.customer_name, buyer_phone=f.order.phone)
    outbox.enqueue(outbox.FBR, "credit_note" if credit else "invoice", payload, "fulfillment", f.uid,
                   depends_on=ref.uid if ref else None)


def _new(order_id, branch_id, staff_id, mode, status, lines, reason="", check_remaining=True) -> Fulfillment:
    person = staffmod.get(staff_id)
    with db.write():
        order = online_orders.get(order_id)
        if Branch.get_or_none(Branch.id == branch_id) is None:
            raise NotFound(f"no branch {branch_id}")
        if mode in ("smart", "manual") and (order.cancelled_at or order.staff_cancel_reason):
            raise StateError(f"order {order.name} is cancelled")
        remaining = online_orders.remaining_units(order)
        wanted = {k: v for k, v in (lines if lines is not None else remaining).items() if v}
        if not wanted:
            raise InvalidInput(f"nothing left to fulfil on order {order.name}")
        by_id = {l.id: l for l in order.lines}
        for line_id, qty in wanted.items():
            line = by_id.get(line_id)
            if line is None:
                raise InvalidInput(f"line {line_id} is not on order {order.name}")
            if isinstance(qty, bool) or not isinstance(qty, int) or qty < 0:
                raise InvalidInput("quantities are whole numbers")
            if line.variant_id is None:
                raise InvalidInput(f"{line.name} is not linked to an item in the catalog; import the catalog first")
            if check_remaining and qty > remaining.get(line_id, 0):
                raise InvalidInput(f"{line.name}: only {remaining.get(line_id, 0)} left to fulfil, not {qty}")
        now = utcnow()
        f = Fulfillment.create(order=order, mode=mode, branch=branch_id, status=status, created_by=person,
                               reason=reason, history=[{"at": now.isoformat(), "status": status, "staff": person.id}],
                               # a Manual or Branch Sync record is made when the goods have already gone
                               dispatched_at=now if mode in ("manual", "branch_sync") else None)
        FulfillmentLine.insert_many([{"fulfillment": f.id, "line_no": n, "order_line": lid,
                                      "variant": by_id[lid].variant_id, "qty": q}
                                     for n, (lid, q) in enumerate(sorted(wanted.items()), start=1)]).execute()
        online_orders.add_event(order, f"{mode}_fulfillment", person.id, shipment=f.uid, branch=f.branch.code,
                                lines={str(k): v for k, v in wanted.items()})
        online_orders.refresh_state(order)
    return f


def _get(uid: str, mode: str) -> Fulfillment:
    f = Fulfillment.get_or_none((Fulfillment.uid == uid) & (Fulfillment.mode == mode))
    if f is None:
        raise NotFound(f"no {mode} shipment {uid}")
    return f


def _move(f: Fulfillment, key: str, sign: int, staff_id: int, reason: str) -> None:
    for l in f.lines:
        ledger.record(Movement(f"{key}:{f.uid}:{l.line_no}", l.variant_id, f.branch_id, sign * l.qty,
                               key, "fulfillment", f"{f.order.name}/{f.uid[:8]}", staff_id, reason=reason))


def _set(f: Fulfillment, status: str, staff_id: int, *, at=None, **detail) -> None:
    f.status = status
    at = at or utcnow()
    f.history = list(f.history or []) + [{"at": at.isoformat(), "status": status, "staff": staff_id, **detail}]
    f.save()
    online_orders.add_event(f.order, status.lower(), staff_id, shipment=f.uid, **detail)
    online_orders.refresh_state(f.order)
    audit.log(f"fulfillment.{status.lower()}", staff_id, f.order.name, shipment=f.uid)


# --- when the goods left ---------------------------------------------------------------------
SHIPPING_MODES = ("smart", "manual", "branch_sync")   # repairs and exchange returns ship nothing


def fill_dispatched_at(ids: list[int] | None = None) -> int:
    """Set `dispatched_at` from the history, the rule the dispatch-time report used before the
    column existed: a Smart shipment's first DISPATCHED step, a Manual or Branch Sync record's
    first DONE step (else when it was made). For migration 13's older shipments (all, or `ids`);
    the services set the column themselves. Returns the rows changed."""
    want = "(CASE WHEN mode = 'smart' THEN 'DISPATCHED' ELSE 'DONE' END)"
    params: list = []
    if db.is_sqlite():
        # the history's times are Python isoformat ('T'); the column's text is str(datetime) (' ')
        step = (f"(SELECT replace(json_extract(e.value, '$.at'), 'T', ' ') FROM json_each(fulfillment.history) e "
                f"WHERE json_extract(e.value, '$.status') = {want} ORDER BY e.key LIMIT 1)")
    else:   # the path holds a '?', so it is a parameter
        step = f"(jsonb_path_query_first(history::jsonb, ?::jsonpath, jsonb_build_object('s', {want})) #>> '{{}}')::timestamp"
        params.append(DISPATCH_PATH)
    sql = (f"UPDATE fulfillment SET dispatched_at = COALESCE({step}, CASE WHEN mode <> 'smart' AND status = 'DONE' "
           f"THEN created_at END) WHERE mode IN ({', '.join('?' for _ in SHIPPING_MODES)})")
    params += SHIPPING_MODES
    if ids is not None:
        if not ids:
            return 0
        sql += f" AND id IN ({', '.join('?' for _ in ids)})"
        params += ids
    return db.database.execute_sql(sql.replace("?", db.database.param), params).rowcount


DISPATCH_PATH = '$[*] ? (@.status == $s).at'   # the first step whose status is $s: its time
