"""twopc server: the asyncio shell around ``TwoPCNode`` (sockets, ticks, WAL with fsync).

    python3 -m systems.twopc.server --node n1 --listen HOST:PORT \\
        --peers n1=HOST:PORT,n2=...,n3=... --data DIR [--bug NAME]... [--seed N]

One port serves peers and clients. Peer frames are ``{"op": "2pc", "ms": [...]}``
(no answer); client requests are ``{"op": "txn", "id": n, "mops": [...]}`` or
``{"op": "txn", "id": n, "transfer": [from, to, amount], "initial": m}``, and
``{"op": "status"}``; each gets one answer echoing ``id``.

The Ready contract: every burst of events is folded into one cycle; the
cycle's ``persist`` records (plus the buffered ones before them) are written
with ONE write and ONE fsync, and only then do its messages and replies
leave (group commit). Buffered records otherwise stay in this process: a
SIGKILL loses them, which is exactly what they may lose. Under the
``no-prepare-fsync`` bug the buffered records (the prepare records among
them) reach the OS only every ``LAZY_FLUSH_S``, as an unsynced page cache
would reach the disk: a SIGKILL loses the intents of every txn prepared
since, which the other participants commit. Messages to this
node itself are stepped after the fsync too. A tick every ``TICK_S``; the
log is rewritten from the node's snapshot every ``COMPACT_EVERY`` records.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
from typing import Any

from systems.common.wal import WAL
from systems.common.wire import WireError, encode, read_frame

from .node import TwoPCNode
from .proto import BUGS, Out

__all__ = ["main", "Server", "parse_args", "TICK_S"]

TICK_S = 0.02
LAZY_FLUSH_S = 2.0  # no-prepare-fsync bug: how often buffered records reach the OS
STATUS_LOG_S = 2.0  # the status counts go to the node log this often, when they changed
COMPACT_EVERY = 20000
PEER_BUFFER_LIMIT = 4 << 20
USER_TIMEOUT_MS = 1000  # see PeerLink.run

log = logging.getLogger("twopc")


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
    """A one-way connection to a peer; messages are dropped while it is down
    (every protocol message is re-sent or timed out by the cores)."""

    def __init__(self, addr: tuple[str, int]) -> None:
        self.addr = addr
        self.writer: asyncio.StreamWriter | None = None

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
                # backoff (tens of seconds after a long cut), which would keep in-doubt
                # txns blocked long after the heal. What was lost is re-sent by the cores.
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
            w.close()
            return
        w.write(encode({"op": "2pc", "ms": frames}))


class Server:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.name: str = args.node
        self.peers: dict[str, tuple[str, int]] = args.peers
        self.wal = WAL(os.path.join(args.data, "wal"))
        boot = os.urandom(4).hex()
        self.node = TwoPCNode(self.name, list(self.peers), boot, args.bug, records=self.wal.records)
        self.wal.records = []
        self.buffer: list[dict[str, Any]] = []
        self.pending = Out()
        self.lazy = "no-prepare-fsync" in self.node.bugs
        self.links = {p: PeerLink(a) for p, a in self.peers.items() if p != self.name}
        self._scheduled = False
        self._tasks: list[asyncio.Task[None]] = []
        if self.wal.torn_bytes:
            log.warning("recovery cut a torn WAL tail of %d bytes", self.wal.torn_bytes)
        log.info("recovered %s", self.node.status())

    async def serve(self) -> None:
        host, port = _addr(self.args.listen)
        server = await asyncio.start_server(self._conn, host, port, reuse_address=True)
        log.info("listening on %s:%d bugs=%s", host, port, ",".join(self.args.bug) or "-")
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(_on_loop_error)
        self._tasks = [loop.create_task(link.run()) for link in self.links.values()]
        self._tasks.append(loop.create_task(self._ticker()))
        stop: asyncio.Future[None] = loop.create_future()

        def on_signal() -> None:
            if not stop.done():
                stop.set_result(None)

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)
        async with server:
            await stop
        for t in self._tasks:
            t.cancel()
        self.wal.close()

    async def _ticker(self) -> None:
        lazy_every = max(1, round(LAZY_FLUSH_S / TICK_S))
        status_every = max(1, round(STATUS_LOG_S / TICK_S))
        n = 0
        logged: dict[str, Any] = {}
        while True:
            await asyncio.sleep(TICK_S)
            n += 1
            if n % status_every == 0:
                st = self.node.status()
                shown = {k: st[k] for k in ("prepared", "in_doubt", "deciding", "running")}
                if shown != logged:
                    logged = shown
                    log.info("status %s", " ".join(f"{k}={v}" for k, v in shown.items()))
            if self.lazy and n % lazy_every == 0 and self.buffer:
                self.wal.append(self.buffer, sync=False)
                self.buffer = []
            self._add(self.node.tick())

    # -- the Ready cycle ---------------------------------------------------------
    def _add(self, out: Out) -> None:
        self.pending.extend(out)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._process)

    def _process(self) -> None:
        self._scheduled = False
        out, self.pending = self.pending, Out()
        self.buffer += out.buffered
        if out.persist and self.lazy:
            self.wal.append(out.persist, sync=True)
        elif out.persist:
            self.wal.append(self.buffer + out.persist, sync=True)  # before anything leaves
            self.buffer = []
        by_peer: dict[str, list[dict[str, Any]]] = {}
        local: list[dict[str, Any]] = []
        for m in out.messages:
            if m["dst"] == self.name:
                local.append(m)
            else:
                by_peer.setdefault(m["dst"], []).append(m)
        for peer, frames in by_peer.items():
            link = self.links.get(peer)
            if link is not None:
                link.send(frames)
        for token, reply in out.replies:
            writer, req_id = token
            self._answer(writer, req_id, reply)
        for m in local:
            self._add(self.node.step(m))
        if self.node.records >= COMPACT_EVERY and self.pending.empty():
            self.wal.rewrite(self.node.snapshot())
            self.buffer = []
            self.node.records = 0

    def _answer(self, writer: asyncio.StreamWriter, req_id: Any, reply: dict[str, Any]) -> None:
        if writer.is_closing():
            return
        try:
            writer.write(encode({**reply, "id": req_id, "node": self.name}))
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
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            return
        except AssertionError as e:
            _crash(e)
        except Exception as e:  # a bad request must not take the node down
            log.warning("dropping connection: %r", e)
        finally:
            writer.close()

    def _dispatch(self, msg: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        op = msg.get("op")
        if op == "2pc":
            for m in msg.get("ms", ()):
                if isinstance(m, dict) and m.get("dst") == self.name:
                    self._add(self.node.step(m))
            return
        req_id = msg.get("id")
        if op == "status":
            self._answer(writer, req_id, {"ok": True, "ready": True, **self.node.status()})
        elif op == "txn":
            self._add(self.node.submit((writer, req_id), msg))
        else:
            self._answer(writer, req_id, {"ok": False, "error": f"unknown op {op!r}"})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="systems.twopc.server", description=__doc__.split("\n")[0])
    p.add_argument("--node", required=True)
    p.add_argument("--listen", required=True)
    p.add_argument("--peers", required=True, help="n1=HOST:PORT,n2=HOST:PORT,...")
    p.add_argument("--data", required=True)
    p.add_argument("--bug", action="append", default=[], choices=sorted(BUGS))
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    peers: dict[str, tuple[str, int]] = {}
    for item in args.peers.split(","):
        name, _, addr = item.partition("=")
        peers[name.strip()] = _addr(addr.strip())
    if args.node not in peers:
        p.error(f"--node {args.node} is not in --peers")
    args.peers = peers
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format=f"%(asctime)s {args.node} %(levelname)s %(message)s",
    )
    asyncio.run(Server(args).serve())


if __name__ == "__main__":
    main()
