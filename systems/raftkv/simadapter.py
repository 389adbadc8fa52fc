"""raftkv's adapter for the deterministic simulation backend (``faultbox run --backend sim``).

The contract (docs/sim.md, harness/sim/adapter.py) has three parts:

* **cores** — :class:`SimRaftNode` is the real ``RaftNode`` (Raft core + KV
  state machine + pending requests) with the server shell's request dispatch
  (``server.Server._dispatch``) and nothing else; ticks are the server's 15 ms.
* **storage model** — :class:`systems.raftkv.sim.SimStorage`: appends with a
  sync flag; a crash loses unsynced writes (keeping a prefix when the world
  tears writes). With ``no-fsync`` nothing is ever synced, so a crash loses
  everything since boot that the lazy flush had not written (the real shell
  flushes its buffer to the OS every 2 s, but a simulated crash is a power
  loss: the page cache goes too).
* **sim clients** — the very clients of ``client.py`` (ops and error table)
  on the library's ``SimRaftClient`` engine: the same routing, redirects,
  session retries and deadlines as the TCP engine; only the transport
  differs (``io.call`` instead of a TCP stream).

Stdlib only, no harness import: the ``io`` object is duck-typed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from systems.raft.simclient import SimRaftClient

from .client import RaftKVClient, client_for
from .node import NodeConfig, RaftNode
from .server import TICK_S
from .sim import SimStorage
from .types import Message

__all__ = ["ADAPTER", "RaftKVSimAdapter", "SimRaftNode"]


class SimRaftNode:
    """One raftkv node as the simulated world drives it (the shell's part, minus sockets)."""

    def __init__(self, node: RaftNode) -> None:
        self.node = node
        self._direct: list[tuple[Any, dict[str, Any]]] = []

    def tick(self) -> None:
        self.node.tick()

    def step(self, msg: Message) -> None:
        self.node.step(msg)

    def request(self, token: Any, msg: dict[str, Any]) -> None:
        op = msg.get("op")
        if op == "status":
            self._direct.append((token, {"ok": True, "ready": True, **self.node.status()}))
        elif op == "get":
            self.node.read(token, str(msg.get("k")))
        elif op in ("put", "cas", "delete", "append"):
            cmd: dict[str, Any] = {"op": op}
            for k in ("k", "v", "old", "new", "c", "s"):
                if k in msg:
                    cmd[k] = msg[k]
            self.node.write(token, cmd)
        elif op == "transfer":
            self.node.transfer(str(msg.get("to")))
            self._direct.append((token, {"ok": True}))
        else:
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


class RaftKVSimAdapter:
    name = "raftkv"
    tick_s = TICK_S
    workloads = frozenset({"register", "kv", "set"})

    def __init__(self, config: NodeConfig | None = None) -> None:
        self.config = config or NodeConfig()

    def configure(self, settings: Mapping[str, Any]) -> RaftKVSimAdapter:
        """This adapter with the run's ``--opt`` values (``snapshot_every``)."""
        every = int(settings.get("snapshot_every", self.config.snapshot_every))
        return RaftKVSimAdapter(dataclasses.replace(self.config, snapshot_every=every))

    def disk(self, node: str) -> SimStorage:
        return SimStorage()

    def node(
        self, name: str, peers: list[str], disk: Any, rng: Any, bugs: tuple[str, ...], boot: int
    ) -> SimRaftNode:
        return SimRaftNode(
            RaftNode(name, peers, disk, rng, bugs, self.config, ctx_prefix=f"{name}.{boot}:")
        )

    def client(
        self, workload: str, io: Any, nodes: list[str], home: str, timeout_s: float,
        client_id: str,
    ) -> Any:
        return client_for(workload, RaftKVClient(SimRaftClient(io, nodes, home, timeout_s, client_id)))


ADAPTER = RaftKVSimAdapter()
