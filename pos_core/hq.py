"""The head office's side of the chain: its schema in PostgreSQL, the branch credentials, and the
applier that turns what branches pushed into the chain's system of record.

The head office database is an ordinary pos_core database (same tables, its own local ids) plus:

* `hq_inbox`: what branches pushed, one row per branch change (branch code, the branch's change
  position (xid, seq), the wire record). UNIQUE (branch_code, xid, seq): a batch sent twice adds
  nothing. Row-level security lets a branch's role insert and read only rows of its own branch.
* `hq_branch_link`: one row per branch: its role, how far it has pushed (moved in the same
  transaction as the inbox rows, so a restored head office asks for exactly what it lost) and the
  digest of the change at that position (so a restored *branch* sees it no longer holds it), last
  contact, what it still holds.
* `hq_down_change`: a view of the change log limited to the head office's own tables, which
  branches pull from with an (xid, seq) cursor.

A branch's role can read the down tables and write only through RLS and two SECURITY DEFINER
functions that act on the caller's own row: it cannot change another branch's orders, stock or
staff (it has no privilege on those tables at all, and the applier refuses rows not its own).
"""
from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass

import psycopg2
from peewee import DataError, IntegrityError

from . import chain, db, migrations
from .errors import InvalidInput

NEW, APPLIED, PARKED, SUPERSEDED = "NEW", "APPLIED", "PARKED", "SUPERSEDED"


class HqError(InvalidInput):
    pass


def _dbname() -> str:
    return db.database.execute_sql("SELECT current_database()").fetchone()[0]


def group_role() -> str:
    # Roles are cluster-wide: named after the database so two head offices on one server differ.
    return f"{_dbname()}_branches"[:63].lower()


def branch_role(code: str) -> str:
    return f"{_dbname()}_br_{code}"[:63].lower()


def _schema_sql(group: str) -> list[str]:
    down = ", ".join(f"'{t}'" for t in chain.PULLED_TABLES)
    parties = [
        # issue 14: a branch reads a transfer (and its count and settlements) only when it is the
        # sender or the receiver; the child tables follow their transfer's visibility.
        ("transfer", "hq_my_branch() IN (SELECT b.code FROM branch b WHERE b.id IN (from_branch_id, to_branch_id))"),
        ("transfer_line", "EXISTS (SELECT 1 FROM transfer x WHERE x.id = transfer_id)"),
        ("transfer_receipt", "EXISTS (SELECT 1 FROM transfer x WHERE x.id = transfer_id)"),
        ("transfer_receipt_line", "EXISTS (SELECT 1 FROM transfer_receipt r WHERE r.id = receipt_id)"),
        ("transfer_settlement", "EXISTS (SELECT 1 FROM transfer x WHERE x.id = transfer_id)"),
    ]
    assert {t for t, _ in parties} == {t.name for t in chain.TABLES if t.relay == "parties"}
    rls = []
    for table, using in parties:
        rls += [f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
                f"DROP POLICY IF EXISTS hq_party ON {table}",
                f"CREATE POLICY hq_party ON {table} FOR SELECT TO {group} USING ({using})"]
    # issue 14: the outcome of a branch's Shopify job is read by that branch only
    rls += ["ALTER TABLE shopify_outcome ENABLE ROW LEVEL SECURITY",
            "DROP POLICY IF EXISTS hq_own_outcome ON shopify_outcome",
            f"CREATE POLICY hq_own_outcome ON shopify_outcome FOR SELECT TO {group} USING "
            "(hq_my_branch() = (SELECT b.code FROM branch b WHERE b.id = branch_id))"]
    return [
        """CREATE TABLE IF NOT EXISTS hq_branch_link (
             branch_code varchar(16) PRIMARY KEY,
             role_name text UNIQUE NOT NULL,
             pushed_xid bigint NOT NULL DEFAULT 0,
             pushed_seq bigint NOT NULL DEFAULT 0,
             last_contact_at timestamp,
             pending_rows bigint NOT NULL DEFAULT 0,
             oldest_pending_at timestamp,
             schema_version int,
             last_error text NOT NULL DEFAULT '')""",
        """CREATE TABLE IF NOT EXISTS hq_inbox (
             id bigserial PRIMARY KEY,
             branch_code varchar(16) NOT NULL,
             xid bigint NOT NULL,
             seq bigint NOT NULL,
             table_name text NOT NULL,
             key text NOT NULL,
             data text NOT NULL,
             schema_version int NOT NULL,
             changed_at timestamp,
             received_at timestamp NOT NULL DEFAULT timezone('utc', clock_timestamp()),
             status varchar(12) NOT NULL DEFAULT 'NEW',
             reason text NOT NULL DEFAULT '',
             applied_at timestamp,
             UNIQUE (branch_code, xid, seq))""",
        # how far each branch has pulled (it reports after it has committed what it pulled): the
        # head office's own change log is pruned below the lowest of these
        "ALTER TABLE hq_branch_link ADD COLUMN IF NOT EXISTS pulled_xid bigint",
        "ALTER TABLE hq_branch_link ADD COLUMN IF NOT EXISTS pulled_seq bigint",
        "CREATE INDEX IF NOT EXISTS hq_inbox_status ON hq_inbox (status, id)",
        "CREATE INDEX IF NOT EXISTS hq_inbox_key ON hq_inbox (branch_code, table_name, key)",
        f"CREATE OR REPLACE VIEW hq_down_change AS SELECT seq, xid, table_name, row_id FROM chain_change "
        f"WHERE table_name IN ({down})",
        # session_user: inside SECURITY DEFINER current_user is the owner, not the branch.
        """CREATE OR REPLACE FUNCTION hq_my_branch() RETURNS text LANGUAGE sql STABLE SECURITY DEFINER
           SET search_path = public AS
           $$ SELECT branch_code FROM hq_branch_link WHERE role_name = session_user $$""",
        # The digest of the last change taken from the branch: a branch restored from an older
        # backup that has made new changes since holds other changes at these positions, and
        # sees it on its next connect (sync_agent/hq/link.py `rewound`).
        "ALTER TABLE hq_branch_link ADD COLUMN IF NOT EXISTS pushed_digest text NOT NULL DEFAULT ''",
        "DROP FUNCTION IF EXISTS hq_position()",
        """CREATE FUNCTION hq_position(OUT xid bigint, OUT seq bigint, OUT digest text) LANGUAGE sql STABLE
           SECURITY DEFINER SET search_path = public AS
           $$ SELECT pushed_xid, pushed_seq, pushed_digest FROM hq_branch_link WHERE role_name = session_user $$""",
        "DROP FUNCTION IF EXISTS hq_mark(bigint, bigint, bigint, timestamp, int, text)",
        # p_digest has a default, so a branch on an older release (six arguments) still marks.
        """CREATE OR REPLACE FUNCTION hq_mark(p_xid bigint, p_seq bigint, p_pending bigint,
             p_oldest timestamp, p_schema int, p_error text, p_digest text DEFAULT '') RETURNS void
           LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public AS $$
             UPDATE hq_branch_link SET
               pushed_xid = CASE WHEN (p_xid, p_seq) > (pushed_xid, pushed_seq) THEN p_xid ELSE pushed_xid END,
               pushed_seq = CASE WHEN (p_xid, p_seq) > (pushed_xid, pushed_seq) THEN p_seq ELSE pushed_seq END,
               pushed_digest = CASE WHEN (p_xid, p_seq) > (pushed_xid, pushed_seq) THEN coalesce(p_digest, '')
                                    ELSE pushed_digest END,
               last_contact_at = timezone('utc', clock_timestamp()),
               pending_rows = p_pending, oldest_pending_at = p_oldest, schema_version = p_schema,
               last_error = coalesce(p_error, '')
             WHERE role_name = session_user $$""",
        """CREATE OR REPLACE FUNCTION hq_pulled(p_xid bigint, p_seq bigint) RETURNS void LANGUAGE sql VOLATILE
           SECURITY DEFINER SET search_path = public AS $$
             UPDATE hq_branch_link SET pulled_xid = p_xid, pulled_seq = p_seq WHERE role_name = session_user $$""",
        # the highest position of the head office's change log that is gone (0:0: none): a branch
        # whose cursor is below it reads the tables whole instead of the log
        """CREATE OR REPLACE FUNCTION hq_pruned_to() RETURNS text LANGUAGE sql STABLE SECURITY DEFINER
           SET search_path = public AS $$ SELECT coalesce((SELECT value FROM chain_state WHERE key = 'pruned_to'), '0:0') $$""",
        "REVOKE ALL ON FUNCTION hq_pulled(bigint, bigint) FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION hq_pulled(bigint, bigint) TO {group}",
        "REVOKE ALL ON FUNCTION hq_pruned_to() FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION hq_pruned_to() TO {group}",
        # Transaction ids are per cluster: a branch keeps its pull cursor only while this is the same.
        """CREATE OR REPLACE FUNCTION hq_cluster_id() RETURNS text LANGUAGE sql STABLE SECURITY DEFINER
           SET search_path = public AS $$ SELECT system_identifier::text FROM pg_control_system() $$""",
        "ALTER TABLE hq_inbox ENABLE ROW LEVEL SECURITY",
        "DROP POLICY IF EXISTS hq_inbox_own ON hq_inbox",
        f"""CREATE POLICY hq_inbox_own ON hq_inbox TO {group}
            USING (branch_code = (SELECT hq_my_branch()))
            WITH CHECK (branch_code = (SELECT hq_my_branch()) AND status = 'NEW')""",
        f"GRANT SELECT, INSERT ON hq_inbox TO {group}",
        f"GRANT USAGE ON SEQUENCE hq_inbox_id_seq TO {group}",
        f"GRANT SELECT ON hq_down_change, schema_migration, {', '.join(chain.PULLED_TABLES)} TO {group}",
        "REVOKE ALL ON FUNCTION hq_mark(bigint, bigint, bigint, timestamp, int, text, text) FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION hq_mark(bigint, bigint, bigint, timestamp, int, text, text) TO {group}",
    ] + rls + _claim_sql(group)


def _claim_sql(group: str) -> list[str]:
    """Issue 14: a branch claims an online order's lines before packing them. Decided here, in one
    place, under a per-order lock, so two branches can never both hold (and pack) the same line;
    a refusal names the branch that holds it. Branches reach it only through these functions."""
    return [
        """CREATE TABLE IF NOT EXISTS hq_claim (
             order_shopify_id text NOT NULL,
             line_id text NOT NULL,
             branch_code varchar(16) NOT NULL,
             claimed_at timestamp NOT NULL DEFAULT timezone('utc', clock_timestamp()),
             PRIMARY KEY (order_shopify_id, line_id))""",
        # (%% is a literal % for RAISE: the statement goes through the driver's parameter formatting)
        """CREATE OR REPLACE FUNCTION hq_claim(p_order text, p_lines text[])
           RETURNS TABLE (o_line text, o_branch text) LANGUAGE plpgsql VOLATILE SECURITY DEFINER
           SET search_path = public AS $$
           DECLARE me text := hq_my_branch(); want text[]; missing text[];
           BEGIN
             IF me IS NULL THEN RAISE EXCEPTION 'this login is not a branch of the head office'; END IF;
             -- one claim of an order at a time: the check and the insert below see every earlier claim
             PERFORM pg_advisory_xact_lock(hashtext('hq_claim:' || p_order));
             IF NOT EXISTS (SELECT 1 FROM smart_order WHERE shopify_id = p_order) THEN
               RAISE EXCEPTION 'the head office has no online order %%', p_order;
             END IF;
             IF p_lines IS NULL OR cardinality(p_lines) = 0 THEN
               SELECT array_agg(l.shopify_line_id ORDER BY l.shopify_line_id) INTO want
                 FROM smart_order_line l JOIN smart_order o ON o.id = l.order_id
                WHERE o.shopify_id = p_order AND l.current_quantity > 0;
             ELSE
               want := p_lines;
               SELECT array_agg(x) INTO missing FROM unnest(want) x WHERE NOT EXISTS (
                 SELECT 1 FROM smart_order_line l JOIN smart_order o ON o.id = l.order_id
                  WHERE o.shopify_id = p_order AND l.shopify_line_id = x);
               IF missing IS NOT NULL THEN
                 RAISE EXCEPTION 'online order %% has no line %%', p_order, array_to_string(missing, ', ');
               END IF;
             END IF;
             IF NOT EXISTS (SELECT 1 FROM hq_claim c WHERE c.order_shopify_id = p_order
                             AND c.line_id = ANY(want) AND c.branch_code <> me) THEN
               INSERT INTO hq_claim (order_shopify_id, line_id, branch_code)
               SELECT p_order, x, me FROM unnest(want) x ON CONFLICT DO NOTHING;
             END IF;
             -- every wanted line and who holds it now (all or nothing: ours only if none was another's)
             RETURN QUERY SELECT x, c.branch_code::text FROM unnest(want) x
               LEFT JOIN hq_claim c ON c.order_shopify_id = p_order AND c.line_id = x ORDER BY x;
           END $$""",
        """CREATE OR REPLACE FUNCTION hq_release(p_order text, p_lines text[]) RETURNS bigint
           LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public AS $$
             WITH gone AS (DELETE FROM hq_claim WHERE order_shopify_id = p_order
                             AND branch_code = hq_my_branch()
                             AND (p_lines IS NULL OR line_id = ANY(p_lines)) RETURNING 1)
             SELECT count(*) FROM gone $$""",
        # A branch's agent refreshes the claims it keeps (issue 14): who holds each line of these
        # orders now, read only (hq_claim would claim a free line). Any branch may read any holder:
        # a refusal names the holder anyway.
        """CREATE OR REPLACE FUNCTION hq_claims_of(p_orders text[])
           RETURNS TABLE (o_order text, o_line text, o_branch text) LANGUAGE sql STABLE SECURITY DEFINER
           SET search_path = public AS $$
             SELECT c.order_shopify_id, c.line_id, c.branch_code::text FROM hq_claim c
              WHERE hq_my_branch() IS NOT NULL AND c.order_shopify_id = ANY(p_orders)
              ORDER BY 1, 2 $$""",
        "REVOKE ALL ON FUNCTION hq_claims_of(text[]) FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION hq_claims_of(text[]) TO {group}",
        # Chain-wide stock at the counter: every branch's on-hand and in-transit for one SKU, as
        # the head office has it (each branch as of its last contact).
        """CREATE OR REPLACE FUNCTION hq_stock(p_sku text)
           RETURNS TABLE (o_branch text, o_on_hand bigint, o_in_transit bigint, o_as_of timestamp)
           LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
             SELECT b.code::text,
                    coalesce((SELECT sl.on_hand FROM stock_level sl JOIN variant v ON v.id = sl.variant_id
                               WHERE v.sku = p_sku AND sl.branch_id = b.id), 0)::bigint,
                    coalesce((SELECT sum(tl.qty_sent) FROM transfer_line tl JOIN transfer t ON t.id = tl.transfer_id
                               JOIN variant v ON v.id = tl.variant_id
                               WHERE v.sku = p_sku AND t.to_branch_id = b.id AND t.status = 'DISPATCHED'), 0)::bigint,
                    l.last_contact_at
               FROM branch b LEFT JOIN hq_branch_link l ON l.branch_code = b.code
              ORDER BY b.code $$""",
        "REVOKE ALL ON FUNCTION hq_stock(text) FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION hq_stock(text) TO {group}",
        "REVOKE ALL ON FUNCTION hq_claim(text, text[]) FROM PUBLIC",
        "REVOKE ALL ON FUNCTION hq_release(text, text[]) FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION hq_claim(text, text[]) TO {group}",
        f"GRANT EXECUTE ON FUNCTION hq_release(text, text[]) TO {group}",
    ]


def claims(order_shopify_id: str) -> dict[str, str]:
    """At the head office: {line id: branch} holding each claimed line of an online order."""
    return dict(db.database.execute_sql(
        "SELECT line_id, branch_code FROM hq_claim WHERE order_shopify_id = %s ORDER BY line_id",
        (order_shopify_id,)).fetchall())


def dispatched_in(order_shopify_id: str, lines: list[str] | None = None) -> list[dict]:
    """At the head office: the shipments (as the branches' rows came up) already dispatched or
    delivered that hold these lines of an online order (all its lines when None): releasing them
    lets another branch claim goods that have left the shipping branch, which would then be refused
    Delivered and Returned. [{branch, shipment, status, lines}]."""
    from .models import Branch, Fulfillment, FulfillmentLine, SmartOrder, SmartOrderLine
    q = (FulfillmentLine.select(Branch.code, Fulfillment.uid, Fulfillment.status, SmartOrderLine.shopify_line_id)
         .join(Fulfillment).join(Branch, on=(Fulfillment.branch == Branch.id))
         .switch(FulfillmentLine).join(SmartOrderLine, on=(FulfillmentLine.order_line == SmartOrderLine.id))
         .join(SmartOrder, on=(SmartOrderLine.order == SmartOrder.id))
         .where((SmartOrder.shopify_id == order_shopify_id) & (Fulfillment.mode == "smart")
                & Fulfillment.status.in_(["DISPATCHED", "DELIVERED"])))
    if lines:
        q = q.where(SmartOrderLine.shopify_line_id.in_(list(lines)))
    out: dict[str, dict] = {}
    for code, uid, status, line in q.tuples():
        row = out.setdefault(uid, {"branch": code, "shipment": uid, "status": status, "lines": []})
        row["lines"].append(line)
    return sorted(out.values(), key=lambda r: (r["branch"], r["shipment"]))


def release_claim(order_shopify_id: str, lines: list[str] | None = None) -> dict[str, str]:
    """At the head office, for a manager: give back whichever branch's claim on these lines (all
    the order's when None), e.g. one a branch could not give back while its link was down.
    Returns {line: branch} of what was released."""
    with db.write():
        rows = db.database.execute_sql(
            "DELETE FROM hq_claim WHERE order_shopify_id = %s AND (%s::text[] IS NULL OR line_id = ANY(%s::text[])) "
            "RETURNING line_id, branch_code", (order_shopify_id, lines, lines)).fetchall()
    return dict(rows)


def init() -> None:
    """Make this PostgreSQL database a head office: the pos schema, the hq tables, the branches'
    group role and its rights, and change capture on the head office's own tables. Idempotent."""
    if not db.is_postgres():
        raise HqError("the head office database must be PostgreSQL")
    migrations.migrate()
    refresh()
    chain.enable_capture("head-office")
    chain.set_state("role", "head-office")


def refresh() -> None:
    """(Re)create the hq tables, functions, rights and row security: after an upgrade that added a
    table branches read (issue 14's relayed tables), `pos-admin migrate` calls this."""
    group = group_role()
    with db.write():
        exists = db.database.execute_sql("SELECT 1 FROM pg_roles WHERE rolname = %s", (group,)).fetchone()
        if not exists:
            db.database.execute_sql(f"CREATE ROLE {group} NOLOGIN")
        for sql in _schema_sql(group):
            db.database.execute_sql(sql)
        for (role,) in db.database.execute_sql("SELECT role_name FROM hq_branch_link").fetchall():
            _session_limits(role)


def _session_limits(role: str) -> None:
    # A branch's link that dies mid-transaction (a mobile link, a NAT timeout) can leave its
    # session open here, idle in a transaction, for as long as TCP takes to notice (hours), and
    # its uncommitted inbox rows would hold up the branch's next push of the same positions.
    # PostgreSQL ends such a session after 15 s; the branch's next push resends what it had.
    db.database.execute_sql(f"ALTER ROLE {role} SET idle_in_transaction_session_timeout = '15s'")


def is_hq() -> bool:
    return db.is_postgres() and db.database.table_exists("hq_inbox")


_CODE = re.compile(r"^[A-Z0-9]{2,16}$")


@dataclass(frozen=True)
class Credential:
    branch: str
    role: str
    password: str


def add_branch(code: str, name: str = "") -> Credential:
    """Create (or re-key) a branch's login role; the password is returned once, never stored here."""
    if not is_hq():
        raise HqError("this database is not a head office; run `pos-admin hq init` first")
    code = code.upper()
    if not _CODE.match(code):
        raise HqError(f"a branch code is 2-16 letters or digits, e.g. LHR1 (got {code!r})")
    from . import branches
    from .models import Branch
    role = branch_role(code)
    password = secrets.token_urlsafe(24)
    with db.write():
        if Branch.get_or_none(Branch.code == code) is None:
            branches.create_branch(code, name or code)
        exists = db.database.execute_sql("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        # The password cannot be a bind parameter in CREATE ROLE; token_urlsafe has no quote.
        db.database.execute_sql(f"{verb} ROLE {role} LOGIN PASSWORD '{password}'")
        if not exists:
            db.database.execute_sql(f"GRANT {group_role()} TO {role}")
        _session_limits(role)
        db.database.execute_sql(
            "INSERT INTO hq_branch_link (branch_code, role_name) VALUES (%s, %s) "
            "ON CONFLICT (branch_code) DO UPDATE SET role_name = excluded.role_name", (code, role))
    return Credential(code, role, password)


# --- applying what branches pushed -------------------------------------------------------------

APPLY_BATCH = 2000   # inbox rows per applier transaction


def apply_inbox(limit: int = APPLY_BATCH, part: tuple[int, int] | None = None) -> dict:
    """Apply NEW inbox rows, oldest first (parents before children within the batch). A row that
    cannot be applied is PARKED with its reason; the rest carry on. One transaction per batch, so
    the rows and their APPLIED marks commit together. The batch is taken and marked APPLIED in one
    statement (each inbox row is written once, not locked and then updated); the rows that park
    are marked again, in the same transaction.

    `part` = (k, n): apply only the k-th of n shares of the branches (by code), so n appliers can
    run at once, each on its own connection. A branch's rows are always applied by the same one,
    in order; what two branches share (a customer) is applied by both under row locks, and a
    deadlock between them undoes one batch, which is taken again by the next call."""
    counts = {"applied": 0, "parked": 0}
    share, params = "", [limit]
    if part is not None and part[1] > 1:
        share = ("AND branch_code IN (SELECT branch_code FROM (SELECT branch_code, "
                 "row_number() OVER (ORDER BY branch_code) AS n FROM hq_branch_link) s WHERE n %% %s = %s) ")
        params = [part[1], part[0], limit]
    try:
        with db.write():
            rows = db.database.execute_sql(
                "UPDATE hq_inbox SET status = 'APPLIED', reason = '', applied_at = timezone('utc', clock_timestamp()) "
                f"WHERE id IN (SELECT id FROM hq_inbox WHERE status = 'NEW' {share}"
                "ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) "
                "RETURNING id, branch_code, table_name, key, data, schema_version", tuple(params)).fetchall()
            if not rows:
                return counts
            done = _apply_rows(rows, marked=True)
    except Exception as exc:
        if not _rolled_back(exc):
            raise
        counts["retried"] = 1     # nothing of the batch stays; its rows are NEW again
        return counts
    for status, n in done.items():
        counts["applied" if status == APPLIED else "parked"] += n
    return counts


def _rolled_back(exc: BaseException) -> bool:
    """A deadlock or serialisation failure: PostgreSQL undid the transaction; it may simply be retried."""
    for _ in range(5):     # peewee wraps the driver's error: look through the wrapping
        if exc is None:
            return False
        if isinstance(exc, psycopg2.extensions.TransactionRollbackError):
            return True
        inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
        exc = inner or exc.__cause__ or exc.__context__
    return False


def retry_parked(limit: int = 500) -> dict:
    """Try parked rows again (an SKU added since, a branch upgraded, a parent that arrived)."""
    counts = {"applied": 0, "parked": 0}
    try:
        with db.write():
            rows = db.database.execute_sql(
                "SELECT id, branch_code, table_name, key, data, schema_version FROM hq_inbox "
                "WHERE status = 'PARKED' ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED", (limit,)).fetchall()
            if rows:
                done = _apply_rows(rows)
                counts["applied"], counts["parked"] = done.get(APPLIED, 0), done.get(PARKED, 0)
    except Exception as exc:
        if not _rolled_back(exc):     # a deadlock with an applier writing a newer state: next time
            raise
    return counts


class _Retry(Exception):
    pass


def _apply_rows(rows, marked: bool = False) -> dict:
    """`marked`: the rows are already APPLIED in this transaction (apply_inbox); only those that
    park are written again."""
    d = db.database
    rows = sorted(rows, key=lambda r: (chain.RANK.get(r[2], -1), r[0]))
    # Most batches apply whole: try that without a savepoint per row (two round trips each); if
    # any row fails, undo the batch and go row by row, parking the ones that fail.
    if all(schema <= migrations.LATEST for *_, schema in rows):
        try:
            with d.atomic():
                applier = chain.Applier(d)
                try:
                    # every branch's rows together: one query per table for the whole batch
                    applier.apply_many([json.loads(r[4]) for r in rows], origin=[r[1] for r in rows])
                except (chain.Unresolved, chain.Refused, IntegrityError, psycopg2.IntegrityError, KeyError,
                        DataError, psycopg2.DataError) as exc:
                    raise _Retry() from exc
            return _mark([(r[0], APPLIED, "") for r in rows], marked)
        except _Retry:
            pass
    applier = chain.Applier(d)
    results: list[tuple[int, str, str]] = []
    for rid, branch, table, key, data, schema in rows:
        reason = ""
        if schema > migrations.LATEST:
            reason = (f"{branch} runs schema {schema}, the head office {migrations.LATEST}: "
                      "upgrade the head office (kept, applied after)")
        else:
            try:
                with d.atomic():
                    applier.apply(json.loads(data), origin=branch)
            except (chain.Unresolved, chain.Refused) as exc:
                reason = str(exc)
                applier = chain.Applier(d)   # its cache may hold ids of the rolled-back row
            except IntegrityError as exc:
                reason = f"conflicts with a row here: {str(exc).splitlines()[0]}"
                applier = chain.Applier(d)
            except DataError as exc:      # a value this schema cannot hold (too long, not a number)
                reason = f"a value the head office cannot store: {str(exc).splitlines()[0]}"
                applier = chain.Applier(d)
        results.append((rid, PARKED if reason else APPLIED, reason[:1000]))
    return _mark(results, marked)


def _mark(results: list[tuple[int, str, str]], marked: bool = False) -> dict:
    from psycopg2.extras import execute_values
    d = db.database
    counts: dict[str, int] = {}
    for rid, status, reason in results:
        counts[status] = counts.get(status, 0) + 1
    applied = [r[0] for r in results if r[1] == APPLIED]
    parked = [r for r in results if r[1] == PARKED]
    if applied:
        if not marked:
            d.execute_sql("UPDATE hq_inbox SET status = 'APPLIED', reason = '', "
                          "applied_at = timezone('utc', clock_timestamp()) WHERE id = ANY(%s)", (applied,))
        # A parked older state of a row that has now applied is history, not work.
        d.execute_sql("UPDATE hq_inbox p SET status = 'SUPERSEDED' FROM hq_inbox a "
                      "WHERE a.id = ANY(%s) AND p.status = 'PARKED' AND p.branch_code = a.branch_code "
                      "AND p.table_name = a.table_name AND p.key = a.key AND p.id < a.id", (applied,))
    if parked:
        execute_values(d.cursor(), "UPDATE hq_inbox i SET status = 'PARKED', reason = v.reason, applied_at = NULL "
                                   "FROM (VALUES %s) AS v(id, reason) WHERE i.id = v.id",
                       [(rid, reason) for rid, _, reason in parked], page_size=1000)
    return counts


# --- pruning the head office's own change log -------------------------------------------------

def prune(keep_days: float, limit: int = chain.PRUNE_BATCH) -> int:
    """Delete rows of the head office's change log that every branch has pulled (below the lowest
    position the branches reported) and that are older than `keep_days`. A branch that has never
    reported (not yet joined, or an older release) holds everything back. A branch that comes back
    asking for rows that are gone (restored from an old backup, a new box) reads the tables whole
    (BranchLink.pull_once). Returns the number of rows deleted."""
    import datetime as dt
    rows = db.database.execute_sql("SELECT pulled_xid, pulled_seq FROM hq_branch_link").fetchall()
    if any(x is None or q is None for x, q in rows):
        return 0
    upto = min(((x, q) for x, q in rows), default=None)
    if upto is None:
        top = db.database.execute_sql("SELECT xid, seq FROM chain_change ORDER BY xid DESC, seq DESC LIMIT 1").fetchone()
        upto = tuple(top) if top else (0, 0)     # no branch yet: a new one reads the tables whole
    from .models import utcnow
    return chain.prune_log(upto, utcnow() - dt.timedelta(days=keep_days), limit, tables=chain.PULLED_TABLES)


# --- what people see -------------------------------------------------------------------------

def status() -> list[dict]:
    """Every branch: last contact, what it still holds (rows, seconds), what waits and is parked."""
    rows = db.database.execute_sql(
        "SELECT l.branch_code, l.last_contact_at, l.pending_rows, "
        "  EXTRACT(EPOCH FROM (timezone('utc', now()) - l.oldest_pending_at)), l.schema_version, l.last_error, "
        "  (SELECT count(*) FROM hq_inbox i WHERE i.branch_code = l.branch_code AND i.status = 'NEW'), "
        "  (SELECT count(*) FROM hq_inbox i WHERE i.branch_code = l.branch_code AND i.status = 'PARKED'), "
        "  (SELECT count(*) FROM hq_inbox i WHERE i.branch_code = l.branch_code AND i.status = 'APPLIED') "
        "FROM hq_branch_link l ORDER BY l.branch_code").fetchall()
    return [{"branch": r[0], "last_contact_at": r[1], "pending_rows": r[2],
             "lag_seconds": float(r[3]) if r[3] is not None else 0.0, "schema": r[4], "last_error": r[5],
             "waiting": r[6], "parked": r[7], "applied": r[8]} for r in rows]


def branches_behind(location_id: str) -> list[str]:
    """Branches mapped to a Shopify location that still hold changes for the head office, or whose
    changes here are not applied yet: their ledger here (and their Shopify jobs) are not complete,
    so reconciling the location now would show differences that are not real."""
    rows = db.database.execute_sql(
        "SELECT b.code FROM branch b LEFT JOIN hq_branch_link l ON l.branch_code = b.code "
        "WHERE b.shopify_location_id = %s AND (coalesce(l.pending_rows, 0) > 0 OR EXISTS ("
        "  SELECT 1 FROM hq_inbox i WHERE i.branch_code = b.code AND i.status = 'NEW')) ORDER BY b.code",
        (location_id,)).fetchall()
    return [r[0] for r in rows]


def parked(limit: int = 100) -> list[dict]:
    rows = db.database.execute_sql(
        "SELECT id, branch_code, table_name, key, reason, received_at FROM hq_inbox "
        "WHERE status = 'PARKED' ORDER BY id LIMIT %s", (limit,)).fetchall()
    return [{"id": r[0], "branch": r[1], "table": r[2], "key": r[3], "reason": r[4], "received_at": r[5]}
            for r in rows]


# --- store credit and points spent twice (issue 14) ---------------------------------------------

def overdrafts(what: str | None = None) -> list[dict]:
    """Customers whose store credit or points went below zero here and are not settled yet
    (see pos_core/overdrafts.py)."""
    from . import overdrafts as od
    return od.open_list(what)
