"""Ctrl+U in the back office: the staff screen (issue 14). Everyone with role, branches and status;
add a person, disable or enable, a new PIN, change the role or the branches.

Staff are managed once, at the head office, and reach every branch on its next sync. Every change
goes through pos_core.staff, the same functions as `pos-admin staff`: audited the same way, and
refused at a branch box with the same words. A new PIN is made up here (six digits no one else
has), shown once in a box of its own and never logged or kept. A manager may not act on, or give,
a role above their own, nor reach past the branches they are tied to. Keyboard only, 80x24.
"""
from __future__ import annotations

from typing import Callable

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from pos_core import db, staff as staffmod
from pos_core.errors import PosError
from pos_core.models import ROLES, Branch, Staff


class AskScreen(ModalScreen):
    """One line of text; Enter gives it, Esc gives None."""
    BINDINGS = [Binding("escape", "dismiss_none", "Back")]

    def __init__(self, title: str, value: str = "", hint: str = ""):
        super().__init__()
        self.title_text, self.value, self.hint = title, value, hint

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="title")
            yield Input(value=self.value, id="ask")
            yield Static(self.hint, id="ask-hint")

    @on(Input.Submitted, "#ask")
    def submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class PickScreen(ModalScreen):
    BINDINGS = [Binding("escape", "dismiss_none", "Back")]

    def __init__(self, title: str, choices: list[str], current: str = ""):
        super().__init__()
        self.title_text, self.choices, self.current = title, choices, current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="title")
            yield OptionList(*[Option(c, id=c) for c in self.choices], id="pick")

    def on_mount(self) -> None:
        lst = self.query_one("#pick", OptionList)
        if self.current in self.choices:
            lst.highlighted = self.choices.index(self.current)
        lst.focus()

    @on(OptionList.OptionSelected, "#pick")
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class PinShownScreen(ModalScreen):
    """The new PIN, once. It lives only in this box's label: gone when the box closes."""
    BINDINGS = [Binding("enter,escape", "close", "Noted")]

    def __init__(self, who: str, pin: str):
        super().__init__()
        self.who, self.pin = who, pin

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"New PIN for {escape(self.who)}", classes="title")
            yield Static(f"   [b reverse] {self.pin} [/]\n\nGive it to them now: it is not shown again and "
                         "is kept nowhere but as a hash.\nEnter when noted.", id="pin-shown")

    def action_close(self) -> None:
        self.pin = ""
        self.dismiss(None)


class StaffScreen(Screen):
    DEFAULT_CSS = """
    #staff-table { height: 1fr; }
    #staff-msg { height: 2; padding: 0 1; }
    """
    BINDINGS = [
        Binding("f2", "add", "Add", id="office.staff.add"),
        Binding("f3", "toggle", "On/off", id="office.staff.toggle"),
        Binding("f4", "pin", "New PIN", id="office.staff.pin"),
        Binding("f5", "role", "Role", id="office.staff.role"),
        Binding("f6", "branches", "Branches", id="office.staff.branches"),
        Binding("escape", "back", "Back", id="office.staff.back"),
    ]

    def compose(self) -> ComposeResult:
        yield Static("Staff: managed here, at every branch after its next sync", id="title")
        yield DataTable(id="staff-table", zebra_stripes=True, cursor_type="row")
        yield Static("", id="staff-msg")
        yield Footer()

    def on_mount(self) -> None:
        t = self.query_one("#staff-table", DataTable)
        for name, width in (("Code", 12), ("Name", 22), ("Role", 10), ("Branches", 14), ("Status", 8)):
            t.add_column(name, width=width)
        t.focus()
        self.reload()
        try:
            staffmod.managed_here()
        except PosError as exc:     # a branch box: the list is its last copy; changes are refused
            self.query_one("#title", Static).update("Staff: this branch's copy from the head office")
            self.say(str(exc))

    def say(self, text: str) -> None:
        self.query_one("#staff-msg", Static).update(escape(text))

    def reload(self, code: str | None = None) -> None:
        t = self.query_one("#staff-table", DataTable)
        keep = code or self.current_code()
        t.clear()
        people = list(Staff.select().order_by(Staff.code))
        for s in people:
            t.add_row(escape(s.code), escape(s.name[:22]), s.role, escape(s.branch_codes or "every branch"),
                      "active" if s.active else "DISABLED", key=s.code)
        codes = [s.code for s in people]
        if keep in codes:
            t.move_cursor(row=codes.index(keep))

    def current_code(self) -> str | None:
        t = self.query_one("#staff-table", DataTable)
        if not t.row_count or t.cursor_row < 0:
            return None
        return t.coordinate_to_cell_key((t.cursor_row, 0)).row_key.value

    def current(self) -> Staff | None:
        code = self.current_code()
        person = Staff.get_or_none(Staff.code == code) if code else None
        if person is None:
            self.say("no one chosen: Up/Down picks a person")
        return person

    @property
    def by(self) -> Staff:
        return self.app.person

    # --- the changes, each in a worker (a PIN hash takes a moment) -------------------------------
    @work(thread=True, group="staff", exclusive=True, exit_on_error=False)
    def change(self, fn: Callable[[], tuple[Staff, str, str]]) -> None:
        """fn makes the change and returns (person, text, new PIN or "")."""
        try:
            person, text, pin = fn()
        except PosError as exc:
            self.app.call_from_thread(self.say, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - say it in one line; the screen stays up
            self.app.call_from_thread(self.say, f"NOT done: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
            return
        finally:
            db.close()
        self.app.call_from_thread(self.done, person, text, pin)

    def done(self, person: Staff, text: str, pin: str) -> None:
        self.reload(person.code)
        self.say(text)
        if pin:
            self.app.push_screen(PinShownScreen(f"{person.name} ({person.code})", pin))

    def refused_here(self) -> bool:
        """At a branch box: say so at once (before asking anything that would be refused)."""
        try:
            staffmod.managed_here()
        except PosError as exc:
            self.say(str(exc))
            self.app.bell()
            return True
        return False

    def action_add(self) -> None:
        if self.refused_here():
            return
        state: dict = {}
        by = self.by

        def got_code(code):
            if code:
                state["code"] = code
                self.app.push_screen(AskScreen("Full name"), got_name)

        def got_name(name):
            if name:
                state["name"] = name
                self.app.push_screen(PickScreen("Role", list(ROLES), "cashier"), got_role)

        def got_role(role):
            if role:
                state["role"] = role
                codes = ",".join(b.code for b in Branch.select().order_by(Branch.code))
                self.app.push_screen(AskScreen("Branches (comma separated; empty: every branch)", by.branch_codes,
                                               f"branches: {codes}"), got_branches)

        def got_branches(branches):
            if branches is None:
                return

            def go():
                pin = staffmod.new_pin()
                s = staffmod.add(state["code"], state["name"], state["role"], pin, branches, by=by)
                return s, f"added {s.code} ({s.name}, {s.role}, {s.branch_codes or 'every branch'})", pin
            self.change(go)
        self.app.push_screen(AskScreen("New staff member: code (letters and digits, e.g. bilal)"), got_code)

    def action_toggle(self) -> None:
        s = self.current()
        if s is None or self.refused_here():
            return
        code, by, active = s.code, self.by, not s.active
        self.change(lambda: (staffmod.set_active(code, active, by=by),
                             f"{code} {'may sign in again' if active else 'can no longer sign in'} "
                             "(at each branch once it has synced)", ""))

    def action_pin(self) -> None:
        s = self.current()
        if s is None or self.refused_here():
            return
        code, by = s.code, self.by

        def go():
            pin = staffmod.new_pin()
            return staffmod.reset_pin(code, pin, by=by), f"new PIN set for {code} (at each branch once it has synced)", pin
        self.change(go)

    def action_role(self) -> None:
        s = self.current()
        if s is None or self.refused_here():
            return
        code, by = s.code, self.by

        def chosen(role):
            if role and role != s.role:
                self.change(lambda: (staffmod.set_role(code, role, by=by), f"{code} is now a {role}", ""))
        self.app.push_screen(PickScreen(f"Role of {s.name}", list(ROLES), s.role), chosen)

    def action_branches(self) -> None:
        s = self.current()
        if s is None or self.refused_here():
            return
        code, by = s.code, self.by
        codes = ",".join(b.code for b in Branch.select().order_by(Branch.code))

        def given(branches):
            if branches is None:
                return

            def go():
                p = staffmod.set_branches(code, branches, by=by)
                return p, f"{code} works at {p.branch_codes or 'every branch'} (at each branch once it has synced)", ""
            self.change(go)
        self.app.push_screen(AskScreen(f"Branches of {s.name} (comma separated; empty: every branch)",
                                       s.branch_codes, f"branches: {codes}"), given)

    def action_back(self) -> None:
        self.app.pop_screen()
