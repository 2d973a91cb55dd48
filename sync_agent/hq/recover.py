"""`pos-admin branch recover` (`pos-agent hq-recover`): a branch restored from an older backup.

The link has stopped pushing (`link.rewound`): the head office holds changes this database no
longer has, and this database may have written new changes at the same positions since. Here:

1. pull the head office's own records (the restored pull cursor brings back what came down since
   the backup);
2. read this branch's rows in the head office's inbox after the position the backup had
   acknowledged: the latest state of every row the branch pushed since (its lost documents,
   movements, credit entries...), and where each was in the log;
3. find which local changes were made since the restore: compared position by position with
   the inbox, the log agrees up to M; a change after M made later than the head office's change
   at the first position that disagrees is new (`_since_restore`). Those rows are newer here and
   keep their local state;
4. in one local transaction (`pos_core.chain_recover.restore`): numbering raised and clashes
   renumbered, the rows applied, the projections rebuilt; and a new epoch begun, so the
   branch's changes after M push again at positions after everything the head office holds;
5. push and pull once (the link resumes).
"""
from __future__ import annotations

import datetime as dt
import json

from pos_core import chain, chain_recover, db

from .link import BranchLink, _change_at, _pos, _time_text, local_epoch, rewound, to_wire, unwire


def recover(link: BranchLink, out=print, force: bool = False) -> int:
    """Returns a process exit code: 0 done (or nothing to do), 1 rows could not be applied."""
    hq = link._hq()
    wire, digest = link.hq_position(hq)
    problem = rewound(wire, digest)
    if not problem and not force:
        out(f"branch {link.branch}: nothing to recover (this database holds everything the head office "
            "has from it)")
        return 0
    out(f"branch {link.branch}: {problem or 'recovering on request (--force)'}")
    pulled = 0
    while True:
        n = link.pull_once()
        pulled += n
        if n == 0:
            break
    ack = _pos(chain.get_state("pushed"))
    ack_wire = to_wire(ack)
    with hq.atomic():
        hq.execute_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        positions = hq.execute_sql(
            "SELECT xid, seq, table_name, changed_at FROM hq_inbox WHERE branch_code = %s "
            "AND (xid > %s OR (xid = %s AND seq > %s)) ORDER BY xid, seq",
            (link.branch, ack_wire[0], ack_wire[0], ack_wire[1])).fetchall()
        rows = hq.execute_sql(
            "SELECT DISTINCT ON (table_name, key) id, data FROM hq_inbox WHERE branch_code = %s "
            "AND (xid > %s OR (xid = %s AND seq > %s)) ORDER BY table_name, key, id DESC",
            (link.branch, ack_wire[0], ack_wire[0], ack_wire[1])).fetchall()
    # in the order they were pushed: within a table too (a refund after the sale it refunds)
    records = [json.loads(data) for _, data in sorted(rows)]
    agreed, keep = _since_restore(ack, positions)
    hq_epoch = unwire(wire)[0]
    with db.write():
        report = chain_recover.restore(records, keep, link.branch)
        epoch = max(local_epoch(), hq_epoch) + 1
        chain.set_state("epoch", str(epoch))
        chain.set_state("epoch_start", f"{agreed[0]}:{agreed[1]}")
        chain.set_state("pushed", f"{agreed[0]}:{agreed[1]}")
        chain.set_state("pushed_digest", "")
        chain.set_state("rewound", "")
    out(f"{pulled} head-office change(s) pulled; {len(records)} of this branch's row(s) read back from the "
        f"head office, {sum(report.applied.values())} restored here "
        f"({', '.join(f'{t} {n}' for t, n in sorted(report.applied.items())) or 'none'}), "
        f"{report.kept} kept as changed here since the restore")
    for series, top in sorted(report.counters.items()):
        out(f"numbering {series}: continues after {top}")
    for old, new, fbr in report.renumbered:
        out(f"renumbered {old} -> {new} (made since the restore; {fbr}); its printed receipt shows {old}")
    for table, key, reason in report.failed:
        out(f"NOT restored: {table} {key}: {reason} (kept in chain_parked, retried with every pull)")
    out(f"epoch {epoch}: this branch's changes after {agreed[0]}:{agreed[1]} go up again; stock levels, "
        "credit and points rebuilt from their entries")
    summary = link.run_once()
    if link.up:
        out(f"link resumed: {summary['pushed']} change(s) pushed")
    else:
        out(f"link not resumed yet: {link.last_error} (the agent goes on when the head office answers)")
    return 1 if report.failed else 0


def _since_restore(ack: tuple[int, int], positions) -> tuple[tuple[int, int], set[tuple[str, str]]]:
    """(M, keep): M the last local position that agrees with the head office's inbox (positions
    after the backup's acknowledged one, in order); keep the (table, key) of rows changed here
    since the restore, which stay as they are here."""
    mine = local_epoch()
    agreed, theirs_at = ack, None
    for wx, seq, table, changed in positions:
        epoch, pos = unwire((wx, seq))
        here = _change_at(pos) if epoch == mine else None
        if here is not None and here[0] == table and _time_text(here[2]) == _time_text(changed):
            agreed = pos
            continue
        theirs_at = changed   # the first change the head office has that this log does not
        break
    cut = _as_time(theirs_at) if theirs_at is not None else None
    rows = chain._fetch(db.database, "SELECT table_name, row_id, created_at FROM chain_change "
                                     "WHERE (xid > ? OR (xid = ? AND seq > ?)) ORDER BY xid, seq",
                        (agreed[0], agreed[0], agreed[1]))
    ser = chain.Serializer(db.database)
    keep: set[tuple[str, str]] = set()
    for table, row_id, created in rows:
        # Between M and the first disagreeing position a change may be the backup's own (made
        # before that head-office change) or new (made after the restore, so later than it).
        if table not in chain.UP_TABLES or (cut is not None and _as_time(created) <= cut):
            continue
        try:
            keep.add((table, chain.key_text(ser.identity_of(table, row_id))))
        except chain.Unresolved:
            pass
    return agreed, keep


def _as_time(value) -> dt.datetime:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else value
