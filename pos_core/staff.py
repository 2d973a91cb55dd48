"""Staff, PINs and what each role may do.

PINs are stored as scrypt hashes with a per-person salt. Four to eight digits is what a counter
can take; scrypt keeps a stolen database from giving them away quickly.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from decimal import Decimal

from .errors import InvalidInput, NotFound, PermissionDenied
from .models import ROLES, Staff

_N, _R, _P = 2 ** 14, 8, 1

RANK = {role: i for i, role in enumerate(ROLES)}

# The most discount (percent of the line or order) a role may give without someone above it.
DEFAULT_DISCOUNT_LIMITS = {"cashier": Decimal(10), "supervisor": Decimal(25),
                           "manager": Decimal(100), "admin": Decimal(100)}

# What each action needs at the least.
NEEDS = {
    "sell": "cashier",
    "refund": "supervisor",
    "exchange": "supervisor",
    "price_override": "supervisor",
    "cash_out": "supervisor",
    "retry_sync": "supervisor",
    "stock_fix": "manager",
    "settle_overdraft": "manager",
    "manage_staff": "manager",   # and never above their own role (may_manage)
}


def hash_pin(pin: str) -> str:
    check_pin_format(pin)
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    got = hashlib.scrypt(pin.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                         dklen=len(digest) // 2)
    return hmac.compare_digest(got.hex(), digest)


def check_pin_format(pin: str) -> None:
    if not (isinstance(pin, str) and pin.isdigit() and 4 <= len(pin) <= 8):
        raise InvalidInput("a PIN is 4 to 8 digits")


def create(code: str, name: str, role: str, pin: str, branch_codes: str = "") -> Staff:
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    return Staff.create(code=code, name=name, role=role, pin_hash=hash_pin(pin), branch_codes=branch_codes)


def get(staff_id: int) -> Staff:
    s = Staff.get_or_none((Staff.id == staff_id) & (Staff.active == True))  # noqa: E712
    if s is None:
        raise NotFound(f"no active staff member with id {staff_id}")
    return s


def authenticate(pin: str, code: str | None = None) -> Staff | None:
    """The active staff member with this PIN (and code, when the counter asks for one)."""
    query = Staff.select().where(Staff.active == True)  # noqa: E712
    if code:
        query = query.where(Staff.code == code)
    for s in query:
        if verify_pin(pin, s.pin_hash):
            return s
    return None


def may(staff: Staff, action: str) -> bool:
    return RANK[staff.role] >= RANK[NEEDS[action]]


def require(staff: Staff, action: str) -> None:
    if not may(staff, action):
        raise PermissionDenied(f"{staff.name} ({staff.role}) may not {action.replace('_', ' ')}; "
                               f"a {NEEDS[action]} must approve")


def discount_limit(staff: Staff, limits: dict[str, Decimal] | None = None) -> Decimal:
    return (limits or {}).get(staff.role, DEFAULT_DISCOUNT_LIMITS[staff.role])


def works_at(staff: Staff, branch_code: str) -> bool:
    return not staff.branch_codes or branch_code in staff.branch_codes.split(",")


# --- managed once, at the head office (issue 14) --------------------------------------------------
# Staff are the head office's rows in a chain (`down`): changed there, they reach every branch on
# its next pull, and a branch offline for days keeps its last copy. A branch box refuses to change
# them itself, since its change would never travel and the next pull would undo it.
#
# `pos-admin staff` (by=None: whoever runs it on the box) and the back office's staff screen (by the
# manager signed in) make every change through these functions, so both are audited the same way
# (`staff.add`, `staff.disable`, ...; never a PIN). From the screen a manager may not act on, or
# give, a role above their own, nor reach past the branches they are tied to.

def managed_here() -> None:
    from . import chain
    if chain.get_state("role") == "branch":
        raise InvalidInput("staff are managed at the head office (run `pos-admin staff ...` there); "
                           "this branch gets the change on its next sync")


_managed_here = managed_here     # (the name pos-admin used first)


def _by_code(code: str) -> Staff:
    s = Staff.get_or_none(Staff.code == code)
    if s is None:
        raise NotFound(f"no staff member with code {code!r}")
    return s


def _branch_list(branch_codes: str) -> str:
    from .models import Branch
    codes = [c.strip().upper() for c in (branch_codes or "").split(",") if c.strip()]
    known = {b.code for b in Branch.select(Branch.code)}
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise InvalidInput(f"no branch {', '.join(unknown)}")
    return ",".join(dict.fromkeys(codes))


def may_manage(actor: Staff | None, role: str, branch_codes: str) -> None:
    """Whether `actor` may act on (or create) someone with this role and these branches. None:
    `pos-admin` on the box itself, which may do anything."""
    if actor is None:
        return
    if RANK[actor.role] < RANK[NEEDS["manage_staff"]]:
        raise PermissionDenied(f"{actor.name} ({actor.role}) may not manage staff; a manager must")
    if RANK[role] > RANK[actor.role]:
        raise PermissionDenied(f"{actor.name} ({actor.role}) may not manage or give the role {role}")
    if actor.branch_codes:
        mine = set(actor.branch_codes.split(","))
        theirs = set(branch_codes.split(",")) if branch_codes else set()
        if not theirs or not theirs <= mine:
            raise PermissionDenied(f"{actor.name} manages staff of {', '.join(sorted(mine))} only "
                                   f"(this is {branch_codes or 'every branch'})")


def _audit(action: str, by: Staff | None, s: Staff, **detail) -> None:
    from . import audit
    if by is None:
        import getpass
        try:
            detail["os_user"] = getpass.getuser()
        except (KeyError, OSError):   # no such user in the container's passwd
            detail["os_user"] = ""
    audit.log(action, by.id if by else None, s.code, via="pos-office" if by else "pos-admin", **detail)


def new_pin() -> str:
    """A random six-digit PIN no active person has (sign-in finds a person by PIN alone)."""
    for _ in range(20):
        pin = f"{secrets.randbelow(10 ** 6):06d}"
        if authenticate(pin) is None:
            return pin
    raise InvalidInput("could not find a free PIN; try again")


def add(code: str, name: str, role: str, pin: str, branch_codes: str = "", by: Staff | None = None) -> Staff:
    from .db import write
    managed_here()
    code, name = (code or "").strip().lower(), (name or "").strip()
    if not code or not code.replace("-", "").replace("_", "").isalnum() or len(code) > 32:
        raise InvalidInput(f"a staff code is letters and digits, e.g. ayesha (got {code!r})")
    if not name:
        raise InvalidInput("a staff member needs a name")
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    check_pin_format(pin)
    codes = _branch_list(branch_codes)
    may_manage(by, role, codes)
    with write():
        if Staff.get_or_none(Staff.code == code) is not None:
            raise InvalidInput(f"staff code {code!r} is taken")
        s = create(code, name, role, pin, codes)
        _audit("staff.add", by, s, role=role, branches=codes)
    return s


def _change(code: str, by: Staff | None, action: str, apply, role: str | None = None,
            branches: str | None = None, **detail) -> Staff:
    """One audited change of a person, checked against who makes it (before and after)."""
    from .db import write
    managed_here()
    with write():
        s = _by_code(code)
        may_manage(by, s.role, s.branch_codes)
        may_manage(by, role or s.role, s.branch_codes if branches is None else branches)
        if by is not None and by.id == s.id and action in ("staff.disable", "staff.role", "staff.branches"):
            raise PermissionDenied("you cannot change your own access; another manager must")
        apply(s)
        s.save()
        _audit(action, by, s, **detail)
    return s


def set_active(code: str, active: bool, by: Staff | None = None) -> Staff:
    return _change(code, by, "staff.enable" if active else "staff.disable",
                   lambda s: setattr(s, "active", active))


def reset_pin(code: str, pin: str, by: Staff | None = None) -> Staff:
    check_pin_format(pin)
    hashed = hash_pin(pin)
    return _change(code, by, "staff.reset_pin", lambda s: setattr(s, "pin_hash", hashed))


def set_role(code: str, role: str, by: Staff | None = None) -> Staff:
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    return _change(code, by, "staff.role", lambda s: setattr(s, "role", role), role=role, to=role)


def set_branches(code: str, branch_codes: str, by: Staff | None = None) -> Staff:
    codes = _branch_list(branch_codes)
    return _change(code, by, "staff.branches", lambda s: setattr(s, "branch_codes", codes), branches=codes,
                   to=codes or "every branch")
