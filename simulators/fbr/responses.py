"""Response bodies, copied from the shapes in reference fbr-ims.md §1.8 and §5.2/5.4.

Every function returns ``(http_status, content_type, body_bytes)`` so the
HTTP layer never builds an FBR body itself.
"""

from __future__ import annotations

import json
from typing import Any

JSON = "application/json; charset=utf-8"
HTML = "text/html; charset=utf-8"
XML = "application/xml; charset=utf-8"

SUCCESS_TEXT = "Fiscal Invoice Number generated successfully."
LEGACY_SUCCESS_TEXT = "Invoice received successfully"  # older KB / cloud Web API sample
REJECTED_TEXT = "Invalid data received"
NOT_AVAILABLE = "Not Available"

# Variants of the success body seen in the wild, switchable so the client's
# parser is really exercised (§5.4):
#   standard    {"InvoiceNumber": "...", "Code": "100", "Response": ..., "Errors": null}
#   legacy      {"FBRInvoiceNumber": <bare JSON number when all digits>, "Response": "Invoice received successfully", "Code": "100"}
#   code_int    standard, but "Code": 100 as a number (rejections too)
#   json_string the standard body serialized, then sent as a JSON string (rejections too)
RESPONSE_STYLES = ("standard", "legacy", "code_int", "json_string")

# WSO2 API Manager gateway faults (§1.8, §5.2). Never include the token.
GATEWAY_FAULTS = {
    900902: (401, "Missing Credentials",
             "Make sure your API invocation call has a header: 'Authorization: Bearer ACCESS_TOKEN'"),
    900901: (401, "Invalid Credentials",
             "Access failure for API: /FBR/v1, version: v1 status: (900901) - Invalid Credentials. "
             "Make sure you have provided the correct security credentials"),
    900908: (403, "Resource forbidden",
             "Access failure for API: v1, version: v1 status: (900908) - Resource forbidden"),
    900906: (405, "No matching resource found for given API Request",
             "The requested resource is not available."),
}

_HTML_ERRORS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def _json(status: int, body: Any) -> tuple[int, str, bytes]:
    return status, JSON, json.dumps(body, ensure_ascii=False).encode("utf-8")


def _styled(body: dict[str, Any], style: str) -> tuple[int, str, bytes]:
    if style == "code_int":
        body = {**body, "Code": int(body["Code"])}
    elif style == "json_string":
        return _json(200, json.dumps(body, ensure_ascii=False))
    return _json(200, body)


def success(fiscal_number: str, style: str = "standard") -> tuple[int, str, bytes]:
    if style == "legacy":
        # The old sample sends the number bare; only possible when it is all digits
        # (test numbers carry "*test*", so those stay strings).
        value: Any = int(fiscal_number) if fiscal_number.isdigit() else fiscal_number
        return _json(200, {"FBRInvoiceNumber": value, "Response": LEGACY_SUCCESS_TEXT, "Code": "100"})
    return _styled({"InvoiceNumber": fiscal_number, "Code": "100",
                    "Response": SUCCESS_TEXT, "Errors": None}, style)


def rejection(errors: list[str] | str, *, code: str = "102", response: str = REJECTED_TEXT,
              style: str = "standard") -> tuple[int, str, bytes]:
    """IMS rejects with HTTP 200 and Code != "100"; InvoiceNumber is "Not Available"."""
    text = errors if isinstance(errors, str) else "; ".join(errors)
    return _styled({"InvoiceNumber": NOT_AVAILABLE, "Code": code,
                    "Response": response, "Errors": text}, style if style != "legacy" else "standard")


def bad_request() -> tuple[int, str, bytes]:
    """ASP.NET Web API's answer to a body it cannot bind (used when bad_body="400")."""
    return _json(400, {"Message": "The request is invalid."})


def gateway_fault(code: int, status: int | None = None) -> tuple[int, str, bytes]:
    default_status, message, description = GATEWAY_FAULTS[code]
    return _json(status or default_status,
                 {"fault": {"code": code, "message": message, "description": description}})


def html_error(status: int) -> tuple[int, str, bytes]:
    """What a proxy/load balancer in front of IMS sends: HTML, not JSON."""
    reason = _HTML_ERRORS.get(status, "Error")
    page = (f"<html><head><title>{status} {reason}</title></head><body>"
            f"<center><h1>{status} {reason}</h1></center><hr><center>nginx</center></body></html>")
    return status, HTML, page.encode("utf-8")


def health(accept: str) -> tuple[int, str, bytes]:
    """Local component health check; ASP.NET content negotiation picks XML on request."""
    if "xml" in accept.lower() and "json" not in accept.lower():
        body = ('<ArrayOfstring xmlns:i="http://www.w3.org/2001/XMLSchema-instance" '
                'xmlns="http://schemas.microsoft.com/2003/10/Serialization/Arrays">'
                "<string>Service is responding</string></ArrayOfstring>")
        return 200, XML, body.encode("utf-8")
    return _json(200, ["Service is responding"])
