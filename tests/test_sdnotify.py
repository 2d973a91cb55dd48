"""sd_notify against real datagram sockets (a path and an abstract name), the watchdog period, and
the agent as a real process under a fake systemd: READY=1, WATCHDOG=1 pings, STOPPING=1."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from sync_agent import sdnotify

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def path_socket(tmp_path, monkeypatch):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(tmp_path / "notify"))
    s.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    yield s
    s.close()


def test_one_datagram_of_newline_separated_lines(path_socket):
    assert sdnotify.notify("READY=1", "STATUS=syncing, 0 pending") is True
    data, _ = path_socket.recvfrom(4096)
    assert data == b"READY=1\nSTATUS=syncing, 0 pending"


def test_abstract_namespace_socket(monkeypatch):
    name = f"pos-test-{uuid.uuid4().hex}"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("\0" + name)
    s.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
    try:
        assert sdnotify.notify("WATCHDOG=1")
        assert s.recv(4096) == b"WATCHDOG=1"
    finally:
        s.close()


def test_without_systemd_it_is_a_no_op(monkeypatch, tmp_path):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.notify("READY=1") is False
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    assert sdnotify.notify("READY=1") is False          # never raises into the agent


def test_watchdog_period_is_half_of_watchdogsec_for_this_pid_only(monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "60000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert sdnotify.watchdog_period() == 30.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert sdnotify.watchdog_period() is None
    monkeypatch.delenv("WATCHDOG_PID")
    assert sdnotify.watchdog_period() == 30.0
    monkeypatch.delenv("WATCHDOG_USEC")
    assert sdnotify.watchdog_period() is None


def test_the_agent_process_sends_ready_watchdog_and_stopping(tmp_path):
    from pos_core import db, migrations
    url = f"sqlite:///{tmp_path / 'pos.db'}"
    db.open_database(url)
    migrations.init()
    db.close()
    cfg = tmp_path / "pos.toml"
    cfg.write_text(f'[database]\nurl = "{url}"\n')
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(20)
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "600000"}
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen([sys.executable, "-m", "sync_agent", "--config", str(cfg), "run"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        got = [sock.recv(4096)]
        assert got[0].split(b"\n")[0] == b"READY=1"
        t0 = time.monotonic()
        pings = 0
        while pings < 3:
            if sock.recv(4096) == b"WATCHDOG=1":
                pings += 1
        assert time.monotonic() - t0 < 5             # every 0.3 s (half of WATCHDOG_USEC)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        rest = []
        sock.settimeout(1)
        try:
            while True:
                rest.append(sock.recv(4096))
        except socket.timeout:
            pass
        assert b"STOPPING=1" in rest
    finally:
        sock.close()
        if proc.poll() is None:
            proc.kill()
