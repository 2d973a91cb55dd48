"""Till benchmarks on a 50,000-variant catalog.

    .venv/bin/python benchmarks/till.py [--variants 50000] [--scans 300] [--sales 100]

1. scan -> line visible: a scanner burst (13 digits + Enter, posted as key events at once) through
   the wedge detector, lookup, cart update and the cart table redraw, until the app is idle again.
2. name search: `catalog.search` for typed prefixes, and keystroke -> results table in F2 search.
3. cold start to the painted sign-in screen (subprocess, headless, best of N) against a minimal
   Textual app (Label + Input) started the same way in the same run, the two alternating; the
   project is compiled to bytecode first, as on an installed counter (`--no-bytecode`: not).
   `--cold-only` measures just this.
4. resident memory (VmRSS) of a till process after 100 sales through the UI (scan 2, F10, Enter).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORDS = ["Lawn", "Khaddar", "Cotton", "Chiffon", "Linen", "Silk", "Karandi", "Cambric", "Marina", "Jacquard"]
KINDS = ["Kurta", "Kurti", "Suit", "Shirt", "Dupatta", "Shalwar", "Waistcoat", "Trouser", "Shawl", "Frock"]
COLOURS = ["Black", "White", "Maroon", "Mint", "Navy", "Mustard", "Peach", "Teal", "Rust", "Olive"]
SIZES = ["XS", "S", "M", "L", "XL"]


def build_db(path: Path, variants: int) -> None:
    from pos_core import db as dbmod, demo, migrations
    from pos_core.models import Barcode, Product, Variant
    dbmod.open_database(f"sqlite:///{path}")
    migrations.init()
    demo.build()
    n = Variant.select().count()
    rng = random.Random(1)
    with dbmod.write():
        while n < variants:
            p = Product.create(title=f"{rng.choice(WORDS)} {rng.choice(KINDS)} {n // 50:04d}", category="Bench")
            rows = []
            for colour in COLOURS:
                for size in SIZES:
                    n += 1
                    rows.append(dict(product=p.id, sku=f"B{n:06d}", name=f"{p.title} - {colour} / {size}",
                                     option_text=f"{colour} / {size}", price_paisa=rng.randint(300, 9000) * 100,
                                     tax_rate_bp=1800))
            Variant.insert_many(rows).execute()
            ids = [v.id for v in Variant.select(Variant.id).where(Variant.product == p.id)]
            Barcode.insert_many([dict(code=demo.ean13(100000 + i), variant=i) for i in ids]).execute()
    dbmod.close()


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def config_for(tmp: Path, db_path: Path):
    from pos_core import config as configmod
    return configmod.parse({"database": {"url": f"sqlite:///{db_path}"},
                            "counter": {"branch": "LHR1", "code": "C1"},
                            "printer": {"kind": "dummy"}}, tmp / "pos.toml")


async def _keys(app, text, enter=True):
    from textual import events
    for ch in text:
        app.post_message(events.Key(ch, ch))
    if enter:
        app.post_message(events.Key("enter", "\r"))


class FrameClock:
    """Times when the screen finished rendering a frame (the compositor refresh), so a latency
    can run up to the first frame that shows the change, not to an arbitrary idle point."""

    def __init__(self, screen):
        self.stamps: list[float] = []
        original = screen._compositor_refresh

        def timed() -> None:
            original()
            self.stamps.append(time.perf_counter())
        screen._compositor_refresh = timed

    async def first_after(self, t: float, timeout: float = 2.0) -> float:
        end = time.perf_counter() + timeout
        while time.perf_counter() < end:
            for s in self.stamps:
                if s > t:
                    return s
            await asyncio.sleep(0.0005)
        raise TimeoutError("no frame was rendered")


async def scan_and_search(tmp: Path, db_path: Path, scans: int) -> dict:
    from pos_core import catalog, db as dbmod, shifts
    from pos_core.branches import find_counter
    from pos_core.models import Barcode, Staff
    from pos_tui.app import make_app
    dbmod.open_database(f"sqlite:///{db_path}")
    cfg = config_for(tmp, db_path)
    counter = find_counter("LHR1", "C1")
    if shifts.current(counter.id) is None:
        shifts.open_shift(counter.id, Staff.get(Staff.code == "ayesha").id, "5000")
    codes = [c for (c,) in Barcode.select(Barcode.code).tuples()]
    rng = random.Random(2)
    out: dict = {}
    app = make_app(cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await _keys(app, "1111")
        while type(app.screen).__name__ != "SaleScreen":
            await app.workers.wait_for_complete()
            await pilot.pause()
        screen = app.screen
        frames = FrameClock(screen)
        changed: list[float] = []
        render_cart = screen.render_cart

        def timed_render(*a, **kw):
            render_cart(*a, **kw)
            changed.append(time.perf_counter())
        screen.render_cart = timed_render
        times, cpu = [], []
        for i in range(scans + 20):
            if i % 20 == 0:   # a sale has ~20 lines at most; start a new one
                app.cart.clear()
                render_cart()
                await pilot.pause()
            code = rng.choice(codes)
            changed.clear()
            t0, c0 = time.perf_counter(), time.process_time()
            await _keys(app, code)
            while not changed:
                await asyncio.sleep(0.0005)
            shown = await frames.first_after(changed[-1])
            if i >= 20:   # the first ones warm caches
                times.append((shown - t0) * 1000)
                # CPU of the till process for the scan: steadier than wall time on a shared machine.
                cpu.append((time.process_time() - c0) * 1000)
            await pilot.pause()
        out["scan_ms"] = times
        out["scan_cpu_ms"] = cpu
        # Name search: the query itself, and keystroke -> results in the F2 screen.
        queries = ["la", "lawn", "lawn ku", "lawn kurta bl", "silk", "silk sh", "mint m", "cotton suit navy xl",
                   "khad", "jacq frock"]
        core = []
        for _ in range(30):
            for q in queries:
                t0 = time.perf_counter()
                catalog.search(q, limit=15)
                core.append((time.perf_counter() - t0) * 1000)
        out["search_core_ms"] = core
        from pos_tui.screens import dialogs
        searched: list[float] = []
        real_search = dialogs.catalog.search

        class TimedCatalog:
            def __getattr__(self, name):
                return getattr(catalog, name)

            @staticmethod
            def search(*a, **kw):
                found = real_search(*a, **kw)
                searched.append(time.perf_counter())
                return found
        dialogs.catalog = TimedCatalog()
        await pilot.press("f2")
        frames = FrameClock(app.screen)
        search = app.screen.query_one("#search")
        ui = []
        for _ in range(10):
            for q in queries:
                search.value = q[:-1]
                await pilot.pause()
                searched.clear()
                t0 = time.perf_counter()
                await _keys(app, q[-1], enter=False)
                while not searched:
                    await asyncio.sleep(0.0005)
                await asyncio.sleep(0)  # let the handler finish filling the table
                shown = await frames.first_after(searched[-1])
                ui.append((shown - t0) * 1000)
        dialogs.catalog = catalog
        out["search_ui_ms"] = ui
        await pilot.press("escape")
    dbmod.close()
    return out


PROJECT_PACKAGES = ("pos_core", "pos_tui", "printers")


def cold_start(tmp: Path, db_path: Path, runs: int, bytecode: bool = True) -> dict:
    """Best and median wall time, and median CPU time (user + system of the child, which other
    processes on a shared machine disturb less), of 2 x runs starts each, alternating."""
    if bytecode:
        # A counter runs the installed package, compiled to bytecode by pip at install. This
        # checkout runs under PYTHONDONTWRITEBYTECODE=1, so without this every start would compile
        # pos_core and pos_tui from source (~20 ms here) while Textual loads from bytecode.
        subprocess.run([sys.executable, "-m", "compileall", "-q", *PROJECT_PACKAGES],
                       cwd=ROOT, check=True, capture_output=True)
    else:  # as measured before: every start compiles the project's modules from source
        import shutil
        for package in PROJECT_PACKAGES:
            for cache in (ROOT / package).rglob("__pycache__"):
                shutil.rmtree(cache)
    cfg = tmp / "pos.toml"
    cfg.write_text(f'[database]\nurl = "sqlite:///{db_path}"\n[counter]\nbranch = "LHR1"\ncode = "C1"\n'
                   '[printer]\nkind = "dummy"\n')
    till = ("from pos_core import cli, migrations\n"
            f"cfg = cli.load_and_open({str(cfg)!r})\nmigrations.check_current()\n"
            "from pos_tui.app import make_app\nmake_app(cfg).run(headless=True, size=(80, 24))\n")
    minimal = ("from textual.app import App\nfrom textual.widgets import Input, Label\n"
               "class A(App):\n"
               "    def compose(self):\n        yield Label('PIN')\n        yield Input(password=True)\n"
               "    def on_mount(self):\n        self.call_after_refresh(self.exit)\n"
               "A().run(headless=True, size=(80, 24))\n")
    env = dict(os.environ, POS_PROFILE_STARTUP="1", TEXTUAL_ANIMATIONS="none")
    wall: dict[str, list[float]] = {"minimal": [], "till": []}
    cpu: dict[str, list[float]] = {"minimal": [], "till": []}
    with tempfile.TemporaryFile() as err:
        for _ in range(2 * runs):
            for name, code in (("minimal", minimal), ("till", till)):
                err.seek(0)
                err.truncate()
                t0 = time.perf_counter()
                child = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT,
                                         stdout=subprocess.DEVNULL, stderr=err)
                _, status, usage = os.wait4(child.pid, 0)
                wall[name].append((time.perf_counter() - t0) * 1000)
                cpu[name].append((usage.ru_utime + usage.ru_stime) * 1000)
                if status:
                    err.seek(0)
                    raise SystemExit(f"{name} start failed:\n{err.read().decode(errors='replace')}")
    return ({k: min(v) for k, v in wall.items()} | {k + "_median": statistics.median(v) for k, v in wall.items()}
            | {k + "_cpu": statistics.median(v) for k, v in cpu.items()})


RSS_CHILD = r'''
import asyncio, sys, time
sys.path.insert(0, ROOT)
from benchmarks.till import _keys, config_for
from pathlib import Path
from pos_core import db as dbmod, shifts
from pos_core.branches import find_counter
from pos_core.models import Barcode, Staff
from pos_tui.app import make_app

def rss_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])

async def main(tmp, db_path, n):
    dbmod.open_database(f"sqlite:///{db_path}")
    codes = [c for (c,) in Barcode.select(Barcode.code).limit(2000).tuples()]
    app = make_app(config_for(Path(tmp), Path(db_path)))
    async with app.run_test(size=(80, 24)) as pilot:
        await _keys(app, "1111")
        while type(app.screen).__name__ != "SaleScreen":
            await app.workers.wait_for_complete(); await pilot.pause()
        start = rss_kib()
        for i in range(n):
            await _keys(app, codes[(2 * i) % len(codes)])
            await _keys(app, codes[(2 * i + 1) % len(codes)])
            await pilot.pause()
            await pilot.press("f10")
            await _keys(app, "", enter=True)
            await pilot.pause()
            while app.cart.lines or app.committing:
                await app.workers.wait_for_complete(); await pilot.pause()
        await app.workers.wait_for_complete()
        print(start, rss_kib())

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
'''


def rss_after_sales(tmp: Path, db_path: Path, sales: int) -> tuple[int, int]:
    from pos_core import db as dbmod
    from pos_core.models import PosOrder
    code = f"ROOT = {str(ROOT)!r}\n" + RSS_CHILD
    out = subprocess.run([sys.executable, "-c", code, str(tmp), str(db_path), str(sales)], cwd=ROOT, check=True,
                         capture_output=True, text=True, env=dict(os.environ, TEXTUAL_ANIMATIONS="none")).stdout
    start, end = map(int, out.split()[-2:])
    dbmod.open_database(f"sqlite:///{db_path}")
    done = PosOrder.select().where(PosOrder.kind == "sale").count()
    dbmod.close()
    assert done >= sales, f"only {done} sales were made"
    return start, end


def print_cold_start(cs: dict, starts: int) -> None:
    print(f"cold start (best of {2 * starts}, alternating): minimal Textual {cs['minimal']:.0f} ms, till to sign-in "
          f"{cs['till']:.0f} ms, ratio {cs['till'] / cs['minimal']:.2f}x "
          f"(medians {cs['minimal_median']:.0f} / {cs['till_median']:.0f} ms = "
          f"{cs['till_median'] / cs['minimal_median']:.2f}x; CPU medians {cs['minimal_cpu']:.0f} / "
          f"{cs['till_cpu']:.0f} ms = {cs['till_cpu'] / cs['minimal_cpu']:.2f}x)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", type=int, default=50_000)
    ap.add_argument("--scans", type=int, default=300)
    ap.add_argument("--sales", type=int, default=100)
    ap.add_argument("--starts", type=int, default=5)
    ap.add_argument("--promotions", type=int, default=200, help="active promotions (issue 16 measures with 200)")
    ap.add_argument("--scan-only", action="store_true", help="skip the cold start and memory measures")
    ap.add_argument("--cold-only", action="store_true", help="only the cold start (catalog still built)")
    ap.add_argument("--no-bytecode", action="store_true",
                    help="cold start: do not compile the project to bytecode first (how it was measured before 2026-12-07)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        db_path = tmp / "pos.db"
        t0 = time.perf_counter()
        build_db(db_path, args.variants)
        print(f"catalog: {args.variants} variants built in {time.perf_counter() - t0:.1f} s")
        if args.promotions:
            from pos_core import db as dbmod
            from pos_core.models import Product, Variant
            from bench_promotions import make_promotions
            dbmod.open_database(f"sqlite:///{db_path}")
            cats = [c for (c,) in Product.select(Product.category).distinct().tuples()]
            skus = [s for (s,) in Variant.select(Variant.sku).limit(2000).tuples()]
            make_promotions(args.promotions, cats, skus)
            dbmod.close()
            print(f"{args.promotions} active promotions")
        if args.cold_only:
            print_cold_start(cold_start(tmp, db_path, args.starts, not args.no_bytecode), args.starts)
            return
        r = asyncio.run(scan_and_search(tmp, db_path, args.scans))
        for key, label in (("scan_ms", "scan -> line in cart"), ("scan_cpu_ms", "  CPU of that scan"),
                           ("search_core_ms", "catalog.search"),
                           ("search_ui_ms", "keystroke -> search results")):
            v = r[key]
            print(f"{label:30} n={len(v):4} median {statistics.median(v):6.1f} ms  p99 {pct(v, 99):6.1f} ms  "
                  f"max {max(v):6.1f} ms")
        if args.scan_only:
            return
        print_cold_start(cold_start(tmp, db_path, args.starts, not args.no_bytecode), args.starts)
        start, end = rss_after_sales(tmp, db_path, args.sales)
        print(f"resident memory: {start / 1024:.1f} MB at sign-in, {end / 1024:.1f} MB after {args.sales} sales")


if __name__ == "__main__":
    main()
