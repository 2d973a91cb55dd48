"""The fake IMS service itself: authenticate, validate, apply the duplicate-USIN
policy, check credit notes against their originals, issue a fiscal number.

HTTP-agnostic: ``Ims.post_invoice`` takes the bits of a request and returns
``(status, content_type, body)`` built by ``responses``.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from . import responses
from .state import PKT, InvoiceStore
from .validation import DEFAULT_TOLERANCE, MODES, STRICT, validate

SANDBOX, PRODUCTION, LOCAL = "sandbox", "production", "local"
DUPLICATE_POLICIES = ("first", "reject", "new")
COMPONENT_ENVS = ("test", "production")
BAD_BODY_ANSWERS = ("102", "400")

Response = tuple[int, str, bytes]


@dataclass
class Settings:
    """Runtime-changeable behaviour (``POST /_sim/config``)."""

    mode: str = STRICT
    # first: same POSID+USIN and same body -> the first fiscal number again, nothing new stored
    # reject: a Code 102 rejection; new: a second fiscal number (a duplicate legal invoice)
    duplicate: str = "first"
    token: str = "fbr-test-token"  # valid on the sandbox path only
    prod_token: str = "fbr-prod-token"  # valid on the production path only
    # Tokens the gateway knows but that belong to another API (e.g. DI): 900908.
    foreign_tokens: list[str] = field(default_factory=list)
    # The local component is installed in Test or Production mode; Test numbers end in *test*.
    component_env: str = "test"
    # Strict mode only: RefUSIN must name an accepted invoice of the same POSID and
    # credits must not exceed it. Unconfirmed for real IMS, on by default (§5.3).
    check_credit_refs: bool = True
    tax_tolerance: Decimal = DEFAULT_TOLERANCE
    response_style: str = "standard"
    # Non-JSON / malformed body: "102" = HTTP 200 IMS rejection, "400" = HTTP 400. Unknown which is real.
    bad_body: str = "102"
    # POSIDs for which the cloud API answers Code 112 "retired, use the fiscal device".
    retired_posids: list[int] = field(default_factory=list)

    _SECRET = ("token", "prod_token", "foreign_tokens")

    def updated(self, changes: Any) -> "Settings":
        """A copy with ``changes`` (a JSON object) applied; raises ValueError."""
        if not isinstance(changes, dict):
            raise ValueError("config must be a JSON object")
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown config keys {unknown}; known: {sorted(known)}")
        changes = dict(changes)
        if "tax_tolerance" in changes:
            try:
                changes["tax_tolerance"] = Decimal(str(changes["tax_tolerance"]))
            except InvalidOperation:
                raise ValueError("tax_tolerance must be a number") from None
        new = replace(self, **changes)
        new.check()
        return new

    def check(self) -> None:
        choices = {"mode": MODES, "duplicate": DUPLICATE_POLICIES, "component_env": COMPONENT_ENVS,
                   "response_style": responses.RESPONSE_STYLES, "bad_body": BAD_BODY_ANSWERS}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {list(allowed)}")
        for name in ("token", "prod_token"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"{name} must be a non-empty string")
        if not isinstance(self.foreign_tokens, list) or not all(isinstance(t, str) for t in self.foreign_tokens):
            raise ValueError("foreign_tokens must be a list of strings")
        if not isinstance(self.retired_posids, list) or not all(
                isinstance(p, int) and not isinstance(p, bool) for p in self.retired_posids):
            raise ValueError("retired_posids must be a list of integers")
        if not isinstance(self.check_credit_refs, bool):
            raise ValueError("check_credit_refs must be true or false")
        if not self.tax_tolerance.is_finite() or self.tax_tolerance < 0:
            raise ValueError("tax_tolerance must be a non-negative number")

    def public(self) -> dict[str, Any]:
        """The settings as JSON, without any token (the fake never echoes tokens)."""
        view = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in self._SECRET}
        view["tax_tolerance"] = str(self.tax_tolerance)
        view["foreign_token_count"] = len(self.foreign_tokens)
        return view


class Ims:
    def __init__(self, settings: Settings, store: InvoiceStore) -> None:
        settings.check()
        self._settings = settings
        self._settings_lock = threading.Lock()
        self.store = store

    @property
    def settings(self) -> Settings:
        with self._settings_lock:
            return self._settings

    def configure(self, changes: Any) -> Settings:
        with self._settings_lock:
            self._settings = self._settings.updated(changes)
            return self._settings

    # -- the gateway ----------------------------------------------------
    @staticmethod
    def authenticate(settings: Settings, environment: str, authorization: str | None) -> Response | None:
        """WSO2 gateway check for the cloud paths; None means the token is good."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return responses.gateway_fault(900902)
        valid = settings.token if environment == SANDBOX else settings.prod_token
        if token == valid:
            return None
        # Known to the gateway but for another environment or API (§1.2, §4).
        if token in (settings.token, settings.prod_token) or token in settings.foreign_tokens:
            return responses.gateway_fault(900908)
        return responses.gateway_fault(900901)

    # -- an invoice -----------------------------------------------------
    def post_invoice(self, environment: str, path: str, authorization: str | None,
                     content_type: str, body: bytes) -> Response:
        s = self.settings  # one consistent snapshot for the whole request
        if environment != LOCAL:
            fault = self.authenticate(s, environment, authorization)
            if fault is not None:
                return fault

        payload, plain = self._parse(content_type, body)
        if payload is None:
            if s.bad_body == "400":
                return responses.bad_request()
            return responses.rejection("body: must be a JSON object (Content-Type: application/json)",
                                       style=s.response_style)

        invoice, errors = validate(payload, s.mode, s.tax_tolerance)
        if errors:
            return responses.rejection(errors, style=s.response_style)
        if environment != LOCAL and invoice.posid in s.retired_posids:
            return responses.rejection(
                f"POSID {invoice.posid}: cloud PostData is retired for this POS; use the fiscal component",
                code="112", response="Invoice not accepted", style=s.response_style)

        with self.store.transaction() as store:
            first = store.find(invoice.posid, invoice.usin)
            if first is not None and s.duplicate != "new":
                return self._repeat(s, store, first, plain)
            if s.mode == STRICT and s.check_credit_refs and invoice.invoice_type in (2, 3):
                problem = self._reference_problem(s, store, invoice)
                if problem:
                    return responses.rejection(problem, style=s.response_style)

            now = datetime.now(PKT)
            test = environment == SANDBOX or (environment == LOCAL and s.component_env == "test")
            number = store.issue_number(invoice.posid, now, test=test)
            store.add({
                "InvoiceNumber": number,
                "POSID": invoice.posid,
                "USIN": invoice.usin,
                "InvoiceType": invoice.invoice_type,
                "RefUSIN": invoice.ref_usin,
                "DateTime": invoice.date_time.strftime("%Y-%m-%d %H:%M:%S"),
                "TotalBillAmount": str(invoice.total_bill_amount),
                "received_at": now.isoformat(timespec="milliseconds"),
                "environment": environment,
                "path": path,
                "duplicate_of": first["InvoiceNumber"] if first else None,
                "repeats": 0,
                "payload": plain,
            })
        return responses.success(number, s.response_style)

    @staticmethod
    def _parse(content_type: str, body: bytes) -> tuple[Any, Any]:
        """(payload with Decimal numbers for validation, plain payload for storage),
        or (None, None) when the body is not a JSON object."""
        if "multipart/" in content_type or "x-www-form-urlencoded" in content_type:
            return None, None
        try:
            text = body.decode("utf-8-sig")
            # Decimal for every non-integer number: money is never a float here.
            payload = json.loads(text, parse_float=Decimal, parse_constant=Decimal)
            # The stored copy uses plain JSON numbers; it is only echoed back, never summed.
            plain = json.loads(text)
        except (UnicodeDecodeError, ValueError):
            return None, None
        if not isinstance(payload, dict):
            return None, None
        return payload, plain

    @staticmethod
    def _repeat(s: Settings, store: InvoiceStore, first: dict[str, Any], plain: Any) -> Response:
        where = f"USIN {first['USIN']!r} for POSID {first['POSID']}"
        if s.duplicate == "reject":
            return responses.rejection(f"USIN: duplicate, {where} was already fiscalized",
                                       style=s.response_style)
        # "first": idempotent only for the very same invoice; a repeat USIN with a
        # different body is always flagged (§5.5).
        if first["payload"] != plain:
            return responses.rejection(f"USIN: {where} was already used for a different invoice",
                                       style=s.response_style)
        store.mark_repeat(first)
        return responses.success(first["InvoiceNumber"], s.response_style)

    @staticmethod
    def _reference_problem(s: Settings, store: InvoiceStore, invoice) -> str | None:
        original = store.find(invoice.posid, invoice.ref_usin)
        if original is None or original["InvoiceType"] != 1:
            return (f"RefUSIN: no sale with USIN {invoice.ref_usin!r} has been accepted "
                    f"for POSID {invoice.posid}")
        if invoice.invoice_type == 3:
            already = store.credited_against(invoice.posid, invoice.ref_usin)
            limit = Decimal(original["TotalBillAmount"])
            if already + invoice.total_bill_amount > limit + s.tax_tolerance:
                return (f"TotalBillAmount: credits against {invoice.ref_usin!r} would total "
                        f"{already + invoice.total_bill_amount}, more than the original {limit}")
        return None
