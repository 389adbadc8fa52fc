"""A deterministic in-memory cluster of raftkv nodes (the library's ``SimCluster``).

Network, disks and clock in one seed; after every step the cluster-wide
safety properties of Raft are checked (see ``systems.raft.sim``). This module
adds the KV node and the KV helpers ``write`` (session command), ``put`` and
``read`` (by key).
"""

from __future__ import annotations

from typing import Any

from systems.raft.sim import InvariantViolation, SimStorage, describe
from systems.raft.sim import SimCluster as _LibCluster
from systems.raft.types import Rng

from .node import RaftNode

__all__ = ["SimStorage", "SimCluster", "InvariantViolation", "describe"]


class SimCluster(_LibCluster[RaftNode]):
    def make_node(self, name: str, storage: SimStorage, rng: Rng, ctx_prefix: str) -> RaftNode:
        return RaftNode(name, self.names, storage, rng, self.bugs, self.config, ctx_prefix)

    def write(self, n: str, cmd: Any) -> int:
        t = self._token()
        self.nodes[n].write(t, cmd)
        self.process(n)
        return t

    def put(self, n: str, key: str, value: Any, client: str = "c", seq: int = 1) -> int:
        return self.write(n, {"op": "put", "k": key, "v": value, "c": client, "s": seq})
