"""Couriers: the adapters (Leopards, PostEx) and the agent's booking, cancel and tracking work."""
from __future__ import annotations

from pos_core import config as configmod

from .base import Booking, CourierError, Tracking  # noqa: F401
from .leopards import Leopards
from .postex import PostEx


def build_adapters(cfg, transport=None) -> dict:
    """One adapter per [courier_api.<name>] table; secrets read from their files."""
    out = {}
    for name, account in cfg.courier_accounts.items():
        if name == "leopards":
            password = configmod.read_secret(account.api_password, account.password_file, cfg.path,
                                             "courier_api.leopards.password_file")
            out[name] = Leopards(account, password, transport)
        elif name == "postex":
            token = configmod.read_secret(account.token, account.token_file, cfg.path,
                                          "courier_api.postex.token_file")
            out[name] = PostEx(account, token, transport)
    return out
