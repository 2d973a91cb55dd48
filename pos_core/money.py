"""Money: integer paisa everywhere it is stored or summed, Decimal rupees at the edges.

A float never touches money. Inputs from people and files arrive as text or Decimal and are
converted once with `to_paisa`, which refuses anything finer than a paisa rather than guess.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

PAISA_PER_RUPEE = 100
# Larger than any till will ever see (Rs 10 billion), small enough to catch a scanner typing a
# barcode into the amount field.
MAX_PAISA = 10_000_000_000 * PAISA_PER_RUPEE


class MoneyError(ValueError):
    """An amount that cannot be money: not a number, negative where it must not be, too precise."""


def to_paisa(amount: Decimal | int | str) -> int:
    """Rupees (Decimal, int or text such as "1,250.50") to integer paisa, exactly."""
    if isinstance(amount, float):
        raise MoneyError("money must not be given as a float")
    if isinstance(amount, bool):
        raise MoneyError("money must be a number")
    if isinstance(amount, str):
        text = amount.strip().replace(",", "")
        if text.lower().startswith("rs"):
            text = text[2:].lstrip(". ")
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise MoneyError(f"{amount!r} is not an amount") from None
    value = Decimal(amount)
    if not value.is_finite():
        raise MoneyError(f"{amount!r} is not an amount")
    paisa = value * PAISA_PER_RUPEE
    if paisa != paisa.to_integral_value():
        raise MoneyError(f"{amount} has more than two decimal places")
    result = int(paisa)
    if abs(result) > MAX_PAISA:
        raise MoneyError(f"{amount} is too large")
    return result


def to_rupees(paisa: int) -> Decimal:
    return (Decimal(paisa) / PAISA_PER_RUPEE).quantize(Decimal("0.01"))


def fmt(paisa: int) -> str:
    """1234567 -> '12,345.67' (the way amounts are printed on receipts and screens)."""
    sign = "-" if paisa < 0 else ""
    return f"{sign}{abs(to_rupees(paisa)):,.2f}"


def round_half_up(value: Decimal) -> int:
    """Round a Decimal number of paisa to a whole paisa, halves away from zero."""
    return int(value.quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def spread(total: int, weights: list[int]) -> list[int]:
    """Split `total` paisa over `weights` in proportion, so that the parts add up exactly.

    Largest-remainder method: every part is the floor of its exact share, and the paisa left
    over go to the largest remainders (ties to the earlier line, so the result is stable).
    """
    if total < 0:
        raise MoneyError("cannot spread a negative amount")
    base = sum(weights)
    if base <= 0:
        if total:
            raise MoneyError("cannot spread an amount over lines worth nothing")
        return [0] * len(weights)
    parts = [total * w // base for w in weights]
    remainders = [(total * w % base, -i) for i, w in enumerate(weights)]
    left = total - sum(parts)
    for _, neg_i in sorted(remainders, reverse=True)[:left]:
        parts[-neg_i] += 1
    return parts


def prorate(amount: int, part: int, whole: int) -> int:
    """round_half_up(amount * part / whole) in exact integer arithmetic."""
    if whole <= 0:
        raise MoneyError("cannot prorate over nothing")
    return round_half_up(Decimal(amount) * part / whole)
