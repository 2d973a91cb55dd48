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
    "manage_staff": "admin",
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

def _managed_here() -> None:
    from . import chain
    if chain.get_state("role") == "branch":
        raise InvalidInput("staff are managed at the head office (run `pos-admin staff ...` there); "
                           "this branch gets the change on its next sync")


def _by_code(code: str) -> Staff:
    s = Staff.get_or_none(Staff.code == code)
    if s is None:
        raise NotFound(f"no staff member with code {code!r}")
    return s


def add(code: str, name: str, role: str, pin: str, branch_codes: str = "") -> Staff:
    from .db import write
    from .models import Branch
    _managed_here()
    code, name = (code or "").strip().lower(), (name or "").strip()
    if not code or not code.replace("-", "").replace("_", "").isalnum() or len(code) > 32:
        raise InvalidInput(f"a staff code is letters and digits, e.g. ayesha (got {code!r})")
    if not name:
        raise InvalidInput("a staff member needs a name")
    check_pin_format(pin)
    codes = [c.strip().upper() for c in (branch_codes or "").split(",") if c.strip()]
    known = {b.code for b in Branch.select(Branch.code)}
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise InvalidInput(f"no branch {', '.join(unknown)}")
    with write():
        if Staff.get_or_none(Staff.code == code) is not None:
            raise InvalidInput(f"staff code {code!r} is taken")
        return create(code, name, role, pin, ",".join(codes))


def set_active(code: str, active: bool) -> Staff:
    from .db import write
    _managed_here()
    with write():
        s = _by_code(code)
        s.active = active
        s.save()
    return s


def reset_pin(code: str, pin: str) -> Staff:
    from .db import write
    _managed_here()
    check_pin_format(pin)
    with write():
        s = _by_code(code)
        s.pin_hash = hash_pin(pin)
        s.save()
    return s
