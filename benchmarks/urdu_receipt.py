"""How long a 10-line Urdu receipt takes to draw (goal: <= 300 ms on a Celeron-class till).

Measured per font (Nastaliq, Naskh) and paper (80 mm = 576 dots, 58 mm = 384 dots):
* cold: a fresh Python process drawing its first receipt (imports Pillow, opens the font) - what
  the first customer after the till starts waits for;
* warm: shaping + drawing 10 lines into one 1-bit image and turning it into GS v 0 raster bytes
  through python-escpos, repeated (the font is cached);
* full: the whole receipt (template layout with Urdu header/footer/item names, ESC/POS rendering
  into a Dummy printer), as the till prints it.

Usage: .venv/bin/python benchmarks/urdu_receipt.py [--runs 50] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from decimal import Decimal as D
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LINES = [
    ("گلبرگ فیشن ہاؤس", "", "center"), ("مین بلیوارڈ، گلبرگ، لاہور", "", "center"),
    ("لان کا سوٹ تین پیس", "2,500.00", "right"), ("کرتا سفید کاٹن", "1,250.00", "right"),
    ("کھدر سادہ ۲ میٹر", "2,820.00", "right"), ("دوپٹہ شیفون", "950.00", "right"),
    ("کل رقم", "7,520.00", "right"), ("نقد", "8,000.00", "right"), ("بقایا", "480.00", "right"),
    ("خریداری کا شکریہ", "", "center"),
]

COLD = """
import time; t=time.perf_counter()
from printers import urdu
lines=[urdu.Line(a, b, c) for a, b, c in {lines!r}]
img = urdu.render_lines(lines, dots={dots}, font={font!r}); urdu.raster(img)
print((time.perf_counter()-t)*1000)
"""


def _lines():
    from printers import urdu
    return [urdu.Line(a, b, c) for a, b, c in LINES]


def warm(font: str, dots: int, runs: int) -> list[float]:
    from printers import urdu
    lines = _lines()
    urdu.raster(urdu.render_lines(lines, dots=dots, font=font))  # load the font once
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        urdu.raster(urdu.render_lines(lines, dots=dots, font=font))
        out.append((time.perf_counter() - t) * 1000)
    return out


def cold(font: str, dots: int, runs: int) -> list[float]:
    code = COLD.format(lines=LINES, dots=dots, font=font)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                                 check=True).stdout.strip().splitlines()[-1]) for _ in range(runs)]


def full(font: str, width: int, runs: int) -> list[float]:
    from printers import template
    from printers._escpos_env import load_escpos
    from printers.escpos_out import render
    from printers.receipt import Receipt, ReceiptLine, TaxLine, Tender, Totals
    items = tuple(ReceiptLine(f"Item {i}", "", 1, D("1000"), D("0"), D("1000"), urdu_name=LINES[2 + i % 7][0])
                  for i in range(8))
    r = Receipt(title="SALE RECEIPT", header_lines=("Gulberg Fashion House",), number="LHR1-C1-000123",
                when="07-12-2026 19:05", branch="LHR1", counter="C1", cashier="Ayesha", customer=None,
                lines=items, totals=Totals(D("8000"), D("0"), (TaxLine("Sales tax 18% incl.", D("1220.34")),),
                                           None, D("8000")),
                tenders=(Tender("Cash", D("8000")),), change=D("0"))
    t = template.parse({"header": [{"ur": LINES[0][0]}], "footer": [{"ur": LINES[-1][0]}], "urdu_names": True,
                        "urdu_font": font}, printer_width=width)
    P = load_escpos()
    out = []
    for i in range(runs + 1):
        p = P.Dummy()
        t0 = time.perf_counter()
        render(template.layout(r, t), p, width=width)
        if i:
            out.append((time.perf_counter() - t0) * 1000)
    return out


def summary(ms: list[float]) -> dict:
    ms = sorted(ms)
    return {"median_ms": round(statistics.median(ms), 1), "p95_ms": round(ms[int(len(ms) * 0.95) - 1], 1),
            "max_ms": round(ms[-1], 1), "runs": len(ms)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--cold-runs", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from PIL import __version__ as pil
    rows = {}
    for font in ("nastaliq", "naskh"):
        for dots, width in ((576, 48), (384, 32)):
            rows[f"{font} {dots} dots"] = {"warm": summary(warm(font, dots, args.runs)),
                                           "cold": summary(cold(font, dots, args.cold_runs)),
                                           "full receipt": summary(full(font, width, max(10, args.runs // 5)))}
    info = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "python": platform.python_version(), "pillow": pil, "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if args.json:
        print(json.dumps({"info": info, "results": rows}, indent=2))
        return 0
    print(info)
    print(f"{'case':24} {'what':13} {'median':>8} {'p95':>8} {'max':>8}")
    for case, parts in rows.items():
        for what, s in parts.items():
            print(f"{case:24} {what:13} {s['median_ms']:>6} ms {s['p95_ms']:>6} ms {s['max_ms']:>6} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
