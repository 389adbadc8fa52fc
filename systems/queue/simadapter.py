"""The queue's adapter for the deterministic simulation backend (``--backend sim``).

The contract is docs/sim.md's (``harness/sim/adapter.py``); the lock
service's adapter is the model:

* **cores** — :class:`SimQueueNode` is what the real server is minus sockets:
  one ``QueueNode`` per partition (one Raft group each), peer messages
  tagged with their partition (``(partition, Message)``, opaque to the
  world), client requests routed by their ``partition`` field; ticks are the
  server's 15 ms.
* **storage model** — :class:`QueueDisk`: one ``systems.raft.sim.SimStorage``
  per partition, as the server keeps one WAL per partition; a crash loses
  every unsynced write but the first ``keep`` of them, counted across the
  partitions in order.
* **sim clients** — ``QueueClient`` over ``SimRaftClient`` engines (one per
  partition): the real client's code on the real engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from systems.raft.node import NodeConfig
from systems.raft.server import TICK_S
from systems.raft.sim import SimStorage
from systems.raft.simclient import SimRaftClient

from .client import QueueClient
from .node import QueueNode
from .server import DEFAULT_PARTITIONS

__all__ = ["ADAPTER", "QueueSimAdapter", "SimQueueNode", "QueueDisk"]


class QueueDisk:
    def __init__(self, partitions: int) -> None:
        self.parts = [SimStorage() for _ in range(partitions)]

    def pending(self) -> int:
        return sum(s.pending() for s in self.parts)

    def crash(self, keep: int = 0) -> None:
        for s in self.parts:
            k = min(keep, s.pending())
            s.crash(k)
            keep -= k


class SimQueueNode:
    def __init__(self, groups: list[QueueNode]) -> None:
        self.groups = groups
        self._direct: list[tuple[Any, dict[str, Any]]] = []

    def tick(self) -> None:
        for g in self.groups:
            g.tick()

    def step(self, msg: Any) -> None:
        p, m = msg
        self.groups[p].step(m)

    def request(self, token: Any, msg: dict[str, Any]) -> None:
        op = msg.get("op")
        if op == "status":
            self._direct.append((token, {"ok": True, "ready": True, **self.status()}))
            return
        p = msg.get("partition", 0)
        if not isinstance(p, int) or not 0 <= p < len(self.groups):
            self._direct.append((token, {"ok": False, "error": "bad-partition"}))
        elif op == "transfer":
            self.groups[p].transfer(str(msg.get("to")))
            self._direct.append((token, {"ok": True}))
        elif not self.groups[p].request(token, msg):
            self._direct.append((token, {"ok": False, "error": f"unknown op {op!r}"}))

    def process(self) -> tuple[list[tuple[str, Any]], list[tuple[Any, dict[str, Any]]]]:
        msgs: list[tuple[str, Any]] = []
        replies, self._direct = self._direct, []
        for p, g in enumerate(self.groups):
            out = g.process()
            msgs += [(m.dst, (p, m)) for m in out.messages]
            replies += list(out.replies)
        return msgs, replies

    def status(self) -> dict[str, Any]:
        return {**self.groups[0].status(), "partitions": [g.status() for g in self.groups]}


class QueueSimAdapter:
    name = "queue"
    tick_s = TICK_S
    workloads = frozenset({"queue"})

    def __init__(self, partitions: int = DEFAULT_PARTITIONS,
                 config: NodeConfig | None = None) -> None:
        self.partitions = partitions
        self.config = config or NodeConfig()

    def configure(self, settings: Mapping[str, Any]) -> QueueSimAdapter:
        """This adapter for a run's ``--opt`` values (``partitions``)."""
        return QueueSimAdapter(int(settings.get("partitions", self.partitions)), self.config)

    def disk(self, node: str) -> QueueDisk:
        return QueueDisk(self.partitions)

    def node(self, name: str, peers: list[str], disk: Any, rng: Any, bugs: tuple[str, ...],
             boot: int) -> SimQueueNode:
        assert isinstance(disk, QueueDisk)
        return SimQueueNode([
            QueueNode(name, peers, disk.parts[p], rng, self.partitions, bugs, self.config,
                      ctx_prefix=f"{name}.{boot}.{p}:")
            for p in range(self.partitions)])

    def client(self, workload: str, io: Any, nodes: list[str], home: str, timeout_s: float,
               client_id: str) -> Any:
        engines = [SimRaftClient(io, nodes, home, timeout_s, f"{client_id}.{p}")
                   for p in range(self.partitions)]
        engines[0].client_id = client_id
        return QueueClient(engines)


ADAPTER = QueueSimAdapter()
