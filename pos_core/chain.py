"""Chain replication rules: which tables travel, by what identity, owned by whom, in which direction.

Every table in `models.MODELS` is either a `Table` in `TABLES` or named in `LOCAL_ONLY` with the
reason it stays on its site (a test enforces this; a new table must choose).

* **Identity.** A row crosses the wire by its chain-wide identity (`uid`, or a natural key such as a
  branch code, an SKU, a staff code, a phone, or its parent's identity plus a line number). Local
  integer ids never leave the site: a foreign key is sent as the identity of the row it points at
  and resolved to the receiver's own id on arrival (`serialize` / `apply`).
* **Ownership.** `up` tables are written by the branch that owns the row (`branch_path` names the
  foreign-key path to that branch) and flow branch -> head office; `down` tables are written at the
  head office (staff, branches, counters, catalog) and flow to every branch. `append_only` rows
  (ledger movements, credit entries, audit events) can be added but never changed.
* **Capture.** `enable_capture()` installs triggers that write a `chain_change` row (table, row id,
  and on PostgreSQL the transaction id) in the same transaction as every insert or update of a
  replicated table. The row is read and serialised when it is sent, so several changes of one row
  travel as its latest state. A single shop never calls it: nothing changes for one box.

The network side (connections to the head office, pushing and pulling) is `sync_agent/hq/`.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from functools import lru_cache

from peewee import BooleanField, DateTimeField, ForeignKeyField

from . import db
from .models import MODELS

UP, DOWN = "up", "down"


@dataclass(frozen=True)
class Table:
    name: str                       # the SQL table name
    identity: tuple[str, ...]       # field names; a foreign key in it stands for its row's identity
    owner: str                      # "branch" (the branch on branch_path), "hq", or "any" (merged)
    direction: str                  # UP: branch -> head office; DOWN: head office -> branches
    branch_path: str = ""           # dotted foreign keys from this row to its owning branch
    only_if: str = ""               # SQL on alias t: rows that do not match stay local (drafts)
    exclude: tuple[str, ...] = ()   # fields that never travel (local positions, projections)
    append_only: bool = False       # may be added at the other side, never changed there
    # Issue 14: an `up` row the head office passes on to branches: "all" (every branch: customers,
    # store credit) or "parties" (the branches the row names: a transfer's sender and receiver,
    # enforced at the head office by row-level security). The owner never takes its own row back.
    relay: str = ""
    # Columns each site keeps for itself (its Shopify ids, its FBR POSIDs): a row arriving from
    # the other side fills them only where this site has none (NULL or ''), and never replaces a
    # value this site has. So a branch that learned its own ids keeps them when the head office
    # changes a price, and a branch that has none still gets the head office's.
    local: tuple[str, ...] = ()


_NOT_DRAFT_ORDER = "EXISTS (SELECT 1 FROM pos_order o WHERE o.id = t.order_id AND o.status <> 'DRAFT')"
_NOT_DRAFT_TRANSFER = ("EXISTS (SELECT 1 FROM transfer x WHERE x.id = t.transfer_id "
                       "AND x.status NOT IN ('DRAFT', 'CANCELLED'))")

# Parents before children: a batch is applied in this order, so a line finds its order.
TABLES: list[Table] = [
    # -- down: the head office's records -----------------------------------------------------
    # A branch's Shopify location and FBR POSIDs are set where the branch is (its config, its FBR
    # registration); a product's and variant's Shopify ids may be learned by the branch itself (a
    # shop that joined with its own catalog import): see `local` above and docs/chain.md.
    Table("branch", ("code",), "hq", DOWN, local=("shopify_location_id", "fbr_online_posid")),
    Table("counter", ("branch", "code"), "hq", DOWN, local=("fbr_posid",)),
    Table("staff", ("code",), "hq", DOWN),
    Table("product", ("uid",), "hq", DOWN, local=("shopify_id", "shopify_updated_at")),
    Table("variant", ("sku",), "hq", DOWN, local=("shopify_id", "shopify_inventory_item_id")),
    Table("barcode", ("code",), "hq", DOWN),
    Table("smart_order", ("shopify_id",), "hq", DOWN),
    Table("smart_order_line", ("order", "shopify_line_id"), "hq", DOWN),
    # -- up: what a branch does ----------------------------------------------------------------
    # Customers are made at every counter; merged by phone (issue 14 merges their histories).
    # The balance is a projection of the credit entries, rebuilt at each site.
    Table("customer", ("phone",), "any", UP, exclude=("store_credit_paisa",), relay="all"),
    Table("supplier", ("name",), "any", UP),
    Table("shift", ("uid",), "branch", UP, "counter.branch"),
    Table("cash_movement", ("uid",), "branch", UP, "shift.counter.branch"),
    Table("pos_order", ("uid",), "branch", UP, "branch", only_if="t.status <> 'DRAFT'"),
    Table("pos_order_line", ("order", "line_no"), "branch", UP, "order.branch", only_if=_NOT_DRAFT_ORDER),
    Table("payment", ("uid",), "branch", UP, "order.branch", only_if=_NOT_DRAFT_ORDER),
    Table("credit_entry", ("event_key",), "branch", UP, append_only=True, relay="all"),
    Table("stock_movement", ("event_key",), "branch", UP, "branch", append_only=True),
    Table("audit_event", ("uid",), "branch", UP, append_only=True),
    # A transfer is the sender's; the receiver's count and each settlement are rows of the branch
    # that made them (issue 14). What was received and settled on the transfer itself is a
    # projection of those rows (transfers.project), rebuilt at each site: it does not travel.
    Table("transfer", ("uid",), "branch", UP, "from_branch", only_if="t.status NOT IN ('DRAFT', 'CANCELLED')",
          exclude=("received_by", "received_at"), relay="parties"),
    Table("transfer_line", ("transfer", "line_no"), "branch", UP, "transfer.from_branch",
          only_if=_NOT_DRAFT_TRANSFER, exclude=("qty_received", "resolution", "resolved_by", "resolved_at"),
          relay="parties"),
    Table("transfer_receipt", ("transfer",), "branch", UP, "branch", relay="parties"),
    Table("transfer_receipt_line", ("receipt", "line_no"), "branch", UP, "receipt.branch", relay="parties"),
    Table("transfer_settlement", ("transfer", "line_no"), "branch", UP, "branch", relay="parties"),
    Table("purchase_order", ("uid",), "branch", UP, "branch"),
    Table("purchase_order_line", ("uid",), "branch", UP, "order.branch"),
    Table("goods_receipt", ("uid",), "branch", UP, "order.branch"),
    Table("goods_receipt_line", ("receipt", "line_no"), "branch", UP, "receipt.order.branch"),
    Table("adjustment", ("uid",), "branch", UP, "branch"),
    Table("adjustment_line", ("adjustment", "line_no"), "branch", UP, "adjustment.branch"),
    # A stock take's ledger positions are local movement ids, meaningful only where it is counted
    # (it is always counted and posted at its own branch): they stay home.
    Table("stock_take", ("uid",), "branch", UP, "branch", exclude=("snapshot_movement_id",)),
    Table("stock_take_item", ("take", "variant"), "branch", UP, "take.branch"),
    Table("stock_take_count", ("uid",), "branch", UP, "take.branch", exclude=("last_movement_id",)),
    Table("fulfillment", ("uid",), "branch", UP, "branch"),
    Table("fulfillment_line", ("fulfillment", "line_no"), "branch", UP, "fulfillment.branch"),
    # -- issue 18: couriers -------------------------------------------------------------------
    Table("consignment", ("uid",), "branch", UP, "fulfillment.branch"),
    Table("cod_statement", ("uid",), "branch", UP, append_only=True),
    Table("cod_statement_line", ("statement", "row_no"), "branch", UP, append_only=True),
    # -- issue 16: loyalty, promotions, coupons, commission -------------------------------------
    # The rules are the head office's; points, coupon uses, promotions given and commission are
    # what a branch did. A coupon's use count travels down from the head office, which counts
    # every branch's uses as they arrive (so a code used up elsewhere is refused once that use
    # has reached this branch; two branches offline at once can each use a single-use code).
    Table("loyalty_tier", ("name",), "hq", DOWN),
    Table("loyalty_rule", ("category", "tier"), "hq", DOWN),
    Table("promotion", ("uid",), "hq", DOWN),
    Table("coupon", ("code",), "hq", DOWN),
    # Points and profiles follow the customer to every branch, like store credit.
    Table("customer_profile", ("customer",), "any", UP, relay="all"),
    Table("points_entry", ("event_key",), "branch", UP, append_only=True, relay="all"),
    Table("coupon_use", ("event_key",), "branch", UP, append_only=True),
    Table("order_promotion", ("uid",), "branch", UP, "order.branch", append_only=True),
    Table("commission_entry", ("event_key",), "branch", UP, "order.branch", append_only=True),
    # -- issue 14: Shopify through the head office ----------------------------------------------
    # A branch's Shopify job goes up with its stored payload and key; the head office's agent
    # sends it and its outcome comes down to that branch only (row-level security). See
    # shopify_relay.py.
    Table("shopify_relay", ("job_uid",), "branch", UP, "branch"),
    Table("shopify_outcome", ("job_uid",), "hq", DOWN),
]

LOCAL_ONLY: dict[str, str] = {
    "stock_level": "a projection of the movements, rebuilt at each site from its own ledger",
    "document_series": "counter numbering state; numbers are issued only on the counter's own box",
    "branch_series": "branch document numbering state, issued only at the branch itself",
    "outbox_job": "this site's work for its own agent; payloads carry local ids (variantId)",
    "agent_heartbeat": "the liveness of this site's agent, per channel",
    "reconciliation_run": "a comparison of one site's ledger with Shopify, made and kept there",
    "smart_order_event": "each site's agent and tills write their own timeline rows (issue 14 decides "
                         "which site's timeline is the record)",
    "chain_change": "the change log that drives replication; positions are per site",
    "chain_state": "this site's role and cursors",
    "chain_parked": "rows this site could not apply, kept here for a person",
    "points_balance": "a projection of the points entries, rebuilt at each site from the entries it holds",
    "loyalty_program": "one row of settings per site (point value, expiry), set there with pos-admin loyalty",
    "commission_plan": "each site's plans, set there with pos-admin commission (no chain-wide plans yet)",
    # issue 15: the back office's summaries, recomputed at each site from the documents it holds
    # (the head office's cover the whole chain, a branch's its own branch)
    "stock_activity": "a summary of this site's ledger, caught up from its own movements",
    "summary_watermark": "how far this site's summaries are brought up to date",
    "sales_daily": "a summary of the documents this site holds, recomputed there",
    "payments_daily": "a summary of the documents this site holds, recomputed there",
    "sales_item_monthly": "a summary of the documents this site holds, recomputed there",
    "sales_item_chain": "a summary of this site's sales_item_monthly, recomputed there",
    "sales_item_catalog": "the catalog groups this site's item summary was counted with",
    "sales_item_yearly": "a summary of this site's sales_item_chain per year, recomputed there",
    "reorder_forecast": "this site's forecast from its own ledger, recomputed there",
    "sales_option_monthly": "a summary of this site's sales_item_monthly, recomputed there",
    "stock_cost": "a summary of the goods receipts this site holds, caught up there",
    "sales_discount": "a summary of the documents this site holds, recomputed there",
    "sales_salesperson_daily": "a summary of the documents this site holds, recomputed there",
    # issue 14: a branch's copies of the head office's answers, for when the link is down
    "chain_stock_copy": "the head office's last answer of every branch's stock, kept where it was asked",
    "order_claim": "who holds an online order's lines, as the head office last told this branch",
}

BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}
RANK: dict[str, int] = {t.name: i for i, t in enumerate(TABLES)}
UP_TABLES = tuple(t.name for t in TABLES if t.direction == UP)
DOWN_TABLES = tuple(t.name for t in TABLES if t.direction == DOWN)
RELAY_TABLES = tuple(t.name for t in TABLES if t.relay)
PULLED_TABLES = DOWN_TABLES + RELAY_TABLES   # what a branch pulls from the head office


class Unresolved(Exception):
    """A foreign key names a row this side does not have (yet): the row is parked and retried."""


class Refused(Exception):
    """The row may not be applied here (not the sender's, or an append-only row changed)."""


# --- model metadata ---------------------------------------------------------------------------

@lru_cache(maxsize=None)
def model_for(table: str):
    for m in MODELS:
        if m._meta.table_name == table:
            return m
    raise KeyError(table)


@lru_cache(maxsize=None)
def _fields(table: str):
    t = BY_NAME[table]
    return [f for f in model_for(table)._meta.sorted_fields
            if f.name != "id" and f.name not in t.exclude]


@lru_cache(maxsize=None)
def _known(table: str) -> dict:
    return {f.name: f for f in _fields(table)}


def _frozen(identity):
    """A hashable stand-in for an identity, for the applier's caches (json.dumps with sorted keys,
    once per foreign key of every row, was a fifth of the applier's time)."""
    if isinstance(identity, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in identity.items()))
    return identity


def _wire_value(field, raw):
    if raw is None:
        return None
    if isinstance(field, BooleanField):
        return bool(raw)
    if isinstance(field, DateTimeField):
        if isinstance(raw, dt.datetime):
            return str(raw)   # "YYYY-MM-DD HH:MM:SS[.ffffff]": the form peewee reads back
        return str(raw)
    return raw


def _sql(d, text: str) -> str:
    return text.replace("?", d.param) if d.param != "?" else text


def _fetch(d, text: str, params=()):
    return d.execute_sql(_sql(d, text), params).fetchall()


# --- out: rows as wire records ----------------------------------------------------------------

class Serializer:
    """Reads rows of database `d` and turns them into wire records; caches identities per batch."""

    def __init__(self, d, columns: dict[str, set[str]] | None = None):
        """`columns`: what the database at `d` has, per table, when it may run another release
        (the head office, read by a branch): fields it lacks are left out, not asked for."""
        self.d = d
        self.columns = columns
        self._ident: dict[tuple[str, int], dict] = {}

    def identity_of(self, table: str, row_id: int) -> dict:
        key = (table, row_id)
        if key not in self._ident:
            t = BY_NAME[table]
            m = model_for(table)
            fields = [m._meta.fields[name] for name in t.identity]
            cols = ", ".join(f.column_name for f in fields)
            rows = _fetch(self.d, f"SELECT {cols} FROM {table} WHERE id = ?", (row_id,))
            if not rows:
                raise Unresolved(f"{table} id {row_id} is missing")
            ident = {}
            for f, raw in zip(fields, rows[0]):
                if isinstance(f, ForeignKeyField):
                    ident[f.name] = self.identity_of(f.rel_model._meta.table_name, raw)
                else:
                    ident[f.name] = _wire_value(f, raw)
            self._ident[key] = ident
        return self._ident[key]

    def records(self, table: str, row_ids: list[int]) -> dict[int, dict]:
        """{row id: {"t", "k", "d"}} for rows that exist and pass the table's `only_if`."""
        if not row_ids:
            return {}
        t = BY_NAME[table]
        fields = _fields(table)
        if self.columns is not None:
            fields = [f for f in fields if f.column_name in self.columns.get(table, ())]
        cols = ", ".join(f"t.{f.column_name}" for f in fields)
        marks = ", ".join("?" for _ in row_ids)
        where = f"t.id IN ({marks})" + (f" AND ({t.only_if})" if t.only_if else "")
        out = {}
        for row in _fetch(self.d, f"SELECT t.id, {cols} FROM {table} t WHERE {where}", tuple(row_ids)):
            data = {}
            for f, raw in zip(fields, row[1:]):
                if isinstance(f, ForeignKeyField):
                    data[f.name] = None if raw is None else self.identity_of(f.rel_model._meta.table_name, raw)
                else:
                    data[f.name] = _wire_value(f, raw)
            ident = {name: data[name] for name in t.identity}
            out[row[0]] = {"t": table, "k": key_text(ident), "d": data}
        return out


def key_text(identity: dict) -> str:
    return json.dumps(identity, sort_keys=True, separators=(",", ":"))


# --- in: wire records applied by identity ------------------------------------------------------

class Applier:
    """Applies wire records to database `d` (inside the caller's transaction), resolving identities
    to this side's ids. `origin` is the sending branch's code (None when the head office sends)."""

    def __init__(self, d):
        self.d = d
        self._ids: dict[tuple, int] = {}             # (table, _frozen(identity)) -> id here
        self._owners: dict[tuple, str | None] = {}
        self._branches: dict[int, str] | None = None

    def find(self, table: str, identity: dict) -> int | None:
        key = (table, _frozen(identity))
        if key in self._ids:
            return self._ids[key]
        t = BY_NAME[table]
        m = model_for(table)
        conds, params = [], []
        for name in t.identity:
            f = m._meta.fields[name]
            value = identity.get(name)
            if isinstance(f, ForeignKeyField):
                value = self.resolve(f.rel_model._meta.table_name, value)
            conds.append(f"{f.column_name} = ?")
            params.append(value)
        rows = _fetch(self.d, f"SELECT id FROM {table} WHERE {' AND '.join(conds)}", tuple(params))
        if rows:
            self._ids[key] = rows[0][0]
            return rows[0][0]
        return None

    def prefetch(self, table: str, identities) -> None:
        """Resolve many identities of `table` in one query (theirs first, recursively), so a batch
        costs one round trip per table rather than one per foreign key. What is not found is left
        to `find`, which raises Unresolved for it as before."""
        from psycopg2.extras import execute_values
        t = BY_NAME.get(table)
        if t is None:
            return
        todo: dict[tuple, dict] = {}
        for ident in identities:
            if isinstance(ident, dict):
                k = (table, _frozen(ident))
                if k not in self._ids:
                    todo.setdefault(k, ident)
        if not todo:
            return
        m = model_for(table)
        fields = [m._meta.fields[n] for n in t.identity]
        for f in fields:
            if isinstance(f, ForeignKeyField):
                self.prefetch(f.rel_model._meta.table_name, [i.get(f.name) for i in todo.values()])
        wanted: dict[tuple, tuple] = {}
        for k, ident in todo.items():
            row = []
            for f in fields:
                v = ident.get(f.name)
                if isinstance(f, ForeignKeyField) and v is not None:
                    v = self._ids.get((f.rel_model._meta.table_name, _frozen(v)))
                if v is None:
                    break
                row.append(v)
            else:
                wanted[tuple(row)] = k
        if not wanted:
            return
        cols = [f.column_name for f in fields]
        # the first hop towards the owning branch comes along, for the sender check
        path = t.branch_path.split(".") if t.branch_path else []
        hop = m._meta.fields[path[0]].column_name if path else None
        extra = f", t.{hop}" if hop else ""
        cur = self.d.cursor()
        rows = execute_values(cur, f"SELECT t.id{extra}, {', '.join('t.' + c for c in cols)} FROM {table} t "
                                   f"JOIN (VALUES %s) AS v({', '.join(cols)}) USING ({', '.join(cols)})",
                              list(wanted), page_size=1000, fetch=True)
        for r in rows:
            row_id, rest = r[0], r[1:]
            if hop:
                hop_id, rest = rest[0], rest[1:]
                target = m._meta.fields[path[0]].rel_model._meta.table_name
                if len(path) == 1 and hop_id is not None:
                    self._owners[(table, row_id, tuple(path))] = self._code_of_branch(hop_id)
                elif hop_id is not None and (target, hop_id, tuple(path[1:])) in self._owners:
                    self._owners[(table, row_id, tuple(path))] = self._owners[(target, hop_id, tuple(path[1:]))]
            k = wanted.get(tuple(rest))
            if k is not None:
                self._ids[k] = row_id
                self._learn_owner(table, row_id, todo[k])

    def _learn_owner(self, table: str, row_id: int, ident: dict) -> None:
        # A row whose identity names its branch (a counter) or is a branch: its owner is known.
        if table == "branch":
            self._owners[("branch", row_id, ())] = ident.get("code")
            return
        m = model_for(table)
        for name in BY_NAME[table].identity:
            f = m._meta.fields[name]
            if isinstance(f, ForeignKeyField) and f.rel_model._meta.table_name == "branch":
                value = ident.get(name)
                if isinstance(value, dict):
                    self._owners[(table, row_id, (name,))] = value.get("code")

    def _code_of_branch(self, branch_id: int) -> str | None:
        key = ("branch", branch_id, ())
        if key not in self._owners:
            if self._branches is None:     # a chain has tens of branches: read them all once
                self._branches = dict(_fetch(self.d, "SELECT id, code FROM branch"))
            if branch_id in self._branches:
                self._owners[key] = self._branches[branch_id]
            else:
                rows = _fetch(self.d, "SELECT code FROM branch WHERE id = ?", (branch_id,))
                self._owners[key] = rows[0][0] if rows else None
        return self._owners[key]

    def prefetch_records(self, records: list[dict]) -> None:
        """Resolve every foreign key that `records` (of one table) name, one query per table."""
        if not records or records[0]["t"] not in BY_NAME:
            return
        wanted: dict[str, list] = {}
        known = _known(records[0]["t"])
        for rec in records:
            for name, value in rec["d"].items():
                f = known.get(name)
                if isinstance(value, dict) and isinstance(f, ForeignKeyField):
                    wanted.setdefault(f.rel_model._meta.table_name, []).append(value)
        for table in sorted(wanted, key=lambda n: RANK.get(n, -1)):
            self.prefetch(table, wanted[table])

    def resolve(self, table: str, identity: dict | None) -> int | None:
        if identity is None:
            return None
        found = self.find(table, identity)
        if found is None:
            raise Unresolved(f"unknown {table} {key_text(identity)}")
        return found

    def _branch_code(self, table: str, values: dict) -> str | None:
        path = BY_NAME[table].branch_path.split(".")
        m = model_for(table)
        row_id = values[m._meta.fields[path[0]].column_name]
        m = m._meta.fields[path[0]].rel_model
        key = (m._meta.table_name, row_id, tuple(path[1:]))
        if key in self._owners:
            return self._owners[key]
        start = key
        for part in path[1:]:
            f = m._meta.fields[part]
            row_id = _fetch(self.d, f"SELECT {f.column_name} FROM {m._meta.table_name} WHERE id = ?", (row_id,))[0][0]
            m = f.rel_model
        self._owners[start] = self._code_of_branch(row_id)
        return self._owners[start]

    def _prepare(self, record: dict, origin: str | None):
        """Check a record and resolve its foreign keys: (values by column, identity)."""
        table = record["t"]
        if table not in BY_NAME:
            raise Refused(f"unknown table {table!r} (the sender runs a newer schema?)")
        t = BY_NAME[table]
        data = record["d"]
        known = _known(table)
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise Refused(f"{table}: unknown field(s) {', '.join(unknown)} (the sender runs a newer schema?)")
        values = {}
        for name, value in data.items():
            f = known[name]
            if isinstance(f, ForeignKeyField):
                value = self.resolve(f.rel_model._meta.table_name, value)
            values[f.column_name] = value
        if origin is not None:
            if t.direction != UP:
                raise Refused(f"{table} is the head office's to change, not {origin}'s")
            if t.branch_path:
                owner = self._branch_code(table, values)
                if owner != origin:
                    raise Refused(f"{table} {record['k']} belongs to {owner}, not to {origin}")
        return values, {name: data[name] for name in t.identity}

    def apply(self, record: dict, origin: str | None = None) -> str:
        """Insert or update one record; returns "inserted", "updated" or "same"."""
        values, ident = self._prepare(record, origin)
        return self._apply_prepared(record, values, ident)

    @staticmethod
    def _with_defaults(table: str, values: dict) -> dict:
        """A record from an older release lacks some fields: a new row gets their defaults. So do
        the fields that never travel (a customer's credit balance starts at 0 and is projected)."""
        out = dict(values)
        for f in model_for(table)._meta.sorted_fields:
            if f.name == "id":
                continue
            if f.column_name not in out and f.default is not None:
                out[f.column_name] = f.db_value(f.default() if callable(f.default) else f.default)
        return out

    def _apply_prepared(self, record: dict, values: dict, ident: dict) -> str:
        table = record["t"]
        t = BY_NAME[table]
        m = model_for(table)
        existing = self.find(table, ident)
        if existing is None:
            values = self._with_defaults(table, values)
            cols = list(values)
            sql = (f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})")
            if db_is_pg(self.d):
                new_id = self.d.execute_sql(_sql(self.d, sql + " RETURNING id"),
                                            tuple(values[c] for c in cols)).fetchone()[0]
            else:
                new_id = self.d.execute_sql(_sql(self.d, sql), tuple(values[c] for c in cols)).lastrowid
            self._ids[(table, _frozen(ident))] = new_id
            hook = _AFTER_INSERT.get(table)
            if hook:
                hook(self, values)
            _after_apply(self, table, values, new_id)
            return "inserted"
        cols = list(values)
        current = _fetch(self.d, f"SELECT {', '.join(cols)} FROM {table} WHERE id = ?", (existing,))[0]
        merge = _MERGE.get(table)
        if merge:
            values = merge(dict(zip(cols, current)), values)
        if t.local:
            values = keep_local(t, dict(zip(cols, current)), values)
        same = all(_same(known_f, a, values[c]) for known_f, a, c in
                   zip((_by_column(m, c) for c in cols), current, cols))
        if same:
            return "same"
        if t.append_only:
            raise Refused(f"{table} {record['k']} was recorded before with other content; "
                          "an append-only record is never changed")
        sets = ", ".join(f"{c} = ?" for c in cols)
        self.d.execute_sql(_sql(self.d, f"UPDATE {table} SET {sets} WHERE id = ?"),
                           tuple(values[c] for c in cols) + (existing,))
        _after_apply(self, table, values, existing)
        return "updated"


    def apply_many(self, records: list[dict], origin: str | list[str | None] | None = None) -> None:
        """Apply a batch (PostgreSQL) in a few statements per table instead of round trips per row:
        one query per referenced table resolves the foreign keys the rows name (`prefetch`), one
        INSERT ... ON CONFLICT DO NOTHING RETURNING adds the new rows, and only the rows that were
        here already (a resend, a later state of a row) are compared one by one. Any problem
        raises, and the caller undoes the batch and applies it row by row (which parks just the
        bad rows). Records must come parents first (RANK order)."""
        from psycopg2.extras import execute_values
        origins = origin if isinstance(origin, list) else [origin] * len(records)
        groups: list[tuple[str, list[tuple[dict, str | None]]]] = []
        for rec, o in zip(records, origins):
            if groups and groups[-1][0] == rec["t"]:
                groups[-1][1].append((rec, o))
            else:
                groups.append((rec["t"], [(rec, o)]))
        moves: dict[tuple[int, int], int] = {}
        for table, recs in groups:
            t = BY_NAME.get(table)
            self.prefetch_records([rec for rec, _ in recs])
            prepared = [(rec, *self._prepare(rec, o), o) for rec, o in recs]
            m = model_for(table)
            id_cols = [m._meta.fields[n].column_name for n in t.identity]
            first, later, seen = [], [], set()
            for item in prepared:
                k = item[0]["k"]
                (later if k in seen else first).append(item)
                seen.add(k)
            old = []
            if first:
                rows_in = [self._with_defaults(table, v) for _, v, _, _ in first]
                cols = list(rows_in[0])
                if any(list(v) != cols for v in rows_in):
                    raise Refused("records of one table differ in their fields")   # row by row instead
                cur = self.d.cursor()
                # A row already here (or clashing with another unique key) is skipped by the
                # INSERT and taken by the slow path below, which compares, updates or raises.
                # The rows travel as one JSON array that PostgreSQL turns into rows of the table's
                # own type (json_populate_recordset): no per-row quoting on this side.
                cur.execute(f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(cols)} "
                            f"FROM json_populate_recordset(NULL::{table}, %s) "
                            f"ON CONFLICT DO NOTHING RETURNING id, {', '.join(id_cols)}",
                            (json.dumps(rows_in, default=str),))
                rows = cur.fetchall()
                by_key = {tuple(r[1:]): r[0] for r in rows}
                matched = 0
                for (rec, sent, ident, o), values in zip(first, rows_in):
                    new_id = by_key.get(tuple(values[c] for c in id_cols))
                    if new_id is None:
                        old.append((rec, sent, ident))
                        continue
                    matched += 1
                    self._ids[(table, _frozen(ident))] = new_id
                    if o is not None and t.branch_path:
                        # its children ask whose it is: we know (it passed the check as the sender's)
                        self._owners[(table, new_id, tuple(t.branch_path.split(".")))] = o
                    if table == "stock_movement":
                        k2 = (values["variant_id"], values["branch_id"])
                        moves[k2] = moves.get(k2, 0) + values["delta"]
                    elif table in _AFTER_INSERT:
                        _AFTER_INSERT[table](self, values)
                    _after_apply(self, table, values, new_id)
                if matched != len(rows):
                    # an inserted row we could not tell by its identity: never guess (its hooks
                    # would not run); undo and go row by row
                    raise Refused(f"{table}: inserted rows do not match their identities")
            if old:
                self.prefetch(table, [ident for _, _, ident in old])
            for rec, values, ident in old + [(rec, v, i) for rec, v, i, _ in later]:
                self._apply_prepared(rec, values, ident)
        if moves:
            cur = self.d.cursor()
            execute_values(cur, "INSERT INTO stock_level (variant_id, branch_id, on_hand) VALUES %s "
                                "ON CONFLICT (variant_id, branch_id) DO UPDATE SET on_hand = stock_level.on_hand + excluded.on_hand",
                           sorted((v, b, d) for (v, b), d in moves.items()))


def db_is_pg(d) -> bool:
    from peewee import PostgresqlDatabase
    return isinstance(getattr(d, "obj", d), PostgresqlDatabase)   # a DatabaseProxy or the database


def _by_column(m, column):
    for f in m._meta.sorted_fields:
        if f.column_name == column:
            return f
    raise KeyError(column)


def _same(field, stored, incoming) -> bool:
    if stored is None or incoming is None:
        return stored is None and incoming is None
    if isinstance(field, BooleanField):
        return bool(stored) == bool(incoming)
    if isinstance(field, DateTimeField):
        return str(stored) == str(incoming)
    return stored == incoming


def _after_movement(applier: Applier, v: dict) -> None:
    # The level is a projection: each site keeps its own from the movements it holds.
    d = applier.d
    d.execute_sql(_sql(d, "INSERT INTO stock_level (variant_id, branch_id, on_hand) VALUES (?, ?, ?) "
                          "ON CONFLICT (variant_id, branch_id) DO UPDATE SET on_hand = stock_level.on_hand + excluded.on_hand"),
                  (v["variant_id"], v["branch_id"], v["delta"]))


def _after_credit(applier: Applier, v: dict) -> None:
    d = applier.d
    d.execute_sql(_sql(d, "UPDATE customer SET store_credit_paisa = store_credit_paisa + ? WHERE id = ?"),
                  (v["delta_paisa"], v["customer_id"]))


def _after_points(applier: Applier, v: dict) -> None:
    # Like store credit: the balance is a projection of the entries this site holds.
    d = applier.d
    d.execute_sql(_sql(d, "INSERT INTO points_balance (customer_id, points, updated_at) VALUES (?, ?, ?) "
                          "ON CONFLICT (customer_id) DO UPDATE SET points = points_balance.points + excluded.points"),
                  (v["customer_id"], v["delta"], _now()))


def _after_coupon_use(applier: Applier, v: dict) -> None:
    # At the head office: count a branch's use, so the coupon row going down carries every use.
    # The use that reaches a Shopify code's limit ends the code in Shopify (the head office reads
    # Shopify's codes, so it talks to Shopify): uses at two branches offline at once add up here.
    d = applier.d
    d.execute_sql(_sql(d, "UPDATE coupon SET uses = uses + 1 WHERE id = ?"), (v["coupon_id"],))
    from . import coupons
    from .models import PosOrder
    coupons.queue_writeback(v["coupon_id"], PosOrder.get_by_id(v["order_id"]))


_AFTER_INSERT = {"stock_movement": _after_movement, "credit_entry": _after_credit,
                 "points_entry": _after_points, "coupon_use": _after_coupon_use}


def keep_local(t: Table, here: dict, incoming: dict) -> dict:
    """A site's own value of a `local` column stands; the other side's only fills an empty one."""
    out = dict(incoming)
    for name in t.local:
        col = model_for(t.name)._meta.fields[name].column_name
        if col in out and here.get(col) not in (None, ""):
            out[col] = here[col]
    return out


def _merge_customer(here: dict, incoming: dict) -> dict:
    """One customer chain-wide, by phone. Two branches that made the same phone offline both keep
    their history (their documents point at the phone, so at the head office they point at one
    customer); the details merge field by field: a value is never replaced by an empty one, the
    later edit wins, the earliest creation date stays. Every site merges alike, so they converge."""
    out = dict(incoming)
    newer = str(incoming.get("updated_at") or "") > str(here.get("updated_at") or "")
    for col in ("name", "email", "shopify_id"):
        if col in out:
            mine, theirs = here.get(col), out[col]
            if not theirs or (mine and not newer):
                out[col] = mine
    for col, pick in (("created_at", min), ("updated_at", max)):
        if out.get(col) is not None and here.get(col) is not None:
            out[col] = pick((str(here[col]), str(out[col])))
    return out


_MERGE = {"customer": _merge_customer}


def _after_apply(applier: Applier, table: str, values: dict, row_id: int) -> None:
    """A transfer's status is a projection of its receipt and settlements: rebuild it whenever
    one of them, or the transfer itself, is applied here. A branch's Shopify job arriving at the
    head office becomes a job of the head office's outbox."""
    if table == "shopify_relay":
        from . import shopify_relay   # at the head office: the branch's job becomes one it sends
        shopify_relay.arrived(row_id)
        return
    if not table.startswith("transfer"):
        return
    if table == "transfer":
        transfer_id = row_id
    elif table == "transfer_receipt_line":
        rows = _fetch(applier.d, "SELECT transfer_id FROM transfer_receipt WHERE id = ?", (values["receipt_id"],))
        transfer_id = rows[0][0] if rows else None
    else:
        transfer_id = values.get("transfer_id")
    if transfer_id is not None:
        from . import transfers
        transfers.project(transfer_id)


def owner_code(d, table: str, row_id: int) -> str | None:
    """The code of the branch that owns a row of `table` (along its branch_path), read locally."""
    m = model_for(table)
    for part in BY_NAME[table].branch_path.split("."):
        f = m._meta.fields[part]
        rows = _fetch(d, f"SELECT {f.column_name} FROM {m._meta.table_name} WHERE id = ?", (row_id,))
        if not rows or rows[0][0] is None:
            return None
        row_id, m = rows[0][0], f.rel_model
    rows = _fetch(d, "SELECT code FROM branch WHERE id = ?", (row_id,))
    return rows[0][0] if rows else None


def change_mark(d) -> int:
    """Where this transaction's change rows will start (see forget_changes_since)."""
    if db_is_pg(d):
        return 0
    return _fetch(d, "SELECT coalesce(max(seq), 0) FROM chain_change")[0][0]


def forget_changes_since(d, mark: int) -> None:
    """Drop the change rows this transaction wrote: what a branch applied from the head office
    (and the projections it rebuilt from it) is not news to send back. On SQLite writers are
    serialised, so every row after `mark` is ours; on PostgreSQL, ours carry our transaction id."""
    if db_is_pg(d):
        d.execute_sql("DELETE FROM chain_change WHERE xid = pg_current_xact_id()::text::bigint")
    else:
        d.execute_sql("DELETE FROM chain_change WHERE seq > ?", (mark,))


# --- pruning ----------------------------------------------------------------------------------

PRUNED = "pruned_to"      # chain_state: the highest change position this site has deleted
PRUNE_BATCH = 5000        # change rows deleted per call (the agent calls again a minute later)


def parse_position(text: str) -> tuple[int, int]:
    if not text:
        return (0, 0)
    x, s = text.split(":")
    return (int(x), int(s))


def prune_log(upto: tuple[int, int], older_than: dt.datetime, limit: int = PRUNE_BATCH,
              tables: tuple[str, ...] | None = None) -> int:
    """Delete change rows at or below position `upto` (what every reader has confirmed) written
    before `older_than` (kept that long for a restored reader), at most `limit` of them. The
    newest row always stays: a branch compares it with the head office's position to tell that
    its own database was restored. The highest position deleted is kept as PRUNED, in the same
    transaction, so a reader that comes back asking for less knows the log no longer has it."""
    d = db.database
    top = _fetch(d, "SELECT xid, seq FROM chain_change ORDER BY xid DESC, seq DESC LIMIT 1")
    if not top:
        return 0
    only = f" AND table_name IN ({', '.join('?' for _ in tables)})" if tables else ""
    with db.write():
        gone = _fetch(d, "DELETE FROM chain_change WHERE seq IN (SELECT seq FROM chain_change "
                         f"WHERE (xid < ? OR (xid = ? AND seq <= ?)) AND created_at < ? AND seq <> ?{only} "
                         "ORDER BY seq LIMIT ?) RETURNING xid, seq",
                      (upto[0], upto[0], upto[1], str(older_than), top[0][1], *(tables or ()), limit))
        if gone:
            high = max(tuple(r) for r in gone)
            if high > parse_position(get_state(PRUNED)):
                set_state(PRUNED, f"{high[0]}:{high[1]}")
    return len(gone)


# --- capture ----------------------------------------------------------------------------------

def _trigger_sql_sqlite(table: str) -> list[str]:
    out = []
    for op in ("INSERT", "UPDATE"):
        name = f"chain_{op.lower()}_{table}"
        out.append(f"DROP TRIGGER IF EXISTS {name}")
        out.append(f"CREATE TRIGGER {name} AFTER {op} ON {table} BEGIN "
                   f"INSERT INTO chain_change (xid, table_name, row_id, created_at) "
                   f"VALUES (0, '{table}', NEW.id, strftime('%Y-%m-%d %H:%M:%f', 'now')); END")
    return out


PG_CAPTURE_FUNCTION = """
CREATE OR REPLACE FUNCTION chain_capture() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- pg_current_xact_id(): readers order by (xid, seq) and stop below the oldest running
  -- transaction, so a transaction that took a lower seq but commits later is never passed.
  INSERT INTO chain_change (xid, table_name, row_id, created_at)
  VALUES (pg_current_xact_id()::text::bigint, TG_TABLE_NAME, NEW.id, timezone('utc', clock_timestamp()));
  RETURN NULL;
END $$
"""


def _trigger_sql_pg(table: str) -> list[str]:
    return [f"DROP TRIGGER IF EXISTS chain_capture ON {table}",
            f"CREATE TRIGGER chain_capture AFTER INSERT OR UPDATE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION chain_capture()"]


def _drop_trigger_sql(table: str) -> list[str]:
    if db.is_postgres():
        return [f"DROP TRIGGER IF EXISTS chain_capture ON {table}"]
    return [f"DROP TRIGGER IF EXISTS chain_{op}_{table}" for op in ("insert", "update")]


def enable_capture(role: str | None = None) -> None:
    """Install (or re-install after a migration) the change-capture triggers on the tables this
    site sends: a branch its `up` tables, the head office its `down` tables (what a site only
    receives is not logged, so applying it costs no trigger). Marks the site."""
    role = role or get_state("capture_role") or "branch"
    sends = UP if role == "branch" else DOWN
    relayed = set(RELAY_TABLES) if role != "branch" else set()
    with db.write():
        if db.is_postgres():
            db.database.execute_sql(PG_CAPTURE_FUNCTION)
        for t in TABLES:
            if t.direction == sends or t.name in relayed:
                sqls = _trigger_sql_pg(t.name) if db.is_postgres() else _trigger_sql_sqlite(t.name)
            else:
                sqls = _drop_trigger_sql(t.name)
            for sql in sqls:
                db.database.execute_sql(sql)
        set_state("capture", "on")
        set_state("capture_role", role)


def capture_enabled() -> bool:
    return get_state("capture") == "on"


def backfill() -> int:
    """Log every existing replicated row once, parents first: a shop joining a chain sends its
    history. Returns the number of rows logged."""
    n = 0
    with db.write():
        for t in TABLES:
            if t.direction != UP:
                continue
            cur = db.database.execute_sql(
                _sql(db.database, f"INSERT INTO chain_change (xid, table_name, row_id, created_at) "
                                  f"SELECT {'pg_current_xact_id()::text::bigint' if db.is_postgres() else '0'}, "
                                  f"'{t.name}', id, ? FROM {t.name} ORDER BY id"),
                (str(_now()),))
            n += cur.rowcount or 0
    return n


def _now():
    from .models import utcnow
    return utcnow()


def get_state(key: str, default: str = "") -> str:
    from .models import ChainState
    row = ChainState.get_or_none(ChainState.key == key)
    return row.value if row else default


def set_state(key: str, value: str) -> None:
    from .models import ChainState
    with db.write():
        ChainState.insert(key=key, value=value).on_conflict(
            conflict_target=[ChainState.key], update={ChainState.value: value}).execute()
