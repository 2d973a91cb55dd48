"""Reports to files: CSV (plain values, for other programs), XLSX (numbers stay numbers, money
formatted), PDF (for the day and shift reports, to print or mail).

Money cells are Decimal rupees; they go to CSV as fixed two-decimal text and to XLSX as numbers
(openpyxl writes Decimal exactly as its text), never through float.
"""
from __future__ import annotations

import csv
import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

from pos_core.reports import Report

PK_OFFSET = dt.timedelta(hours=5)


def cell_text(value, kind: str) -> str:
    """How a value reads on screen, in a PDF and on paper."""
    if value is None:
        return "-"
    if kind == "money" and isinstance(value, Decimal):
        return f"{value.quantize(Decimal('0.01')):,.2f}"
    if kind == "value" and isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def _plain(value, kind: str):
    """A CSV value: no thousands separators, money with two decimals."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value.quantize(Decimal('0.01'))}" if kind in ("money", "value") else str(value)
    return value


def filename(report: Report, ext: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", report.title.lower()).strip("-")
    f = report.filters
    span = f"{f.start}_{f.end}" if f else "all"
    return f"{slug}_{span}.{ext}"


def _subtitle(report: Report, scope: str) -> str:
    f = report.filters
    when = f"{f.start} to {f.end}" if f else ""
    return " | ".join(x for x in (when, scope) if x)


def to_csv(report: Report, path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([c.label for c in report.columns])
        for row in report.rows:
            w.writerow([_plain(v, c.kind) for v, c in zip(row, report.columns)])
        if report.totals:
            w.writerow([_plain(v, c.kind) for v, c in zip(report.totals, report.columns)])
    return path


def to_xlsx(report: Report, path: Path, scope: str = "") -> Path:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    wb = Workbook()
    ws = wb.active
    ws.title = report.title[:31]
    ws.append([report.title])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append([_subtitle(report, scope)])
    ws.append([c.label for c in report.columns])
    for cell in ws[3]:
        cell.font = Font(bold=True)
    body = list(report.rows) + ([report.totals] if report.totals else [])
    for row in body:
        ws.append([v for v in row])
    for i, col in enumerate(report.columns, start=1):
        if col.kind in ("money", "value"):
            for (cell,) in ws.iter_rows(min_row=4, min_col=i, max_col=i):
                cell.number_format = "#,##0.00"
        ws.column_dimensions[ws.cell(row=3, column=i).column_letter].width = max(10, min(40, len(col.label) + 4))
    if report.totals:
        for cell in ws[ws.max_row]:
            cell.font = Font(bold=True)
    wb.save(path)
    return path


def to_pdf(report: Report, path: Path, scope: str = "") -> Path:
    """Names that may be Urdu (items, branches, customers) are shaped right to left with the Noto
    fonts (printers/pdf_fonts.py); without them the PDF falls back to Helvetica and "?"."""
    from fpdf import FPDF
    from printers.pdf_fonts import Writer
    wide = len(report.columns) > 7
    pdf = FPDF(orientation="L" if wide else "P", unit="mm", format="A4")
    w = Writer(pdf)
    pdf.set_auto_page_break(True, margin=12)
    pdf.add_page()
    w.font("B", 14)
    pdf.cell(0, 8, w.text(report.title), new_x="LMARGIN", new_y="NEXT")
    w.font("", 9)
    pdf.cell(0, 6, w.text(_subtitle(report, scope)), new_x="LMARGIN", new_y="NEXT")
    size = 8 if len(report.columns) <= 10 else 6
    w.font("", size)
    align = tuple("RIGHT" if c.kind in ("money", "int", "pct", "dec", "value") else "LEFT" for c in report.columns)
    body = list(report.rows) + ([report.totals] if report.totals else [])
    with pdf.table(text_align=align, first_row_as_headings=True, line_height=size * 0.55) as table:
        table.row([w.text(c.label) for c in report.columns])
        for row in body:
            table.row([w.text(cell_text(v, c.kind)) for v, c in zip(row, report.columns)])
    for note in report.notes:
        pdf.ln(2)
        w.font("I", 8)
        pdf.multi_cell(0, 4, w.text(note), new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


EXPORTERS = {"csv": to_csv, "xlsx": to_xlsx, "pdf": to_pdf}


def export(report: Report, kind: str, directory: Path, scope: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / filename(report, kind)
    if kind == "csv":
        return to_csv(report, path)
    return EXPORTERS[kind](report, path, scope)
