"""The lock service's adapter for the deterministic simulation backend (``--backend sim``).

The contract is docs/sim.md's (``harness/sim/adapter.py``):

* **cores** — :class:`SimLockNode` is the real ``LockNode`` (library Raft node +
  lock machine + lease timing) with the server's request dispatch
  (``LockNode.request``) and nothing else; ticks are the server's 15 ms.
* **storage model** — ``systems.raft.sim.SimStorage``: a crash loses
  unsynced writes (keeping a prefix when the world tears writes).
* **sim clients** — ``LockClient`` over ``systems.raft.simclient.SimRaftClient``:
  the real client's code on the real engine, only the transport differs.

Clocks. The real server hands the node ``time.monotonic`` (never faked) and
``time.time`` (what the clock nemesis skews). The world hands cores no clock,
so the adapter models them: a node's **monotonic** clock is the world's true
simulated time, read through the ``io`` object of the run's clients (until
the first client opens, its tick count × 15 ms; never going back); its
**wall** clock runs with its timer — boot time + ticks × 15 ms — so the clock
nemesis's *rate* changes (and pauses, which stop it) reach it, while its
offset bumps and strobes do not (the world does not pass offsets to cores).
The ``wall-clock-lease`` bug is therefore found in the simulation through
clock rates; offsets need Docker.
"""

from __future__ import annotations

from typing import Any

from systems.raft.node import NodeConfig
from systems.raft.server import TICK_S
from systems.raft.sim import SimStorage
from systems.raft.simclient import SimRaftClient

from .client import LockClient
from .node import LockNode

__all__ = ["ADAPTER", "LockSimAdapter", "SimLockNode"]

TICK_MS = int(round(TICK_S * 1000))


class SimLockNode:
    """One lock node as the simulated world drives it (the shell's part, minus sockets)."""

    def __init__(self, node: LockNode, adapter: LockSimAdapter) -> None:
        self.node = node
        self.adapter = adapter
        self.ticks = 0
        self.boot_ms: int | None = None
        self.mono_ms = 0
        self._direct: list[tuple[Any, dict[str, Any]]] = []

    def tick(self) -> None:
        self.ticks += 1
        true_ms = self.adapter.true_ms()
        mono = true_ms if true_ms is not None else self.ticks * TICK_MS
        self.mono_ms = max(self.mono_ms, mono)
        if self.boot_ms is None:
            self.boot_ms = self.mono_ms
        self.node.set_clock(self.mono_ms, self.boot_ms + self.ticks * TICK_MS)
        self.node.tick()

    def step(self, msg: Any) -> None:
        self.node.step(msg)

    def request(self, token: Any, msg: dict[str, Any]) -> None:
        op = msg.get("op")
        if op == "status":
            self._direct.append((token, {"ok": True, "ready": True, **self.node.status()}))
        elif op == "transfer":
            self.node.transfer(str(msg.get("to")))
            self._direct.append((token, {"ok": True}))
        elif not self.node.request(token, msg):
            self._direct.append((token, {"ok": False, "error": f"unknown op {op!r}"}))

    def process(self) -> tuple[list[tuple[str, Any]], list[tuple[Any, dict[str, Any]]]]:
        out = self.node.process()
        replies = list(out.replies)
        if self._direct:
            replies = self._direct + replies
            self._direct = []
        return [(m.dst, m) for m in out.messages], replies

    def status(self) -> dict[str, Any]:
        return self.node.status()


class LockSimAdapter:
    name = "lock"
    tick_s = TICK_S
    workloads = frozenset({"lock"})

    def __init__(self, config: NodeConfig | None = None) -> None:
        self.config = config or NodeConfig()
        self.io: Any = None  # the current run's client io: the world's true clock

    def true_ms(self) -> int | None:
        return None if self.io is None else int(self.io.now() * 1000)

    def disk(self, node: str) -> SimStorage:
        self.io = None  # a new world is being built: forget the last run's clock
        return SimStorage()

    def node(
        self, name: str, peers: list[str], disk: Any, rng: Any, bugs: tuple[str, ...], boot: int
    ) -> SimLockNode:
        core = LockNode(name, peers, disk, rng, bugs, self.config, ctx_prefix=f"{name}.{boot}:")
        return SimLockNode(core, self)

    def client(
        self, workload: str, io: Any, nodes: list[str], home: str, timeout_s: float,
        client_id: str,
    ) -> Any:
        self.io = io
        return LockClient(SimRaftClient(io, nodes, home, timeout_s, client_id))


ADAPTER = LockSimAdapter()
