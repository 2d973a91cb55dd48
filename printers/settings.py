"""The printer settings `printers.transport` wants, from a counter's `[printer]` config.

Here, not in the till, because the till and the agent's doctor (its test slip) both need it and
neither may import the other. `cfg` is anything with a `printer` section shaped like
`pos_core.config.PrinterConfig` (the printers package does not import pos_core)."""
from __future__ import annotations


def printer_settings(cfg) -> dict | None:
    """The dict printers.transport wants, or None when the counter has no printer."""
    p = cfg.printer
    if p.kind == "none":
        return None
    d = {"kind": p.kind, "paper_mm": 58 if p.width == 32 else 80}
    if p.profile:
        d["profile"] = p.profile
    if p.kind == "file":
        d["path"] = p.path
    elif p.kind == "network":
        d.update(host=p.host, port=p.port, timeout=max(1, p.timeout_ms // 1000))
    elif p.kind == "serial":
        d.update(device=p.device, baudrate=p.baudrate)
    elif p.kind == "usb":
        d.update(vendor_id=p.vendor_id, product_id=p.product_id, timeout=p.timeout_ms)
    return d
