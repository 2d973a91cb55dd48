"""Store credit and loyalty points spent twice (issue 14): found at the head office, settled by a manager.

A till checks the balance it has. Two branches that each see the same credit (or points) while
one has not heard of the other's spend both complete their sales; at the head office both
entries apply as made and the customer's chain-wide balance goes below zero. Nothing is clipped:
the overdraft is listed with every document that spent it, and a manager settles it with an
append-only entry of its own (replicated to every branch like any other entry):

* `writeoff`: the shop bears the loss. An adjustment entry of the overdrawn amount brings the
  balance back to zero.
* `charge`: the customer owes it. The balance stays below zero (that is the debt: the till will not
  let her spend credit or points until what she earns brings it back), and a zero entry records
  that a manager has taken it up with her, so it leaves the open list. If she never pays, it can
  still be written off later.

An overdraft is named by the last spend that reached this site before the manager looked; the
settlement's event key is made of it and of how it was settled. So settling twice, or two managers at once, writes one
entry; paying a charged overdraft back bit by bit leaves it settled; a spend that arrives later
from a branch that was offline makes it a new overdraft, listed again with every document. Each
settlement is audited (who, how, the note, the documents) and stays visible in `history()`.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import audit, chain, db, staff as staffmod
from .customers import normalise_phone
from .errors import InvalidInput, NotFound
from .models import CreditEntry, Customer, PointsBalance, PointsEntry, Staff, utcnow

HOWS = ("writeoff", "charge")
WHATS = ("credit", "points")
ACTION = "overdraft.settled"


@dataclass(frozen=True)
class _Kind:
    model: type
    delta: str        # the entry's amount field
    table: str        # its table, as the inbox names it


KINDS = {"credit": _Kind(CreditEntry, "delta_paisa", "credit_entry"),
         "points": _Kind(PointsEntry, "delta", "points_entry")}


def _balance(what: str, customer: Customer) -> int:
    if what == "credit":
        return customer.store_credit_paisa
    row = PointsBalance.get_or_none(PointsBalance.customer == customer.id)
    return row.points if row else 0


def _below_zero(what: str):
    if what == "credit":
        return Customer.select().where(Customer.store_credit_paisa < 0)
    return (Customer.select().join(PointsBalance, on=(PointsBalance.customer == Customer.id))
            .where(PointsBalance.points < 0))


def _entries(what: str, customer_id: int) -> list:
    m = KINDS[what].model
    return list(m.select().where(m.customer == customer_id).order_by(m.created_at, m.id))


def _settle_key(what: str, last_spend_key: str, how: str) -> str:
    return f"settle:{what}:{last_spend_key}:{how}"


def _analyse(what: str, customer: Customer) -> dict | None:
    """The customer's current overdraft of `what`, or None when the balance is not below zero."""
    balance = _balance(what, customer)
    if balance >= 0:
        return None
    k = KINDS[what]
    entries = _entries(what, customer.id)
    running, start = 0, None   # start: where the balance last went (and stayed) below zero
    for i, e in enumerate(entries):
        running += getattr(e, k.delta)
        if running < 0 and start is None:
            start = i
        elif running >= 0:
            start = None
    if start is None:        # the projection says below zero but the entries do not: show it anyway
        start = len(entries) - 1
    last_credit = max((i for i in range(start) if getattr(entries[i], k.delta) > 0), default=-1)
    spends = [e for e in entries[last_credit + 1:] if getattr(e, k.delta) < 0]
    keys = [chain.key_text({"event_key": e.event_key}) for e in spends]
    where = {}
    if keys and db.is_postgres() and db.database.table_exists("hq_inbox"):
        where = dict(db.database.execute_sql(
            "SELECT key, branch_code FROM hq_inbox WHERE table_name = %s AND key = ANY(%s)",
            (k.table, keys)).fetchall())
    # The overdraft as the manager sees it is named by the last spend recorded here (by arrival):
    # paying some back leaves it the same overdraft; a spend that arrives later (a branch that was
    # offline) makes it a new one, listed again. Two managers, or one twice, name the same one.
    latest = max((e for e in entries if getattr(e, k.delta) < 0), key=lambda e: e.id, default=None)
    keys_here = {e.event_key for e in entries}
    named = {how: _settle_key(what, latest.event_key if latest else "none", how) for how in HOWS}
    return {"what": what, "customer_id": customer.id, "phone": customer.phone, "name": customer.name,
            "balance": balance, "keys": named, "settled": [h for h in HOWS if named[h] in keys_here],
            "documents": [{"branch": where.get(kt, "head office"), "doc_ref": e.doc_ref,
                           "delta": getattr(e, k.delta), "at": e.created_at, "event_key": e.event_key}
                          for e, kt in zip(spends, keys)]}


def open_list(what: str | None = None) -> list[dict]:
    """Every overdraft not yet settled, credit first then points, by phone. Each names the spends
    since the customer's last credit before it went below zero, with the branch that made each
    (from the head office's inbox) and its document number."""
    out = []
    for w in ([what] if what else WHATS):
        for c in _below_zero(w).order_by(Customer.phone):
            o = _analyse(w, c)
            if o is not None and not o["settled"]:   # charged or written off: off the list
                out.append(o)
    return out


def settle(phone: str, how: str, note: str, staff_id: int, what: str | None = None) -> dict:
    """Record a manager's settlement of a customer's open overdraft. Returns {"done": True, ...}
    when this call wrote the entry, {"done": False, "reason": ...} when it had been settled
    already (nothing more is written). Bad input raises with the reason."""
    if how not in HOWS:
        raise InvalidInput(f"--how is one of {', '.join(HOWS)} (got {how!r})")
    if what is not None and what not in WHATS:
        raise InvalidInput(f"--what is one of {', '.join(WHATS)} (got {what!r})")
    note = (note or "").strip()
    if not note:
        raise InvalidInput("a note is needed: what was agreed with the customer")
    if len(note) > 500:
        raise InvalidInput("a note is limited to 500 characters")
    manager = Staff.get_or_none((Staff.id == staff_id) & (Staff.active == True))  # noqa: E712
    if manager is None:
        raise NotFound(f"no active staff member with id {staff_id}")
    staffmod.require(manager, "settle_overdraft")
    number = normalise_phone(phone)
    with db.write():
        customer = Customer.get_or_none(Customer.phone == number)
        if customer is None:
            raise NotFound(f"no customer with phone {number}")
        found = [o for o in (_analyse(w, customer) for w in ([what] if what else WHATS)) if o]
        if not found:
            return _nothing_open(customer, what)
        # Settled already: written off, or charged and charged again. A charged overdraft may still
        # be written off later (she never paid): a decision of its own, with its own key.
        possible = [o for o in found if "writeoff" not in o["settled"] and how not in o["settled"]]
        if not possible:
            o = found[0]
            return {"done": False, "what": o["what"], "phone": number,
                    "reason": f"this overdraft was settled already ({_describe(o['keys'][o['settled'][0]])}); "
                              "nothing more done"}
        if len(possible) > 1:
            raise InvalidInput(f"{number} has overdrawn both store credit and points: say which with --what")
        o = possible[0]
        key = o["keys"][how]
        delta = -o["balance"] if how == "writeoff" else 0
        doc_ref = "overdraft written off" if how == "writeoff" else "overdraft charged to the customer"
        now = utcnow()
        if o["what"] == "credit":
            from .customers import add_credit
            inserted = add_credit(customer.id, delta, doc_ref, key, staff_id=manager.id)
        else:
            from .loyalty import move
            inserted = move(customer.id, delta, "settle", doc_ref, key, staff_id=manager.id, now=now,
                            allow_zero=True)
        if not inserted:   # another manager's settlement of the same overdraft got there first
            return {"done": False, "what": o["what"], "phone": number,
                    "reason": f"this overdraft was settled already ({_describe(key)}); nothing more done"}
        audit.log(ACTION, manager.id, key, customer=number, what=o["what"], how=how, note=note,
                  balance=o["balance"], entry=delta,
                  documents=[{"branch": d["branch"], "doc_ref": d["doc_ref"], "delta": d["delta"]}
                             for d in o["documents"]])
    return {"done": True, "what": o["what"], "phone": number, "how": how, "owed": -o["balance"],
            "entry": delta, "key": key,
            "balance_after": _balance(o["what"], Customer.get_by_id(customer.id))}


def _nothing_open(customer: Customer, what: str | None) -> dict:
    """No open overdraft: say "settled already" when the last entry is a settlement, else refuse."""
    for w in ([what] if what else WHATS):
        entries = _entries(w, customer.id)
        if entries and entries[-1].event_key.startswith(f"settle:{w}:"):
            return {"done": False, "what": w, "phone": customer.phone,
                    "reason": f"this overdraft was settled already ({_describe(entries[-1].event_key)}); "
                              "nothing more done"}
    shown = "; ".join(f"{w} {amount_text(w, _balance(w, customer))}" for w in ([what] if what else WHATS))
    raise InvalidInput(f"{customer.phone} has no overdraft to settle ({shown})")


def amount_text(what: str, value: int) -> str:
    if what == "credit":
        from decimal import Decimal
        return f"Rs {Decimal(value) / 100:,.2f}"
    return f"{value} points"


def _describe(key: str) -> str:
    from .models import AuditEvent
    a = (AuditEvent.select(AuditEvent, Staff).join(Staff, on=(AuditEvent.staff == Staff.id))
         .where((AuditEvent.action == ACTION) & (AuditEvent.doc_ref == key)).first())
    if a is None:
        return key
    how = "written off" if a.detail.get("how") == "writeoff" else "charged to the customer"
    return f"{how} by {a.staff.name} on {a.created_at:%Y-%m-%d %H:%M} UTC"


def history(limit: int = 100) -> list[dict]:
    """Settled overdrafts, newest first: who, how, the note and the documents of the time."""
    from .models import AuditEvent
    rows = (AuditEvent.select(AuditEvent, Staff).join(Staff, on=(AuditEvent.staff == Staff.id))
            .where(AuditEvent.action == ACTION).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
            .limit(limit))
    return [{"at": a.created_at, "by": a.staff.name, "key": a.doc_ref, **a.detail} for a in rows]
