"""A demo site: two branches with two counters each, staff with known PINs, about 300 items
from a Pakistani clothing, shoe and cosmetics shop, and opening stock at both branches."""
from __future__ import annotations

import random

from . import branches, db, ledger, staff
from .ledger import Movement
from .models import Barcode, Branch, Product, Variant

DEMO_STAFF = [  # code, name, role, PIN
    ("ayesha", "Ayesha Khan", "cashier", "1111"),
    ("bilal", "Bilal Ahmed", "cashier", "1212"),
    ("sana", "Sana Malik", "supervisor", "2222"),
    ("imran", "Imran Qureshi", "manager", "3333"),
    ("admin", "Site Admin", "admin", "9999"),
]
DEMO_BRANCHES = [("LHR1", "Lahore - Gulberg", "Main Boulevard, Gulberg III, Lahore"),
                 ("KHI1", "Karachi - Dolmen Mall", "Clifton Block 4, Karachi")]

COLOURS = ["Black", "White", "Maroon", "Mint", "Navy", "Mustard", "Peach", "Teal"]
SIZES = ["S", "M", "L", "XL"]
# (title, category, price Rs, tax %, PCT code, third schedule, colours, sizes)
RANGE = [
    ("Lawn 3pc Suit Unstitched", "Women", 4990, 18, "5208.5200", False, 6, None),
    ("Embroidered Lawn Kurti", "Women", 3450, 18, "6206.3000", False, 4, SIZES),
    ("Chiffon Dupatta", "Women", 1890, 18, "6214.3000", False, 8, None),
    ("Cotton Shalwar Kameez", "Men", 5990, 18, "6203.4200", False, 3, ["38", "40", "42", "44"]),
    ("Wash & Wear Kurta", "Men", 3990, 18, "6205.2000", False, 4, SIZES),
    ("Waistcoat", "Men", 6490, 18, "6211.3300", False, 3, ["38", "40", "42"]),
    ("Kids Kurta Pajama", "Kids", 2290, 18, "6209.2000", False, 3, ["2-3Y", "4-5Y", "6-7Y"]),
    ("Khussa", "Shoes", 2790, 18, "6404.1900", False, 3, ["36", "37", "38", "39", "40"]),
    ("Peshawari Chappal", "Shoes", 4490, 18, "6403.5900", False, 2, ["40", "41", "42", "43", "44"]),
    ("Canvas Sneakers", "Shoes", 3290, 18, "6404.1100", False, 2, ["39", "40", "41", "42", "43"]),
    ("Matte Lipstick", "Cosmetics", 1299, 18, "3304.1000", True, 8, None),
    ("Liquid Foundation", "Cosmetics", 2150, 18, "3304.9900", True, 5, None),
    ("Kajal Pencil", "Cosmetics", 450, 18, "3304.2000", True, 2, None),
    ("Herbal Face Wash 100ml", "Cosmetics", 399, 18, "3401.3000", True, 1, None),
    ("Attar Oud 12ml", "Fragrance", 1750, 18, "3303.0000", True, 1, None),
    ("Quran Rehal Cover", "Gifts", 650, 0, "6307.9000", False, 3, None),
]


# Urdu names printed on receipts with a [receipt] template that has urdu_names = true.
URDU_NAMES = {
    "Lawn 3pc Suit Unstitched": "لان سوٹ تین پیس ان سلا", "Embroidered Lawn Kurti": "کڑھائی والی لان کرتی",
    "Chiffon Dupatta": "شیفون دوپٹہ", "Cotton Shalwar Kameez": "سوتی شلوار قمیض", "Wash & Wear Kurta": "واش اینڈ ویئر کرتا",
    "Waistcoat": "واسکٹ", "Kids Kurta Pajama": "بچوں کا کرتا پاجامہ", "Khussa": "کھسہ", "Peshawari Chappal": "پشاوری چپل",
    "Canvas Sneakers": "کینوس جوتے", "Matte Lipstick": "میٹ لپ اسٹک", "Kajal Pencil": "کاجل پنسل",
    "Attar Oud 12ml": "عطر عود", "Quran Rehal Cover": "رحل کور",
}


def ean13(n: int) -> str:
    body = f"896{n:09d}"  # 896 is GS1 Pakistan
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def build(seed: int = 7, stock_per_item: tuple[int, int] = (0, 24), transfer: bool = True) -> dict:
    """Create the demo site in an initialised, empty database. Returns a summary.
    A chain's head office (`scripts/demo --chain`) is built with no stock and no transfer: each
    branch box records its own opening stock, which then replicates up."""
    if Branch.select().exists():
        raise RuntimeError("the database already has branches; the demo needs an empty database")
    rng = random.Random(seed)
    with db.write():
        made = [branches.create_branch(code, name, address) for code, name, address in DEMO_BRANCHES]
        for b in made:
            for c in ("C1", "C2"):
                branches.create_counter(b, c)
        for code, name, role, pin in DEMO_STAFF:
            staff.create(code, name, role, pin)
        n, variants = 0, []
        for title, category, price, tax, pct, third, n_colours, sizes in RANGE:
            product = Product.create(title=title, category=category, vendor="Demo Textiles")
            for colour in COLOURS[:n_colours]:
                for size in (sizes or [None]):
                    n += 1
                    option = colour if size is None else f"{colour} / {size}"
                    sku = f"{''.join(w[0] for w in title.split())[:4].upper()}-{colour[:3].upper()}-{size or 'OS'}"
                    v = Variant.create(product=product, sku=sku, name=f"{title} - {option}", option_text=option,
                                       price_paisa=price * 100, tax_rate_bp=tax * 100, pct_code=pct,
                                       third_schedule=third, urdu_name=URDU_NAMES.get(title))
                    Barcode.create(code=ean13(n), variant=v)
                    variants.append(v)
        # Fill out to about 300 items with more shades and prints.
        extra = Product.create(title="Printed Lawn Shirt", category="Women", vendor="Demo Textiles")
        i = 0
        while len(variants) < 300:
            i += 1
            n += 1
            size = SIZES[i % 4]
            v = Variant.create(product=extra, sku=f"PLS-{i:03d}-{size}", name=f"Printed Lawn Shirt - Print {i:03d} / {size}",
                               option_text=f"Print {i:03d} / {size}", price_paisa=2490 * 100, tax_rate_bp=1800,
                               pct_code="6206.3000")
            Barcode.create(code=ean13(n), variant=v)
            variants.append(v)
        movements = []
        for b in made:
            for v in variants:
                qty = rng.randint(*stock_per_item)
                if qty:
                    movements.append(Movement(f"opening:{b.code}:{v.sku}", v.id, b.id, qty, "opening",
                                              "opening_stock", f"opening-{b.code}", reason="opening stock"))
        ledger.record_many(movements)
    transfer = _demo_transfer(made, variants) if transfer else ""
    return {"branches": len(made), "counters": 2 * len(made), "staff": len(DEMO_STAFF),
            "variants": len(variants), "opening_movements": len(movements), "transfer": transfer}


def _demo_transfer(made, variants) -> str:
    """A transfer from Lahore to Karachi, dispatched and waiting to be received (scan its number
    at a Karachi counter: Ctrl+K, F3)."""
    from . import transfers
    from .models import Staff
    manager = Staff.get(Staff.code == "imran")
    lhr, khi = made
    stocked = [v for v in variants if ledger.on_hand(v.id, lhr.id) >= 3][:3]
    t = transfers.create(lhr.id, khi.id, manager.id, [transfers.TransferItem(v.id, 2) for v in stocked],
                         note="weekend restock for Dolmen Mall")
    transfers.dispatch(t.number, manager.id, shopify_enabled=False)
    return t.number


DEMO_LOCATIONS = {"LHR1": "LHR-01", "KHI1": "KHI-02"}


def shopify_seed() -> dict:
    """The demo catalog as a seed for the Shopify simulator: the same SKUs, barcodes, prices and
    opening stock, so that after `pos-agent import-catalog` the two agree to the unit."""
    from .models import Branch, StockLevel
    levels: dict[tuple[int, str], int] = {}
    for vid, code, qty in (StockLevel.select(StockLevel.variant, Branch.code, StockLevel.on_hand)
                           .join(Branch).tuples()):
        levels[(vid, code)] = qty
    branches_by_code = {b.code: b for b in Branch.select()}
    products = []
    for p in Product.select().order_by(Product.id):
        variants = []
        for v in p.variants.order_by(Variant.id):
            barcode = v.barcodes.first()
            variants.append({
                "sku": v.sku, "barcode": barcode.code if barcode else None,
                "price": f"{v.price_paisa // 100}.{v.price_paisa % 100:02d}",
                "options": {"Option": v.option_text or "Default Title"}, "tracked": True,
                "inventory": {DEMO_LOCATIONS[c]: levels.get((v.id, c), 0) for c in branches_by_code
                              if c in DEMO_LOCATIONS}})
        products.append({"title": p.title, "vendor": p.vendor, "productType": p.category, "status": "ACTIVE",
                         "variants": variants})
    return {
        "shop": {"name": "Demo Fashion House"},
        "locations": [{"name": branches_by_code[c].name, "code": loc, "city": branches_by_code[c].name.split(" - ")[0]}
                      for c, loc in DEMO_LOCATIONS.items() if c in branches_by_code],
        "products": products,
        "customers": [{"firstName": "Hina", "lastName": "Baig", "phone": "+923001234567"},
                      {"firstName": "Usman", "lastName": "Raza", "phone": "+923214567890"}],
    }
