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
* **sim clients** — :class:`SimRaftKVClient` follows ``client.RaftKVClient``
  rule for rule: writes start at the preferred node and follow redirects,
  reads go round-robin over all nodes, a session ``(client id, seq)`` makes
  retries of an ambiguous write safe, each op ends within ``DEADLINE_SHARE``
  of its timeout, and the error table maps outcomes to ok / fail / info the
  same way. Only the transport differs: ``io.call`` instead of a TCP stream.

Stdlib only, no harness import: the ``io`` object is duck-typed.
"""

from __future__ import annotations

from typing import Any

from .client import (
    ATTEMPT_TIMEOUT_S,
    DEADLINE_SHARE,
    REGISTER_KEY,
    RETRY_PAUSE_S,
    SET_KEY,
    parse_set,
)
from .node import NodeConfig, RaftNode
from .server import TICK_S
from .sim import SimStorage
from .types import Message

__all__ = ["ADAPTER", "RaftKVSimAdapter", "SimRaftNode", "SimRaftKVClient"]


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


class SimRaftKVClient:
    """``client.RaftKVClient``'s routing, retries and error table over the simulated network."""

    def __init__(self, io: Any, nodes: list[str], home: str, timeout_s: float, client_id: str) -> None:
        self.io = io
        self.names = list(nodes)
        home = home if home in self.names else self.names[0]
        self.target = home
        self._read_turn = self.names.index(home)
        self.timeout_s = timeout_s * DEADLINE_SHARE
        self.client_id = client_id
        self.seq = 0

    def _next_target(self) -> None:
        i = self.names.index(self.target)
        self.target = self.names[(i + 1) % len(self.names)]

    async def request(self, msg: dict[str, Any], write: bool) -> tuple[dict[str, Any] | None, bool, str]:
        """(final reply or None, whether a write may have been applied, last error)."""
        deadline = self.io.now() + self.timeout_s
        leader_guess = self.target
        if not write:
            self.target = self.names[self._read_turn % len(self.names)]
            self._read_turn += 1
        try:
            return await self._attempts(msg, write, deadline)
        finally:
            if not write:
                self.target = leader_guess

    async def _attempts(
        self, msg: dict[str, Any], write: bool, deadline: float
    ) -> tuple[dict[str, Any] | None, bool, str]:
        io = self.io
        maybe_applied = False
        last_error = "timeout"
        hops = 0
        while (remaining := deadline - io.now()) > 0:
            node = self.target
            kind, reply = await io.call(node, msg, min(remaining, ATTEMPT_TIMEOUT_S))
            if kind == "unsent":
                last_error = "unreachable"
                self._next_target()
                await io.sleep(min(RETRY_PAUSE_S, max(0.0, deadline - io.now())))
                continue
            if kind == "lost":
                last_error = "timeout" if reply == "timeout" else "connection-lost"
                maybe_applied = maybe_applied or write
                self._next_target()
                continue
            if reply.get("ok"):
                return reply, maybe_applied, ""
            error = str(reply.get("error"))
            last_error = error
            if reply.get("ambiguous"):
                maybe_applied = maybe_applied or write
            elif error not in ("not-leader", "no-leader", "leadership-changed", "read-timeout"):
                return reply, maybe_applied, error  # a definite answer (cas-mismatch, ...)
            leader = reply.get("leader")
            hops += 1
            if isinstance(leader, str) and leader in self.names and leader != node:
                self.target = leader
                if hops % len(self.names) == 0:
                    await io.sleep(0.01)
            else:
                if error in ("not-leader", "no-leader"):
                    self._next_target()
                await io.sleep(min(RETRY_PAUSE_S, max(0.0, deadline - io.now())))
        return None, maybe_applied, last_error

    async def get(self, key: str) -> tuple[str, Any, Any]:
        reply, _, error = await self.request({"op": "get", "k": key}, write=False)
        if reply is not None and reply.get("ok"):
            return "ok", reply.get("value"), None
        return "fail", None, error

    async def write(self, cmd: dict[str, Any]) -> tuple[str, Any]:
        self.seq += 1
        reply, maybe, error = await self.request({**cmd, "c": self.client_id, "s": self.seq}, True)
        if reply is not None and reply.get("ok"):
            return "ok", None
        if reply is not None and reply.get("error") == "cas-mismatch":
            return "fail", "cas-mismatch"
        if reply is not None and reply.get("error") == "stale-seq":
            return "info", "stale-seq"
        return ("info" if maybe else "fail"), error

    async def close(self) -> None:
        return None


class _Keyed:
    """register (key ``r``, plain values) and kv ([key, v] values), as client.py's clients."""

    def __init__(self, raw: SimRaftKVClient, keyed: bool) -> None:
        self.raw = raw
        self.keyed = keyed

    async def invoke(self, f: str, value: Any) -> tuple[str, Any, Any]:
        if self.keyed:
            key, v = value
            key = str(key)

            def wrap(x: Any) -> Any:
                return [value[0], x]
        else:
            key, v = REGISTER_KEY, value

            def wrap(x: Any) -> Any:
                return x
        raw = self.raw
        if f == "read":
            typ, got, error = await raw.get(key)
            return typ, wrap(got if typ == "ok" else v), error
        if f == "write":
            typ, error = await raw.write({"op": "put", "k": key, "v": v})
        elif f == "cas":
            old, new = v
            typ, error = await raw.write({"op": "cas", "k": key, "old": old, "new": new})
        else:
            return "fail", wrap(v), f"unknown-f:{f}"
        return typ, wrap(v), error

    async def close(self) -> None:
        return None


class _Set:
    """The ``set`` workload on key ``s`` (client.SetClient)."""

    def __init__(self, raw: SimRaftKVClient) -> None:
        self.raw = raw

    async def invoke(self, f: str, value: Any) -> tuple[str, Any, Any]:
        if f == "read":
            typ, got, error = await self.raw.get(SET_KEY)
            return typ, (parse_set(got) if typ == "ok" else None), error
        if f == "add":
            typ, error = await self.raw.write({"op": "append", "k": SET_KEY, "v": f"{value},"})
            return typ, value, error
        return "fail", value, f"unknown-f:{f}"

    async def close(self) -> None:
        return None


class RaftKVSimAdapter:
    name = "raftkv"
    tick_s = TICK_S
    workloads = frozenset({"register", "kv", "set"})

    def __init__(self, config: NodeConfig | None = None) -> None:
        self.config = config or NodeConfig()

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
        raw = SimRaftKVClient(io, nodes, home, timeout_s, client_id)
        if workload == "set":
            return _Set(raw)
        return _Keyed(raw, keyed=workload == "kv")


ADAPTER = RaftKVSimAdapter()
