"""The fake FBR IMS, exercised over real HTTP on 127.0.0.1 (no mocks)."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from simulators.fbr.server import start

SANDBOX = "/FBR/v1/api/Live/PostData"
PRODUCTION = "/imsp/v1/api/Live/PostData"
LOCAL = "/api/IMSFiscal/GetInvoiceNumberByModel"
TOKEN = "fbr-test-token"
PROD_TOKEN = "fbr-prod-token"
REPO = Path(__file__).resolve().parents[1]

REJECTED = {"InvoiceNumber": "Not Available", "Code": "102", "Response": "Invalid data received"}
TEST_NUMBER = re.compile(r"^123456\d{12}\d{3,}\*test\*$")
LIVE_NUMBER = re.compile(r"^123456\d{12}\d{3,}$")


def sale(usin: str = "C1-000123") -> dict:
    """The reference's §1.7 sale: two lines at 18%, one discounted, cash."""
    return {
        "InvoiceNumber": "", "POSID": 123456, "USIN": usin, "DateTime": "2026-11-20 14:05:09",
        "BuyerName": None, "BuyerNTN": None, "BuyerCNIC": None, "BuyerPhoneNumber": None,
        "TotalSaleValue": 1500.00, "TotalQuantity": 2, "TotalTaxCharged": 270.00,
        "Discount": 100.00, "FurtherTax": 0.00, "TotalBillAmount": 1770.00,
        "PaymentMode": 1, "InvoiceType": 1, "RefUSIN": None,
        "Items": [
            {"ItemCode": "SKU-001", "ItemName": "Cotton T-shirt", "PCTCode": "61091000",
             "Quantity": 1, "TaxRate": 18, "SaleValue": 1000.00, "Discount": 0.00,
             "TaxCharged": 180.00, "FurtherTax": 0.00, "TotalAmount": 1180.00,
             "InvoiceType": 1, "RefUSIN": None},
            {"ItemCode": "SKU-002", "ItemName": "Cotton T-shirt (promo)", "PCTCode": "61091000",
             "Quantity": 1, "TaxRate": 18, "SaleValue": 500.00, "Discount": 100.00,
             "TaxCharged": 90.00, "FurtherTax": 0.00, "TotalAmount": 590.00,
             "InvoiceType": 1, "RefUSIN": None},
        ],
    }


def refund(usin: str = "C1-R-000007", ref: str = "C1-000123") -> dict:
    """The reference's §1.7 refund of the first line."""
    return {
        "InvoiceNumber": "", "POSID": 123456, "USIN": usin, "RefUSIN": ref,
        "DateTime": "2026-11-21 10:12:00",
        "TotalSaleValue": 1000.00, "TotalQuantity": 1, "TotalTaxCharged": 180.00,
        "Discount": 0.00, "FurtherTax": 0.00, "TotalBillAmount": 1180.00,
        "PaymentMode": 1, "InvoiceType": 3,
        "Items": [
            {"ItemCode": "SKU-001", "ItemName": "Cotton T-shirt", "PCTCode": "61091000",
             "Quantity": 1, "TaxRate": 18, "SaleValue": 1000.00, "Discount": 0.00,
             "TaxCharged": 180.00, "FurtherTax": 0.00, "TotalAmount": 1180.00,
             "InvoiceType": 3, "RefUSIN": ref},
        ],
    }


@pytest.fixture
def sim():
    handle = start(port=0)
    yield handle
    handle.stop()


@pytest.fixture
def client(sim):
    with httpx.Client(base_url=sim.url, headers={"Authorization": f"Bearer {TOKEN}"},
                      timeout=5) as c:
        yield c


def invoices(client: httpx.Client) -> list[dict]:
    return client.get("/_sim/invoices").json()["invoices"]


def assert_rejected(response: httpx.Response, field: str) -> None:
    assert response.status_code == 200  # IMS rejects with HTTP 200
    body = response.json()
    assert {k: body[k] for k in REJECTED} == REJECTED
    assert isinstance(body["Errors"], str) and field in body["Errors"], body["Errors"]


# -- success ------------------------------------------------------------------

def test_valid_sale_gets_a_test_fiscal_number_on_the_sandbox(sim, client):
    assert sim.url == f"http://127.0.0.1:{sim.port}"
    response = client.post(SANDBOX, json=sale())
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"InvoiceNumber", "Code", "Response", "Errors"}
    assert body["Code"] == "100" and body["Errors"] is None
    assert body["Response"] == "Fiscal Invoice Number generated successfully."
    assert TEST_NUMBER.match(body["InvoiceNumber"]), body["InvoiceNumber"]

    [record] = invoices(client)
    assert record["InvoiceNumber"] == body["InvoiceNumber"]
    assert (record["USIN"], record["POSID"], record["InvoiceType"], record["RefUSIN"]) == \
        ("C1-000123", 123456, 1, None)
    assert record["payload"]["Items"][1]["ItemName"] == "Cotton T-shirt (promo)"
    assert record["received_at"].endswith("+05:00")


def test_production_path_issues_live_numbers_with_the_production_token(client):
    response = client.post(PRODUCTION, json=sale(),
                           headers={"Authorization": f"Bearer {PROD_TOKEN}"})
    assert response.json()["Code"] == "100"
    assert LIVE_NUMBER.match(response.json()["InvoiceNumber"])


def test_credit_note_with_refusin_gets_its_own_number(client):
    original = client.post(SANDBOX, json=sale()).json()["InvoiceNumber"]
    credit = client.post(SANDBOX, json=refund()).json()
    assert credit["Code"] == "100"
    assert credit["InvoiceNumber"] != original
    stored = {r["USIN"]: r for r in invoices(client)}
    assert stored["C1-R-000007"]["InvoiceType"] == 3
    assert stored["C1-R-000007"]["RefUSIN"] == "C1-000123"


def test_credit_note_needs_a_refusin(client):
    client.post(SANDBOX, json=sale())
    payload = refund()
    payload["RefUSIN"] = None
    assert_rejected(client.post(SANDBOX, json=payload), "RefUSIN")


def test_strict_credit_must_follow_its_original_and_stay_within_it(client):
    # Before the sale is accepted the credit refers to nothing: catches queue-ordering bugs.
    assert_rejected(client.post(SANDBOX, json=refund()), "RefUSIN")
    client.post(SANDBOX, json=sale())
    assert client.post(SANDBOX, json=refund("R-1")).json()["Code"] == "100"
    # 1180 + 1180 > 1770: the second refund of the same line is refused.
    assert_rejected(client.post(SANDBOX, json=refund("R-2")), "TotalBillAmount")
    # ...unless the check is switched off.
    client.post("/_sim/config", json={"check_credit_refs": False})
    assert client.post(SANDBOX, json=refund("R-2")).json()["Code"] == "100"


# -- validation ---------------------------------------------------------------

def _without(key):
    def change(p):
        del p[key]
    return change


def _set(key, value):
    def change(p):
        p[key] = value
    return change


def _set_item(key, value, index=0):
    def change(p):
        p["Items"][index][key] = value
    return change


STRICT_FAILURES = {
    "missing USIN": (_without("USIN"), "USIN: is required"),
    "missing DateTime": (_without("DateTime"), "DateTime: is required"),
    "missing TotalBillAmount": (_without("TotalBillAmount"), "TotalBillAmount: is required"),
    "empty Items": (_set("Items", []), "Items: must be a non-empty list"),
    "missing ItemCode": (lambda p: p["Items"][0].pop("ItemCode"), "Items[0].ItemCode: is required"),
    "PCT code with a dot": (_set_item("PCTCode", "6109.1000"), "Items[0].PCTCode"),
    "PCT code too short": (_set_item("PCTCode", "610910"), "Items[0].PCTCode"),
    "CNIC with dashes": (_set("BuyerCNIC", "35202-1234567-1"), "BuyerCNIC: must be 13 digits"),
    "NTN too long": (_set("BuyerNTN", "1234567-89"), "BuyerNTN"),
    "phone too long": (_set("BuyerPhoneNumber", "0" * 21), "BuyerPhoneNumber"),
    "ItemName over 150": (_set_item("ItemName", "x" * 151), "Items[0].ItemName"),
    "USIN over 50": (_set("USIN", "U" * 51), "USIN: is longer than 50"),
    "POSID not 6 digits": (_set("POSID", 12345), "POSID"),
    "ISO DateTime": (_set("DateTime", "2026-11-20T14:05:09"), "DateTime"),
    "PaymentMode 7": (_set("PaymentMode", 7), "PaymentMode"),
    "InvoiceType 4": (_set("InvoiceType", 4), "InvoiceType"),
    "item type 2": (_set_item("InvoiceType", 2), "Items[0].InvoiceType"),
    "credit item on a sale": (_set_item("InvoiceType", 3), "Items[0].InvoiceType"),
    "TaxRate as 18%": (_set_item("TaxRate", "18%"), "Items[0].TaxRate"),
    "amount as string": (_set("TotalSaleValue", "1500.00"), "TotalSaleValue: must be a number"),
    "negative quantity": (_set_item("Quantity", -1), "Items[0].Quantity"),
    "InvoiceNumber filled in": (_set("InvoiceNumber", "C1-000123"), "InvoiceNumber"),
    "bill total off": (_set("TotalBillAmount", 1771.00), "TotalBillAmount: 1771.0 != sum"),
    "sale total off": (_set("TotalSaleValue", 1400.00), "TotalSaleValue"),
    "tax total off": (_set("TotalTaxCharged", 260.00), "TotalTaxCharged"),
    "quantity total off": (_set("TotalQuantity", 3), "TotalQuantity"),
    "item total off": (_set_item("TotalAmount", 1190.00), "Items[0].TotalAmount"),
    "tax not 18% of sale value": (_set_item("TaxCharged", 170.00), "Items[0].TaxCharged"),
}


@pytest.mark.parametrize("change,expected", STRICT_FAILURES.values(), ids=STRICT_FAILURES.keys())
def test_strict_mode_rejects_with_the_ims_shape(client, change, expected):
    payload = copy.deepcopy(sale())
    change(payload)
    assert_rejected(client.post(SANDBOX, json=payload), expected)
    assert invoices(client) == []


def test_tax_is_compared_in_decimal_to_the_paisa(client):
    # 161.02 x 18% = 28.9836: 28.98 is correct rounding, 28.96 is two paisa out.
    def bill(usin, tax):
        p = sale(usin)
        p["Items"] = [dict(p["Items"][0], SaleValue=161.02, TaxCharged=tax, TotalAmount=161.02 + tax)]
        p["Items"][0]["TotalAmount"] = {28.98: 190.00, 28.96: 189.98}[tax]
        p.update(TotalSaleValue=161.02, TotalTaxCharged=tax, TotalQuantity=1,
                 TotalBillAmount=p["Items"][0]["TotalAmount"])
        return p
    assert client.post(SANDBOX, json=bill("A", 28.98)).json()["Code"] == "100"
    assert_rejected(client.post(SANDBOX, json=bill("B", 28.96)), "Items[0].TaxCharged")


def test_third_schedule_items_skip_the_tax_rate_check(client):
    payload = sale()
    for item in payload["Items"]:
        item["InvoiceType"] = 11
    payload["Items"][0].update(TaxCharged=170.00, TotalAmount=1170.00)
    payload.update(TotalTaxCharged=260.00, TotalBillAmount=1760.00)
    assert client.post(SANDBOX, json=payload).json()["Code"] == "100"


def test_lenient_mode_accepts_string_values_and_skips_arithmetic(client):
    client.post("/_sim/config", json={"mode": "lenient"})
    # What the live pharmacy POS sends to the local component (reference §1.3).
    payload = {
        "InvoiceNumber": "", "POSID": "123456", "USIN": 1111, "RefUSIN": "null",
        "DateTime": "2026-07-31 18:41:03.000", "BuyerName": "null",
        "TotalSaleValue": "1500.00", "TotalQuantity": "2", "TotalTaxCharged": "270.00",
        "TotalBillAmount": "1234.00", "PaymentMode": "1", "InvoiceType": "1",
        "Items": [{"ItemCode": "P1", "ItemName": "Panadol", "PCTCode": 30049099,
                   "Quantity": "2", "TaxRate": "18", "SaleValue": "1500.00",
                   "TaxCharged": "1.00", "TotalAmount": "1234.00", "InvoiceType": "1",
                   "RefUSIN": "null"}],
    }
    response = client.post(SANDBOX, json=payload)
    assert response.json()["Code"] == "100", response.text
    assert invoices(client)[0]["USIN"] == "1111"
    # Lenient is not anything-goes: a CNIC with dashes still overflows varchar(13).
    bad = dict(payload, USIN="2222", BuyerCNIC="35202-1234567-1")
    assert_rejected(client.post(SANDBOX, json=bad), "BuyerCNIC")
    # And the same string payload is refused once strict again.
    client.post("/_sim/config", json={"mode": "strict"})
    assert_rejected(client.post(SANDBOX, json=dict(payload, USIN="3333")), "POSID: must be an integer")


def test_body_that_is_not_json_is_rejected(client):
    form = client.post(SANDBOX, data={"USIN": "x"})
    assert_rejected(form, "body")
    client.post("/_sim/config", json={"bad_body": "400"})
    assert client.post(SANDBOX, content=b"{not json", headers={"Content-Type": "application/json"}
                       ).status_code == 400


# -- gateway auth -------------------------------------------------------------

@pytest.mark.parametrize("path,authorization,status,code", [
    (SANDBOX, None, 401, 900902),
    (SANDBOX, "Basic Zm9vOmJhcg==", 401, 900902),
    (SANDBOX, "Bearer not-a-real-token", 401, 900901),
    (SANDBOX, f"Bearer {PROD_TOKEN}", 403, 900908),
    (PRODUCTION, f"Bearer {TOKEN}", 403, 900908),
])
def test_gateway_faults(sim, path, authorization, status, code):
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.post(sim.url + path, json=sale(), headers=headers)
    assert response.status_code == status
    fault = response.json()["fault"]
    assert fault["code"] == code and fault["message"] and fault["description"]
    if authorization:
        assert authorization.split()[-1] not in response.text  # the token is never echoed
    assert httpx.get(sim.url + "/_sim/invoices").json()["count"] == 0


def test_foreign_token_is_forbidden_and_tokens_are_never_echoed(client):
    config = client.post("/_sim/config", json={"foreign_tokens": ["di-token-123"], "token": "new-tok"})
    assert "new-tok" not in config.text and "di-token-123" not in config.text
    r = client.post(SANDBOX, json=sale(), headers={"Authorization": "Bearer di-token-123"})
    assert (r.status_code, r.json()["fault"]["code"]) == (403, 900908)
    # The token changed at run time: the old one is now unknown.
    assert client.post(SANDBOX, json=sale()).json()["fault"]["code"] == 900901
    r = client.post(SANDBOX, json=sale(), headers={"Authorization": "Bearer new-tok"})
    assert r.json()["Code"] == "100"


def test_get_on_postdata_is_no_matching_resource(client):
    response = client.get(SANDBOX)
    assert response.status_code == 405
    assert response.json()["fault"]["code"] == 900906


# -- local fiscal component ---------------------------------------------------

def test_local_component_needs_no_auth_and_answers_health(sim):
    response = httpx.post(sim.url + LOCAL, json=sale())
    assert response.json()["Code"] == "100"
    assert TEST_NUMBER.match(response.json()["InvoiceNumber"])
    assert httpx.get(sim.url + "/api/IMSFiscal/Get").json() == ["Service is responding"]
    assert httpx.get(sim.url + "/api/imsfiscal/get").json() == ["Service is responding"]
    xml = httpx.get(sim.url + "/api/IMSFiscal/Get", headers={"Accept": "application/xml"})
    assert "<string>Service is responding</string>" in xml.text
    counts = httpx.get(sim.url + "/_sim/requests").json()
    assert counts["by_path"] == {LOCAL: 1, "/api/IMSFiscal/Get": 2, "/api/imsfiscal/get": 1}
    assert counts["total"] == 4


def test_local_component_in_production_mode_issues_live_numbers(client):
    client.post("/_sim/config", json={"component_env": "production"})
    assert LIVE_NUMBER.match(client.post(LOCAL, json=sale()).json()["InvoiceNumber"])


# -- duplicate USIN -----------------------------------------------------------

def test_duplicate_first_returns_the_original_number_and_stores_nothing(client):
    first = client.post(SANDBOX, json=sale()).json()["InvoiceNumber"]
    again = client.post(SANDBOX, json=sale()).json()
    assert again["Code"] == "100" and again["InvoiceNumber"] == first
    [record] = invoices(client)
    assert record["repeats"] == 1
    # Same USIN, different content: flagged, never silently mapped to the old number.
    changed = sale()
    changed["PaymentMode"] = 2
    assert_rejected(client.post(SANDBOX, json=changed), "different invoice")
    assert len(invoices(client)) == 1


def test_duplicate_reject(sim):
    with start(port=0, duplicate="reject") as rejecting, httpx.Client(
            base_url=rejecting.url, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        assert c.post(SANDBOX, json=sale()).json()["Code"] == "100"
        assert_rejected(c.post(SANDBOX, json=sale()), "duplicate")
        assert len(invoices(c)) == 1


def test_duplicate_new_issues_a_second_legal_invoice(client):
    client.post("/_sim/config", json={"duplicate": "new"})
    first = client.post(SANDBOX, json=sale()).json()["InvoiceNumber"]
    second = client.post(SANDBOX, json=sale()).json()["InvoiceNumber"]
    assert first != second
    records = invoices(client)
    assert [r["duplicate_of"] for r in records] == [None, first]


def test_config_rejects_unknown_values(client):
    assert client.post("/_sim/config", json={"duplicate": "sometimes"}).status_code == 400
    assert client.post("/_sim/config", json={"colour": "red"}).status_code == 400
    assert client.get("/_sim/config").json()["duplicate"] == "first"


# -- response variants and Code 112 ------------------------------------------

def test_legacy_response_style_sends_a_bare_number(client):
    client.post("/_sim/config", json={"response_style": "legacy"})
    r = client.post(PRODUCTION, json=sale(), headers={"Authorization": f"Bearer {PROD_TOKEN}"})
    assert re.search(r'"FBRInvoiceNumber": \d{21}', r.text), r.text
    assert r.json()["Response"] == "Invoice received successfully"


def test_retired_posid_gets_code_112_on_the_cloud_only(client):
    client.post("/_sim/config", json={"retired_posids": [123456]})
    assert client.post(SANDBOX, json=sale()).json()["Code"] == "112"
    assert client.post(LOCAL, json=sale()).json()["Code"] == "100"


# -- faults -------------------------------------------------------------------

def test_latency(client):
    client.post("/_sim/faults", json={"latency_ms": 400})
    began = time.monotonic()
    assert client.post(SANDBOX, json=sale()).json()["Code"] == "100"
    assert time.monotonic() - began >= 0.4
    client.post("/_sim/reset-faults")
    began = time.monotonic()
    client.post(SANDBOX, json=sale("C1-2"))
    assert time.monotonic() - began < 0.4


@pytest.mark.parametrize("status", [500, 502, 503])
def test_http_5xx_with_html_stores_nothing(client, status):
    client.post("/_sim/faults", json={"error_rate": 1, "error_statuses": [status]})
    response = client.post(SANDBOX, json=sale())
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert invoices(client) == []


def test_drop_before_processing_stores_nothing(client):
    client.post("/_sim/faults", json={"drop_rate": 1})
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(SANDBOX, json=sale())
    assert invoices(client) == []
    assert client.get("/_sim/requests").json()["by_path"][SANDBOX] == 1  # it did arrive


def test_stored_but_no_response_then_retry_finds_the_same_number(client):
    client.post("/_sim/faults", json={"store_no_response_rate": 1})
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(SANDBOX, json=sale())
    [record] = invoices(client)  # FBR has it even though the client never heard
    client.post("/_sim/reset-faults")
    retry = client.post(SANDBOX, json=sale()).json()  # duplicate policy "first"
    assert retry["InvoiceNumber"] == record["InvoiceNumber"]


def test_hang_longer_than_the_client_timeout(sim, client):
    client.post("/_sim/faults", json={"hang_seconds": 3})
    with pytest.raises(httpx.ReadTimeout):
        client.post(SANDBOX, json=sale(), timeout=0.5)
    began = time.monotonic()
    sim.stop()  # wakes the hanging thread instead of waiting it out
    assert time.monotonic() - began < 2
    assert sim.app.ims.store.invoices() == []  # stopped mid-hang: nothing stored


def test_hang_after_store_keeps_the_invoice(client):
    client.post("/_sim/faults", json={"hang_seconds": 3, "hang_after_store": True})
    with pytest.raises(httpx.ReadTimeout):
        client.post(SANDBOX, json=sale(), timeout=0.5)
    assert len(invoices(client)) == 1


def test_seeded_faults_are_deterministic_and_max_faults_caps_them(client):
    def run():
        client.post("/_sim/faults", json={"error_rate": 0.5, "error_statuses": [503], "seed": 7})
        return [client.post(LOCAL, json=sale(f"S-{i}")).status_code for i in range(12)]
    first, second = run(), run()
    assert first == second
    assert {200, 503} == set(first)
    client.post("/_sim/faults", json={"error_rate": 1, "error_statuses": [503], "max_faults": 1})
    assert [client.post(LOCAL, json=sale("M-1")).status_code for _ in range(2)] == [503, 200]


def test_bad_fault_config_is_refused(client):
    assert client.post("/_sim/faults", json={"error_rate": 2}).status_code == 400
    assert client.post("/_sim/faults", json={"explode": True}).status_code == 400


# -- persistence and process --------------------------------------------------

def test_invoices_survive_a_restart(tmp_path):
    with start(port=0, data_dir=str(tmp_path)) as first:
        number = httpx.post(first.url + LOCAL, json=sale()).json()["InvoiceNumber"]
        port = first.port
    assert (tmp_path / "fbr-ims-invoices.json").exists()
    assert not list(tmp_path.glob(".fbr-ims-*.tmp"))  # atomic write left no temp file
    with start(port=port, data_dir=str(tmp_path)) as second:
        [record] = httpx.get(second.url + "/_sim/invoices").json()["invoices"]
        assert record["InvoiceNumber"] == number
        # It still knows the USIN, and its sequence carries on instead of reusing numbers.
        assert httpx.post(second.url + LOCAL, json=sale()).json()["InvoiceNumber"] == number
        other = httpx.post(second.url + LOCAL, json=sale("C1-000124")).json()["InvoiceNumber"]
        assert other != number and other.removesuffix("*test*").endswith("002")


def test_cli_subprocess_prints_one_ready_line(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "simulators", "fbr", "--port", "0", "--token", "cli-token",
         "--duplicate", "reject", "--data", str(tmp_path)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        match = re.fullmatch(r"listening on (http://127\.0\.0\.1:(\d+))\n", line)
        assert match, line
        url = match.group(1)
        assert httpx.get(url + "/api/IMSFiscal/Get").json() == ["Service is responding"]
        auth = {"Authorization": "Bearer cli-token"}
        assert httpx.post(url + SANDBOX, json=sale(), headers=auth).json()["Code"] == "100"
        assert httpx.get(url + "/_sim/config").json()["duplicate"] == "reject"
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0
    assert process.stdout.read() == ""  # exactly one line
