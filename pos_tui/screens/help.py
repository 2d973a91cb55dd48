"""F1: every key on every screen, as currently mapped (the config's [keys] table applies)."""
from __future__ import annotations


def _screens():
    from .dialogs import SearchScreen
    from .orders import OrdersScreen, RefundScreen, ExchangeScreen
    from .payment import PaymentScreen
    from .sale import SaleScreen
    from .shift import CloseShiftScreen, OpenShiftScreen, ShiftScreen
    from .sync import SyncScreen
    from .online import OnlineOrdersScreen
    from .online_order import OnlineOrderScreen
    from .online_ship import LinesBranchScreen
    from .stock import StockScreen
    from .stock_adjust import AdjustScreen
    from .stock_levels import LevelsScreen
    from .stock_purchases import NewPurchaseOrderScreen, PurchaseOrderScreen, PurchaseOrdersScreen
    from .stock_reconcile import ReconcileScreen
    from .stock_take import StockTakeScreen
    from .stock_transfers import NewTransferScreen, TransferScreen, TransfersScreen
    from ..app import PosApp
    return [("Everywhere", PosApp), ("Sale", SaleScreen), ("Find item", SearchScreen), ("Payment", PaymentScreen),
            ("Open shift", OpenShiftScreen), ("Shift", ShiftScreen), ("Close shift", CloseShiftScreen),
            ("Orders", OrdersScreen), ("Refund", RefundScreen), ("Exchange", ExchangeScreen), ("Sync", SyncScreen),
            ("Online orders", OnlineOrdersScreen), ("Online order", OnlineOrderScreen),
            ("Shipment lines and branch", LinesBranchScreen), ("Stock", StockScreen), ("Stock levels", LevelsScreen),
            ("Transfers", TransfersScreen), ("New transfer", NewTransferScreen), ("Transfer", TransferScreen),
            ("Purchase orders", PurchaseOrdersScreen), ("New purchase order", NewPurchaseOrderScreen),
            ("Purchase order", PurchaseOrderScreen), ("Adjustment", AdjustScreen), ("Stock take", StockTakeScreen),
            ("Reconciliation", ReconcileScreen)]


def key_rows(keymap: dict | None = None):
    keymap = keymap or {}
    for title, cls in _screens():
        for b in cls.BINDINGS:
            yield title, b.id, keymap.get(b.id, b.key), b.tooltip or b.description


def key_map_text(app) -> str:
    lines, last = [], None
    for title, bid, key, desc in key_rows(getattr(app, "_keymap", None) or {}):
        if title != last:
            lines += ["", title]
            last = title
        lines.append(f"  {key:<8} {desc[:38]:<38} {bid}")
    lines.insert(0, f"  {'key':<8} {'does':<38} id (for [keys] in the config)")
    lines += ["", "Scanner: scan anywhere on the sale screen; the item goes into the cart.",
              "Barcode field: 3*code adds three. Discounts: 10% or 250 (rupees off)."]
    return "\n".join(lines).strip()
