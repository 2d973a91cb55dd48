"""The records. Money is integer paisa (`*_paisa`), times are UTC, rates are basis points.

Every table here is created by `migrations.py`; a change to a model needs a migration too.
"""
from __future__ import annotations

import datetime as dt
import json
import uuid

from .db import database  # first: it imports peewee its own way (psycopg2 only when needed)

from peewee import (  # noqa: E402
    BigAutoField, BigIntegerField, BooleanField, CharField, DateTimeField, DoubleField, ForeignKeyField,
    IntegerField,
    Model, TextField,
)


def utcnow() -> dt.datetime:
    # Stored naive in UTC: SQLite has no time zones and PostgreSQL `timestamp` is naive too.
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def new_uid() -> str:
    return uuid.uuid4().hex


class JSONField(TextField):
    def db_value(self, value):
        return None if value is None else json.dumps(value, sort_keys=True, separators=(",", ":"))

    def python_value(self, value):
        return None if value is None else json.loads(value)


class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False


class Branch(BaseModel):
    code = CharField(unique=True, max_length=16)
    name = CharField()
    address = TextField(default="")
    shopify_location_id = CharField(null=True)
    fbr_online_posid = CharField(null=True)  # POSID used for online orders fulfilled here


class Counter(BaseModel):
    branch = ForeignKeyField(Branch, backref="counters")
    code = CharField(max_length=16)
    name = CharField(default="")
    fbr_posid = CharField(null=True)

    class Meta:
        indexes = ((("branch", "code"), True),)

    @property
    def label(self) -> str:
        return f"{self.branch.code}-{self.code}"


ROLES = ("cashier", "supervisor", "manager", "admin")


class Staff(BaseModel):
    code = CharField(unique=True, max_length=32)  # what a person types or has on a badge
    name = CharField()
    role = CharField(max_length=16)
    pin_hash = CharField()
    branch_codes = CharField(default="")  # comma separated; empty = every branch
    active = BooleanField(default=True)
    created_at = DateTimeField(default=utcnow)


class Customer(BaseModel):
    phone = CharField(unique=True, max_length=16)  # +92XXXXXXXXXX
    name = CharField(default="")
    email = CharField(default="")
    shopify_id = CharField(null=True, index=True)
    store_credit_paisa = BigIntegerField(default=0)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)


class CreditEntry(BaseModel):
    """Store credit moves like stock: append-only entries, the balance a projection."""
    customer = ForeignKeyField(Customer, backref="credit_entries")
    delta_paisa = BigIntegerField()
    doc_ref = CharField()
    event_key = CharField(unique=True)
    staff = ForeignKeyField(Staff, null=True)
    created_at = DateTimeField(default=utcnow)


class Product(BaseModel):
    uid = CharField(unique=True, default=new_uid)  # chain-wide identity (migration 4)
    title = CharField()
    vendor = CharField(default="")
    category = CharField(default="", index=True)
    # Migration 6: the rest of the hierarchy, derived by categories.py (department > category > sub).
    department = CharField(default="", index=True)
    sub_category = CharField(default="")
    status = CharField(default="ACTIVE")  # ACTIVE, ARCHIVED, DRAFT, DELETED (never removed locally)
    shopify_id = CharField(null=True, unique=True)
    shopify_updated_at = CharField(null=True)
    updated_at = DateTimeField(default=utcnow)


class Variant(BaseModel):
    product = ForeignKeyField(Product, backref="variants")
    sku = CharField(unique=True, max_length=64)
    name = CharField()            # full name shown and searched: "Lawn 3pc Suit - Red / M"
    option_text = CharField(default="")  # "Red / M"
    price_paisa = BigIntegerField()
    tax_rate_bp = IntegerField(default=1800)  # 1800 = 18%
    pct_code = CharField(default="", max_length=16)  # as written, e.g. 6206.3000
    third_schedule = BooleanField(default=False)  # tax on printed retail price (FBR item type 11)
    tracked = BooleanField(default=True)
    active = BooleanField(default=True)
    shopify_id = CharField(null=True, unique=True)
    shopify_inventory_item_id = CharField(null=True, index=True)
    updated_at = DateTimeField(default=utcnow)
    # Migration 6 (issue 17): goods sold by measure, Urdu on receipts.
    plu = IntegerField(null=True, unique=True)   # the 5-digit item number in price-embedded codes
    measure_unit = CharField(default="", max_length=8)  # "m", "kg": sold by measure; "" = by the piece
    urdu_name = CharField(null=True)             # printed on receipts; the till shows the Roman name


class Barcode(BaseModel):
    code = CharField(unique=True, max_length=64)
    variant = ForeignKeyField(Variant, backref="barcodes")


class StockMovement(BaseModel):
    """Append-only. `event_key` names the physical event, so a retried step cannot move twice."""
    event_key = CharField(unique=True)
    variant = ForeignKeyField(Variant)
    branch = ForeignKeyField(Branch)
    delta = IntegerField()
    kind = CharField(max_length=24)     # sale, refund, transfer-out, pack, adjustment, opening ...
    doc_type = CharField(max_length=24)
    doc_ref = CharField()               # the document's number or uid
    staff = ForeignKeyField(Staff, null=True)
    reason = CharField(default="")
    note = TextField(default="")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("variant", "branch", "created_at"), False),)


class StockLevel(BaseModel):
    variant = ForeignKeyField(Variant)
    branch = ForeignKeyField(Branch)
    on_hand = IntegerField(default=0)

    class Meta:
        indexes = ((("variant", "branch"), True),)


class DocumentSeries(BaseModel):
    counter = ForeignKeyField(Counter)
    series = CharField(max_length=8)  # "S" sales, "R" refunds
    last_value = IntegerField(default=0)

    class Meta:
        indexes = ((("counter", "series"), True),)


class Shift(BaseModel):
    uid = CharField(unique=True, default=new_uid)
    counter = ForeignKeyField(Counter)
    staff = ForeignKeyField(Staff)
    status = CharField(default="OPEN")  # OPEN, CLOSED
    opened_at = DateTimeField(default=utcnow)
    opening_float_paisa = BigIntegerField()
    closed_at = DateTimeField(null=True)
    closed_by = ForeignKeyField(Staff, null=True)
    expected_paisa = BigIntegerField(null=True)
    counted_paisa = BigIntegerField(null=True)
    counted_detail = JSONField(null=True)  # {"5000": 2, "1000": 3, ..., "coins": 1250}


class CashMovement(BaseModel):
    uid = CharField(unique=True, default=new_uid)  # chain-wide identity (migration 4)
    shift = ForeignKeyField(Shift, backref="cash_movements")
    kind = CharField(max_length=8)  # in, out
    amount_paisa = BigIntegerField()
    reason = CharField()
    staff = ForeignKeyField(Staff)
    created_at = DateTimeField(default=utcnow)


class PosOrder(BaseModel):
    uid = CharField(unique=True, default=new_uid)
    number = CharField(null=True, unique=True)   # drafts have none; gapless per counter and series
    kind = CharField(max_length=8)               # draft, sale, refund
    status = CharField(max_length=12)            # DRAFT, COMPLETED
    counter = ForeignKeyField(Counter)
    branch = ForeignKeyField(Branch)
    shift = ForeignKeyField(Shift, null=True)
    cashier = ForeignKeyField(Staff)
    customer = ForeignKeyField(Customer, null=True)
    original = ForeignKeyField("self", null=True, backref="refunds")  # a refund's sale
    exchange_uid = CharField(null=True, index=True)  # links the two halves of an exchange
    prices_include_tax = BooleanField(default=True)
    order_discount = JSONField(null=True)        # {"kind": "percent"|"amount", "value": "10"}
    subtotal_paisa = BigIntegerField(default=0)  # Σ qty × unit price
    discount_paisa = BigIntegerField(default=0)  # line + order discounts
    tax_paisa = BigIntegerField(default=0)
    total_paisa = BigIntegerField(default=0)     # goods, tax included
    service_fee_paisa = BigIntegerField(default=0)  # FBR POS fee, not part of the goods
    paid_paisa = BigIntegerField(default=0)
    change_paisa = BigIntegerField(default=0)
    buyer = JSONField(null=True)                 # {"name","cnic","ntn","phone"} for FBR
    note = TextField(default="")
    draft_coupon = CharField(default="")  # migration 10: a parked draft keeps its coupon code
    # migration 15: on a refund, why the goods came back (refunds.REASONS) and the cashier's words
    return_reason = CharField(default="", max_length=16)
    return_note = TextField(default="")
    fbr_invoice_number = CharField(null=True)
    fbr_offline = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)
    completed_at = DateTimeField(null=True, index=True)

    @property
    def grand_total_paisa(self) -> int:
        return self.total_paisa + self.service_fee_paisa


class PosOrderLine(BaseModel):
    order = ForeignKeyField(PosOrder, backref="lines", on_delete="CASCADE")
    line_no = IntegerField()
    variant = ForeignKeyField(Variant)
    sku = CharField()
    name = CharField()
    qty = IntegerField()
    unit_price_paisa = BigIntegerField()
    price_overridden = BooleanField(default=False)
    line_discount = JSONField(null=True)          # as entered
    line_discount_paisa = BigIntegerField(default=0)
    order_discount_paisa = BigIntegerField(default=0)  # this line's share of the order discount
    tax_rate_bp = IntegerField()
    tax_paisa = BigIntegerField(default=0)
    value_excl_paisa = BigIntegerField(default=0)  # total less tax: FBR's SaleValue
    total_paisa = BigIntegerField(default=0)
    pct_code = CharField(default="")
    third_schedule = BooleanField(default=False)
    original_line = ForeignKeyField("self", null=True)  # on a refund line: the sold line
    restock = BooleanField(default=True)
    scanned_code = CharField(null=True)  # migration 6: the price/quantity-embedded code that priced it
    # migration 10: who helped the customer with this line (kept on a parked draft, too)
    salesperson = ForeignKeyField(Staff, null=True, backref="sold_lines")

    class Meta:
        indexes = ((("order", "line_no"), True),)


class Payment(BaseModel):
    uid = CharField(unique=True, default=new_uid)  # chain-wide identity (migration 4)
    order = ForeignKeyField(PosOrder, backref="payments", on_delete="CASCADE")
    method = CharField(max_length=16)  # cash, card, wallet, bank, store_credit, exchange
    amount_paisa = BigIntegerField()   # what this tender pays toward the order
    tendered_paisa = BigIntegerField()  # cash handed over (amount + change)
    reference = CharField(default="")
    created_at = DateTimeField(default=utcnow)


class OutboxJob(BaseModel):
    """Work for the agent, written in the same transaction as the document it comes from.

    The payload and idempotency key are fixed when the job is made; a resend of a request that
    may have reached the other side reuses both.
    """
    uid = CharField(unique=True, default=new_uid)
    channel = CharField(max_length=8)      # shopify, fbr
    kind = CharField(max_length=32)        # inventory_adjust, invoice, credit_note ...
    payload = JSONField()
    idempotency_key = CharField(unique=True, default=new_uid)
    status = CharField(max_length=24, default="PENDING", index=True)
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField(default=utcnow)
    last_error = TextField(default="")
    result = JSONField(null=True)
    doc_type = CharField(max_length=24)
    doc_ref = CharField(index=True)        # the source document's uid
    depends_on = CharField(null=True)      # uid of a job that must be SYNCED first
    batch_uid = CharField(null=True, index=True)
    history = JSONField(default=list)      # earlier keys and errors, for people and audits
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)
    # Issue 14 (migration 12), Shopify through the head office: at a branch, the job was handed to
    # the head office (this box never sends it); at the head office, the branch whose job it sends.
    via_hq = BooleanField(default=False)
    origin_branch = CharField(max_length=16, null=True, index=True)


class AuditEvent(BaseModel):
    uid = CharField(unique=True, default=new_uid)  # chain-wide identity (migration 4)
    created_at = DateTimeField(default=utcnow)
    staff = ForeignKeyField(Staff, null=True)
    approver = ForeignKeyField(Staff, null=True)
    action = CharField()
    doc_ref = CharField(default="", index=True)  # indexed in migration 14: reports find a sale's approver
    detail = JSONField(null=True)


class AgentHeartbeat(BaseModel):
    """One row per channel, written by the agent, read by the till's status bar."""
    channel = CharField(primary_key=True, max_length=16)
    seen_at = DateTimeField(default=utcnow)
    last_contact_at = DateTimeField(null=True)
    last_error = TextField(default="")
    detail = JSONField(null=True)


class BranchSeries(BaseModel):
    """Numbers for branch documents (transfers, purchase orders, receipts, adjustments)."""
    branch = ForeignKeyField(Branch)
    series = CharField(max_length=8)  # TR, PO, GRN, ADJ, ST
    last_value = IntegerField(default=0)

    class Meta:
        indexes = ((("branch", "series"), True),)


class Transfer(BaseModel):
    uid = CharField(unique=True, default=new_uid)
    number = CharField(unique=True)
    from_branch = ForeignKeyField(Branch, backref="transfers_out")
    to_branch = ForeignKeyField(Branch, backref="transfers_in")
    status = CharField(max_length=16, default="DRAFT")  # DRAFT, DISPATCHED, RECEIVED, DISCREPANCY, CANCELLED
    created_by = ForeignKeyField(Staff)
    created_at = DateTimeField(default=utcnow)
    dispatched_by = ForeignKeyField(Staff, null=True)
    dispatched_at = DateTimeField(null=True)
    received_by = ForeignKeyField(Staff, null=True)
    received_at = DateTimeField(null=True)
    note = TextField(default="")


class TransferLine(BaseModel):
    transfer = ForeignKeyField(Transfer, backref="lines", on_delete="CASCADE")
    line_no = IntegerField()
    variant = ForeignKeyField(Variant)
    qty_sent = IntegerField()
    qty_received = IntegerField(null=True)
    resolution = CharField(null=True)  # how a shortfall or excess was settled
    resolved_by = ForeignKeyField(Staff, null=True)
    resolved_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("transfer", "line_no"), True),)


class Supplier(BaseModel):
    name = CharField(unique=True)
    phone = CharField(default="")
    ntn = CharField(default="")


class PurchaseOrder(BaseModel):
    uid = CharField(unique=True, default=new_uid)
    number = CharField(unique=True)
    branch = ForeignKeyField(Branch)
    supplier = ForeignKeyField(Supplier)
    status = CharField(max_length=16, default="OPEN")  # OPEN, PARTIAL, RECEIVED, CLOSED, CANCELLED
    created_by = ForeignKeyField(Staff)
    created_at = DateTimeField(default=utcnow)
    closed_at = DateTimeField(null=True)
    note = TextField(default="")


class PurchaseOrderLine(BaseModel):
    uid = CharField(unique=True, default=new_uid)  # chain-wide identity (migration 4)
    order = ForeignKeyField(PurchaseOrder, backref="lines", on_delete="CASCADE")
    variant = ForeignKeyField(Variant)
    qty_ordered = IntegerField()
    qty_received = IntegerField(default=0)
    unit_cost_paisa = BigIntegerField()


class GoodsReceipt(BaseModel):
    uid = CharField(unique=True, default=new_uid)
    number = CharField(unique=True)
    order = ForeignKeyField(PurchaseOrder, backref="receipts")
    received_by = ForeignKeyField(Staff)
    received_at = DateTimeField(default=utcnow)
    note = TextField(default="")


class GoodsReceiptLine(BaseModel):
    receipt = ForeignKeyField(GoodsReceipt, backref="lines", on_delete="CASCADE")
    line_no = IntegerField()
    order_line = ForeignKeyField(PurchaseOrderLine, null=True)  # None: an item that was not ordered
    variant = ForeignKeyField(Variant)
    qty = IntegerField()
    unit_cost_paisa = BigIntegerField()


class Adjustment(BaseModel):
    uid = CharField(unique=True, default=new_uid)
    number = CharField(unique=True)
    branch = ForeignKeyField(Branch)
    reason = CharField(max_length=16)  # damaged, lost, found, expired, sample, correction, count
    note = TextField(default="")
    staff = ForeignKeyField(Staff)
    approver = ForeignKeyField(Staff, null=True)
    created_at = DateTimeField(default=utcnow)
    source_ref = CharField(default="")  # a stock take's uid, for counted adjustments


class AdjustmentLine(BaseModel):
    adjustment = ForeignKeyField(Adjustment, backref="lines", on_delete="CASCADE")
    line_no = IntegerField()
    variant = ForeignKeyField(Variant)
    delta = IntegerField()


class StockTake(BaseModel):
    uid = CharField(unique=True, default=new_uid)
    number = CharField(unique=True)
    branch = ForeignKeyField(Branch)
    category = CharField(default="")  # empty: the whole branch
    status = CharField(max_length=12, default="COUNTING")  # COUNTING, POSTED, CANCELLED
    started_by = ForeignKeyField(Staff)
    started_at = DateTimeField(default=utcnow)
    snapshot_movement_id = BigIntegerField(default=0)  # the ledger's last id when the snapshot froze
    posted_at = DateTimeField(null=True)
    adjustment = ForeignKeyField(Adjustment, null=True)


class StockTakeItem(BaseModel):
    """The frozen level of one item in scope when counting began."""
    take = ForeignKeyField(StockTake, backref="items", on_delete="CASCADE")
    variant = ForeignKeyField(Variant)
    frozen_qty = IntegerField()

    class Meta:
        indexes = ((("take", "variant"), True),)


class StockTakeCount(BaseModel):
    """One scan or typed count; several people may count different areas at once."""
    uid = CharField(unique=True, default=new_uid)  # chain-wide identity (migration 4)
    take = ForeignKeyField(StockTake, backref="counts", on_delete="CASCADE")
    variant = ForeignKeyField(Variant)
    qty = IntegerField()
    area = CharField(default="")
    staff = ForeignKeyField(Staff)
    last_movement_id = BigIntegerField()  # ledger position when this count was taken
    created_at = DateTimeField(default=utcnow)


class SmartOrder(BaseModel):
    """The permanent local record of a Shopify order, kept by the agent's polling."""
    shopify_id = CharField(unique=True)
    name = CharField(index=True)                  # "#1001"
    state = CharField(max_length=20, default="NEW", index=True)
    created_at_shopify = CharField()
    updated_at_shopify = CharField()
    customer_name = CharField(default="")
    phone = CharField(default="", index=True)     # +92 form when it could be read
    email = CharField(default="")
    shipping = JSONField(null=True)
    total_paisa = BigIntegerField(default=0)
    outstanding_paisa = BigIntegerField(default=0)
    gateways = JSONField(default=list)
    is_cod = BooleanField(default=False)
    financial_status = CharField(default="")
    fulfillment_status = CharField(default="")
    tags = JSONField(default=list)
    pending_tags = JSONField(default=list)        # tags the agent is adding: not news when they come back
    note = TextField(default="")
    cancelled_at = CharField(null=True)
    cancel_reason = CharField(null=True)
    edited = BooleanField(default=False)
    exchange = BooleanField(default=False)
    confirmed_by = ForeignKeyField(Staff, null=True)
    confirmed_at = DateTimeField(null=True)
    staff_cancel_reason = CharField(null=True)
    needs_branch_sync = BooleanField(default=False)
    shopify_fulfilled = JSONField(default=dict)   # line gid -> units Shopify shows fulfilled
    first_seen_at = DateTimeField(default=utcnow)
    last_seen_at = DateTimeField(default=utcnow)


class SmartOrderLine(BaseModel):
    order = ForeignKeyField(SmartOrder, backref="lines", on_delete="CASCADE")
    shopify_line_id = CharField()
    sku = CharField(default="")
    name = CharField()
    variant = ForeignKeyField(Variant, null=True)
    quantity = IntegerField()            # as first ordered
    current_quantity = IntegerField()    # after edits and removals
    unit_price_paisa = BigIntegerField(default=0)
    added_by_edit = BooleanField(default=False)

    class Meta:
        indexes = ((("order", "shopify_line_id"), True),)


class SmartOrderEvent(BaseModel):
    """The order's timeline: every change the agent saw and everything staff did."""
    uid = CharField(unique=True, default=new_uid)  # chain-wide identity (migration 4)
    order = ForeignKeyField(SmartOrder, backref="events", on_delete="CASCADE")
    at = DateTimeField(default=utcnow)
    kind = CharField(max_length=32)
    source = CharField(max_length=8)  # shopify, pos
    staff = ForeignKeyField(Staff, null=True)
    detail = JSONField(null=True)


class Fulfillment(BaseModel):
    """One shipment (or a record of goods that left) for an online order."""
    uid = CharField(unique=True, default=new_uid)
    order = ForeignKeyField(SmartOrder, backref="fulfillments")
    mode = CharField(max_length=16)      # smart, manual, branch_sync, repair, exchange_return
    branch = ForeignKeyField(Branch)
    status = CharField(max_length=12)    # PENDING, PACKED, DISPATCHED, DELIVERED, RETURNED, UNPACKED, DONE
    courier = CharField(default="")
    tracking_number = CharField(default="")
    tracking_url = CharField(default="")
    shopify_fulfillment_id = CharField(null=True)
    reason = TextField(default="")
    created_by = ForeignKeyField(Staff)
    created_at = DateTimeField(default=utcnow)
    history = JSONField(default=list)
    # When the goods left (UTC): a Smart shipment's DISPATCHED step, a Manual or Branch Sync
    # record's making; NULL for what never left. Kept beside the history so the dispatch-time
    # report need not search every history (migration 13 filled it for older shipments).
    dispatched_at = DateTimeField(null=True, index=True)


class FulfillmentLine(BaseModel):
    fulfillment = ForeignKeyField(Fulfillment, backref="lines", on_delete="CASCADE")
    line_no = IntegerField()
    order_line = ForeignKeyField(SmartOrderLine, null=True)
    variant = ForeignKeyField(Variant)
    qty = IntegerField()                 # for repairs: the signed change

    class Meta:
        indexes = ((("fulfillment", "line_no"), True),)


class ReconciliationRun(BaseModel):
    """One comparison of Shopify's quantities at a location with what the ledger says."""
    uid = CharField(unique=True, default=new_uid)
    location_id = CharField(index=True)
    started_at = DateTimeField(default=utcnow)
    items_compared = IntegerField(default=0)
    differences = JSONField(default=list)   # one row per item that differs, with its likely cause
    cost_used = IntegerField(default=0)     # Shopify query cost points spent reading
    note = TextField(default="")


MODELS = [
    Branch, Counter, Staff, Customer, CreditEntry, Product, Variant, Barcode, StockMovement,
    StockLevel, DocumentSeries, Shift, CashMovement, PosOrder, PosOrderLine, Payment, OutboxJob,
    AuditEvent, AgentHeartbeat, BranchSeries, Transfer, TransferLine, Supplier, PurchaseOrder,
    PurchaseOrderLine, GoodsReceipt, GoodsReceiptLine, Adjustment, AdjustmentLine, StockTake,
    StockTakeItem, StockTakeCount, SmartOrder, SmartOrderLine, SmartOrderEvent, Fulfillment,
    FulfillmentLine, ReconciliationRun,
]


# --- issue 16: loyalty, promotions, coupons, commission, customer profiles (migration 5) ------------
# New tables only (no ALTERs of existing ones), so the branches editing sales and customers merge cleanly.

class LoyaltyProgram(BaseModel):
    """One row: what a point is worth and how long it lives."""
    point_value_paisa = IntegerField(default=100)   # what one point pays at the till (Re 1)
    expiry_days = IntegerField(default=365)         # 0 = points never expire
    min_redeem_points = IntegerField(default=0)
    active = BooleanField(default=True)
    updated_at = DateTimeField(default=utcnow)


class LoyaltyTier(BaseModel):
    """Silver, Gold...: reached by spend in the last 365 days."""
    name = CharField(unique=True, max_length=32)
    min_yearly_spend_paisa = BigIntegerField()


class LoyaltyRule(BaseModel):
    """Points earned per Rs 100 of net spend, in hundredths of a point (150 = 1.5 points per Rs 100).
    The most specific rule wins: category and tier, then category, then tier, then the default."""
    category = CharField(default="", max_length=64)
    tier = CharField(default="", max_length=32)
    centipoints_per_100 = IntegerField()

    class Meta:
        indexes = ((("category", "tier"), True),)


class PointsEntry(BaseModel):
    """Points move like store credit: append-only entries, the balance a projection."""
    customer = ForeignKeyField(Customer, backref="points_entries")
    delta = IntegerField()
    kind = CharField(max_length=16)   # earn, redeem, refund_earn, refund_redeem, expire, adjust
    doc_ref = CharField(default="")
    event_key = CharField(unique=True)
    expires_at = DateTimeField(null=True)   # on entries that add points
    staff = ForeignKeyField(Staff, null=True)
    created_at = DateTimeField(default=utcnow, index=True)


class PointsBalance(BaseModel):
    customer = ForeignKeyField(Customer, unique=True, backref="points_balance_row")
    points = IntegerField(default=0)
    updated_at = DateTimeField(default=utcnow)


class CustomerProfile(BaseModel):
    customer = ForeignKeyField(Customer, unique=True, backref="profile_row")
    notes = TextField(default="")
    marketing_consent = BooleanField(default=False)
    consent_at = DateTimeField(null=True)
    updated_at = DateTimeField(default=utcnow)


class Promotion(BaseModel):
    """An automatic promotion (or the discount behind a coupon). See promotions.py for the kinds."""
    uid = CharField(unique=True, default=new_uid)   # its identity across a chain
    name = CharField()
    kind = CharField(max_length=16)       # item_percent, item_amount, bill_percent, bill_amount, bxgy, bundle
    value = BigIntegerField(default=0)     # basis points for *_percent, paisa for *_amount
    category = CharField(default="", max_length=64)   # item kinds and bxgy: the goods it applies to
    skus = JSONField(default=list)         # ... or these SKUs; bundle: the SKUs that make one bundle
    buy_qty = IntegerField(default=0)      # bxgy
    get_qty = IntegerField(default=0)
    free_sku = CharField(default="")       # bxgy: "" = the cheapest eligible units are free
    bundle_price_paisa = BigIntegerField(default=0)
    min_spend_paisa = BigIntegerField(default=0)   # spend-over threshold
    starts_at = DateTimeField(null=True)   # UTC
    ends_at = DateTimeField(null=True)
    daily_from = IntegerField(null=True)   # minutes after midnight, Pakistan time (happy hour)
    daily_to = IntegerField(null=True)
    branches = CharField(default="")       # comma separated codes; "" = every branch
    priority = IntegerField(default=0)     # higher first
    combinable = BooleanField(default=True)
    coupon_only = BooleanField(default=False)   # applies only with one of its coupons
    active = BooleanField(default=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)   # every change sets it: the tills' cache key


class Coupon(BaseModel):
    code = CharField(unique=True, max_length=64)   # stored upper case
    promotion = ForeignKeyField(Promotion, backref="coupons")
    max_uses = IntegerField(null=True)             # 1 = single use; None = unlimited
    uses = IntegerField(default=0)
    per_customer_limit = IntegerField(null=True)
    min_spend_paisa = BigIntegerField(default=0)
    expires_at = DateTimeField(null=True)
    active = BooleanField(default=True)
    created_at = DateTimeField(default=utcnow)


class CouponUse(BaseModel):
    coupon = ForeignKeyField(Coupon, backref="uses_rows")
    order = ForeignKeyField(PosOrder)
    customer = ForeignKeyField(Customer, null=True)
    event_key = CharField(unique=True)             # coupon:<order uid>
    created_at = DateTimeField(default=utcnow)


class OrderPromotion(BaseModel):
    """What each promotion took off a sale, per line (line_no) or for the bill (line_no NULL)."""
    uid = CharField(unique=True, default=new_uid)
    order = ForeignKeyField(PosOrder, backref="promotions", on_delete="CASCADE")
    line_no = IntegerField(null=True)
    promotion = ForeignKeyField(Promotion, null=True)
    name = CharField()
    amount_paisa = BigIntegerField()


class CommissionPlan(BaseModel):
    """Percent of the salesperson's net sales (before tax), by category; or slabs over a period."""
    name = CharField()
    category = CharField(default="", max_length=64)   # "" = every category
    rate_bp = IntegerField(default=0)
    slabs = JSONField(null=True)   # [[from_paisa, rate_bp], ...] marginal, applied to a period's total
    active = BooleanField(default=True)


class CommissionEntry(BaseModel):
    """Append-only: a sale line credits its salesperson, a refund line takes it back."""
    order = ForeignKeyField(PosOrder, backref="commission_entries")
    line_no = IntegerField()
    salesperson = ForeignKeyField(Staff, backref="commission_entries")
    base_paisa = BigIntegerField()        # the line's value before tax (negative on refunds)
    commission_paisa = BigIntegerField()
    event_key = CharField(unique=True)
    created_at = DateTimeField(default=utcnow, index=True)


LOYALTY_MODELS = [LoyaltyProgram, LoyaltyTier, LoyaltyRule, PointsEntry, PointsBalance, CustomerProfile,
                  Promotion, Coupon, CouponUse, OrderPromotion, CommissionPlan, CommissionEntry]
MODELS += LOYALTY_MODELS  # issue 16
# --- issue 13: chain replication (migration 4) ------------------------------------------------

class ChainChange(BaseModel):
    """The change log: one row per insert or update of a replicated row, written by a trigger in
    the same transaction as the row itself (see chain.py). `xid` is the writing transaction's id
    on PostgreSQL (0 on SQLite, where writers are serialised), so readers can order by (xid, seq)
    and never pass a transaction that has not committed yet."""
    seq = BigAutoField()  # INTEGER PRIMARY KEY on SQLite, bigserial on PostgreSQL
    xid = BigIntegerField(default=0)
    table_name = CharField(max_length=40)
    row_id = BigIntegerField()
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "chain_change"


class ChainState(BaseModel):
    """Small facts about this site's place in a chain: its role, its cursors."""
    key = CharField(primary_key=True, max_length=40)
    value = TextField(default="")

    class Meta:
        table_name = "chain_state"


class ChainParked(BaseModel):
    """A row from the head office this site could not apply, with the reason; retried, never lost."""
    table_name = CharField(max_length=40)
    key = TextField()
    data = TextField()              # the wire record as received (JSON text)
    reason = TextField()
    position = CharField(default="")  # the head office's (xid, seq) it came with
    created_at = DateTimeField(default=utcnow)
    resolved_at = DateTimeField(null=True)

    class Meta:
        table_name = "chain_parked"


MODELS += [ChainChange, ChainState, ChainParked]  # issue 13


# --- issue 18: couriers (migration 7) ---------------------------------------------------------

class Consignment(BaseModel):
    """A parcel booked (or waiting to be booked) with a courier for a Smart Fulfillment.

    `reference` is the order reference we send the courier; it is unique and it is what the
    agent looks up before any resend, so a lost answer never books a second parcel.
    """
    uid = CharField(unique=True, default=new_uid)
    fulfillment = ForeignKeyField(Fulfillment, backref="consignments")
    courier = CharField(max_length=16)          # leopards, postex
    status = CharField(max_length=16, index=True)  # see pos_core.couriers
    reference = CharField(unique=True)
    tracking_number = CharField(null=True, index=True)
    city_code = CharField(default="")           # the courier's own id or name for the city
    city_name = CharField(default="")
    consignee_name = CharField(default="")
    phone = CharField(default="")
    address = TextField(default="")
    cod_paisa = BigIntegerField(default=0)
    weight_grams = IntegerField(default=500)
    pieces = IntegerField(default=1)
    courier_status = CharField(default="")      # the courier's words for the last status
    label_url = TextField(default="")
    booking_job = CharField(null=True)          # outbox job uid
    booked_at = DateTimeField(null=True)
    delivered_at = DateTimeField(null=True)
    returned_at = DateTimeField(null=True)      # scanned back in at a branch
    received_branch = ForeignKeyField(Branch, null=True)
    last_tracked_at = DateTimeField(null=True)
    last_error = TextField(default="")
    history = JSONField(default=list)
    created_at = DateTimeField(default=utcnow)


class CodStatement(BaseModel):
    """A courier's payment statement, imported to match the COD money against delivered parcels."""
    uid = CharField(unique=True, default=new_uid)
    courier = CharField(max_length=16)
    source = CharField(default="")              # file name or "api"
    digest = CharField(unique=True)             # the same file imported twice is refused
    imported_at = DateTimeField(default=utcnow)
    staff = ForeignKeyField(Staff, null=True)
    rows = IntegerField(default=0)
    paid_paisa = BigIntegerField(default=0)
    charges_paisa = BigIntegerField(default=0)


class CodStatementLine(BaseModel):
    statement = ForeignKeyField(CodStatement, backref="lines", on_delete="CASCADE")
    row_no = IntegerField()
    tracking_number = CharField(index=True)
    consignment = ForeignKeyField(Consignment, null=True, backref="cod_lines")
    collected_paisa = BigIntegerField(default=0)   # what the courier says it collected
    charges_paisa = BigIntegerField(default=0)     # delivery and COD charges it kept
    paid_paisa = BigIntegerField(default=0)        # what it paid us for this parcel
    result = CharField(max_length=16)              # PAID, CHARGES, SHORT_PAID, OVER_PAID, UNKNOWN, NOT_DELIVERED, DUPLICATE
    note = TextField(default="")

    class Meta:
        indexes = ((("statement", "row_no"), True),)


COURIER_MODELS = [Consignment, CodStatement, CodStatementLine]
MODELS += COURIER_MODELS  # issue 18


# --- back office (issue 15): summaries the reports keep, migration 8 ------------------------------

class StockActivity(BaseModel):
    """Per item and branch: when it was last sold and last received. A summary of the ledger for
    the stock reports (aging, dead stock), caught up from the movements after the watermark by
    `reports.summary.refresh_stock_activity`; movements are append-only, so catching up is exact
    and a recomputation from the ledger always gives the same rows (a test holds it to that)."""
    variant = ForeignKeyField(Variant)
    branch = ForeignKeyField(Branch)
    last_sold_at = DateTimeField(null=True)
    last_received_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("variant", "branch"), True),)


class SummaryWatermark(BaseModel):
    """How far (which ledger id) a summary table has been brought up to date."""
    name = CharField(primary_key=True, max_length=32)
    through_id = BigIntegerField(default=0)
    updated_at = DateTimeField(default=utcnow)


class SalesDaily(BaseModel):
    """Counter documents summed per Pakistan day, hour, branch, counter, cashier and kind, for the
    order-level sales, payments and FBR reports. Past days never change (a refund is dated the day
    it is given), so `reports.summary.refresh_sales` recomputes only the days from the last refresh
    (less an hour) on; tests hold every row equal to a recomputation from the documents."""
    day = CharField(max_length=10)          # YYYY-MM-DD, Pakistan
    hour = IntegerField()
    weekday = IntegerField()                # 0 = Sunday
    branch = ForeignKeyField(Branch)
    counter = ForeignKeyField(Counter)
    cashier = ForeignKeyField(Staff)
    kind = CharField(max_length=8)          # sale, refund
    docs = IntegerField()
    fees_paisa = BigIntegerField()
    units = IntegerField()
    gross_paisa = BigIntegerField()
    discount_paisa = BigIntegerField()
    net_paisa = BigIntegerField()
    tax_paisa = BigIntegerField()
    excl_paisa = BigIntegerField()

    class Meta:
        indexes = ((("day", "hour", "branch", "counter", "cashier", "kind"), True),)


class PaymentsDaily(BaseModel):
    """Tenders summed per Pakistan day, branch, counter, cashier, kind and method (wallets split
    into JazzCash and Easypaisa), kept like SalesDaily."""
    day = CharField(max_length=10)
    branch = ForeignKeyField(Branch)
    counter = ForeignKeyField(Counter)
    cashier = ForeignKeyField(Staff)
    kind = CharField(max_length=8)
    method = CharField(max_length=16)
    amount_paisa = BigIntegerField()

    class Meta:
        indexes = ((("day", "branch", "counter", "cashier", "kind", "method"), True),)


MODELS += [StockActivity, SummaryWatermark, SalesDaily, PaymentsDaily]


# --- issue 14: chain workflows (migration 9) --------------------------------------------------
# A transfer row belongs to the sending branch; what the receiving branch counted and what a manager
# settled are rows of their own, owned by the branch that wrote them, so no row has two owners.
# The transfer's status and its lines' received/settled columns are a projection of these rows
# (transfers.project), kept at every site like a stock level.

class TransferReceipt(BaseModel):
    """The receiving branch's count of a transfer. UNIQUE on the transfer: received once."""
    uid = CharField(unique=True, default=new_uid)
    transfer = ForeignKeyField(Transfer, unique=True, backref="receipts")
    branch = ForeignKeyField(Branch)            # the receiving branch, the row's owner
    received_by = ForeignKeyField(Staff)
    received_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "transfer_receipt"


class TransferReceiptLine(BaseModel):
    receipt = ForeignKeyField(TransferReceipt, backref="lines", on_delete="CASCADE")
    line_no = IntegerField()                    # the transfer line it counts
    qty_received = IntegerField()

    class Meta:
        table_name = "transfer_receipt_line"
        indexes = ((("receipt", "line_no"), True),)


class TransferSettlement(BaseModel):
    """A manager's settlement of one line's shortfall or excess, made at the branch whose stock it
    moves (the sender for returned_to_sender / sender_sent_extra, the receiver otherwise)."""
    uid = CharField(unique=True, default=new_uid)
    transfer = ForeignKeyField(Transfer, backref="settlements")
    line_no = IntegerField()
    branch = ForeignKeyField(Branch)            # where it was settled, the row's owner
    resolution = CharField()
    resolved_by = ForeignKeyField(Staff)
    resolved_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "transfer_settlement"
        indexes = ((("transfer", "line_no"), True),)


WORKFLOW_MODELS = [TransferReceipt, TransferReceiptLine, TransferSettlement]
MODELS += WORKFLOW_MODELS  # issue 14


# --- issue 15: item-level summaries and stored reorder forecasts (migration 11) ---------------

class _ItemSums(BaseModel):
    """The columns SalesItemMonthly and SalesItemChain share (a base only: it has no table)."""
    month = CharField(max_length=7)         # YYYY-MM, Pakistan
    variant = ForeignKeyField(Variant)
    sku = CharField()
    kind = CharField(max_length=8)          # sale, refund
    name = CharField()                      # MIN(line name), as the documents report shows
    units = IntegerField()
    gross_paisa = BigIntegerField()
    discount_paisa = BigIntegerField()
    net_paisa = BigIntegerField()
    tax_paisa = BigIntegerField()
    excl_paisa = BigIntegerField()
    restocked_units = IntegerField()
    exchange_units = IntegerField()
    docs_item = IntegerField()
    docs_department = IntegerField()
    docs_category = IntegerField()
    docs_sub_category = IntegerField()
    docs_vendor = IntegerField()
    docs_option = IntegerField()


class SalesItemMonthly(_ItemSums):
    """Counter lines summed per Pakistan month, branch, item (variant and the SKU sold) and kind,
    for the item-level reports (by item, category, vendor, size, margin, returns, sell-through).
    The current month holds its closed days only; `reports.summary.refresh_items` recomputes the
    months touched since the last refresh, and tests hold every row equal to the documents.
    `docs_*` count the documents in which this line is the first of its group (the SKU, the
    department, ...), so that summing them over a group counts each basket once."""
    branch = ForeignKeyField(Branch)

    class Meta:
        indexes = ((("month", "branch", "variant", "sku", "kind"), True),)


class SalesItemChain(_ItemSums):
    """SalesItemMonthly summed over the branches (the same rows without the branch): what the
    chain-wide item reports read, about half the rows on a chain's year. Rebuilt from
    SalesItemMonthly for the months it recomputes, in the same transaction."""

    class Meta:
        table_name = "sales_item_chain"
        indexes = ((("month", "variant", "sku", "kind"), True),)


class SalesItemCatalog(BaseModel):
    """The catalog groups (department, category, ...) each item had when `docs_*` were counted: a
    product moved to another category makes the counts stale, and the next refresh rebuilds them."""
    variant = ForeignKeyField(Variant, primary_key=True)
    department = CharField(default="")
    category = CharField(default="")
    sub_category = CharField(default="")
    vendor = CharField(default="")
    option_text = CharField(default="")


class ReorderForecast(BaseModel):
    """The reorder forecast per item and branch as of one Pakistan day (reports.reorder), stored so
    the reorder and rebalancing reports read it instead of forecasting ~150,000 series each time.
    Quantities are units (floats are fine for a forecast; money is never here)."""
    variant = ForeignKeyField(Variant)
    branch = ForeignKeyField(Branch)
    level = DoubleField()
    demand = DoubleField()
    safety = DoubleField()
    need = IntegerField()

    class Meta:
        indexes = ((("variant", "branch"), True),)


MODELS += [SalesItemMonthly, SalesItemChain, SalesItemCatalog, ReorderForecast]


class SalesOptionMonthly(BaseModel):
    """sales_item_monthly's units summed per month, branch, option (the item's option text) and
    kind, for sell-through by size: about 2,400 rows a chain's year where the item rows are about
    a million. Rebuilt from sales_item_monthly for the months `reports.summary.refresh_items`
    recomputes, in its transaction; an item whose option changed makes that refresh rebuild every
    month (the catalog check), so the rows always follow today's options. Migration 18."""
    month = CharField(max_length=7)         # YYYY-MM, Pakistan
    branch = ForeignKeyField(Branch)
    option_text = CharField()
    kind = CharField(max_length=8)          # sale, refund
    units = IntegerField()

    class Meta:
        table_name = "sales_option_monthly"
        indexes = ((("month", "branch", "option_text", "kind"), True),)


class StockCost(BaseModel):
    """Per item: units and value received over every goods receipt, and their average unit cost
    (half up; NULL when nothing was received), what the stock reports value stock at. Caught up
    from the append-only receipt lines after a watermark by `reports.summary.refresh_stock_cost`,
    each touched item recomputed from all its lines; a test holds it equal to a recomputation.
    Migration 18."""
    variant = ForeignKeyField(Variant, primary_key=True)
    received_qty = BigIntegerField()
    received_value_paisa = BigIntegerField()
    unit_cost = BigIntegerField(null=True)

    class Meta:
        table_name = "stock_cost"


MODELS += [SalesOptionMonthly, StockCost]


# --- issue 15: discounted sales and sales per salesperson (migration 14) ----------------------

class _DayKeys(BaseModel):
    """The order-level keys the migration 14 summaries share (a base only: it has no table). No
    index on the keys: reports read a range of days (the day index) and filter the rows."""
    day = CharField(max_length=10)          # YYYY-MM-DD, Pakistan
    branch = ForeignKeyField(Branch, backref="+", index=False)
    counter = ForeignKeyField(Counter, backref="+", index=False)
    cashier = ForeignKeyField(Staff, backref="+", index=False)


class SalesDiscount(_DayKeys):
    """One row per completed sale with a discount or a price override, for the discounts reports:
    its lines' discount and gross, the largest share one line lost (basis points) and the lines
    whose price was overridden. Kept with SalesDaily (the same closed days, in the same
    transaction); the approver is read from audit_event when the report runs (an audit event
    travels on its own and may arrive after its sale)."""
    order_id = BigIntegerField(primary_key=True)
    number = CharField()
    completed_at = DateTimeField()
    discount_paisa = BigIntegerField()
    gross_paisa = BigIntegerField()
    max_bp = BigIntegerField()
    overrides = IntegerField()

    class Meta:
        table_name = "sales_discount"
        indexes = ((("day", "completed_at"), False),)


class SalesSalespersonDaily(_DayKeys):
    """Counter lines summed per Pakistan day, branch, counter, cashier, salesperson (a refund
    line's is its sold line's; NULL: none) and kind, for sales by salesperson. `docs` counts the
    documents with a line of that salesperson: a document is in one row's day, branch, counter,
    cashier and kind, so summing docs over a salesperson's rows counts each basket once. Kept
    with SalesDaily."""
    salesperson = ForeignKeyField(Staff, null=True, backref="+", index=False)
    kind = CharField(max_length=8)
    docs = IntegerField()
    units = IntegerField()
    gross_paisa = BigIntegerField()
    discount_paisa = BigIntegerField()
    net_paisa = BigIntegerField()
    tax_paisa = BigIntegerField()
    excl_paisa = BigIntegerField()

    class Meta:
        table_name = "sales_salesperson_daily"
        indexes = ((("day", "salesperson"), False),)


MODELS += [SalesDiscount, SalesSalespersonDaily]


class SalesItemYearly(_ItemSums):
    """SalesItemChain summed per Pakistan year over the year's closed months (migration 19; the
    open year: the months before the open one): what the chain-wide item reports read for the
    whole years of their period, a tenth of the monthly rows. Summed again from SalesItemChain,
    in the same transaction, by the refresh that recomputes a closed month."""
    month = None                            # (not inherited: a year instead)
    year = CharField(max_length=4)          # YYYY, Pakistan

    class Meta:
        table_name = "sales_item_yearly"
        indexes = ((("year", "variant", "sku", "kind"), True),)


MODELS += [SalesItemYearly]


# --- issue 14: what a chain branch keeps of the head office's answers (migration 16) ----------
# Both are this site's copies of answers it got over the link, for when the link is down; neither
# travels (chain.LOCAL_ONLY).

class ChainStockCopy(BaseModel):
    """The head office's last answer of `hq_stock()` for an item at one branch: Branch Sync and
    Ctrl+K show it, with its age, while the head office cannot be reached."""
    sku = CharField(max_length=64)
    branch_code = CharField(max_length=16)
    on_hand = IntegerField()
    in_transit = IntegerField()
    as_of = DateTimeField(null=True)            # UTC: that branch's last contact with the head office
    fetched_at = DateTimeField(default=utcnow)  # UTC: when this site asked

    class Meta:
        table_name = "chain_stock_copy"
        indexes = ((("sku", "branch_code"), True),)


class OrderClaim(BaseModel):
    """Who holds an online order's line, as the head office last told this branch (a claim it was
    granted, or the branch named in a refusal). Claims are decided at the head office; this copy lets
    dispatch, delivered and returned be checked when the link is down."""
    order_shopify_id = CharField(max_length=255)
    line_id = CharField(max_length=255)
    branch_code = CharField(max_length=16)
    told_at = DateTimeField(default=utcnow)     # UTC

    class Meta:
        table_name = "order_claim"
        indexes = ((("order_shopify_id", "line_id"), True),)


COPY_MODELS = [ChainStockCopy, OrderClaim]
MODELS += COPY_MODELS  # issue 14, migration 16


# --- issue 14: a branch's Shopify jobs sent by the head office's agent (migration 12) ------------

class ShopifyRelay(BaseModel):
    """A branch's Shopify outbox job handed to the head office: the stored payload (exact JSON
    text) and idempotency key, unchanged. The branch's row; `retries` counts the retries a person
    asked for at the branch, `hq_status` the last outcome the branch heard (so a head office
    restored from an older backup does not send again what it had sent)."""
    job_uid = CharField(unique=True)
    branch = ForeignKeyField(Branch)
    kind = CharField(max_length=32)
    payload = TextField()
    idempotency_key = CharField()
    doc_type = CharField(max_length=24)
    doc_ref = CharField()
    depends_on = CharField(null=True)
    retries = IntegerField(default=0)
    hq_status = CharField(max_length=24, default="")
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "shopify_relay"


class ShopifyOutcome(BaseModel):
    """Where the head office's copy of a branch's job has got to: the head office's row, read only
    by that branch (row-level security)."""
    job_uid = CharField(unique=True)
    branch = ForeignKeyField(Branch)
    status = CharField(max_length=24)
    last_error = TextField(default="")
    idempotency_key = CharField()
    attempts = IntegerField(default=0)
    result = TextField(default="{}")          # JSON: what Shopify gave back (fulfillment id, ...)
    first_sent_at = CharField(default="")     # when the head office first sent it (the key's age)
    job_updated_at = DateTimeField(null=True)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "shopify_outcome"


RELAY_MODELS = [ShopifyRelay, ShopifyOutcome]
MODELS += RELAY_MODELS  # issue 14
