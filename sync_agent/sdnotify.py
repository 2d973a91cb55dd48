"""systemd's notify protocol in a few lines of stdlib: one datagram of KEY=value lines."""
from __future__ import annotations

import os
import socket


def notify(*lines: str) -> bool:
    """Send READY=1 / WATCHDOG=1 / STOPPING=1 / STATUS=... to $NOTIFY_SOCKET; False if not set."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return False                      # not started by systemd with Type=notify
    if addr.startswith("@"):
        addr = "\0" + addr[1:]            # Linux abstract namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.connect(addr)
            s.sendall("\n".join(lines).encode())
    except OSError:
        return False
    return True


def watchdog_period() -> float | None:
    """Seconds between WATCHDOG=1 pings (half of WatchdogSec), or None without a watchdog."""
    usec, pid = os.environ.get("WATCHDOG_USEC"), os.environ.get("WATCHDOG_PID")
    if not usec or (pid and int(pid) != os.getpid()):
        return None
    return int(usec) / 2e6
