"""`pos-admin courier ...`: parcels booked with couriers, returns, COD statements and what is owed.

    courier list [--status S]              consignments, newest first
    courier waiting                        dispatched parcels still to be booked, with the reason
    courier city COURIER TEXT              how a typed city maps to the courier's list
    courier rebook REF [--city C] [--phone P] --staff CODE   correct a refused booking, queue it again
    courier cancel REF --staff CODE        cancel a booking before pickup
    courier book-again REF COURIER CITY --staff CODE   book a cancelled parcel again
    courier by-hand REF COURIER NUMBER --staff CODE   a refused parcel leaves with another courier
    courier receive CN --branch B --staff CODE   a returned parcel scanned in: stock back at B
    courier statement COURIER FILE --staff CODE  import a COD payment statement (CSV)
    courier owed [--courier C]             COD money the couriers still owe
Commands that change something check the person's PIN like the stock commands.
"""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from . import courier_cities, courier_cod, couriers
from .admin_stock import _staff
from .errors import InvalidInput, NotFound
from .models import Branch, Consignment
from .policy import from_config

COMMANDS = ("courier",)


def add_commands(sub) -> None:
    c = sub.add_parser("courier", help="courier bookings, returns, COD statements").add_subparsers(
        dest="action", required=True)
    ls = c.add_parser("list", help="consignments, newest first")
    ls.add_argument("--status", choices=sorted(couriers.LABELS))
    ls.add_argument("--limit", type=int, default=50)
    c.add_parser("waiting", help="dispatched parcels still to be booked")
    ci = c.add_parser("city", help="map a typed city to a courier's list")
    ci.add_argument("courier", choices=courier_cities.couriers())
    ci.add_argument("text")
    rb = c.add_parser("rebook", help="correct a refused booking and queue it again")
    rb.add_argument("ref", help="consignment reference, uid or number")
    rb.add_argument("--city", help="the courier's city code or name")
    rb.add_argument("--phone")
    rb.add_argument("--staff", required=True)
    bh = c.add_parser("by-hand", help="a refused (or never sent) booking leaves with another courier instead")
    bh.add_argument("ref")
    bh.add_argument("courier", help="e.g. TCS")
    bh.add_argument("number", help="that courier's tracking number")
    bh.add_argument("--staff", required=True)
    ba = c.add_parser("book-again", help="book a cancelled parcel of a dispatched shipment again")
    ba.add_argument("ref")
    ba.add_argument("courier", choices=sorted(couriers.NAMES))
    ba.add_argument("city", help="the courier's city code or name")
    ba.add_argument("--staff", required=True)
    cn = c.add_parser("cancel", help="cancel a booking before pickup")
    cn.add_argument("ref")
    cn.add_argument("--staff", required=True)
    rc = c.add_parser("receive", help="a returned parcel is here: scan or type its consignment number")
    rc.add_argument("number")
    rc.add_argument("--branch", required=True)
    rc.add_argument("--staff", required=True)
    st = c.add_parser("statement", help="import a courier's COD payment statement (CSV)")
    st.add_argument("courier", choices=sorted(couriers.NAMES))
    st.add_argument("file")
    st.add_argument("--staff", required=True)
    ow = c.add_parser("owed", help="COD money the couriers still owe")
    ow.add_argument("--courier", choices=sorted(couriers.NAMES))


def run(args, cfg) -> int:
    a = args.action
    if a == "list":
        q = Consignment.select().order_by(Consignment.id.desc()).limit(args.limit)
        if args.status:
            q = q.where(Consignment.status == args.status)
        for c in q:
            print(f"{c.reference:20} {c.fulfillment.order.name:8} {couriers.describe(c)}  COD {_rs(c.cod_paisa)}")
    elif a == "waiting":
        rows = couriers.to_be_booked()
        if not rows:
            print("nothing waits to be booked")
        for c, job in rows:
            state = job.status if job else "no job"
            print(f"{c.reference:20} {c.fulfillment.order.name:8} {couriers.NAMES[c.courier]:8} {c.city_name:16} "
                  f"{state}{'  ' + c.last_error if c.last_error else ''}")
    elif a == "city":
        m = courier_cities.match(args.courier, args.text)
        if m.found:
            print(f"{m.city.name} (code {m.city.code})")
        elif m.choices:
            print(f"{args.text!r} could be: " + "; ".join(f"{x.name} (code {x.code})" for x in m.choices))
            return 1
        else:
            print(f"{args.text!r} is not on {couriers.NAMES[args.courier]}'s list; choose the nearest city by hand")
            return 1
    elif a == "rebook":
        c = couriers.rebook(couriers.find(args.ref).uid, _staff(args).id, city_code=args.city, phone=args.phone)
        print(f"{c.reference}: queued again for {couriers.NAMES[c.courier]} to {c.city_name}")
    elif a == "by-hand":
        c = couriers.book_by_hand(couriers.find(args.ref).uid, _staff(args).id, args.courier, args.number,
                                  url_templates=cfg.courier_urls)
        print(f"{c.fulfillment.order.name}: goes with {args.courier} {args.number}; the {couriers.NAMES[c.courier]} "
              "booking is withdrawn")
    elif a == "book-again":
        c = couriers.book_again(couriers.find(args.ref).uid, _staff(args).id, args.courier, args.city)
        print(f"{c.fulfillment.order.name}: to be booked again with {couriers.NAMES[c.courier]} to {c.city_name} "
              f"({c.reference})")
    elif a == "cancel":
        c = couriers.find(args.ref)
        couriers.request_cancel(c.uid, _staff(args).id)
        print(f"{c.reference} ({c.tracking_number}): cancellation queued")
    elif a == "receive":
        branch = Branch.get_or_none(Branch.code == args.branch)
        if branch is None:
            raise NotFound(f"no branch {args.branch}")
        policy = from_config(cfg)
        c = couriers.receive_return(args.number, branch.id, _staff(args).id, shopify_enabled=policy.shopify_enabled,
                                    policy=policy)
        print(f"{c.tracking_number} ({c.fulfillment.order.name}) received back at {branch.code}; stock restored there")
    elif a == "statement":
        path = Path(args.file)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"cannot read {path}: {exc}") from None
        st = courier_cod.import_statement(args.courier, text, source=path.name, staff_id=_staff(args).id)
        print(f"{couriers.NAMES[args.courier]} statement {path.name}: {st.rows} row(s), paid {_rs(st.paid_paisa)}, "
              f"charges {_rs(st.charges_paisa)}")
        for line in courier_cod.lines(st):
            if line.result not in (courier_cod.PAID, courier_cod.CHARGES):
                print(f"  {line.tracking_number:16} {line.result:13} {line.note}")
        print("  " + ", ".join(f"{k} {v}" for k, v in sorted(courier_cod.summary(st).items())))
    elif a == "owed":
        rows = courier_cod.owed(args.courier)
        for o in rows:
            print(f"{couriers.NAMES[o.courier]:8} {o.tracking_number:16} {o.order_name:8} {o.kind:10} "
                  f"due {_rs(o.due_paisa)} paid {_rs(o.settled_paisa)} owed {_rs(o.owed_paisa)}")
        totals = courier_cod.owed_totals(args.courier)
        print("owed: " + (", ".join(f"{couriers.NAMES[k]} {_rs(v)}" for k, v in sorted(totals.items())) or "nothing"))
    return 0


def _rs(paisa: int) -> str:
    return f"Rs {Decimal(int(paisa)) / 100:,.2f}"
