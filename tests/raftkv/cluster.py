"""Real raftkv processes on 127.0.0.1 for tests and the bench (always cleaned up)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from systems.common.wire import request

REPO = Path(__file__).resolve().parents[2]


def free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


class LocalCluster:
    def __init__(
        self,
        size: int,
        root: Path,
        bugs: tuple[str, ...] = (),
        seed: int = 0,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.extra = extra
        self.names = [f"n{i}" for i in range(1, size + 1)]
        self.addrs = dict(zip(self.names, (("127.0.0.1", p) for p in free_ports(size)), strict=True))
        self.root = root
        self.bugs = bugs
        self.seed = seed
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def argv(self, n: str) -> list[str]:
        peers = ",".join(f"{m}={h}:{p}" for m, (h, p) in self.addrs.items())
        h, p = self.addrs[n]
        argv = [sys.executable, "-m", "systems.raftkv.server", "--node", n, "--listen",
                f"{h}:{p}", "--peers", peers, "--data", str(self.root / n), "--seed", str(self.seed)]
        for b in self.bugs:
            argv += ["--bug", b]
        return argv + list(self.extra)

    def start(self, n: str) -> None:
        log = open(self.root / f"{n}.log", "ab")  # noqa: SIM115 - owned by the child
        self.procs[n] = subprocess.Popen(self.argv(n), cwd=REPO, stdout=log, stderr=log)
        log.close()

    def up(self) -> None:
        for n in self.names:
            self.start(n)
        self.wait_leader()

    def kill(self, n: str) -> None:
        p = self.procs.pop(n, None)
        if p is not None:
            p.send_signal(signal.SIGKILL)
            p.wait()

    def down(self) -> None:
        for n in list(self.procs):
            self.kill(n)

    def status(self, n: str) -> dict | None:
        try:
            return request(*self.addrs[n], {"op": "status"}, timeout_s=0.3)
        except OSError:
            return None

    def leader(self) -> str | None:
        for n in self.procs:
            st = self.status(n)
            if st and st.get("role") == "leader":
                return n
        return None

    def wait_leader(self, timeout_s: float = 10.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            lead = self.leader()
            if lead:
                return lead
            time.sleep(0.05)
        raise TimeoutError("no leader: " + str({n: self.status(n) for n in self.names}))

    def __enter__(self) -> LocalCluster:
        os.makedirs(self.root, exist_ok=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()
