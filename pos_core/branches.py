"""Branches and their counters."""
from __future__ import annotations

import re

from . import db
from .errors import InvalidInput, NotFound
from .models import Branch, Counter, DocumentSeries
from .numbering import REFUNDS, SALES

_CODE = re.compile(r"^[A-Z0-9]{1,8}$")


def create_branch(code: str, name: str, address: str = "", shopify_location_id: str | None = None) -> Branch:
    if not _CODE.match(code):
        raise InvalidInput("a branch code is 1-8 capital letters or digits, e.g. LHR1")
    return Branch.create(code=code, name=name, address=address, shopify_location_id=shopify_location_id)


def create_counter(branch: Branch, code: str, name: str = "", fbr_posid: str | None = None) -> Counter:
    if not _CODE.match(code):
        raise InvalidInput("a counter code is 1-8 capital letters or digits, e.g. C2")
    with db.write():
        counter = Counter.create(branch=branch, code=code, name=name or f"Counter {code}", fbr_posid=fbr_posid)
        # The series rows exist before the first sale so two first sales never race to create one.
        for series in (SALES, REFUNDS):
            DocumentSeries.create(counter=counter, series=series, last_value=0)
    return counter


def find_counter(branch_code: str, counter_code: str) -> Counter:
    counter = (Counter.select(Counter, Branch).join(Branch)
               .where((Branch.code == branch_code) & (Counter.code == counter_code)).first())
    if counter is None:
        raise NotFound(f"counter {branch_code}-{counter_code} is not set up in the database")
    return counter


def map_locations(locations: dict[str, str]) -> int:
    """Apply the config's branch -> Shopify location mapping; returns how many branches changed."""
    changed = 0
    with db.write():
        for code, location in locations.items():
            changed += (Branch.update(shopify_location_id=location)
                        .where((Branch.code == code) & ((Branch.shopify_location_id != location)
                                                        | Branch.shopify_location_id.is_null()))
                        .execute())
    return changed
