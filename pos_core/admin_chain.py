"""`pos-admin hq ...` (on the head office's database) and `pos-admin branch ...` (both ends).

    pos-admin hq init                 make this PostgreSQL database the chain's head office
    pos-admin hq status               every branch: last contact, lag in rows and seconds, parked rows
    pos-admin hq parked               rows the head office could not apply, with the reason
    pos-admin hq overdrafts           store credit or points spent twice at two branches offline (exit 1 while any)
    pos-admin hq overdrafts --settled the settled ones: who, how, the note, the documents
    pos-admin hq overdrafts settle PHONE --how writeoff|charge --note TEXT --staff CODE [--what credit|points]
    pos-admin hq claims ORDER         which branch holds each line of an online order
    pos-admin hq release ORDER [LINE...] [--force]   give back a claim (a manager's override;
                                      --force when the lines are in a dispatched shipment)
    pos-admin branch add CODE [NAME]  (head office) the branch's login; its password is printed once
    pos-admin branch join --hq-url URL --branch CODE [--password-file F]   (branch box)
    pos-admin branch recover [--force]   (branch box) restored from an older backup: bring back
                                      what the head office has and this database lost, push on
"""
from __future__ import annotations

import sys
from pathlib import Path

from . import chain, config as configmod, hq, migrations, overdrafts
from .errors import InvalidInput

COMMANDS = ("hq", "branch")


def add_commands(sub) -> None:
    h = sub.add_parser("hq", help="the chain's head office").add_subparsers(dest="action", required=True)
    h.add_parser("init", help="make this PostgreSQL database the head office (schema, roles, row security)")
    h.add_parser("status", help="every branch: last contact, lag in rows and seconds, parked rows")
    o = h.add_parser("overdrafts", help="store credit or points spent twice at two branches offline: who, how "
                                        "much, and each branch's document (exit 1 while any)")
    o.add_argument("--settled", action="store_true", help="list the settled overdrafts instead")
    os_ = o.add_subparsers(dest="overdraft_action")
    st = os_.add_parser("settle", help="a manager settles a customer's overdraft with an entry of its own")
    st.add_argument("phone", help="the customer's mobile number, e.g. 0300 1234567")
    st.add_argument("--how", required=True, choices=overdrafts.HOWS,
                    help="writeoff: the shop bears it, the balance returns to zero; "
                         "charge: the customer owes it, the balance stays below zero")
    st.add_argument("--note", required=True, help="what was agreed with the customer")
    st.add_argument("--staff", required=True, help="your staff code (a manager; your PIN is asked for)")
    st.add_argument("--what", choices=overdrafts.WHATS, help="credit or points, when both are overdrawn")
    c = h.add_parser("claims", help="which branch holds each line of an online order")
    c.add_argument("order", help="the order's Shopify id (gid://shopify/Order/...)")
    r = h.add_parser("release", help="give back a branch's claim on an order's lines (all, or those named)")
    r.add_argument("order")
    r.add_argument("lines", nargs="*")
    r.add_argument("--force", action="store_true",
                   help="release lines even though they are in a shipment already dispatched")
    p = h.add_parser("parked", help="rows the head office could not apply, with the reason")
    p.add_argument("--limit", type=int, default=100)
    b = sub.add_parser("branch", help="branches of a chain").add_subparsers(dest="action", required=True)
    a = b.add_parser("add", help="(head office) create a branch's login; prints its password once")
    a.add_argument("code")
    a.add_argument("name", nargs="?", default="")
    j = b.add_parser("join", help="(branch box) point this database at the head office, with its history")
    j.add_argument("--hq-url", required=True, help="postgresql://ROLE@HOST:PORT/DB (no password)")
    j.add_argument("--branch", required=True, help="this box's branch code")
    j.add_argument("--password-file", help="where the branch's password is (mode 0600); "
                                           "without it the password is read from standard input")
    rc = b.add_parser("recover", help="(branch box) after a restore from an older backup: bring back from the "
                                      "head office what this database lost, renumber, rebuild, push on")
    rc.add_argument("--force", action="store_true", help="run even when no rewind is detected")


def run(args, cfg) -> int:
    if args.command == "hq":
        if args.action == "init":
            hq.init()
            print(f"head office ready in database {hq._dbname()} (schema {migrations.LATEST}); "
                  f"add branches with `pos-admin branch add CODE`")
            return 0
        _need_hq()
        if args.action == "status":
            rows = hq.status()
            if not rows:
                print("no branches yet (`pos-admin branch add CODE`)")
            for r in rows:
                contact = r["last_contact_at"].strftime("%Y-%m-%d %H:%M:%S UTC") if r["last_contact_at"] else "never"
                print(f"{r['branch']:8} last contact {contact}; branch said {r['pending_rows']} row(s) "
                      f"({r['lag_seconds']:.0f} s) not yet here; {r['waiting']} waiting, "
                      f"{r['parked']} parked, {r['applied']} applied; schema {r['schema'] or '?'}")
                if r["last_error"]:
                    print(f"{'':8} the branch reports: {r['last_error']}")
            return 0
        if args.action == "claims":
            held = hq.claims(args.order)
            if not held:
                print(f"no branch holds any line of {args.order}")
            for line, branch in held.items():
                print(f"{line:40} {branch}")
            return 0
        if args.action == "release":
            sent = hq.dispatched_in(args.order, args.lines or None)
            for r in sent:
                print(f"warning: {', '.join(r['lines'])} in {r['branch']}'s shipment {r['shipment'][:8]} "
                      f"({r['status']}): the goods have left {r['branch']}; if another branch claims them, "
                      f"{r['branch']} is refused Delivered and Returned", file=sys.stderr)
            if sent and not args.force:
                print("nothing released: give --force to release them anyway", file=sys.stderr)
                return 1
            gone = hq.release_claim(args.order, args.lines or None)
            if not gone:
                print(f"no claim on {args.order}{' ' + ', '.join(args.lines) if args.lines else ''} to give back")
                return 1
            for line, branch in gone.items():
                print(f"{line}: {branch}'s claim given back")
            return 0
        if args.action == "overdrafts":
            return _overdrafts(args)
        if args.action == "parked":
            rows = hq.parked(args.limit)
            if not rows:
                print("no parked rows")
            for r in rows:
                print(f"#{r['id']} {r['branch']} {r['table']} {r['key']}: {r['reason']}")
            return 1 if rows else 0
    if args.action == "add":
        cred = hq.add_branch(args.code, args.name)
        print(f"branch {cred.branch}: role {cred.role}")
        print(f"password (shown once; put it in the branch's hq.password_file, mode 0600): {cred.password}")
        return 0
    if args.action == "join":
        return _join(args, cfg)
    if args.action == "recover":
        # It talks to the head office, which pos_core never does: the agent's package runs it.
        import subprocess
        from . import db
        db.close()
        cmd = [sys.executable, "-m", "sync_agent", "--config", cfg.path, "hq-recover"]
        return subprocess.call(cmd + (["--force"] if args.force else []))
    return 2


def _overdrafts(args) -> int:
    amount = overdrafts.amount_text
    if args.overdraft_action == "settle":
        from .admin_stock import _staff_code
        person = _staff_code(args.staff)
        r = overdrafts.settle(args.phone, args.how, args.note, person.id, what=args.what)
        if not r["done"]:
            print(f"{r['phone']}: {r['reason']}")
            return 0
        owed = amount(r["what"], r["owed"]) + (" of store credit" if r["what"] == "credit" else "")
        after = amount(r["what"], r["balance_after"])
        if r["how"] == "writeoff":
            print(f"{r['phone']}: {owed} written off; balance now {after}")
        else:
            print(f"{r['phone']}: {owed} charged to the customer; her balance stays {after} "
                  f"until what she earns (or pays in) brings it back")
        return 0
    if args.settled:
        rows = overdrafts.history()
        if not rows:
            print("no overdraft settled yet")
        for r in rows:
            how = "written off" if r["how"] == "writeoff" else "charged to the customer"
            print(f"{r['at']:%Y-%m-%d %H:%M} UTC {r['customer']} {_what(r['what'])} {amount(r['what'], r['balance'])}: "
                  f"{how} by {r['by']}: {r['note']}")
            for d in r.get("documents") or []:
                print(f"    {d['branch']:8} {d['doc_ref']:24} {amount(r['what'], d['delta'])}")
        return 0
    rows = hq.overdrafts()
    if not rows:
        print("no store credit or points overdrawn")
        return 0
    for r in rows:
        print(f"{r['phone']} {r['name'] or '(no name)'}: {_what(r['what'])} {amount(r['what'], r['balance'])} "
              f"(overdrawn; settle with the customer: `pos-admin hq overdrafts settle {r['phone']} ...`)")
        for d in r["documents"]:
            print(f"    {d['branch']:8} {d['doc_ref']:24} {amount(r['what'], d['delta'])}  "
                  f"{d['at']:%Y-%m-%d %H:%M} UTC")
    return 1


def _what(what: str) -> str:
    return "store credit" if what == "credit" else "loyalty points"


def _need_hq() -> None:
    if not hq.is_hq():
        raise InvalidInput("this database is not a head office (run `pos-admin hq init` on its PostgreSQL)")


def _join(args, cfg) -> int:
    from .models import Branch
    code = args.branch.upper()
    migrations.migrate()
    if "@" in args.hq_url and ":" in args.hq_url.split("://", 1)[-1].split("@", 1)[0]:
        raise InvalidInput("--hq-url must not hold the password; give it in --password-file or on standard input")
    if not args.hq_url.startswith(("postgresql://", "postgres://")):
        raise InvalidInput("--hq-url is the head office's postgresql://ROLE@HOST:PORT/DB")
    cfg_path = Path(cfg.path)
    if args.password_file:
        secret_file = Path(args.password_file)
        configmod.read_secret("", str(secret_file), cfg.path, "hq.password_file")  # exists, 0600
    else:
        password = sys.stdin.readline().strip()
        if not password:
            raise InvalidInput("no password on standard input (or give --password-file)")
        secret_file = cfg_path.parent / "hq.secret"
        configmod.write_private(secret_file, password + "\n")
    if Branch.get_or_none(Branch.code == code) is None:
        from . import branches
        branches.create_branch(code, code)
    text = cfg_path.read_text()
    if "[hq]" not in text:
        with open(cfg_path, "a") as f:
            f.write(f'\n[hq]\nrole = "branch"\nurl = "{args.hq_url}"\nbranch = "{code}"\n'
                    f'password_file = "{secret_file.resolve()}"\n')
    first = not chain.capture_enabled()
    chain.enable_capture()
    chain.set_state("role", "branch")
    chain.set_state("branch", code)
    logged = chain.backfill() if first else 0
    print(f"branch {code} joined: {logged} existing row(s) will go to the head office; "
          f"restart the agent (`systemctl restart pos-agent`) to start the link")
    return 0
