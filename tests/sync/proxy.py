"""A small TCP proxy for fault tests and the sync benchmark: it forwards connections from a port
on 127.0.0.1 to the PostgreSQL server, counts the bytes each way, and cuts a connection on
command — after a given number of bytes, or right after the client sends COMMIT (the server
commits; its answer never arrives).

Threads, blocking sockets, nothing clever: one thread accepts, two threads per connection copy
bytes. A cut closes both sockets at once with an RST (SO_LINGER 0), like a dropped network.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from dataclasses import dataclass


@dataclass
class CutPlan:
    """When to cut: after ``after_bytes`` bytes (both directions counted together), or, with
    ``at_commit``, just after forwarding a client message that contains COMMIT."""

    after_bytes: int | None = None
    at_commit: bool = False
    # Not a cut: hold the server's answers for this long once the client has sent COMMIT
    # (``commit_seen`` is set then), e.g. to kill the client between the two commits.
    hold_commit_s: float = 0.0


class Proxy:
    """Forward ``127.0.0.1:<port>`` to ``target``; ``port`` is chosen free at start."""

    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 5432), delay_s: float = 0.0):
        self.target = target
        self.delay_s = delay_s
        self.plan: CutPlan | None = None
        self.cuts = 0
        self.bytes_up = 0  # client -> server
        self.bytes_down = 0  # server -> client
        self._lock = threading.Lock()
        self._conn_bytes: dict[int, int] = {}
        self._doomed: set[int] = set()  # connections whose server answers are being dropped
        self._held: dict[int, float] = {}  # connection -> hold its server answers until then
        self.commit_seen = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        self._open: set[socket.socket] = set()
        self._stopped = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def reset_counters(self) -> None:
        with self._lock:
            self.bytes_up = self.bytes_down = 0

    def close(self) -> None:
        self._stopped = True
        # shutdown() wakes the thread blocked in accept(); close() alone would leave the port
        # listening until then.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            socks = list(self._open)
        for s in socks:
            _hard_close(s)

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _hard_close(client)
                continue
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._open.update((client, upstream))
            pair = (client, upstream)
            threading.Thread(
                target=self._pump, args=(client, upstream, True, pair), daemon=True
            ).start()
            threading.Thread(
                target=self._pump, args=(upstream, client, False, pair), daemon=True
            ).start()

    def _pump(
        self,
        src: socket.socket,
        dst: socket.socket,
        up: bool,
        pair: tuple[socket.socket, socket.socket],
    ) -> None:
        key = id(pair[0])
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                self._cut(pair, hard=False)
                return
            if self.delay_s:
                threading.Event().wait(self.delay_s)
            with self._lock:
                plan = self.plan
                sent = self._conn_bytes.get(key, 0)
                cut_now = False
                if plan is not None and plan.after_bytes is not None:
                    room = plan.after_bytes - sent
                    if room < len(data):
                        data = data[: max(room, 0)]
                        cut_now = True
                commit_cut = plan is not None and plan.at_commit and up and b"COMMIT" in data
                if commit_cut or cut_now:
                    self.cuts += 1
                    self.plan = None
                if commit_cut:
                    self._doomed.add(key)
                if plan is not None and plan.hold_commit_s and up and b"COMMIT" in data:
                    self._held[key] = time.monotonic() + plan.hold_commit_s
                    self.plan = None
                    self.commit_seen.set()
                hold_until = self._held.get(key, 0.0) if not up else 0.0
                if not up and key in self._doomed:
                    data = b""  # the server's answer to COMMIT never reaches the client
                self._conn_bytes[key] = sent + len(data)
                if up:
                    self.bytes_up += len(data)
                else:
                    self.bytes_down += len(data)
            if hold_until > time.monotonic():
                threading.Event().wait(hold_until - time.monotonic())
            try:
                if data:
                    dst.sendall(data)
            except OSError:
                self._cut(pair, hard=True)
                return
            if cut_now or commit_cut:
                if commit_cut:
                    # Let the server read the COMMIT before the line drops.
                    threading.Event().wait(0.05)
                self._cut(pair, hard=True)
                return

    def _cut(self, pair: tuple[socket.socket, socket.socket], hard: bool) -> None:
        with self._lock:
            self._conn_bytes.pop(id(pair[0]), None)
            self._doomed.discard(id(pair[0]))
            self._held.pop(id(pair[0]), None)
            for s in pair:
                self._open.discard(s)
        for s in pair:
            if hard:
                _hard_close(s)
            else:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()


def _hard_close(s: socket.socket) -> None:
    # shutdown() first: on Linux close() alone neither wakes the other thread blocked in recv()
    # on this socket nor releases it, so the peer would never learn the line is gone.
    for step in (
        lambda: s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)),
        lambda: s.shutdown(socket.SHUT_RDWR),
        s.close,
    ):
        with contextlib.suppress(OSError):
            step()
