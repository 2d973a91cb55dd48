"""Backups of a live SQLite database: the online backup API, gzip, a sha256 sidecar; restore checks
the checksum and the ledger of the restored copy before it replaces anything."""
from __future__ import annotations

import pytest

from pos_core import config as configmod


def test_backup_config_keys(tmp_path):
    cfg = configmod.parse({"database": {"url": "sqlite:////var/lib/pos/pos.db"}}, tmp_path / "pos.toml")
    assert cfg.backup.dir == "" and cfg.backup.keep == 14
    cfg = configmod.parse({"database": {"url": "sqlite:////x.db"}, "backup": {"dir": "/srv/b", "keep": 7}},
                          tmp_path / "pos.toml")
    assert (cfg.backup.dir, cfg.backup.keep) == ("/srv/b", 7)
    with pytest.raises(configmod.ConfigError, match="backup.keep"):
        configmod.parse({"database": {"url": "sqlite:////x.db"}, "backup": {"keep": 0}}, tmp_path / "pos.toml")
