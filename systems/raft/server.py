"""The asyncio shell around a library ``RaftNode`` (sockets, timer, fsync).

A system's server subclasses :class:`RaftServer`: it builds its node in
:meth:`RaftServer.make_node` and answers its own client operations in
:meth:`RaftServer.dispatch`. Started as::

    python3 -m <system>.server --node n1 --listen HOST:PORT \\
        --peers n1=HOST:PORT,n2=...,n3=... --data DIR [--bug NAME]... [--seed N]

One port serves peers and clients. Peer frames are ``{"op": "raft", "ms": [...]}``
(no answer); client requests are ``{"op": ..., "id": n, ...}`` and each gets one
answer echoing ``id``. Every server answers ``status`` and ``transfer``.

Timing: one tick every ``TICK_S`` (15 ms); election timeout 10-20 ticks
(150-300 ms, randomized by the core); heartbeat every 2 ticks (30 ms). The timer
never catches up missed ticks, so a stalled or paused process sees time stop
rather than jump — it cannot conclude anything from a pause.

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
import signal
import socket
import sys
from collections.abc import Mapping
from typing import Any

from systems.common.wire import WireError, encode, read_frame

from .node import NodeConfig, RaftNode
from .storage import FileStorage
from .types import Message, Rng

__all__ = ["RaftServer", "PeerLink", "parse_args", "run", "TICK_S", "Token"]

TICK_S = 0.015
LAZY_FLUSH_S = 2.0  # no-fsync bug: how often buffered log records reach the OS
USER_TIMEOUT_MS = 1000  # see PeerLink._run
PEER_BUFFER_LIMIT = 4 << 20  # drop a peer link whose unsent bytes exceed this (peer stalled)

Token = tuple[asyncio.StreamWriter, Any]  # where a client's answer goes: (connection, request id)

log = logging.getLogger("raft")


def _crash(e: BaseException) -> None:
    """A broken invariant stops the node at once; the harness sees a dead node and its log."""
    log.critical("invariant violated, crashing: %r", e, exc_info=e)
    logging.shutdown()
    os._exit(70)


def _on_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    exc = context.get("exception")
    if isinstance(exc, AssertionError):
        _crash(exc)
    loop.default_exception_handler(context)


def _addr(s: str) -> tuple[str, int]:
    host, _, port = s.rpartition(":")
    return host, int(port)


class PeerLink:
    """A one-way connection to a peer; messages are dropped while it is down."""

    def __init__(self, name: str, addr: tuple[str, int]) -> None:
        self.name = name
        self.addr = addr
        self.writer: asyncio.StreamWriter | None = None
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(*self.addr), 0.5)
            except (TimeoutError, OSError):
                await asyncio.sleep(0.05)
                continue
            self.writer = writer
            sock = writer.get_extra_info("socket")
            if sock is not None and hasattr(socket, "TCP_USER_TIMEOUT"):
                # Data unacknowledged for this long kills the link, so that after a
                # partition heals we reconnect at once instead of waiting out TCP's
                # retransmission backoff (seconds) on a link that dropped everything.
                # Heartbeats keep a healthy link busy, so it never trips.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, USER_TIMEOUT_MS)
            try:
                await reader.read()  # the peer never writes here; EOF means the link died
            except OSError:
                pass
            self.writer = None
            writer.close()
            await asyncio.sleep(0.02)

    def send(self, frames: list[dict[str, Any]]) -> None:
        w = self.writer
        if w is None or w.is_closing():
            return
        if w.transport.get_write_buffer_size() > PEER_BUFFER_LIMIT:
            w.close()  # a stopped peer: cut the link instead of buffering without bound
            return
        w.write(encode({"op": "raft", "ms": frames}))


class RaftServer:
    """The shell. Subclasses build the node and answer their own client ops."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.name: str = args.node
        self.peers: dict[str, tuple[str, int]] = args.peers
        self.storage = FileStorage(args.data)
        boot = os.urandom(4).hex()
        rng = random.Random(f"{args.seed}:{self.name}:{boot}")
        config = NodeConfig(snapshot_every=args.snapshot_every)
        self.node = self.make_node(rng, config, f"{self.name}.{boot}:")
        self.links = {p: PeerLink(p, a) for p, a in self.peers.items() if p != self.name}
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

    async def serve(self) -> None:
        host, port = _addr(self.args.listen)
        server = await asyncio.start_server(self._conn, host, port, reuse_address=True)
        log.info("listening on %s:%d bugs=%s", host, port, ",".join(self.args.bug) or "-")
        for link in self.links.values():
            link.start()
        self.schedule()
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(_on_loop_error)
        stop: asyncio.Future[None] = loop.create_future()

        def on_signal() -> None:
            if not stop.done():
                stop.set_result(None)

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)
        ticker = loop.create_task(self._ticker())
        async with server:
            await stop
        ticker.cancel()
        self.storage.close()

    async def _ticker(self) -> None:
        lazy_every = max(1, round(LAZY_FLUSH_S / TICK_S))
        n = 0
        while True:
            await asyncio.sleep(TICK_S)
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
        for peer, frames in by_peer.items():
            link = self.links.get(peer)
            if link is not None:
                link.send(frames)
        for token, reply in out.replies:
            self.answer(token, reply)
        st = self.node.core
        seen = (st.role, st.term, st.lead)
        if seen != self._seen:
            self._seen = seen
            log.info("role=%s term=%d leader=%s commit=%d", *seen, st.log.committed)

    def answer(self, token: Token, reply: dict[str, Any]) -> None:
        writer, req_id = token
        if writer.is_closing():
            return
        reply = {**reply, "id": req_id, "node": self.name}
        try:
            writer.write(encode(reply))
        except (OSError, RuntimeError):
            pass

    # -- connections -------------------------------------------------------------
    async def _conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                msg = await read_frame(reader)
                if not isinstance(msg, dict):
                    raise WireError("frame is not an object")
                self._dispatch(msg, writer)
                self.schedule()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            return  # shutting down
        except AssertionError as e:
            _crash(e)
        except Exception as e:  # a bad request must not take the node down
            log.warning("dropping connection: %r", e)
        finally:
            writer.close()

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
    p = argparse.ArgumentParser(prog=prog, description=f"{prog}: one Raft node")
    p.add_argument("--node", required=True)
    p.add_argument("--listen", required=True)
    p.add_argument("--peers", required=True, help="n1=HOST:PORT,n2=HOST:PORT,...")
    p.add_argument("--data", required=True)
    p.add_argument("--bug", action="append", default=[], choices=sorted(bugs))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--snapshot-every",
        type=int,
        default=NodeConfig().snapshot_every,
        help="compact the log after this many applied entries (tests use small values)",
    )
    args = p.parse_args(argv)
    peers: dict[str, tuple[str, int]] = {}
    for item in args.peers.split(","):
        name, _, addr = item.partition("=")
        peers[name.strip()] = _addr(addr.strip())
    if args.node not in peers:
        p.error(f"--node {args.node} is not in --peers")
    args.peers = peers
    return args


def run(server_cls: type[RaftServer], args: argparse.Namespace) -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format=f"%(asctime)s {args.node} %(levelname)s %(message)s",
    )
    asyncio.run(server_cls(args).serve())
