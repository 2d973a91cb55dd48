"""A TCP proxy on 127.0.0.1 that a test can cut, stall, throttle or make drop connections mid-stream,
standing in for the mobile link between a branch and the head office."""
from __future__ import annotations

import random
import socket
import threading
import time


class FaultProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.mode = "up"              # up, cut, stall
        self.bytes_per_s: int | None = None
        self.drop_after: tuple[int, int] | None = None   # drop a connection after N..M bytes
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    # -- what a test does ---------------------------------------------------------------------
    def cut(self) -> None:
        """The link goes down: every open connection is reset and new ones are refused."""
        self.mode = "cut"
        self._kill_all()

    def stall(self) -> None:
        """Packets stop flowing but nothing is closed (a mobile link in a dead spot)."""
        self.mode = "stall"

    def heal(self) -> None:
        self.mode = "up"
        self.drop_after = None
        self.bytes_per_s = None

    def slow(self, kbit: int) -> None:
        self.bytes_per_s = kbit * 1000 // 8

    def flap(self, low: int = 200, high: int = 20000) -> None:
        """Connections die after a random number of bytes: transactions cut off midway."""
        self.drop_after = (low, high)
        self._kill_all()   # the connections open now get a budget when they reconnect

    def close(self) -> None:
        self._stop = True
        self._kill_all()
        try:
            self.listener.close()
        except OSError:
            pass

    # -- plumbing -----------------------------------------------------------------------------
    def _kill_all(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            try:
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                c.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.mode == "cut":
                client.close()
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, server]
            budget = [random.randint(*self.drop_after)] if self.drop_after else [None]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b, budget), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, budget: list) -> None:
        try:
            while not self._stop:
                data = src.recv(16384)
                if not data:
                    break
                while self.mode == "stall" and not self._stop:
                    time.sleep(0.05)
                if self.mode == "cut":
                    break
                if budget[0] is not None:
                    budget[0] -= len(data)
                    if budget[0] < 0:
                        break
                if self.bytes_per_s:
                    time.sleep(len(data) / self.bytes_per_s)
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.close()
            except OSError:
                pass
