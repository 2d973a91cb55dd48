"""One agent per database (issue 12, item 4): a second agent, `once` or `run`, is refused with
one clear line while the first works; a SIGKILLed agent leaves no lock behind."""
from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

from sync_agent.lock import AgentLock, AgentRunning
from test_agent_daemon import ROOT, agent, run_agent, setup, shop, wait_for  # noqa: F401

HOLDER = textwrap.dedent("""
    import sys, time
    from pos_core import db
    from sync_agent.lock import AgentLock
    db.open_database(sys.argv[1])
    lock = AgentLock().acquire()
    print("locked", flush=True)
    time.sleep(120)
""")


def hold(url: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, url], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_agent_is_refused_and_a_killed_one_leaves_no_lock(database):
    proc = hold(database)
    try:
        with pytest.raises(AgentRunning, match="another pos-agent"):
            AgentLock().acquire()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    lock = AgentLock().acquire()       # nothing left behind by the killed holder
    try:
        other = subprocess.run([sys.executable, "-c", HOLDER, database], cwd=ROOT, capture_output=True,
                               text=True, timeout=60)
        assert other.returncode != 0 and "another pos-agent" in other.stderr
    finally:
        lock.release()


def test_once_refuses_while_the_service_runs(setup, tmp_path):
    site, cfg = setup
    log = tmp_path / "agent.log"
    service = agent(cfg, "run", log=log)
    try:
        assert wait_for(lambda: "pos-agent running" in log.read_text(errors="replace"), 30)
        once = run_agent(cfg, "once")
        assert once.returncode == 1
        lines = [l for l in once.stderr.splitlines() if l.strip() and " INFO " not in l]
        assert len(lines) == 1 and "another pos-agent" in lines[0] and f"pid {service.pid}" in lines[0], once.stderr
        assert "Traceback" not in once.stderr
        second = run_agent(cfg, "run", timeout=30)
        assert second.returncode == 1 and "another pos-agent" in second.stderr
        # the loop's own heartbeat says it runs; the scheduler's runs stay out of the journal
        from pos_core import heartbeat
        assert wait_for(lambda: any(r["channel"] == heartbeat.AGENT_LOOP for r in heartbeat.read()), 15)
        text = log.read_text(errors="replace")
        assert "Running job" not in text and "executed successfully" not in text
        assert len(text.splitlines()) < 10, text
    finally:
        service.send_signal(signal.SIGKILL)
        service.wait()
    assert run_agent(cfg, "once").returncode == 0   # the killed service left no lock
