"""`pos-admin loyalty | promo | coupon | commission`: the manager's rules for customers who come back.

Money is typed in rupees, percentages as percent, times in Pakistan time (stored UTC).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from . import commission, coupons, customers, loyalty, promotions
from .errors import InvalidInput
from .fbr_invoice import pk_time
from .models import Coupon, Promotion, utcnow
from .money import fmt, to_paisa

COMMANDS = ("loyalty", "promo", "coupon", "commission")
PKT = dt.timezone(dt.timedelta(hours=5))


def add_commands(sub) -> None:
    lo = sub.add_parser("loyalty", help="loyalty points: program, tiers, earning rules, expiry, balances")
    la = lo.add_subparsers(dest="action", required=True)
    la.add_parser("show")
    s = la.add_parser("set", help="what a point is worth and how long it lives")
    s.add_argument("--point-value", help="rupees one point pays, e.g. 1 or 0.50")
    s.add_argument("--expiry-days", type=int, help="0 = never")
    s.add_argument("--min-redeem", type=int, help="fewest points redeemed at once")
    s.add_argument("--off", action="store_true", help="stop earning and redeeming")
    s.add_argument("--on", action="store_true")
    t = la.add_parser("tier", help="a tier reached by yearly spend, e.g. Gold 100000")
    t.add_argument("name")
    t.add_argument("min_spend", help="rupees spent in the last 365 days")
    r = la.add_parser("rule", help="points per Rs 100 of net spend, by category and/or tier")
    r.add_argument("points_per_100")
    r.add_argument("--category", default="")
    r.add_argument("--tier", default="")
    la.add_parser("expire", help="write off the points whose time has come")
    b = la.add_parser("balance", help="a customer's points and last movements")
    b.add_argument("phone")

    pr = sub.add_parser("promo", help="automatic promotions").add_subparsers(dest="action", required=True)
    a = pr.add_parser("add")
    a.add_argument("name")
    a.add_argument("kind", choices=promotions.KINDS)
    a.add_argument("--value", default="0", help="percent for *_percent, rupees for *_amount")
    a.add_argument("--category", default="")
    a.add_argument("--skus", default="", help="comma separated; a bundle's SKUs (repeat one to need two)")
    a.add_argument("--buy", type=int, default=0)
    a.add_argument("--get", type=int, default=0)
    a.add_argument("--free-sku", default="")
    a.add_argument("--bundle-price", default="0", help="rupees")
    a.add_argument("--min-spend", default="0", help="rupees: a spend-over threshold")
    a.add_argument("--from", dest="start", help="Pakistan time, YYYY-MM-DD[THH:MM]")
    a.add_argument("--to", dest="end", help="Pakistan time, YYYY-MM-DD[THH:MM]")
    a.add_argument("--hours", help="daily window in Pakistan time, HH:MM-HH:MM (happy hour)")
    a.add_argument("--branches", default="", help="comma separated branch codes; default every branch")
    a.add_argument("--priority", type=int, default=0)
    a.add_argument("--exclusive", action="store_true", help="does not combine with other promotions")
    a.add_argument("--coupon-only", action="store_true", help="applies only with one of its coupons")
    pr.add_parser("list")
    off = pr.add_parser("off")
    off.add_argument("id", type=int)

    co = sub.add_parser("coupon", help="coupon codes").add_subparsers(dest="action", required=True)
    ca = co.add_parser("add")
    ca.add_argument("code")
    ca.add_argument("promotion", type=int, help="the promotion id it switches on (see `promo list`)")
    ca.add_argument("--uses", default="1", help="how many sales may use it, or 'unlimited'")
    ca.add_argument("--per-customer", type=int)
    ca.add_argument("--min-spend", default="0", help="rupees")
    ca.add_argument("--expires", help="Pakistan time, YYYY-MM-DD[THH:MM]")
    co.add_parser("list")
    cc = co.add_parser("check")
    cc.add_argument("code")
    cc.add_argument("--bill", default="0", help="rupees")

    cm = sub.add_parser("commission", help="salesperson commission plans and report").add_subparsers(
        dest="action", required=True)
    cp = cm.add_parser("plan", help="percent of net sales before tax, optionally for one category")
    cp.add_argument("name")
    cp.add_argument("percent")
    cp.add_argument("--category", default="")
    cs = cm.add_parser("slabs", help="marginal slabs over a period, e.g. 0:0,50000:1,100000:2 (rupees:percent)")
    cs.add_argument("name")
    cs.add_argument("slabs")
    rp = cm.add_parser("report")
    rp.add_argument("--from", dest="start", required=True, help="Pakistan date, YYYY-MM-DD")
    rp.add_argument("--to", dest="end", required=True, help="Pakistan date, inclusive")


def _percent_bp(text: str) -> int:
    try:
        value = Decimal(text) * 100
    except InvalidOperation:
        raise InvalidInput(f"{text!r} is not a percentage") from None
    if value != value.to_integral_value():
        raise InvalidInput(f"{text}%: at most two decimals")
    return int(value)


def _when(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        local = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM)") from None
    return local.replace(tzinfo=PKT).astimezone(dt.timezone.utc).replace(tzinfo=None)


def _hours(text: str | None) -> tuple[int | None, int | None]:
    if not text:
        return None, None
    try:
        a, b = text.split("-")
        minutes = [int(x.split(":")[0]) * 60 + int(x.split(":")[1]) for x in (a, b)]
    except (ValueError, IndexError):
        raise InvalidInput(f"{text!r}: give the daily window as HH:MM-HH:MM") from None
    if any(not 0 <= m < 24 * 60 for m in minutes) or minutes[0] == minutes[1]:
        raise InvalidInput(f"{text!r}: times run 00:00 to 23:59 and must differ")
    return minutes[0], minutes[1]


def run(args, cfg) -> int:
    del cfg
    handler = {"loyalty": _loyalty, "promo": _promo, "coupon": _coupon, "commission": _commission}[args.command]
    return handler(args) or 0


def _loyalty(args) -> int:
    if args.action == "set":
        prog = loyalty.set_program(point_value_paisa=to_paisa(args.point_value) if args.point_value else None,
                                   expiry_days=args.expiry_days, min_redeem_points=args.min_redeem,
                                   active=False if args.off else (True if args.on else None))
        print(f"a point pays Rs {fmt(prog.point_value_paisa)}; expires after "
              f"{prog.expiry_days or 'never'} days; {'on' if prog.active else 'off'}")
    elif args.action == "show":
        from .models import LoyaltyRule, LoyaltyTier
        prog = loyalty.program()
        print(f"program: {'on' if prog.active else 'off'}, a point pays Rs {fmt(prog.point_value_paisa)}, "
              f"expiry {prog.expiry_days or 'never'} days, min redeem {prog.min_redeem_points}")
        for t in LoyaltyTier.select().order_by(LoyaltyTier.min_yearly_spend_paisa):
            print(f"tier {t.name}: from Rs {fmt(t.min_yearly_spend_paisa)} a year")
        for r in LoyaltyRule.select().order_by(LoyaltyRule.category, LoyaltyRule.tier):
            print(f"rule {r.category or 'any category'} / {r.tier or 'any tier'}: "
                  f"{Decimal(r.centipoints_per_100) / 100:g} points per Rs 100")
    elif args.action == "tier":
        loyalty.set_tier(args.name, to_paisa(args.min_spend))
        print(f"tier {args.name} from Rs {args.min_spend} a year")
    elif args.action == "rule":
        loyalty.set_rule(args.points_per_100, args.category, args.tier)
        print(f"{args.points_per_100} points per Rs 100 for {args.category or 'any category'} / {args.tier or 'any tier'}")
    elif args.action == "expire":
        print(f"{loyalty.expire():,} points expired")
    elif args.action == "balance":
        c = customers.find_by_phone(args.phone)
        if c is None:
            raise InvalidInput(f"no customer with phone {args.phone}")
        print(f"{c.name or c.phone}: {loyalty.balance(c.id):,} points")
        for e in loyalty.movements(c.id):
            print(f"  {pk_time(e.created_at)}  {e.delta:+7,}  {e.kind:14} {e.doc_ref}")
    return 0


def _promo(args) -> int:
    if args.action == "add":
        percent = args.kind.endswith("_percent")
        daily_from, daily_to = _hours(args.hours)
        p = promotions.create(
            args.name, args.kind, value=_percent_bp(args.value) if percent else to_paisa(args.value),
            category=args.category, skus=[s.strip() for s in args.skus.split(",") if s.strip()],
            buy_qty=args.buy, get_qty=args.get, free_sku=args.free_sku,
            bundle_price_paisa=to_paisa(args.bundle_price), min_spend_paisa=to_paisa(args.min_spend),
            starts_at=_when(args.start), ends_at=_when(args.end), daily_from=daily_from, daily_to=daily_to,
            branches=args.branches.replace(" ", ""), priority=args.priority, combinable=not args.exclusive,
            coupon_only=args.coupon_only)
        print(f"promotion {p.id} {p.name!r} ({p.kind}) added")
    elif args.action == "list":
        for p in Promotion.select().order_by(Promotion.id):
            window = ""
            if p.starts_at or p.ends_at:
                window = f" {pk_time(p.starts_at) if p.starts_at else '…'} to {pk_time(p.ends_at) if p.ends_at else '…'}"
            flags = ",".join(f for f, on in (("off", not p.active), ("exclusive", not p.combinable),
                                              ("coupon", p.coupon_only)) if on)
            print(f"{p.id:4} {p.name:30} {p.kind:12} prio {p.priority}{window} {p.branches or 'all branches'} {flags}")
    elif args.action == "off":
        if not Promotion.update(active=False, updated_at=utcnow()).where(Promotion.id == args.id).execute():
            raise InvalidInput(f"no promotion {args.id}")
        print(f"promotion {args.id} switched off")
    return 0


def _coupon(args) -> int:
    if args.action == "add":
        uses = None if args.uses.lower() == "unlimited" else int(args.uses) if args.uses.isdigit() else -1
        c = coupons.create(args.code, args.promotion, max_uses=uses, per_customer_limit=args.per_customer,
                           min_spend_paisa=to_paisa(args.min_spend), expires_at=_when(args.expires))
        print(f"coupon {c.code} for promotion {args.promotion}: {c.max_uses or 'unlimited'} use(s)")
    elif args.action == "list":
        for c in Coupon.select().order_by(Coupon.code):
            print(f"{c.code:20} promo {c.promotion_id:4} used {c.uses}/{c.max_uses or '∞'}"
                  + (f" expires {pk_time(c.expires_at)}" if c.expires_at else ""))
    elif args.action == "check":
        c = coupons.check(args.code, None, to_paisa(args.bill))
        print(f"coupon {c.code} is valid: {c.promotion.name}")
    return 0


def _commission(args) -> int:
    if args.action == "plan":
        commission.set_plan(args.name, rate_bp=_percent_bp(args.percent), category=args.category)
        print(f"commission {args.percent}% for {args.category or 'every category'}")
    elif args.action == "slabs":
        try:
            slabs = [[to_paisa(a), _percent_bp(b)] for a, b in (pair.split(":") for pair in args.slabs.split(","))]
        except ValueError:
            raise InvalidInput("slabs are FROM_RUPEES:PERCENT pairs, e.g. 0:0,50000:1") from None
        commission.set_plan(args.name, slabs=slabs)
        print(f"commission slabs {args.slabs}")
    elif args.action == "report":
        start, end = _when(args.start), _when(args.end)
        end += dt.timedelta(days=1)
        rows = commission.report(start, end)
        print(f"{'badge':10} {'name':20} {'lines':>5} {'net sales':>14} {'commission':>12} {'slab':>10} {'total':>12}")
        for r in rows:
            print(f"{r.code:10} {r.name:20} {r.lines:5} {fmt(r.base_paisa):>14} {fmt(r.line_commission_paisa):>12} "
                  f"{fmt(r.slab_commission_paisa):>10} {fmt(r.total_paisa):>12}")
        if not rows:
            print("no attributed sales in the period")
    return 0
