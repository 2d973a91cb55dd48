"""The till: one App per counter, screens for sign-in, shifts, selling, orders and sync.

State lives here in plain objects (who is signed in, the shift, the cart); screens render it.
Database writes that complete a document run in thread workers which post messages back, and
printing runs in its own worker, so a slow or missing printer never holds up the next customer.
"""
from __future__ import annotations

import time

from rich.markup import escape
from textual import events, on, work
from textual.app import App
from textual.binding import Binding
from textual.scrollbar import ScrollBar, ScrollBarRender
from textual.widgets import Input

from pos_core import db, policy as policymod, shifts, staff as staffmod
from pos_core.errors import PosError
from pos_core.models import Counter, PosOrder, Staff
from pos_core.money import fmt

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


class PosApp(App, inherit_bindings=False):
    CSS_PATH = "pos.tcss"
    TITLE = "POS till"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("f1", "help", "Keys", id="help", priority=True),
        Binding("ctrl+q", "quit_till", "Quit", id="quit", priority=True, show=False),
    ]

    def __init__(self, cfg, counter: Counter, clock=time.monotonic):
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

    # --- start-up ----------------------------------------------------------------------------
    def on_mount(self) -> None:
        from .screens.signin import SignInScreen
        # ansi-dark uses the terminal's own 16 colours: right for TERM=linux and SSH.
        self.theme = "ansi-dark"
        if self.cfg.keys:
            self.set_keymap(self.cfg.keys)
        # Pushed (not the default screen) so that sign-in can be switched for the till and back.
        self.push_screen(SignInScreen())

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

    @work(thread=True, exclusive=True, group="signin", exit_on_error=False)
    def _check_pin(self, pin: str) -> None:
        try:
            person = staffmod.authenticate(pin) if pin.isdigit() and 4 <= len(pin) <= 8 else None
            self.post_message(SignInResult(person.id if person else None))
        finally:
            db.close()

    @on(SignInResult)
    def signed_in(self, msg: SignInResult) -> None:
        from .screens.signin import SignInScreen
        screen = self.screen
        if msg.staff_id is None:
            self.failed_pins += 1
            if self.failed_pins >= MAX_PIN_TRIES:
                self.failed_pins, self.locked_until = 0, self.clock() + LOCK_SECONDS
            if isinstance(screen, SignInScreen):
                screen.refused(MAX_PIN_TRIES - self.failed_pins if not self.lock_left() else 0)
            self.bell()
            return
        person = Staff.get_by_id(msg.staff_id)
        if not staffmod.works_at(person, self.counter.branch.code):
            if isinstance(screen, SignInScreen):
                screen.show_message(f"{person.name} does not work at {self.counter.branch.code}", True)
            return
        self.failed_pins, self.staff = 0, person
        self.shift = shifts.current(self.counter.id)
        self.enter_till()

    def enter_till(self) -> None:
        from .screens.sale import SaleScreen
        from .screens.shift import OpenShiftScreen
        self.switch_screen(SaleScreen() if self.shift else OpenShiftScreen())

    def sign_out(self) -> None:
        from .screens.signin import SignInScreen
        if self.cart.lines:
            self.say("Park (F8) or finish the sale before signing out", error=True)
            return
        self.staff = None
        while len(self.screen_stack) > 2:
            self.pop_screen()
        self.switch_screen(SignInScreen())

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
            draft_uid=c.draft_uid))

    @work(thread=True, group="sale", exit_on_error=False)
    def _complete_sale(self, args: dict) -> None:
        from pos_core import sales  # imported when first needed: the sign-in screen comes up sooner
        try:
            order = sales.complete_sale(self.policy, **args)
            cash = any(t.method == "cash" for t in args["tenders"])
            self.post_message(SaleDone(order.uid, order.number, order.change_paisa, cash))
        except PosError as exc:
            self.post_message(ActionFailed(str(exc)))
        except Exception as exc:  # noqa: BLE001 - e.g. the database is locked: say so, keep the cart
            self.post_message(ActionFailed(f"the sale was NOT saved ({exc}); try again"))
        finally:
            db.close()

    @on(SaleDone)
    def sale_done(self, msg: SaleDone) -> None:
        self.committing = False
        self.cart.clear()
        self.last_uid = msg.uid
        for screen in self.screen_stack:
            if hasattr(screen, "sale_completed"):
                screen.sale_completed(msg)
        self.print_document(msg.uid)

    @on(ActionFailed)
    def action_failed(self, msg: ActionFailed) -> None:
        self.committing = False
        self.say(msg.text, error=True)

    def run_return(self, kind: str, kwargs: dict) -> None:
        if self.committing:
            return
        self.committing = True
        self._complete_return(kind, kwargs)

    @work(thread=True, group="sale", exit_on_error=False)
    def _complete_return(self, kind: str, kwargs: dict) -> None:
        from pos_core import refunds
        try:
            if kind == "refund":
                doc = refunds.refund(self.policy, **kwargs)
                self.post_message(ReturnDone([doc.uid], f"Refund {doc.number}: Rs {fmt(doc.total_paisa)} back"))
            else:
                credit, sale = refunds.exchange(self.policy, **kwargs)
                uids = [credit.uid] + ([sale.uid] if sale else [])
                text = f"Exchange done: {credit.number}" + (f" and {sale.number}" if sale else "")
                self.post_message(ReturnDone(uids, text))
        except PosError as exc:
            self.post_message(ActionFailed(str(exc)))
        except Exception as exc:  # noqa: BLE001
            self.post_message(ActionFailed(f"NOT saved ({exc}); try again"))
        finally:
            db.close()

    @on(ReturnDone)
    def return_done(self, msg: ReturnDone) -> None:
        self.committing = False
        self.last_uid = msg.uids[-1]
        for screen in reversed(self.screen_stack):
            if hasattr(screen, "return_completed"):
                screen.return_completed(msg)
                break
        self.say(msg.text)
        for uid in msg.uids:
            self.print_document(uid)

    # --- printing -----------------------------------------------------------------------------
    @work(thread=True, group="print", exit_on_error=False)
    def print_document(self, uid: str, reprint: bool = False) -> None:
        from printers.transport import PrintResult, print_receipt
        from .receipts import build_receipt, printer_settings
        try:
            order = PosOrder.get(PosOrder.uid == uid)
            settings = printer_settings(self.cfg)
            if settings is None:
                result = PrintResult(False, "no printer is set up for this counter")
            else:
                result = print_receipt(settings, build_receipt(order, self.cfg, reprint))
            self.post_message(PrintDone(f"Receipt {order.number}", result.ok, result.error, result.warning, uid))
        except Exception as exc:  # noqa: BLE001 - printing must never take the till down
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

    # --- app-wide keys ------------------------------------------------------------------------
    def action_help(self) -> None:
        from .screens.dialogs import TextScreen
        from .screens.help import key_map_text
        if isinstance(self.screen, TextScreen):
            return
        self.push_screen(TextScreen("Keys (F1)", key_map_text(self)))

    def action_quit_till(self) -> None:
        if self.cart.lines:
            self.say("Park (F8) or finish the sale before quitting", error=True)
            return
        self.exit()


def make_app(cfg, clock=time.monotonic) -> PosApp:
    """Build the till for a loaded config, with the database already open."""
    from pos_core import branches
    return PosApp(cfg, branches.find_counter(cfg.branch, cfg.counter), clock=clock)
