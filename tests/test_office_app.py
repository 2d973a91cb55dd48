"""The back office at 80x24 through Textual's pilot: sign in, filters, table, chart, exports
opened again (CSV parsed, XLSX read with openpyxl, PDF text extracted), the day report printed."""
from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal as D

import pytest

from pos_office.app import make_app

import reports_data
from office_kit import office_config, screen_text, settle, type_text

TODAY = dt.date(2027, 2, 4)


def _office(site, url, tmp_path):
    data = reports_data.build(site)
    data.site = site
    return make_app(office_config(tmp_path, url), export_dir=tmp_path / "exports", today=TODAY), data


@pytest.fixture
def office_both(site, database, tmp_path):
    """On each backend: the reports run in the app's worker thread on its own connection."""
    return _office(site, database, tmp_path)


@pytest.fixture
def office(sqlite_db, tmp_path):
    from conftest import make_site
    return _office(make_site(), sqlite_db, tmp_path)


async def _choose(pilot, label_start: str) -> None:
    """In an open choice list, move to the option whose text starts with `label_start`, press Enter."""
    lst = pilot.app.screen.query_one("#choices")
    index = next(i for i in range(lst.option_count) if str(lst.get_option_at_index(i).prompt).startswith(label_start))
    lst.highlighted = index
    await pilot.press("enter")
    await settle(pilot)


async def _open_report(pilot, key: str) -> None:
    lst = pilot.app.screen.query_one("#reports")
    lst.focus()
    lst.highlighted = next(i for i in range(lst.option_count) if lst.get_option_at_index(i).id == key)
    await pilot.press("enter")
    await settle(pilot)


async def _this_month(pilot, key: str) -> None:
    """Signed in as Imran (manager), this month's report `key` on screen."""
    await type_text(pilot, "3333", enter=True)
    await settle(pilot)
    await pilot.press("f2")
    await _choose(pilot, "This month")
    await _open_report(pilot, key)


async def test_sign_in_needs_a_manager_pin(office):
    app, _ = office
    async with app.run_test(size=(80, 24)) as pilot:
        await type_text(pilot, "12", enter=True)
        assert "a PIN is 4 to 8 digits" in screen_text(app)
        await type_text(pilot, "1111", enter=True)      # Ayesha, a cashier
        assert "Ayesha is a cashier; reports need a manager" in screen_text(app)
        await type_text(pilot, "9999", enter=True)
        assert "that PIN is not known" in screen_text(app)
        await type_text(pilot, "3333", enter=True)      # Imran, manager
        assert type(app.screen).__name__ == "ReportsScreen"
        text = screen_text(app)
        assert "Sales: Summary" in text and "Imran (manager)" in text


async def test_filters_table_chart_and_exports_at_80x24(office_both, tmp_path):
    app, data = office_both
    async with app.run_test(size=(80, 24)) as pilot:
        await type_text(pilot, "3333", enter=True)
        await settle(pilot)
        # Today (4 Feb) is only sale D: Rs 266.66.
        assert str(app.report.row(measure="Net")["current"]) == "266.66"
        assert "266.66" in screen_text(app)
        await pilot.press("f2")
        await _choose(pilot, "This month")
        assert (app.filters.start, app.filters.end) == (dt.date(2027, 2, 1), TODAY)
        assert str(app.report.row(measure="Net")["current"]) == "2635.74"
        assert "2,635.74" in screen_text(app)

        await _open_report(pilot, "sales_branch")
        await pilot.press("f4")
        await _choose(pilot, "KHI1")
        assert app.filters.branch_id is not None
        assert [r[0] for r in app.report.rows] == ["KHI1"]
        table = app.screen.query_one("#table")
        assert table.row_count == 2            # Karachi and the totals row
        assert "1,000.00" in screen_text(app)

        await pilot.press("f9")
        await settle(pilot)
        assert app.screen.query_one("#chart").display and not table.display
        await pilot.press("f9")
        await settle(pilot)
        assert table.display

        # The weekday x hour heatmap as shaded cells (readable in 16 colours): Karachi sold only on
        # Monday at 20:00.
        await _open_report(pilot, "sales_heatmap")
        await pilot.press("f9")
        await settle(pilot)
        shown = screen_text(app)
        assert "Mon" in shown and "\u2588\u2588" in shown and "top: Rs 1,000 an hour" in shown
        await pilot.press("f9")
        await settle(pilot)

        await pilot.press("f4")
        await _choose(pilot, "All branches")
        await _open_report(pilot, "payments_day")
        for kind in ("csv", "xlsx", "pdf"):
            await pilot.press("f10")
            await _choose(pilot, {"csv": "CSV", "xlsx": "Excel", "pdf": "PDF"}[kind])
            assert app.last_export.suffix == f".{kind}"
            assert f"Saved {app.last_export}"[:40] in screen_text(app).replace("\n", "")  or app.last_export.exists()
        files = {p.suffix: p for p in (tmp_path / "exports").iterdir()}

    rows = list(csv.reader(open(files[".csv"], newline="")))
    assert rows[0][:4] == ["Day", "Branch", "Cash", "Card"]
    lahore_1feb = next(r for r in rows if r[:2] == ["2027-02-01", "LHR1"])
    assert (lahore_1feb[3], lahore_1feb[4]) == ("1000.00", "470.10")   # card, JazzCash: the split tender
    assert rows[-1][0] == "Total" and rows[-1][-1] == "2639.74"

    from openpyxl import load_workbook
    ws = load_workbook(files[".xlsx"]).active
    assert ws["A1"].value == "Payments by branch and day"
    header = [c.value for c in ws[3]]
    values = {(r[0], r[1]): dict(zip(header, r)) for r in ws.iter_rows(min_row=4, values_only=True)}
    assert float(values[("2027-02-01", "KHI1")]["Cash"]) == 1001.0
    assert ws.cell(row=4, column=3).number_format == "#,##0.00"

    from pypdf import PdfReader
    text = "\n".join(page.extract_text() for page in PdfReader(files[".pdf"]).pages)
    assert "Payments by branch and day" in text and "2027-02-01 to 2027-02-04" in text
    assert "1,470.10" in text and "2,639.74" in text


async def test_day_report_prints_on_the_receipt_printer(office, tmp_path):
    app, data = office
    async with app.run_test(size=(80, 24)) as pilot:
        await type_text(pilot, "3333", enter=True)
        await settle(pilot)
        await pilot.press("ctrl+p")
        await settle(pilot)
        assert app.last_print is not None and app.last_print.ok, app.last_print
        printed = (tmp_path / "printer.bin").read_bytes()
        assert b"DAY REPORT" in printed and b"266.66" in printed and b"Cash" in printed
        await _open_report(pilot, "sales_item")
        await pilot.press("ctrl+p")
        await settle(pilot)
        assert "Only the day and shift reports print" in screen_text(app)
        await _open_report(pilot, "shift_cash")
        await pilot.press("f2")
        await _choose(pilot, "This month")
        await pilot.press("ctrl+p")
        await settle(pilot)
        printed = (tmp_path / "printer.bin").read_bytes()
        assert b"SHIFT REPORT" in printed and b"-10.00" in printed


async def test_bad_dates_say_so_and_change_nothing(office):
    app, _ = office
    async with app.run_test(size=(80, 24)) as pilot:
        await type_text(pilot, "3333", enter=True)
        before = app.filters
        await pilot.press("f3")
        await pilot.pause()
        inp = app.screen.query_one("#dates")
        inp.value = ""
        await type_text(pilot, "2027-02-10 2027-02-01", enter=True)
        assert "before it starts" in screen_text(app)
        inp.value = ""
        await type_text(pilot, "01/02/2027", enter=True)
        assert "YYYY-MM-DD" in screen_text(app)
        await pilot.press("escape")
        await settle(pilot)
        assert app.filters == before
        await pilot.press("f3")
        await pilot.pause()
        app.screen.query_one("#dates").value = ""
        await type_text(pilot, "2027-01-31", enter=True)
        assert app.filters.start == app.filters.end == dt.date(2027, 1, 31)
        assert str(app.report.row(measure="Net")["current"]) == "699.98"


async def test_salesperson_report_filter_and_returns_by_reason_at_80x24(office, tmp_path):
    app, data = office
    from pos_core import sales
    from helpers import POLICY
    site = data.site
    sale = sales.complete_sale(POLICY, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.cashier.id,
                               lines=[sales.SaleLine(site.kurta.id, 2, salesperson_id=site.supervisor.id)],
                               tenders=[sales.Tender("cash", D("201"))])
    reports_data._stamp(sale, reports_data.pk(2027, 2, 4, 13))
    async with app.run_test(size=(80, 24)) as pilot:
        await _this_month(pilot, "sales_salesperson")
        assert app.report.row(key="sana")["net"] == D("199.98")
        assert app.report.row(key="")["name"] == "(no salesperson)"
        await pilot.press("ctrl+e")
        await _choose(pilot, "sana Sana")
        assert app.filters.salesperson_id == site.supervisor.id
        assert [r[0] for r in app.report.rows] == ["sana"]
        assert "sold by Sana" in screen_text(app)
        await _open_report(pilot, "sales_item")          # the filter narrows the other sales reports too
        assert [r[0] for r in app.report.rows] == ["1001"] and app.report.totals[5] == D("199.98")
        await _open_report(pilot, "payments_mix")        # a payment has no salesperson: said, not hidden
        assert "not used here: salesperson" in str(app.screen.query_one("#filters").render())
        await pilot.press("ctrl+e")
        await _choose(pilot, "All salespeople")
        await _open_report(pilot, "returns_reason")
        assert [r[1] for r in app.report.rows] == ["Changed mind", "Wrong size"]
        assert "Changed mind" in screen_text(app)
        await pilot.press("f9")                          # the bar chart names reasons in words
        await settle(pilot)
        shown = screen_text(app)
        assert app.screen.query_one("#chart").display and "Wrong size" in shown and "changed_mind" not in shown
        await pilot.press("f9")
        await settle(pilot)
        await pilot.press("f10")
        await _choose(pilot, "CSV")
    rows = list(csv.reader(open(app.last_export, newline="")))
    assert rows[0][:3] == ["Code", "Reason", "Refunds"] and rows[-1][0] == "Total" and rows[-1][-1] == "399.99"



async def test_a_branch_filter_narrows_online_orders_at_80x24(office, tmp_path):
    """Online orders had no branch filter (issue 15): F4 now narrows them to the branch holding or
    shipping each order, and the line under the title no longer says the filter is not used."""
    app, data = office
    from test_reports_branch import _online
    _online(data.site)
    async with app.run_test(size=(80, 24)) as pilot:
        await _this_month(pilot, "online_orders")
        assert [(r[0], r[1]) for r in app.report.rows] == [("COD", 4), ("Prepaid", 3)]
        await pilot.press("f4")
        await _choose(pilot, "KHI1")
        assert app.filters.branch_id == data.site.khi.id
        assert [(r[0], r[1], r[6]) for r in app.report.rows] == [("COD", 1, 1), ("Prepaid", 2, 0)]
        line = str(app.screen.query_one("#filters").render())
        assert "KHI1" in line and "not used here" not in line
        shown = screen_text(app)
        assert "Online: Orders and COD" in shown and "COD" in shown and "Prepaid" in shown
        await _open_report(pilot, "sync_health")     # jobs too, by their branch: said, not "not used here"
        assert "not used here" not in str(app.screen.query_one("#filters").render())
        await _open_report(pilot, "fbr_day")
        await pilot.press("ctrl+e")                  # a salesperson filter FBR does not honour: still said
        await _choose(pilot, "sana Sana")
        assert "not used here: salesperson" in str(app.screen.query_one("#filters").render())
