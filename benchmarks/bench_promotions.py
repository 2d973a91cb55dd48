"""Active promotions for the benchmarks: a realistic mix of every kind, most of them not matching
any one cart (other categories, other SKUs), so the cost measured is deciding what applies."""
from __future__ import annotations

import random


def make_promotions(n: int, categories: list[str], skus: list[str], seed: int = 5, matching: float = 0.05) -> int:
    """n promotions; about `matching` of them target the given categories and SKUs (the goods the
    benchmark sells), the rest other categories and SKUs of a large catalog."""
    from pos_core import db
    from pos_core.models import Promotion
    rng = random.Random(seed)
    other_cats = [f"Other{i}" for i in range(40)]
    other_skus = [f"X{i:06d}" for i in range(50_000)]
    rows = []
    for i in range(n):
        hit = rng.random() < matching
        cats = categories if hit else other_cats
        pool = skus if hit else other_skus
        kind = rng.choices(["item_percent", "item_amount", "bxgy", "bundle", "bill_percent", "bill_amount"],
                           [40, 20, 10, 10, 10, 10])[0]
        row = dict(name=f"Promo {i} {kind}", kind=kind, priority=rng.randint(0, 5), combinable=rng.random() > 0.1,
                   branches=rng.choice(["", "", "LHR1", "KHI1", "LHR1,KHI1"]))
        if rng.random() < 0.2:
            row.update(daily_from=0, daily_to=24 * 60 - 1)   # a daily window that is always open
        if kind == "item_percent":
            row.update(value=rng.randint(5, 30) * 100, category=rng.choice(cats))
        elif kind == "item_amount":
            row.update(value=rng.randint(50, 500) * 100, skus=rng.sample(pool, min(3, len(pool))))
        elif kind == "bxgy":
            row.update(buy_qty=2, get_qty=1, category=rng.choice(cats))
        elif kind == "bundle":
            row.update(skus=rng.sample(pool, 2), bundle_price_paisa=rng.randint(500, 3000) * 100)
        elif kind == "bill_percent":
            row.update(value=rng.randint(2, 10) * 100, min_spend_paisa=rng.randint(10, 100) * 1000_00)
        else:
            row.update(value=rng.randint(100, 1000) * 100, min_spend_paisa=rng.randint(5, 50) * 1000_00)
        rows.append(row)
    with db.write():
        for r in rows:
            Promotion.create(**r)
    return n
