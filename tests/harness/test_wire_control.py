"""Control-plane requests (``wire.request(..., control=True)``) leave from the few
source ports in ``wire.CONTROL_PORTS``; the figure8 nemesis probes at ~50 Hz per node,
so those ports must be reusable at once, not held in TIME_WAIT for a minute."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from systems.common import wire


@pytest.fixture
def echo_server() -> Iterator[tuple[str, int]]:
    """A status server on 127.0.0.1: answers each frame until the peer goes away."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)

    def handle(c: socket.socket) -> None:
        with c:
            try:
                while True:
                    wire.recv(c)
                    wire.send(c, {"ok": True})
            except (OSError, ValueError):
                pass

    def serve() -> None:
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(c,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield srv.getsockname()
    finally:
        srv.close()


def test_control_requests_leave_from_the_control_ports(echo_server: tuple[str, int]) -> None:
    seen: list[int] = []
    real = socket.create_connection

    def spy(addr: tuple[str, int], timeout: float, source_address: tuple[str, int]) -> socket.socket:
        seen.append(source_address[1])
        return real(addr, timeout=timeout, source_address=source_address)

    mp = pytest.MonkeyPatch()
    mp.setattr(wire.socket, "create_connection", spy)
    try:
        assert wire.request(*echo_server, {"op": "status"}, timeout_s=2.0, control=True)["ok"]
    finally:
        mp.undo()
    lo, hi = wire.CONTROL_PORTS
    assert seen and all(lo <= p <= hi for p in seen)


def test_control_ports_are_reusable_at_once(
    echo_server: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many more probes than control ports, back to back: none may fail for want of a
    port (a port left in TIME_WAIT cannot be bound again for a minute)."""
    monkeypatch.setattr(wire, "CONTROL_PORTS", (64980, 64995))  # 16 ports
    for _ in range(200):
        assert wire.request(*echo_server, {"op": "status"}, timeout_s=2.0, control=True)["ok"]
