"""Chain replication figures (issue 13), reported into docs/performance.md.

    POS_TEST_PG_URL=postgresql://postgres@127.0.0.1:PORT/postgres \\
        .venv/bin/python benchmarks/chain.py [--sales 2000] [--lag-sales 200] [--branches 50] [--json]

1. commit overhead of capture: N five-line cash sales (Shopify and FBR on, as in checkout.py) on
   a fresh SQLite file without change capture, and on another with it (triggers on), interleaved
   in blocks of 50 so machine noise hits both alike; median and p95 of each, and the ratio.
2. catch-up: a branch that sold N five-line sales offline (5 N movements) pushes its backlog
   (BranchLink.push_once until drained) and the head office applies it (hq.apply_inbox until
   empty), one after the other in this process: an upper bound, the agents overlap the two.
3. lag: a head-office agent and a branch agent run as processes (`pos-agent run`, the branch's
   `push_seconds` at its default 0.5 s); this process sells one sale every 0.2 s at the branch and
   a watcher thread polls the head office every 20 ms for each sale's uid. Lag = first seen at the
   head office - commit at the branch.
4. ingest: B simulated branches (B login roles, B threads, one connection each) push 20 sales each
   at once (an order, 5 lines, a payment, 5 movements: 12 rows per sale) while the applier runs in
   this process's main thread; documents per second from the first push to the inbox drained, and
   the applier thread's CPU per document (the PostgreSQL server's own CPU is not in that figure).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from checkout import POLICY, build_site, machine, percentile  # noqa: E402
from pos_core import chain, db, hq, migrations, sales  # noqa: E402
from pos_core.sales import SaleLine, Tender  # noqa: E402


def _stats(ms: list[float]) -> dict:
    return {"n": len(ms), "median_ms": round(statistics.median(ms), 2), "p95_ms": round(percentile(ms, 95), 2),
            "p99_ms": round(percentile(ms, 99), 2)}


def _sqlite(path: Path) -> str:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


def commit_overhead(directory: Path, n: int) -> dict:
    sites = {}
    for name, capture in (("plain", False), ("capture", True)):
        url = _sqlite(directory / f"{name}.db")
        db.open_database(url)
        migrations.init()
        if capture:
            chain.enable_capture()
        branch, counter, cashier, variants, shift = build_site()
        sites[name] = (url, counter.id, shift.id, cashier.id, [SaleLine(v.id, 1 + i % 3) for i, v in enumerate(variants)])
        db.close()
    times = {"plain": [], "capture": []}
    block = 50
    for start in range(0, n, block):
        for name in ("plain", "capture"):
            url, counter, shift, cashier, lines = sites[name]
            db.open_database(url)
            for _ in range(min(block, n - start)):
                t0 = time.perf_counter()
                sales.complete_sale(POLICY, counter_id=counter, shift_id=shift, staff_id=cashier,
                                    lines=lines, tenders=[Tender("cash", Decimal("10000"))])
                times[name].append((time.perf_counter() - t0) * 1000)
            db.close()
    out = {k: _stats(v) for k, v in times.items()}
    out["ratio_median"] = round(out["capture"]["median_ms"] / out["plain"]["median_ms"], 3)
    out["ratio_p95"] = round(out["capture"]["p95_ms"] / out["plain"]["p95_ms"], 3)
    return out


def catch_up(directory: Path, n: int) -> dict:
    from chain_kit import at, drop_hq, new_branch_db, new_hq, open_for_trade, pull_until, role_url
    from sync_agent.hq.link import BranchLink
    hq_url, hq_name = new_hq()
    try:
        with at(hq_url):
            hq.add_branch("LHR1")
        url = new_branch_db(directory / "catchup.db")
        ln = BranchLink(role_url(hq_name, "LHR1"), "", "LHR1")
        with at(url):
            pull_until(ln)
            counter, shift, cashier = open_for_trade("LHR1", 1_000_000)
            from pos_core.models import Variant
            vs = list(Variant.select().order_by(Variant.sku))
            lines = [SaleLine(vs[i % len(vs)].id, 1) for i in range(5)]
            for _ in range(n):
                sales.complete_sale(POLICY, counter_id=counter.id, shift_id=shift.id, staff_id=cashier.id,
                                    lines=lines, tenders=[Tender("cash", Decimal("100000"))])
            from pos_core.models import ChainChange, StockMovement
            changes = ChainChange.select().count()
            movements = StockMovement.select().where(StockMovement.kind == "sale").count()
            t0 = time.perf_counter()
            while ln.push_once():
                pass
            push_s = time.perf_counter() - t0
            ln.close()
        with at(hq_url):
            t1 = time.perf_counter()
            applied = 0
            while True:
                c = hq.apply_inbox(2000)
                applied += c["applied"]
                if not c["applied"] and not c["parked"]:
                    break
            apply_s = time.perf_counter() - t1
            from pos_core.models import PosOrder
            assert PosOrder.select().count() == n and not hq.parked(), (PosOrder.select().count(), hq.parked(3))
        return {"sales": n, "movements": movements, "change_rows": changes, "rows_applied": applied,
                "push_s": round(push_s, 2), "apply_s": round(apply_s, 2), "total_s": round(push_s + apply_s, 2)}
    finally:
        db.close()
        drop_hq(hq_name)


def lag(directory: Path, n: int) -> dict:
    import psycopg2
    from chain_kit import at, drop_hq, new_branch_db, new_hq, open_for_trade, pull_until, role_url
    hq_url, hq_name = new_hq()
    procs = []
    try:
        with at(hq_url):
            hq.add_branch("LHR1")
        url = new_branch_db(directory / "lag.db")
        (directory / "hq.toml").write_text(f'[database]\nurl = "{hq_url}"\n[hq]\nrole = "head-office"\n')
        (directory / "lhr.toml").write_text(f'[database]\nurl = "{url}"\n[counter]\nbranch = "LHR1"\ncode = "C1"\n'
                                            f'[hq]\nrole = "branch"\nurl = "{role_url(hq_name, "LHR1")}"\n')
        for cfg in ("hq.toml", "lhr.toml"):
            procs.append(subprocess.Popen([sys.executable, "-m", "sync_agent", "--config", str(directory / cfg), "run"],
                                          cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from pos_core.models import Variant
        deadline = time.time() + 30
        while time.time() < deadline:
            with at(url):
                if Variant.select().count() == 4:
                    break
            time.sleep(0.2)
        committed: dict[str, float] = {}
        seen: dict[str, float] = {}
        stop = threading.Event()

        def watch():
            conn = psycopg2.connect(hq_url)
            conn.autocommit = True
            cur = conn.cursor()
            while not stop.is_set():
                cur.execute("SELECT uid FROM pos_order")
                now = time.time()
                for (u,) in cur.fetchall():
                    seen.setdefault(u, now)
                time.sleep(0.02)
            conn.close()
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        db.open_database(url)
        counter, shift, cashier = open_for_trade("LHR1", 1_000_000)
        vs = list(Variant.select().order_by(Variant.sku))
        lines = [SaleLine(vs[i % len(vs)].id, 1) for i in range(5)]
        for _ in range(n):
            o = sales.complete_sale(POLICY, counter_id=counter.id, shift_id=shift.id, staff_id=cashier.id,
                                    lines=lines, tenders=[Tender("cash", Decimal("100000"))])
            committed[o.uid] = time.time()
            time.sleep(0.2)
        db.close()
        end = time.time() + 20
        while time.time() < end and not set(committed) <= set(seen):
            time.sleep(0.1)
        stop.set()
        watcher.join(2)
        lags = [(seen[u] - t) * 1000 for u, t in committed.items() if u in seen]
        return {"sales": n, "seen": len(lags), **_stats(lags)}
    finally:
        for p in procs:
            p.terminate()
            p.wait(15)
        db.close()
        drop_hq(hq_name)


def ingest(directory: Path, branches_n: int, per_branch: int = 20, appliers: int = 1) -> dict:
    import psycopg2
    from chain_kit import at, drop_hq, new_branch_db, new_hq, open_for_trade, pull_until, role_url
    from sync_agent.hq.link import BranchLink
    hq_url, hq_name = new_hq()
    try:
        codes = [f"B{i:02d}" for i in range(branches_n)]
        with at(hq_url):
            for code in ["LHR1"] + codes:
                cred = hq.add_branch(code)
                from pos_core import branches as br
                from pos_core.models import Branch, Counter
                b = Branch.get(Branch.code == code)
                if not Counter.select().where(Counter.branch == b).exists():
                    br.create_counter(b, "C1")
            del cred
        # One real sale at a real branch gives the rows' shape; each simulated branch sends copies
        # with its own identities (order uid, payment uid, event keys, number, branch code).
        url = new_branch_db(directory / "template.db")
        ln = BranchLink(role_url(hq_name, "LHR1"), "", "LHR1")
        with at(url):
            pull_until(ln)
            ln.close()
            counter, shift, cashier = open_for_trade("LHR1", 1_000_000)
            from pos_core.models import ChainChange, Variant
            vs = list(Variant.select().order_by(Variant.sku))
            first = ChainChange.select().count()
            order = sales.complete_sale(POLICY, counter_id=counter.id, shift_id=shift.id, staff_id=cashier.id,
                                        lines=[SaleLine(vs[i % 4].id, 1) for i in range(5)],
                                        tenders=[Tender("cash", Decimal("100000"))])
            ser = chain.Serializer(db.database)
            shift_rec = list(ser.records("shift", [shift.id]).values())[0]
            recs = []
            for c in ChainChange.select().where(ChainChange.seq > first).order_by(ChainChange.seq):
                if c.table_name in chain.UP_TABLES and c.table_name != "shift":
                    recs += list(ser.records(c.table_name, [c.row_id]).values())
            template = json.dumps(recs)
            shift_text = json.dumps(shift_rec)
            order_uid, number = order.uid, order.number
            pay_uid = order.payments[0].uid
        rows_per_sale = len(recs)

        def batch_for(code: str) -> list[tuple]:
            out = []
            changed = str(dt.datetime.utcnow())
            s_uid = uuid.uuid4().hex
            st = shift_text.replace(shift_rec["d"]["uid"], s_uid).replace('"LHR1"', f'"{code}"')
            s = json.loads(st)
            out.append((code, 0, 1, "shift", s["k"], st, migrations.LATEST, changed))
            seq = 2
            for i in range(per_branch):
                text = (template.replace(order_uid, uuid.uuid4().hex).replace(pay_uid, uuid.uuid4().hex)
                        .replace(number, f"{code}-C1-{i:06d}").replace('"LHR1"', f'"{code}"')
                        .replace(shift_rec["d"]["uid"], s_uid))
                for rec in json.loads(text):
                    out.append((code, 0, seq, rec["t"], rec["k"], json.dumps(rec, sort_keys=True),
                                migrations.LATEST, changed))
                    seq += 1
            return out
        batches = {code: batch_for(code) for code in codes}
        host_url = role_url(hq_name, "B00")
        go = threading.Event()
        errors = []
        push_cpu: list[float] = []

        def push(code):
            # As BranchLink.push_once does it: read the position, insert the rows, move the
            # position, in one head-office transaction.
            try:
                conn = psycopg2.connect(host_url.replace("_br_b00@", f"_br_{code.lower()}@"))
                with conn.cursor() as cur:
                    cur.execute("SELECT pg_backend_pid()")
                    pid = cur.fetchone()[0]
                    # The branch's own work (reading its log, serialising, quoting) is done on
                    # the branch's box, not the head office's: do it before the clock starts, so
                    # these 50 threads do not take the GIL from the appliers measured here.
                    insert = (b"INSERT INTO hq_inbox (branch_code, xid, seq, table_name, key, data, schema_version, "
                              b"changed_at) VALUES " + b",".join(cur.mogrify("(%s,%s,%s,%s,%s,%s,%s,%s)", r)
                                                                 for r in batches[code]) + b" ON CONFLICT DO NOTHING")
                conn.commit()
                go.wait()
                with conn, conn.cursor() as cur:
                    cur.execute("SELECT xid, seq FROM hq_position()")
                    cur.execute(insert)     # one statement, as execute_values sends up to 500 rows
                    last = batches[code][-1]
                    cur.execute("SELECT hq_mark(%s, %s, %s, %s, %s, %s)", (last[1], last[2], 0, None, migrations.LATEST, ""))
                push_cpu.append(_backend_cpu(pid))
                conn.close()
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{code}: {exc}")
        threads = [threading.Thread(target=push, args=(c,)) for c in codes]
        for t in threads:
            t.start()
        pushing = lambda: any(t.is_alive() for t in threads)   # noqa: E731
        db.open_database(hq_url)
        time.sleep(1.0)
        results, t0 = [], time.perf_counter()

        def drain(part):
            # as the head office's agent runs it (sync_agent/hq/office.py): until the inbox is empty
            c0 = time.thread_time()
            pid = db.database.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
            s0 = _backend_cpu(pid)
            applied = 0
            try:
                while True:
                    # one applier: called exactly as the agent called it before shares existed
                    c = hq.apply_inbox(part=part) if appliers > 1 else hq.apply_inbox()
                    applied += c["applied"]
                    if c["parked"]:
                        raise RuntimeError(f"parked: {hq.parked(3)}")
                    if not c["applied"] and not c.get("retried"):
                        if not pushing():
                            # every push has committed: one more look, then this share is done
                            again = hq.apply_inbox(part=part) if appliers > 1 else hq.apply_inbox()
                            applied += again["applied"]
                            if not again["applied"]:
                                break
                            continue
                        time.sleep(IDLE)   # the agent's pause when its inbox is empty
                results.append((applied, time.thread_time() - c0, _backend_cpu(pid) - s0, time.perf_counter()))
            except Exception as exc:  # noqa: BLE001
                errors.append(f"applier {part}: {exc}")
            finally:
                db.close()
        parts = [(k, appliers) for k in range(appliers)]
        workers = [threading.Thread(target=drain, args=(p,)) for p in parts[1:]]
        go.set()
        for w in workers:
            w.start()
        drain(parts[0])
        for w in workers:
            w.join()
        for t in threads:
            t.join()
        if errors:
            raise RuntimeError(errors[:3])
        wall = max(r[3] for r in results) - t0
        applied = sum(r[0] for r in results)
        cpu, server_cpu = sum(r[1] for r in results), sum(r[2] for r in results)
        from pos_core.models import PosOrder
        db.open_database(hq_url)
        # "documents" as the issue counts them: sales applied at the head office (their lines,
        # payments and movements are rows of the same document; the 50 shifts are not counted)
        docs = PosOrder.select().count()   # the template sale itself was never pushed
        assert docs == branches_n * per_branch, docs
        assert applied == sum(len(b) for b in batches.values()), applied
        db.close()
        out = {"branches": branches_n, "appliers": appliers, "documents": docs,
               "rows_per_document": rows_per_sale, "rows_applied": applied, "wall_s": round(wall, 2),
               "docs_per_s": round(docs / wall, 1), "applier_cpu_ms_per_doc": round(cpu * 1000 / docs, 2)}
        if push_cpu and None not in push_cpu and server_cpu == server_cpu:
            # the head office's PostgreSQL backends: the applier's connection(s) and the 50 pushes
            out["server_cpu_ms_per_doc"] = round((server_cpu + sum(push_cpu)) * 1000 / docs, 2)
            out["of_which_pushes_ms_per_doc"] = round(sum(push_cpu) * 1000 / docs, 2)
            out["hq_cpu_ms_per_doc"] = round((cpu + server_cpu + sum(push_cpu)) * 1000 / docs, 2)
        return out
    finally:
        db.close()
        drop_hq(hq_name)


IDLE = 0.1   # HeadOffice.run_once(idle=...) as the agent calls it


def _backend_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a PostgreSQL backend on this machine; NaN when it cannot
    be read (a server on another box)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sales", type=int, default=2000, help="catch-up backlog (five-line sales)")
    ap.add_argument("--commit-sales", type=int, default=1000)
    ap.add_argument("--lag-sales", type=int, default=200)
    ap.add_argument("--branches", type=int, default=50)
    ap.add_argument("--appliers", type=int, default=None, help="ingest: applier workers (default: the agent's)")
    ap.add_argument("--only", choices=("commit", "catchup", "lag", "ingest"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not os.environ.get("POS_TEST_PG_URL"):
        print("set POS_TEST_PG_URL to a PostgreSQL server this benchmark may create databases on", file=sys.stderr)
        return 2
    result = {"machine": machine()}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        if args.only in (None, "commit"):
            result["commit_overhead"] = commit_overhead(d, args.commit_sales)
        if args.only in (None, "catchup"):
            result["catch_up"] = catch_up(d, args.sales)
        if args.only in (None, "lag"):
            result["lag"] = lag(d, args.lag_sales)
        if args.only in (None, "ingest"):
            if args.appliers is None:
                from sync_agent.hq.office import APPLIERS
                args.appliers = APPLIERS
            result["ingest"] = ingest(d, args.branches, appliers=args.appliers)
    print(json.dumps(result, indent=1) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
