"""The till: one App per counter, screens for sign-in, shifts, selling, orders and sync.

State lives here in plain objects (who is signed in, the shift, the cart); screens render it.
Database writes that complete a document run in thread workers which post messages back, and
printing runs in its own worker, so a slow or missing printer never holds up the next customer.
"""
from __future__ import annotations

import importlib
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from rich.markup import escape
from textual import events, on, work
from textual.app import App
from textual.worker import Worker, WorkerState, get_current_worker
from textual.binding import Binding
from textual.reactive import Reactive
from textual.scrollbar import ScrollBar, ScrollBarRender
from textual.widgets import Input

from pos_core import db, policy as policymod
from pos_core.models import Counter, PosOrder, Staff
from pos_core.money import fmt

from . import work as tillwork
from .cart import Cart
from .messages import ActionFailed, PrintDone, ReturnDone, SaleDone, SignInResult
from .scanner import WedgeDetector

class AsciiScrollBarRender(ScrollBarRender):
    """Scrollbar thumbs drawn with spaces and colour only: the eighth-block glyphs Textual uses for
    smooth thumbs are missing from most Linux console fonts and show as diamonds."""

    VERTICAL_BARS = [" "] * 8
    HORIZONTAL_BARS = [" "] * 8


ScrollBar.renderer = AsciiScrollBarRender

MAX_PIN_TRIES = 5
LOCK_SECONDS = 60
FBR_POLL_S = 0.1        # how often the print worker looks for the fiscal number while it waits

log = logging.getLogger("pos_tui")

# --- the till's error log --------------------------------------------------------------------------
LOG_MAX_BYTES, LOG_BACKUPS = 1_000_000, 3


class _Redact(logging.Filter):
    """Blanks known secrets (the FBR and Shopify tokens from the config) wherever they appear."""

    def __init__(self, secrets: list[str]):
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            text = record.getMessage()
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
        except Exception:  # noqa: BLE001 - a malformed record: keep its bare text
            text = str(record.msg)
        for secret in self.secrets:
            text = text.replace(secret, "***")
            if record.exc_text:
                record.exc_text = record.exc_text.replace(secret, "***")
        record.msg, record.args = text, None
        return True


def till_log_path() -> Path:
    """$POS_TILL_LOG (the launcher in deploy/ sets it), else ~/.local/state/pos/till.log."""
    env = os.environ.get("POS_TILL_LOG", "").strip()
    return Path(env) if env else Path.home() / ".local" / "state" / "pos" / "till.log"


def configure_log(cfg=None, path: Path | None = None) -> Path | None:
    """Send the till's warnings and errors to a size-capped file (1 MB x 3), never to stderr:
    Textual draws on the terminal. Returns the file, or None when it cannot be written (then
    nothing is logged at all, rather than spoiling the screen)."""
    from logging.handlers import RotatingFileHandler  # here: it imports socket and pickle
    path = Path(path) if path else till_log_path()
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_pos_till", False):
            root.removeHandler(h)
            h.close()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = RotatingFileHandler(path, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS,
                                                       encoding="utf-8")
    except OSError:
        handler, path = logging.NullHandler(), None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    secrets = [cfg.fbr.token, cfg.shopify.token] if cfg is not None else []
    handler.addFilter(_Redact(secrets))
    handler._pos_till = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)
    logging.getLogger("pos_tui").setLevel(logging.INFO)
    logging.lastResort = None        # never fall back to stderr,
    logging.raiseExceptions = False  # nor print a logging error there
    return path


# --- the till's screens ----------------------------------------------------------------------------
# Every screen, by name: screens open one another with `app.open(name, ...)` and never import one
# another (tests/test_till_structure.py), so only this table knows them all. Each entry is
# ("module:Class", heading of its keys in the F1 key map, or None to leave it out of the map).
# Classes are imported when first opened: the sign-in screen comes up sooner.
# Adding a screen: one line here, in the order its keys should appear in F1.
SCREENS: dict[str, tuple[str, str | None]] = {
    "signin": ("pos_tui.screens.signin:SignInScreen", None),
    "sale": ("pos_tui.screens.sale:SaleScreen", "Sale"),
    "search": ("pos_tui.screens.dialogs:SearchScreen", "Find item"),
    "payment": ("pos_tui.screens.payment:PaymentScreen", "Payment"),
    "open_shift": ("pos_tui.screens.shift:OpenShiftScreen", "Open shift"),
    "shift": ("pos_tui.screens.shift:ShiftScreen", "Shift"),
    "close_shift": ("pos_tui.screens.shift:CloseShiftScreen", "Close shift"),
    "orders": ("pos_tui.screens.orders:OrdersScreen", "Orders"),
    "refund": ("pos_tui.screens.orders:RefundScreen", "Refund"),
    "exchange": ("pos_tui.screens.orders:ExchangeScreen", "Exchange"),
    "sync": ("pos_tui.screens.sync:SyncScreen", "Sync"),
    "online_orders": ("pos_tui.screens.online:OnlineOrdersScreen", "Online orders"),
    "online_order": ("pos_tui.screens.online_order:OnlineOrderScreen", "Online order"),
    "shipment_lines": ("pos_tui.screens.online_ship:LinesBranchScreen", "Shipment lines and branch"),
    "whatsapp": ("pos_tui.screens.online_whatsapp:WhatsAppScreen", None),
    "parcels": ("pos_tui.screens.parcels:ParcelsScreen", "Parcels"),
    "stock": ("pos_tui.screens.stock:StockScreen", "Stock"),
    "stock_levels": ("pos_tui.screens.stock_levels:LevelsScreen", "Stock levels"),
    "transfers": ("pos_tui.screens.stock_transfers:TransfersScreen", "Transfers"),
    "new_transfer": ("pos_tui.screens.stock_transfers:NewTransferScreen", "New transfer"),
    "transfer": ("pos_tui.screens.stock_transfers:TransferScreen", "Transfer"),
    "purchase_orders": ("pos_tui.screens.stock_purchases:PurchaseOrdersScreen", "Purchase orders"),
    "new_purchase_order": ("pos_tui.screens.stock_purchases:NewPurchaseOrderScreen", "New purchase order"),
    "purchase_order": ("pos_tui.screens.stock_purchases:PurchaseOrderScreen", "Purchase order"),
    "adjustment": ("pos_tui.screens.stock_adjust:AdjustScreen", "Adjustment"),
    "stock_take": ("pos_tui.screens.stock_take:StockTakeScreen", "Stock take"),
    "reconcile": ("pos_tui.screens.stock_reconcile:ReconcileScreen", "Reconciliation"),
    "labels": ("pos_tui.screens.labels:LabelsScreen", "Price tags"),
    # dialogs: small modal screens that answer through the `then` callback of app.open
    "prompt": ("pos_tui.screens.dialogs:PromptScreen", None),
    "approval": ("pos_tui.screens.dialogs:ApprovalScreen", None),
    "confirm": ("pos_tui.screens.dialogs:ConfirmScreen", None),
    "customer": ("pos_tui.screens.dialogs:CustomerScreen", None),
    "pick": ("pos_tui.screens.dialogs:PickScreen", None),
    "text": ("pos_tui.screens.dialogs:TextScreen", None),
    "customer_profile": ("pos_tui.screens.customer_profile:CustomerProfileScreen", "Customer profile"),
}


def screen_class(name: str):
    """The Screen class registered under `name` (imported on first use)."""
    try:
        path, _ = SCREENS[name]
    except KeyError:
        raise KeyError(f"the till has no screen called {name!r} (see SCREENS in pos_tui/app.py)") from None
    module, _, cls = path.partition(":")
    return getattr(importlib.import_module(module), cls)


class PosApp(App, inherit_bindings=False):
    # ansi-dark uses the terminal's own 16 colours: right for TERM=linux and SSH. The app starts
    # in it rather than switching in on_mount, which would parse all the CSS a second time
    # (~10 ms of the cold start); the class is the one Textual's theme switch would add.
    theme = Reactive("ansi-dark")
    DEFAULT_CLASSES = "-theme-ansi-dark"
    CSS_PATH = "pos.tcss"
    TITLE = "POS till"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("f1", "help", "Keys", id="help", priority=True),
        Binding("ctrl+q", "quit_till", "Quit", id="quit", priority=True, show=False),
    ]

    def __init__(self, cfg, counter: Counter, clock=time.monotonic, scanner_open=None):
        super().__init__(ansi_color=False)
        self.cfg, self.counter, self.clock = cfg, counter, clock
        self.policy = policymod.from_config(cfg)
        self.staff: Staff | None = None
        self.shift = None
        self.cart = Cart(cfg.prices_include_tax)
        self.wedge = WedgeDetector(cfg.scanner.max_gap_ms, cfg.scanner.min_length)
        self._snapshot = None
        self.failed_pins, self.locked_until = 0, 0.0
        self.last_uid: str | None = None      # the last document this till completed
        self.unprinted: str | None = None     # a document whose receipt failed to print
        self.committing = False
        self._print_lock = threading.Lock()   # one receipt at a time on the printer
        self.scanner_open = scanner_open      # tests: a fake evdev device opener
        self.scanner_reader = None
        self.scanner_text = "scanner: keyboard"
        self.scanner_note = ""

    # --- opening screens by name ---------------------------------------------------------------
    def open(self, name: str, *args, then=None, switch: bool = False, **kwargs):
        """Open the screen registered as `name` (SCREENS), built with *args/**kwargs, on top of
        this one; `then(result)` is called when it is dismissed. switch=True replaces the top
        screen instead. Returns the screen."""
        screen = screen_class(name)(*args, **kwargs)
        if switch:
            self.switch_screen(screen)
        else:
            self.push_screen(screen, then)
        return screen

    # --- start-up ----------------------------------------------------------------------------
    def on_mount(self) -> None:
        if self.cfg.keys:
            self.set_keymap(self.cfg.keys)
        self.start_scanner()
        # Pushed (not the default screen) so that sign-in can be switched for the till and back.
        self.open("signin")

    # --- evdev scanner --------------------------------------------------------------------------
    def start_scanner(self) -> None:
        """With `scanner.device` set, read the scanner through evdev (exclusive grab); otherwise,
        or when that fails, the keyboard-wedge detector below is the scanner path."""
        device = self.cfg.scanner.device
        if not device:
            return
        from . import evdev_scanner
        try:
            self.scanner_reader = evdev_scanner.start_reader(
                device, self.evdev_scanned, layout=self.cfg.scanner.layout,
                min_length=self.cfg.scanner.min_length, open_device=self.scanner_open)
        except Exception as exc:  # noqa: BLE001 - a broken scanner must not stop the till
            log.exception("scanner: evdev start failed on %s", device)
            self.scanner_reader, evdev_scanner.last_reason = None, str(exc)
        if self.scanner_reader is not None:
            self.scanner_text = f"scanner: evdev {device}"
        else:
            self.scanner_note = evdev_scanner.last_reason or "evdev not available"
            self.scanner_text = "scanner: keyboard"   # start_reader logged why

    async def on_unmount(self) -> None:
        if self.scanner_reader is not None:
            await self.scanner_reader.stop()

    # Screens that do not take scans themselves but sit above the sale screen while the cashier
    # looks something up: an evdev scan there goes into the cart underneath.
    SCAN_INTO_CART_BELOW = frozenset({"OrdersScreen", "SyncScreen", "OnlineOrdersScreen", "ShiftScreen"})

    def evdev_scanned(self, code: str) -> None:
        """A complete code from the evdev reader (on the event loop's thread). The grabbed device
        types nothing, so the scan is delivered or refused here, never lost silently."""
        log.debug("scanner: evdev scan of %d characters", len(code))
        for screen in reversed(self.screen_stack):
            mode = getattr(screen, "SCANS", None)
            if mode == "pass":
                continue
            if mode == "refuse":
                self.say("Finish or leave this screen (Esc) before scanning more items", error=True)
                return
            if mode:
                screen.scanned(code)
                return
            if type(screen).__name__ in self.SCAN_INTO_CART_BELOW:
                self._scan_into_cart_below(screen, code)
            else:
                self.say("This screen does not take scans: finish it or go back (Esc), then scan",
                         error=True)
            return

    def _scan_into_cart_below(self, above, code: str) -> None:
        below = self.screen_stack[: self.screen_stack.index(above)]
        target = next((s for s in reversed(below) if getattr(s, "SCANS", None) == "cart"), None)
        if target is None or self.staff is None or self.shift is None:
            self.say("Sign in and open a shift before scanning", error=True)
            return
        target.scanned(code)
        # The sale screen said what happened on its own message line, under this screen: repeat it here.
        said = getattr(target, "last_message", None)
        if said and hasattr(above, "show_message"):
            text, error = said
            above.show_message(f"Sale: {text}" + ("" if error else " (Esc to see the sale)"), error)

    # --- keyboard-wedge scanner ---------------------------------------------------------------
    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded and self._wedge_key(event):
            return
        await super().on_event(event)

    def _scan_target(self):
        for screen in reversed(self.screen_stack):
            mode = getattr(screen, "SCANS", None)
            if mode != "pass":
                return screen if mode else None
        return None

    def _wedge_key(self, event: events.Key) -> bool:
        """Feed every key to the detector; True when it ended a scan (its Enter is swallowed)."""
        target = self._scan_target()
        if target is None:
            self.wedge.reset()
            return False
        if event.key == "enter":
            ch = "\r"
        elif event.character and len(event.character) == 1 and event.character.isprintable():
            ch = event.character
        else:
            self.wedge.reset()
            return False
        code = self.wedge.feed(ch, event.time)
        if ch != "\r":
            if self.wedge.pending == 1:
                focused = self.focused
                self._snapshot = ((focused, focused.value, focused.cursor_position)
                                  if isinstance(focused, Input) else None)
            return False
        if code is None:
            return False
        # The scanner's characters went into whatever field had focus: put it back as it was.
        if self._snapshot is not None:
            widget, value, cursor = self._snapshot
            self._snapshot = None

            def restore() -> None:
                widget.value, widget.cursor_position = value, cursor
            # The keys were forwarded to the field's own queue and may not be inserted yet;
            # call_later queues the restore behind them.
            widget.call_later(restore)
        if getattr(target, "SCANS", None) == "refuse":
            self.say("Finish or leave this screen (Esc) before scanning more items", error=True)
        else:
            target.scanned(code)
        return True

    def back_office_command(self) -> list[str]:
        # A separate program, not an import: the till and the back office never import each other.
        return [sys.executable, "-m", "pos_office", "--config", self.cfg.path]

    def back_office(self) -> None:
        """F11: the back office's reports in this terminal (it asks for a manager's PIN); the
        till is suspended meanwhile and comes back as it was when the reports are closed."""
        from textual.app import SuspendNotSupported
        try:
            with self.suspend():
                code = subprocess.call(self.back_office_command())
        except SuspendNotSupported:
            self.say("The back office cannot open in this terminal; run pos-office", True)
            return
        except OSError as exc:
            self.say(f"The back office did not start: {exc.strerror or exc}", True)
            return
        self.say("Back to the till" if code == 0 else f"The back office stopped with an error ({code})", code != 0)

    def say(self, text: str, error: bool = False) -> None:
        """Show a message on the screen that has a message line, and beep for errors."""
        if error:
            self.bell()
        for screen in reversed(self.screen_stack):
            if hasattr(screen, "show_message"):
                screen.show_message(text, error)
                return
        self.notify(text, severity="error" if error else "information")

    # --- sign-in ------------------------------------------------------------------------------
    def lock_left(self) -> int:
        return max(0, int(self.locked_until - self.clock() + 0.999))

    def try_pin(self, pin: str) -> None:
        if self.lock_left():
            return
        self._check_pin(pin)

    def _check_pin(self, pin: str) -> None:
        counter_id, branch_code = self.counter.id, self.counter.branch.code

        def check() -> SignInResult:   # scrypt over the staff list: off the UI thread
            from pos_core import staff as staffmod  # here: the sign-in screen comes up without it
            person = staffmod.authenticate(pin) if pin.isdigit() and 4 <= len(pin) <= 8 else None
            if person is None or not staffmod.works_at(person, branch_code):
                return SignInResult(person.id if person else None, person)
            # What the first screen after sign-in needs is read here too, so the UI thread does no
            # database work before it paints: the shift, and the promotions the cart prices with.
            from pos_core import promotions, shifts
            from pos_core.models import utcnow
            shift, at = shifts.current(counter_id), self.clock()
            return SignInResult(person.id, person, True, shift, promotions.active_rules(branch_code, utcnow()), at)
        tillwork.run(self, check, self.post_message, failed=lambda text: self.say(text, error=True), busy=None,
                     group="signin", exclusive=True, what="Checking the PIN")

    @on(SignInResult)
    def signed_in(self, msg: SignInResult) -> None:
        SignInScreen = screen_class("signin")
        screen = self.screen
        if msg.staff_id is None:
            self.failed_pins += 1
            if self.failed_pins >= MAX_PIN_TRIES:
                self.failed_pins, self.locked_until = 0, self.clock() + LOCK_SECONDS
            if isinstance(screen, SignInScreen):
                screen.refused(MAX_PIN_TRIES - self.failed_pins if not self.lock_left() else 0)
            self.bell()
            return
        person = msg.staff
        if not msg.works_here:
            if isinstance(screen, SignInScreen):
                screen.show_message(f"{person.name} does not work at {self.counter.branch.code}", True)
            return
        self.failed_pins, self.staff = 0, person
        self.shift = msg.shift
        self.cart.rules, self._promotions_at = msg.rules, msg.rules_at
        self.enter_till(fresh=True)

    def enter_till(self, fresh: bool = False) -> None:
        """The sale screen, or opening a shift first. `fresh`: the promotions were just read."""
        if not fresh:
            self.fresh_promotions(force=True)
        screen = self.open("sale" if self.shift else "open_shift", switch=True)
        if self.cfg.scanner.device:  # say which scanner path is live, and why not evdev
            note = f" (evdev not used: {self.scanner_note})" if self.scanner_reader is None else ""
            screen.call_after_refresh(self.say, self.scanner_text + note, self.scanner_reader is None)

    def sign_out(self) -> None:
        if self.cart.lines:
            self.say("Park (F8) or finish the sale before signing out", error=True)
            return
        self.staff = None
        while len(self.screen_stack) > 2:
            self.pop_screen()
        self.open("signin", switch=True)

    # --- selling ------------------------------------------------------------------------------
    def pay(self, tenders: list) -> None:
        """Complete the cart's sale with these tenders (in a worker); the cart stays until it commits."""
        if self.committing:
            return
        self.committing = True
        c = self.cart
        self._complete_sale(dict(
            counter_id=self.counter.id, shift_id=self.shift.id, staff_id=self.staff.id,
            lines=c.sale_lines(), tenders=list(tenders), order_discount=c.order_discount,
            customer_id=c.customer.id if c.customer else None, approver_id=c.approver_id,
            draft_uid=c.draft_uid, coupon_code=c.coupon_code or None))

    PROMOTIONS_TTL_S = 60.0

    def fresh_promotions(self, force: bool = False) -> None:
        """The promotions running at this branch, re-read at most once a minute (a time window
        opening or a manager's new promotion shows up within a minute, and a scan costs nothing)."""
        now = self.clock()
        if not force and now - getattr(self, "_promotions_at", -1e9) < self.PROMOTIONS_TTL_S:
            return
        from pos_core import promotions
        from pos_core.models import utcnow
        self.cart.rules = promotions.active_rules(self.counter.branch.code, utcnow())
        self._promotions_at = now

    def _complete_sale(self, args: dict) -> None:
        def sell() -> SaleDone:
            from pos_core import sales  # imported when first needed: the sign-in screen comes up sooner
            order = sales.complete_sale(self.policy, **args)
            cash = any(t.method == "cash" for t in args["tenders"])
            return SaleDone(order.uid, order.number, order.change_paisa, cash)
        # Any error (the database is locked...): said in one line, the cart kept for another try.
        tillwork.run(self, sell, self.post_message, failed=lambda text: self.post_message(ActionFailed(text)),
                     busy=None, group="sale", what="The sale",
                     unexpected="the sale was NOT saved ({error}); try again")

    @on(SaleDone)
    def sale_done(self, msg: SaleDone) -> None:
        self.committing = False
        self.cart.clear()
        self.fresh_promotions()
        self.last_uid = msg.uid
        for screen in self.screen_stack:
            if hasattr(screen, "sale_completed"):
                screen.sale_completed(msg)
        self.print_after_fiscal([msg.uid])

    @on(ActionFailed)
    def action_failed(self, msg: ActionFailed) -> None:
        self.committing = False
        self.say(msg.text, error=True)

    def run_return(self, kind: str, kwargs: dict) -> None:
        if self.committing:
            return
        self.committing = True
        self._complete_return(kind, kwargs)

    def _complete_return(self, kind: str, kwargs: dict) -> None:
        def save() -> ReturnDone:
            from pos_core import refunds
            if kind == "refund":
                doc = refunds.refund(self.policy, **kwargs)
                return ReturnDone([doc.uid], f"Refund {doc.number}: Rs {fmt(doc.total_paisa)} back")
            credit, sale = refunds.exchange(self.policy, **kwargs)
            uids = [credit.uid] + ([sale.uid] if sale else [])
            return ReturnDone(uids, f"Exchange done: {credit.number}" + (f" and {sale.number}" if sale else ""))
        tillwork.run(self, save, self.post_message, failed=lambda text: self.post_message(ActionFailed(text)),
                     busy=None, group="sale", what=f"The {kind}",
                     unexpected=f"the {kind} was NOT saved ({{error}}); try again")

    @on(ReturnDone)
    def return_done(self, msg: ReturnDone) -> None:
        self.committing = False
        self.last_uid = msg.uids[-1]
        for screen in reversed(self.screen_stack):
            if hasattr(screen, "return_completed"):
                screen.return_completed(msg)
                break
        self.say(msg.text)
        self.print_after_fiscal(list(msg.uids))

    # --- printing -----------------------------------------------------------------------------
    def fbr_wait_seconds(self) -> float:
        """How long to wait for the fiscal number before printing: 0 with FBR off, and 0 while
        the agent's circuit breaker is open (FBR unreachable: print "offline" at once)."""
        if self.cfg.fbr.mode == "off":
            return 0.0
        from .widgets.status import fbr_breaker_open
        try:
            if fbr_breaker_open():
                return 0.0
        except Exception:  # noqa: BLE001 - no heartbeat to read: wait as configured
            log.exception("reading the FBR heartbeat")
        return float(self.cfg.fbr.wait_seconds)

    @work(thread=True, group="print", exit_on_error=False)
    def print_after_fiscal(self, uids: list[str]) -> None:
        """Wait (in this thread, up to fbr.wait_seconds) for the agent to bring back the fiscal
        numbers of just-completed documents, then print them in order. The screen is free meanwhile."""
        from pos_core import fiscal
        worker = get_current_worker()
        try:
            wait = self.fbr_wait_seconds()
            deadline = time.monotonic() + wait
            pending = list(uids)
            while pending and wait > 0 and not worker.is_cancelled:
                pending = [u for u in pending if fiscal.invoice_number(u)[0] is None]
                if not pending or time.monotonic() >= deadline:
                    break
                time.sleep(FBR_POLL_S)
        except Exception:  # noqa: BLE001 - waiting is a nicety: print anyway
            log.exception("waiting for the FBR number")
        finally:
            db.close()
        if worker.is_cancelled:
            return
        for uid in uids:
            self._print_one(uid, False)

    @work(thread=True, group="print", exit_on_error=False)
    def print_document(self, uid: str, reprint: bool = False, gift: bool = False) -> None:
        self._print_one(uid, reprint, gift)

    def _print_one(self, uid: str, reprint: bool, gift: bool = False) -> None:
        """Build and print one stored document (in a print worker's thread); posts PrintDone."""
        from printers.transport import PrintResult, print_receipt
        from .receipts import build_receipt, printer_settings, receipt_template
        try:
            order = PosOrder.get(PosOrder.uid == uid)
            settings = printer_settings(self.cfg)
            receipt = build_receipt(order, self.cfg, reprint)
            if settings is None:
                result = PrintResult(False, "no printer is set up for this counter")
            else:
                with self._print_lock:
                    result = print_receipt(settings, receipt, receipt_template(self.cfg), gift=gift)
            warning = result.warning
            if result.ok and receipt.fbr is not None and not receipt.fbr.fiscal_number:
                pending = "offline mode, FBR number pending: Ctrl+R reprints it once the number comes"
                warning = f"{warning}; {pending}" if warning else pending
            what = f"Gift receipt {order.number}" if gift else f"Receipt {order.number}"
            # A gift receipt says nothing about whether the receipt itself was printed.
            self.post_message(PrintDone(what, result.ok, result.error, warning, None if gift else uid))
        except Exception as exc:  # noqa: BLE001 - printing must never take the till down
            log.exception("receipt for %s not printed", uid)
            self.post_message(PrintDone("Receipt", False, str(exc), None, uid))
        finally:
            db.close()

    @work(thread=True, group="print", exit_on_error=False)
    def print_shift(self, shift_id: int, title: str) -> None:
        from printers.layout import layout_slip
        from printers.transport import columns_for, print_ops
        from pos_core.models import Shift
        from .receipts import printer_settings, shift_slip
        try:
            settings = printer_settings(self.cfg)
            if settings is None:
                self.post_message(PrintDone(title, False, "no printer is set up for this counter"))
                return
            slip = shift_slip(Shift.get_by_id(shift_id), self.cfg, title)
            result = print_ops(settings, layout_slip(slip, columns_for(settings)))
            self.post_message(PrintDone(title, result.ok, result.error, result.warning))
        finally:
            db.close()

    @on(PrintDone)
    def print_done(self, msg: PrintDone) -> None:
        if msg.ok:
            if msg.uid and msg.uid == self.unprinted:
                self.unprinted = None
            self.say(f"{msg.what} printed" + (f" ({msg.warning})" if msg.warning else ""))
        else:
            log.warning("%s did not print: %s", msg.what, msg.error)
            if msg.uid:
                self.unprinted = msg.uid
            self.say(f"{msg.what} did NOT print (sale is saved; Ctrl+R reprints): {msg.error}", error=True)

    def reprint(self, uid: str | None = None) -> None:
        uid = uid or self.unprinted or self.last_uid
        if uid is None:
            self.say("Nothing to reprint yet", error=True)
            return
        # A receipt that never printed is the original, not a duplicate.
        self.print_document(uid, reprint=uid != self.unprinted)

    # --- errors --------------------------------------------------------------------------------
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            err = event.worker.error
            log.error("worker %s failed: %r", event.worker.name, err,
                      exc_info=(type(err), err, err.__traceback__) if err else None)

    def _handle_exception(self, error: Exception) -> None:
        log.critical("unhandled error; the till stops", exc_info=(type(error), error, error.__traceback__))
        super()._handle_exception(error)

    # --- app-wide keys ------------------------------------------------------------------------
    def action_help(self) -> None:
        from .screens.help import key_map_text
        if isinstance(self.screen, screen_class("text")):
            return
        self.open("text", "Keys (F1)", key_map_text(self))

    def action_quit_till(self) -> None:
        if self.cart.lines:
            self.say("Park (F8) or finish the sale before quitting", error=True)
            return
        self.exit()


def make_app(cfg, clock=time.monotonic, scanner_open=None) -> PosApp:
    """Build the till for a loaded config, with the database already open."""
    from pos_core import branches
    return PosApp(cfg, branches.find_counter(cfg.branch, cfg.counter), clock=clock, scanner_open=scanner_open)
