"""HTTP front of the simulator (stdlib ThreadingHTTPServer on 127.0.0.1 only) and `start()`.

GraphQL:  POST /admin/api/<version>/graphql.json   (header X-Shopify-Access-Token)
Control (test-only, no token, never subject to faults):
  GET  /_sim/health                     {"ok": true}
  GET  /_sim/state                      shop snapshot (inventory per item/location with all quantities)
  GET  /_sim/adjustments[?idempotencyKey=K]   {"adjustments": [applied inventory changes]}
  POST /_sim/products                   {"action": "create", "product": {...seed-style spec}}
                                        {"action": "update", "id": GID, "product": {fields, "variants": [{"id": GID, ...}]}}
                                        {"action": "archive"|"unarchive"|"delete", "id": GID}
  POST /_sim/customers                  {"customer": {"id"?: GID, "firstName", "lastName", "phone", "email", ...}}
  POST /_sim/inventory                  {"inventoryItemId": GID, "locationId": GID, "quantities": {"available": 5, "committed": 1}}
  POST /_sim/locations                  {"action": "create", "location": {"name", "code", "city"}} | {"action": "deactivate"|"activate", "id": GID}
  POST /_sim/faults                     fault settings (see faults.py), merged into the current ones
  POST /_sim/reset-faults               back to no faults
  GET|POST /_sim/throttle               {"bucket": 2000, "restore": 100, "currently"?: n} -> throttleStatus
  POST /_sim/clock                      {"advance_seconds": n} -> {"now": ...}
  POST /_sim/bulk                       {"duration_s": 0.5, "fail_next": false}
  POST /_sim/config                     {"served_version": "2026-07" | null, "read_all_orders": bool}
  GET  /_sim/orders[?id=GID|name=#1001] {"orders": [order snapshots with fulfillmentOrders, fulfillments,
                                         agreements, refunds, transactions], "apiFulfillments": [...]}
  POST /_sim/orders                     act as a customer / Shopify admin (see orders_control below):
       {"action": "create", "customer": {...}, "phone", "email", "shippingAddress": {...},
        "lines": [{"sku"|"variantId", "quantity", "price"?, "location"?}], "gateway", "financialStatus"?,
        "location"?: code|name|GID, "tags"?, "note"?, "shippingPrice"?, "routingDelaySeconds"?, "oversell"?}
       {"action": "edit", "id", "changes": [{"lineItemId"|"sku", "quantity": new}], "add": [{"sku", "quantity"}],
        "restock"?: true, "location"?}
       {"action": "cancel", "id", "reason"?: "CUSTOMER", "restock"?: true, "refund"?: true}
       {"action": "fulfill", "id", "lines"?: [{"lineItemId"|"sku", "quantity"}], "tracking"?: {company, number, url},
        "notifyCustomer"?, "fulfillmentOrderId"?}
       {"action": "refund", "id", "lines": [{"lineItemId"|"sku", "quantity", "restock"?, "location"?}], "restock"?: true}
       {"action": "mark_paid" | "hold" | "release_hold", "id", ...}   {"action": "add_tags"|"remove_tags", "id", "tags"}
     "id" may be the order GID, its name ("#1001") or number. Answers {"order": snapshot, ...}; 400 if refused.
  GET  /_sim/bulk/<id>.jsonl            bulk operation results (the `url` Shopify would give)
  GET  /_sim/discounts                  {"discounts": [{"id": GID, "title", "codes", "status", "endsAt", "usage"}]}
  POST /_sim/discounts                  {"action": "create", "discount": {...seed-style spec}}
                                        {"action": "delete", "id": GID}   (as Shopify admin deleting it)
"""

from __future__ import annotations

import copy
import json
import re
import socket
import threading
import traceback
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from . import API_VERSION
from . import orders as om
from .app import Reply, Simulator
from .state import parse_gid

GRAPHQL_PATH = re.compile(r"^/admin/api/(?P<version>[\w-]+)/graphql\.json$")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, sim: Simulator):
        self.sim = sim
        self.connections: set[socket.socket] = set()
        self.conn_lock = threading.Lock()
        super().__init__(address, _Handler)

    def close_all_connections(self) -> None:
        """Stop serving keep-alive connections too, so a restarted sim never meets the old one."""
        with self.conn_lock:
            for conn in list(self.connections):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, like Shopify
    timeout = 60                    # idle keep-alive connections do not pin threads forever
    server: _Server

    def setup(self):
        super().setup()
        with self.server.conn_lock:
            self.server.connections.add(self.connection)

    def finish(self):
        with self.server.conn_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def log_message(self, fmt, *args):  # quiet: tests and the CLI print their own lines
        pass

    # -- plumbing ------------------------------------------------------------------------
    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status: int, body, headers: dict | None = None) -> None:
        headers = dict(headers or {})
        if isinstance(body, (dict, list)) or (isinstance(body, str) and "Content-Type" not in headers):
            data = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
        elif isinstance(body, bytes):
            data = body
        else:
            data = (body or "").encode()
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        # Close without a byte of response: the client sees "server disconnected".
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- routes --------------------------------------------------------------------------
    def do_POST(self):
        path = urlparse(self.path).path
        m = GRAPHQL_PATH.match(path)
        if m:
            body = self._body()
            try:
                reply: Reply = self.server.sim.handle_graphql(
                    m.group("version"), self.headers.get("X-Shopify-Access-Token"), body)
            except Exception as exc:  # a simulator bug must show up as a 500, not as a network fault
                traceback.print_exc()
                return self._send(500, {"errors": [{"message": f"simulator error: {exc!r}",
                                                    "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]})
            if reply.drop_before or reply.drop_after:
                return self._drop()
            return self._send(reply.status, reply.body, reply.headers)
        if path.startswith("/_sim/"):
            return self._control("POST", path, self._body())
        self._send(404, {"errors": "Not Found"})

    def do_GET(self):
        path = urlparse(self.path).path
        if path.startswith("/_sim/"):
            return self._control("GET", path, b"")
        self._send(404, {"errors": "Not Found"})

    def _control(self, method: str, path: str, raw: bytes) -> None:
        sim = self.server.sim
        try:
            body = json.loads(raw) if raw else {}
            status, out = control(sim, method, path, body, parse_qs(urlparse(self.path).query))
        except (KeyError, ValueError, TypeError) as exc:
            status, out = 400, {"error": str(exc)}
        if isinstance(out, Path):
            return self._send(200, out.read_bytes(), {"Content-Type": "application/jsonl"})
        self._send(status, out)


def control(sim: Simulator, method: str, path: str, body: dict, query: dict):
    """Test-only endpoints. Returns (status, JSON-able body | Path of a file to serve)."""
    st = sim.state
    if path == "/_sim/health":
        return 200, {"ok": True}
    if path == "/_sim/state":
        return 200, st.snapshot()
    if path == "/_sim/adjustments":
        with st.lock:
            rows = list(st.data["adjustments"])
        key = query.get("idempotencyKey", [None])[0]
        return 200, {"adjustments": [r for r in rows if key is None or r["idempotencyKey"] == key]}
    if path == "/_sim/orders" and method == "GET":
        return 200, _orders_listing(sim, query)
    if path == "/_sim/discounts" and method == "GET":
        keep = ("title", "codes", "status", "endsAt", "usage")
        with st.lock:
            return 200, {"discounts": [{"id": f"gid://shopify/DiscountCodeNode/{d['id']}", **{k: d[k] for k in keep}}
                                       for d in st.data["discounts"].values()]}
    if path.startswith("/_sim/bulk/") and method == "GET":
        f = sim.bulk.file(path.rsplit("/", 1)[1])
        return (200, f) if f else (404, {"error": "no such bulk result"})
    if method != "POST" and path != "/_sim/throttle":
        return 405, {"error": "use POST"}
    if path == "/_sim/products":
        return 200, {"product": _products(sim, body)}
    if path == "/_sim/orders":
        return orders_control(sim, body)
    if path == "/_sim/discounts":
        with st.lock:
            if body.get("action", "create") == "create":
                d = st.add_discount(body["discount"])
                out = {"id": f"gid://shopify/DiscountCodeNode/{d['id']}"}
            elif body["action"] == "delete":
                out = {"deleted": st.delete_discount(body["id"])}
            else:
                return 400, {"error": f"unknown discounts action {body['action']!r}"}
            st.save()
        return 200, out
    if path == "/_sim/customers":
        with st.lock:
            cust = st.upsert_customer(body["customer"])
            st.save()
        return 200, {"customer": {"id": f"gid://shopify/Customer/{cust['id']}", **cust}}
    if path == "/_sim/inventory":
        with st.lock:
            lv = st.set_level_quantities(parse_gid(body["inventoryItemId"], "InventoryItem"),
                                         parse_gid(body["locationId"], "Location"), body["quantities"])
            st.save()
            return 200, {n: st.quantity(lv, n) for n in ("available", "committed", "on_hand", "incoming")}
    if path == "/_sim/locations":
        with st.lock:
            if body.get("action", "create") == "create":
                loc = st.add_location(body["location"])
            else:
                loc = st.location(parse_gid(body["id"], "Location"))
                active = body["action"] == "activate"
                loc.update(isActive=active, deactivatedAt=None if active else st.now(), updatedAt=st.now())
            st.save()
        return 200, {"location": {"id": f"gid://shopify/Location/{loc['id']}", **loc}}
    if path == "/_sim/faults":
        return 200, sim.faults.configure(body)
    if path == "/_sim/reset-faults":
        return 200, sim.faults.reset()
    if path == "/_sim/throttle":
        if method == "POST":
            cur = sim.bucket.status()
            sim.bucket.configure(body.get("bucket", cur["maximumAvailable"]), body.get("restore", cur["restoreRate"]),
                                 body.get("currently"))
        return 200, sim.bucket.status()
    if path == "/_sim/clock":
        st.clock.advance(float(body.get("advance_seconds", 0)))
        return 200, {"now": st.now()}
    if path == "/_sim/bulk":
        sim.bulk.duration_s = float(body.get("duration_s", sim.bulk.duration_s))
        sim.bulk.fail_next = bool(body.get("fail_next", sim.bulk.fail_next))
        sim.bulk.no_operation_next = bool(body.get("no_operation_next", sim.bulk.no_operation_next))
        return 200, {"duration_s": sim.bulk.duration_s, "fail_next": sim.bulk.fail_next,
                     "no_operation_next": sim.bulk.no_operation_next}
    if path == "/_sim/config":
        if "served_version" in body:
            sim.served_version = body["served_version"]
        if "read_all_orders" in body:
            sim.read_all_orders = bool(body["read_all_orders"])
        return 200, {"served_version": sim.served_version, "read_all_orders": sim.read_all_orders}
    return 404, {"error": f"unknown control endpoint {path}"}


def _orders_listing(sim: Simulator, query: dict) -> dict:
    st = sim.state
    want_id, want_name = query.get("id", [None])[0], query.get("name", [None])[0]
    with st.lock:
        rows = [om.snapshot(st, o) for o in st.data["orders"].values()]
        api = [om.fulfillment_snapshot(st, f) for f in st.data["fulfillments"].values() if f["origin"] == "api"]
    rows = [r for r in rows if (want_id is None or r["id"] == want_id) and (want_name is None or r["name"] == want_name)]
    if want_id or want_name:
        api = [f for f in api if any(f["orderId"] == r["id"] for r in rows)]
    return {"orders": rows, "apiFulfillments": api}


def orders_control(sim: Simulator, body: dict):
    """Act on orders the way a customer (checkout) or staff in Shopify's admin would."""
    st = sim.state
    action = body.get("action")
    with st.lock:
        # All-or-nothing like Shopify: a refusal found halfway (e.g. no stock for an added line)
        # must not leave the earlier part of the change behind.
        backup = copy.deepcopy(st.data)
        try:
            extra: dict = {}
            if action == "create":
                order = om.create_order(st, body)
            else:
                order = om.find_order(st, body["id"])
                if action == "edit":
                    a = om.edit_order(st, order, body)
                    extra["agreement"] = {"id": f"gid://shopify/SalesAgreement/{a['id']}", "reason": a["reason"]}
                elif action == "cancel":
                    om.cancel_order(st, order, body)
                elif action == "fulfill":
                    extra["fulfillments"] = [om.fulfillment_snapshot(st, f) for f in om.admin_fulfill(st, order, body)]
                elif action == "refund":
                    r = om.refund_order(st, order, body)
                    extra["refund"] = {"id": f"gid://shopify/Refund/{r['id']}", "amount": r["amount"]}
                elif action == "mark_paid":
                    om.mark_paid(st, order)
                elif action in ("hold", "release_hold"):
                    om.set_hold(st, order, body, hold=action == "hold")
                elif action in ("add_tags", "remove_tags"):
                    om.tags_change(st, f"gid://shopify/Order/{order['id']}", body["tags"], add=action == "add_tags")
                else:
                    raise om.OrderError(f"unknown action {action!r}")
            st.save()
            return 200, {"order": om.snapshot(st, order), **extra}
        except (om.OrderError, KeyError, ValueError, TypeError) as exc:
            st.data.clear()
            st.data.update(backup)
            return 400, {"error": str(exc.args[0]) if exc.args else repr(exc)}


def _products(sim: Simulator, body: dict) -> dict:
    st = sim.state
    action = body.get("action", "create")
    with st.lock:
        if action == "create":
            product = st.create_product(body["product"])
        else:
            num = parse_gid(body["id"], "Product")
            if action == "update":
                product = st.update_product(num, body.get("product", {}))
            elif action in ("archive", "unarchive"):
                product = st.update_product(num, {"status": "ARCHIVED" if action == "archive" else "ACTIVE"})
            elif action == "delete":
                st.delete_product(num)
                product = st.data["products"][str(num)]
            else:
                raise ValueError(f"unknown action {action!r}")
        st.save()
        return next(p for p in st.snapshot()["products"] if p["id"] == f"gid://shopify/Product/{product['id']}")


@dataclass
class SimHandle:
    """A running simulator. `url` is the base (http://127.0.0.1:PORT)."""
    url: str
    port: int
    token: str
    data_dir: Path
    sim: Simulator
    _server: _Server
    _thread: threading.Thread
    api_version: str = API_VERSION

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/admin/api/{self.api_version}/graphql.json"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.close_all_connections()
        self._server.server_close()
        self._thread.join(timeout=5)
        self.sim.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def start(port: int = 0, data_dir=None, token: str = "shpat_test", seed_products: int = 0,
          bucket: float = 2000, restore: float = 100, **options) -> SimHandle:
    """Start the simulator in a background thread. options: served_version, bulk_seconds, faults (dict)."""
    sim = Simulator(data_dir=data_dir, token=token, seed_products=seed_products, bucket=bucket,
                    restore=restore, **options)
    server = _Server(("127.0.0.1", port), sim)
    actual_port = server.server_address[1]
    sim.base_url = f"http://127.0.0.1:{actual_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name=f"shopify-sim-{actual_port}", daemon=True)
    thread.start()
    return SimHandle(url=sim.base_url, port=actual_port, token=token, data_dir=sim.state.data_dir,
                     sim=sim, _server=server, _thread=thread)
