"""The FBR IMS invoice a document is reported with, built once when the document completes.

The request body is stored as text with the outbox job, so a resend is byte-for-byte the request
that may already have reached FBR. Amounts are written as JSON numbers straight from Decimal.
"""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from .money import to_rupees
from .models import PosOrder, PosOrderLine

PKT = dt.timezone(dt.timedelta(hours=5), "PKT")

# IMS PaymentMode: 1 cash, 2 card, 3 gift voucher, 4 loyalty card, 5 mixed, 6 cheque. Wallets and
# bank transfers have no code of their own; they are electronic payments, reported as card. Loyalty
# points are the loyalty card (4); points with any other tender are mixed (5).
PAYMENT_MODE = {"cash": 1, "card": 2, "wallet": 2, "bank": 2, "store_credit": 3, "exchange": 3, "points": 4}
SALE, CREDIT = 1, 3


def pk_time(utc: dt.datetime) -> str:
    return utc.replace(tzinfo=dt.timezone.utc).astimezone(PKT).strftime("%Y-%m-%d %H:%M:%S")


def pct_digits(code: str) -> str:
    return "".join(ch for ch in code if ch.isdigit())[:8]


def payment_mode(methods: list[str]) -> int:
    modes = {PAYMENT_MODE.get(m, 2) for m in methods}
    if len(set(methods)) > 1:
        return 5
    return modes.pop() if modes else 1


def build(order: PosOrder, lines: list[PosOrderLine], methods: list[str], posid: str,
          ref_usin: str | None) -> dict:
    credit = order.kind == "refund"
    items = []
    for line in lines:
        item_type = (12 if credit else 11) if line.third_schedule else (CREDIT if credit else SALE)
        item = {
            "ItemCode": line.sku[:50],
            "ItemName": line.name[:150],
            "PCTCode": pct_digits(line.pct_code) or "00000000",
            "Quantity": Decimal(line.qty),
            "TaxRate": (Decimal(line.tax_rate_bp) / 100).normalize(),
            "SaleValue": to_rupees(line.value_excl_paisa),
            "Discount": to_rupees(line.line_discount_paisa + line.order_discount_paisa),
            "FurtherTax": Decimal("0.00"),
            "TaxCharged": to_rupees(line.tax_paisa),
            "TotalAmount": to_rupees(line.total_paisa),
            "InvoiceType": item_type,
            "RefUSIN": ref_usin,
        }
        items.append(item)
    buyer = order.buyer or {}
    body = {
        "InvoiceNumber": "",
        "POSID": int(posid) if posid.isdigit() else posid,
        "USIN": order.number,
        "RefUSIN": ref_usin,
        "DateTime": pk_time(order.completed_at),
        "BuyerName": buyer.get("name", ""),
        "BuyerNTN": buyer.get("ntn", ""),
        "BuyerCNIC": buyer.get("cnic", ""),
        "BuyerPhoneNumber": buyer.get("phone", ""),
        "TotalSaleValue": sum((i["SaleValue"] for i in items), Decimal("0.00")),
        "TotalQuantity": sum((i["Quantity"] for i in items), Decimal(0)),
        "TotalTaxCharged": sum((i["TaxCharged"] for i in items), Decimal("0.00")),
        "Discount": sum((i["Discount"] for i in items), Decimal("0.00")),
        "FurtherTax": Decimal("0.00"),
        "TotalBillAmount": sum((i["TotalAmount"] for i in items), Decimal("0.00")),
        "PaymentMode": payment_mode(methods),
        "InvoiceType": CREDIT if credit else SALE,
        "Items": items,
    }
    return {
        "usin": order.number,
        "ref_usin": ref_usin,
        "posid": posid,
        "invoice_type": body["InvoiceType"],
        "body": encode(body),
    }


def encode(value) -> str:
    """JSON text with Decimals as exact numbers (the json module would need floats for that)."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(encode(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return format(value, "f")
    return json.dumps(value)


def build_online(usin: str, when_utc, items: list[dict], posid: str, *, cod: bool, credit: bool,
                 ref_usin: str | None, buyer_name: str = "", buyer_phone: str = "") -> dict:
    """An online shipment's invoice (or a returned one's credit note). `items` are priced lines:
    sku, name, pct_code, qty, tax_rate_bp, value_excl_paisa, tax_paisa, total_paisa, third_schedule."""
    body_items = []
    for it in items:
        kind = (12 if credit else 11) if it["third_schedule"] else (CREDIT if credit else SALE)
        body_items.append({
            "ItemCode": it["sku"][:50], "ItemName": it["name"][:150],
            "PCTCode": pct_digits(it["pct_code"]) or "00000000", "Quantity": Decimal(it["qty"]),
            "TaxRate": (Decimal(it["tax_rate_bp"]) / 100).normalize(),
            "SaleValue": to_rupees(it["value_excl_paisa"]), "Discount": Decimal("0.00"),
            "FurtherTax": Decimal("0.00"), "TaxCharged": to_rupees(it["tax_paisa"]),
            "TotalAmount": to_rupees(it["total_paisa"]), "InvoiceType": kind, "RefUSIN": ref_usin})
    body = {
        "InvoiceNumber": "", "POSID": int(posid) if posid.isdigit() else posid, "USIN": usin, "RefUSIN": ref_usin,
        "DateTime": pk_time(when_utc), "BuyerName": buyer_name[:150], "BuyerNTN": "", "BuyerCNIC": "",
        "BuyerPhoneNumber": buyer_phone.replace("+", "")[:20],
        "TotalSaleValue": sum((i["SaleValue"] for i in body_items), Decimal("0.00")),
        "TotalQuantity": sum((i["Quantity"] for i in body_items), Decimal(0)),
        "TotalTaxCharged": sum((i["TaxCharged"] for i in body_items), Decimal("0.00")),
        "Discount": Decimal("0.00"), "FurtherTax": Decimal("0.00"),
        "TotalBillAmount": sum((i["TotalAmount"] for i in body_items), Decimal("0.00")),
        "PaymentMode": 1 if cod else 2, "InvoiceType": CREDIT if credit else SALE, "Items": body_items,
    }
    return {"usin": usin, "ref_usin": ref_usin, "posid": posid, "invoice_type": body["InvoiceType"],
            "body": encode(body)}
