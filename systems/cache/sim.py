"""A deterministic in-memory store/registry cluster (the library's ``SimCluster``).

Each node's monotonic clock is its own tick count times ``TICK_MS``, starting
at 0 on every boot, like a process's.
"""

from __future__ import annotations

from typing import Any

from systems.raft.sim import InvariantViolation, SimStorage
from systems.raft.sim import SimCluster as _LibCluster
from systems.raft.types import Rng

from .store import StoreNode

__all__ = ["StoreSim", "InvariantViolation", "TICK_MS"]

TICK_MS = 15


class StoreSim(_LibCluster[StoreNode]):
    def __init__(self, *args: Any, **kw: Any) -> None:
        self._mono: dict[str, int] = {}
        self._seq = 0
        super().__init__(*args, **kw)

    def make_node(self, name: str, storage: SimStorage, rng: Rng, ctx_prefix: str) -> StoreNode:
        self._mono[name] = 0
        return StoreNode(name, self.names, storage, rng, self.bugs, self.config, ctx_prefix)

    def tick(self, n: str | None = None, times: int = 1) -> None:
        for _ in range(times):
            for name in [n] if n is not None else self.up():
                if name in self.nodes:
                    self._mono[name] += TICK_MS
                    self.nodes[name].set_clock(self._mono[name])
                    self.nodes[name].tick()
                    self.process(name)

    def request(self, n: str, op: str, client: str = "c", **fields: Any) -> int:
        """A client request at node ``n`` (session commands get a fresh seq); returns the token."""
        t = self._token()
        msg: dict[str, Any] = {"op": op, **fields}
        if op in ("put", "register", "deregister"):
            self._seq += 1
            msg.update(c=client, s=self._seq)
        assert self.nodes[n].request(t, msg), op
        self.process(n)
        return t
