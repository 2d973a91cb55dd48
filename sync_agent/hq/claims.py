"""A branch claims an online order (or some of its lines) at the head office before packing it.

The head office decides (`hq_claim()` in pos_core/hq.py, under a per-order lock), so two branches can
never both pack the same units; a refused claim names the branch that holds the line. Claiming needs
the head-office link, as packing needs Shopify: when it is down the answer says so plainly, and
nothing is claimed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from peewee import DatabaseError, InterfaceError, OperationalError

from pos_core.errors import InvalidInput

from .link import BranchLink


class ClaimUnavailable(Exception):
    """The head office cannot be reached: nothing was claimed."""


@dataclass(frozen=True)
class Claim:
    order: str
    branch: str
    lines: dict[str, str | None] = field(default_factory=dict)   # line id -> branch holding it

    @property
    def ok(self) -> bool:
        return bool(self.lines) and all(b == self.branch for b in self.lines.values())

    @property
    def held_elsewhere(self) -> dict[str, str]:
        return {line: b for line, b in self.lines.items() if b and b != self.branch}

    def message(self) -> str:
        if self.ok:
            return f"{self.branch} holds order {self.order} ({len(self.lines)} line(s)): pack it here"
        others = sorted(set(self.held_elsewhere.values()))
        return f"order {self.order} is held by {', '.join(others)}: not claimed here"


def claim(link: BranchLink, order_shopify_id: str, line_ids: list[str] | None = None) -> Claim:
    """Claim the order's lines (all its current lines when `line_ids` is None), all or nothing."""
    rows = _call(link, "SELECT o_line, o_branch FROM hq_claim(%s, %s)", (order_shopify_id, line_ids))
    return Claim(order_shopify_id, link.branch, {line: branch for line, branch in rows})


def release(link: BranchLink, order_shopify_id: str, line_ids: list[str] | None = None) -> int:
    """Give back this branch's claim (an order it will not pack after all); another's is untouched."""
    return _call(link, "SELECT hq_release(%s, %s)", (order_shopify_id, line_ids))[0][0]


def _call(link: BranchLink, sql: str, params):
    try:
        hq = link._hq()
        with hq.atomic():
            return hq.execute_sql(sql, params).fetchall()
    except (OperationalError, InterfaceError) as exc:
        link._drop(exc)
        raise ClaimUnavailable("packing an online order needs the head-office link, and it is down "
                               f"({link.last_error}); nothing was claimed") from None
    except DatabaseError as exc:
        # the head office's own refusal (no such order or line): one line, as it said it
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(text) from None
