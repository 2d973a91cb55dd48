"""Issue 14: the manager's staff screen in the back office (Ctrl+U), at 80x24 through the pilot, at
the head office of a chain: add a person (the new PIN shown once), change role and branches, disable
them; the branch syncs and the disabled person cannot sign in at its till. At a branch box the
screen refuses changes with the CLI's words. Every change is audited like `pos-admin staff`."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from chain_kit import at, pull_until
from pos_core import staff as staffmod
from pos_core.models import AuditEvent, Staff
from pos_office.app import make_app as make_office

from office_kit import office_config, screen_text, settle, type_text
from test_chain_workflows import link, needs_pg, sites  # noqa: F401 (sites: a fixture)

REFUSAL = ("staff are managed at the head office (run `pos-admin staff ...` there); "
           "this branch gets the change on its next sync")


def flat(app) -> str:
    return " ".join(screen_text(app).split())


async def keys(pilot, *names) -> None:
    for name in names:
        await pilot.press(name)
        await settle(pilot)


async def pick_row(pilot, code: str) -> None:
    table = pilot.app.screen.query_one("#staff-table")
    table.move_cursor(row=[s.code for s in Staff.select().order_by(Staff.code)].index(code))
    await settle(pilot)


async def open_staff(pilot, pin: str = "3333") -> None:
    await type_text(pilot, pin, enter=True)
    await keys(pilot, "ctrl+u")
    assert type(pilot.app.screen).__name__ == "StaffScreen"


@needs_pg
async def test_manager_adds_changes_and_disables_a_person_who_then_cannot_sign_in_at_a_branch(sites, tmp_path):
    s = sites
    with at(s["hq"]):
        app = make_office(office_config(tmp_path, s["hq"]), export_dir=tmp_path / "exports")
        async with app.run_test(size=(80, 24)) as pilot:
            await open_staff(pilot)
            text = flat(app)
            assert "ayesha Ayesha cashier every branch active" in text and "imran Imran manager" in text
            assert "f2 Add" in text and "esc Back" in text               # the keys fit at 80 columns
            await keys(pilot, "f2")
            await type_text(pilot, "bilal", enter=True)
            await type_text(pilot, "Bilal Ahmed", enter=True)
            await keys(pilot, "enter")                                      # role: cashier (the default)
            await type_text(pilot, "khi1", enter=True)
            assert type(app.screen).__name__ == "PinShownScreen"
            shown = flat(app)
            pin = re.search(r"New PIN for Bilal Ahmed \(bilal\)\D*(\d{6})\D*Give it to them now", shown).group(1)
            await keys(pilot, "enter")
            assert pin not in flat(app)                                     # shown once
            assert "bilal Bilal Ahmed cashier KHI1 active" in flat(app)
            assert "added bilal (Bilal Ahmed, cashier, KHI1)" in flat(app)
            # a manager may not give a role above their own, nor change their own access
            await pick_row(pilot, "bilal")
            await keys(pilot, "f5", "down", "down", "down", "enter")       # admin
            assert "Imran (manager) may not manage or give the role admin" in flat(app)
            await pick_row(pilot, "imran")
            await keys(pilot, "f3")
            assert "you cannot change your own access; another manager must" in flat(app)
            await pick_row(pilot, "bilal")
            await keys(pilot, "f5", "down", "enter")                        # supervisor
            assert "bilal is now a supervisor" in flat(app)
            await keys(pilot, "f6")
            await type_text(pilot, "KHI1,lhr1", enter=True)                 # replaces what was there
            assert "bilal works at KHI1,LHR1" in flat(app)
            assert Staff.get(Staff.code == "bilal").role == "supervisor"
            # bad input says so and changes nothing
            await keys(pilot, "f6")
            await type_text(pilot, "QTA9", enter=True)
            assert "no branch QTA9" in flat(app)
            assert Staff.get(Staff.code == "bilal").branch_codes == "KHI1,LHR1"
        events = list(AuditEvent.select().where(AuditEvent.action.startswith("staff.")).order_by(AuditEvent.id))
        assert [e.action for e in events] == ["staff.add", "staff.role", "staff.branches"]
        assert all(e.staff.code == "imran" and e.doc_ref == "bilal" and e.detail["via"] == "pos-office"
                   for e in events)
        assert pin not in json.dumps([e.detail for e in events])          # a PIN is never logged

    with at(s["KHI1"]):                       # Karachi's next sync: Bilal signs in with the PIN shown
        ln = link(s, "KHI1")
        pull_until(ln, lambda: staffmod.authenticate(pin) is not None)
        ln.close()

    with at(s["hq"]):                         # then the manager disables him
        app = make_office(office_config(tmp_path, s["hq"]), export_dir=tmp_path / "exports")
        async with app.run_test(size=(80, 24)) as pilot:
            await open_staff(pilot)
            await pick_row(pilot, "bilal")
            await keys(pilot, "f3")
            assert "bilal can no longer sign in (at each branch once it has synced)" in flat(app)
            assert "bilal Bilal Ahmed supervisor KHI1,LHR1 DISABLED" in flat(app)
        assert AuditEvent.select().where(AuditEvent.action == "staff.disable").get().staff.code == "imran"

    with at(s["KHI1"]):
        assert staffmod.authenticate(pin).code == "bilal"      # offline: the branch's last copy
        ln = link(s, "KHI1")
        pull_until(ln, lambda: staffmod.authenticate(pin) is None)
        ln.close()
        from pos_tui.app import make_app as make_till
        from test_till_kit import make_config, sign_in
        till = make_till(make_config(tmp_path, Path(s["KHI1"][len("sqlite:///"):]), counter={"branch": "KHI1"}))
        async with till.run_test(size=(80, 24)) as pilot:
            await sign_in(pilot, till, pin)
            assert type(till.screen).__name__ == "SignInScreen"
            assert "PIN not recognised (4 tries left)" in flat(till)

        # at the branch box the screen shows its copy and refuses changes, in the CLI's words
        app = make_office(office_config(tmp_path, s["KHI1"]), export_dir=tmp_path / "exports")
        async with app.run_test(size=(80, 24)) as pilot:
            await open_staff(pilot)
            assert REFUSAL in flat(app) and "bilal Bilal Ahmed supervisor KHI1,LHR1 DISABLED" in flat(app)
            await keys(pilot, "f2")
            assert type(app.screen).__name__ == "StaffScreen" and REFUSAL in flat(app)
            await pick_row(pilot, "ayesha")
            await keys(pilot, "f4")
            assert REFUSAL in flat(app)
        assert not AuditEvent.select().where(AuditEvent.action.startswith("staff.")).exists()


def test_pos_admin_staff_is_audited_like_the_screen(sqlite_db, monkeypatch):
    from conftest import make_site
    make_site()
    monkeypatch.setenv("POS_NEW_PIN", "4321")
    from pos_core import admin_staff, cli  # noqa: F401
    import argparse
    parser = argparse.ArgumentParser()
    admin_staff.add_commands(parser.add_subparsers(dest="command"))
    for argv in (["staff", "add", "zara", "Zara", "cashier"], ["staff", "role", "zara", "supervisor"],
                 ["staff", "branches", "zara", "lhr1"], ["staff", "reset-pin", "zara"], ["staff", "disable", "zara"]):
        assert admin_staff.run(parser.parse_args(argv), None) == 0
    z = Staff.get(Staff.code == "zara")
    assert (z.role, z.branch_codes, z.active) == ("supervisor", "LHR1", False)
    events = list(AuditEvent.select().where(AuditEvent.doc_ref == "zara").order_by(AuditEvent.id))
    assert [e.action for e in events] == ["staff.add", "staff.role", "staff.branches", "staff.reset_pin",
                                          "staff.disable"]
    assert all(e.staff_id is None and e.detail["via"] == "pos-admin" and "os_user" in e.detail for e in events)
    assert "4321" not in json.dumps([e.detail for e in events])
    with pytest.raises(Exception, match="no branch QTA9"):
        staffmod.set_branches("zara", "QTA9")
