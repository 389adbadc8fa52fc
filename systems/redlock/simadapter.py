"""Redlock's adapter for the deterministic simulation backend (``--backend sim``).

* **cores** — :class:`SimRedlockNode`: one node's ``KeySpace`` (pure; the
  server's request handling without the socket). It answers every request in
  the next ``process``; it sends no peer messages (the masters are independent).
* **storage model** — :class:`AofDisk`: the append-only file, never fsynced
  (``appendfsync no``): a simulated kill is a power loss and loses what was
  appended since boot, except a prefix when the world tears writes. A boot
  replays what survived.
* **sim clients** — ``RedlockClient`` itself with its transport swapped for
  ``io`` (same algorithm, timeouts and error table).

Clocks: a node's wall clock (key expiry) runs with its timer — boot time +
ticks × 15 ms — so clock *rates* reach it while offset bumps do not (the world
hands cores no offsets), and a paused node's clock stops (kinder than a real
paused Redis, whose keys keep expiring). Client stalls alone break Redlock.
"""

from __future__ import annotations

from typing import Any

from .client import Lost, RedlockClient
from .store import KeySpace

__all__ = ["ADAPTER", "RedlockSimAdapter", "SimRedlockNode", "AofDisk", "SimRedlockClient"]

TICK_S = 0.015
TICK_MS = 15


class AofDisk:
    def __init__(self) -> None:
        self.records: list[Any] = []
        self.synced = 0

    def append(self, record: Any) -> None:
        self.records.append(record)

    def pending(self) -> int:
        return len(self.records) - self.synced

    def crash(self, keep: int = 0) -> None:
        self.records = self.records[: self.synced + keep]
        self.synced = len(self.records)


class SimRedlockNode:
    def __init__(self, name: str, disk: AofDisk, adapter: RedlockSimAdapter) -> None:
        self.name = name
        self.disk = disk
        self.adapter = adapter
        self.ticks = 0
        self.boot_ms = adapter.true_ms()
        self.space = KeySpace()
        for rec in disk.records:
            self.space.replay(rec, self.wall_ms())
        self._replies: list[tuple[Any, dict[str, Any]]] = []

    def wall_ms(self) -> int:
        return self.boot_ms + self.ticks * TICK_MS

    def tick(self) -> None:
        self.ticks += 1

    def step(self, msg: Any) -> None:
        return None  # no peers

    def request(self, token: Any, msg: dict[str, Any]) -> None:
        if msg.get("op") == "status":
            self._replies.append((token, self.status()))
            return
        reply, record = self.space.execute(msg, self.wall_ms())
        if record is not None:
            self.disk.append(record)
        self._replies.append((token, reply))

    def process(self) -> tuple[list[tuple[str, Any]], list[tuple[Any, dict[str, Any]]]]:
        out, self._replies = self._replies, []
        return [], out

    def status(self) -> dict[str, Any]:
        return {"ok": True, "node": self.name, "ready": True, "keys": len(self.space.keys)}


class SimRedlockClient(RedlockClient):
    def __init__(self, io: Any, nodes: list[str], timeout_s: float, client_id: str) -> None:
        super().__init__({n: ("sim", 0) for n in nodes}, nodes[0], timeout_s)
        self.io = io
        self.client_id = client_id
        self._tokens = 0

    async def _call(self, node: str, msg: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        kind, what = await self.io.call(node, msg, timeout_s)
        if kind == "ok":
            return dict(what) if isinstance(what, dict) else {"ok": False, "error": "bad-reply"}
        if kind == "unsent":
            raise ConnectionError(str(what))
        raise Lost(node)

    def now(self) -> float:
        return float(self.io.now())

    async def sleep(self, seconds: float) -> None:
        await self.io.sleep(seconds)

    def new_token(self) -> str:
        self._tokens += 1  # deterministic, unique per client
        return f"{self.client_id}-{self._tokens}"

    async def close(self) -> None:
        return None


class RedlockSimAdapter:
    name = "redlock"
    tick_s = TICK_S
    workloads = frozenset({"lock"})

    def __init__(self) -> None:
        self.io: Any = None  # the run's client io: the world's true clock

    def true_ms(self) -> int:
        return 0 if self.io is None else int(self.io.now() * 1000)

    def disk(self, node: str) -> AofDisk:
        self.io = None  # a new world is being built
        return AofDisk()

    def node(
        self, name: str, peers: list[str], disk: Any, rng: Any, bugs: tuple[str, ...], boot: int
    ) -> SimRedlockNode:
        return SimRedlockNode(name, disk, self)

    def client(
        self, workload: str, io: Any, nodes: list[str], home: str, timeout_s: float,
        client_id: str,
    ) -> Any:
        self.io = io
        return SimRedlockClient(io, nodes, timeout_s, client_id)


ADAPTER = RedlockSimAdapter()
