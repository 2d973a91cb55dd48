"""`pos-admin` commands for branch stock: lookup, transfers, purchase orders, adjustments, stock takes.

Commands that change stock name the person doing it (`--staff CODE`) and check their PIN, asked
for on the terminal (or taken from $POS_STAFF_PIN for scripts).
"""
from __future__ import annotations

import getpass
import os
from decimal import Decimal

from . import adjustments, catalog, purchasing, staff as staffmod, stock, stocktake, transfers
from .errors import InvalidInput, NotFound, PermissionDenied
from .fbr_invoice import pk_time
from .models import Branch, Transfer
from .money import to_paisa


def add_commands(sub) -> None:
    s = sub.add_parser("stock", help="on hand per branch and in transit for an item; --history for its movements")
    s.add_argument("code", help="barcode or SKU")
    s.add_argument("--branch", help="branch code for --history")
    s.add_argument("--history", action="store_true")
    lv = sub.add_parser("levels", help="stock levels at a branch")
    lv.add_argument("branch")
    lv.add_argument("--low", type=int, help="only items at or below this level")
    lv.add_argument("--negative", action="store_true")
    lv.add_argument("--category", default="")

    t = sub.add_parser("transfer", help="transfers between branches").add_subparsers(dest="action", required=True)
    c = t.add_parser("create")
    c.add_argument("source")
    c.add_argument("dest")
    _items(c, "SKU:QTY")
    for name in ("dispatch", "cancel", "show"):
        p = t.add_parser(name)
        p.add_argument("number")
    r = t.add_parser("receive", help="what arrived; items not listed arrived as zero")
    r.add_argument("number")
    _items(r, "SKU:QTY")
    rs = t.add_parser("resolve", help="settle a line's shortfall or excess")
    rs.add_argument("number")
    rs.add_argument("line", type=int)
    rs.add_argument("resolution", choices=sorted(transfers.RESOLUTIONS))
    t.add_parser("list")

    po = sub.add_parser("po", help="purchase orders").add_subparsers(dest="action", required=True)
    pc = po.add_parser("create")
    pc.add_argument("branch")
    pc.add_argument("supplier")
    _items(pc, "SKU:QTY:UNIT_COST")
    pr = po.add_parser("receive")
    pr.add_argument("number")
    _items(pr, "SKU:QTY[:UNIT_COST]")
    for name in ("close", "cancel", "show"):
        p = po.add_parser(name)
        p.add_argument("number")

    a = sub.add_parser("adjust", help="record damaged, lost, found, expired, sample or correction")
    a.add_argument("branch")
    a.add_argument("reason", choices=sorted(r for r in adjustments.SHOPIFY_REASON if r != "count"))
    _items(a, "SKU:DELTA (e.g. 1001:-2)")
    a.add_argument("--note", required=True)
    a.add_argument("--approver", help="a manager's staff code, when the value needs approval")

    st = sub.add_parser("stocktake", help="count a branch while it stays open").add_subparsers(dest="action", required=True)
    ss = st.add_parser("start")
    ss.add_argument("branch")
    ss.add_argument("--category", default="")
    sc = st.add_parser("count")
    sc.add_argument("number")
    sc.add_argument("code", help="barcode or SKU")
    sc.add_argument("qty", type=int, nargs="?", default=1)
    sc.add_argument("--area", default="")
    for name in ("review", "cancel"):
        p = st.add_parser(name)
        p.add_argument("number")
    sp = st.add_parser("post")
    sp.add_argument("number")
    sp.add_argument("--zero-uncounted", action="store_true")
    sp.add_argument("--approver")
    for p in (c, r, rs, pc, pr, a, ss, sc, sp) + tuple(t._name_parser_map[n] for n in ("dispatch", "cancel")) \
            + tuple(po._name_parser_map[n] for n in ("close", "cancel")) + (st._name_parser_map["cancel"],):
        p.add_argument("--staff", required=True, help="your staff code (your PIN is asked for)")


COMMANDS = ("stock", "levels", "transfer", "po", "adjust", "stocktake")


def run(args, cfg) -> int:
    shop = cfg.shopify.enabled
    approval = to_paisa(cfg.adjustment_approval_above)
    if args.command == "stock":
        v = catalog.lookup(args.code).variant
        view = stock.variant_view(v.id)
        print(f"{v.sku}  {v.name}")
        for code, qty in view["on_hand"].items():
            transit = view["in_transit"].get(code, 0)
            print(f"  {code:8} on hand {qty:6}" + (f"   in transit to here {transit}" if transit else ""))
        if args.history:
            branch = _branch(args.branch or cfg.branch)
            for h in stock.history(v.id, branch.id):
                print(f"  {pk_time(h.at)}  {h.delta:+5}  {h.kind:14} {h.doc:22} {h.person:16} {h.reason}")
        return 0
    if args.command == "levels":
        branch = _branch(args.branch)
        for sku, name, qty in stock.branch_levels(branch.id, low_at=args.low, negative=args.negative,
                                                  category=args.category):
            print(f"{sku:20} {qty:6}  {name}")
        return 0
    person = _staff(args) if getattr(args, "staff", None) else None
    if args.command == "transfer":
        if args.action == "list":
            for t in Transfer.select().order_by(Transfer.id.desc()).limit(50):
                print(f"{t.number}  {t.from_branch.code} -> {t.to_branch.code}  {t.status}")
            return 0
        if args.action == "create":
            t = transfers.create(_branch(args.source).id, _branch(args.dest).id, person.id,
                                 [transfers.TransferItem(v, int(q)) for v, q, *_ in _parse(args.item)])
        elif args.action == "dispatch":
            t = transfers.dispatch(args.number, person.id, shopify_enabled=shop)
        elif args.action == "receive":
            counted: dict[int, int] = {}
            for v, q, *_ in _parse(args.item):
                counted[v] = counted.get(v, 0) + int(q)
            t = transfers.receive(args.number, person.id, counted, shopify_enabled=shop)
        elif args.action == "resolve":
            t = transfers.resolve(args.number, args.line, args.resolution, person.id, shopify_enabled=shop)
        elif args.action == "cancel":
            t = transfers.cancel(args.number, person.id)
        else:
            t = transfers.get(args.number)
        print(f"{t.number}  {t.from_branch.code} -> {t.to_branch.code}  {t.status}")
        for l in t.lines:
            got = "" if l.qty_received is None else f" received {l.qty_received}"
            settled = f" settled: {l.resolution}" if l.resolution else ""
            print(f"  {l.line_no:3} {l.variant.sku:20} sent {l.qty_sent}{got}{settled}")
        return 0
    if args.command == "po":
        if args.action == "create":
            sup = purchasing.supplier(args.supplier)
            po = purchasing.create(_branch(args.branch).id, sup.id, person.id,
                                   [purchasing.OrderItem(v, int(q), Decimal(c)) for v, q, c in _parse(args.item, 3)])
        elif args.action == "receive":
            rec = purchasing.receive(args.number, person.id,
                                     [purchasing.Delivered(v, int(q), Decimal(rest[0]) if rest else None)
                                      for v, q, *rest in _parse(args.item)], shopify_enabled=shop)
            print(f"received {rec.number}")
            po = rec.order
        elif args.action == "close":
            po = purchasing.close(args.number, person.id)
        elif args.action == "cancel":
            po = purchasing.cancel(args.number, person.id)
        else:
            po = purchasing.get(args.number)
        po = purchasing.get(po.number)
        print(f"{po.number}  {po.branch.code}  {po.supplier.name}  {po.status}")
        for b in purchasing.balance(po):
            print(f"  {b['sku']:20} ordered {b['ordered']:5} received {b['received']:5} due {b['due']:5}")
        return 0
    if args.command == "adjust":
        approver = _staff_code(args.approver, "POS_APPROVER_PIN") if args.approver else None
        adj = adjustments.create(_branch(args.branch).id, person.id, args.reason,
                                 [adjustments.AdjustItem(v, int(d)) for v, d, *_ in _parse(args.item)], args.note,
                                 approver_id=approver.id if approver else None, approval_above_paisa=approval,
                                 shopify_enabled=shop)
        print(f"{adj.number}  {adj.reason}  {len(list(adj.lines))} line(s)")
        return 0
    if args.command == "stocktake":
        if args.action == "start":
            take = stocktake.start(_branch(args.branch).id, person.id, args.category)
            print(f"{take.number} started: {take.items.count()} item(s) frozen")
        elif args.action == "count":
            v = catalog.lookup(args.code).variant
            stocktake.count(args.number, person.id, v.id, args.qty, args.area)
            print(f"counted {args.qty:+} {v.sku}")
        elif args.action == "review":
            for d in stocktake.review(args.number):
                counted = "-" if d.counted is None else d.counted
                print(f"{d.sku:20} expected {d.expected:5} counted {counted:>5} difference {d.delta:+5}")
        elif args.action == "post":
            approver = _staff_code(args.approver, "POS_APPROVER_PIN") if args.approver else None
            take = stocktake.post(args.number, person.id, approver_id=approver.id if approver else None,
                                  approval_above_paisa=approval, shopify_enabled=shop,
                                  zero_uncounted=args.zero_uncounted)
            print(f"{take.number} posted" + (f" as {take.adjustment.number}" if take.adjustment else ", no differences"))
        else:
            stocktake.cancel(args.number, person.id)
            print(f"{args.number} cancelled")
        return 0
    return 2


def _items(parser, form: str) -> None:
    parser.add_argument("--item", action="append", required=True, metavar=form, help=f"repeatable: {form}")


def _parse(items: list[str], parts: int = 2) -> list[tuple]:
    out = []
    for text in items:
        bits = text.rsplit(":", parts - 1) if parts == 3 else text.split(":")
        if len(bits) < 2:
            raise InvalidInput(f"{text!r}: expected SKU:QTY")
        code, *rest = bits
        for number in rest[:1]:
            if not number.lstrip("-").isdigit():
                raise InvalidInput(f"{text!r}: {number!r} is not a whole number")
        out.append((catalog.lookup(code).variant.id, *rest))
    return out


def _branch(code: str) -> Branch:
    b = stock.branch_by_code(code or "")
    if b is None:
        raise NotFound(f"no branch {code!r}")
    return b


def _staff_code(code: str, env: str = "POS_STAFF_PIN"):
    person = staffmod.Staff.get_or_none((staffmod.Staff.code == code) & (staffmod.Staff.active == True))  # noqa: E712
    if person is None:
        raise NotFound(f"no active staff member {code!r}")
    pin = os.environ.get(env)
    if pin is None:
        if not os.isatty(0):
            raise InvalidInput(f"no terminal to ask {person.name}'s PIN: set ${env}")
        pin = getpass.getpass(f"PIN for {person.name}: ")
    if not staffmod.verify_pin(pin, person.pin_hash):
        raise PermissionDenied(f"wrong PIN for {person.name}")
    return person


def _staff(args):
    return _staff_code(args.staff)
