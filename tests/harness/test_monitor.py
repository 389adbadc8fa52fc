"""harness/monitor.py against real TCP nodes: rows per node per round, ``null`` for a node
that does not answer, a file the divergence checker reads, and a clean stop."""

from __future__ import annotations

import json
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from checkers.divergence import Divergence
from harness.history import History
from harness.monitor import StatusMonitor
from systems.common import wire


class _Node(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        msg = wire.recv(self.request)
        assert msg == {"op": "status"}
        wire.send(self.request, {"ok": True, "role": "follower", "term": 1, "extra": "x" * 100,
                                 "durable_commit": 2, "digests": self.server.digests})  # type: ignore[attr-defined]


@pytest.fixture
def nodes() -> Iterator[dict[str, tuple[str, int]]]:
    servers = []
    for digest in ("aa", "bb"):
        s = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Node)
        s.daemon_threads = True
        s.digests = [[1, 1, "d1"], [2, 1, digest]]  # type: ignore[attr-defined]
        threading.Thread(target=s.serve_forever, daemon=True).start()
        servers.append(s)
    dead = socketserver.TCPServer(("127.0.0.1", 0), _Node)  # bound, never answers
    dead_port = dead.server_address[1]
    dead.server_close()
    yield {"n1": servers[0].server_address, "n2": servers[1].server_address,  # type: ignore[dict-item]
           "n3": ("127.0.0.1", dead_port)}
    for s in servers:
        s.shutdown()
        s.server_close()


def test_the_monitor_records_every_node_each_round_and_the_checker_reads_it(
    nodes: dict[str, tuple[str, int]], tmp_path: Path
) -> None:
    t0 = time.monotonic_ns()
    mon = StatusMonitor(nodes, tmp_path, lambda: time.monotonic_ns() - t0, hz=20)
    time.sleep(0.5)
    mon.stop()
    mon.stop()  # idempotent
    rows = [json.loads(line) for line in (tmp_path / "status.jsonl").read_text().splitlines()]
    assert mon.rounds >= 2 and len(rows) == 3 * mon.rounds
    by_node: dict[str, list[Any]] = {}
    for r in rows:
        by_node.setdefault(r["node"], []).append(r["status"])
    assert all(s is None for s in by_node["n3"])
    assert by_node["n1"][0] == {"role": "follower", "term": 1, "durable_commit": 2,
                                "digests": [[1, 1, "d1"], [2, 1, "aa"]]}  # only what it compares
    result = Divergence().check({}, History([]), tmp_path)
    assert result.valid is False and result.anomalies[0].data["index"] == 2
    assert result.anomalies[0].data["last_agreed_index"] == 1
