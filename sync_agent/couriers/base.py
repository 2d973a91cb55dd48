"""The courier interface the agent books, tracks and cancels through, and its error classes.

An adapter turns our booking payload (pos_core.couriers.booking_payload: money in paisa, grams)
into one courier's API call. Every adapter has the same five operations:

    book(payload) -> Booking              create the parcel; not idempotent at any courier we use
    find(reference, since) -> Booking|None   the courier's own record of a parcel booked with our
                                          reference: the probe that makes a resend safe
    cancel(tracking_number)               cancel before pickup
    airway_bill(tracking_number) -> bytes the courier's label as a PDF
    track(tracking_number) -> Tracking    the status, in our words and in theirs

Errors are `CourierError`: `retryable` (try again later) and `uncertain` (the request may have
been applied: a timeout after sending, a dropped connection, a 5xx); a refusal (4xx, Leopards'
`status: 0`) is neither, and a person has to correct the booking. `answered` is True only for a
refusal, an answer that proves nothing was done (what sync_agent.once needs to know: only then is
a resend sent without asking the courier first); `contact` says the courier's server was reached.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import httpx

# Our statuses (pos_core.couriers) that adapters map the courier's words onto.
BOOKED, IN_TRANSIT, DELIVERED, RETURNING, CANCELLED = "BOOKED", "IN_TRANSIT", "DELIVERED", "RETURNING", "CANCELLED"


@dataclass(frozen=True)
class Booking:
    tracking_number: str
    label_url: str = ""
    status: str = BOOKED


@dataclass(frozen=True)
class Tracking:
    status: str          # BOOKED, IN_TRANSIT, DELIVERED, RETURNING, CANCELLED
    words: str           # the courier's own status text, shown to people
    at: str = ""


class CourierError(Exception):
    def __init__(self, message: str, *, retryable: bool, uncertain: bool, answered: bool):
        super().__init__(message)
        self.message, self.retryable, self.uncertain = message, retryable, uncertain
        self.contact = answered                       # the server answered something
        self.answered = answered and not uncertain     # ... and the answer proves nothing was done


def rupees(paisa: int) -> Decimal:
    return (Decimal(int(paisa)) / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def local_phone(phone: str) -> str:
    """+923001234567 -> 03001234567: the form Pakistani couriers' riders dial and their APIs take."""
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    if digits.startswith("92") and len(digits) == 12:
        return "0" + digits[2:]
    return digits or phone


def paisa(value) -> int:
    """A courier's amount ("2,599.00", 2599, None) in paisa; never through float."""
    text = str(value if value is not None else "0").replace(",", "").strip() or "0"
    try:
        return int((Decimal(text) * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))
    except ArithmeticError:
        raise CourierError(f"the courier sent {value!r} as an amount", retryable=False, uncertain=False,
                           answered=True) from None


class HttpCourier:
    """Shared HTTP handling: every failure becomes a CourierError saying what we know."""
    name = ""

    def __init__(self, endpoint: str, timeout: float = 15.0, transport: httpx.BaseTransport | None = None):
        self.endpoint = endpoint.rstrip("/")
        self.http = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)), transport=transport)

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, *, json=None, data=None, params=None, headers=None) -> httpx.Response:
        url = f"{self.endpoint}{path}"
        try:
            res = self.http.request(method, url, json=json, data=data, params=params, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # The request never left: nothing can have been applied.
            raise CourierError(f"{self.name}: cannot connect ({exc.__class__.__name__})", retryable=True,
                               uncertain=False, answered=False) from None
        except httpx.TimeoutException:
            raise CourierError(f"{self.name}: no answer in time; the request may have been applied",
                               retryable=True, uncertain=True, answered=False) from None
        except httpx.TransportError as exc:
            raise CourierError(f"{self.name}: connection lost before the answer ({exc.__class__.__name__}); "
                               "the request may have been applied", retryable=True, uncertain=True,
                               answered=False) from None
        if res.status_code >= 500:
            raise CourierError(f"{self.name}: server error {res.status_code}; the request may have been applied",
                               retryable=True, uncertain=True, answered=True)
        if res.status_code in (401, 403):
            raise CourierError(f"{self.name}: credentials refused ({res.status_code}); check [courier_api.{self.name}]",
                               retryable=False, uncertain=False, answered=True)
        return res

    def json_of(self, res: httpx.Response) -> dict:
        try:
            body = res.json()
        except ValueError:
            raise CourierError(f"{self.name}: answer {res.status_code} is not JSON", retryable=True,
                               uncertain=True, answered=True) from None
        if not isinstance(body, dict):
            raise CourierError(f"{self.name}: unexpected answer {str(body)[:80]}", retryable=True,
                               uncertain=True, answered=True)
        return body

    @staticmethod
    def refused(name: str, message: str) -> CourierError:
        return CourierError(f"{name} refused: {message}", retryable=False, uncertain=False, answered=True)


def lookup_window(since: dt.date) -> tuple[str, str]:
    """The days to search for a parcel booked since `since` (a day's slack each side for time zones)."""
    today = dt.datetime.now(dt.timezone.utc).date()
    return (since - dt.timedelta(days=1)).isoformat(), (today + dt.timedelta(days=1)).isoformat()
