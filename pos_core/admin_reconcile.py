"""`pos-admin reconcile`: the latest reconciliation reports (the agent makes them) and a manager
accepting a correction. At the head office of a chain there may be no till: this is where a
shared location's corrections are accepted, one branch's part at a time (issue 14).

    pos-admin reconcile show [LOCATION]
    pos-admin reconcile accept RUN SKU [--branch CODE | --no-branch] --staff CODE
"""
from __future__ import annotations

from . import reconcile
from .errors import NotFound
from .models import Branch, ReconciliationRun

COMMANDS = ("reconcile",)


def add_commands(sub) -> None:
    r = sub.add_parser("reconcile", help="Shopify vs the ledger: the latest reports, accept a correction")
    actions = r.add_subparsers(dest="action", required=True)
    s = actions.add_parser("show", help="the latest report of each mapped location (or of one)")
    s.add_argument("location", nargs="?", help="a Shopify location GID (default: every mapped one)")
    a = actions.add_parser("accept", help="queue a correction of a row's unexplained part")
    a.add_argument("run", help="the report's uid (see `show`)")
    a.add_argument("sku")
    who = a.add_mutually_exclusive_group()
    who.add_argument("--branch", help="a shared location: the branch whose part is corrected")
    who.add_argument("--no-branch", action="store_true", help="a shared location: the part changed directly in Shopify")
    a.add_argument("--staff", required=True, help="your staff code (your PIN is asked for)")


def run(args, cfg) -> int:
    if args.action == "show":
        locations = [args.location] if args.location else sorted(
            {b.shopify_location_id for b in Branch.select() if b.shopify_location_id})
        for loc in locations:
            _show(loc)
        return 0
    from .admin_stock import _staff
    person = _staff(args)
    run_ = ReconciliationRun.get_or_none(ReconciliationRun.uid == args.run)
    if run_ is None:
        raise NotFound(f"no reconciliation report {args.run}")
    row = next((d for d in run_.differences if d["sku"] == args.sku), None)
    if row is None:
        raise NotFound(f"{args.sku} is not on report {args.run}")
    branch = "" if args.no_branch else args.branch
    job = reconcile.accept(run_.uid, row["inventoryItemId"], person.id, branch)
    p = job.payload
    change = f"{p['delta']:+d}" if "delta" in p else f"{p['changeFromQuantity']} -> {p['quantity']}"
    print(f"{args.sku}: correction queued ({change} in Shopify"
          + (f", for {p['branch'] or 'no branch'}" if "branches" in row else "") + f"), job {job.uid}")
    return 0


def _show(location: str) -> None:
    r = reconcile.latest(location)
    codes = ", ".join(b.code for b in Branch.select().where(Branch.shopify_location_id == location).order_by(Branch.code))
    if r is None:
        print(f"{location} ({codes}): no report yet")
        return
    print(f"{location} ({codes}): report {r.uid}, {r.items_compared} items, {len(r.differences)} differ")
    for d in r.differences:
        print(f"  {d['sku']:16} shopify {d['shopify_on_hand']:6} ledger {d['ledger_on_hand']:6} "
              f"unexplained {d['unexplained']:+d}{'  accepted' if d['accepted'] else ''}")
        for b in d.get("branches", []):
            state = "  accepted" if b["accepted"] else ""
            explained = f" ({'; '.join(b['explained'])})" if b["explained"] else ""
            print(f"    {b['branch']:8} ledger {b['ledger_on_hand']:6} unexplained {b['unexplained']:+d}{state}{explained}")
        if d.get("unattributed"):
            print(f"    {'no branch':8} changed directly in Shopify {d['unattributed']:+d}"
                  f"{'  accepted' if d.get('unattributed_accepted') else ''}")
