"""Document numbers a person sees: per counter, per series, gapless.

The counter's series row is incremented inside the document's own transaction, so a number is
used if and only if its document commits. On SQLite the IMMEDIATE lock serialises writers; on
PostgreSQL the UPDATE takes the row lock until commit.
"""
from __future__ import annotations

from .models import Counter, DocumentSeries

SALES, REFUNDS = "S", "R"
_PREFIX = {SALES: "", REFUNDS: "R"}


def next_number(counter: Counter, series: str) -> str:
    """Call inside a write transaction. One statement: UPDATE ... RETURNING (SQLite 3.35+, PostgreSQL)."""
    from .db import database
    p = database.param
    row = database.execute_sql(
        f"UPDATE document_series SET last_value = last_value + 1 WHERE counter_id = {p} AND series = {p} "
        "RETURNING last_value", (counter.id, series)).fetchone()
    if row is None:
        DocumentSeries.create(counter=counter.id, series=series, last_value=1)
        value = 1
    else:
        value = row[0]
    return f"{counter.branch.code}-{counter.code}-{_PREFIX[series]}{value:06d}"


def next_branch_number(branch, series: str) -> str:
    """Branch documents: TR-LHR1-000001 (transfers), PO-, GRN-, ADJ-, ST-. Inside a write transaction."""
    from .models import BranchSeries
    updated = (BranchSeries.update(last_value=BranchSeries.last_value + 1)
               .where((BranchSeries.branch == branch.id) & (BranchSeries.series == series)).execute())
    if not updated:
        BranchSeries.insert(branch=branch.id, series=series, last_value=1).on_conflict(
            conflict_target=[BranchSeries.branch, BranchSeries.series],
            update={BranchSeries.last_value: BranchSeries.last_value + 1}).execute()
    value = (BranchSeries.select(BranchSeries.last_value)
             .where((BranchSeries.branch == branch.id) & (BranchSeries.series == series)).scalar())
    return f"{series}-{branch.code}-{value:06d}"
