"""The product hierarchy: department > category > sub-category.

Derived from Shopify data, chosen by `[categories] source`:

* ``product_type`` (default): the product type holds the path, e.g. "Women > Lawn > 3 Piece"
  (separator configurable). A type with no separator is the category alone ("Lawn"), which is
  what the catalog import stored before this module existed, so old data keeps its meaning.
* ``tags``: tags with prefixes name each level, e.g. "dept:Women", "cat:Lawn", "sub:3 Piece".
  Tags are what merchants already use for collections' rules, and they survive product-type edits.

Collections are not used: a product sits in many collections, which makes them a poor tree.
`Product.category` stays the level the stock take and reorder suggestions filter on.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import db
from .config import CategoryRules
from .models import Product

MAX_NAME = 64


@dataclass(frozen=True)
class Path:
    department: str = ""
    category: str = ""
    sub_category: str = ""

    def __str__(self) -> str:
        return " > ".join(p for p in (self.department, self.category, self.sub_category) if p)


def _clean(text: str) -> str:
    return " ".join((text or "").split())[:MAX_NAME]


def derive(rules: CategoryRules, product_type: str = "", tags: list[str] | tuple[str, ...] = ()) -> Path:
    if rules.source == "tags":
        found = ["", "", ""]
        for tag in tags or ():
            t = tag.strip()
            for i, prefix in enumerate(rules.tag_prefixes):
                if t.lower().startswith(prefix.lower()) and not found[i]:
                    found[i] = _clean(t[len(prefix):])
        return Path(*found)
    parts = [_clean(p) for p in (product_type or "").split(rules.separator)]
    parts = [p for p in parts if p]
    if len(parts) == 1:
        return Path(category=parts[0])
    if len(parts) == 2:
        return Path(parts[0], parts[1])
    if len(parts) >= 3:
        # Deeper paths fold into the sub-category, so nothing typed is lost.
        return Path(parts[0], parts[1], " > ".join(parts[2:]))
    return Path()


def apply(product: Product, path: Path) -> bool:
    """Store the path on a product; True when it changed."""
    if (product.department, product.category, product.sub_category) == (path.department, path.category,
                                                                         path.sub_category):
        return False
    product.department, product.category, product.sub_category = path.department, path.category, path.sub_category
    product.save(only=[Product.department, Product.category, Product.sub_category])
    return True


def tree() -> dict[str, dict[str, list[str]]]:
    """{department: {category: [sub-categories]}} over active products, for pickers and reports."""
    out: dict[str, dict[str, list[str]]] = {}
    rows = (Product.select(Product.department, Product.category, Product.sub_category)
            .where(Product.status == "ACTIVE").distinct()
            .order_by(Product.department, Product.category, Product.sub_category).tuples())
    for dept, cat, sub in rows:
        subs = out.setdefault(dept or "", {}).setdefault(cat or "", [])
        if sub and sub not in subs:
            subs.append(sub)
    return out


def products_in(department: str = "", category: str = "", sub_category: str = ""):
    """A query of products under a node; empty arguments are wildcards (used by promotions,
    reports, the stock take and reorder suggestions to scope themselves)."""
    q = Product.select()
    if department:
        q = q.where(Product.department == department)
    if category:
        q = q.where(Product.category == category)
    if sub_category:
        q = q.where(Product.sub_category == sub_category)
    return q


def condition(scope: str, separator: str = ">"):
    """A query condition on Product for what a person typed as a scope: "Women > Lawn" (that
    department and category), "Women > Lawn > 3 Piece", or one name ("Lawn"), which matches a
    category or a department of that name. Used by the stock take and stock levels."""
    parts = [_clean(p) for p in (scope or "").split(separator)]
    parts = [p for p in parts if p]
    if not parts:
        raise ValueError("an empty category scope")
    if len(parts) == 1:
        return (Product.category == parts[0]) | (Product.department == parts[0])
    cond = (Product.department == parts[0]) & (Product.category == parts[1])
    if len(parts) > 2:
        cond &= Product.sub_category == " > ".join(parts[2:])
    return cond


def reclassify(rules: CategoryRules, rows: list[dict]) -> int:
    """rows: {"id": product gid, "productType", "tags"} as read from Shopify; returns how many changed."""
    changed = 0
    with db.write():
        by_gid = {p.shopify_id: p for p in Product.select().where(Product.shopify_id.in_([r["id"] for r in rows]))}
        for r in rows:
            p = by_gid.get(r["id"])
            if p is not None and apply(p, derive(rules, r.get("productType") or "", r.get("tags") or ())):
                changed += 1
    return changed
