"""Initial shop contents: a JSON seed file or a generated Pakistani retail catalog.

Seed file (`seed.json` in the data dir; only read when there is no `state.json` yet):

    {"shop": {"name": "..."},                       # optional overrides
     "locations": [{"name": "Lahore - Liberty", "code": "LHR-01", "city": "Lahore"}],
     "products": [{"title": "...", "vendor": "...", "productType": "...", "status": "ACTIVE",
                   "variants": [{"sku": "...", "barcode": "...", "price": "4500.00",
                                 "options": {"Size": "M"}, "tracked": true,
                                 "inventory": {"LHR-01": 12, "KHI-02": {"available": 3, "committed": 1}}}]}],
     "customers": [{"firstName": "Ayesha", "lastName": "Khan", "phone": "+923001234567"}]}
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from .state import ShopState

DEFAULT_LOCATIONS = [
    {"name": "Lahore - Liberty Market", "code": "LHR-01", "city": "Lahore", "province": "Punjab",
     "provinceCode": "PB", "address1": "Shop 12, Liberty Market, Gulberg III", "zip": "54660",
     "phone": "+924235761234"},
    {"name": "Karachi - Tariq Road", "code": "KHI-02", "city": "Karachi", "province": "Sindh",
     "provinceCode": "SD", "address1": "Plot 45, Tariq Road, PECHS", "zip": "75400",
     "phone": "+922134551234"},
    {"name": "Islamabad - F-7 Jinnah Super", "code": "ISB-03", "city": "Islamabad",
     "province": "Islamabad Capital Territory", "provinceCode": "IS", "address1": "Block 8, Jinnah Super, F-7 Markaz",
     "zip": "44000", "phone": "+92512654321", "fulfillsOnlineOrders": False},
]

# (productType, title pattern, vendor choices, option name, option values, price range PKR)
CATEGORIES = [
    ("Lawn Suit", "{adj} Printed Lawn 3-Piece", ["Noor Textiles", "Chenab Looms", "Ravi Prints"],
     "Colour", ["Firozi", "Maroon", "Mint", "Mustard", "Peach", "Navy"], (3500, 9500)),
    ("Kurta", "{adj} Cotton Kurta", ["Sindh Craft", "Margalla Menswear"],
     "Size", ["S", "M", "L", "XL"], (1800, 5500)),
    ("Shoes", "{adj} Peshawari Chappal", ["Qissa Khwani Footwear"],
     "Size", ["40", "41", "42", "43", "44"], (2500, 6500)),
    ("Shoes", "{adj} Embroidered Khussa", ["Multan Khussa House"],
     "Size", ["36", "37", "38", "39", "40"], (1500, 4200)),
    ("Cosmetics", "{adj} Matte Lipstick", ["Zaib Beauty"],
     "Shade", ["Rose", "Nude", "Brick Red", "Plum"], (650, 1800)),
    ("Cosmetics", "{adj} Kohl Kajal", ["Zaib Beauty", "Surma House"], None, None, (350, 900)),
]
SKU_PREFIX = {"{adj} Printed Lawn 3-Piece": "LWN", "{adj} Cotton Kurta": "KRT", "{adj} Peshawari Chappal": "PSC",
              "{adj} Embroidered Khussa": "KHS", "{adj} Matte Lipstick": "LPS", "{adj} Kohl Kajal": "KJL"}
ADJECTIVES = ["Gulnar", "Chandni", "Bahar", "Sehar", "Zarina", "Mehr", "Roshan", "Saba", "Noor", "Shireen",
              "Parveen", "Kashmiri", "Ajrak", "Phulkari", "Banarsi", "Sufi", "Shalimar", "Anarkali"]
FIRST_NAMES = ["Ayesha", "Fatima", "Hina", "Sana", "Zainab", "Ali", "Usman", "Bilal", "Hamza", "Imran", "Maryam", "Sadia"]
LAST_NAMES = ["Khan", "Qureshi", "Malik", "Siddiqui", "Butt", "Chaudhry", "Sheikh", "Raza", "Abbasi", "Mirza"]


def ean13(body12: str) -> str:
    """EAN-13 with a valid check digit (GS1 prefix 896 = Pakistan)."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body12))
    return body12 + str((10 - total % 10) % 10)


def generate(state: ShopState, n_products: int, seed: int = 2026) -> None:
    """Generate `n_products` products with variants, stock at every branch, and customers."""
    rng = random.Random(seed)
    with state.lock:
        if not state.data["locations"]:
            for spec in DEFAULT_LOCATIONS:
                state.add_location(spec)
        locations = list(state.data["locations"].values())
        barcode_serial = 0
        for i in range(n_products):
            ptype, pattern, vendors, opt_name, opt_values, (lo, hi) = CATEGORIES[i % len(CATEGORIES)]
            title = pattern.format(adj=ADJECTIVES[(i // len(CATEGORIES)) % len(ADJECTIVES)])
            if i >= len(CATEGORIES) * len(ADJECTIVES):
                title += f" #{i}"
            price = f"{rng.randrange(lo, hi, 50)}.00"
            prefix = SKU_PREFIX[pattern]
            values = opt_values[: rng.randint(2, len(opt_values))] if opt_values else [None]
            variants = []
            for value in values:
                barcode_serial += 1
                sku = f"{prefix}-{i + 1:04d}" + (f"-{value.upper().replace(' ', '')}" if value else "")
                variants.append({
                    "sku": sku, "barcode": ean13(f"896{seed % 1000:03d}{barcode_serial:06d}"),
                    "price": price, "options": {opt_name: value} if value else {},
                    "compareAtPrice": None,
                    "inventory": {loc["id"]: rng.randint(0, 40) for loc in locations},
                })
            state.create_product({"title": title, "vendor": rng.choice(vendors), "productType": ptype,
                                  "tags": [ptype.lower().replace(" ", "-"), "pos"], "variants": variants})
        if n_products and not state.data["customers"]:
            for j in range(max(5, n_products // 2)):
                state.upsert_customer({
                    "firstName": FIRST_NAMES[j % len(FIRST_NAMES)], "lastName": LAST_NAMES[(j * 7) % len(LAST_NAMES)],
                    "phone": f"+923{rng.randint(0, 4)}{rng.randint(0, 9)}{rng.randint(1000000, 9999999)}",
                    "email": f"customer{j + 1}@example.pk", "city": rng.choice(["Lahore", "Karachi", "Islamabad"]),
                })


def load_seed_file(state: ShopState, path: Path) -> None:
    spec = json.loads(Path(path).read_text())
    with state.lock:
        state.data["shop"].update(spec.get("shop", {}))
        for loc in spec.get("locations") or ([] if state.data["locations"] else DEFAULT_LOCATIONS):
            state.add_location(loc)
        for product in spec.get("products", []):
            state.create_product(product)
        for customer in spec.get("customers", []):
            state.upsert_customer(customer)
        for discount in spec.get("discounts", []):
            state.add_discount(discount)


def initialise(state: ShopState, seed_products: int = 0) -> None:
    """Fill a fresh shop (no state.json yet) from seed.json or the generator."""
    if state.path.exists():
        return
    seed_file = state.data_dir / "seed.json"
    if seed_file.exists():
        load_seed_file(state, seed_file)
    else:
        generate(state, seed_products)
    state.save()
