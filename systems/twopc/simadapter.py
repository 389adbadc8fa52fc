"""twopc's adapter for the deterministic simulation backend (``faultbox run --backend sim``).

The contract is docs/sim.md's (harness/sim/adapter.py):

* **cores** - :class:`SimTwoPCNode` is the real :class:`~systems.twopc.node.TwoPCNode`
  with the server shell's request dispatch and Ready cycle: ``process()``
  writes the cycle's records to the disk (persist records synced) before it
  hands back the messages and replies. Messages to the node itself go back
  through the simulated network (the real shell steps them after the fsync,
  so delivering them later is only slower). Ticks are the server's 20 ms.
* **storage model** - :class:`SimWAL`: ``persist`` records are written and
  synced together with every earlier buffered record, as the shell does;
  buffered records stay in the process until then. Under ``no-prepare-fsync``
  they reach the OS only every ``LAZY_FLUSH_S`` (unsynced) and the disk only
  with the next sync. A crash loses what is in the process and what the OS
  had not synced (keeping the first ``keep`` written records: a torn tail).
* **sim clients** - :class:`SimTxnClient` follows ``client.TxnClient``'s
  table: one request to the home node; a refusal is ``fail``, a request that
  could not be sent moves the home to the next node and is ``fail``, a lost
  one is ``info``. Append and bank wrap it as the real clients do.

Stdlib only, no harness import: ``io`` is duck-typed.
"""

from __future__ import annotations

from typing import Any

from .client import DEADLINE_SHARE
from .node import TwoPCNode
from .server import LAZY_FLUSH_S, TICK_S

__all__ = ["ADAPTER", "SimWAL", "SimTwoPCNode", "SimTxnClient", "TwoPCSimAdapter"]


class SimWAL:
    def __init__(self) -> None:
        self.durable: list[dict[str, Any]] = []
        self.written: list[dict[str, Any]] = []  # handed to the OS, not synced
        self.process_buffer: list[dict[str, Any]] = []  # still in the node's memory

    def pending(self) -> int:
        return len(self.written)

    def crash(self, keep: int = 0) -> None:
        self.durable += self.written[:keep]
        self.written = []
        self.process_buffer = []


class SimTwoPCNode:
    def __init__(self, node: TwoPCNode, disk: SimWAL) -> None:
        self.node = node
        self.disk = disk
        self.lazy = "no-prepare-fsync" in node.bugs
        self.lazy_every = max(1, round(LAZY_FLUSH_S / TICK_S))
        self.ticks = 0
        self._msgs: list[tuple[str, Any]] = []
        self._replies: list[tuple[Any, dict[str, Any]]] = []

    def _take(self, out: Any) -> None:
        d = self.disk
        d.process_buffer += out.buffered
        if out.persist:
            if not self.lazy:
                d.written += d.process_buffer
                d.process_buffer = []
            d.durable += d.written + out.persist  # one write + fsync syncs the whole file
            d.written = []
        self._msgs += [(m["dst"], m) for m in out.messages]
        self._replies += out.replies

    def tick(self) -> None:
        self.ticks += 1
        if self.lazy and self.ticks % self.lazy_every == 0:
            self.disk.written += self.disk.process_buffer
            self.disk.process_buffer = []
        self._take(self.node.tick())

    def step(self, msg: Any) -> None:
        if isinstance(msg, dict) and msg.get("dst") == self.node.name:
            self._take(self.node.step(msg))

    def request(self, token: Any, msg: dict[str, Any]) -> None:
        op = msg.get("op")
        if op == "status":
            self._replies.append((token, {"ok": True, "ready": True, **self.node.status()}))
        elif op == "txn":
            self._take(self.node.submit(token, msg))
        else:
            self._replies.append((token, {"ok": False, "error": f"unknown op {op!r}"}))

    def process(self) -> tuple[list[tuple[str, Any]], list[tuple[Any, dict[str, Any]]]]:
        msgs, replies = self._msgs, self._replies
        self._msgs, self._replies = [], []
        return msgs, replies

    def status(self) -> dict[str, Any]:
        return {"ok": True, "ready": True, **self.node.status()}


class SimTxnClient:
    """``client.TxnClient`` over the simulated network."""

    def __init__(self, io: Any, nodes: list[str], home: str, timeout_s: float) -> None:
        self.io = io
        self.names = list(nodes)
        self.home = home if home in self.names else self.names[0]
        self.timeout_s = timeout_s * DEADLINE_SHARE

    async def txn(self, body: dict[str, Any]) -> tuple[str, dict[str, Any] | None, str | None]:
        kind, reply = await self.io.call(self.home, {**body, "op": "txn"}, self.timeout_s)
        if kind == "unsent":
            i = self.names.index(self.home)
            self.home = self.names[(i + 1) % len(self.names)]
            return "fail", None, "unreachable"
        if kind == "lost":
            return "info", None, "timeout" if reply == "timeout" else "connection-lost"
        if reply.get("ok"):
            return "ok", reply, None
        return "fail", reply, str(reply.get("error"))

    async def close(self) -> None:
        return None


class _Append:
    def __init__(self, raw: SimTxnClient) -> None:
        self.raw = raw

    async def invoke(self, f: str, value: Any) -> tuple[str, Any, Any]:
        if f != "txn":
            return "fail", value, f"unknown-f:{f}"
        typ, reply, error = await self.raw.txn({"mops": value})
        if typ != "ok" or reply is None:
            return typ, value, error
        return "ok", [[mf, k, (v if v is not None else []) if mf == "r" else v]
                      for mf, k, v in reply["txn"]], None

    async def close(self) -> None:
        return None


class _Bank:
    def __init__(self, raw: SimTxnClient) -> None:
        self.raw = raw

    async def invoke(self, f: str, value: Any) -> tuple[str, Any, Any]:
        if f == "transfer":
            typ, _, error = await self.raw.txn(
                {"transfer": [value["from"], value["to"], value["amount"]], "initial": value["initial"]})
            return typ, value, error
        if f == "read":
            initial = value["initial"]
            typ, reply, error = await self.raw.txn({"mops": [["r", a, None] for a in value["accounts"]]})
            if typ != "ok" or reply is None:
                return typ, value, error
            return "ok", {k: (initial if v is None else v) for _, k, v in reply["txn"]}, None
        return "fail", value, f"unknown-f:{f}"

    async def close(self) -> None:
        return None


class TwoPCSimAdapter:
    name = "twopc"
    tick_s = TICK_S
    workloads = frozenset({"append", "bank"})

    def disk(self, node: str) -> SimWAL:
        return SimWAL()

    def node(
        self, name: str, peers: list[str], disk: Any, rng: Any, bugs: tuple[str, ...], boot: int
    ) -> SimTwoPCNode:
        return SimTwoPCNode(TwoPCNode(name, peers, f"b{boot}", bugs, records=list(disk.durable)), disk)

    def client(
        self, workload: str, io: Any, nodes: list[str], home: str, timeout_s: float,
        client_id: str,
    ) -> Any:
        raw = SimTxnClient(io, nodes, home, timeout_s)
        return _Bank(raw) if workload == "bank" else _Append(raw)


ADAPTER = TwoPCSimAdapter()
