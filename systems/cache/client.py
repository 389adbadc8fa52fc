"""The cache's client for the ``cache`` workload: look-aside reads with leases, routed by the ring.

| f          | value          | what it does                                                       | ok adds                 |
|------------|----------------|--------------------------------------------------------------------|-------------------------|
| read       | {key}          | ``cget`` at the key's owner (or, with bounded loads, the node the  | value, hit, node, load  |
|            |                | balancer picks); on a miss ``get`` from the store and, holding a   |                         |
|            |                | lease, fill with ``cset {lease, epoch}`` (``fill_delay_ms`` later) |                         |
| final-read | {key}          | the same, after healing                                            | value, hit, node        |
| store-read | {key}          | ``get`` from the store (ReadIndex)                                 | value                   |
| write      | {key, value}   | ``put`` to the store (a session command), then a fresh ``members`` | —                       |
|            |                | read and ``cdel`` at the key's owners under the newest two rings   |                         |
|            |                | (each retried a few times; the write is ok once the put is)        |                         |

Errors: a read whose store ``get`` got no answer is ``fail`` (reads change
nothing); a cache node that does not answer makes the read go to the store
alone (``node`` null, ``hit`` false). A ``put`` that may have been applied
but was not confirmed is ``info``; one certainly not applied is ``fail``.

**Membership.** The client reads ``members`` from the registry at most every
``MEMBERS_EVERY_S`` and keeps the rings it saw by epoch (the last
``HISTORY`` of them): the current ring routes, the history gives
``owner_since`` for the moved-range rule (``node.py``). Registered names are
mapped to addresses through the harness's cluster map; a node that is not in
it (one that joined mid-run) is reached at the address it registered, as a
consul client would.

**Slow readers** (``--opt fill_delay_ms=N``): every fill waits N ms after
its store read, as an application does that computes the cached value (or
stalls) between reading the database and setting the cache. It widens the
stale-set window — a write's put and invalidation landing between a
reader's store read and its fill — from one round trip to N ms, which is
what leases exist for: the correct build rejects such fills, ``no-lease``
lets them land and the stale value stays until the key's next write.

**Bounded loads** (``--opt bounded_load=C``, C >= 1): every client of the
process shares one ``Balancers``: a read goes to the first node clockwise
from its key whose in-flight reads are below ``ceil(C * (inflight + 1) /
n)`` (``ring.BoundedLoad``), so hot keys spill to the next nodes, each of
which fills its own copy. Each read's ``load`` records what the balancer
saw right after choosing (``here``: that node's in-flight reads including
this one, ``inflight``: all of them, ``nodes``), in both modes, so the
checker can report the peak in-flight load against the mean. Since any
member may then hold a key, a writer invalidates every member of its
newest two rings (not just the owners), and ``since`` is the node's
current membership run (``member_since``), not its ownership run.

**Why a writer re-reads members and invalidates two owners.** A reader that
filled a key read the membership before its store read, which preceded the
write's put; the writer's fresh members read after the put is therefore at
least as new as the reader's ring. Invalidating the owners under the newest
two rings of the writer's history covers a reader routing by either of
them; a reader on an older ring (or one the writer never saw) can leave a
stale item that the checker's staleness bound Δ reports
(or that ``since`` drops when the ring flips back).
"""

from __future__ import annotations

import asyncio
from typing import Any

from systems.common.spec import Cluster, SystemClient
from systems.common.wire import encode, read_frame
from systems.raft.client import RaftClient

from .node import CACHE_CALL_S, INVALIDATE_TRIES, member_since, owner_since
from .ring import BoundedLoad, Ring, capacity

__all__ = ["CacheClient", "Balancers", "make_cache_client", "shared_balancers", "MEMBERS_EVERY_S",
           "HISTORY", "CACHE_CALL_S"]

MEMBERS_EVERY_S = 0.25
HISTORY = 64
# CACHE_CALL_S and INVALIDATE_TRIES live in node.py, next to the flush gap they bound
INVALIDATE_RINGS = 2


class Balancers:
    """In-flight reads per cache node, shared by every client of one process.

    A balancer needs the load of the whole client fleet, not one client's (a
    client has one read in flight), so the clients of a run share this object:
    one ``ring.BoundedLoad`` per ring epoch a client routes by (clients refresh
    membership independently, so two epochs may be in use at once; the cap
    holds within each). ``balance`` None is plain routing (every read to its
    key's owner), still counted — a tracker whose ``c`` is the node count
    never overflows — so both modes report the same load figures. A tracker
    with nothing in flight that is not the newest is dropped.
    """

    def __init__(self, balance: float | None) -> None:
        if balance is not None:
            capacity(1, 1, balance)  # validates it (>= 1)
        self.balance = balance
        self._by_epoch: dict[int, BoundedLoad] = {}

    @property
    def bounded(self) -> bool:
        return self.balance is not None

    def acquire(self, epoch: int, ring: Ring, key: str) -> tuple[str, dict[str, int]]:
        """The node to read ``key`` at, and the load figures right after choosing it:
        ``here`` (its in-flight reads, this one included), ``inflight`` (all in flight under
        this epoch) and ``nodes`` (the ring's size)."""
        tracker = self._by_epoch.get(epoch)
        if tracker is None:
            c = self.balance if self.balance is not None else float(max(1, len(ring)))
            tracker = self._by_epoch[epoch] = BoundedLoad(ring, c)
        node = tracker.acquire(key)
        return node, {"here": tracker.load(node), "inflight": tracker.inflight,
                      "nodes": len(ring)}

    def release(self, epoch: int, node: str) -> None:
        tracker = self._by_epoch[epoch]
        tracker.release(node)
        if not tracker.inflight and epoch != max(self._by_epoch):
            del self._by_epoch[epoch]


class CacheClient:
    def __init__(self, cluster: Cluster, node: str, timeout_s: float,
                 store: RaftClient | None = None, balancers: Balancers | None = None,
                 fill_delay_ms: float = 0) -> None:
        if fill_delay_ms < 0:
            raise ValueError(f"fill_delay_ms must be >= 0, got {fill_delay_ms}")
        self.fill_delay_s = fill_delay_ms / 1000
        self.cluster = dict(cluster)
        self.balancers = balancers if balancers is not None else Balancers(None)
        self._held: list[tuple[int, str]] = []  # (epoch, node) of this client's in-flight read
        # The store engine: TCP by default; the simulation passes its SimRaftClient.
        self.store = store if store is not None else RaftClient(cluster, node, timeout_s)
        self.rings: list[tuple[int, Ring]] = []
        self.joined: dict[str, int] = {}  # the registry's join epoch of each member
        self._members_at = -1e9
        self._conns: dict[str, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}
        self._req = 0

    async def close(self) -> None:
        await self._release_all()
        for n in list(self._conns):
            self._drop(n)
        await self.store.close()

    async def _release_all(self) -> None:
        """Give back in-flight loads of an op abandoned without unwinding (never in order)."""
        for epoch, node in self._held:
            self.balancers.release(epoch, node)
        self._held = []

    def _drop(self, node: str) -> None:
        conn = self._conns.pop(node, None)
        if conn is not None:
            conn[1].close()

    async def _cache_call(self, node: str, msg: dict[str, Any]) -> dict[str, Any] | None:
        """One request to one cache node; None if it did not answer in time."""
        try:
            async with asyncio.timeout(CACHE_CALL_S):
                conn = self._conns.get(node)
                if conn is None or conn[0].at_eof() or conn[1].is_closing():
                    conn = await asyncio.open_connection(*self.cluster[node])
                    self._conns[node] = conn
                reader, writer = conn
                self._req += 1
                writer.write(encode({**msg, "id": self._req}))
                await writer.drain()
                while True:
                    reply = await read_frame(reader)
                    if isinstance(reply, dict) and reply.get("id") == self._req:
                        return reply
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ConnectionError, ValueError):
            self._drop(node)
            return None

    async def _refresh(self, force: bool = False) -> None:
        now = self.store.now()
        if now - self._members_at < MEMBERS_EVERY_S and self.rings and not force:
            return
        reply, _, _ = await self.store.request({"op": "members"}, False)
        if reply is None or not reply.get("ok"):
            return
        self._members_at = now
        epoch = int(reply.get("epoch", 0))
        if self.rings and epoch <= self.rings[-1][0]:
            return
        names = [n for n, addr in (reply.get("members") or {}).items() if self._learn(n, addr)]
        joined = reply.get("joined")
        self.joined = {n: int(e) for n, e in joined.items()} if isinstance(joined, dict) else {}
        self.rings.append((epoch, Ring(names)))
        del self.rings[:-HISTORY]

    def _learn(self, node: str, addr: Any) -> bool:
        """Whether ``node`` is routable: in the cluster map, or registered with a
        ``host:port`` address (a node that joined after the client opened)."""
        if node in self.cluster:
            return True
        host, _, port = str(addr).rpartition(":")
        if not host or not port.isdigit():
            return False
        self.cluster[node] = (host, int(port))
        return True

    def _route(self, key: str) -> tuple[str | None, int, int]:
        """(owner, since, epoch) under the newest ring; owner None when no node is known."""
        if not self.rings or not self.rings[-1][1].nodes:
            return None, 0, 0
        epoch, ring = self.rings[-1]
        owner = ring.lookup(key)
        return owner, max(owner_since(self.rings, key), self.joined.get(owner, 0)), epoch

    async def invoke(self, f: str, value: Any) -> tuple[str, Any, Any]:
        v: dict[str, Any] = dict(value) if isinstance(value, dict) else {}
        key = str(v.get("key"))
        if f == "store-read":
            reply, _, error = await self.store.request({"op": "get", "key": key}, False)
            if reply is not None and reply.get("ok"):
                return "ok", {**v, "value": reply.get("value")}, None
            return "fail", v, error
        await self._refresh()
        if f in ("read", "final-read"):
            return await self._read(key, v)
        if f == "write":
            return await self._write(key, v)
        return "fail", v, f"unknown-f:{f}"

    async def _read(self, key: str, v: dict[str, Any]) -> tuple[str, Any, Any]:
        node, since, epoch = self._route(key)
        if node is None:
            return await self._look_aside(key, v, None, since, epoch)
        node, load = self.balancers.acquire(epoch, self.rings[-1][1], key)
        if self.balancers.bounded:  # any member may serve it: see _owners
            since = max(member_since(self.rings, node), self.joined.get(node, 0))
        self._held.append((epoch, node))
        try:
            kind, value, error = await self._look_aside(key, v, node, since, epoch)
        finally:  # synchronous, so it also runs when the op is cancelled (timed out)
            self._held.remove((epoch, node))
            self.balancers.release(epoch, node)
        return kind, ({**value, "load": load} if kind == "ok" else value), error

    async def _look_aside(self, key: str, v: dict[str, Any], node: str | None, since: int,
                          epoch: int) -> tuple[str, Any, Any]:
        got = None if node is None else await self._cache_call(
            node, {"op": "cget", "key": key, "since": since})
        if got is not None and got.get("hit"):
            return "ok", {**v, "value": got.get("value"), "hit": True, "node": node}, None
        reply, _, error = await self.store.request({"op": "get", "key": key}, False)
        if reply is None or not reply.get("ok"):
            return "fail", v, error
        val = reply.get("value")
        if node is not None and got is not None and got.get("lease") is not None:
            if self.fill_delay_s > 0:  # a slow reader: the stale-set window (module docstring)
                await self.store.sleep(self.fill_delay_s)
            await self._cache_call(node, {"op": "cset", "key": key, "value": val,
                                          "lease": got["lease"], "epoch": epoch})
        return "ok", {**v, "value": val, "hit": False, "node": node if got else None}, None

    async def _write(self, key: str, v: dict[str, Any]) -> tuple[str, Any, Any]:
        reply, maybe, error = await self.store.session(
            {"op": "put", "key": key, "value": v.get("value")})
        if reply is None or not reply.get("ok"):
            return ("info" if maybe else "fail"), v, error
        await self._refresh(force=True)
        for owner in self._owners(key):
            for _ in range(INVALIDATE_TRIES):
                if await self._cache_call(owner, {"op": "cdel", "key": key}) is not None:
                    break
        return "ok", v, None

    def _owners(self, key: str) -> list[str]:
        """Where a reader may have filled ``key``: its owners under the newest
        ``INVALIDATE_RINGS`` rings, newest first — or, with bounded loads (a read may go
        to any node), every member of those rings, each ring's walk from the key."""
        out: list[str] = []
        for _, ring in reversed(self.rings[-INVALIDATE_RINGS:]):
            if ring.nodes:
                walk = ring.preference(key) if self.balancers.bounded else [ring.lookup(key)]
                out += [n for n in walk if n not in out]
        return out


_SHARED: dict[tuple[Any, ...], Balancers] = {}


def shared_balancers(cluster: Cluster, bounded_load: float) -> Balancers:
    """The load tracker every client of this process opened on ``cluster`` shares (the
    harness opens one client per worker; a balancer must see all their reads)."""
    key = (tuple(sorted(cluster.items())), bounded_load)
    if key not in _SHARED:
        _SHARED[key] = Balancers(bounded_load if bounded_load > 0 else None)
    return _SHARED[key]


def make_cache_client(cluster: Cluster, node: str, timeout_s: float, bounded_load: float = 0.0,
                      fill_delay_ms: float = 0) -> SystemClient:
    """The harness's factory; ``--opt bounded_load=C`` and ``--opt fill_delay_ms=N``
    (``systems/cache/__init__.py``) arrive as keywords."""
    return CacheClient(cluster, node, timeout_s, balancers=shared_balancers(cluster, bounded_load),
                       fill_delay_ms=fill_delay_ms)
