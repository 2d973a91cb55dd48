"""Report queries for the back office: one module per area, the same SQL on SQLite and PostgreSQL.

`CATALOG` lists every report a person can open: a key, the area, a title and the function, which
takes `Filters` and returns a `Report`.
"""
from __future__ import annotations

import contextlib
import os
import queue
import threading
from dataclasses import dataclass
from typing import Callable

from . import discounts, fbr, health, loyalty, margin, pacing, payments, reorder, returns, sales, stock
from .common import Column, Filters, Report, QUICK_LABELS, QUICK_PICKS, parse_day, pk_today, quick_period


# The filters a report honours (Filters fields without "_id"); the office says when a filter that
# is set does not apply to the report on screen, rather than showing it as if it did.
FILTERS = ("branch", "counter", "cashier", "category", "method", "salesperson")
ORDERS = frozenset({"branch", "counter", "cashier", "category", "method"})
LINES = ORDERS | {"salesperson"}
PAYMENTS = frozenset({"branch", "counter", "cashier", "method"})
SHIFTS = frozenset({"branch", "counter", "cashier"})
STOCK = frozenset({"branch", "category"})
BRANCH = frozenset({"branch"})
NONE = frozenset()


@dataclass(frozen=True)
class Entry:
    key: str
    area: str
    title: str                 # short, for the list; the report names itself in full
    run: Callable[[Filters], Report]
    chart: str | None = None   # bar, line, heatmap: how the office draws it
    printable: bool = False    # day and shift reports print on the receipt printer and export to PDF
    uses: frozenset = LINES    # which filters narrow it (FILTERS)

    def ignored(self, f: Filters) -> list[str]:
        """The filters set in `f` that this report does not narrow by."""
        return [name for name in FILTERS if getattr(f, name if name in ("category", "method") else f"{name}_id")
                is not None and name not in self.uses]


def _sales(dim):
    return lambda f: sales.by(dim, f)


CATALOG: list[Entry] = [
    Entry("sales_summary", "Sales", "Summary", sales.summary, printable=True),
    Entry("sales_day", "Sales", "By day", _sales("day"), "bar", printable=True),
    Entry("sales_branch", "Sales", "By branch", _sales("branch"), "bar"),
    Entry("sales_counter", "Sales", "By counter", _sales("counter"), "bar"),
    Entry("sales_cashier", "Sales", "By cashier", _sales("cashier"), "bar"),
    Entry("sales_salesperson", "Sales", "By salesperson", _sales("salesperson"), "bar"),
    Entry("sales_item", "Sales", "Top items", lambda f: sales.by("item", f, limit=200), "bar"),
    Entry("sales_department", "Sales", "By department", _sales("department"), "bar"),
    Entry("sales_category", "Sales", "By category", _sales("category"), "bar"),
    Entry("sales_sub_category", "Sales", "By sub-category", _sales("sub_category"), "bar"),
    Entry("sales_vendor", "Sales", "By vendor", _sales("vendor"), "bar"),
    Entry("sales_option", "Sales", "By size / colour", _sales("option"), "bar"),
    Entry("sales_hour", "Sales", "By hour of day", _sales("hour"), "bar"),
    Entry("sales_heatmap", "Sales", "Weekday x hour", sales.heatmap, "heatmap"),
    Entry("payments_day", "Payments", "Branch and day", payments.by_branch_day, printable=True, uses=PAYMENTS),
    Entry("payments_mix", "Payments", "Payment mix", payments.mix, "bar", uses=PAYMENTS),
    Entry("shift_cash", "Payments", "Cash vs counted", payments.shift_variances, printable=True, uses=SHIFTS),
    Entry("discounts", "Discounts", "Who gave what", discounts.given, uses=ORDERS),
    Entry("discounts_cashier", "Discounts", "By cashier", discounts.by_cashier, uses=ORDERS),
    Entry("returns_item", "Returns", "By item", returns.by_item),
    Entry("returns_cashier", "Returns", "By cashier", returns.by_cashier),
    Entry("returns_reason", "Returns", "By reason", returns.by_reason, "bar"),
    Entry("returns_list", "Returns", "Each refund", returns.refund_list),
    Entry("returns_online", "Returns", "Online parcels back", returns.online_by_reason, "bar", uses=BRANCH),
    Entry("promotions", "Discounts", "Promotions and coupons", loyalty.promotions, "bar", uses=ORDERS - {"category"}),
    Entry("commission", "Commission", "By salesperson", loyalty.commission, "bar", uses=SHIFTS | {"salesperson"}),
    Entry("points", "Loyalty", "Points movements", loyalty.points, uses=SHIFTS),
    Entry("margin_item", "Margin", "By item", margin.by_item, uses=ORDERS),
    Entry("margin_category", "Margin", "By category", margin.by_category, uses=ORDERS),
    Entry("stock_value", "Stock", "On hand and value", stock.on_hand, uses=STOCK),
    Entry("stock_aging", "Stock", "Aging", stock.aging, "bar", uses=STOCK),
    Entry("dead_stock", "Stock", "Dead stock", stock.dead_stock, uses=STOCK),
    Entry("sell_through", "Stock", "Sell-through by size", stock.sell_through_by_size, uses=ORDERS),
    Entry("reorder", "Reorder", "Reorder (draft PO)", reorder.suggestions, uses=STOCK),
    Entry("rebalance", "Reorder", "Rebalance branches", reorder.rebalancing, uses=STOCK),
    Entry("fbr_day", "FBR", "By day and counter", fbr.by_day_counter, printable=True, uses=PAYMENTS),
    Entry("fbr_pending", "FBR", "Not yet fiscalised", fbr.not_fiscalised, uses=PAYMENTS),
    Entry("online_orders", "Online", "Orders and COD", health.online_orders, uses=BRANCH),
    Entry("fulfilments", "Online", "Workflow and courier", health.fulfilments, uses=BRANCH),
    Entry("dispatch", "Online", "Dispatch time", health.dispatch_times, uses=BRANCH),
    Entry("sync_health", "Sync", "Jobs and drift", health.sync_jobs, uses=BRANCH),
]
BY_KEY = {e.key: e for e in CATALOG}


def nightly() -> dict:
    """What the agent runs once a night: the summaries caught up and the reorder forecasts for
    yesterday stored, so the first report of the morning reads them instead of computing them."""
    import datetime as dt
    from . import summary
    yesterday = pk_today(summary.now()) - dt.timedelta(days=1)
    return {"sales_daily": summary.refresh_sales(), "sales_item_monthly": summary.refresh_items(groups=True),
            "stock_activity": summary.refresh_stock_activity(), "stock_cost": summary.refresh_stock_cost(),
            "reorder_forecast": reorder.stored_at(yesterday) or reorder.store_forecasts(yesterday)}


# The reports that read the item summary's basket counts per group (they must see them rebuilt
# after a product changed group) and those that read stock_activity.
_GROUP_KEYS = ("sales_department", "sales_category", "sales_sub_category", "sales_vendor", "sales_option",
               "sell_through")
_ACTIVITY_KEYS = ("stock_aging", "dead_stock")
_COST_KEYS = ("stock_value", "stock_aging", "dead_stock", "margin_item", "margin_category", "reorder", "rebalance")


def prepare(key: str, f: Filters) -> None:
    """Every write this report may need (its summaries caught up, the forecast stored), done
    before it runs; each refresh only reads when there is nothing to do (the usual case), and a
    report is not made to catch up a summary it does not read (stock value and the tills' new
    movements, say)."""
    from . import summary
    summary.refresh_sales()
    summary.refresh_items(groups=key in _GROUP_KEYS or f.category is not None)
    if key in _ACTIVITY_KEYS:
        summary.refresh_stock_activity()
    if key in _COST_KEYS:
        summary.refresh_stock_cost()
    if BY_KEY[key].area == "Reorder" and reorder.stored_at(f.end) is None:
        reorder.store_forecasts(f.end)


def _yield_cpu() -> None:
    # SCHED_IDLE for this thread only (Linux): a selling till, woken, takes the core at once
    # instead of sharing it by nice weights. Never while writing: a thread this low could sit on
    # the write lock while busy tills wait for it, hence prepare() first and read_only() after.
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        pass


_reader_jobs: "queue.Queue | None" = None
_reader_lock = threading.Lock()


def _reader_loop(jobs: "queue.Queue") -> None:
    from .. import db
    from . import summary
    _yield_cpu()
    opened = None   # the database this thread's connection belongs to
    while True:
        key, f, done = jobs.get()
        if opened is not None and opened is not db.database.obj and not opened.is_closed():
            opened.close()   # the process opened another database (tests do): drop the old one
        opened = db.database.obj
        try:
            with summary.read_only(), _paced(opened):
                done.set_result(BY_KEY[key].run(f))
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            done.set_exception(exc)


def _paced(database):
    """On SQLite, the reading rests while the tills write (pacing.py); PostgreSQL's server
    process is out of this one's reach."""
    from .. import db
    if not isinstance(database, db.SqliteDatabase):
        return contextlib.nullcontext()
    return pacing.paced(database.connection(), database.database)


def _read_at_idle(key: str, f: Filters) -> Report:
    """The report read by this process's reader thread, which runs at SCHED_IDLE for good (an
    unprivileged thread cannot come back from it, and the caller's thread, a pool's in the back
    office, goes on to other work, some of it writing). One long-lived thread keeps its own
    database connection, and so SQLite's page cache, warm from one report to the next."""
    global _reader_jobs
    from concurrent.futures import Future
    with _reader_lock:
        if _reader_jobs is None:
            _reader_jobs = queue.Queue()
            threading.Thread(target=_reader_loop, args=(_reader_jobs,), name="report-reader", daemon=True).start()
    done: Future = Future()
    _reader_jobs.put((key, f, done))
    return done.result()


def run(key: str, f: Filters, background: bool = False) -> Report:
    """One report. `background` (the back office): its writes first at the normal priority,
    then the reading at the lowest, writing nothing."""
    if background:
        prepare(key, f)
        report = _read_at_idle(key, f)
    else:
        report = BY_KEY[key].run(f)
    report.filters = f
    return report


__all__ = ["CATALOG", "BY_KEY", "Entry", "run", "nightly", "Filters", "Report", "Column", "QUICK_PICKS", "QUICK_LABELS",
           "parse_day", "pk_today", "quick_period"]
