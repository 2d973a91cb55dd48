"""The main till screen: barcode field, cart, totals, customer, status and message lines."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Input, Label, Static

from pos_core import catalog, sales, staff as staffmod
from pos_core.errors import PosError
from pos_core.models import Variant
from pos_core.money import MoneyError, fmt, to_paisa
from pos_core.pricing import Discount, PricingError

from ..cart import CartLine
from ..widgets.bigtext import BigText
from ..widgets.cart import CartView
from ..widgets.keybar import KeyBar
from ..widgets.panel import Panel
from .. import work
from ..receipts import receipt_text
from ..widgets.status import StatusBar


def parse_discount(text: str):
    """'10%' is a percentage, '250' is rupees off. Returns (Discount|None for 0, error)."""
    t = text.strip().replace(" ", "")
    if not t:
        return None, "enter 10% for a percentage or 250 for rupees off"
    try:
        if t.endswith("%"):
            d = Discount("percent", Decimal(t[:-1]))
        else:
            d = Discount("amount", Decimal(str(to_paisa(t))) / 100)
    except (InvalidOperation, PricingError, MoneyError) as exc:
        return None, str(exc) or "not a discount"
    return (d if d.value else False), None


def parse_qty(text: str):
    t = text.strip()
    if not t.isdigit() or not 1 <= int(t) <= 9999:
        return None, "quantity is a whole number from 1 to 9999"
    return int(t), None


class SaleScreen(Screen):
    SCANS = "cart"
    BINDINGS = [
        Binding("f10", "pay", "Pay", id="sale.pay", priority=True,
                tooltip="Take payment"),
        Binding("f2", "search", "Find", id="sale.search", priority=True,
                tooltip="Find an item by name"),
        Binding("f3", "customer", "Cust", id="sale.customer", priority=True,
                tooltip="Attach a customer by phone"),
        Binding("f4", "qty", "Qty", id="sale.qty", priority=True,
                tooltip="Change the chosen line's quantity"),
        Binding("f5", "line_discount", "Disc", id="sale.line_discount", priority=True,
                tooltip="Discount on the chosen line"),
        Binding("f6", "order_discount", "Bill%", id="sale.order_discount", priority=True,
                tooltip="Discount on the whole bill"),
        Binding("f7", "price", "Price", id="sale.price_override", priority=True,
                tooltip="Change the chosen line's price"),
        Binding("f8", "park", "Park", id="sale.park", priority=True,
                tooltip="Park the sale as a draft"),
        Binding("f9", "recall", "Recall", id="sale.recall", priority=True,
                tooltip="Recall a parked draft"),
        Binding("ctrl+d", "remove_line", "Remove line", id="sale.remove_line", priority=True, show=False),
        Binding("ctrl+x", "void", "Void sale", id="sale.void", priority=True, show=False),
        Binding("up", "cursor(-1)", "Line up", id="sale.line_up", show=False),
        Binding("down", "cursor(1)", "Line down", id="sale.line_down", show=False),
        Binding("ctrl+o", "orders", "Orders", id="sale.orders", priority=True, show=False),
        Binding("ctrl+t", "shift", "Shift", id="sale.shift", priority=True, show=False),
        Binding("ctrl+y", "sync", "Sync", id="sale.sync", priority=True, show=False),
        Binding("ctrl+w", "online", "Online orders", id="sale.online", priority=True, show=False),
        Binding("ctrl+k", "stock", "Stock", id="sale.stock", priority=True, show=False),
        Binding("f11", "back_office", "Back office reports", id="sale.back_office", priority=True, show=False),
        Binding("ctrl+e", "preview", "Receipt preview", id="sale.preview", priority=True, show=False),
        Binding("ctrl+r", "reprint", "Reprint", id="sale.reprint", priority=True, show=False),
        Binding("ctrl+l", "sign_out", "Sign out", id="sale.sign_out", priority=True, show=False),
        Binding("ctrl+p", "coupon", "Coupon", id="sale.coupon", priority=True, show=False),
        Binding("ctrl+b", "salesperson", "Salesperson badge", id="sale.salesperson", priority=True, show=False),
    ]

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Horizontal(id="scan-row"):
            yield Label("Barcode/SKU >", id="scan-label")
            yield Input(id="barcode", placeholder="scan or type a code, Enter (3*code for 3)")
        yield CartView(id="cart")
        with Horizontal(id="bottom"):
            with Vertical(id="left-panel"):
                yield Panel(id="customer")
                yield Label("", id="change-label")
                yield BigText(id="change")
            yield Panel(id="totals")
        yield Panel(id="message")
        yield Label("F1 keys ^D del ^O orders ^T shift ^Y sync ^E receipt ^R reprint ^L sign out",
                    id="more-keys", classes="hint")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#barcode", Input).focus()
        self.render_cart()

    # --- rendering ----------------------------------------------------------------------------
    @property
    def cart(self):
        return self.app.cart

    def render_cart(self, select: int | None = None) -> None:
        view = self.query_one("#cart", CartView)
        row = view.cursor if select is None else select
        outcome = None
        try:
            outcome = self.cart.outcome()
            priced, totals = self.cart.priced(outcome)
        except PricingError as exc:
            priced, totals = [], None
            self.show_message(str(exc), True)
        rows, notes = [], {}
        for i, line in enumerate(self.cart.lines):
            p = priced[i] if priced else None
            name = line.name[: -len(line.option) - 3] if line.option and line.name.endswith(" - " + line.option) else line.name
            price = fmt(line.price_paisa) + ("*" if line.override_paisa is not None else "")
            disc = fmt(p.line_discount_paisa + p.order_discount_paisa) if p and p.discount_paisa else ""
            rows.append((i + 1, name, line.option, line.qty, price, disc, fmt(p.total_paisa) if p else ""))
            # The promotion's name under its line, so the cashier can explain the price.
            note = [f"{a.name} -{fmt(a.amount_paisa)}" for a in (outcome.applied if outcome else []) if a.line == i]
            if line.salesperson:
                note.append(f"by {line.salesperson}")
            if note:
                notes[i] = "; ".join(note)
        view.set_rows(rows, row, notes)
        self.render_totals(totals, outcome)
        self.render_customer()

    def render_totals(self, totals, outcome=None) -> None:
        fee = self.app.policy.service_fee_paisa if self.cart.lines else 0
        rows = []
        if totals:
            rows.append(f"Subtotal   {fmt(totals.subtotal_paisa):>14}")
            promo_total = 0
            for name, amount in (outcome.by_promotion() if outcome else []):
                rows.append(f"{escape(name[:14]):<14}{'-' + fmt(amount):>11}")
                promo_total += amount
            if totals.discount_paisa - promo_total:
                rows.append(f"Discount   {'-' + fmt(totals.discount_paisa - promo_total):>14}")
            incl = " incl" if self.cart.prices_include_tax else ""
            rows.append(f"Tax{incl:<8}{fmt(totals.tax_paisa):>14}")
            if fee:
                rows.append(f"POS fee    {fmt(fee):>14}")
            total = totals.total_paisa + fee
        else:
            rows.append("Scan an item to start")
            total = 0
        n = sum(l.qty for l in self.cart.lines)
        rows.append(f"[b reverse] TOTAL Rs {fmt(total):>13} [/]")
        rows.append(f"{len(self.cart.lines)} lines, {n} items")
        self.query_one("#totals", Panel).show("\n".join(rows))

    def render_customer(self) -> None:
        c = self.cart.customer
        first = f"Customer: {escape(c.name or '-')} {c.phone}" if c else "Customer: walk-in (F3 to attach)"
        if c and c.store_credit_paisa:
            first += f" credit Rs {fmt(c.store_credit_paisa)}"
        notes = []
        if self.cart.order_discount:
            d = self.cart.order_discount
            notes.append(f"bill disc {d.value}{'%' if d.kind == 'percent' else ' Rs'}")
        if self.cart.approver_name:
            notes.append(f"Approved by {escape(self.cart.approver_name)}")
        if self.cart.draft_uid:
            notes.append("recalled draft")
        if self.cart.coupon_code:
            notes.append(f"coupon {escape(self.cart.coupon_code)}")
        if self.cart.salesperson:
            notes.append(f"salesperson {escape(self.cart.salesperson)}")
        if c is not None:
            from pos_core import loyalty
            points = loyalty.balance(c.id)
            if points:
                first += f" points {points:,}"
        self.query_one("#customer", Panel).show(first + ("\n" + ", ".join(notes) if notes else ""))

    def show_message(self, text: str, error: bool = False) -> None:
        self.last_message = (text, error)  # the app repeats it when a scan came from another screen
        panel = self.query_one("#message", Panel)
        if panel.has_class("error") != error:  # restyling repaints the whole screen: only on a change
            panel.set_class(error, "error")
        panel.show(escape(text))

    def clear_change(self) -> None:
        if getattr(self, "_change_shown", False):  # an update asks for a full relayout: only when needed
            self._change_shown = False
            self.query_one("#change-label", Label).update("")
            self.query_one("#change", BigText).update("")

    # --- adding items -------------------------------------------------------------------------
    @on(Input.Submitted, "#barcode")
    def barcode_entered(self, event: Input.Submitted) -> None:
        text = event.value
        event.input.value = ""
        if text.strip():
            self.add_code(text)

    def scanned(self, code: str) -> None:
        """A keyboard-wedge scan, whatever field had focus (called by the app)."""
        self.add_code(code)

    @work.guarded("Looking up the item")
    def add_code(self, text: str) -> None:
        if self.app.committing:
            # The cart is being saved as a sale and will be cleared when it commits; an item added
            # now would vanish with it.
            self.show_message("Saving the last sale: scan that item again in a moment", True)
            self.app.bell()
            return
        qty = 1
        head, star, tail = text.strip().partition("*")
        if star and head.isdigit():
            qty, text = int(head), tail
            if not 1 <= qty <= 9999:
                self.show_message("quantity is a whole number from 1 to 9999", True)
                self.app.bell()
                return
        try:
            found = catalog.lookup(text, self.app.cfg.barcodes)
        except PosError as exc:
            # Not an item: perhaps a salesperson's badge or a coupon printed on a parcel.
            if not star and (self.try_badge(text) or self.try_coupon(text, quiet=True)):
                return
            self.show_message(str(exc), True)
            self.app.bell()
            return
        if found.measured is not None:
            self.add_measured(found.measured, qty)
            return
        self.add_variant(found.variant, qty)

    # --- salesperson and coupon ---------------------------------------------------------------
    def try_badge(self, code: str) -> bool:
        from pos_core.models import Staff
        person = Staff.get_or_none((Staff.code == code.strip()) & (Staff.active == True))  # noqa: E712
        if person is None:
            return False
        self.set_salesperson(person)
        return True

    def set_salesperson(self, person) -> None:
        """Lines added from now on are this person's; so is the highlighted line, or every line
        when none has a salesperson yet (the whole sale)."""
        cart = self.cart
        cart.salesperson_id, cart.salesperson = person.id, person.name
        unassigned = [l for l in cart.lines if l.salesperson_id is None]
        targets = unassigned if len(unassigned) == len(cart.lines) else [self.selected()] if cart.lines else []
        for line in targets:
            if line is not None:
                line.salesperson_id, line.salesperson = person.id, person.name
        self.render_cart()
        self.show_message(f"Salesperson {person.name}" + (f" on {len(targets)} line(s)" if targets else ""))

    def action_salesperson(self) -> None:
        def check(text):
            from pos_core import commission
            try:
                return commission.salesperson(text), None
            except PosError as exc:
                return None, str(exc)
        self.app.open("prompt", "Salesperson", "Scan the badge or type the staff code:", check,
                      then=lambda person: person is not None and self.set_salesperson(person))

    def try_coupon(self, text: str, quiet: bool = False) -> bool:
        from pos_core import coupons, promotions
        cart = self.cart
        try:
            _, totals = cart.priced()
            coupon = coupons.check(text, cart.customer.id if cart.customer else None,
                                   totals.subtotal_paisa if totals else 0)
        except PosError as exc:
            if quiet and ("not valid" in str(exc) or "not a coupon code" in str(exc)):
                return False   # a mistyped item code: the item's error says more
            self.show_message(str(exc), True)
            self.app.bell()
            return True
        cart.coupon_code, cart.coupon_rule = coupon.code, promotions.rule_of(coupon.promotion)
        self.render_cart()
        self.show_message(f"Coupon {coupon.code}: {coupon.promotion.name}")
        return True

    def action_coupon(self) -> None:
        if not self.cart.lines:
            self.show_message("Scan the items first, then the coupon", True)
            return
        self.app.open("prompt", "Coupon", "Type or scan the coupon code (0 removes it):",
                      then=self._coupon_entered)

    def _coupon_entered(self, text) -> None:
        if not text:
            return
        if text.strip() == "0":
            self.cart.coupon_code, self.cart.coupon_rule = "", None
            self.render_cart()
            self.show_message("Coupon removed")
            return
        self.try_coupon(text)

    def add_measured(self, measured, qty: int = 1) -> None:
        """A label from the scale or the cutting table: its own line at the label's price."""
        if qty != 1:
            self.show_message("a weighed or measured label is one line: scan it without a quantity", True)
            self.app.bell()
            return
        if not measured.variant.active:
            self.show_message(f"{measured.variant.name} is no longer sold", True)
            self.app.bell()
            return
        self.clear_change()
        index = self.cart.add_measured(measured)
        self.render_cart(select=index)
        self.show_message(f"Added {measured.description}  Rs {fmt(measured.price_paisa)}")

    def add_variant(self, v: Variant, qty: int = 1) -> None:
        if not v.active:
            self.show_message(f"{v.name} is no longer sold", True)
            self.app.bell()
            return
        self.clear_change()
        self.app.fresh_promotions()
        index = self.cart.add(v, qty)
        self.render_cart(select=index)
        line = self.cart.lines[index]
        self.show_message(f"Added {v.name}  x{line.qty}  Rs {fmt(line.price_paisa)}")

    # --- line and order changes ---------------------------------------------------------------
    def selected(self) -> CartLine | None:
        if not self.cart.lines:
            self.show_message("The cart is empty", True)
            self.app.bell()
            return None
        return self.cart.lines[min(self.query_one("#cart", CartView).cursor, len(self.cart.lines) - 1)]

    def action_cursor(self, step: int) -> None:
        self.query_one("#cart", CartView).move(step)

    def action_search(self) -> None:
        def chosen(variant_id) -> None:
            if variant_id is not None:
                self.add_variant(Variant.get_by_id(variant_id))
        self.app.open("search", then=chosen)

    def action_customer(self) -> None:
        if self.cart.customer is not None:
            self.app.open("customer_profile", self.cart.customer, then=self._profile_closed)
            return
        self.attach_customer()

    def _profile_closed(self, result) -> None:
        if result == "change":
            self.attach_customer()
        elif result == "detach":
            self.cart.customer = None
            self.render_customer()
            self.show_message("Customer detached")

    def attach_customer(self) -> None:
        def chosen(customer) -> None:
            if customer is not None:
                self.cart.customer = customer
                self.render_customer()
                self.show_message(f"Customer {customer.name or customer.phone} attached")
        self.app.open("customer", then=chosen)

    def _measured(self, line: CartLine) -> bool:
        if line.scanned_code is not None:
            self.show_message("this line's quantity and price come from its label; remove it and scan again", True)
            self.app.bell()
            return True
        return False

    def action_qty(self) -> None:
        line = self.selected()
        if line is None or self._measured(line):
            return

        def done(qty) -> None:
            if qty is not None:
                line.qty = qty
                self.render_cart()
        self.app.open("prompt", "Quantity", f"{escape(line.name)}\nNew quantity:", parse_qty,
                                          str(line.qty), then=done)

    def action_remove_line(self) -> None:
        line = self.selected()
        if line is not None:
            self.cart.lines.remove(line)
            self.render_cart()
            self.show_message(f"Removed {line.name}")

    def action_void(self) -> None:
        if not self.cart.lines:
            return

        def done(ok) -> None:
            if ok:
                self.cart.clear()
                self.render_cart()
                self.show_message("Sale voided")
        self.app.open("confirm", "Void the whole sale?", then=done)

    def _limit(self) -> Decimal:
        return staffmod.discount_limit(self.app.staff, self.app.cfg.discount_limits)

    def _apply_with_approval(self, wanted_pct: Decimal, apply, undo, what: str, override: bool = False) -> None:
        """Apply a change; beyond the cashier's limit a supervisor or manager approves it on the spot."""
        staff, limits = self.app.staff, self.app.cfg.discount_limits
        needs = wanted_pct > self._limit() or (override and not staffmod.may(staff, "price_override"))
        if not needs:
            apply()
            self.render_cart()
            return

        def ok(person) -> bool:
            return (wanted_pct <= staffmod.discount_limit(person, limits)
                    and (not override or staffmod.may(person, "price_override")))

        def approved(person) -> None:
            if person is None:
                self.show_message(f"{what}: not approved, nothing changed", True)
                return
            apply()
            # The core checks the whole sale against this approver and audits both names.
            self.cart.approver_id, self.cart.approver_name = person.id, person.name
            self.render_cart()
            self.show_message(f"{what} approved by {person.name}")
        self.app.open("approval", f"{what} is beyond {staff.name}'s limit", ok, then=approved)

    def _percent_of(self, discount: Discount, base_paisa: int) -> Decimal:
        if not base_paisa:
            return Decimal(0)
        return Decimal(discount.paisa_of(base_paisa)) * 100 / base_paisa

    def action_line_discount(self) -> None:
        line = self.selected()
        if line is None:
            return

        def done(d) -> None:
            if d is None:
                return
            d = d or None   # 0 removes the discount
            gross = line.qty * line.price_paisa
            try:
                pct = self._percent_of(d, gross) if d else Decimal(0)
            except PricingError as exc:
                self.show_message(str(exc), True)
                self.app.bell()
                return
            self._apply_with_approval(pct, lambda: setattr(line, "discount", d), None,
                                      f"Discount {pct:.1f}% on {line.name}")
        self.app.open("prompt", "Line discount", f"{escape(line.name)}\n10% or 250 (Rs off), 0 to remove:",
                                          parse_discount, then=done)

    def action_order_discount(self) -> None:
        if not self.cart.lines:
            self.show_message("The cart is empty", True)
            return

        def done(d) -> None:
            if d is None:
                return
            d = d or None
            try:
                priced, _ = self.cart.priced()
                base = sum(p.gross_paisa - p.line_discount_paisa for p in priced)
                pct = self._percent_of(d, base) if d else Decimal(0)
            except PricingError as exc:
                self.show_message(str(exc), True)
                self.app.bell()
                return
            self._apply_with_approval(pct, lambda: setattr(self.cart, "order_discount", d), None,
                                      f"Bill discount {pct:.1f}%")
        self.app.open("prompt", "Bill discount", "10% or 250 (Rs off), 0 to remove:", parse_discount, then=done)

    def action_price(self) -> None:
        line = self.selected()
        if line is None or self._measured(line):
            return

        def check(text):
            try:
                paisa = to_paisa(text)
            except MoneyError as exc:
                return None, str(exc)
            return (paisa, None) if paisa >= 0 else (None, "a price cannot be negative")

        def done(paisa) -> None:
            if paisa is None:
                return
            new = None if paisa == line.catalog_price_paisa else paisa
            cut = line.catalog_price_paisa - paisa
            pct = Decimal(max(cut, 0)) * 100 / line.catalog_price_paisa if line.catalog_price_paisa else Decimal(0)
            self._apply_with_approval(Decimal(0) if new is None else Decimal(0), lambda: setattr(line, "override_paisa", new),
                                      None, f"Price of {line.name} to Rs {fmt(paisa)} ({pct:.0f}% off)",
                                      override=new is not None)
        self.app.open("prompt", "Price override", f"{escape(line.name)}\nCatalog price Rs "
                                          f"{fmt(line.catalog_price_paisa)}. New price (Rs):", check,
                                          str(Decimal(line.price_paisa) / 100), then=done)

    # --- drafts -------------------------------------------------------------------------------
    def action_park(self) -> None:
        app, cart = self.app, self.cart
        if not cart.lines:
            self.show_message("The cart is empty: nothing to park", True)
            return
        if app.committing:
            return
        app.committing = True   # no payment or second park while this one is saved
        args = dict(customer_id=cart.customer.id if cart.customer else None, order_discount=cart.order_discount,
                    draft_uid=cart.draft_uid, prices_include_tax=cart.prices_include_tax,
                    coupon_code=cart.coupon_code)
        lines = cart.sale_lines()

        def parked(order) -> None:
            app.committing = False
            cart.clear()
            self.render_cart()
            self.show_message(f"Parked as a draft ({order.uid[:6]}); F9 recalls it")

        def failed(text: str) -> None:
            app.committing = False
            self.show_message(text, True)
        work.run(self, lambda: sales.save_draft(app.counter.id, app.staff.id, lines, **args), parked,
                 failed=failed, busy="Parking...", what="Parking the sale")

    def action_recall(self) -> None:
        app = self.app
        if self.cart.lines:
            self.show_message("Park (F8) or finish this sale before recalling a draft", True)
            app.bell()
            return
        drafts = sales.list_drafts(app.counter.id)
        if not drafts:
            self.show_message("No parked drafts at this counter", True)
            return
        from ..receipts import pk_time
        rows = [(d.uid, [pk_time(d.created_at, "%d-%m %H:%M"), d.cashier.name[:14],
                         d.customer.phone if d.customer_id else "walk-in", str(d.lines.count()),
                         fmt(d.total_paisa)]) for d in drafts]
        self.app.open("pick", "Parked drafts", [("Parked", 12), ("By", 14), ("Customer", 14),
                                                          ("Lines", 5), ("Total", 12)], rows, then=self.load_draft)

    def load_draft(self, uid) -> None:
        if uid is None:
            return
        order, lines = sales.draft_lines(uid)
        cart = self.cart
        cart.clear()
        variants = {v.id: v for v in Variant.select().where(Variant.id.in_([l.variant_id for l in lines]))}
        from pos_core import barcodes
        from pos_core.models import Staff
        people = dict(Staff.select(Staff.id, Staff.name)
                      .where(Staff.id.in_([l.salesperson_id for l in lines if l.salesperson_id])).tuples())
        for l in lines:
            if l.scanned_code:
                # A measured label: its code, read again, gives the price and the description
                # (the catalog price per metre would be wrong for 2.35 m of cloth).
                cl = cart.lines[cart.add_measured(barcodes.measured_line(l.scanned_code, self.app.cfg.barcodes))]
            else:
                cl = CartLine.of(variants[l.variant_id], l.qty)
                cart.lines.append(cl)
            cl.discount = l.discount
            cl.salesperson_id, cl.salesperson = l.salesperson_id, people.get(l.salesperson_id, "")
            if not l.scanned_code:
                cl.override_paisa = None if l.unit_price is None else to_paisa(l.unit_price)
        cart.customer = order.customer if order.customer_id else None
        from pos_core.pricing import Discount as D
        cart.order_discount = D.from_json(order.order_discount)
        cart.draft_uid = uid
        self.render_cart(select=0)
        self.show_message(f"Draft recalled: {len(lines)} lines")
        if order.draft_coupon:
            # checked again: it may have expired or been used up since the sale was parked
            self.try_coupon(order.draft_coupon)

    # --- paying -------------------------------------------------------------------------------
    def action_pay(self) -> None:
        app = self.app
        if not self.cart.lines:
            self.show_message("The cart is empty", True)
            app.bell()
            return
        if app.shift is None:
            self.show_message("No open shift: open one before selling", True)
            return
        try:
            self.cart.priced()
        except PricingError as exc:
            self.show_message(str(exc), True)
            return
        due = self.cart.total_paisa(app.policy.service_fee_paisa)

        def paid(tenders) -> None:
            if tenders:
                self.show_message("Saving the sale...")
                app.pay(tenders)
        app.open("payment", due, self.cart.customer, then=paid)

    def sale_completed(self, msg) -> None:
        self.render_cart()
        self.query_one("#status", StatusBar).refresh_status()
        if msg.cash and msg.change_paisa:
            self.query_one("#change-label", Label).update("CHANGE  Rs")
            self.query_one("#change", BigText).show(fmt(msg.change_paisa))
            self._change_shown = True
        else:
            self.clear_change()
        self.show_message(f"Sale {msg.number} saved. Change Rs {fmt(msg.change_paisa)}. Printing...")

    # --- other screens ------------------------------------------------------------------------
    def action_orders(self) -> None:
        self.app.open("orders")

    def action_shift(self) -> None:
        self.app.open("shift")

    def action_sync(self) -> None:
        self.app.open("sync")

    def action_online(self) -> None:
        self.app.open("online_orders")

    def action_stock(self) -> None:
        self.app.open("stock")

    def action_back_office(self) -> None:
        self.app.back_office()

    def action_preview(self) -> None:
        uid = self.app.last_uid
        if uid is None:
            self.show_message("No receipt yet at this till", True)
            return
        self.app.open("text", "Receipt preview", receipt_text(self.app.cfg, uid))

    def action_reprint(self) -> None:
        self.app.reprint()

    def action_sign_out(self) -> None:
        self.app.sign_out()

