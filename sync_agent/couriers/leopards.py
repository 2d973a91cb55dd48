"""Leopards Courier (merchantapi.leopardscourier.com, eCom Merchant APIs V2).

Safe resend: Leopards has no idempotency key. Our reference goes in `booked_packet_order_id`, and
before any resend `find` reads getBookedPacketLastStatus over the booking's dates and looks for a
packet with that order id that is not cancelled.
"""
from __future__ import annotations

import datetime as dt

from .base import (BOOKED, CANCELLED, DELIVERED, IN_TRANSIT, RETURNING, Booking, CourierError, HttpCourier,
                   Tracking, local_phone, lookup_window, paisa, rupees)

DEFAULT_ENDPOINT = "https://merchantapi.leopardscourier.com"


def status_of(words: str) -> str:
    w = (words or "").strip().lower()
    if w in ("pickup request not send", "pickup request sent", "consignment booked", "booked"):
        return BOOKED
    if w == "delivered":
        return DELIVERED
    if w == "cancelled":
        return CANCELLED
    if "return" in w:           # "Being Return", "Returned to shipper", "Ready for Return"
        return RETURNING
    return IN_TRANSIT


class Leopards(HttpCourier):
    name = "leopards"

    def __init__(self, account, api_password: str, transport=None):
        super().__init__(account.endpoint or DEFAULT_ENDPOINT, account.timeout_seconds, transport)
        self.account, self.api_password = account, api_password

    def _auth(self) -> dict:
        return {"api_key": self.account.api_key, "api_password": self.api_password}

    def _call(self, path: str, fields: dict) -> dict:
        body = self.json_of(self.request("POST", f"/api/{path}/format/json/", json={**self._auth(), **fields}))
        if str(body.get("status")) != "1":
            raise self.refused(self.name, str(body.get("error") or "no reason given"))
        return body

    def book(self, p: dict) -> Booking:
        a = self.account
        body = self._call("bookPacket", {
            "booked_packet_weight": p["weight_grams"], "booked_packet_no_piece": p["pieces"],
            "booked_packet_collect_amount": str(rupees(p["cod_paisa"])),
            "booked_packet_order_id": p["reference"],
            "origin_city": a.origin_city or "self", "destination_city": p["city"]["code"],
            "shipment_name_eng": a.shipper_name or "self", "shipment_email": "self",
            "shipment_phone": a.shipper_phone or "self", "shipment_address": a.shipper_address or "self",
            "consignment_name_eng": p["consignee"]["name"], "consignment_phone": local_phone(p["consignee"]["phone"]),
            "consignment_address": p["consignee"]["address"], "consignment_email": "",
            "special_instructions": p.get("description", "")[:250], "shipment_type": "overnight",
        })
        number = str(body.get("track_number") or "")
        if not number:
            raise CourierError("leopards: booked but no track_number in the answer", retryable=True,
                               uncertain=True, answered=True)
        return Booking(number, str(body.get("slip_link") or ""))

    def find(self, reference: str, since: dt.date) -> Booking | None:
        start, end = lookup_window(since)
        body = self._call("getBookedPacketLastStatus", {"from_date": start, "to_date": end})
        for packet in body.get("packet_list") or []:
            if str(packet.get("booked_packet_order_id")) == reference \
                    and status_of(str(packet.get("booked_packet_status"))) != CANCELLED:
                return Booking(str(packet["track_number"]), str(packet.get("slip_link") or ""))
        return None

    def cancel(self, tracking_number: str) -> None:
        self._call("cancelBookedPackets", {"cn_numbers": tracking_number})

    def track(self, tracking_number: str) -> Tracking:
        found = self.track_many([tracking_number])
        if tracking_number not in found:
            raise self.refused(self.name, f"no packet {tracking_number} in the tracking answer")
        return found[tracking_number]

    def track_many(self, tracking_numbers: list[str]) -> dict[str, Tracking]:
        """One request for many parcels (trackBookedPacket takes a comma-separated list)."""
        body = self._call("trackBookedPacket", {"track_numbers": ",".join(tracking_numbers)})
        out = {}
        for packet in body.get("packet_list") or []:
            words = str(packet.get("booked_packet_status") or "")
            detail = packet.get("Tracking Detail") or []
            out[str(packet.get("track_number"))] = Tracking(
                status_of(words), words, str((detail[-1] if detail else {}).get("Activity_datetime", "")))
        return out

    def airway_bill(self, tracking_number: str, label_url: str = "") -> bytes:
        url = label_url or f"{self.endpoint}/slip/{tracking_number}.pdf"
        path = url[len(self.endpoint):] if url.startswith(self.endpoint) else url
        res = self.request("GET", path) if path.startswith("/") else self.http.get(url)
        if res.status_code != 200 or not res.content.startswith(b"%PDF"):
            raise self.refused(self.name, f"no airway bill for {tracking_number} ({res.status_code})")
        return res.content

    def payments(self, tracking_numbers: list[str]) -> list[tuple[str, int, int, int]]:
        """COD paid over for these parcels: (number, collected, charges, paid) in paisa, paid ones only."""
        body = self._call("getPaymentDetails", {"cn_numbers": ",".join(tracking_numbers)})
        out = []
        for row in body.get("payment_list") or []:
            if str(row.get("payment_status", "")).strip().lower() != "paid":
                continue
            out.append((str(row.get("booked_packet_cn")), paisa(row.get("booked_packet_collect_amount")),
                        paisa(row.get("shipment_charges")), paisa(row.get("net_amount"))))
        return out

    def cities(self) -> list[tuple[str, str]]:
        body = self._call("getAllCities", {})
        return [(str(c["id"]), str(c["name"])) for c in body.get("city_list") or []]
