"""Versioned schema changes.

A new database is created from the current models and stamped with every migration (`init`).
An existing one gets the migrations it has not seen, in order, each in its own transaction
(`migrate`). So migration 1 is "the schema as first released"; later ones are explicit
ALTERs written with playhouse.migrate, and a test compares a migrated database with a new one.
"""
from __future__ import annotations

import contextlib
from typing import Callable

from peewee import CharField, DateTimeField, IntegerField, Model

from . import db
from .models import MODELS, utcnow


class SchemaMigration(Model):
    version = IntegerField(primary_key=True)
    name = CharField()
    applied_at = DateTimeField(default=utcnow)

    class Meta:
        database = db.database
        table_name = "schema_migration"


def _initial(database) -> None:
    database.create_tables(MODELS)
    _search_objects(database)


def _search_objects(database) -> None:
    from . import catalog  # here: the till's schema check at start-up does not need the search code
    statements = catalog.SQLITE_FTS if db.is_sqlite() else catalog.POSTGRES_SEARCH
    for sql in statements:
        database.execute_sql(sql)


def _loyalty(database) -> None:
    """Issue 16: loyalty points, promotions, coupons, commission and customer profiles (new tables only)."""
    from .models import LOYALTY_MODELS
    database.create_tables(LOYALTY_MODELS)


# Tables that got a chain-wide `uid` in migration 4 (they had only a local integer id).
UID_TABLES_4 = ("product", "cash_movement", "payment", "audit_event", "purchase_order_line",
                "stock_take_count", "smart_order_event")


def _chain_identities(database) -> None:
    """Migration 4 (issue 13): a uid on every row that lacked a chain-wide identity, filled for
    existing rows, and the change-log tables. Capture triggers are installed only when the site
    joins a chain (chain.enable_capture), so a single shop writes no change log."""
    from .models import ChainChange, ChainParked, ChainState
    fill = ("lower(hex(randomblob(16)))" if db.is_sqlite()
            else "md5(random()::text || clock_timestamp()::text || id::text)")
    for table in UID_TABLES_4:
        if "uid" not in {c.name for c in database.get_columns(table)}:   # (a test may build it so)
            database.execute_sql(f"ALTER TABLE {table} ADD COLUMN uid VARCHAR(255)")
        database.execute_sql(f"UPDATE {table} SET uid = {fill} WHERE uid IS NULL")
        if db.is_postgres():
            database.execute_sql(f"ALTER TABLE {table} ALTER COLUMN uid SET NOT NULL")
        database.execute_sql(f"CREATE UNIQUE INDEX IF NOT EXISTS {table}_uid ON {table} (uid)")
    database.create_tables([ChainChange, ChainState, ChainParked])


def _office_summaries(database) -> None:
    # Issue 15: the back office's summary of the ledger (see models.StockActivity).
    from .models import PaymentsDaily, SalesDaily, StockActivity, SummaryWatermark
    database.create_tables([StockActivity, SummaryWatermark, SalesDaily, PaymentsDaily])


def _couriers(database) -> None:
    """Issue 18: consignments booked with couriers, COD statements and their lines."""
    from .models import COURIER_MODELS
    database.create_tables(COURIER_MODELS)


def _shelf(database) -> None:
    """Issue 17: PLU, unit of measure and Urdu name on variants; department and sub-category on
    products; the embedded code that priced an order line."""
    from peewee import CharField as Char, IntegerField as Int
    from playhouse.migrate import SchemaMigrator, migrate as run
    m = SchemaMigrator.from_database(database)
    run(m.add_column("variant", "plu", Int(null=True)),
        m.add_column("variant", "measure_unit", Char(default="", max_length=8)),
        m.add_column("variant", "urdu_name", Char(null=True)),
        m.add_column("product", "department", Char(default="")),
        m.add_column("product", "sub_category", Char(default="")),
        m.add_column("pos_order_line", "scanned_code", Char(null=True)),
        m.add_index("variant", ("plu",), True),
        m.add_index("product", ("department",), False))


def _transfer_receipts(database) -> None:
    """Issue 14: a transfer's receipt and settlements become rows of the branch that made them.
    A database that already received transfers gets those rows from its lines, so the transfer's
    status (now their projection) stays what it was."""
    from .models import (Transfer, TransferLine, TransferReceipt, TransferReceiptLine, TransferSettlement,
                         WORKFLOW_MODELS, new_uid, utcnow)
    database.create_tables(WORKFLOW_MODELS)
    for t in Transfer.select().where(Transfer.received_at.is_null(False)):
        r = TransferReceipt.create(uid=new_uid(), transfer=t.id, branch=t.to_branch_id,
                                   received_by=t.received_by_id or t.created_by_id, received_at=t.received_at)
        for line in TransferLine.select().where(TransferLine.transfer == t.id):
            TransferReceiptLine.create(receipt=r.id, line_no=line.line_no, qty_received=line.qty_received or 0)
            if line.resolution:
                from .transfers import RESOLUTIONS
                side = RESOLUTIONS.get(line.resolution, (None, None))[1]
                TransferSettlement.create(uid=new_uid(), transfer=t.id, line_no=line.line_no,
                                          branch=t.from_branch_id if side == "from" else t.to_branch_id,
                                          resolution=line.resolution,
                                          resolved_by=line.resolved_by_id or t.created_by_id,
                                          resolved_at=line.resolved_at or utcnow())


def _draft_extras(database) -> None:
    """A parked draft keeps its coupon and its lines' salespeople (they were lost on recall); a
    completed line keeps its salesperson too."""
    from peewee import CharField as Char
    from playhouse.migrate import SchemaMigrator, migrate as run
    from .models import PosOrderLine
    m = SchemaMigrator.from_database(database)
    run(m.add_column("pos_order", "draft_coupon", Char(default="")),
        m.add_column("pos_order_line", "salesperson_id", PosOrderLine.salesperson))


def _return_reasons(database) -> None:
    """Issue 15: a refund records why the goods came back (a short list) and the cashier's note."""
    from peewee import CharField as Char, TextField as Text
    from playhouse.migrate import SchemaMigrator, migrate as run
    m = SchemaMigrator.from_database(database)
    run(m.add_column("pos_order", "return_reason", Char(default="", max_length=16)),
        m.add_column("pos_order", "return_note", Text(default="")))


def _item_summaries(database) -> None:
    """Issue 15: the per-item monthly sales summary and the stored reorder forecasts. Existing
    documents are summed in here, so the first report after the upgrade is already fast."""
    from .models import ReorderForecast, SalesItemCatalog, SalesItemChain, SalesItemMonthly
    from .reports import summary
    database.create_tables([SalesItemMonthly, SalesItemChain, SalesItemCatalog, ReorderForecast])
    summary.refresh_items()
    summary.refresh_sales()   # the daily summaries now also watch for late documents: one full pass


def _chain_copies(database) -> None:
    """Issue 14: a chain branch keeps the head office's last answers (every branch's stock of an
    item, who holds an online order's lines) for when its link is down. New tables only."""
    from .models import COPY_MODELS
    database.create_tables(COPY_MODELS)


def _shopify_via_hq(database) -> None:
    """Issue 14: a chain branch's Shopify jobs go up to the head office and their outcomes come
    down (new tables), and the outbox says which jobs were handed over or are a branch's."""
    from playhouse.migrate import SchemaMigrator, migrate as run
    from .models import OutboxJob, RELAY_MODELS
    database.create_tables(RELAY_MODELS)
    m = SchemaMigrator.from_database(database)
    # add_column makes the field's index itself (origin_branch is index=True)
    run(m.add_column("outbox_job", "via_hq", OutboxJob.via_hq),
        m.add_column("outbox_job", "origin_branch", OutboxJob.origin_branch))


def _dispatch_times(database) -> None:
    """Issue 15: a shipment keeps when it left (`fulfillment.dispatched_at`, indexed), so the
    dispatch-time report reads a column instead of searching every history. Older shipments get
    it from their history by the rule the report used. On a chain site the fill is an UPDATE the
    capture triggers see: the head office receives the filled rows again."""
    from playhouse.migrate import SchemaMigrator, migrate as run
    from .fulfillments import fill_dispatched_at
    from .models import Fulfillment
    run(SchemaMigrator.from_database(database).add_column("fulfillment", "dispatched_at", Fulfillment.dispatched_at))
    fill_dispatched_at()


def _stock_summaries(database) -> None:
    """Issue 15: units sold per month, branch and option (sell-through by size) and the average
    receipt cost per item (the stock reports), both derived summaries; built here from what the
    database holds (the option rows from sales_item_monthly's stored months)."""
    from .models import SalesOptionMonthly, StockCost
    from .reports import summary
    database.create_tables([SalesOptionMonthly, StockCost])
    summary.rebuild_options()
    summary.refresh_stock_cost()
def _discount_summaries(database) -> None:
    """Issue 15: discounted sales and sales per salesperson (summaries kept with sales_daily),
    built here for the days sales_daily holds, and audit events found by their document."""
    from .models import SalesDiscount, SalesSalespersonDaily
    from .reports import summary
    database.create_tables([SalesDiscount, SalesSalespersonDaily])
    database.execute_sql("CREATE INDEX IF NOT EXISTS audit_event_doc_ref ON audit_event (doc_ref)")
    summary.build_day_tables()


def _item_years(database) -> None:
    """Issue 15: the chain-wide item summary rolled up per year, so a year's item reports read
    ~58,000 rows instead of ~508,000. Built here from sales_item_chain (a database that lacks
    that table gets both at its next refresh, which rebuilds everything)."""
    from .models import SalesItemYearly
    from .reports import summary
    database.create_tables([SalesItemYearly])
    if database.table_exists("sales_item_chain"):
        summary.rebuild_years()
        if db.is_postgres():
            database.execute_sql("ANALYZE sales_item_yearly")   # planned with its real size from the first report


# (version, name, function). Append only; never edit one that has shipped. Numbers were handed
# out per issue, so they may arrive out of order: migrate() runs them sorted.
MIGRATIONS: list[tuple[int, str, Callable]] = sorted([
    (1, "initial schema", _initial),
    (4, "chain identities and change log", _chain_identities),
    (5, "loyalty, promotions, coupons, commission, customer profiles", _loyalty),
    (6, "shelf: PLU, measure, Urdu name, categories", _shelf),
    (7, "couriers: consignments, COD statements", _couriers),
    (8, "back office: stock activity, daily sales and payments summaries", _office_summaries),
    (9, "chain workflows: transfer receipts and settlements", _transfer_receipts),
    (10, "drafts keep their coupon and salespeople", _draft_extras),
    (15, "refunds record a return reason", _return_reasons),
    (11, "back office: monthly item summary, stored reorder forecasts", _item_summaries),
    (16, "chain copies: other branches' stock, online order claims", _chain_copies),
    (12, "chain: branch Shopify jobs sent by the head office", _shopify_via_hq),
    (13, "fulfilments keep their dispatch time", _dispatch_times),
    (18, "back office: units sold per option, average receipt cost per item", _stock_summaries),
    (14, "back office: discounted sales, sales per salesperson", _discount_summaries),
    (19, "back office: yearly item summary", _item_years),
])
LATEST = max(v for v, _, _ in MIGRATIONS)


class SchemaError(RuntimeError):
    pass


def applied_versions() -> set[int]:
    if not db.database.table_exists("schema_migration"):
        return set()
    return {m.version for m in SchemaMigration.select()}


def init() -> None:
    """Create a new, empty database at the latest schema."""
    database = db.database
    with db.write():
        if database.table_exists("schema_migration") and applied_versions():
            raise SchemaError("this database is already initialised; use `pos-admin migrate`")
        database.create_tables([SchemaMigration])
        _initial(database)
        for version, name, _ in MIGRATIONS:
            SchemaMigration.create(version=version, name=name)


def migrate() -> list[int]:
    """Apply what is missing; a database with no schema at all is initialised."""
    done = applied_versions()
    if not done:
        init()
        return [v for v, _, _ in MIGRATIONS]
    ran = []
    for version, name, fn in sorted(MIGRATIONS, key=lambda m: m[0]):
        if version in done:
            continue
        with _foreign_keys_off():
            with db.write():
                fn(db.database)
                _check_foreign_keys(version)
                SchemaMigration.create(version=version, name=name)
        ran.append(version)
    if ran:
        # A SQLite ALTER may rebuild a table and lose its triggers: a chain site gets them back.
        from . import chain, hq
        if chain.capture_enabled():
            chain.enable_capture()
        if hq.is_hq():
            hq.refresh()   # the branches' rights on tables this upgrade added
    return ran


@contextlib.contextmanager
def _foreign_keys_off():
    """SQLite rebuilds a table for most ALTERs (create new, copy, drop old, rename). With foreign
    keys on, dropping the old table fires ON DELETE CASCADE and empties its children (an order's
    lines), and the pragma cannot change inside a transaction: so it is off around the migration's
    transaction, and the result is checked with `PRAGMA foreign_key_check` before the commit."""
    if not db.is_sqlite():
        yield
        return
    database = db.database
    database.execute_sql("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        database.execute_sql("PRAGMA foreign_keys = ON")


def _check_foreign_keys(version: int) -> None:
    if db.is_sqlite():
        broken = db.database.execute_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise SchemaError(f"migration {version} would leave {len(broken)} row(s) pointing at nothing "
                              f"(first: {broken[0]}); nothing was changed")


def check_current() -> None:
    """The till refuses to start on a database older (or newer) than its code."""
    done = applied_versions()
    if not done:
        raise SchemaError("the database has no schema; run `pos-admin init` or `pos-admin migrate`")
    # Versions are numbered per issue, not in order of landing: a database can sit at the highest
    # number and still lack a lower one, so what is missing is a set, not a comparison.
    missing = sorted({v for v, _, _ in MIGRATIONS} - done)
    if missing:
        raise SchemaError(f"the database lacks schema migration(s) {missing}, which this program needs; "
                          "run `pos-admin migrate`")
    if max(done) > LATEST:
        raise SchemaError(f"the database is at schema {max(done)}, newer than this program ({LATEST}); "
                          "upgrade the program")
