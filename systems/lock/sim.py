"""A deterministic in-memory lock-service cluster (the library's ``SimCluster``).

Each node's monotonic clock is its own tick count times ``TICK_MS`` (it starts
at 0 on every boot, like a process's); its wall clock is the cluster's
simulated time plus a per-node ``wall_offset_ms`` that tests (and the
``wall-clock-lease`` bug's tests) can jump.
"""

from __future__ import annotations

from typing import Any

from systems.raft.sim import InvariantViolation, SimStorage
from systems.raft.sim import SimCluster as _LibCluster
from systems.raft.types import Rng

from .node import LockNode

__all__ = ["LockSim", "InvariantViolation", "TICK_MS"]

TICK_MS = 15


class LockSim(_LibCluster[LockNode]):
    def __init__(self, *args: Any, **kw: Any) -> None:
        self.now_ms = 0
        self.wall_offset_ms: dict[str, int] = {}
        self._mono: dict[str, int] = {}
        self._seq = 0
        super().__init__(*args, **kw)

    def make_node(self, name: str, storage: SimStorage, rng: Rng, ctx_prefix: str) -> LockNode:
        self._mono[name] = 0
        return LockNode(name, self.names, storage, rng, self.bugs, self.config, ctx_prefix)

    def tick(self, n: str | None = None, times: int = 1) -> None:
        for _ in range(times):
            if n is None:
                self.now_ms += TICK_MS
            for name in [n] if n is not None else self.up():
                if name in self.nodes:
                    self._mono[name] += TICK_MS
                    wall = self.now_ms + self.wall_offset_ms.get(name, 0)
                    self.nodes[name].set_clock(self._mono[name], wall)
                    self.nodes[name].tick()
                    self.process(name)

    def command(self, n: str, op: str, client: str = "c", **fields: Any) -> int:
        """A session command at node ``n`` (a fresh seq each call); returns the reply token."""
        self._seq += 1
        t = self._token()
        self.nodes[n].command(t, {"op": op, "c": client, "s": self._seq, **fields})
        self.process(n)
        return t

    def lease(self, n: str, lock: str) -> Any:
        """The lease as node ``n``'s state machine holds it (None when free)."""
        return self.nodes[n].locks.leases.get(lock)
