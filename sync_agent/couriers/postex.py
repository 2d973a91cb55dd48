"""PostEx (api.postex.pk, Merchant API Integration Guide V4).

Safe resend: PostEx has no idempotency key either. Our reference goes in `orderRefNumber`, and
before any resend `find` lists the orders of the booking's dates (get-all-order) and looks for one
with that reference that is not cancelled.
"""
from __future__ import annotations

import datetime as dt

from .base import (BOOKED, CANCELLED, DELIVERED, IN_TRANSIT, RETURNING, Booking, CourierError, HttpCourier, Tracking,
                   local_phone, lookup_window, rupees)

DEFAULT_ENDPOINT = "https://api.postex.pk"
BASE = "/services/integration/api/order/"


def status_of(words: str) -> str:
    w = (words or "").strip().lower()
    if w in ("unbooked", "booked", "at merchant's warehouse"):
        return BOOKED
    if w == "delivered":
        return DELIVERED
    if w in ("cancelled", "canceled"):
        return CANCELLED
    if "return" in w:
        return RETURNING
    return IN_TRANSIT


class PostEx(HttpCourier):
    name = "postex"

    def __init__(self, account, token: str, transport=None):
        super().__init__(account.endpoint or DEFAULT_ENDPOINT, account.timeout_seconds, transport)
        self.account, self.token = account, token

    def _call(self, method: str, path: str, **kw) -> dict:
        res = self.request(method, BASE + path, headers={"token": self.token}, **kw)
        body = self.json_of(res)
        if res.status_code != 200 or str(body.get("statusCode")) != "200":
            raise self.refused(self.name, str(body.get("statusMessage") or f"HTTP {res.status_code}"))
        return body

    def book(self, p: dict) -> Booking:
        body = self._call("POST", "v3/create-order", json={
            "orderRefNumber": p["reference"], "invoicePayment": float(rupees(p["cod_paisa"])),
            "orderDetail": p.get("description", "")[:250], "customerName": p["consignee"]["name"],
            "customerPhone": local_phone(p["consignee"]["phone"]), "deliveryAddress": p["consignee"]["address"],
            "cityName": p["city"]["code"], "invoiceDivision": 1, "items": p["pieces"], "orderType": "Normal",
            "pickupAddressCode": self.account.pickup_address_code, "transactionNotes": p.get("order", ""),
            "weight": p["weight_grams"] / 1000,
        })
        number = str((body.get("dist") or {}).get("trackingNumber") or "")
        if not number:
            raise CourierError("postex: created but no trackingNumber in the answer", retryable=True,
                               uncertain=True, answered=True)
        return Booking(number)

    def find(self, reference: str, since: dt.date) -> Booking | None:
        start, end = lookup_window(since)
        body = self._call("GET", "v1/get-all-order", params={"orderStatusId": 0, "startDate": start, "endDate": end})
        for order in body.get("dist") or []:
            if str(order.get("orderRefNumber")) == reference \
                    and status_of(str(order.get("transactionStatus"))) != CANCELLED:
                return Booking(str(order["trackingNumber"]))
        return None

    def cancel(self, tracking_number: str) -> None:
        self._call("PUT", "v1/cancel-order", json={"trackingNumber": tracking_number})

    def track(self, tracking_number: str) -> Tracking:
        return _tracking(self._call("GET", f"v1/track-order/{tracking_number}").get("dist") or {})

    def track_many(self, tracking_numbers: list[str]) -> dict[str, Tracking]:
        """One request for many parcels (track-bulk-order)."""
        body = self._call("GET", "v1/track-bulk-order", params={"TrackingNumbers": ",".join(tracking_numbers)})
        return {str(d.get("trackingNumber")): _tracking(d) for d in body.get("dist") or []}

    def airway_bill(self, tracking_number: str, label_url: str = "") -> bytes:
        res = self.request("GET", BASE + "v1/get-invoice", params={"trackingNumbers": tracking_number},
                           headers={"token": self.token})
        if res.status_code != 200 or not res.content.startswith(b"%PDF"):
            raise self.refused(self.name, f"no airway bill for {tracking_number} ({res.status_code})")
        return res.content

    def cities(self) -> list[tuple[str, str]]:
        body = self._call("GET", "v2/get-operational-city")
        return [(str(c["operationalCityName"]), str(c["operationalCityName"])) for c in body.get("dist") or []
                if c.get("isDeliveryCity", True)]


def _tracking(dist: dict) -> Tracking:
    words = str(dist.get("transactionStatus") or "")
    history = dist.get("transactionStatusHistory") or []
    return Tracking(status_of(words), words, str((history[-1] if history else {}).get("modifiedDatetime", "")))
