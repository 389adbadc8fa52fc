"""Cache server: one process per node, a store replica and a cache node on one port.

    python3 -m systems.cache.server --node n1 --listen HOST:PORT \\
        --peers n1=HOST:PORT,n2=...,n3=... --data DIR [--bug NAME]... [--seed N] [--join]

Every node started with the cluster runs the library's Raft shell with
``StoreNode`` (the source of truth and the registry, ``store.py``) and, in
the same process, a ``CacheCore`` (``node.py``) that is *not* replicated.
A node started mid-run with ``--join`` (``--peers`` = the store nodes plus
itself) is a **cache node only** (:class:`JoinedServer`): it is no store
replica — the store group is fixed, the Raft library has no membership
changes — and registers with the store like the others. Requests (each
answered once, echoing ``id``):

- store, through Raft: ``put {key, value, c, s}``, ``register``,
  ``deregister`` (session commands); ``get {key}`` and ``members``
  (ReadIndex reads); ``status`` and ``transfer`` as every library server;
- cache, answered at once from local memory: ``cget {key, since}`` →
  ``{hit: true, value, version}`` or ``{hit: false, lease}``;
  ``cset {key, value, lease?, epoch, ttl_ticks?}`` → ``{stored, version}`` or
  ``{stored: false, reason}``; ``cdel {key}`` → ``{deleted}``;
  ``cstats``;
- membership control (the harness's ``membership`` nemesis):
  ``registration {on, deregister?}`` stops or resumes the registration
  heartbeat (off: the registry's TTL expires the node, or with ``deregister``
  it is deregistered at once, as a failed health check does, while it keeps
  serving; on: it registers again at once);
  ``leave`` stops the heartbeat and deregisters (a graceful leave; answered
  once the deregistration committed); ``registry`` → ``{epoch, members}``
  read from the store by this node.

The node registers itself in the registry (TTL ``REGISTER_TTL_MS``) and
renews it every ``HEARTBEAT_S`` through the library's client, like a consul
agent. Cache ticks are the shell's ticks (15 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import secrets
import sys
import time
from typing import Any

from systems.common.shell import NodeShell, run_server
from systems.raft.client import RaftClient
from systems.raft.node import NodeConfig
from systems.raft.server import TICK_S, RaftServer, Token, run
from systems.raft.server import parse_args as _parse_args
from systems.raft.types import Rng

from .node import BUGS as CACHE_BUGS
from .node import INCARNATIONS, CacheCore, Hit, Stored, apply_feed
from .store import STORE_BUGS, StoreNode

__all__ = ["main", "Server", "JoinedServer", "parse_args", "cache_op", "BUGS", "REGISTER_TTL_MS",
           "HEARTBEAT_S", "LEASE_TICKS"]

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


class CacheRole:
    """What every cache node does, store replica or not: the cache ops, the
    registration heartbeat and its membership controls.

    ``registering`` is the heartbeat switch; ``_reg_lock`` serialises every
    registry command of this node, so a graceful leave's ``deregister`` can
    never be overtaken by a heartbeat ``register`` that was already in flight.
    """

    name: str
    peers: dict[str, tuple[str, int]]
    cache: CacheCore

    def init_role(self, bugs: list[str]) -> None:
        self.cache = CacheCore(lease_ticks=LEASE_TICKS, bugs=[b for b in bugs if b in CACHE_BUGS],
                               incarnation=secrets.randbelow(INCARNATIONS))  # node.py
        self.registering = True
        self.feed = False  # a cache-only node: store.py's invalidation feed on its heartbeat
        self.seen = 0  # the index up to which the feed deleted
        self._reg_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._registry: RaftClient | None = None

    def store_peers(self) -> dict[str, tuple[str, int]]:
        return dict(self.peers)

    def registry_client(self) -> RaftClient:
        if self._registry is None:
            self._registry = RaftClient(self.store_peers(), self.name, 2.0)
        return self._registry

    async def heartbeat(self) -> None:
        host, port = self.peers[self.name]
        msg = {"op": "register", "node": self.name, "addr": f"{host}:{port}",
               "ttl": REGISTER_TTL_MS}
        while True:
            if self.registering:
                async with self._reg_lock:
                    if self.registering:
                        with contextlib.suppress(Exception):  # lost to a fault: retried
                            reply, _, _ = await self.registry_client().session(
                                {**msg, "seen": self.seen} if self.feed else msg)
                            if self.feed and reply is not None:
                                self.seen = apply_feed(self.cache, reply, self.seen)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(HEARTBEAT_S):
                    await self._wake.wait()

    def cache_op(self, op: str, msg: dict[str, Any]) -> dict[str, Any]:
        self.cache.wake(int(time.monotonic() * 1000))  # a node that was stopped flushes first
        return cache_op(self.cache, op, msg)

    async def member_op(self, op: str, msg: dict[str, Any]) -> dict[str, Any]:
        """``registration``, ``leave`` and ``registry`` (see the module docstring)."""
        if op == "registration" and (msg.get("on") or not msg.get("deregister")):
            self.registering = bool(msg.get("on"))
            self._wake.set()
            return {"ok": True, "registering": self.registering}
        if op in ("leave", "registration"):  # registration off with deregister: a failed
            # health check (the registry drops the node at once; it keeps serving)
            self.registering = False
            async with self._reg_lock:
                reply, _, error = await self.registry_client().session(
                    {"op": "deregister", "node": self.name})
            if reply is None or not reply.get("ok"):
                return {"ok": False, "error": error or "deregister-failed"}
            return {"ok": True, "epoch": reply.get("epoch")}
        reply, _, error = await self.registry_client().request({"op": "members"}, False)
        if reply is None or not reply.get("ok"):
            return {"ok": False, "error": error or "no-registry"}
        return {"ok": True, "epoch": reply.get("epoch"), "members": reply.get("members")}


def cache_op(cache: CacheCore, op: str, msg: dict[str, Any]) -> dict[str, Any]:
    """Answer one cache request (``cget``/``cset``/``cdel``/``cstats``) from the cache core
    (the shells and the simulation adapter share it)."""
    key = str(msg.get("key"))
    if op == "cget":
        got = cache.get(key, _int(msg.get("since")))
        if isinstance(got, Hit):
            return {"ok": True, "hit": True, "value": got.value, "version": got.version}
        return {"ok": True, "hit": False, "lease": got.lease}
    if op == "cset":
        lease = msg.get("lease")
        res = cache.set(key, msg.get("value"), max(0, _int(msg.get("ttl_ticks"))),
                        None if lease is None else _int(lease), _int(msg.get("epoch")))
        if isinstance(res, Stored):
            return {"ok": True, "stored": True, "version": res.version}
        return {"ok": True, "stored": False, "reason": res.reason}
    if op == "cdel":
        return {"ok": True, "deleted": cache.delete(key)}
    return {"ok": True, **cache.stats()}


CACHE_OPS = ("cget", "cset", "cdel", "cstats")
MEMBER_OPS = ("registration", "leave", "registry")


class Server(RaftServer, CacheRole):
    """A store replica and a cache node on one port (a node the cluster started with)."""

    node: StoreNode

    def make_node(self, rng: Rng, config: NodeConfig, ctx_prefix: str) -> StoreNode:
        store_bugs = [b for b in self.args.bug if b in STORE_BUGS]
        self.init_role(self.args.bug)
        node = StoreNode(self.name, list(self.peers), self.storage, rng, store_bugs, config,
                         ctx_prefix)
        node.store.on_change = self.cache.invalidate  # applied puts delete locally (store.py)
        node.set_clock(int(time.monotonic() * 1000))
        return node

    def on_tick(self) -> None:
        now_ms = int(time.monotonic() * 1000)
        self.node.set_clock(now_ms)
        self.cache.wake(now_ms)
        self.cache.tick()

    async def serve(self) -> None:
        beat = asyncio.get_running_loop().create_task(self.heartbeat())
        try:
            await super().serve()
        finally:
            beat.cancel()

    def dispatch(self, op: Any, msg: dict[str, Any], token: Token) -> None:
        if op in CACHE_OPS:
            self.answer(token, self.cache_op(op, msg))
        elif op in MEMBER_OPS:
            _answer_later(self.member_op(op, msg), lambda r: self.answer(token, r))
        elif not self.node.request(token, msg):
            super().dispatch(op, msg, token)


_TASKS: set[asyncio.Task[Any]] = set()


def _answer_later(work: Any, answer: Any) -> None:
    async def run() -> None:
        try:
            reply = await work
        except Exception as e:  # noqa: BLE001 - the requester gets an answer either way
            reply = {"ok": False, "error": repr(e)}
        answer(reply)

    task = asyncio.get_running_loop().create_task(run())
    _TASKS.add(task)  # keep a reference until it finishes
    task.add_done_callback(_TASKS.discard)


class JoinedServer(NodeShell, CacheRole):
    """A cache node started mid-run (``--join``): no store replica, a cache and its registration.

    ``--peers`` names the store nodes and this node (whose entry is the
    address it registers); it has no peer links (it takes part in no Raft)."""

    log = log

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args.node, args.listen, {args.node: args.peers[args.node]}, args.bug)
        self.args = args
        self._store = {n: a for n, a in args.peers.items() if n != args.node}
        self.init_role(args.bug)
        self.feed = True  # no replica deletes puts here: the heartbeat brings them (store.py)
        self._beat: asyncio.Task[None] | None = None

    def store_peers(self) -> dict[str, tuple[str, int]]:
        return dict(self._store)

    def on_start(self) -> None:
        self._beat = asyncio.get_running_loop().create_task(self.heartbeat())

    def on_stop(self) -> None:
        if self._beat is not None:
            self._beat.cancel()

    async def ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            self.cache.wake(int(time.monotonic() * 1000))
            self.cache.tick()

    def on_frame(self, msg: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        op, token = msg.get("op"), (writer, msg.get("id"))
        if op == "status":
            self.answer(token, {"ok": True, "ready": True, "role": "cache", "leader": None,
                                "term": 0, "registering": self.registering})
        elif op in CACHE_OPS:
            self.answer(token, self.cache_op(str(op), msg))
        elif op in MEMBER_OPS:
            _answer_later(self.member_op(str(op), msg), lambda r: self.answer(token, r))
        else:
            self.answer(token, {"ok": False, "error": "not-a-store-node"})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    args = list(sys.argv[1:] if argv is None else argv)
    join = "--join" in args
    parsed = _parse_args("systems.cache.server", BUGS, [a for a in args if a != "--join"])
    parsed.join = join
    return parsed


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.join:
        run_server(JoinedServer, args)
    else:
        run(Server, args)


if __name__ == "__main__":
    main()
