"""Cache server: one process per node, a store replica and a cache node on one port.

    python3 -m systems.cache.server --node n1 --listen HOST:PORT \\
        --peers n1=HOST:PORT,n2=...,n3=... --data DIR [--bug NAME]... [--seed N]

Every node runs the library's Raft shell with ``StoreNode`` (the source of
truth and the registry, ``store.py``) and, in the same process, a
``CacheCore`` (``node.py``) that is *not* replicated. Requests (each
answered once, echoing ``id``):

- store, through Raft: ``put {key, value, c, s}``, ``register``,
  ``deregister`` (session commands); ``get {key}`` and ``members``
  (ReadIndex reads); ``status`` and ``transfer`` as every library server;
- cache, answered at once from local memory: ``cget {key, since}`` →
  ``{hit: true, value, version}`` or ``{hit: false, lease}``;
  ``cset {key, value, lease?, epoch, ttl_ticks?}`` → ``{stored, version}`` or
  ``{stored: false, reason}``; ``cdel {key}`` → ``{deleted}``;
  ``cstats``.

The node registers itself in the registry (TTL ``REGISTER_TTL_MS``) and
renews it every ``HEARTBEAT_S`` through the library's client, like a consul
agent. Cache ticks are the shell's ticks (15 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import time
from typing import Any

from systems.raft.client import RaftClient
from systems.raft.node import NodeConfig
from systems.raft.server import RaftServer, Token, run
from systems.raft.server import parse_args as _parse_args
from systems.raft.types import Rng

from .node import BUGS as CACHE_BUGS
from .node import CacheCore, Hit, Stored
from .store import STORE_BUGS, StoreNode

__all__ = ["main", "Server", "parse_args", "BUGS", "REGISTER_TTL_MS", "HEARTBEAT_S"]

BUGS: dict[str, str] = {**STORE_BUGS, **CACHE_BUGS}
REGISTER_TTL_MS = 3000
HEARTBEAT_S = 0.5
LEASE_TICKS = 200  # 3 s at 15 ms a tick
log = logging.getLogger("cache")


def _int(x: Any, default: int = 0) -> int:
    try:
        return int(x)
    except (TypeError, ValueError):
        return default


class Server(RaftServer):
    node: StoreNode

    def make_node(self, rng: Rng, config: NodeConfig, ctx_prefix: str) -> StoreNode:
        store_bugs = [b for b in self.args.bug if b in STORE_BUGS]
        self.cache = CacheCore(lease_ticks=LEASE_TICKS,
                               bugs=[b for b in self.args.bug if b in CACHE_BUGS])
        node = StoreNode(self.name, list(self.peers), self.storage, rng, store_bugs, config,
                         ctx_prefix)
        node.set_clock(int(time.monotonic() * 1000))
        return node

    def on_tick(self) -> None:
        self.node.set_clock(int(time.monotonic() * 1000))
        self.cache.tick()

    async def serve(self) -> None:
        beat = asyncio.get_running_loop().create_task(self._heartbeat())
        try:
            await super().serve()
        finally:
            beat.cancel()

    async def _heartbeat(self) -> None:
        client = RaftClient(self.peers, self.name, 2.0)
        host, port = self.peers[self.name]
        msg = {"op": "register", "node": self.name, "addr": f"{host}:{port}",
               "ttl": REGISTER_TTL_MS}
        while True:
            with contextlib.suppress(Exception):  # a heartbeat lost to a fault is retried
                await client.session(msg)
            await asyncio.sleep(HEARTBEAT_S)

    def dispatch(self, op: Any, msg: dict[str, Any], token: Token) -> None:
        if op in ("cget", "cset", "cdel", "cstats"):
            self.answer(token, self._cache_op(op, msg))
        elif not self.node.request(token, msg):
            super().dispatch(op, msg, token)

    def _cache_op(self, op: str, msg: dict[str, Any]) -> dict[str, Any]:
        key = str(msg.get("key"))
        if op == "cget":
            got = self.cache.get(key, _int(msg.get("since")))
            if isinstance(got, Hit):
                return {"ok": True, "hit": True, "value": got.value, "version": got.version}
            return {"ok": True, "hit": False, "lease": got.lease}
        if op == "cset":
            lease = msg.get("lease")
            res = self.cache.set(key, msg.get("value"), max(0, _int(msg.get("ttl_ticks"))),
                                 None if lease is None else _int(lease), _int(msg.get("epoch")))
            if isinstance(res, Stored):
                return {"ok": True, "stored": True, "version": res.version}
            return {"ok": True, "stored": False, "reason": res.reason}
        if op == "cdel":
            return {"ok": True, "deleted": self.cache.delete(key)}
        return {"ok": True, **self.cache.stats()}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return _parse_args("systems.cache.server", BUGS, argv)


def main(argv: list[str] | None = None) -> None:
    run(Server, parse_args(argv))


if __name__ == "__main__":
    main()
