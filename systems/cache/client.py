"""The cache's client for the ``cache`` workload: look-aside reads with leases, routed by the ring.

| f          | value          | what it does                                                       | ok adds                 |
|------------|----------------|--------------------------------------------------------------------|-------------------------|
| read       | {key}          | ``cget`` at the key's owner; on a miss ``get`` from the store and, | value, hit, node        |
|            |                | holding a lease, fill with ``cset {lease, epoch}``                 |                         |
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

from .node import owner_since
from .ring import Ring

__all__ = ["CacheClient", "make_cache_client", "MEMBERS_EVERY_S", "HISTORY"]

MEMBERS_EVERY_S = 0.25
HISTORY = 64
CACHE_CALL_S = 0.5
INVALIDATE_TRIES = 3
INVALIDATE_RINGS = 2


class CacheClient:
    def __init__(self, cluster: Cluster, node: str, timeout_s: float) -> None:
        self.cluster = dict(cluster)
        self.store = RaftClient(cluster, node, timeout_s)
        self.rings: list[tuple[int, Ring]] = []
        self._members_at = -1e9
        self._conns: dict[str, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}
        self._req = 0

    async def close(self) -> None:
        for n in list(self._conns):
            self._drop(n)
        await self.store.close()

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
        return ring.lookup(key), owner_since(self.rings, key), epoch

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
        owner, since, epoch = self._route(key)
        got = None if owner is None else await self._cache_call(
            owner, {"op": "cget", "key": key, "since": since})
        if got is not None and got.get("hit"):
            return "ok", {**v, "value": got.get("value"), "hit": True, "node": owner}, None
        reply, _, error = await self.store.request({"op": "get", "key": key}, False)
        if reply is None or not reply.get("ok"):
            return "fail", v, error
        val = reply.get("value")
        if owner is not None and got is not None and got.get("lease") is not None:
            await self._cache_call(owner, {"op": "cset", "key": key, "value": val,
                                           "lease": got["lease"], "epoch": epoch})
        return "ok", {**v, "value": val, "hit": False, "node": owner if got else None}, None

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
        """The key's owners under the newest ``INVALIDATE_RINGS`` rings, newest first."""
        out: list[str] = []
        for _, ring in reversed(self.rings[-INVALIDATE_RINGS:]):
            if ring.nodes:
                owner = ring.lookup(key)
                if owner not in out:
                    out.append(owner)
        return out


def make_cache_client(cluster: Cluster, node: str, timeout_s: float) -> SystemClient:
    return CacheClient(cluster, node, timeout_s)
