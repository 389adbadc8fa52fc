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
  client does (a node with no leader to ask tries the store nodes in turn).
  The membership controls (``registration``, ``leave``, ``registry``) are
  answered as the server's, their ``deregister``/``members`` forwarded the
  same way. ``join_node`` builds a node added mid-run (``--join``): cache
  only, no replica; its heartbeat carries ``seen`` and its answer the
  invalidation feed (store.py). Ticks are the server's 15 ms; the cache core
  ticks with them.
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
from .node import INCARNATIONS, CacheCore, apply_feed
from .server import HEARTBEAT_S, LEASE_TICKS, MEMBER_OPS, REGISTER_TTL_MS, cache_op
from .store import STORE_BUGS, StoreNode

__all__ = ["ADAPTER", "CacheSimAdapter", "SimCacheNode", "SimCacheClient", "Forward",
           "Forwarded"]

TICK_MS = int(round(TICK_S * 1000))
HEARTBEAT_TICKS = max(1, round(HEARTBEAT_S / TICK_S))
CACHE_OPS = frozenset({"cget", "cset", "cdel", "cstats"})


@dataclass(frozen=True, slots=True)
class Forward:
    """A registry command or read a node sends the store node it takes for the leader (its
    heartbeat ``register``, a leave's ``deregister``, a ``members`` read for the nemesis)."""

    src: str
    ref: int
    msg: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Forwarded:
    """The store node's answer to a :class:`Forward`, sent back to its node."""

    ref: int
    reply: dict[str, Any]


@dataclass(slots=True)
class _Pending:
    kind: str  # "hb" (heartbeat: replaced by the next), "leave", "members"
    msg: dict[str, Any]
    token: Any = None  # the control request to answer ("leave", "members")
    sent_at: int = 0  # tick of the last send


class SimCacheNode:
    """One cache node as the world drives it: a store replica (``store``; None for a node
    that joined mid-run: cache only) + cache core + heartbeat + membership controls."""

    def __init__(self, name: str, store: StoreNode | None, cache: CacheCore, boot: int,
                 adapter: CacheSimAdapter, store_nodes: list[str]) -> None:
        self.name = name
        self.store = store
        self.cache = cache
        self.adapter = adapter
        self.store_nodes = sorted(store_nodes)
        self.feed = store is None  # cache only: deletes come with the heartbeat (store.py)
        self.seen = 0
        self.ticks = 0
        self.mono_ms = 0
        self.session = f"{name}.{boot}.hb"  # deterministic, one per boot (a process's client id)
        self.seq = 0
        self.beat_due = 0  # tick of the next heartbeat: one at boot, as the real loop does
        self.registering = True
        self.pending: dict[int, _Pending] = {}
        self._refs = 0
        self.hint: str | None = None  # the leader a redirect named
        self._rot = sum(map(ord, name))  # where a node with no hint starts asking
        self._direct: list[tuple[Any, dict[str, Any]]] = []
        self._out: list[tuple[str, Any]] = []

    # -- the world's calls -------------------------------------------------------------
    def tick(self) -> None:
        self.ticks += 1
        now = self._clock()
        if self.store is not None:
            self.store.set_clock(now)
        self.cache.wake(self.mono_ms)
        self.cache.tick()
        if self.store is not None:
            self.store.tick()
        if self.ticks >= self.beat_due:
            self.beat_due = self.ticks + HEARTBEAT_TICKS
            self._retry()
            self._beat()

    def step(self, msg: Any) -> None:
        if isinstance(msg, Forward):
            if self.store is None or not self.store.request(("fw", msg.src, msg.ref), msg.msg):
                self._out.append((msg.src, Forwarded(msg.ref, {"ok": False,
                                                               "error": "not-a-store-node"})))
        elif isinstance(msg, Forwarded):
            self._answered(msg.ref, msg.reply)
        elif self.store is not None:
            self.store.step(msg)

    def request(self, token: Any, msg: dict[str, Any]) -> None:
        op = msg.get("op")
        if op == "status":
            self._direct.append((token, {"ok": True, "ready": True, **self.status()}))
        elif op in CACHE_OPS:
            self.cache.wake(self._clock())  # a node resumed from a pause flushes first
            self._direct.append((token, cache_op(self.cache, str(op), msg)))
        elif op in MEMBER_OPS:
            self._member_op(token, str(op), msg)
        elif self.store is None:
            self._direct.append((token, {"ok": False, "error": "not-a-store-node"}))
        elif op == "transfer":
            self.store.transfer(str(msg.get("to")))
            self._direct.append((token, {"ok": True}))
        elif not self.store.request(token, msg):
            self._direct.append((token, {"ok": False, "error": f"unknown op {op!r}"}))

    def process(self) -> tuple[list[tuple[str, Any]], list[tuple[Any, dict[str, Any]]]]:
        messages: list[tuple[str, Any]] = []
        if self.store is not None:
            out = self.store.process()
            messages += [(m.dst, m) for m in out.messages]
            for token, reply in out.replies:
                if isinstance(token, tuple) and len(token) == 3 and token[0] == "fw":
                    if token[1] == self.name:
                        self._answered(int(token[2]), dict(reply))
                    else:
                        messages.append((str(token[1]), Forwarded(int(token[2]), dict(reply))))
                else:
                    self._direct.append((token, reply))
        replies, self._direct = self._direct, []
        if self._out:
            messages += self._out
            self._out = []
        return messages, replies

    def status(self) -> dict[str, Any]:
        if self.store is None:
            return {"node": self.name, "role": "cache", "leader": None, "term": 0,
                    "registering": self.registering}
        return self.store.status()

    def _clock(self) -> int:
        """The monotonic clock: true simulated time, never going back."""
        true_ms = self.adapter.true_ms()
        self.mono_ms = max(self.mono_ms, true_ms if true_ms is not None else self.ticks * TICK_MS)
        return self.mono_ms

    # -- registry commands (server.CacheRole: the heartbeat and the membership controls) --
    def _member_op(self, token: Any, op: str, msg: dict[str, Any]) -> None:
        if op == "registration" and (msg.get("on") or not msg.get("deregister")):
            self.registering = bool(msg.get("on"))
            if self.registering:  # beat at once; a leave still in flight is overtaken
                for ref in [r for r, p in self.pending.items() if p.kind == "leave"]:
                    self._direct.append((self.pending.pop(ref).token,
                                         {"ok": False, "error": "registration resumed"}))
                self._beat()
            self._direct.append((token, {"ok": True, "registering": self.registering}))
        elif op in ("leave", "registration"):  # off with deregister: a failed health check
            self.registering = False
            self._send(_Pending("leave", {"op": "deregister", "node": self.name}, token))
        else:  # registry
            self._send(_Pending("members", {"op": "members"}, token))

    def _beat(self) -> None:
        if not self.registering:
            return
        for ref in [r for r, p in self.pending.items() if p.kind == "hb"]:
            del self.pending[ref]  # unanswered: this beat is its retry
        msg = {"op": "register", "node": self.name, "addr": f"sim:{self.name}",
               "ttl": REGISTER_TTL_MS}
        self._send(_Pending("hb", {**msg, "seen": self.seen} if self.feed else msg))

    def _send(self, p: _Pending) -> None:
        """Session commands get this boot's session and the next seq (its retries keep it)."""
        if p.msg["op"] in ("register", "deregister"):
            self.seq += 1
            p.msg = {**p.msg, "c": self.session, "s": self.seq}
        self._refs += 1
        self.pending[self._refs] = p
        self._forward(self._refs, p)

    def _forward(self, ref: int, p: _Pending) -> None:
        p.sent_at = self.ticks
        target = self._target()
        if target == self.name and self.store is not None:
            self.store.request(("fw", self.name, ref), p.msg)
        else:
            self._out.append((target, Forward(self.name, ref, p.msg)))

    def _target(self) -> str:
        """The store leader as this node knows it: its own replica's view, else the last
        redirect's, else the store nodes in turn (a new one each time one did not answer)."""
        if self.store is not None:
            leader = self.store.status().get("leader")
            return leader if isinstance(leader, str) else self.name
        if self.hint is not None:
            return self.hint
        return self.store_nodes[self._rot % len(self.store_nodes)]

    def _retry(self) -> None:
        """Every heartbeat period: re-send what got no answer since the last (to another
        store node when there is no leader to ask: the library client's rotation)."""
        stale = [(r, p) for r, p in sorted(self.pending.items()) if p.kind != "hb"
                 and self.ticks - p.sent_at >= HEARTBEAT_TICKS]
        if stale or any(p.kind == "hb" for p in self.pending.values()):
            self.hint = None
            self._rot += 1
        for ref, p in stale:
            self._forward(ref, p)

    def _answered(self, ref: int, reply: dict[str, Any]) -> None:
        p = self.pending.get(ref)
        if p is None:
            return
        if reply.get("error") in ("not-leader", "not-a-store-node"):
            leader = reply.get("leader")
            if isinstance(leader, str) and leader in self.store_nodes:
                self.hint = leader
                self._forward(ref, p)  # the library client's redirect: straight there
            return  # else retried at the next heartbeat
        del self.pending[ref]
        if p.kind == "hb":
            if self.feed:
                self.seen = apply_feed(self.cache, reply, self.seen)
        elif not reply.get("ok"):
            self._direct.append((p.token, {"ok": False, "error": reply.get("error")}))
        elif p.kind == "leave":
            self._direct.append((p.token, {"ok": True, "epoch": reply.get("epoch")}))
        else:
            self._direct.append((p.token, {"ok": True, "epoch": reply.get("epoch"),
                                           "members": reply.get("members")}))


class SimCacheClient(CacheClient):
    """The real cache client with the simulated network under it."""

    def __init__(self, io: Any, nodes: list[str], home: str, timeout_s: float, client_id: str,
                 balancers: Balancers | None = None, fill_delay_ms: float = 0) -> None:
        store = SimRaftClient(io, nodes, home, timeout_s, client_id)
        super().__init__(store.cluster, home, timeout_s, store=store, balancers=balancers,
                         fill_delay_ms=fill_delay_ms)
        self.io = io

    def _learn(self, node: str, addr: Any) -> bool:
        """Every registered node is reachable by name on the simulated network."""
        self.cluster.setdefault(node, ("sim", 0))
        return True

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
        cache = self._cache(rng, bugs)
        store.store.on_change = cache.invalidate  # applied puts delete locally (store.py)
        return SimCacheNode(name, store, cache, boot, self, peers)

    def join_node(self, name: str, peers: list[str], rng: Any, bugs: tuple[str, ...],
                  boot: int) -> SimCacheNode:
        """A node added mid-run (server.py's ``--join``): cache only, no store replica;
        ``peers`` = the store nodes and itself."""
        return SimCacheNode(name, None, self._cache(rng, bugs), boot, self,
                            [p for p in peers if p != name])

    @staticmethod
    def _cache(rng: Any, bugs: tuple[str, ...]) -> CacheCore:
        return CacheCore(lease_ticks=LEASE_TICKS, bugs=[b for b in bugs if b in CACHE_BUGS],
                         incarnation=rng.randrange(INCARNATIONS))  # fresh per boot (node.py)

    def client(self, workload: str, io: Any, nodes: list[str], home: str, timeout_s: float,
               client_id: str) -> SimCacheClient:
        self.io = io
        if self.balancers is None:
            self.balancers = Balancers(self.bounded_load if self.bounded_load > 0 else None)
        return SimCacheClient(io, nodes, home, timeout_s, client_id, self.balancers,
                              self.fill_delay_ms)


ADAPTER = CacheSimAdapter()
