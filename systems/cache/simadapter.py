"""The cache's adapter for the deterministic simulation backend (``--backend sim``).

The contract is docs/sim.md's (``harness/sim/adapter.py``); the lock
service's adapter is the model. What the real server (``server.py``) is,
minus sockets:

* **cores** — :class:`SimCacheNode`: the node's store replica (``StoreNode``
  on the shared Raft library: the source of truth and the registry) and its
  unreplicated ``CacheCore``, with the server's request dispatch (``cget``,
  ``cset``, ``cdel``, ``cstats`` answered from the cache core, the rest by the
  store) and its **registration heartbeat**: every ``HEARTBEAT_S`` (and at
  boot) the node sends ``register {node, ttl}`` as a session command to the
  store leader it knows of, over the simulated peer network (so partitions,
  pauses and losses reach it as they reach the real heartbeat's TCP
  connection), following ``not-leader`` redirects at once, as the library's
  client does. Ticks are the server's 15 ms; the cache core ticks with them.
* **storage model** — ``systems.raft.sim.SimStorage`` (the cache core is
  memory: a crash empties it, as a real restart does).
* **sim clients** — :class:`SimCacheClient`: the real ``CacheClient`` (ring
  history, look-aside reads with leases, two-ring invalidation, bounded
  loads) on ``SimRaftClient``; only ``_cache_call`` differs (``io.call``
  with the real client's ``CACHE_CALL_S`` timeout, no answer = ``None``).

Clocks. The store's registration TTLs run on a monotonic clock the real
server reads from ``time.monotonic`` (never faked), which keeps running while
the process is paused. The node's monotonic clock here is the world's true
simulated time, read through the run's client ``io`` (until the first client
opens, ticks × 15 ms; never going back), as in the lock's adapter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from systems.raft.node import NodeConfig
from systems.raft.server import TICK_S
from systems.raft.sim import SimStorage
from systems.raft.simclient import SimRaftClient

from .client import CACHE_CALL_S, Balancers, CacheClient
from .node import BUGS as CACHE_BUGS
from .node import INCARNATIONS, CacheCore
from .server import HEARTBEAT_S, LEASE_TICKS, REGISTER_TTL_MS, cache_op
from .store import STORE_BUGS, StoreNode

__all__ = ["ADAPTER", "CacheSimAdapter", "SimCacheNode", "SimCacheClient", "Heartbeat",
           "HeartbeatAck"]

TICK_MS = int(round(TICK_S * 1000))
HEARTBEAT_TICKS = max(1, round(HEARTBEAT_S / TICK_S))
CACHE_OPS = frozenset({"cget", "cset", "cdel", "cstats"})


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A node's ``register`` session command on its way to the store leader it knows of."""

    src: str
    msg: dict[str, Any]


@dataclass(frozen=True, slots=True)
class HeartbeatAck:
    """The store node's answer to a :class:`Heartbeat`, sent back to its node."""

    s: int
    reply: dict[str, Any]


class SimCacheNode:
    """One cache node (store replica + cache core + heartbeat) as the world drives it."""

    def __init__(self, name: str, store: StoreNode, cache: CacheCore, boot: int,
                 adapter: CacheSimAdapter) -> None:
        self.name = name
        self.store = store
        self.cache = cache
        self.adapter = adapter
        self.ticks = 0
        self.mono_ms = 0
        self.session = f"{name}.{boot}.hb"  # deterministic, one per boot (a process's client id)
        self.seq = 0
        self.beat_due = 0  # tick of the next heartbeat: one at boot, as the real loop does
        self._direct: list[tuple[Any, dict[str, Any]]] = []
        self._out: list[tuple[str, Any]] = []

    # -- the world's calls -------------------------------------------------------------
    def tick(self) -> None:
        self.ticks += 1
        self.store.set_clock(self._clock())
        self.cache.wake(self.mono_ms)
        self.cache.tick()
        self.store.tick()
        if self.ticks >= self.beat_due:
            self.beat_due = self.ticks + HEARTBEAT_TICKS
            self._beat(self.store.status().get("leader"))

    def step(self, msg: Any) -> None:
        if isinstance(msg, Heartbeat):
            self.store.request(("hb", msg.src, msg.msg.get("s")), msg.msg)
        elif isinstance(msg, HeartbeatAck):
            self._acked(msg)
        else:
            self.store.step(msg)

    def request(self, token: Any, msg: dict[str, Any]) -> None:
        op = msg.get("op")
        if op == "status":
            self._direct.append((token, {"ok": True, "ready": True, **self.store.status()}))
        elif op == "transfer":
            self.store.transfer(str(msg.get("to")))
            self._direct.append((token, {"ok": True}))
        elif op in CACHE_OPS:
            self.cache.wake(self._clock())  # a node resumed from a pause flushes first
            self._direct.append((token, cache_op(self.cache, str(op), msg)))
        elif not self.store.request(token, msg):
            self._direct.append((token, {"ok": False, "error": f"unknown op {op!r}"}))

    def process(self) -> tuple[list[tuple[str, Any]], list[tuple[Any, dict[str, Any]]]]:
        out = self.store.process()
        messages: list[tuple[str, Any]] = [(m.dst, m) for m in out.messages]
        replies, self._direct = self._direct, []
        for token, reply in out.replies:
            if isinstance(token, tuple) and len(token) == 3 and token[0] == "hb":
                ack = HeartbeatAck(int(token[2] or 0), dict(reply))
                if token[1] == self.name:
                    self._acked(ack)
                else:
                    messages.append((str(token[1]), ack))
            else:
                replies.append((token, reply))
        if self._out:
            messages += self._out
            self._out = []
        return messages, replies

    def status(self) -> dict[str, Any]:
        return self.store.status()

    def _clock(self) -> int:
        """The monotonic clock: true simulated time, never going back."""
        true_ms = self.adapter.true_ms()
        self.mono_ms = max(self.mono_ms, true_ms if true_ms is not None else self.ticks * TICK_MS)
        return self.mono_ms

    # -- the heartbeat (server.Server._heartbeat) ----------------------------------------
    def _beat(self, target: Any) -> None:
        self.seq += 1
        msg = {"op": "register", "node": self.name, "addr": f"sim:{self.name}",
               "ttl": REGISTER_TTL_MS, "c": self.session, "s": self.seq}
        if not isinstance(target, str) or target == self.name:
            self.store.request(("hb", self.name, self.seq), msg)
        else:
            self._out.append((target, Heartbeat(self.name, msg)))

    def _acked(self, ack: HeartbeatAck) -> None:
        leader = ack.reply.get("leader")
        if (ack.s == self.seq and ack.reply.get("error") == "not-leader"
                and isinstance(leader, str)):
            self._beat(leader)  # the library client's redirect: straight to the leader named


class SimCacheClient(CacheClient):
    """The real cache client with the simulated network under it."""

    def __init__(self, io: Any, nodes: list[str], home: str, timeout_s: float, client_id: str,
                 balancers: Balancers | None = None, fill_delay_ms: float = 0) -> None:
        store = SimRaftClient(io, nodes, home, timeout_s, client_id)
        super().__init__(store.cluster, home, timeout_s, store=store, balancers=balancers,
                         fill_delay_ms=fill_delay_ms)
        self.io = io

    async def _cache_call(self, node: str, msg: dict[str, Any]) -> dict[str, Any] | None:
        kind, what = await self.io.call(node, msg, CACHE_CALL_S)
        return dict(what) if kind == "ok" and isinstance(what, dict) else None

    async def close(self) -> None:
        await self._release_all()


class CacheSimAdapter:
    name = "cache"
    tick_s = TICK_S
    workloads = frozenset({"cache"})

    def __init__(self, config: NodeConfig | None = None, bounded_load: float = 0.0,
                 fill_delay_ms: float = 0) -> None:
        self.config = config or NodeConfig()
        self.io: Any = None  # the current run's client io: the world's true clock
        self.balancers: Balancers | None = None  # the current run's shared load trackers
        self.bounded_load = bounded_load
        self.fill_delay_ms = fill_delay_ms

    def configure(self, settings: Mapping[str, Any]) -> CacheSimAdapter:
        """This adapter for a run's ``--opt`` values (``bounded_load``, ``fill_delay_ms``)."""
        return CacheSimAdapter(self.config, float(settings.get("bounded_load", 0.0)),
                               float(settings.get("fill_delay_ms", 0)))

    def true_ms(self) -> int | None:
        return None if self.io is None else int(self.io.now() * 1000)

    def disk(self, node: str) -> SimStorage:
        self.io = None  # a new world is being built: forget the last run's clock and loads
        self.balancers = None
        return SimStorage()

    def node(self, name: str, peers: list[str], disk: Any, rng: Any, bugs: tuple[str, ...],
             boot: int) -> SimCacheNode:
        store = StoreNode(name, peers, disk, rng, [b for b in bugs if b in STORE_BUGS],
                          self.config, ctx_prefix=f"{name}.{boot}:")
        cache = CacheCore(lease_ticks=LEASE_TICKS, bugs=[b for b in bugs if b in CACHE_BUGS],
                          incarnation=rng.randrange(INCARNATIONS))  # fresh per boot (node.py)
        store.store.on_change = cache.invalidate  # applied puts delete locally (store.py)
        return SimCacheNode(name, store, cache, boot, self)

    def client(self, workload: str, io: Any, nodes: list[str], home: str, timeout_s: float,
               client_id: str) -> SimCacheClient:
        self.io = io
        if self.balancers is None:
            self.balancers = Balancers(self.bounded_load if self.bounded_load > 0 else None)
        return SimCacheClient(io, nodes, home, timeout_s, client_id, self.balancers,
                              self.fill_delay_ms)


ADAPTER = CacheSimAdapter()
