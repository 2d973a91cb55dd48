"""Helpers shared by the agent's tests and benchmarks (not used by the agent itself).

`mirror_site` builds a small local shop whose branches and variants point at a running Shopify
simulator's locations and inventory items, so sales made with pos_core reach the simulator.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import httpx

from pos_core import branches, ledger, sales, shifts, staff
from pos_core.ledger import Movement
from pos_core.models import Barcode, Product, Variant
from pos_core.policy import SalePolicy

SHOPIFY_POLICY = SalePolicy(shopify_enabled=True)


def sim_state(url: str) -> dict:
    return httpx.get(f"{url}/_sim/state", timeout=30).json()


def sim_adjustments(url: str, key: str | None = None) -> list[dict]:
    params = {"idempotencyKey": key} if key else None
    return httpx.get(f"{url}/_sim/adjustments", params=params, timeout=30).json()["adjustments"]


def sim_post(url: str, path: str, body: dict) -> dict:
    r = httpx.post(f"{url}/_sim/{path}", json=body, timeout=30)
    r.raise_for_status()
    return r.json()


def available(state: dict, item: str, location: str) -> int | None:
    for row in state["inventory"]:
        if row["inventoryItemId"] == item and row["locationId"] == location:
            return row["available"]
    return None


@dataclass
class MirrorSite:
    branches: list = field(default_factory=list)
    counters: list = field(default_factory=list)
    shifts: list = field(default_factory=list)
    cashier: object = None
    variants: list = field(default_factory=list)


def mirror_site(url: str, n_branches: int = 2, n_variants: int = 6, opening: int = 1000) -> MirrorSite:
    """Branches B1..Bn mapped to the simulator's first locations; variants stocked everywhere."""
    st = sim_state(url)
    site = MirrorSite()
    locs = [loc["id"] for loc in st["locations"]][:n_branches]
    for i, loc in enumerate(locs, start=1):
        b = branches.create_branch(f"B{i}", f"Branch {i}", shopify_location_id=loc)
        site.branches.append(b)
        site.counters.append(branches.create_counter(b, "C1"))
    site.cashier = staff.create("cash1", "Cashier", "manager", "1111")
    stocked = {(r["inventoryItemId"], r["locationId"]) for r in st["inventory"]}
    product = Product.create(title="Mirrored goods")
    for p in st["products"]:
        for v in p["variants"]:
            if len(site.variants) >= n_variants:
                break
            if not v["tracked"] or not all((v["inventoryItemId"], loc) in stocked for loc in locs):
                continue
            var = Variant.create(product=product, sku=v["sku"], name=v["sku"], price_paisa=100_00,
                                 shopify_id=v["id"], shopify_inventory_item_id=v["inventoryItemId"])
            if v.get("barcode"):
                Barcode.create(code=v["barcode"], variant=var)
            for b in site.branches:
                ledger.record(Movement(f"opening:{b.code}:{var.sku}", var.id, b.id, opening, "opening",
                                       "opening_stock", "open"))
            site.variants.append(var)
    for c in site.counters:
        site.shifts.append(shifts.open_shift(c.id, site.cashier.id, Decimal("1000")))
    return site


def sell(site: MirrorSite, branch_index: int, items: list[tuple[Variant, int]]):
    lines = [sales.SaleLine(v.id, q) for v, q in items]
    # current prices: the agent's catalog pass may have brought Shopify's prices in meanwhile
    total = sum(Decimal(Variant.get_by_id(v.id).price_paisa) / 100 * q for v, q in items)
    return sales.complete_sale(SHOPIFY_POLICY, counter_id=site.counters[branch_index].id,
                               shift_id=site.shifts[branch_index].id, staff_id=site.cashier.id,
                               lines=lines, tenders=[sales.Tender("cash", total)])


def write_config(path: Path, db_url: str, sim_url: str, token: str, locations: dict[str, str],
                 enabled: bool = True) -> Path:
    """A pos.toml for the agent pointed at the simulator; the token lives in its own 0600 file."""
    from pos_core.config import write_private
    token_file = path.parent / "shopify.token"
    write_private(token_file, token + "\n")
    locs = "\n".join(f'{code} = "{gid}"' for code, gid in locations.items())
    path.write_text(
        f'[database]\nurl = "{db_url}"\n\n'
        f'[shopify]\nenabled = {"true" if enabled else "false"}\nshop = "rang-e-bahar.myshopify.com"\n'
        f'endpoint = "{sim_url}"\ntoken_file = "{token_file}"\n\n[shopify.locations]\n{locs}\n')
    return path
