"""`pos-admin doctor` (run as `pos-agent doctor`): what is wrong with this counter, and the fix.

Every check prints one line - OK, WARN, FAIL or SKIP, a name, what was found - and for anything
not OK a `fix:` line a technician can act on over SSH. The exit status is 1 when any check
FAILs. Nothing here changes data: the FBR probe is an invoice the gateway authenticates and IMS
refuses as incomplete (nothing is recorded), and the test slip is printed only with `--print`.

The network checks live here because pos_core never touches the network; the printer is
checked without importing the printer package (a test slip is printed by a child process).
"""
from __future__ import annotations

import datetime as dt
import email.utils
import grp
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import httpx

from pos_core import config as configmod

OK, WARN, FAIL, SKIP = "OK", "WARN", "FAIL", "SKIP"
HEARTBEAT_STALE_S = 60          # the agent beats every 5 s
CLOCK_SKEW_S = 120
DISK_FAIL_MB, DISK_WARN_MB = 500, 2000
WAL_WARN_BYTES = 256 << 20      # 32x pos_core.wal.JOURNAL_SIZE_LIMIT
# What the features use (docs/sync.md): stock sync, catalog, customers, online orders, fulfilment.
REQUIRED_SCOPES = ("read_products", "read_inventory", "write_inventory", "read_locations", "read_customers",
                   "read_orders", "write_orders", "read_merchant_managed_fulfillment_orders",
                   "write_merchant_managed_fulfillment_orders")
AGENT_LOGS = "systemctl status pos-agent; journalctl -u pos-agent -n 50"

SCOPES_QUERY = "query DoctorScopes { currentAppInstallation { accessScopes { handle } } }"
# Without currentAppInstallation (older shops, the simulator), probe what each scope lets us read.
PROBE_QUERY = """query DoctorProbe {
  products(first: 1) { nodes { id } }
  productVariants(first: 1) { nodes { id inventoryItem { id } } }
  customers(first: 1) { nodes { id } }
  orders(first: 1) { nodes { id } }
}"""
PROBE_SCOPES = {"products": "read_products", "productVariants": "read_products", "inventoryItem": "read_inventory",
                "customers": "read_customers", "orders": "read_orders"}


@dataclass
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""


class Doctor:
    def __init__(self, cfg_path: str | None, print_slip: bool = False, out: TextIO | None = None,
                 timeout_s: float = 5.0):
        self.cfg_path, self.print_slip, self.out, self.timeout_s = cfg_path, print_slip, out or sys.stdout, timeout_s
        self.checks: list[Check] = []
        self.cfg = None

    def add(self, name: str, status: str, detail: str, fix: str = "") -> Check:
        c = Check(name, status, detail, fix)
        self.checks.append(c)
        print(f"{c.status:<5} {c.name:<18} {c.detail}", file=self.out)
        if fix and status in (FAIL, WARN):
            print(f"{'':24}fix: {fix}", file=self.out)
        self.out.flush()
        return c

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAIL]

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> int:
        path = configmod.find_path(self.cfg_path)
        print(f"pos doctor: {path} on {socket.gethostname()} at {dt.datetime.now():%Y-%m-%d %H:%M:%S}",
              file=self.out)
        if self.check_config(path):
            db_ok = self.check_database()
            if db_ok:
                self.check_heartbeat()
            self.check_hq(db_ok)
            self.check_shopify()
            self.check_fbr()
            self.check_couriers()
            self.check_printer()
            self.check_fonts()
            self.check_scanner()
        n = len(self.failed)
        print(f"{n} problem(s) found" if n else "everything checked is fine", file=self.out)
        return 1 if n else 0

    # -- config --------------------------------------------------------------------------------
    def check_config(self, path: Path) -> bool:
        try:
            self.cfg = configmod.load(self.cfg_path)
        except configmod.ConfigError as exc:
            fix = (f"create it from config.example.toml (install -m 0640 -g pos ... {path})"
                   if exc.key == "(file)" else f"edit {exc.path}: set {exc.key} to {exc.expected}")
            self.add("config", FAIL, str(exc), fix)
            return False
        cfg = self.cfg
        for key, value, file_name in (("shopify.token_file", cfg.shopify.token, cfg.shopify.token_file),
                                      ("fbr.token_file", cfg.fbr.token, cfg.fbr.token_file)):
            if (key.startswith("shopify") and (not cfg.shopify.enabled or _shopify_via_hq(cfg))) \
                    or (key.startswith("fbr") and cfg.fbr.mode == "off"):
                continue
            try:
                configmod.read_secret(value, file_name, cfg.path, key)
            except configmod.ConfigError as exc:
                self.add("config", FAIL, str(exc),
                         f"put the token in {file_name or 'its own file'}: chmod 0640, chgrp pos")
                return False
        mode = os.stat(path).st_mode & 0o777
        if mode & 0o007:
            self.add("config", WARN, f"{path} is readable by everyone (mode {oct(mode)})", f"chmod 0640 {path}")
        else:
            self.add("config", OK, f"{path} is valid")
        return True

    # -- database -----------------------------------------------------------------------------
    def check_database(self) -> bool:
        from peewee import DatabaseError
        from pos_core import db, ledger, migrations
        from pos_core.migrations import SchemaError
        url = self.cfg.database_url
        shown = url.split("@")[-1] if "@" in url else url
        try:
            db.open_database(url)
            db.database.connect(reuse_if_open=True)
            db.database.execute_sql("SELECT 1")
        except (DatabaseError, db.DatabaseUrlError, OSError) as exc:
            self.add("database", FAIL, f"cannot open {shown}: {exc}",
                     "check [database] url; the directory /var/lib/pos must be group pos, mode 2770")
            return False
        self.add("database", OK, f"reachable ({shown})")
        try:
            migrations.check_current()
            self.add("schema", OK, f"at schema {migrations.LATEST}")
        except SchemaError as exc:
            self.add("schema", FAIL, str(exc), "pos-admin migrate (scripts/install does it on an upgrade)")
            return False
        except DatabaseError as exc:
            self.add("schema", FAIL, f"cannot read the schema: {exc}", "restore the last backup: pos-admin restore FILE")
            return False
        try:
            bad = ledger.check()
        except DatabaseError as exc:
            bad = None
            self.add("check-stock", FAIL, f"cannot read stock: {exc}", "restore the last backup: pos-admin restore FILE")
        if bad:
            first = "; ".join(f"{m.branch_code} {m.variant_sku}: level {m.level}, ledger {m.ledger}" for m in bad[:3])
            self.add("check-stock", FAIL, f"{len(bad)} stock level(s) disagree with the ledger ({first})",
                     "something changed levels outside the program: `pos-admin check-stock` lists them; "
                     "restore the last good backup (pos-admin backups, pos-admin restore FILE) or call support")
        elif bad == []:
            self.add("check-stock", OK, "stock levels match the ledger")
        if db.is_sqlite():
            self._check_sqlite_files(Path(url[len("sqlite:///"):].split("?")[0]))
            self._check_wal()
        return True

    def _check_wal(self) -> None:
        """The WAL's size and who checkpoints it: a WAL far above its limit means a reader holds
        an old snapshot (a stuck back office, a backup) or nobody checkpoints."""
        from pos_core import db, heartbeat, wal
        size = wal.wal_bytes(db.database.obj.database) or 0
        text = f"{size / 1e6:.1f} MB, checkpointed by {wal.describe(wal.checkpoint_row(heartbeat.read()))}"
        if size > WAL_WARN_BYTES:
            self.add("wal", WARN, text, "a process holds a read open (pos-office, a backup?): restart it; "
                     f"then the WAL is cut back to {wal.JOURNAL_SIZE_LIMIT >> 20} MB at the next commit")
        else:
            self.add("wal", OK, text)

    def _check_sqlite_files(self, path: Path) -> None:
        free_mb = shutil.disk_usage(path.parent).free // (1 << 20)
        if free_mb < DISK_FAIL_MB:
            self.add("disk", FAIL, f"{free_mb} MB free on {path.parent}",
                     "free space: old backups in backups/, journalctl --vacuum-size=100M, apt-get clean")
        elif free_mb < DISK_WARN_MB:
            self.add("disk", WARN, f"only {free_mb} MB free on {path.parent}", "free some space soon")
        else:
            self.add("disk", OK, f"{free_mb:,} MB free on {path.parent}")
        try:
            gid = grp.getgrnam("pos").gr_gid
        except KeyError:
            return
        st = path.stat()
        if st.st_gid != gid or (st.st_mode & 0o060) != 0o060:
            self.add("db permissions", WARN, f"{path} is not read-write for group pos "
                     f"(group {st.st_gid}, mode {oct(st.st_mode & 0o777)}): the till cannot save sales",
                     f"chgrp pos {path}*; chmod 0660 {path}*; chmod 2770 {path.parent}")

    # -- agent -----------------------------------------------------------------------------------
    def check_heartbeat(self) -> None:
        from pos_core import heartbeat
        rows = heartbeat.read()
        loop = next((r for r in rows if r["channel"] == heartbeat.AGENT_LOOP), None)
        if loop is None:
            others = ", ".join(sorted(r["channel"] for r in rows))
            self.add("agent", FAIL, "the agent has never run on this database"
                     + (f" (only {others} written, by a catalog import or `pos-agent once`)" if others else ""),
                     f"start it: systemctl enable --now pos-agent; then {AGENT_LOGS}")
            return
        freshest = heartbeat.age_seconds(loop)
        freshest = freshest if freshest is not None else float("inf")
        if freshest > HEARTBEAT_STALE_S:
            self.add("agent", FAIL, f"last heartbeat {_ago(freshest)} ago: the agent is stopped or stuck",
                     f"systemctl restart pos-agent; look at {AGENT_LOGS}")
            return
        errors = [f"{r['channel']}: {r['last_error']}" for r in rows if r["last_error"]]
        if errors:
            self.add("agent", WARN, f"running (heartbeat {freshest:.0f} s ago), last error {errors[0]}",
                     "pos-agent status shows the queue; the agent retries by itself")
        else:
            self.add("agent", OK, f"running (heartbeat {freshest:.0f} s ago)")

    # -- Shopify ---------------------------------------------------------------------------------
    def check_shopify(self) -> None:
        s = self.cfg.shopify
        if not s.enabled:
            self.add("shopify", SKIP, "shopify.enabled = false")
            self.add("clock", SKIP, "compared with Shopify's clock, which is off")
            return
        if _shopify_via_hq(self.cfg):
            # issue 14: this box never talks to Shopify; the head office's agent sends its jobs
            self.add("shopify", SKIP, "sent by the head office's agent (hq.shopify = head-office); no token here")
            self.add("clock", SKIP, "compared with Shopify's clock at the head office")
            return
        from .shopify.client import ShopifyClient, ShopifyError
        client = ShopifyClient(s, self.cfg.path, timeout=httpx.Timeout(self.timeout_s))
        try:
            try:
                res = client.execute("ShopAndLocations", {"first": 100})
            except ShopifyError as exc:
                if exc.code in ("HTTP_401", "HTTP_403"):
                    self.add("shopify token", FAIL, f"{s.shop or s.endpoint}: Shopify refused the access token",
                             "create a new Admin API token in the shop's custom app and write it to "
                             f"{s.token_file or 'shopify.token_file'} (chmod 0640, chgrp pos); then "
                             "systemctl restart pos-agent")
                else:
                    self.add("shopify token", FAIL, f"{s.shop or s.endpoint}: {exc}",
                             "check the link (ping, DNS) and shopify.shop / shopify.endpoint")
                self.check_clock(client)
                return
            shop = (res.data.get("shop") or {}).get("name", "?")
            self.add("shopify token", OK, f"accepted by {shop}")
            served = client.served_version
            if served and served != s.api_version:
                self.add("api version", FAIL, f"asked for {s.api_version}, Shopify served {served}: the version "
                         "this program was built for is no longer supported",
                         "install a newer release of the POS (scripts/install upgrades in place) and set "
                         "shopify.api_version to the version it names")
            else:
                self.add("api version", OK, f"{served or s.api_version} served as asked")
            self.check_scopes(client)
            self.check_locations(res.data.get("locations") or {})
            self.check_clock(client)
        finally:
            client.close()

    def _query(self, client, name: str, text: str):
        client._ops.setdefault(name, text)        # the doctor's own operations, not in operations/
        return client.execute(name)

    def check_scopes(self, client) -> None:
        from .shopify.client import ShopifyError
        try:
            res = self._query(client, "DoctorScopes", SCOPES_QUERY)
            have = {x["handle"] for x in ((res.data.get("currentAppInstallation") or {}).get("accessScopes") or [])}
            missing = [sc for sc in REQUIRED_SCOPES if sc not in have and sc.replace("read_", "write_") not in have]
        except ShopifyError:
            missing = self._probe_scopes(client)
            if missing is None:
                return
        if missing:
            self.add("shopify scopes", FAIL, "the token lacks " + ", ".join(missing),
                     "in the shop's custom app, Configuration > Admin API scopes: add them, reinstall the "
                     "app, put the new token in the token file")
        else:
            self.add("shopify scopes", OK, "the token has the scopes stock, catalog and orders need")

    def _probe_scopes(self, client) -> list[str] | None:
        from .shopify.client import ShopifyError
        try:
            self._query(client, "DoctorProbe", PROBE_QUERY)
            return []
        except ShopifyError as exc:
            text = str(exc)
            if "ACCESS_DENIED" not in text and "access" not in text.lower():
                self.add("shopify scopes", WARN, f"could not check the scopes: {text[:160]}",
                         "compare the app's scopes with docs/sync.md")
                return None
            return sorted({scope for field, scope in PROBE_SCOPES.items() if field in text}) or ["(see message) " + text[:120]]

    def check_locations(self, conn: dict) -> None:
        from pos_core.models import Branch
        known = {n["id"]: n for n in conn.get("nodes") or []}
        mapping = dict(self.cfg.shopify.locations)
        try:
            for b in Branch.select():
                if b.shopify_location_id and b.code not in mapping:
                    mapping[b.code] = b.shopify_location_id
        except Exception:  # noqa: BLE001 - the database check reports database trouble
            pass
        listing = ", ".join(f"{n['name']} = {gid}" for gid, n in known.items() if n.get("isActive")) or "none"
        problems = []
        if self.cfg.branch and self.cfg.branch not in mapping:
            problems.append(f"this counter's branch {self.cfg.branch} has no Shopify location")
        for code, gid in sorted(mapping.items()):
            if gid not in known:
                problems.append(f"branch {code} is mapped to {gid}, which the shop does not have")
            elif not known[gid].get("isActive"):
                problems.append(f"branch {code} is mapped to {known[gid]['name']} ({gid}), which is deactivated")
        if problems:
            self.add("locations", FAIL, "; ".join(problems),
                     f"under [shopify.locations] write BRANCH = \"gid\"; the shop's active locations: {listing}")
        else:
            self.add("locations", OK, ", ".join(f"{c} -> {known[g]['name']}" for c, g in sorted(mapping.items()))
                     or "no branch mapped")

    def check_clock(self, client) -> None:
        s = self.cfg.shopify
        token = configmod.read_secret(s.token, s.token_file, self.cfg.path, "shopify.token")
        try:
            t0 = time.time()
            r = httpx.post(client.url, timeout=self.timeout_s, headers={"X-Shopify-Access-Token": token},
                           json={"query": "{ shop { name } }"})
            local = (t0 + time.time()) / 2
        except httpx.HTTPError as exc:
            self.add("clock", SKIP, f"Shopify not reachable to compare clocks ({type(exc).__name__})")
            return
        date = r.headers.get("Date")
        if not date:
            self.add("clock", SKIP, "Shopify sent no Date header")
            return
        skew = local - email.utils.parsedate_to_datetime(date).timestamp()
        if abs(skew) > CLOCK_SKEW_S:
            way = "ahead of" if skew > 0 else "behind"
            self.add("clock", FAIL, f"this box's clock is {_ago(abs(skew))} {way} Shopify's "
                     f"({dt.datetime.now():%Y-%m-%d %H:%M:%S} here)",
                     "timedatectl set-ntp true (or apt-get install systemd-timesyncd); check the timezone with "
                     "timedatectl and the BIOS battery if it drifts again")
        else:
            self.add("clock", OK, f"within {abs(skew):.0f} s of Shopify's")

    # -- FBR -------------------------------------------------------------------------------------
    def check_fbr(self) -> None:
        f = self.cfg.fbr
        if f.mode == "off":
            self.add("fbr", SKIP, "fbr.mode = off")
            return
        from .fbr.transport import ACCEPTED, NOT_SENT, FbrTransport
        token = configmod.read_secret(f.token, f.token_file, self.cfg.path, "fbr.token_file")
        transport = FbrTransport(f.mode, f.endpoint, token, timeout_s=self.timeout_s)
        try:
            outcome = transport.health()
            if outcome.kind == NOT_SENT:
                self.add("fbr link", FAIL, f"{outcome.message} ({transport.url})",
                         "check the internet link; for fbr.mode = local, that FBR's fiscal component runs on "
                         "this box (http://localhost:8524); sales keep their invoices queued meanwhile")
                return
            if outcome.kind != ACCEPTED:
                self.add("fbr token", FAIL, outcome.message,
                         "put the token PRAL issued for this environment in "
                         f"{f.token_file or 'fbr.token_file'} (chmod 0640, chgrp pos); check fbr.mode")
                return
            self.add("fbr token", OK, f"{outcome.message} ({f.mode})")
            self.check_posid(transport, token)
        finally:
            transport.close()

    def check_couriers(self) -> None:
        """Each [courier_api.*]: its credentials work (the city list is the cheapest call)."""
        if not self.cfg.courier_accounts:
            return
        from .couriers import CourierError, build_adapters
        try:
            adapters = build_adapters(self.cfg)
        except configmod.ConfigError as exc:
            self.add("couriers", FAIL, str(exc), "fix the courier's secret file (chmod 0640, chgrp pos)")
            return
        for name, adapter in adapters.items():
            try:
                n = len(adapter.cities())
                self.add(f"courier {name}", OK, f"{n} cities from {adapter.endpoint}")
            except CourierError as exc:
                self.add(f"courier {name}", FAIL, exc.message,
                         f"check [courier_api.{name}] (key, password or token, endpoint) and the internet link; "
                         "parcels wait as 'to be booked' meanwhile")
            finally:
                adapter.close()

    def _posid(self) -> str:
        if self.cfg.fbr.posid:
            return self.cfg.fbr.posid
        try:
            from pos_core.models import Branch, Counter
            c = (Counter.select().join(Branch)
                 .where((Branch.code == self.cfg.branch) & (Counter.code == self.cfg.counter)).first())
            return (c.fbr_posid or "") if c else ""
        except Exception:  # noqa: BLE001
            return ""

    def check_posid(self, transport, token: str) -> None:
        posid = self._posid()
        if not posid:
            self.add("fbr posid", FAIL, "no POSID for this counter",
                     "set fbr.posid in the config to the POSID FBR issued for this counter")
            return
        headers = {"Content-Type": "application/json"}
        if transport.mode != "local":
            headers["Authorization"] = f"Bearer {token}"
        try:
            # An incomplete invoice: authenticated and validated, never recorded.
            r = httpx.post(transport.url, headers=headers, timeout=self.timeout_s,
                           content=json.dumps({"POSID": int(posid), "USIN": ""}).encode())
            data = r.json()
        except (httpx.HTTPError, ValueError) as exc:
            self.add("fbr posid", WARN, f"could not probe POSID {posid}: {exc}", "try again; check the link")
            return
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                data = {}
        errors = str((data or {}).get("Errors") or "") if isinstance(data, dict) else ""
        posid_errors = [e.strip() for e in errors.split(";") if "POSID" in e]
        if posid_errors:
            self.add("fbr posid", FAIL, f"FBR refuses POSID {posid}: {posid_errors[0]}",
                     "check the POSID in IRIS (POS registration) and set fbr.posid / the counter's POSID")
        else:
            self.add("fbr posid", OK, f"POSID {posid} accepted (probe invoice refused as incomplete, nothing recorded)")

    # -- devices ---------------------------------------------------------------------------------
    def check_hq(self, db_ok: bool) -> None:
        """The chain link (issue 13): the head office answers as this branch's role, and what is
        parked or waiting there."""
        cfg = self.cfg
        if cfg.hq.role == "off":
            return
        if cfg.hq.role == "head-office":
            if not db_ok:
                return
            from pos_core import hq
            if not hq.is_hq():
                self.add("head office", FAIL, "this database is not a head office",
                         "run `pos-admin hq init` on the head office's PostgreSQL")
                return
            rows = hq.status()
            parked = sum(r["parked"] for r in rows)
            if parked:
                self.add("head office", WARN, f"{len(rows)} branch(es); {parked} parked row(s)",
                         "see `pos-admin hq parked` for each reason (an SKU or staff member to add, an upgrade)")
            else:
                self.add("head office", OK, f"{len(rows)} branch(es), nothing parked")
            return
        from .hq.link import BranchLink, rewound
        try:
            link = BranchLink.from_config(cfg)
        except configmod.ConfigError as exc:
            self.add("head office", FAIL, str(exc), f"edit {exc.path}: set {exc.key} to {exc.expected}")
            return
        shown = cfg.hq.url.split("@")[-1]
        try:
            hq_db = link._hq()
            row = hq_db.execute_sql("SELECT xid, seq FROM hq_position()").fetchone()
            parked = hq_db.execute_sql("SELECT count(*) FROM hq_inbox WHERE status = 'PARKED'").fetchone()[0]
            # a restored branch database (needs the local log, so only with the database open)
            stopped = rewound(*link.hq_position(hq_db)) if db_ok and row is not None and row[0] is not None else ""
        except Exception as exc:  # noqa: BLE001 - every failure becomes a line with a fix
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if "password" in text or "authentication" in text:
                fix = f"put branch {link.branch}'s password (from `pos-admin branch add`) in {cfg.hq.password_file or 'hq.password_file'}"
            elif "does not exist" in text and "role" in text:
                fix = f"run `pos-admin branch add {link.branch}` at the head office"
            elif "permission denied" in text or "hq_position" in text:
                fix = "run `pos-admin hq init` at the head office (the hq schema is missing or old)"
            else:
                fix = f"check the link to {shown} (firewall, the head office's pg_hba.conf hostssl line)"
            self.add("head office", FAIL, f"cannot reach {shown}: {text}", fix)
            return
        finally:
            link.close()
        if row is None or row[0] is None:
            self.add("head office", FAIL, f"the head office does not know branch {link.branch}",
                     f"run `pos-admin branch add {link.branch}` at the head office")
        elif stopped:
            self.add("head office", FAIL, f"nothing is pushed: {stopped.split(' Nothing is pushed')[0]}",
                     "keep selling; run `pos-admin branch recover` on this box (docs/chain.md, "
                     "\"A branch restored from a backup\")")
        elif parked:
            self.add("head office", WARN, f"{shown} answers; {parked} of this branch's rows are parked there",
                     "ask the head office to check `pos-admin hq parked`")
        else:
            self.add("head office", OK, f"{shown} answers as branch {link.branch}")

    def check_printer(self) -> None:
        p = self.cfg.printer
        if p.kind == "none":
            self.add("printer", SKIP, "printer.kind = none")
            return
        fix_dev = ("switch the printer on and check its USB cable; the udev rule (/etc/udev/rules.d/"
                   "70-pos.rules) gives it to group pos as /dev/pos-printer: udevadm trigger")
        if p.kind == "file":
            problem = _device_problem(p.path, os.W_OK)
            if problem:
                self.add("printer", FAIL, f"printer {problem}", fix_dev)
                return
        elif p.kind == "serial":
            problem = _device_problem(p.device, os.R_OK | os.W_OK)
            if problem:
                self.add("printer", FAIL, f"serial printer {problem}", fix_dev.replace("USB cable", "serial cable"))
                return
        elif p.kind == "network":
            try:
                socket.create_connection((p.host, p.port), timeout=min(3.0, self.timeout_s)).close()
            except OSError as exc:
                self.add("printer", FAIL, f"network printer {p.host}:{p.port} does not answer ({exc.strerror or exc})",
                         "check it is on and its IP address (print its self-test page: hold FEED at power-on)")
                return
        elif p.kind == "usb":
            if not _usb_present(p.vendor_id, p.product_id):
                self.add("printer", FAIL, f"no USB device {p.vendor_id:04x}:{p.product_id:04x} (lsusb)", fix_dev)
                return
        where = {"file": p.path, "serial": p.device, "network": f"{p.host}:{p.port}",
                 "usb": f"{p.vendor_id:04x}:{p.product_id:04x}"}.get(p.kind, p.kind)
        if not self.print_slip:
            self.add("printer", OK, f"{p.kind} {where} present (pos-admin doctor --print prints a test slip)")
            return
        r = subprocess.run([sys.executable, "-c", _SLIP_SCRIPT, self.cfg.path], capture_output=True, text=True,
                           timeout=60)
        if r.returncode == 0:
            self.add("printer", OK, f"{p.kind} {where}: test slip printed")
        else:
            self.add("printer", FAIL, f"test slip failed: {(r.stdout + r.stderr).strip()[-200:]}",
                     "check paper, the cover and the cable; the message says what the printer reported")

    def check_fonts(self) -> None:
        """Urdu on receipts and PDFs: a WARN, not a FAIL (without the fonts sales go on, Urdu
        names print as "?" in PDFs). Asked of printers/ in a child process, like the test slip."""
        try:
            r = subprocess.run([sys.executable, "-c", _FONTS_SCRIPT], capture_output=True, text=True, timeout=60)
            lacking = json.loads(r.stdout) if r.returncode == 0 else None
        except (OSError, subprocess.TimeoutExpired, ValueError) as exc:
            r, lacking = None, None
            error = str(exc)
        if lacking is None:
            error = error if r is None else (r.stdout + r.stderr).strip()[-200:]
            self.add("urdu fonts", WARN, f"could not check the fonts: {error}", "pip install -e . in the venv; "
                     "then apt-get install libraqm0 fonts-noto-core fonts-noto-extra")
            return
        if not lacking:
            self.add("urdu fonts", OK, "Noto Sans, Naskh and Nastaliq, libraqm and the PDF shaper are here")
            return
        apt = sorted({pkg for _, pkg in lacking if not pkg.startswith("pip:")})
        fix = (f"apt-get install {' '.join(apt)} (or run scripts/install again)" if apt else "")
        pip = [pkg for _, pkg in lacking if pkg.startswith("pip:")]
        if pip:
            fix = "; ".join(x for x in (fix, "pip install -e . in /opt/pos/venv (" + pip[0][5:] + ")") if x)
        self.add("urdu fonts", WARN, "missing: " + ", ".join(what for what, _ in lacking)
                 + " (PDFs print Urdu names as ?; a [receipt] template asking for Urdu stops the till)", fix)

    def check_scanner(self) -> None:
        dev = self.cfg.scanner.device
        if not dev:
            self.add("scanner", OK, "keyboard wedge (scanner.device not set): scans arrive as typing")
            return
        problem = _device_problem(dev, os.R_OK)
        if problem:
            self.add("scanner", FAIL, f"scanner {problem}; the till falls back to the keyboard wedge",
                     "plug the scanner in; the udev rule (70-pos.rules, your scanner's idVendor/idProduct "
                     "from lsusb) makes /dev/input/pos-scanner for group pos: udevadm trigger")
            return
        try:
            fd = os.open(dev, os.O_RDONLY | os.O_NONBLOCK)
            os.close(fd)
        except OSError as exc:
            self.add("scanner", FAIL, f"cannot open {dev}: {exc.strerror}", "check the udev rule gives it to group pos")
            return
        self.add("scanner", OK, f"{dev} present and readable (the till reads it through evdev)")


def _device_problem(path: str, access: int) -> str | None:
    if not path:
        return "has no path configured"
    if not os.path.exists(path):
        return f"{path} does not exist"
    if not os.access(path, access):
        return f"{path} is not {'writable' if access & os.W_OK else 'readable'} by {_whoami()}"
    try:
        gid = grp.getgrnam("pos").gr_gid
        st = os.stat(path)
        if stat.S_ISCHR(st.st_mode) and st.st_gid != gid and not st.st_mode & 0o006:
            return f"{path} belongs to group {st.st_gid}, not pos: the till's login cannot use it"
    except KeyError:
        pass
    return None


def _usb_present(vendor: int, product: int) -> bool:
    for d in Path("/sys/bus/usb/devices").glob("*"):
        try:
            if (int((d / "idVendor").read_text(), 16), int((d / "idProduct").read_text(), 16)) == (vendor, product):
                return True
        except (OSError, ValueError):
            continue
    return False


def _whoami() -> str:
    import pwd
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def _ago(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


_FONTS_SCRIPT = "import json; from printers import pdf_fonts; print(json.dumps(pdf_fonts.missing()))"
_SLIP_SCRIPT = r"""
import datetime, socket, sys
from pos_core import config
from printers.settings import printer_settings
from printers import layout, receipt, transport
cfg = config.load(sys.argv[1])
settings = printer_settings(cfg)
slip = receipt.Slip(title="PRINTER TEST", number=socket.gethostname(),
                    lines=(("Site", cfg.site_name), ("Counter", f"{cfg.branch}-{cfg.counter}"),
                           ("Printed by", "pos-admin doctor --print")),
                    header_lines=tuple(cfg.printer.header[:1]) or (cfg.site_name,),
                    when=datetime.datetime.now().strftime("%d-%m-%Y %H:%M"))
result = transport.print_ops(settings, layout.layout_slip(slip, transport.columns_for(settings)))
print(result.error or result.warning or "printed")
sys.exit(0 if result.ok else 1)
"""


def run(cfg_path: str | None, print_slip: bool = False, out: TextIO | None = None) -> int:
    return Doctor(cfg_path, print_slip, out).run()


def _shopify_via_hq(cfg) -> bool:
    return cfg.hq.role == "branch" and cfg.hq.shopify == "head-office"
