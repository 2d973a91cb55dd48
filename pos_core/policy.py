"""What a site's config decides about selling, as a plain object the services take."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from .money import to_paisa


@dataclass(frozen=True)
class SalePolicy:
    prices_include_tax: bool = True
    service_fee_paisa: int = 0         # FBR's Re 1 per invoice, only when FBR reporting is on
    shopify_enabled: bool = False
    fbr_enabled: bool = False
    fbr_posid: str = ""
    discount_limits: dict[str, Decimal] = field(default_factory=dict)
    barcode_rules: object = None  # config.BarcodeRules: how price-embedded codes read; None = defaults


def from_config(cfg) -> SalePolicy:
    fbr_on = cfg.fbr.mode != "off"
    return SalePolicy(
        prices_include_tax=cfg.prices_include_tax,
        service_fee_paisa=to_paisa(cfg.fbr.service_fee) if fbr_on else 0,
        shopify_enabled=cfg.shopify.enabled,
        fbr_enabled=fbr_on,
        fbr_posid=cfg.fbr.posid,
        discount_limits=dict(cfg.discount_limits),
        barcode_rules=cfg.barcodes,
    )
