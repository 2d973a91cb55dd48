"""The day and shift reports on the counter's receipt printer, as two-column slips."""
from __future__ import annotations

import datetime as dt

from pos_core.reports import Filters, fbr, payments, sales
from printers import receipt as r

PK_OFFSET = dt.timedelta(hours=5)


def _now_pk() -> str:
    return (dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + PK_OFFSET).strftime("%d-%m-%Y %H:%M")


def _m(value) -> str:
    return r.format_money(value)


def _period(f: Filters) -> str:
    return str(f.start) if f.start == f.end else f"{f.start}..{f.end}"


def day_slip(f: Filters, scope: str, header: str = "") -> r.Slip:
    """Sales, tenders and FBR figures for the period (a day, usually)."""
    s = {row[0]: row[1] for row in sales.summary(f).rows}
    lines = [("Sales (net)", _m(s["Net"])), ("  of which tax", _m(s["Tax"])), ("Discounts", _m(s["Discount"])),
             ("Refunds", _m(s["Refunds"])), ("Baskets", str(s["Baskets"])), ("Average basket", _m(s["Average basket"])),
             ("Items per basket", str(s["Items per basket"])), ("Tenders", "")]
    mix = payments.mix(f)
    lines += [(f"  {row[1]}", _m(row[2])) for row in mix.rows]
    lines.append(("  Total received", _m(mix.totals[2])))
    t = fbr.by_day_counter(f).totals
    lines += [("FBR invoices", str(t[3])), ("FBR credit notes", str(t[4])), ("FBR POS fees", _m(t[6])),
              ("Not yet fiscalised", str(t[7]))]
    return r.Slip(title="DAY REPORT", number=f"{scope} {_period(f)}", lines=tuple(lines),
                  header_lines=(header,) if header else (), when=_now_pk())


def shift_slip(f: Filters, scope: str, header: str = "") -> r.Slip:
    """Every shift closed in the period: expected, counted and the variance."""
    rep = payments.shift_variances(f)
    lines: list[tuple[str, str]] = []
    for row in rep.as_dicts():
        lines += [(f"{row['counter']} #{row['shift']} {row['cashier']}", ""), ("  Expected", _m(row["expected"])),
                  ("  Counted", _m(row["counted"])), ("  Variance", _m(row["variance"]))]
    if not lines:
        lines = [("No shift closed in this period", "")]
    else:
        lines.append(("Total variance", _m(rep.totals[7])))
    return r.Slip(title="SHIFT REPORT", number=f"{scope} {_period(f)}", lines=tuple(lines),
                  header_lines=(header,) if header else (), when=_now_pk())


def print_slip(cfg, slip: r.Slip):
    from printers.layout import layout_slip
    from printers.settings import printer_settings
    from printers.transport import PrintResult, columns_for, print_ops
    settings = printer_settings(cfg)
    if settings is None:
        return PrintResult(False, "no printer is set up in this config ([printer] kind)")
    return print_ops(settings, layout_slip(slip, columns_for(settings)))
