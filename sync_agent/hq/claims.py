"""A branch claims an online order (or some of its lines) at the head office before packing it.

The head office decides (`hq_claim()` in pos_core/hq.py, under a per-order lock), so two branches can
never both pack the same units; a refused claim names the branch that holds the line. Claiming needs
the head-office link, as packing needs Shopify: when it is down the answer says so plainly, and
nothing is claimed.
"""
from __future__ import annotations

from peewee import DatabaseError, InterfaceError, OperationalError

from pos_core.errors import InvalidInput
from pos_core.hq_claims import CLAIM_SQL, OFFLINE, RELEASE_SQL, Claim  # noqa: F401 (Claim: for callers)

from .link import BranchLink


class ClaimUnavailable(Exception):
    """The head office cannot be reached: nothing was claimed."""


def claim(link: BranchLink, order_shopify_id: str, line_ids: list[str] | None = None) -> Claim:
    """Claim the order's lines (all its current lines when `line_ids` is None), all or nothing."""
    rows = _call(link, CLAIM_SQL, (order_shopify_id, line_ids))
    return Claim(order_shopify_id, link.branch, {line: branch for line, branch in rows})


def release(link: BranchLink, order_shopify_id: str, line_ids: list[str] | None = None) -> int:
    """Give back this branch's claim (an order it will not pack after all); another's is untouched."""
    return _call(link, RELEASE_SQL, (order_shopify_id, line_ids))[0][0]


def _call(link: BranchLink, sql: str, params):
    try:
        hq = link._hq()
        with hq.atomic():
            return hq.execute_sql(sql, params).fetchall()
    except (OperationalError, InterfaceError) as exc:
        link._drop(exc)
        raise ClaimUnavailable(OFFLINE.format(error=link.last_error)) from None
    except DatabaseError as exc:
        # the head office's own refusal (no such order or line): one line, as it said it
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(text) from None
