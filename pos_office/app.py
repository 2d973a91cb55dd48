"""The back-office Textual app: sign in with a manager or admin PIN, pick a report, narrow it with
filters, look at it as a table or a chart, export it, print the day and shift reports.

Keyboard first, 80x24 and up, the same in a terminal, over SSH and in a browser (`--serve`).
Reports run in a worker thread, so a year's report on a big database never freezes the screen.
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import replace
from pathlib import Path

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from pos_core import db, reports, staff as staffmod
from pos_core.errors import PosError
from pos_core.models import Branch, Counter, Product, Staff
from pos_core.reports import Filters, Report

from . import exports, printing

MANAGER_ROLES = ("manager", "admin")
METHODS = [("cash", "Cash"), ("card", "Card"), ("wallet", "Wallet (any)"), ("jazzcash", "JazzCash"),
           ("easypaisa", "Easypaisa"), ("bank", "Bank"), ("store_credit", "Store credit"), ("exchange", "Exchange")]
NUMERIC = ("money", "int", "pct", "dec", "value")


class SignInScreen(Screen):
    BINDINGS = [Binding("escape", "app.quit", "Quit")]

    def compose(self) -> ComposeResult:
        with Vertical(id="signin"):
            yield Label("Back office - sign in", classes="title")
            yield Label("Manager or admin PIN:")
            yield Input(password=True, id="pin", placeholder="PIN")
            yield Static("", id="signin-error")
        yield Footer()

    @on(Input.Submitted, "#pin")
    def submitted(self, event: Input.Submitted) -> None:
        pin = event.value.strip()
        event.input.value = ""
        error = self.query_one("#signin-error", Static)
        try:
            staffmod.check_pin_format(pin)
        except PosError as exc:
            error.update(str(exc))
            return
        person = staffmod.authenticate(pin)
        if person is None:
            error.update("that PIN is not known")
            return
        if person.role not in MANAGER_ROLES:
            error.update(f"{person.name} is a {person.role}; reports need a manager")
            return
        self.app.signed_in(person)


class ChoiceScreen(ModalScreen):
    """Pick one of a few values (a branch, a cashier, a period); Esc keeps the current one."""
    BINDINGS = [Binding("escape", "dismiss_none", "Back")]

    def __init__(self, title: str, choices: list[tuple[object, str]]):
        super().__init__()
        self.title_text, self.choices = title, choices

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="title")
            yield OptionList(*[Option(label, id=str(i)) for i, (_, label) in enumerate(self.choices)], id="choices")

    @on(OptionList.OptionSelected, "#choices")
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.choices[int(event.option.id)])

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class DatesScreen(ModalScreen):
    """A period typed as two dates."""
    BINDINGS = [Binding("escape", "dismiss_none", "Back")]

    def __init__(self, f: Filters):
        super().__init__()
        self.f = f

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Period: first and last day (YYYY-MM-DD YYYY-MM-DD)", classes="title")
            yield Input(value=f"{self.f.start} {self.f.end}", id="dates")
            yield Static("", id="dates-error")

    @on(Input.Submitted, "#dates")
    def submitted(self, event: Input.Submitted) -> None:
        parts = event.value.split()
        try:
            if len(parts) not in (1, 2):
                raise PosError("write one date, or two separated by a space")
            start = reports.parse_day(parts[0])
            end = reports.parse_day(parts[-1])
            self.dismiss(replace(self.f, start=start, end=end))
        except PosError as exc:
            self.query_one("#dates-error", Static).update(str(exc))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class ReportsScreen(Screen):
    BINDINGS = [
        Binding("f2", "period", "Period", id="office.period"),
        Binding("f3", "dates", "Dates", id="office.dates"),
        Binding("f4", "branch", "Branch", id="office.branch"),
        Binding("f5", "counter", "Counter", id="office.counter"),
        Binding("f6", "cashier", "Cashier", id="office.cashier"),
        Binding("f7", "category", "Category", id="office.category"),
        Binding("f8", "method", "Payment", id="office.method"),
        Binding("ctrl+e", "salesperson", "Salesperson", id="office.salesperson"),
        Binding("f9", "chart", "Chart", id="office.chart"),
        Binding("f10", "export", "Export", id="office.export"),
        Binding("ctrl+p", "print", "Print", id="office.print"),
        Binding("ctrl+l", "toggle_list", "List", id="office.list"),
        Binding("ctrl+t", "tags", "Tags", id="office.tags"),
        Binding("ctrl+u", "staff", "Staff", id="office.staff"),
        Binding("ctrl+q", "app.quit", "Quit", id="office.quit"),
    ]

    def compose(self) -> ComposeResult:
        yield Static("", id="title")
        with Horizontal(id="body"):
            options = []
            area = None
            for e in reports.CATALOG:
                if e.area != area:
                    area = e.area
                    options.append(Option(f"[b]{area}[/b]", disabled=True))
                options.append(Option(f" {e.title}", id=e.key))
            yield OptionList(*options, id="reports")
            with Vertical(id="main"):
                yield Static("", id="filters")
                yield DataTable(id="table", zebra_stripes=True, cursor_type="row")
                yield _chart_widget()
                yield Static("", id="heat")
                yield Static("", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#chart").display = False
        self.query_one("#heat").display = False
        self.query_one("#reports", OptionList).focus()
        self.app.refresh_report()

    @on(OptionList.OptionSelected, "#reports")
    def picked(self, event: OptionList.OptionSelected) -> None:
        self.app.report_key = event.option.id
        self.app.refresh_report()
        self.query_one("#table", DataTable).focus()

    # --- filters -------------------------------------------------------------------------------
    def _choose(self, title, choices, apply) -> None:
        def done(choice):
            if choice is not None:
                apply(choice[0])
                self.app.refresh_report()
        self.app.push_screen(ChoiceScreen(title, choices), done)

    def action_period(self) -> None:
        today = self.app.today()
        choices = [(name, f"{reports.QUICK_LABELS[name]} ({' .. '.join(map(str, reports.quick_period(name, today)))})")
                   for name in reports.QUICK_PICKS]

        def apply(name):
            start, end = reports.quick_period(name, today)
            self.app.filters = replace(self.app.filters, start=start, end=end)
            self.app.period_name = reports.QUICK_LABELS[name]
        self._choose("Period", choices, apply)

    def action_dates(self) -> None:
        def done(f):
            if f is not None:
                self.app.filters, self.app.period_name = f, "Custom"
                self.app.refresh_report()
        self.app.push_screen(DatesScreen(self.app.filters), done)

    def action_branch(self) -> None:
        choices = ([(None, "All branches")] if not self.app.branch_locked else []) + \
                  [(b.id, f"{b.code} {b.name}") for b in self.app.branches()]

        def apply(bid):
            self.app.filters = replace(self.app.filters, branch_id=bid, counter_id=None)
        self._choose("Branch", choices, apply)

    def action_counter(self) -> None:
        q = Counter.select(Counter, Branch).join(Branch).order_by(Branch.code, Counter.code)
        allowed = {b.id for b in self.app.branches()}
        choices = [(None, "All counters")] + [
            (c.id, f"{c.branch.code}-{c.code}") for c in q
            if c.branch_id in allowed and (self.app.filters.branch_id in (None, c.branch_id))]
        self._choose("Counter", choices, lambda cid: setattr(self.app, "filters",
                                                             replace(self.app.filters, counter_id=cid)))

    def action_cashier(self) -> None:
        choices = [(None, "All staff")] + [(s.id, f"{s.code} {s.name} ({s.role})")
                                           for s in Staff.select().order_by(Staff.name)]
        self._choose("Cashier", choices, lambda sid: setattr(self.app, "filters",
                                                             replace(self.app.filters, cashier_id=sid)))

    def action_category(self) -> None:
        cats = [c for (c,) in Product.select(Product.category).distinct().order_by(Product.category).tuples() if c]
        choices = [(None, "All categories")] + [(c, c) for c in cats]
        self._choose("Category", choices, lambda c: setattr(self.app, "filters", replace(self.app.filters, category=c)))

    def action_method(self) -> None:
        choices = [(None, "All payment methods")] + METHODS
        self._choose("Payment method", choices, lambda m: setattr(self.app, "filters",
                                                                  replace(self.app.filters, method=m)))

    def action_salesperson(self) -> None:
        # Anyone who can be named on a line: active staff (a badge at the till), by name.
        choices = [(None, "All salespeople")] + [(s.id, f"{s.code} {s.name}")
                                                 for s in Staff.select().where(Staff.active == True)  # noqa: E712
                                                 .order_by(Staff.name)]
        self._choose("Salesperson", choices, lambda sid: setattr(self.app, "filters",
                                                                 replace(self.app.filters, salesperson_id=sid)))

    # --- views and output -------------------------------------------------------------------------
    def action_chart(self) -> None:
        self.app.show_chart = not self.app.show_chart
        self.app.draw()

    def action_tags(self) -> None:
        from .tags import TagsScreen  # price tags for a picked list (issue 17)
        self.app.push_screen(TagsScreen())

    def action_staff(self) -> None:
        from .staff import StaffScreen  # people, roles, PINs, branches (issue 14)
        self.app.push_screen(StaffScreen())

    def action_toggle_list(self) -> None:
        lst = self.query_one("#reports")
        lst.display = not lst.display

    def action_export(self) -> None:
        choices = [("csv", "CSV (spreadsheets, other programs)"), ("xlsx", "Excel workbook (XLSX)"),
                   ("pdf", "PDF")]
        self.app.push_screen(ChoiceScreen("Export this report as", choices),
                             lambda c: c is not None and self.app.export(c[0]))

    def action_print(self) -> None:
        self.app.print_report()


def _chart_widget():
    from textual_plotext import PlotextPlot
    return PlotextPlot(id="chart")


class OfficeApp(App):
    CSS = """
    #title { height: 1; background: $primary; color: $text; padding: 0 1; }
    #reports { width: 23; height: 1fr; }
    #main { width: 1fr; }
    #filters { height: auto; max-height: 2; padding: 0 1; color: $text-muted; }
    #table { height: 1fr; }
    #chart { height: 1fr; }
    #heat { height: 1fr; padding: 1 0; }
    #status { height: 1; padding: 0 1; }
    #signin { width: 60; height: auto; padding: 1 2; border: round $primary; margin: 2 4; }
    #signin-error, #dates-error { color: $error; height: auto; }
    .title { text-style: bold; margin-bottom: 1; }
    ModalScreen { align: center middle; }
    .dialog { width: 64; height: auto; max-height: 20; border: round $primary; background: $surface; padding: 0 1; }
    #choices { height: auto; max-height: 14; }
    """
    TITLE = "Back office"
    ENABLE_COMMAND_PALETTE = False  # ctrl+p prints, as on the till

    def __init__(self, cfg=None, export_dir: Path | None = None, today: dt.date | None = None):
        super().__init__()
        self.cfg = cfg
        self.export_dir = export_dir or Path(os.environ.get("POS_OFFICE_EXPORTS", "") or Path.cwd() / "exports")
        self._today = today
        self.person: Staff | None = None
        self.branch_locked = False
        self.report_key = reports.CATALOG[0].key
        self.period_name = reports.QUICK_LABELS["today"]
        self.filters: Filters | None = None
        self.report: Report | None = None
        self.show_chart = False
        self.last_export: Path | None = None
        self.last_print = None

    def today(self) -> dt.date:
        return self._today or reports.pk_today()

    def on_mount(self) -> None:
        self.push_screen(SignInScreen())

    def signed_in(self, person: Staff) -> None:
        self.person = person
        start, end = reports.quick_period("today", self.today())
        branches = self.branches()
        # Someone who works at named branches sees only those; a one-branch manager is fixed to it.
        self.branch_locked = bool(person.branch_codes)
        branch_id = branches[0].id if self.branch_locked and len(branches) == 1 else None
        self.filters = Filters(start, end, branch_id=branch_id)
        self.switch_screen(ReportsScreen())

    def branches(self) -> list[Branch]:
        allowed = [c for c in (self.person.branch_codes.split(",") if self.person and self.person.branch_codes else [])]
        q = Branch.select().order_by(Branch.code)
        return [b for b in q if not allowed or b.code in allowed]

    def scope(self) -> str:
        f = self.filters
        parts = []
        names = {
            "branch": Branch.get_by_id(f.branch_id).code if f.branch_id else "All branches",
            "counter": (lambda c: f"{c.branch.code}-{c.code}")(Counter.get_by_id(f.counter_id)) if f.counter_id else "",
            "cashier": Staff.get_by_id(f.cashier_id).name if f.cashier_id else "",
            "category": f.category or "",
            "method": dict(METHODS).get(f.method, f.method or ""),
            "salesperson": f"sold by {Staff.get_by_id(f.salesperson_id).name}" if f.salesperson_id else "",
        }
        parts = [v for v in names.values() if v]
        return ", ".join(parts)

    # --- running a report -----------------------------------------------------------------------
    def refresh_report(self) -> None:
        screen = self.screen
        if not isinstance(screen, ReportsScreen):
            return
        entry = reports.BY_KEY[self.report_key]
        screen.query_one("#title", Static).update(
            f"Back office | {entry.area}: {entry.title} | {self.person.name} ({self.person.role})")
        f = self.filters
        ignored = entry.ignored(f)
        screen.query_one("#filters", Static).update(
            f"{self.period_name}: {f.start} .. {f.end}  |  {self.scope()}"
            + (f"  (not used here: {', '.join(ignored)})" if ignored else ""))
        screen.query_one("#status", Static).update("Working...")
        self.run_report(self.report_key, f)

    @work(thread=True, exclusive=True, group="report", exit_on_error=False)
    def run_report(self, key: str, f: Filters) -> None:
        try:
            rep = reports.run(key, f, background=True)   # this thread only yields the CPU to the tills
            self.call_from_thread(self._show, key, f, rep, None)
        except PosError as exc:
            self.call_from_thread(self._show, key, f, None, str(exc))
        except Exception as exc:  # noqa: BLE001 - a failed report says so; the app stays up
            self.call_from_thread(self._show, key, f, None, f"report failed: {exc}")
        finally:
            db.close()

    def _show(self, key: str, f: Filters, rep: Report | None, error: str | None) -> None:
        if key != self.report_key or f != self.filters:
            return  # the person moved on while it ran
        if error:
            self.report = None
            self.status(error)
            return
        self.report = rep
        self.draw()
        self.status(f"{len(rep.rows)} rows. " + " ".join(rep.notes))

    def status(self, text: str) -> None:
        if isinstance(self.screen, ReportsScreen):
            self.screen.query_one("#status", Static).update(text)

    def draw(self) -> None:
        screen = self.screen
        if not isinstance(screen, ReportsScreen) or self.report is None:
            return
        rep = self.report
        table = screen.query_one("#table", DataTable)
        chart = screen.query_one("#chart")
        table.clear(columns=True)
        body = [[_cell(v, c.kind) for v, c in zip(row, rep.columns)] for row in rep.rows]
        if rep.totals:
            body.append([_cell(v, c.kind, bold=True) for v, c in zip(rep.totals, rep.columns)])
        for i, c in enumerate(rep.columns):
            # Widths from the content: every figure shows whole, the table scrolls sideways instead.
            width = max([len(c.label)] + [r[i].cell_len for r in body])
            table.add_column(c.label, key=c.key, width=min(width, 40))
        for i, row in enumerate(body):
            table.add_row(*row, key="totals" if rep.totals and i == len(body) - 1 else str(i))
        entry = reports.BY_KEY[self.report_key]
        charted = self.show_chart and entry.chart is not None
        heat = screen.query_one("#heat", Static)
        table.display = not charted
        chart.display = charted and entry.chart != "heatmap"
        heat.display = charted and entry.chart == "heatmap"
        if heat.display:
            heat.update(heat_text(rep))
        elif charted:
            _draw_chart(chart, entry.chart, rep)
        elif self.show_chart:
            self.status("This report has no chart; F9 again for the table.")

    # --- output -----------------------------------------------------------------------------------
    def export(self, kind: str) -> None:
        if self.report is None:
            self.status("nothing to export yet")
            return
        try:
            path = exports.export(self.report, kind, self.export_dir, self.scope())
        except OSError as exc:
            self.status(f"export failed: {exc.strerror or exc}")
            return
        self.last_export = path
        if self.is_web:
            self.deliver_binary(path, save_filename=path.name)
        self.status(f"Saved {path}")

    def print_report(self) -> None:
        entry = reports.BY_KEY[self.report_key]
        if not entry.printable:
            self.status("Only the day and shift reports print: open Sales summary, Payments or FBR, "
                        "or Cash expected vs counted")
            return
        if self.cfg is None:
            self.status("no config: no printer")
            return
        header = self.cfg.printer.header[0] if self.cfg.printer.header else self.cfg.site_name
        builder = printing.shift_slip if self.report_key == "shift_cash" else printing.day_slip
        self.status("Printing...")
        self.print_worker(builder, self.filters, self.scope(), header)

    @work(thread=True, group="print", exit_on_error=False)
    def print_worker(self, builder, f: Filters, scope: str, header: str) -> None:
        # The slip's figures are read here too: a year's day report must not freeze the screen.
        from printers.transport import PrintResult
        title = "Report"
        try:
            slip = builder(f, scope, header)
            title = slip.title.title()
            result = printing.print_slip(self.cfg, slip)
        except Exception as exc:  # noqa: BLE001 - printing never takes the app down
            result = PrintResult(False, str(exc))
        finally:
            db.close()
        self.last_print = result
        self.call_from_thread(self.status, f"{title} printed" if result.ok else f"not printed: {result.error}")


def _cell(value, kind: str, bold: bool = False):
    from rich.text import Text
    text = exports.cell_text(value, kind)
    return Text(text, justify="right" if kind in NUMERIC else "left", style="bold" if bold else "")


SHADES = " ░▒▓█"


def heat_text(rep: Report) -> str:
    """The weekday x hour heatmap as shaded characters: readable in 16 colours, over SSH, on paper."""
    from rich.markup import escape
    values = [v for r in rep.rows for v in r[1:]]
    top = max([v for v in values if v > 0], default=0)
    lines = ["hour " + "".join(f"{h:<2}" if h % 3 == 0 else "  " for h in range(24))]
    for r in rep.rows:
        cells = []
        for v in r[1:]:
            if v < 0:
                cells.append("--")
            else:
                i = 0 if not top or not v else min(4, 1 + int(v * 4 / top) if v < top else 4)
                cells.append(SHADES[i] * 2)
        lines.append(f"{r[0]:<4} " + "".join(cells))
    lines.append(f"{SHADES[1]} low {SHADES[2]} {SHADES[3]} {SHADES[4]} top: Rs {top:,.0f} an hour; -- refunds")
    return escape("\n".join(lines))


def _draw_chart(widget, kind: str, rep: Report) -> None:
    plt = widget.plt
    plt.clear_figure()
    # Plain colours read on the 16-colour Linux console.
    if kind == "heatmap":
        grid = [[float(v) for v in r[1:]] for r in rep.rows]
        plt.matrix_plot(grid)
        plt.title("Net sales: rows Mon..Sun, columns hour 00..23")
    else:
        value_key = next((k for k in ("net", "amount", "units") if k in [c.key for c in rep.columns]), None)
        keys = [c.key for c in rep.columns]
        label_i = keys.index("label") if "label" in keys else 0   # a reason's words, not its code
        rows = rep.rows[:15]
        labels = [str(r[label_i])[:10] for r in rows]
        vi = [c.key for c in rep.columns].index(value_key)
        values = [float(r[vi] or 0) for r in rows]  # floats only to draw
        if kind == "line":
            plt.plot(values, marker="braille")
            plt.xticks(range(1, len(labels) + 1), labels)
        else:
            plt.bar(labels, values, color="blue")
        plt.title(f"{rep.title}: {value_key}")
    widget.refresh()


def make_app(cfg, **kw) -> OfficeApp:
    return OfficeApp(cfg, **kw)
