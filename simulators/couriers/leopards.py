"""Fake Leopards Courier merchant API (eCom Merchant APIs V2, as publicly documented).

    POST /api/bookPacket/format/json/               book one packet -> track_number, slip_link
    POST /api/trackBookedPacket/format/json/        track_numbers (comma separated) -> packet_list
    POST /api/cancelBookedPackets/format/json/      cn_numbers -> cancelled
    POST /api/getBookedPacketLastStatus/format/json/  from_date, to_date -> packet_list with
                                                    booked_packet_order_id (our reference lookup)
    POST /api/getAllCities/format/json/             city_list
    POST /api/getPaymentDetails/format/json/        cn_numbers -> payment_list (COD paid over, charges)
    GET  /slip/<cn>.pdf                             the airway bill (guessed path; Leopards gives a link)
Every call carries api_key and api_password (form fields or JSON). Leopards answers HTTP 200 with
`"status": 0` and an `error` text for a refusal.
"""
from __future__ import annotations

import datetime as dt

from .base import CourierState, Handler, ServerHandle, serve, tiny_pdf

CITIES = {
    "789": "Lahore", "475": "Karachi", "434": "Islamabad", "1045": "Rawalpindi", "1001": "Pindi Bhattian",
    "1002": "Pindi Gheb", "311": "Faisalabad", "769": "Multan", "402": "Hyderabad", "334": "Gujranwala",
    "335": "Gujrat", "1082": "Sialkot", "1004": "Peshawar", "1060": "Quetta", "95": "Bahawalpur",
    "1115": "Sargodha", "208": "Dera Ismail Khan", "207": "Dera Ghazi Khan", "16": "Abbottabad",
    "1097": "Sheikhupura", "1112": "Sahiwal", "1113": "Sadiqabad", "1066": "Rahim Yar Khan", "560": "Kasur",
    "768": "Mardan", "1160": "Sukkur", "519": "Jhelum", "1135": "Okara",
}
# Status words as Leopards' tracking shows them.
BOOKED, PICKED, ARRIVED, OUT, DELIVERED, BEING_RETURNED, RETURNED = (
    "Pickup Request not Send", "Picked by PostMan", "Arrived at Station", "Assigned to Courier",
    "Delivered", "Being Return", "Returned to shipper")


class LeopardsHandler(Handler):
    ROUTES = {
        ("POST", "/api/bookPacket/format/json/"): ("book", "book"),
        ("POST", "/api/trackBookedPacket/format/json/"): ("track", "track"),
        ("GET", "/api/trackBookedPacket/format/json/"): ("track", "track"),
        ("POST", "/api/cancelBookedPackets/format/json/"): ("cancel", "cancel"),
        ("POST", "/api/getBookedPacketLastStatus/format/json/"): ("lookup", "lookup"),
        ("GET", "/api/getBookedPacketLastStatus/format/json/"): ("lookup", "lookup"),
        ("POST", "/api/getAllCities/format/json/"): ("cities", "cities"),
        ("POST", "/api/getPaymentDetails/format/json/"): ("payments", "payments"),
        ("GET", "/slip/"): ("label", "label"),
    }

    def _auth(self, f: dict) -> str | None:
        c = self.server.credentials
        if f.get("api_key") != c["api_key"] or f.get("api_password") != c["api_password"]:
            return "Invalid API Key or Password"
        return None

    def _fields(self, raw: bytes, query: dict) -> dict:
        return {**query, **self.form(raw)}

    def book(self, raw, query, tail):
        f = self._fields(raw, query)
        err = self._auth(f)
        if err:
            return 200, {"status": 0, "error": err}
        city = str(f.get("destination_city", ""))
        if city not in CITIES:
            return 200, {"status": 0, "error": f"Invalid destination city: {city}"}
        for key in ("consignment_name_eng", "consignment_phone", "consignment_address", "booked_packet_order_id"):
            if not str(f.get(key, "")).strip():
                return 200, {"status": 0, "error": f"{key} is required"}
        try:
            weight, pieces, cod = int(f.get("booked_packet_weight", 0)), int(f.get("booked_packet_no_piece", 0)), \
                float(f.get("booked_packet_collect_amount", 0))
        except (TypeError, ValueError):
            return 200, {"status": 0, "error": "weight, pieces and collect amount must be numbers"}
        if weight <= 0 or pieces <= 0 or cod < 0:
            return 200, {"status": 0, "error": "weight and pieces must be positive, collect amount not negative"}
        p = self.state.book(reference=str(f["booked_packet_order_id"]), city=city,
                            cod=str(f.get("booked_packet_collect_amount")), consignee=f["consignment_name_eng"],
                            phone=f["consignment_phone"], address=f["consignment_address"], weight=str(weight),
                            pieces=str(pieces))
        host = self.headers.get("Host", "127.0.0.1")
        return 200, {"status": 1, "error": 0, "track_number": p.tracking_number,
                     "slip_link": f"http://{host}/slip/{p.tracking_number}.pdf"}

    def _packet(self, p) -> dict:
        return {"track_number": p.tracking_number, "booked_packet_order_id": p.reference,
                "booked_packet_status": "Cancelled" if p.cancelled else p.status,
                "booking_date": p.booked_at[:10], "destination_city_name": CITIES.get(p.city, p.city),
                "booked_packet_collect_amount": p.cod,
                "Tracking Detail": [{"Status": h["status"], "Activity_datetime": h["at"]} for h in p.history]}

    def track(self, raw, query, tail):
        f = self._fields(raw, query)
        err = self._auth(f)
        if err:
            return 200, {"status": 0, "error": err}
        numbers = [n.strip() for n in str(f.get("track_numbers", "")).split(",") if n.strip()]
        found = [self.state.parcels[n] for n in numbers if n in self.state.parcels]
        if not found:
            return 200, {"status": 0, "error": "No record found"}
        return 200, {"status": 1, "error": 0, "packet_list": [self._packet(p) for p in found]}

    def cancel(self, raw, query, tail):
        f = self._fields(raw, query)
        err = self._auth(f)
        if err:
            return 200, {"status": 0, "error": err}
        for n in [n.strip() for n in str(f.get("cn_numbers", "")).split(",") if n.strip()]:
            p = self.state.parcels.get(n)
            if p is None:
                return 200, {"status": 0, "error": f"Invalid CN: {n}"}
            if p.status != BOOKED:
                return 200, {"status": 0, "error": f"{n} has been picked up and cannot be cancelled"}
            p.cancelled = True
        return 200, {"status": 1, "error": 0}

    def lookup(self, raw, query, tail):
        f = self._fields(raw, query)
        err = self._auth(f)
        if err:
            return 200, {"status": 0, "error": err}
        try:
            start = dt.date.fromisoformat(str(f.get("from_date")))
            end = dt.date.fromisoformat(str(f.get("to_date")))
        except ValueError:
            return 200, {"status": 0, "error": "from_date and to_date are YYYY-MM-DD"}
        rows = [self._packet(p) for p in self.state.parcels.values()
                if start <= dt.date.fromisoformat(p.booked_at[:10]) <= end]
        return 200, {"status": 1, "error": 0, "packet_list": rows}

    def cities(self, raw, query, tail):
        f = self._fields(raw, query)
        err = self._auth(f)
        if err:
            return 200, {"status": 0, "error": err}
        return 200, {"status": 1, "error": 0, "city_list": [{"id": int(k), "name": v} for k, v in CITIES.items()]}

    def payments(self, raw, query, tail):
        f = self._fields(raw, query)
        err = self._auth(f)
        if err:
            return 200, {"status": 0, "error": err}
        rows = []
        for n in [n.strip() for n in str(f.get("cn_numbers", "")).split(",") if n.strip()]:
            p = self.state.parcels.get(n)
            if p is None:
                continue
            pay = p.payment or {}
            rows.append({"booked_packet_cn": n, "booked_packet_order_id": p.reference,
                         "booked_packet_collect_amount": pay.get("collected", p.cod),
                         "shipment_charges": pay.get("charges", "0"), "net_amount": pay.get("paid", "0"),
                         "payment_status": "Paid" if pay else "Pending",
                         "invoice_cheque_no": pay.get("reference", ""), "invoice_cheque_date": ""})
        return 200, {"status": 1, "error": 0, "payment_list": rows}

    def label(self, raw, query, tail):
        number = tail.removesuffix(".pdf")
        p = self.state.parcels.get(number)
        if p is None:
            return 404, {"error": "no such slip"}
        return 200, tiny_pdf(["Leopards Courier", f"CN {p.tracking_number}", f"To {p.consignee}",
                              p.address, f"COD Rs {p.cod}", f"Ref {p.reference}"])


def start(port: int = 0, api_key: str = "leo-key", api_password: str = "leo-pass") -> ServerHandle:
    return serve(LeopardsHandler, CourierState("LE", BOOKED), {"api_key": api_key, "api_password": api_password},
                 port)
