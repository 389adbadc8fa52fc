"""Real twopc processes on 127.0.0.1 for tests and the bench (always cleaned up)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from systems.common.wire import request
from tests.raftkv.cluster import free_ports

REPO = Path(__file__).resolve().parents[2]


class TwoPCCluster:
    def __init__(self, size: int, root: Path, bugs: tuple[str, ...] = ()) -> None:
        self.names = [f"n{i}" for i in range(1, size + 1)]
        self.addrs = dict(zip(self.names, (("127.0.0.1", p) for p in free_ports(size)), strict=True))
        self.root = root
        self.bugs = bugs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def argv(self, n: str) -> list[str]:
        peers = ",".join(f"{m}={h}:{p}" for m, (h, p) in self.addrs.items())
        h, p = self.addrs[n]
        argv = [sys.executable, "-m", "systems.twopc.server", "--node", n, "--listen", f"{h}:{p}",
                "--peers", peers, "--data", str(self.root / n)]
        for b in self.bugs:
            argv += ["--bug", b]
        return argv

    def start(self, n: str) -> None:
        log = open(self.root / f"{n}.log", "ab")  # noqa: SIM115 - owned by the child
        self.procs[n] = subprocess.Popen(self.argv(n), cwd=REPO, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 20
        while self.status(n) is None:
            assert time.monotonic() < deadline, f"{n} never answered"
            time.sleep(0.05)

    def up(self) -> None:
        for n in self.names:
            self.start(n)

    def kill(self, n: str) -> None:
        p = self.procs.pop(n, None)
        if p is not None:
            p.send_signal(signal.SIGKILL)
            p.wait()

    def down(self) -> None:
        for n in list(self.procs):
            self.kill(n)

    def status(self, n: str) -> dict[str, Any] | None:
        try:
            st = request(*self.addrs[n], {"op": "status"}, timeout_s=0.3)
        except OSError:
            return None
        return st if isinstance(st, dict) else None

    def wait_settled(self, timeout_s: float = 30.0) -> list[dict[str, Any]]:
        """Until no node holds a prepared, running or deciding txn; the final statuses."""
        deadline = time.monotonic() + timeout_s
        while True:
            sts = [self.status(n) for n in self.names]
            if all(s is not None and s["prepared"] == 0 and s["deciding"] == 0
                   and s["running"] == 0 for s in sts):
                return [s for s in sts if s is not None]
            assert time.monotonic() < deadline, f"never settled: {sts}"
            time.sleep(0.1)

    def __enter__(self) -> TwoPCCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()
