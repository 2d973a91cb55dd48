"""Chain replication rules on one database: the registry, identities, capture, serialise/apply."""
from __future__ import annotations

import json

import pytest

from conftest import make_site
from helpers import PLAIN, cash_sale
from pos_core import chain, db, ledger, migrations, sales
from pos_core.models import (
    MODELS, ChainChange, PosOrder, PosOrderLine, Payment, StockLevel, StockMovement,
)


def test_every_table_is_replicated_or_says_why_not():
    names = {m._meta.table_name for m in MODELS}
    declared = set(chain.BY_NAME) | set(chain.LOCAL_ONLY)
    assert names - declared == set(), "declare these in pos_core/chain.py (TABLES or LOCAL_ONLY)"
    assert declared - names == set(), "chain.py names tables that do not exist"
    assert not set(chain.BY_NAME) & set(chain.LOCAL_ONLY)
    assert all(reason.strip() for reason in chain.LOCAL_ONLY.values())
    for t in chain.TABLES:
        m = chain.model_for(t.name)
        for name in t.identity:
            assert name in m._meta.fields, f"{t.name}: identity field {name} does not exist"
        assert t.direction in (chain.UP, chain.DOWN) and t.owner in ("branch", "hq", "any")
        if t.owner == "branch" and t.branch_path:
            walk = m
            for part in t.branch_path.split("."):
                walk = walk._meta.fields[part].rel_model
            assert walk._meta.table_name == "branch", t.name


def test_local_columns_exist_and_never_identify_a_row():
    """`Table.local` (a site's own Shopify ids, FBR POSIDs): real fields, never part of the
    identity, and never excluded (they travel, to fill a site that has none)."""
    named = [(t, c) for t in chain.TABLES for c in t.local]
    assert ("variant", "shopify_inventory_item_id") in {(t.name, c) for t, c in named}
    for t, c in named:
        assert c in chain.model_for(t.name)._meta.fields, f"{t.name}.{c}"
        assert c not in t.identity and c not in t.exclude
    here = {"shopify_id": "gid://mine", "shopify_inventory_item_id": None}
    incoming = {"shopify_id": "gid://hq", "shopify_inventory_item_id": "gid://hq-item", "price_paisa": 5}
    assert chain.keep_local(chain.BY_NAME["variant"], here, incoming) == {
        "shopify_id": "gid://mine", "shopify_inventory_item_id": "gid://hq-item", "price_paisa": 5}


def test_no_replicated_row_is_identified_by_a_local_id():
    for t in chain.TABLES:
        assert "id" not in t.identity
        # a foreign key in an identity must point at a replicated table (its identity travels)
        m = chain.model_for(t.name)
        for name in t.identity:
            f = m._meta.fields[name]
            if hasattr(f, "rel_model"):
                assert f.rel_model._meta.table_name in chain.BY_NAME


def test_every_foreign_key_of_a_replicated_table_can_travel():
    """A foreign key is sent as its target's identity: the target must be replicated too."""
    for t in chain.TABLES:
        for f in chain.model_for(t.name)._meta.refs:
            if f.name in t.exclude:
                continue
            assert f.rel_model._meta.table_name in chain.BY_NAME, f"{t.name}.{f.name} -> a LOCAL_ONLY table"


def test_parents_come_before_children_in_the_registry():
    for t in chain.TABLES:
        m = chain.model_for(t.name)
        for f in m._meta.refs:
            target = f.rel_model._meta.table_name
            if target in chain.BY_NAME and target != t.name:
                assert chain.RANK[target] < chain.RANK[t.name], f"{t.name}.{f.name} -> {target}"


def test_single_shop_writes_no_change_log(site):
    cash_sale(site, [(site.kurta, 1)])
    assert ChainChange.select().count() == 0
    assert not chain.capture_enabled()


def test_capture_is_in_the_same_transaction_as_the_sale(site):
    chain.enable_capture()
    before = ChainChange.select().count()
    order = cash_sale(site, [(site.kurta, 2), (site.suit, 1)])
    logged = {(c.table_name, c.row_id) for c in ChainChange.select().where(ChainChange.seq > 0)}
    assert ("pos_order", order.id) in logged
    for line in order.lines:
        assert ("pos_order_line", line.id) in logged
    assert any(t == "stock_movement" for t, _ in logged) and any(t == "payment" for t, _ in logged)
    # a sale that fails (the cart is empty) logs nothing
    count = ChainChange.select().count()
    with pytest.raises(Exception):
        cash_sale(site, [])
    assert ChainChange.select().count() == count
    # and a rolled-back transaction takes its change rows with it
    try:
        with db.write():
            ledger.record(ledger.Movement("x:rollback", site.kurta.id, site.lhr.id, 1, "adjustment", "t", "t"))
            raise RuntimeError("abort")
    except RuntimeError:
        pass
    assert ChainChange.select().count() == count
    assert count > before
    if db.is_postgres():
        assert all(c.xid > 0 for c in ChainChange.select())


def test_drafts_stay_local(site):
    chain.enable_capture()
    draft = sales.save_draft(site.counter.id, site.cashier.id, [sales.SaleLine(site.kurta.id, 1)])
    s = chain.Serializer(db.database)
    assert s.records("pos_order", [draft.id]) == {}
    line_ids = [l.id for l in PosOrderLine.select().where(PosOrderLine.order == draft.id)]
    assert line_ids and s.records("pos_order_line", line_ids) == {}


def test_a_sale_travels_by_identity_and_applies_once(site, tmp_path):
    """Serialise a sale at one site and apply it to another SQLite database whose local ids differ."""
    order = cash_sale(site, [(site.kurta, 2)])
    s = chain.Serializer(db.database)
    recs = []
    for t in chain.TABLES:
        ids = [r[0] for r in db.database.execute_sql(f"SELECT id FROM {t.name}").fetchall()]
        recs += list(s.records(t.name, ids).values())
    wire = json.loads(json.dumps(recs))       # only what JSON carries crosses
    assert not any("id" in r["d"] for r in wire)
    o = next(r for r in wire if r["t"] == "pos_order")
    assert o["d"]["branch"] == {"code": "LHR1"} and o["d"]["counter"] == {"branch": {"code": "LHR1"}, "code": "C1"}
    db.close()

    other = f"sqlite:///{tmp_path / 'other.db'}"
    db.open_database(other)
    migrations.init()
    # different local ids on the other side: a branch made first that the sender does not have
    from pos_core import branches
    branches.create_branch("ISB1", "Islamabad")
    for attempt in range(2):   # twice: a duplicate delivery changes nothing
        with db.write():
            a = chain.Applier(db.database)
            results = [a.apply(r) for r in sorted(wire, key=lambda r: chain.RANK[r["t"]])]
        if attempt == 1:
            assert set(results) == {"same"}
    got = PosOrder.get(PosOrder.uid == order.uid)
    assert got.number == order.number and got.branch.code == "LHR1" and got.total_paisa == order.total_paisa
    assert [l.qty for l in got.lines] == [2]
    assert Payment.select().where(Payment.order == got.id).count() == 1
    assert ledger.check() == []
    kurta_lhr = StockLevel.get(StockLevel.variant == got.lines[0].variant_id, StockLevel.branch == got.branch_id)
    assert kurta_lhr.on_hand == 48
    assert StockMovement.select().count() == 11


def test_an_unknown_sku_is_unresolved_and_a_foreign_row_refused(site, tmp_path):
    order = cash_sale(site, [(site.kurta, 1)])
    s = chain.Serializer(db.database)
    line = list(s.records("pos_order_line", [order.lines[0].id]).values())[0]
    o = list(s.records("pos_order", [order.id]).values())[0]
    shift = list(s.records("shift", [order.shift_id]).values())[0]
    db.close()
    db.open_database(f"sqlite:///{tmp_path / 'hq.db'}")
    migrations.init()
    make_site()
    with db.write():
        a = chain.Applier(db.database)
        assert a.apply(shift, origin="LHR1") == "inserted"
        with pytest.raises(chain.Refused, match="belongs to LHR1, not to KHI1"):
            a.apply(o, origin="KHI1")
        assert a.apply(o, origin="LHR1") == "inserted"
        line["d"]["variant"] = {"sku": "NO-SUCH"}
        with pytest.raises(chain.Unresolved, match="unknown variant"):
            a.apply(line, origin="LHR1")
        with pytest.raises(chain.Refused, match="head office's to change"):
            a.apply({"t": "staff", "k": "{}", "d": {"code": "x"}}, origin="LHR1")
        with pytest.raises(chain.Refused, match="unknown field"):
            a.apply({"t": "pos_order", "k": o["k"], "d": dict(o["d"], loyalty_tier="gold")}, origin="LHR1")


def test_migration_4_gives_old_rows_a_uid(sqlite_db):
    """A database from before migration 4 (uids dropped, stamp removed) migrates and keeps its rows."""
    site = make_site()
    cash_sale(site, [(site.kurta, 1)], policy=PLAIN)
    d = db.database
    for t in migrations.UID_TABLES_4:
        d.execute_sql(f"DROP INDEX IF EXISTS {t}_uid")
        d.execute_sql(f"ALTER TABLE {t} DROP COLUMN uid")
    for t in ("chain_change", "chain_state", "chain_parked"):
        d.execute_sql(f"DROP TABLE {t}")
    d.execute_sql("DELETE FROM schema_migration WHERE version = 4")
    assert migrations.migrate() == [4]
    uids = [r[0] for r in d.execute_sql("SELECT uid FROM payment").fetchall()]
    assert uids and all(len(u) == 32 for u in uids)
    assert len({r[0] for r in d.execute_sql("SELECT uid FROM product").fetchall()}) == \
        d.execute_sql("SELECT count(*) FROM product").fetchone()[0]
    migrations.check_current()
    cash_sale(site, [(site.kurta, 1)], policy=PLAIN)   # new rows get theirs from the model


def test_hq_config_errors_are_one_line():
    from pos_core import config
    base = {"database": {"url": "sqlite:///x.db"}}
    assert config.parse(base, "pos.toml").hq.role == "off"
    cfg = config.parse(dict(base, hq={"role": "branch", "url": "postgresql://r@h:5432/hq", "branch": "lhr1"}), "pos.toml")
    assert cfg.hq.branch == "LHR1" and cfg.hq.push_seconds == 0.5 and cfg.hq.keep_days == 7
    for bad, key in (({"role": "satellite"}, "hq.role"), ({"role": "branch"}, "hq.url"),
                     ({"role": "branch", "url": "postgresql://r:secret@h/hq"}, "hq.url"),
                     ({"role": "branch", "url": "postgresql://r@h/hq", "push_seconds": 0.5}, "hq.push_seconds"),
                     ({"role": "head-office", "keep_days": -1}, "hq.keep_days")):
        with pytest.raises(config.ConfigError) as err:
            config.parse(dict(base, hq=bad), "pos.toml")
        assert err.value.key == key and "\n" not in str(err.value)
        assert "secret" not in str(err.value)
