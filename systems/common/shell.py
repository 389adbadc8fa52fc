"""The asyncio shell every node server shares: peer links, the connection loop, signals.

A system's server (the Raft library's, twopc's) subclasses :class:`NodeShell`
and supplies what is its own: what a decoded frame does (:meth:`NodeShell.on_frame`),
its timer (:meth:`NodeShell.ticker`) and what to close on shutdown
(:meth:`NodeShell.on_stop`). One port serves peers and clients. Peer frames are
``{"op": <peer_op>, "ms": [...]}`` sent over one-way :class:`PeerLink`\\ s
(never answered); client requests get one answer each, echoing their ``id``
(:meth:`NodeShell.answer`). A broken invariant (an ``AssertionError`` anywhere in
the loop) stops the process at once with exit code 70, which the harness records
as a crash; any other error in a request drops only that connection.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from .wire import WireError, encode, read_frame

__all__ = [
    "NodeShell",
    "PeerLink",
    "Token",
    "PEER_BUFFER_LIMIT",
    "USER_TIMEOUT_MS",
    "crash",
    "parse_addr",
    "parse_node_args",
    "run_server",
]

USER_TIMEOUT_MS = 1000  # see PeerLink.run
PEER_BUFFER_LIMIT = 4 << 20  # drop a peer link whose unsent bytes exceed this (peer stalled)

Token = tuple[asyncio.StreamWriter, Any]  # where a client's answer goes: (connection, request id)


def crash(log: logging.Logger, e: BaseException) -> NoReturn:
    """A broken invariant stops the node at once; the harness sees a dead node and its log."""
    log.critical("invariant violated, crashing: %r", e, exc_info=e)
    logging.shutdown()
    os._exit(70)


def parse_addr(s: str) -> tuple[str, int]:
    """``"HOST:PORT"`` -> ``(HOST, PORT)``."""
    host, _, port = s.rpartition(":")
    return host, int(port)


class PeerLink:
    """A one-way connection to a peer; messages are dropped while it is down (the cores
    re-send or time out everything they send)."""

    def __init__(self, name: str, addr: tuple[str, int], op: str) -> None:
        self.name = name
        self.addr = addr
        self.op = op
        self.writer: asyncio.StreamWriter | None = None
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.run())

    async def run(self) -> None:
        while True:
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(*self.addr), 0.5)
            except (TimeoutError, OSError):
                await asyncio.sleep(0.05)
                continue
            self.writer = writer
            sock = writer.get_extra_info("socket")
            if sock is not None and hasattr(socket, "TCP_USER_TIMEOUT"):
                # Data unacknowledged this long kills the link, so that after a partition
                # heals we reconnect at once instead of waiting out TCP's retransmission
                # backoff (tens of seconds after a long cut). What was lost is re-sent by
                # the cores; a healthy link is kept busy and never trips it.
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
        w.write(encode({"op": self.op, "ms": frames}))


class NodeShell:
    """The serving loop of one node. Subclasses implement :meth:`on_frame` and :meth:`ticker`."""

    log = logging.getLogger("node")
    peer_op = "peer"  # the ``op`` of peer frames

    def __init__(self, name: str, listen: str, peers: Mapping[str, tuple[str, int]],
                 bugs: list[str]) -> None:
        self.name = name
        self.listen = listen
        self.peers = dict(peers)
        self.bug_names = list(bugs)
        self.links = {p: PeerLink(p, a, self.peer_op) for p, a in self.peers.items()
                      if p != name}

    # -- what a subclass supplies -------------------------------------------------
    def on_frame(self, msg: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        """One decoded frame (a peer batch or a client request) from ``writer``'s connection."""
        raise NotImplementedError

    async def ticker(self) -> None:
        """The node's timer; runs until the server stops."""

    def on_start(self) -> None:
        """Called once the port listens and the peer links run."""

    def on_stop(self) -> None:
        """Called on SIGTERM/SIGINT after the loop stopped (close the log here)."""

    # -- shared ------------------------------------------------------------------
    def send(self, by_peer: Mapping[str, list[dict[str, Any]]]) -> None:
        """Send each peer its frames (dropped for an unknown peer or a link that is down)."""
        for peer, frames in by_peer.items():
            link = self.links.get(peer)
            if link is not None:
                link.send(frames)

    def answer(self, token: Token, reply: Mapping[str, Any]) -> None:
        writer, req_id = token
        if writer.is_closing():
            return
        try:
            writer.write(encode({**reply, "id": req_id, "node": self.name}))
        except (OSError, RuntimeError):
            pass

    async def serve(self) -> None:
        host, port = parse_addr(self.listen)
        server = await asyncio.start_server(self._conn, host, port, reuse_address=True)
        self.log.info("listening on %s:%d bugs=%s", host, port, ",".join(self.bug_names) or "-")
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(self._on_loop_error)
        for link in self.links.values():
            link.start()
        self.on_start()
        ticker = loop.create_task(self.ticker())
        stop: asyncio.Future[None] = loop.create_future()

        def on_signal() -> None:
            if not stop.done():
                stop.set_result(None)

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)
        async with server:
            await stop
        ticker.cancel()
        for link in self.links.values():
            if link.task is not None:
                link.task.cancel()
        self.on_stop()

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, AssertionError):
            crash(self.log, exc)
        loop.default_exception_handler(context)

    async def _conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                msg = await read_frame(reader)
                if not isinstance(msg, dict):
                    raise WireError("frame is not an object")
                self.on_frame(msg, writer)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            return  # shutting down
        except AssertionError as e:
            crash(self.log, e)
        except Exception as e:  # a bad request must not take the node down
            self.log.warning("dropping connection: %r", e)
        finally:
            writer.close()


def parse_node_args(
    prog: str,
    description: str,
    bugs: Mapping[str, str] | list[str],
    argv: list[str] | None = None,
    more: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.Namespace:
    """The common command line: --node --listen --peers --data [--bug]... [--seed], plus
    what ``more`` adds; ``args.peers`` comes back as ``{name: (host, port)}``."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--node", required=True)
    p.add_argument("--listen", required=True)
    p.add_argument("--peers", required=True, help="n1=HOST:PORT,n2=HOST:PORT,...")
    p.add_argument("--data", required=True)
    p.add_argument("--bug", action="append", default=[], choices=sorted(bugs))
    p.add_argument("--seed", type=int, default=0)
    if more is not None:
        more(p)
    args = p.parse_args(argv)
    peers: dict[str, tuple[str, int]] = {}
    for item in args.peers.split(","):
        name, _, addr = item.partition("=")
        peers[name.strip()] = parse_addr(addr.strip())
    if args.node not in peers:
        p.error(f"--node {args.node} is not in --peers")
    args.peers = peers
    return args


def run_server(make: Callable[[argparse.Namespace], NodeShell], args: argparse.Namespace) -> None:
    """Log to stderr with the node's name, build the server and serve until a signal."""
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format=f"%(asctime)s {args.node} %(levelname)s %(message)s",
    )
    asyncio.run(make(args).serve())
