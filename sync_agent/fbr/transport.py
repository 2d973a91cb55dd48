"""One request to FBR IMS, and what its outcome means.

Outcomes are sorted by what they tell us about whether FBR processed the invoice:
ACCEPTED and REJECTED are answers from IMS; NOT_SENT means the answer PROVES IMS never processed
it (no connection could be made; the gateway refused it before routing: a WSO2 fault such as a
bad token, HTTP 401/403, 404/405 for a wrong address, 429 throttling); UNCERTAIN is everything
else: a timeout or a dropped connection after the body went out, and any 5xx page (a 502/503/504
from a gateway or load balancer can come after IMS numbered the invoice). docs/fbr.md lists them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import httpx

ENDPOINTS = {
    "sandbox": "https://esp.fbr.gov.pk:8244/FBR/v1/api/Live/PostData",
    "production": "https://gw.fbr.gov.pk/imsp/v1/api/Live/PostData",
    "local": "http://localhost:8524/api/IMSFiscal/GetInvoiceNumberByModel",
}
GATEWAY_FAULTS = {
    900901: "FBR refused the token (invalid, expired or revoked): check fbr.token / fbr.token_file",
    900902: "FBR received no token: set fbr.token or fbr.token_file",
    900908: "FBR refused this token for this API or environment (a sandbox token on production, or the "
            "reverse, or an address not allowed): check fbr.mode and the token",
    900910: "FBR's token lacks the scope for POS invoicing: ask PRAL for the POS API",
}
ACCEPTED, REJECTED, NOT_SENT, UNCERTAIN = "accepted", "rejected", "not_sent", "uncertain"
# Answers without an invoice result that prove the gateway stopped the request before IMS: it
# authenticates (401/403), routes (404/405) and throttles (429) before forwarding anything.
PROVES_NOT_PROCESSED = frozenset({401, 403, 404, 405, 429})


@dataclass(frozen=True)
class Outcome:
    kind: str
    message: str = ""
    number: str | None = None
    response: dict | None = None
    config_problem: bool = False


class FbrTransport:
    def __init__(self, mode: str, endpoint: str = "", token: str = "", *, timeout_s: float = 10.0,
                 client: httpx.Client | None = None):
        if mode not in ENDPOINTS:
            raise ValueError(f"FBR mode {mode!r} does not send invoices")
        self.mode = mode
        self.url = endpoint or ENDPOINTS[mode]
        self._token = token
        self._client = client or httpx.Client(
            timeout=httpx.Timeout(connect=5.0, read=timeout_s, write=10.0, pool=5.0), verify=True)

    @property
    def test_mode(self) -> bool:
        return self.mode == "sandbox"

    def close(self) -> None:
        self._client.close()

    def post(self, body: str) -> Outcome:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.mode != "local":
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            response = self._client.post(self.url, content=body.encode("utf-8"), headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # DNS failures, refused connections and TLS handshake failures all end here,
            # before a byte of the invoice was sent.
            return Outcome(NOT_SENT, f"FBR not reachable: {_describe(exc)}")
        except httpx.TransportError as exc:
            return Outcome(UNCERTAIN, f"no answer from FBR after the invoice was sent ({_describe(exc)}); "
                                      "it may or may not have been recorded")
        return classify(response.status_code, response.content)

    def health(self) -> Outcome:
        """Is FBR there and is the token accepted, without creating an invoice: the local
        component's health check, or an empty invoice on the cloud path, which the gateway
        authenticates and IMS then refuses as invalid data."""
        try:
            if self.mode == "local":
                r = self._client.get(self.url.rsplit("/", 1)[0] + "/Get")
                if r.status_code == 200 and "Service is responding" in r.text:
                    return Outcome(ACCEPTED, "fiscal component is responding")
                return Outcome(REJECTED, f"fiscal component answered HTTP {r.status_code}")
            r = self._client.post(self.url, content=b"{}", headers={
                "Authorization": f"Bearer {self._token}", "Content-Type": "application/json"})
        except httpx.TransportError as exc:
            return Outcome(NOT_SENT, f"FBR not reachable: {_describe(exc)}")
        fault = _fault(r.content)
        if fault in GATEWAY_FAULTS:
            return Outcome(REJECTED, GATEWAY_FAULTS[fault], config_problem=True)
        return Outcome(ACCEPTED, "FBR gateway accepted the token")


def classify(status: int, content: bytes) -> Outcome:
    data = _json(content)
    fault = _fault(content)
    if fault is not None:
        message = GATEWAY_FAULTS.get(fault, f"FBR gateway fault {fault}")
        return Outcome(NOT_SENT, f"{message} ({fault})", response=data, config_problem=fault in GATEWAY_FAULTS)
    if not isinstance(data, dict) or not ({"Code", "InvoiceNumber", "FBRInvoiceNumber"} & set(data)):
        # A proxy's error page or an empty body: IMS itself never saw or answered the invoice.
        snippet = content[:200].decode("utf-8", "replace").strip()
        if status in PROVES_NOT_PROCESSED:
            return Outcome(NOT_SENT, f"FBR gateway answered HTTP {status} without an invoice result: {snippet[:120]}")
        if 500 <= status <= 599:
            return Outcome(UNCERTAIN, f"FBR's gateway answered HTTP {status} after the invoice was sent; FBR may "
                                      f"have numbered it: {snippet[:100]}")
        return Outcome(UNCERTAIN, f"FBR answered HTTP {status} with something that is not an invoice result: "
                                  f"{snippet[:120]}")
    code = str(data.get("Code", "")).strip()
    number = data.get("InvoiceNumber", data.get("FBRInvoiceNumber"))
    number = None if number is None else str(number).strip()
    errors = data.get("Errors")
    if 200 <= status < 300 and code == "100" and number and number != "Not Available" and not errors:
        return Outcome(ACCEPTED, number=number, response=data)
    reason = data.get("Response") or "rejected"
    detail = f": {errors}" if errors else ""
    return Outcome(REJECTED, f"FBR rejected the invoice (code {code or '?'}): {reason}{detail}", response=data)


def _json(content: bytes):
    try:
        data = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if isinstance(data, str):  # some gateways wrap the JSON in a JSON string
        try:
            data = json.loads(data)
        except json.JSONDecodeError:
            return None
    return data


def _fault(content: bytes) -> int | None:
    data = _json(content)
    if isinstance(data, dict) and isinstance(data.get("fault"), dict):
        try:
            return int(data["fault"].get("code"))
        except (TypeError, ValueError):
            return -1
    return None


def _describe(exc: Exception) -> str:
    # httpx messages name the URL at most; never the headers, so the token cannot leak here.
    text = str(exc) or type(exc).__name__
    return text[:160]
