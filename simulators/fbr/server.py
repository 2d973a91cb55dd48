"""HTTP front of the fake FBR: routing, fault injection, the /_sim control API.

Bound to 127.0.0.1 only. Start it in-process with ``start()`` or as
``pos-sim fbr --port N``.

FBR surface (what the POS/sync agent talks to):
    POST /FBR/v1/api/Live/PostData                 cloud, sandbox token, *test* numbers
    POST /imsp/v1/api/Live/PostData                cloud, production token
    POST /api/IMSFiscal/GetInvoiceNumberByModel    local fiscal component, no auth
    GET  /api/IMSFiscal/Get                        local component health check
Test-only surface, kept under /_sim so a client cannot reach it by accident:
    GET  /_sim/invoices[?POSID=&USIN=]   GET /_sim/requests   GET /_sim/config
    POST /_sim/config   GET|POST /_sim/faults   POST /_sim/reset-faults   POST /_sim/reset
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import responses
from .faults import FaultConfig, FaultInjector
from .ims import LOCAL, PRODUCTION, SANDBOX, Ims, Settings
from .state import InvoiceStore

HOST = "127.0.0.1"
CLOUD_PATHS = {
    "/FBR/v1/api/Live/PostData": SANDBOX,
    "/imsp/v1/api/Live/PostData": PRODUCTION,
}
# The local component is IIS/ASP.NET: paths match case-insensitively (also written /get).
LOCAL_INVOICE_PATH = "/api/imsfiscal/getinvoicenumberbymodel"
LOCAL_HEALTH_PATH = "/api/imsfiscal/get"
MAX_BODY = 5 * 1024 * 1024


class _Server(ThreadingHTTPServer):
    """Remembers open connections so stop() can cut them: otherwise a client's
    keep-alive socket would go on talking to a stopped simulator's thread."""

    daemon_threads = True

    def __init__(self, address, handler, app: "App") -> None:
        self.app = app
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request, client_address) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def cut_connections(self) -> None:
        with self._open_lock:
            for sock in list(self._open):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@dataclass
class App:
    ims: Ims
    faults: FaultInjector
    stopping: threading.Event


class Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, like IIS and the WSO2 gateway
    # Headers and body go out in two writes; without TCP_NODELAY, Nagle plus the
    # client's delayed ACK add ~40 ms to every keep-alive request.
    disable_nagle_algorithm = True
    server_version = "Microsoft-IIS/10.0"
    sys_version = ""
    quiet = True

    def log_message(self, format: str, *args: Any) -> None:
        # Default logging prints only the request line (never headers, so never
        # the token); still off by default to keep test output clean.
        if not self.quiet:
            super().log_message(format, *args)

    @property
    def app(self) -> App:
        return self.server.app

    # -- plumbing -------------------------------------------------------
    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, MAX_BODY)) if length > 0 else b""

    def _send(self, response: tuple[int, str, bytes]) -> None:
        status, content_type, body = response
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, status: int, body: Any) -> None:
        self._send((status, responses.JSON, json.dumps(body, ensure_ascii=False).encode()))

    def _drop(self) -> None:
        """Close the socket without a single byte of response."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- routing --------------------------------------------------------
    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        path = url.path
        if path.startswith("/_sim/"):
            self._control(method, path, parse_qs(url.query))
            return
        self.app.ims.store.count_request(path)
        lower = path.lower()
        if path in CLOUD_PATHS:
            if method != "POST":
                self._body()
                self._send(responses.gateway_fault(900906, 405))
            else:
                self._invoice(CLOUD_PATHS[path], path)
        elif lower == LOCAL_INVOICE_PATH and method == "POST":
            self._invoice(LOCAL, path)
        elif lower == LOCAL_HEALTH_PATH and method == "GET":
            self._send(responses.health(self.headers.get("Accept", "")))
        else:
            self._body()
            self._send(responses.gateway_fault(900906, 404))

    def _invoice(self, environment: str, path: str) -> None:
        body = self._body()
        plan = self.app.faults.plan()
        wait = self.app.stopping.wait  # returns True when the simulator is stopping
        if plan.latency_s and wait(plan.latency_s):
            return self._drop()
        if plan.drop:
            return self._drop()
        if plan.error_status:
            return self._send(responses.html_error(plan.error_status))
        if plan.hang_s and not plan.hang_after_store and wait(plan.hang_s):
            return self._drop()  # stopped mid-hang: store nothing

        response = self.app.ims.post_invoice(environment, path, self.headers.get("Authorization"),
                                             self.headers.get("Content-Type", ""), body)
        if plan.no_response:
            return self._drop()  # stored and numbered, but the client never hears
        if plan.error_after_store:
            return self._send(responses.html_error(plan.error_after_store))  # numbered; the gateway says 5xx
        if plan.hang_s and plan.hang_after_store and wait(plan.hang_s):
            return self._drop()
        self._send(response)

    # -- /_sim ----------------------------------------------------------
    def _control(self, method: str, path: str, query: dict[str, list[str]]) -> None:
        body = self._body()
        app = self.app
        try:
            data = json.loads(body) if body.strip() else {}
        except ValueError:
            return self._send_json(400, {"error": "body must be JSON"})
        try:
            if (method, path) == ("GET", "/_sim/invoices"):
                posid = query.get("POSID", [None])[0]
                invoices = app.ims.store.invoices(
                    posid=int(posid) if posid is not None else None, usin=query.get("USIN", [None])[0])
                return self._send_json(200, {"count": len(invoices), "invoices": invoices})
            if (method, path) == ("GET", "/_sim/requests"):
                return self._send_json(200, app.ims.store.request_counts())
            if (method, path) == ("GET", "/_sim/config"):
                return self._send_json(200, app.ims.settings.public())
            if (method, path) == ("POST", "/_sim/config"):
                return self._send_json(200, app.ims.configure(data).public())
            if (method, path) == ("GET", "/_sim/faults"):
                return self._send_json(200, app.faults.status())
            if (method, path) == ("POST", "/_sim/faults"):
                app.faults.configure(FaultConfig.from_json(data))
                return self._send_json(200, app.faults.status())
            if (method, path) == ("POST", "/_sim/reset-faults"):
                app.faults.configure(FaultConfig())
                return self._send_json(200, app.faults.status())
            if (method, path) == ("POST", "/_sim/reset"):
                app.ims.store.clear()
                app.faults.configure(FaultConfig())
                return self._send_json(200, {"ok": True})
        except (ValueError, TypeError) as exc:
            return self._send_json(400, {"error": str(exc)})
        self._send_json(404, {"error": f"no control endpoint {method} {path}"})


class ServerHandle:
    """A running simulator. ``url`` is ``http://127.0.0.1:PORT``."""

    def __init__(self, server: _Server, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self.port: int = server.server_address[1]
        self.url = f"http://{HOST}:{self.port}"
        self.app = server.app

    def stop(self) -> None:
        self.app.stopping.set()  # wakes hanging/latency waits
        self._server.shutdown()
        self._server.cut_connections()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "ServerHandle":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(port: int = 0, token: str = "fbr-test-token", mode: str = "strict",
          duplicate: str = "first", data_dir: str | None = None, *,
          prod_token: str = "fbr-prod-token", faults: FaultConfig | dict | None = None,
          verbose: bool = False, **settings: Any) -> ServerHandle:
    """Start the simulator on 127.0.0.1 in a background thread and return a handle.

    Extra keyword arguments are ``Settings`` fields (component_env, check_credit_refs,
    response_style, bad_body, foreign_tokens, retired_posids, tax_tolerance).
    """
    config = Settings(mode=mode, duplicate=duplicate, token=token, prod_token=prod_token).updated(settings)
    if isinstance(faults, dict):
        faults = FaultConfig.from_json(faults)
    app = App(ims=Ims(config, InvoiceStore(data_dir)), faults=FaultInjector(faults),
              stopping=threading.Event())
    handler = type("BoundHandler", (Handler,), {"quiet": not verbose})
    server = _Server((HOST, port), handler, app)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name=f"fbr-sim-{server.server_address[1]}", daemon=True)
    thread.start()
    return ServerHandle(server, thread)
