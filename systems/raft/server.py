"""The asyncio shell around a library ``RaftNode`` (sockets, timer, fsync).

A system's server subclasses :class:`RaftServer`: it builds its node in
:meth:`RaftServer.make_node` and answers its own client operations in
:meth:`RaftServer.dispatch`. Started as::

    python3 -m <system>.server --node n1 --listen HOST:PORT \\
        --peers n1=HOST:PORT,n2=...,n3=... --data DIR [--bug NAME]... [--seed N]

One port serves peers and clients. Peer frames are ``{"op": "raft", "ms": [...]}``
(no answer); client requests are ``{"op": ..., "id": n, ...}`` and each gets one
answer echoing ``id``. Every server answers ``status`` and ``transfer``.

Timing: one tick every ``TICK_S`` (15 ms) of the node's clock; election timeout
10-20 ticks (150-300 ms, randomized by the core); heartbeat every 2 ticks (30 ms).
Ticks fall due at the node's clock rate (:mod:`systems.common.tickclock`: a clock the
nemesis slows slows the timers too, as in the simulation), and a stalled or paused
process sees time stop rather than jump — it cannot conclude anything from a pause.

Every burst of events is folded into one Ready cycle (group commit: one write
and one fsync for all proposals that arrived meanwhile); messages leave only
after the fsync, and clients are answered only after the entries are applied.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from systems.common.shell import NodeShell, PeerLink, Token, parse_node_args, run_server
from systems.common.tickclock import TickClock

from .node import NodeConfig, RaftNode
from .storage import FileStorage
from .types import Message, Rng

__all__ = ["RaftServer", "PeerLink", "parse_args", "run", "ticks", "TICK_S", "Token"]

TICK_S = 0.015
LAZY_FLUSH_S = 2.0  # no-fsync bug: how often buffered log records reach the OS

log = logging.getLogger("raft")


async def ticks() -> AsyncIterator[None]:
    """One item per tick due on the node's clock, checked every ``TICK_S`` of real time."""
    clock = TickClock(TICK_S, time.monotonic(), time.time())
    while True:
        await asyncio.sleep(TICK_S)
        for _ in range(clock.due(time.monotonic(), time.time())):
            yield None


class RaftServer(NodeShell):
    """The shell. Subclasses build the node and answer their own client ops."""

    log = log
    peer_op = "raft"

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args.node, args.listen, args.peers, args.bug)
        self.args = args
        self.storage = FileStorage(args.data)
        boot = os.urandom(4).hex()
        rng = random.Random(f"{args.seed}:{self.name}:{boot}")
        config = NodeConfig(snapshot_every=args.snapshot_every)
        self.node = self.make_node(rng, config, f"{self.name}.{boot}:")
        self._scheduled = False
        self._seen: tuple[str, int, str | None] = ("", -1, None)
        if self.storage.torn_bytes:
            log.warning("recovery cut a torn WAL tail of %d bytes", self.storage.torn_bytes)
        st = self.node.status()
        log.info("recovered term=%s commit=%s last=%s", st["term"], st["commit"], st["last_index"])

    def make_node(self, rng: Rng, config: NodeConfig, ctx_prefix: str) -> RaftNode:
        raise NotImplementedError

    def dispatch(self, op: Any, msg: dict[str, Any], token: Token) -> None:
        """A client request other than status/transfer; answer through the node or ``answer``."""
        self.answer(token, {"ok": False, "error": f"unknown op {op!r}"})

    def on_tick(self) -> None:
        """Called before every tick (a system's clock reading goes here)."""

    def on_start(self) -> None:
        self.schedule()

    def on_stop(self) -> None:
        self.storage.close()

    async def ticker(self) -> None:
        await self._ticker()  # the name subclasses override (systems/queue)

    async def _ticker(self) -> None:
        lazy_every = max(1, round(LAZY_FLUSH_S / TICK_S))
        n = 0
        async for _ in ticks():
            n += 1
            self.on_tick()
            self.node.tick()
            if "no-fsync" in self.node.bugs and n % lazy_every == 0:
                self.storage.flush_lazy()
            self.schedule()

    # -- the Ready cycle ---------------------------------------------------------
    def schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._process)

    def _process(self) -> None:
        self._scheduled = False
        out = self.node.process()  # persists (and fsyncs) before returning messages
        by_peer: dict[str, list[dict[str, Any]]] = {}
        for m in out.messages:
            by_peer.setdefault(m.dst, []).append(m.to_wire())
        self.send(by_peer)
        for token, reply in out.replies:
            self.answer(token, reply)
        st = self.node.core
        seen = (st.role, st.term, st.lead)
        if seen != self._seen:
            self._seen = seen
            log.info("role=%s term=%d leader=%s commit=%d", *seen, st.log.committed)

    # -- requests ----------------------------------------------------------------
    def on_frame(self, msg: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        self._dispatch(msg, writer)
        self.schedule()

    def _dispatch(self, msg: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        op = msg.get("op")
        if op == "raft":
            for raw in msg.get("ms", ()):
                self.node.step(Message.from_wire(raw))
            return
        token = (writer, msg.get("id"))
        if op == "status":
            self.answer(token, {"ok": True, "ready": True, **self.node.status()})
        elif op == "transfer":
            self.node.transfer(str(msg.get("to")))
            self.answer(token, {"ok": True})
        else:
            self.dispatch(op, msg, token)


def parse_args(
    prog: str, bugs: Mapping[str, str], argv: list[str] | None = None
) -> argparse.Namespace:
    def more(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--snapshot-every",
            type=int,
            default=NodeConfig().snapshot_every,
            help="compact the log after this many applied entries (tests use small values)",
        )

    return parse_node_args(prog, f"{prog}: one Raft node", bugs, argv, more)


def run(server_cls: type[RaftServer], args: argparse.Namespace) -> None:
    run_server(server_cls, args)
