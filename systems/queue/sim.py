"""Deterministic in-memory queue clusters: one library ``SimCluster`` per partition.

Every partition is its own Raft group (README.md), so a simulated queue of P
partitions on N nodes is P independent simulated Raft clusters over the same
node names: a crash, restart, isolation or heal applies to every group at
once, as it does to a real node that hosts all of them. Each group keeps the
library's cluster-wide safety checks.
"""

from __future__ import annotations

from typing import Any

from systems.raft.node import NodeConfig
from systems.raft.sim import InvariantViolation, SimStorage
from systems.raft.sim import SimCluster as _LibCluster
from systems.raft.types import Rng

from .node import SESSION_TIMEOUT_TICKS, QueueNode

__all__ = ["PartitionSim", "QueueSim", "InvariantViolation"]


class PartitionSim(_LibCluster[QueueNode]):
    """One partition's Raft group."""

    def __init__(self, *args: Any, partitions: int = 1,
                 session_timeout_ticks: int = SESSION_TIMEOUT_TICKS, **kw: Any) -> None:
        self.partitions = partitions
        self.session_timeout_ticks = session_timeout_ticks
        super().__init__(*args, **kw)

    def make_node(self, name: str, storage: SimStorage, rng: Rng, ctx_prefix: str) -> QueueNode:
        return QueueNode(name, self.names, storage, rng, self.partitions, self.bugs, self.config,
                         ctx_prefix, session_timeout_ticks=self.session_timeout_ticks)

    def request(self, n: str, op: str, **fields: Any) -> int:
        """A wire request at node ``n``; the answer lands in ``replies`` under the token."""
        t = self._token()
        assert self.nodes[n].request(t, {"op": op, **fields}), op
        self.process(n)
        return t


class QueueSim:
    """P partition groups on the same N node names, faults applied to all of them."""

    def __init__(self, size: int = 3, partitions: int = 2, seed: int = 0,
                 bugs: tuple[str, ...] = (), config: NodeConfig | None = None,
                 session_timeout_ticks: int = SESSION_TIMEOUT_TICKS) -> None:
        self.groups = [PartitionSim(size, seed=seed * 1000 + p, bugs=bugs, config=config,
                                    partitions=partitions,
                                    session_timeout_ticks=session_timeout_ticks)
                       for p in range(partitions)]
        self.names = self.groups[0].names

    def crash(self, n: str) -> None:
        for g in self.groups:
            g.crash(n)

    def restart(self, n: str) -> None:
        for g in self.groups:
            g.restart(n)

    def isolate(self, n: str) -> None:
        for g in self.groups:
            g.isolate(n)

    def heal(self) -> None:
        for g in self.groups:
            g.heal()

    def run(self, ticks: int) -> None:
        for g in self.groups:
            g.run(ticks)

    def leaders(self) -> list[str | None]:
        return [g.leader() for g in self.groups]
