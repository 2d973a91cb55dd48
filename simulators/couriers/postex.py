"""Fake PostEx COD merchant API (Merchant API Integration Guide V4, as publicly documented).

Base /services/integration/api/order; every call has a `token` header.
    POST v3/create-order                 orderRefNumber, invoicePayment, customerName, customerPhone,
                                         deliveryAddress, cityName, items, orderType ... -> trackingNumber
    GET  v1/track-order/<trackingNumber> transactionStatus and transactionStatusHistory
    GET  v1/track-bulk-order?TrackingNumbers=a,b   the same for several parcels
    PUT  v1/cancel-order                 {"trackingNumber": ...}
    GET  v1/get-invoice?trackingNumbers= the airway bill as a PDF
    GET  v1/get-all-order?orderStatusId=0&startDate=&endDate=  orders with orderRefNumber (our lookup)
    GET  v2/get-operational-city         cities
Answers carry "statusCode" (a string) and "statusMessage"; data is under "dist".
"""
from __future__ import annotations

import datetime as dt
import json

from .base import CourierState, Handler, ServerHandle, serve, tiny_pdf

BASE = "/services/integration/api/order/"
CITIES = ["Lahore", "Karachi", "Islamabad", "Rawalpindi", "Pindi Bhattian", "Faisalabad", "Multan", "Hyderabad",
          "Gujranwala", "Gujrat", "Sialkot", "Peshawar", "Quetta", "Bahawalpur", "Sargodha", "D.I. Khan",
          "D.G. Khan", "Abbottabad", "Sheikhupura", "Sahiwal", "Sadiqabad", "Rahim Yar Khan", "Kasur", "Mardan",
          "Sukkur", "Jhelum", "Okara"]
UNBOOKED, AT_WAREHOUSE, EN_ROUTE, DELIVERED, RETURNED, UNDER_REVIEW = (
    "Unbooked", "PostEx WareHouse", "Enroute for Delivery", "Delivered", "Returned", "Under Verification")
CODES = {UNBOOKED: "0001", AT_WAREHOUSE: "0003", EN_ROUTE: "0004", DELIVERED: "0005", RETURNED: "0002",
         UNDER_REVIEW: "0008", "Cancelled": "0007"}


class PostExHandler(Handler):
    ROUTES = {
        ("POST", BASE + "v3/create-order"): ("book", "book"),
        ("GET", BASE + "v1/track-order/"): ("track", "track"),
        ("GET", BASE + "v1/track-bulk-order"): ("track", "track_bulk"),
        ("PUT", BASE + "v1/cancel-order"): ("cancel", "cancel"),
        ("GET", BASE + "v1/get-invoice"): ("label", "label"),
        ("GET", BASE + "v1/get-all-order"): ("lookup", "lookup"),
        ("GET", BASE + "v2/get-operational-city"): ("cities", "cities"),
    }

    def _denied(self):
        if self.headers.get("token") != self.server.credentials["token"]:
            return 401, {"statusCode": "401", "statusMessage": "UNAUTHORIZED ACCESS"}
        return None

    def book(self, raw, query, tail):
        denied = self._denied()
        if denied:
            return denied
        try:
            f = json.loads(raw or b"{}")
        except ValueError:
            return 400, {"statusCode": "400", "statusMessage": "INVALID JSON"}
        if f.get("cityName") not in CITIES:
            return 400, {"statusCode": "400", "statusMessage": f"INVALID CITY NAME: {f.get('cityName')}"}
        for key in ("orderRefNumber", "customerName", "customerPhone", "deliveryAddress"):
            if not str(f.get(key) or "").strip():
                return 400, {"statusCode": "400", "statusMessage": f"{key.upper()} IS REQUIRED"}
        if not isinstance(f.get("invoicePayment"), (int, float)) or f["invoicePayment"] < 0:
            return 400, {"statusCode": "400", "statusMessage": "INVALID INVOICE PAYMENT"}
        p = self.state.book(reference=str(f["orderRefNumber"]), city=f["cityName"], cod=str(f["invoicePayment"]),
                            consignee=f["customerName"], phone=f["customerPhone"], address=f["deliveryAddress"],
                            weight=str(f.get("weight", "")), pieces=str(f.get("items", 1)))
        return 200, {"statusCode": "200", "statusMessage": "ORDER HAS BEEN CREATED",
                     "dist": {"trackingNumber": p.tracking_number, "orderStatus": UNBOOKED,
                              "orderDate": p.booked_at}}

    def _order(self, p) -> dict:
        status = "Cancelled" if p.cancelled else p.status
        return {"trackingNumber": p.tracking_number, "orderRefNumber": p.reference, "customerName": p.consignee,
                "cityName": p.city, "invoicePayment": p.cod, "orderDate": p.booked_at,
                "transactionStatus": status,
                "transactionStatusHistory": [{"transactionStatusMessage": h["status"],
                                              "transactionStatusMessageCode": CODES.get(h["status"], "0000"),
                                              "modifiedDatetime": h["at"]} for h in p.history]}

    def track(self, raw, query, tail):
        denied = self._denied()
        if denied:
            return denied
        p = self.state.parcels.get(tail)
        if p is None:
            return 400, {"statusCode": "400", "statusMessage": "INVALID TRACKING NUMBER"}
        return 200, {"statusCode": "200", "statusMessage": "SUCCESSFULLY OPERATED", "dist": self._order(p)}

    def track_bulk(self, raw, query, tail):
        denied = self._denied()
        if denied:
            return denied
        numbers = [n for n in query.get("TrackingNumbers", "").split(",") if n]
        return 200, {"statusCode": "200", "statusMessage": "SUCCESSFULLY OPERATED",
                     "dist": [self._order(self.state.parcels[n]) for n in numbers if n in self.state.parcels]}

    def cancel(self, raw, query, tail):
        denied = self._denied()
        if denied:
            return denied
        number = str((json.loads(raw or b"{}") or {}).get("trackingNumber", ""))
        p = self.state.parcels.get(number)
        if p is None:
            return 400, {"statusCode": "400", "statusMessage": "INVALID TRACKING NUMBER"}
        if p.status != UNBOOKED:
            return 400, {"statusCode": "400", "statusMessage": "ORDER CANNOT BE CANCELLED AFTER PICKUP"}
        p.cancelled = True
        return 200, {"statusCode": "200", "statusMessage": "ORDER HAS BEEN CANCELLED"}

    def label(self, raw, query, tail):
        denied = self._denied()
        if denied:
            return denied
        numbers = [n for n in query.get("trackingNumbers", "").split(",") if n in self.state.parcels]
        if not numbers:
            return 400, {"statusCode": "400", "statusMessage": "INVALID TRACKING NUMBER"}
        lines = ["PostEx"]
        for n in numbers:
            p = self.state.parcels[n]
            lines += [f"Tracking {n}", f"To {p.consignee}", p.address, f"COD Rs {p.cod}", f"Ref {p.reference}"]
        return 200, tiny_pdf(lines)

    def lookup(self, raw, query, tail):
        denied = self._denied()
        if denied:
            return denied
        try:
            start = dt.date.fromisoformat(query.get("startDate", ""))
            end = dt.date.fromisoformat(query.get("endDate", ""))
        except ValueError:
            return 400, {"statusCode": "400", "statusMessage": "startDate AND endDate ARE YYYY-MM-DD"}
        rows = [self._order(p) for p in self.state.parcels.values()
                if start <= dt.date.fromisoformat(p.booked_at[:10]) <= end]
        return 200, {"statusCode": "200", "statusMessage": "SUCCESSFULLY OPERATED", "dist": rows}

    def cities(self, raw, query, tail):
        denied = self._denied()
        if denied:
            return denied
        return 200, {"statusCode": "200", "statusMessage": "SUCCESSFULLY OPERATED",
                     "dist": [{"operationalCityName": c, "isDeliveryCity": True, "isPickupCity": True}
                              for c in CITIES]}


def start(port: int = 0, token: str = "postex-token") -> ServerHandle:
    return serve(PostExHandler, CourierState("22", UNBOOKED), {"token": token}, port)
