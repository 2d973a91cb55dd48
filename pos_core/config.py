"""Loading and checking the TOML config.

Found by `--config PATH`, then `$POS_CONFIG`, then DEFAULT_PATH. Every key has a default except
`[database] url`, so a config holding only that is enough for the admin commands and the demo.
A mistake is reported as one line naming the file, the key, what was expected and what was
found; the command-line entry points turn it into exit status 2.
"""
from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Callable

DEFAULT_PATH = Path("/etc/pos/pos.toml")
FBR_MODES = ("off", "sandbox", "production", "local")
PRINTER_KINDS = ("none", "file", "usb", "serial", "network", "dummy")


class ConfigError(Exception):
    def __init__(self, path: Path | str, key: str, expected: str, found: Any):
        self.path, self.key, self.expected, self.found = str(path), key, expected, found
        super().__init__(f"{path}: {key}: expected {expected}, found {found!r}")


@dataclass(frozen=True)
class ShopifyConfig:
    enabled: bool = False
    shop: str = ""
    api_version: str = "2026-10"
    token: str = field(default="", repr=False)
    token_file: str = ""
    endpoint: str = ""  # override for the simulator, e.g. http://127.0.0.1:8701
    locations: dict[str, str] = field(default_factory=dict)  # branch code -> location gid
    poll_seconds: int = 20
    cod_gateways: tuple[str, ...] = ("Cash on Delivery (COD)", "cash_on_delivery", "COD", "manual")


@dataclass(frozen=True)
class FbrConfig:
    mode: str = "off"
    endpoint: str = ""
    posid: str = ""
    token: str = field(default="", repr=False)
    token_file: str = ""
    wait_seconds: Decimal = Decimal("3")
    service_fee: Decimal = Decimal("1.00")
    logo_path: str = ""
    # The endpoint in use is known to answer a repeated USIN with the original fiscal number
    # (never a second one): an uncertain send may then be resent without a person (docs/fbr.md).
    repeat_usin_returns_original: bool = False


@dataclass(frozen=True)
class PrinterConfig:
    kind: str = "none"
    path: str = ""
    host: str = ""
    port: int = 9100
    device: str = ""
    baudrate: int = 9600
    vendor_id: int = 0
    product_id: int = 0
    profile: str = ""
    width: int = 48
    timeout_ms: int = 5000
    header: tuple[str, ...] = ()
    footer: tuple[str, ...] = ()
    open_drawer: bool = True
    label_queue: str = ""     # CUPS queue of a label printer for airway bills (lp -d QUEUE)


BARCODE_SYMBOLOGIES = ("ean13", "code128")
IN_STORE_PREFIXES = tuple(str(n) for n in range(20, 30))  # GS1 restricted circulation


@dataclass(frozen=True)
class BarcodeRules:
    generate: str = "ean13"
    ean_prefix: str = "21"
    price_prefixes: tuple[str, ...] = ("28",)
    quantity_prefixes: tuple[str, ...] = ("29",)
    price_decimals: int = 0      # digits of the embedded price after the decimal point: 0 = whole rupees
    write_back: bool = False

    def problems(self) -> list[tuple[str, str, object]]:
        """(key, expected, found) for each thing wrong; config.py turns the first into a ConfigError."""
        out: list[tuple[str, str, object]] = []
        if self.generate not in BARCODE_SYMBOLOGIES:
            out.append(("generate", "ean13 or code128", self.generate))
        if self.ean_prefix not in IN_STORE_PREFIXES:
            out.append(("ean_prefix", "an in-store prefix from 20 to 29", self.ean_prefix))
        for key, values in (("price_prefixes", self.price_prefixes), ("quantity_prefixes", self.quantity_prefixes)):
            for p in values:
                if p not in IN_STORE_PREFIXES:
                    out.append((key, "in-store prefixes from 20 to 29", p))
        embedded = set(self.price_prefixes) | set(self.quantity_prefixes)
        if set(self.price_prefixes) & set(self.quantity_prefixes):
            out.append(("quantity_prefixes", "prefixes not also used for prices",
                        sorted(set(self.price_prefixes) & set(self.quantity_prefixes))))
        if self.ean_prefix in embedded:
            out.append(("ean_prefix", "a prefix not used for price- or quantity-embedded codes", self.ean_prefix))
        if self.price_decimals not in (0, 1, 2):
            out.append(("price_decimals", "0, 1 or 2", self.price_decimals))
        return out


@dataclass(frozen=True)
class ScannerConfig:
    device: str = ""          # evdev path; empty = keyboard-wedge detection in the till
    layout: str = "us"
    max_gap_ms: int = 50      # a human never types 8+ characters this evenly fast
    min_length: int = 4


@dataclass(frozen=True)
class CourierAccount:
    """A courier whose merchant API books our parcels ([courier_api.<name>], issue 18)."""
    name: str                      # leopards, postex
    endpoint: str = ""             # override for the simulator, e.g. http://127.0.0.1:8702
    api_key: str = field(default="", repr=False)
    api_password: str = field(default="", repr=False)   # Leopards
    password_file: str = ""
    token: str = field(default="", repr=False)          # PostEx
    token_file: str = ""
    origin_city: str = ""          # the courier's code for the city parcels leave from
    pickup_address_code: str = ""  # PostEx
    shipper_name: str = ""
    shipper_phone: str = ""
    shipper_address: str = ""
    track_minutes: int = 30        # how often each open parcel's status is read
    timeout_seconds: int = 15


@dataclass(frozen=True)
class BackupConfig:
    dir: str = ""             # empty: a backups/ directory beside the SQLite file
    keep: int = 14            # nightly copies kept by the agent


HQ_ROLES = ("off", "branch", "head-office")
HQ_SHOPIFY = ("head-office", "direct")


@dataclass(frozen=True)
class HqConfig:
    """The chain link (issue 13). A branch's agent connects out to the head office's PostgreSQL
    (`url` without the password, which lives in `password_file`, mode 0600)."""
    role: str = "off"
    url: str = ""
    password_file: str = ""
    branch: str = ""            # this box's branch code; defaults to [counter] branch
    push_seconds: float = 0.5   # how often an idle link looks for new changes
    timeout_seconds: int = 30   # a head-office call silent this long fails (a stalled link)
    keep_days: int = 7          # confirmed change-log rows are kept this long (for a restored peer)
    # Issue 14: who sends a branch's Shopify jobs. "head-office" (a branch's default): its agent
    # hands them to the head office, whose agent sends them; the branch needs no Shopify token.
    # "direct": the branch's agent sends them itself with the shop's token, as a single shop does.
    shopify: str = "head-office"


@dataclass(frozen=True)
class Config:
    path: str
    database_url: str
    site_name: str = "POS demo site"
    branch: str = ""
    counter: str = ""
    prices_include_tax: bool = True
    default_tax_rate: Decimal = Decimal("18")
    printer: PrinterConfig = PrinterConfig()
    scanner: ScannerConfig = ScannerConfig()
    shopify: ShopifyConfig = ShopifyConfig()
    fbr: FbrConfig = FbrConfig()
    keys: dict[str, str] = field(default_factory=dict)
    discount_limits: dict[str, Decimal] = field(default_factory=dict)
    adjustment_approval_above: Decimal = Decimal("5000")
    courier_urls: dict[str, str] = field(default_factory=dict)
    backup: BackupConfig = BackupConfig()
    hq: HqConfig = HqConfig()
    courier_accounts: dict[str, CourierAccount] = field(default_factory=dict)
    barcodes: BarcodeRules = BarcodeRules()
    categories: "CategoryRules" = field(default_factory=lambda: CategoryRules())
    # [receipt] and [labels] as written: printers.template / printers.labels check them at start,
    # because pos_core may not import printers.
    receipt: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)


CATEGORY_SOURCES = ("product_type", "tags")


@dataclass(frozen=True)
class CategoryRules:
    """Where the department > category > sub-category hierarchy comes from (categories.py)."""
    source: str = "product_type"  # product_type: "Women > Lawn > 3 Piece"; tags: "dept:Women", ...
    separator: str = ">"
    tag_prefixes: tuple[str, str, str] = ("dept:", "cat:", "sub:")


def find_path(cli_path: str | None = None) -> Path:
    if cli_path:
        return Path(cli_path)
    if os.environ.get("POS_CONFIG"):
        return Path(os.environ["POS_CONFIG"])
    return DEFAULT_PATH


def load(cli_path: str | None = None) -> Config:
    path = find_path(cli_path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(path, "(file)", "a readable config file", "no such file") from None
    except OSError as exc:
        raise ConfigError(path, "(file)", "a readable config file", exc.strerror) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(path, "(file)", "UTF-8 text", "undecodable bytes") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "(file)", "valid TOML", str(exc)) from None
    return parse(data, path)


def parse(data: dict, path: Path | str) -> Config:
    r = _Reader(data, Path(path))
    known = {"database", "site", "counter", "tax", "printer", "scanner", "shopify", "fbr", "keys",
             "permissions", "stock", "couriers", "backup", "courier_api", "barcodes", "categories",
             "receipt", "labels", "hq"}
    for section in data:
        if section not in known:
            raise ConfigError(path, section, "one of " + ", ".join(sorted(known)), "unknown section")
    url = r.get("database.url", str, None)
    if not url:
        raise ConfigError(path, "database.url", "a database URL (sqlite:///... or postgresql://...)",
                          url if url is not None else "nothing")
    url = _resolve_sqlite_path(url, Path(path))
    printer = PrinterConfig(
        kind=r.choice("printer.kind", PRINTER_KINDS, "none"),
        path=r.get("printer.path", str, ""), host=r.get("printer.host", str, ""),
        port=r.get("printer.port", int, 9100), device=r.get("printer.device", str, ""),
        baudrate=r.get("printer.baudrate", int, 9600),
        vendor_id=r.get("printer.vendor_id", int, 0), product_id=r.get("printer.product_id", int, 0),
        profile=r.get("printer.profile", str, ""),
        width=r.check("printer.width", int, 48, lambda v: v in (32, 48), "32 (58 mm) or 48 (80 mm)"),
        timeout_ms=r.get("printer.timeout_ms", int, 5000),
        header=tuple(r.strings("printer.header")), footer=tuple(r.strings("printer.footer")),
        open_drawer=r.get("printer.open_drawer", bool, True),
        label_queue=r.get("printer.label_queue", str, ""),
    )
    scanner = ScannerConfig(
        device=r.get("scanner.device", str, ""),
        layout=r.choice("scanner.layout", ("us", "uk"), "us"),
        max_gap_ms=r.check("scanner.max_gap_ms", int, 50, lambda v: 1 <= v <= 1000, "1..1000"),
        min_length=r.check("scanner.min_length", int, 4, lambda v: 1 <= v <= 64, "1..64"),
    )
    shopify = ShopifyConfig(
        enabled=r.get("shopify.enabled", bool, False),
        shop=r.get("shopify.shop", str, ""),
        api_version=r.check("shopify.api_version", str, "2026-10",
                            lambda v: len(v) == 7 and v[4] == "-", "a version like 2026-10"),
        token=r.get("shopify.token", str, ""), token_file=r.get("shopify.token_file", str, ""),
        endpoint=r.get("shopify.endpoint", str, ""),
        locations=r.table("shopify.locations"),
        poll_seconds=r.check("shopify.poll_seconds", int, 20, lambda v: 5 <= v <= 3600, "5..3600"),
        cod_gateways=tuple(r.strings("shopify.cod_gateways")) or ShopifyConfig.cod_gateways,
    )
    if shopify.enabled and not shopify.shop:
        raise ConfigError(path, "shopify.shop", "the shop domain (name.myshopify.com)", "nothing")
    fbr = FbrConfig(
        mode=r.choice("fbr.mode", FBR_MODES, "off"),
        endpoint=r.get("fbr.endpoint", str, ""),
        posid=r.check("fbr.posid", str, "", lambda v: v == "" or (v.isdigit() and len(v) <= 10),
                      "the POSID digits FBR issued for this counter"),
        token=r.get("fbr.token", str, ""), token_file=r.get("fbr.token_file", str, ""),
        wait_seconds=r.decimal("fbr.wait_seconds", "3", minimum=Decimal(0), maximum=Decimal(30)),
        service_fee=r.decimal("fbr.service_fee", "1.00", minimum=Decimal(0), maximum=Decimal(100)),
        logo_path=r.get("fbr.logo_path", str, ""),
        repeat_usin_returns_original=r.get("fbr.repeat_usin_returns_original", bool, False),
    )
    limits = {role: r.decimal(f"permissions.{role}_max_discount", None, minimum=Decimal(0),
                              maximum=Decimal(100))
              for role in ("cashier", "supervisor", "manager", "admin")}
    return Config(
        path=str(path), database_url=url,
        site_name=r.get("site.name", str, "POS demo site"),
        branch=r.get("counter.branch", str, ""), counter=r.get("counter.code", str, ""),
        prices_include_tax=r.get("tax.prices_include_tax", bool, True),
        default_tax_rate=r.decimal("tax.default_rate", "18", minimum=Decimal(0), maximum=Decimal(100)),
        printer=printer, scanner=scanner, shopify=shopify, fbr=fbr,
        keys={k: str(v) for k, v in r.table("keys").items()},
        discount_limits={k: v for k, v in limits.items() if v is not None},
        adjustment_approval_above=r.decimal("stock.approval_above", "5000", minimum=Decimal(0),
                                            maximum=Decimal(10_000_000)),
        courier_urls=_courier_urls(r),
        backup=BackupConfig(dir=r.get("backup.dir", str, ""),
                            keep=r.check("backup.keep", int, 14, lambda v: 1 <= v <= 365, "1..365")),
        hq=_hq(r),
        courier_accounts=_courier_accounts(r),
        barcodes=_barcodes(r), categories=_categories(r),
        receipt=_section(r, "receipt"), labels=_section(r, "labels"),
    )


def _barcodes(r: "_Reader") -> BarcodeRules:
    d = BarcodeRules()
    rules = BarcodeRules(
        generate=r.get("barcodes.generate", str, d.generate),
        ean_prefix=r.get("barcodes.ean_prefix", str, d.ean_prefix),
        price_prefixes=tuple(r.strings("barcodes.price_prefixes")) if r.raw("barcodes.price_prefixes") is not None
        else d.price_prefixes,
        quantity_prefixes=tuple(r.strings("barcodes.quantity_prefixes"))
        if r.raw("barcodes.quantity_prefixes") is not None else d.quantity_prefixes,
        price_decimals=r.get("barcodes.price_decimals", int, d.price_decimals),
        write_back=r.get("barcodes.write_back", bool, d.write_back),
    )
    for key, expected, found in rules.problems()[:1]:
        raise ConfigError(r.path, f"barcodes.{key}", expected, found)
    return rules


def _categories(r: "_Reader") -> CategoryRules:
    d = CategoryRules()
    prefixes = r.strings("categories.tag_prefixes")
    if prefixes and (len(prefixes) != 3 or not all(prefixes)):
        raise ConfigError(r.path, "categories.tag_prefixes", "three tag prefixes (department, category, sub)",
                          prefixes)
    sep = r.get("categories.separator", str, d.separator)
    if not sep.strip():
        raise ConfigError(r.path, "categories.separator", "a visible separator such as >", sep)
    return CategoryRules(source=r.choice("categories.source", CATEGORY_SOURCES, d.source), separator=sep,
                         tag_prefixes=tuple(prefixes) if prefixes else d.tag_prefixes)


def _section(r: "_Reader", name: str) -> dict:
    value = r.raw(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(r.path, name, "a [section]", value)
    return value


COURIER_KINDS = ("leopards", "postex")


def _courier_accounts(r: "_Reader") -> dict[str, CourierAccount]:
    section = r.raw("courier_api") or {}
    if not isinstance(section, dict):
        raise ConfigError(r.path, "courier_api", "tables like [courier_api.leopards]", section)
    out = {}
    for name in section:
        if name not in COURIER_KINDS:
            raise ConfigError(r.path, f"courier_api.{name}", "one of " + ", ".join(COURIER_KINDS), name)
        k = f"courier_api.{name}"
        out[name] = CourierAccount(
            name=name, endpoint=r.get(f"{k}.endpoint", str, ""), api_key=r.get(f"{k}.api_key", str, ""),
            api_password=r.get(f"{k}.api_password", str, ""), password_file=r.get(f"{k}.password_file", str, ""),
            token=r.get(f"{k}.token", str, ""), token_file=r.get(f"{k}.token_file", str, ""),
            origin_city=r.get(f"{k}.origin_city", str, ""),
            pickup_address_code=r.get(f"{k}.pickup_address_code", str, ""),
            shipper_name=r.get(f"{k}.shipper_name", str, ""), shipper_phone=r.get(f"{k}.shipper_phone", str, ""),
            shipper_address=r.get(f"{k}.shipper_address", str, ""),
            track_minutes=r.check(f"{k}.track_minutes", int, 30, lambda v: 1 <= v <= 1440, "1..1440"),
            timeout_seconds=r.check(f"{k}.timeout_seconds", int, 15, lambda v: 1 <= v <= 120, "1..120"))
    return out


def _hq(r: "_Reader") -> HqConfig:
    role = r.choice("hq.role", HQ_ROLES, "off")
    url = r.get("hq.url", str, "")
    if role == "branch" and not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError(r.path, "hq.url", "the head office's postgresql://ROLE@HOST:PORT/DB", url or "nothing")
    if "@" in url and ":" in url.split("://", 1)[-1].split("@", 1)[0]:
        raise ConfigError(r.path, "hq.url", "a URL without a password (put it in hq.password_file)", "a password")
    seconds = r.decimal("hq.push_seconds", "0.5", minimum=Decimal("0.1"), maximum=Decimal(600))
    return HqConfig(role=role, url=url, password_file=r.get("hq.password_file", str, ""),
                    branch=r.get("hq.branch", str, "").upper(), push_seconds=float(seconds),
                    timeout_seconds=r.check("hq.timeout_seconds", int, 30, lambda v: 2 <= v <= 600, "2..600"),
                    keep_days=r.check("hq.keep_days", int, 7, lambda v: 0 <= v <= 3660, "0..3660"),
                    shopify=r.choice("hq.shopify", HQ_SHOPIFY, "head-office"))


def _courier_urls(r: "_Reader") -> dict[str, str]:
    urls = r.table("couriers")
    for name, url in urls.items():
        if "{n}" not in url or not url.startswith("https://"):
            raise ConfigError(r.path, f"couriers.{name}", "an https:// tracking URL with {n} for the number", url)
    return urls


def read_secret(value: str, file_name: str, cfg_path: str, key: str) -> str:
    """A token given inline or in a file of its own (which must not be readable by others)."""
    if value:
        return value
    if not file_name:
        return ""
    p = Path(file_name)
    try:
        mode = p.stat().st_mode
        secret = p.read_text().strip()
    except OSError as exc:
        raise ConfigError(cfg_path, key, "a readable token file", f"{file_name}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO) & ~stat.S_IRGRP:
        # Group read is allowed (the pos group runs both processes); anything wider is not.
        raise ConfigError(cfg_path, key, "a token file with mode 0600 or 0640",
                          f"{file_name} mode {oct(mode & 0o777)}")
    return secret


def write_private(path: Path, text: str) -> None:
    """Create a file that holds a secret with mode 0600 from the first byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


def _resolve_sqlite_path(url: str, cfg_path: Path) -> str:
    # A relative SQLite path is relative to the config file, not to wherever the command ran.
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        rel = url[len(prefix):]
        return prefix + str((cfg_path.parent / rel).resolve())
    return url


class _Reader:
    _TYPE_NAMES = {str: "text", int: "a whole number", bool: "true or false"}

    def __init__(self, data: dict, path: Path):
        self.data, self.path = data, path

    def raw(self, key: str) -> Any:
        node: Any = self.data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    def get(self, key: str, typ: type, default: Any) -> Any:
        value = self.raw(key)
        if value is None:
            return default
        ok = isinstance(value, typ) and not (typ is int and isinstance(value, bool))
        if not ok:
            raise ConfigError(self.path, key, self._TYPE_NAMES.get(typ, typ.__name__), value)
        return value

    def check(self, key: str, typ: type, default: Any, test: Callable[[Any], bool], expected: str) -> Any:
        value = self.get(key, typ, default)
        if not test(value):
            raise ConfigError(self.path, key, expected, value)
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        return self.check(key, str, default, lambda v: v in choices, "one of " + ", ".join(choices))

    def decimal(self, key: str, default: str | None, minimum: Decimal, maximum: Decimal) -> Decimal | None:
        value = self.raw(key)
        if value is None:
            return None if default is None else Decimal(default)
        if isinstance(value, (bool, float)) or not isinstance(value, (int, str)):
            # TOML floats are binary; money and rates must be written as text or whole numbers.
            raise ConfigError(self.path, key, 'a number written as text, e.g. "18" or "1.00"', value)
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise ConfigError(self.path, key, "a number", value) from None
        if not number.is_finite() or not minimum <= number <= maximum:
            raise ConfigError(self.path, key, f"a number from {minimum} to {maximum}", value)
        return number

    def strings(self, key: str) -> list[str]:
        value = self.raw(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(self.path, key, "a list of text lines", value)
        return value

    def table(self, key: str) -> dict:
        value = self.raw(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ConfigError(self.path, key, "a table of key = value", value)
        for k, v in value.items():
            if not isinstance(v, str):
                raise ConfigError(self.path, f"{key}.{k}", "text", v)
        return dict(value)
