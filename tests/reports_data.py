"""A small month-boundary dataset for the report tests, with every figure worked out by hand.

Prices include tax. POLICY charges FBR's Re 1 fee per invoice. Times are set after each document is
made (the services stamp "now"), in UTC; Pakistan time is UTC+5.

  A  LHR1-C1 ayesha  31 Jan 15:00 PK   2 x kurta (99.99, 18%) + 1 x book (500.00, zero-rated), cash
  B  LHR1-C2 sana    1 Feb 11:30 PK    lipstick (1,299.00, Third Schedule) + suit (333.33), 10% order
                                       discount (within a supervisor's 25%), card 1,000 + JazzCash rest
  K  KHI1-C1 imran   1 Feb 20:00 PK    2 x book, cash
  R  LHR1-C1 sana    2 Feb 10:00 PK    refund of 1 kurta from A (across the month boundary), restocked;
                                       reason "wrong size"
  X  LHR1-C1 sana    3 Feb 18:00 PK    exchange: suit from B back, 3 x kurta out; the customer pays the
                                       difference in cash; reason "changed mind", note "wanted blue"
  D  LHR1-C1 ayesha  4 Feb 12:00 PK    suit with a 20% line discount (beyond a cashier's 10%), approved
                                       by imran (manager), cash

Products: clothes (kurta "Red / M", suit "Red / L", book, local-only item) are category Apparel from
Gul Ahmed; the lipstick is category Cosmetics from Medora.

Also: opening stock (50 of everything at both branches) dated 1 Nov 2026; a purchase order at LHR1
received 10 Jan: 10 kurta at 50.00 and 10 at 60.00 (average 55.00), 10 books at 300.00; the suit,
lipstick and local-only item are never received (no cost). Sana's C2 shift closed 1 Feb 22:00 with
Rs 1,990 counted against 2,000 expected (variance -10.00).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pos_core import purchasing, refunds, sales, shifts
from pos_core.models import GoodsReceipt, PosOrder, PosOrderLine, Product, Shift, StockMovement, Variant
from pos_core.pricing import Discount

from helpers import POLICY


def pk(y, m, d, h, mi=0) -> dt.datetime:
    """A Pakistan wall-clock time as the naive UTC the database stores."""
    return dt.datetime(y, m, d, h, mi) - dt.timedelta(hours=5)


def _stamp(order: PosOrder, when: dt.datetime) -> None:
    PosOrder.update(completed_at=when, created_at=when).where(PosOrder.id == order.id).execute()
    StockMovement.update(created_at=when).where(StockMovement.doc_ref == order.number).execute()


class Data:
    pass


def build(site) -> Data:
    d = Data()
    # Lipstick is its own product in its own category; the clothes have sizes.
    Product.update(category="Apparel", vendor="Gul Ahmed").execute()
    cosmetics = Product.create(title="Lipstick", category="Cosmetics", vendor="Medora")
    Variant.update(product=cosmetics).where(Variant.id == site.lipstick.id).execute()
    Variant.update(option_text="Red / M").where(Variant.id == site.kurta.id).execute()
    Variant.update(option_text="Red / L").where(Variant.id == site.suit.id).execute()
    d.shift2 = shifts.open_shift(site.counter2.id, site.supervisor.id, Decimal("2000"))
    d.khi_shift = shifts.open_shift(site.khi_counter.id, site.manager.id, Decimal("1000"))

    # A: 2 x 99.99 + 500.00 + Re 1 fee = 700.98
    d.a = sales.complete_sale(POLICY, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.cashier.id,
                              lines=[sales.SaleLine(site.kurta.id, 2), sales.SaleLine(site.book.id, 1)],
                              tenders=[sales.Tender("cash", Decimal("1000"))])
    _stamp(d.a, pk(2027, 1, 31, 15))

    # B: (1,299.00 + 333.33) less 10% = 1,469.10 (+ Re 1 = 1,470.10): card 1,000, JazzCash 470.10
    d.b = sales.complete_sale(POLICY, counter_id=site.counter2.id, shift_id=d.shift2.id, staff_id=site.supervisor.id,
                              lines=[sales.SaleLine(site.lipstick.id, 1), sales.SaleLine(site.suit.id, 1)],
                              order_discount=Discount("percent", "10"),
                              tenders=[sales.Tender("card", Decimal("1000"), "slip 77"),
                                       sales.Tender("wallet", Decimal("470.10"), "JazzCash 0300-1234567")])
    _stamp(d.b, pk(2027, 2, 1, 11, 30))

    # K: 2 x 500.00 + Re 1 = 1,001.00
    d.k = sales.complete_sale(POLICY, counter_id=site.khi_counter.id, shift_id=d.khi_shift.id,
                              staff_id=site.manager.id, lines=[sales.SaleLine(site.book.id, 2)],
                              tenders=[sales.Tender("cash", Decimal("1001"))])
    _stamp(d.k, pk(2027, 2, 1, 20))

    a_kurta = PosOrderLine.get((PosOrderLine.order == d.a.id) & (PosOrderLine.line_no == 1))
    d.r = refunds.refund(POLICY, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.supervisor.id,
                         sale_uid=d.a.uid, lines=[refunds.ReturnLine(a_kurta.id, 1)], reason="wrong_size")
    _stamp(d.r, pk(2027, 2, 2, 10))

    b_suit = PosOrderLine.get((PosOrderLine.order == d.b.id) & (PosOrderLine.line_no == 2))
    d.x_back, d.x_out = refunds.exchange(
        POLICY, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.supervisor.id, sale_uid=d.b.uid,
        returns=[refunds.ReturnLine(b_suit.id, 1)], new_lines=[sales.SaleLine(site.kurta.id, 3)],
        tenders=[sales.Tender("cash", Decimal("100"))], reason="changed_mind", note="wanted blue")
    _stamp(d.x_back, pk(2027, 2, 3, 18))
    _stamp(d.x_out, pk(2027, 2, 3, 18))

    d.d = sales.complete_sale(POLICY, counter_id=site.counter.id, shift_id=site.shift.id, staff_id=site.cashier.id,
                              lines=[sales.SaleLine(site.suit.id, 1, discount=Discount("percent", "20"))],
                              tenders=[sales.Tender("cash", Decimal("267.66"))], approver_id=site.manager.id)
    _stamp(d.d, pk(2027, 2, 4, 12))

    shifts.close_shift(d.shift2.id, site.supervisor.id, {1000: 1, 500: 1}, Decimal("490"))
    Shift.update(closed_at=pk(2027, 2, 1, 22)).where(Shift.id == d.shift2.id).execute()

    supplier = purchasing.supplier("Gul Ahmed")
    po = purchasing.create(site.lhr.id, supplier.id, site.manager.id,
                           [purchasing.OrderItem(site.kurta.id, 20, Decimal("50")),
                            purchasing.OrderItem(site.book.id, 10, Decimal("300"))])
    grn = purchasing.receive(po.number, site.manager.id,
                             [purchasing.Delivered(site.kurta.id, 10), purchasing.Delivered(site.book.id, 10)],
                             shopify_enabled=False)
    grn2 = purchasing.receive(po.number, site.manager.id, [purchasing.Delivered(site.kurta.id, 10, Decimal("60"))],
                              shopify_enabled=False)
    for g in (grn, grn2):
        GoodsReceipt.update(received_at=pk(2027, 1, 10, 10)).where(GoodsReceipt.id == g.id).execute()
        StockMovement.update(created_at=pk(2027, 1, 10, 10)).where(StockMovement.doc_ref == g.number).execute()
    StockMovement.update(created_at=pk(2026, 11, 1, 9)).where(StockMovement.kind == "opening").execute()
    return d
