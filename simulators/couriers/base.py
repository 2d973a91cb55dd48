"""What every courier simulator shares: parcels, faults, the /_sim control API, the HTTP plumbing.

Faults are queued per operation (book, track, cancel, lookup, label, cities) and consumed one per
request, so a test says exactly what happens to the next booking:

    drop          close the connection before reading: nothing was booked
    error_500     answer 500 without doing anything
    booked_500    book the parcel, then answer 500 (the worst honest server)
    lose_answer   book the parcel, then close the connection without a byte
    timeout       book the parcel, but answer only after `delay` seconds (the client gave up)

/_sim endpoints (JSON):
    POST /_sim/faults   {"op": "book", "fault": "lose_answer", "times": 1, "delay": 3}
    POST /_sim/advance  {"tracking_number": "...", "status": "<the courier's status words>"}
    POST /_sim/pay      {"tracking_number": "...", "collected": "2599", "charges": "150", "paid": "2449"}
    GET  /_sim/parcels  every parcel, booked or cancelled     GET /_sim/requests  counts per op
    POST /_sim/reset
"""
from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

HOST = "127.0.0.1"
FAULTS = ("drop", "error_500", "booked_500", "lose_answer", "timeout")
MAX_BODY = 1024 * 1024


@dataclass
class Parcel:
    tracking_number: str
    reference: str
    city: str
    cod: str                     # rupees as the courier received them
    consignee: str
    phone: str
    address: str
    weight: str
    pieces: str
    booked_at: str
    status: str
    history: list = field(default_factory=list)
    cancelled: bool = False
    payment: dict | None = None      # set by /_sim/pay: what the courier paid over for it

    def public(self) -> dict:
        return dict(self.__dict__)


class CourierState:
    def __init__(self, prefix: str, first_status: str):
        self.prefix, self.first_status = prefix, first_status
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.parcels: dict[str, Parcel] = {}
            self.faults: dict[str, list[dict]] = {}
            self.requests: dict[str, int] = {}
            self.seq = 0

    def book(self, **fields) -> Parcel:
        with self.lock:
            self.seq += 1
            number = f"{self.prefix}{self.seq:09d}"
            now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
            p = Parcel(tracking_number=number, booked_at=now, status=self.first_status,
                       history=[{"status": self.first_status, "at": now}], **fields)
            self.parcels[number] = p
            return p

    def advance(self, number: str, status: str) -> Parcel:
        with self.lock:
            p = self.parcels.get(number)
            if p is None:
                raise ValueError(f"no parcel {number}")
            now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
            p.status = status
            p.history.append({"status": status, "at": now})
            return p

    def pay(self, number: str, collected: str, charges: str, paid: str) -> Parcel:
        with self.lock:
            p = self.parcels.get(number)
            if p is None:
                raise ValueError(f"no parcel {number}")
            p.payment = {"collected": str(collected), "charges": str(charges), "paid": str(paid),
                         "reference": f"CHQ-{len(self.parcels):05d}"}
            return p

    def by_reference(self, reference: str) -> list[Parcel]:
        return [p for p in self.parcels.values() if p.reference == reference]

    def add_fault(self, op: str, fault: str, times: int = 1, delay: float = 2.0) -> None:
        if fault not in FAULTS:
            raise ValueError(f"fault must be one of {', '.join(FAULTS)}")
        with self.lock:
            self.faults.setdefault(op, []).extend([{"fault": fault, "delay": float(delay)}] * int(times))

    def next_fault(self, op: str) -> dict | None:
        with self.lock:
            self.requests[op] = self.requests.get(op, 0) + 1
            queue = self.faults.get(op) or []
            return queue.pop(0) if queue else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, handler, state: CourierState, credentials: dict):
        self.state, self.credentials = state, credentials
        self.stopping = threading.Event()
        super().__init__(address, handler)


class Handler(BaseHTTPRequestHandler):
    """Subclasses set ROUTES: {(method, path or prefix): (op, method name)}."""
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    ROUTES: dict[tuple[str, str], tuple[str, str]] = {}
    BOOKS = ("book",)     # operations whose fault may still do the work

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def state(self) -> CourierState:
        return self.server.state

    def do_GET(self):
        self._route("GET")

    def do_POST(self):
        self._route("POST")

    def do_PUT(self):
        self._route("PUT")

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(n, MAX_BODY)) if n > 0 else b""

    def send_json(self, status: int, body: Any) -> None:
        self.send_bytes(status, "application/json; charset=utf-8", json.dumps(body).encode())

    def send_bytes(self, status: int, ctype: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def form(self, raw: bytes) -> dict:
        """Leopards takes form fields or JSON; PostEx JSON. Values as strings."""
        ctype = self.headers.get("Content-Type", "")
        if "json" in ctype:
            data = json.loads(raw or b"{}")
            return data if isinstance(data, dict) else {}
        return {k: v[0] for k, v in parse_qs(raw.decode()).items()}

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        if url.path.startswith("/_sim/"):
            return self._control(method, url.path)
        route = self.ROUTES.get((method, url.path))
        tail = ""
        if route is None:
            for (m, prefix), r in self.ROUTES.items():
                if m == method and prefix.endswith("/") and url.path.startswith(prefix) and url.path != prefix:
                    route, tail = r, url.path[len(prefix):]
                    break
        if route is None:
            self._body()
            return self.send_json(404, {"error": f"no such endpoint {method} {url.path}"})
        op, name = route
        fault = self.state.next_fault(op)
        if fault and fault["fault"] == "drop":
            return self._drop()
        raw = self._body()
        if fault and fault["fault"] == "error_500":
            return self.send_bytes(500, "text/html", b"<html><body>500 Internal Server Error</body></html>")
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        status, body = getattr(self, name)(raw, query, tail)
        if fault:
            kind = fault["fault"]
            if kind == "booked_500":
                return self.send_bytes(500, "text/html", b"<html><body>500 Internal Server Error</body></html>")
            if kind == "lose_answer":
                return self._drop()
            if kind == "timeout" and self.server.stopping.wait(fault["delay"]):
                return self._drop()
        if isinstance(body, bytes):
            return self.send_bytes(status, "application/pdf", body)
        self.send_json(status, body)

    def _control(self, method: str, path: str) -> None:
        raw = self._body()
        try:
            data = json.loads(raw) if raw.strip() else {}
            if (method, path) == ("POST", "/_sim/faults"):
                self.state.add_fault(data["op"], data["fault"], data.get("times", 1), data.get("delay", 2.0))
                return self.send_json(200, {"faults": self.state.faults})
            if (method, path) == ("POST", "/_sim/advance"):
                p = self.state.advance(data["tracking_number"], data["status"])
                return self.send_json(200, p.public())
            if (method, path) == ("POST", "/_sim/pay"):
                p = self.state.pay(data["tracking_number"], data["collected"], data.get("charges", "0"),
                                   data["paid"])
                return self.send_json(200, p.public())
            if (method, path) == ("GET", "/_sim/parcels"):
                return self.send_json(200, {"parcels": [p.public() for p in self.state.parcels.values()]})
            if (method, path) == ("GET", "/_sim/requests"):
                return self.send_json(200, dict(self.state.requests))
            if (method, path) == ("POST", "/_sim/reset"):
                self.state.reset()
                return self.send_json(200, {"ok": True})
        except (ValueError, KeyError, TypeError) as exc:
            return self.send_json(400, {"error": str(exc)})
        self.send_json(404, {"error": f"no control endpoint {method} {path}"})


def tiny_pdf(lines: list[str]) -> bytes:
    """A one-page PDF with a few lines of text: the courier's airway bill, as far as a test cares."""
    text = " ".join(f"({s.replace('(', '[').replace(')', ']')}) Tj T*" for s in lines)
    stream = f"BT /F1 11 Tf 14 TL 40 780 Td {text} ET".encode()
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 420 842] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, o in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


class ServerHandle:
    def __init__(self, server: _Server, thread: threading.Thread):
        self._server, self._thread = server, thread
        self.port = server.server_address[1]
        self.url = f"http://{HOST}:{self.port}"
        self.state = server.state

    def stop(self) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def serve(handler: type[Handler], state: CourierState, credentials: dict, port: int = 0) -> ServerHandle:
    server = _Server((HOST, port), handler, state, credentials)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                              name=f"courier-sim-{server.server_address[1]}")
    thread.start()
    return ServerHandle(server, thread)
