"""`pos-admin staff ...`: people, roles, PINs and branch permissions. In a chain they are managed
once, at the head office, and reach every branch on its next sync (a branch box refuses changes).

    pos-admin staff list
    pos-admin staff add CODE NAME ROLE [--branches LHR1,KHI1]   the PIN is asked for ($POS_NEW_PIN)
    pos-admin staff disable CODE      cannot sign in anywhere once each branch has synced
    pos-admin staff enable CODE
    pos-admin staff reset-pin CODE    the new PIN is asked for ($POS_NEW_PIN)
    pos-admin staff role CODE ROLE
    pos-admin staff branches CODE [LHR1,KHI1]   none: every branch

Every change is audited (`staff.*` events, with the box's OS user); the back office's staff screen
makes the same changes through the same functions (pos_core.staff).
"""
from __future__ import annotations

import getpass
import os
import sys

from . import staff as staffmod
from .errors import InvalidInput
from .models import ROLES, Staff

COMMANDS = ("staff",)


def add_commands(sub) -> None:
    s = sub.add_parser("staff", help="people, roles, PINs (in a chain: at the head office)").add_subparsers(
        dest="action", required=True)
    s.add_parser("list", help="every staff member")
    a = s.add_parser("add", help="a new staff member; the PIN is asked for ($POS_NEW_PIN)")
    a.add_argument("code")
    a.add_argument("name")
    a.add_argument("role", choices=ROLES)
    a.add_argument("--branches", default="", help="comma separated branch codes (default: every branch)")
    for verb, text in (("disable", "can no longer sign in"), ("enable", "may sign in again"),
                       ("reset-pin", "a new PIN ($POS_NEW_PIN)")):
        p = s.add_parser(verb, help=text)
        p.add_argument("code")
    p = s.add_parser("role", help="change a staff member's role")
    p.add_argument("code")
    p.add_argument("role", choices=ROLES)
    p = s.add_parser("branches", help="the branches a staff member works at (none: every branch)")
    p.add_argument("code")
    p.add_argument("branches", nargs="?", default="")


def _new_pin() -> str:
    pin = os.environ.get("POS_NEW_PIN")
    if pin is not None:
        return pin
    if not sys.stdin.isatty():
        raise InvalidInput("no terminal to ask the new PIN: set $POS_NEW_PIN")
    pin = getpass.getpass("new PIN: ")
    if getpass.getpass("the same PIN again: ") != pin:
        raise InvalidInput("the two PINs differ")
    return pin


def run(args, cfg) -> int:
    if args.action == "list":
        for s in Staff.select().order_by(Staff.code):
            print(f"{s.code:12} {s.name:24} {s.role:10} {s.branch_codes or 'every branch':16} "
                  f"{'active' if s.active else 'disabled'}")
        return 0
    if args.action == "add":
        staffmod.managed_here()      # before asking for a PIN that would be refused
        s = staffmod.add(args.code, args.name, args.role, _new_pin(), args.branches)
        print(f"added {s.code} ({s.name}, {s.role}, {s.branch_codes or 'every branch'})")
    elif args.action in ("disable", "enable"):
        s = staffmod.set_active(args.code, args.action == "enable")
        print(f"{s.code} {'may sign in again' if s.active else 'can no longer sign in'} "
              "(at each branch once it has synced)")
    elif args.action == "reset-pin":
        staffmod.managed_here()
        s = staffmod.reset_pin(args.code, _new_pin())
        print(f"new PIN set for {s.code} (at each branch once it has synced)")
    elif args.action == "role":
        s = staffmod.set_role(args.code, args.role)
        print(f"{s.code} is now a {s.role} (at each branch once it has synced)")
    elif args.action == "branches":
        s = staffmod.set_branches(args.code, args.branches)
        print(f"{s.code} works at {s.branch_codes or 'every branch'} (at each branch once it has synced)")
    return 0
