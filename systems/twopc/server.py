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
from typing import Any

from systems.common.shell import NodeShell, Token, parse_node_args, run_server
from systems.common.wal import WAL

from .node import TwoPCNode
from .proto import BUGS, Out

__all__ = ["main", "Server", "parse_args", "TICK_S"]

TICK_S = 0.02
LAZY_FLUSH_S = 2.0  # no-prepare-fsync bug: how often buffered records reach the OS
STATUS_LOG_S = 2.0  # the status counts go to the node log this often, when they changed
COMPACT_EVERY = 20000

log = logging.getLogger("twopc")


class Server(NodeShell):
    log = log
    peer_op = "2pc"

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args.node, args.listen, args.peers, args.bug)
        self.args = args
        self.wal = WAL(os.path.join(args.data, "wal"))
        boot = os.urandom(4).hex()
        self.node = TwoPCNode(self.name, list(self.peers), boot, args.bug, records=self.wal.records)
        self.wal.records = []
        self.buffer: list[dict[str, Any]] = []
        self.pending = Out()
        self.lazy = "no-prepare-fsync" in self.node.bugs
        self._scheduled = False
        if self.wal.torn_bytes:
            log.warning("recovery cut a torn WAL tail of %d bytes", self.wal.torn_bytes)
        log.info("recovered %s", self.node.status())

    def on_stop(self) -> None:
        self.wal.close()

    async def ticker(self) -> None:
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
        self.send(by_peer)
        for token, reply in out.replies:
            self.answer(token, reply)
        for m in local:
            self._add(self.node.step(m))
        if self.node.records >= COMPACT_EVERY and self.pending.empty():
            self.wal.rewrite(self.node.snapshot())
            self.buffer = []
            self.node.records = 0

    # -- requests ----------------------------------------------------------------
    def on_frame(self, msg: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        op = msg.get("op")
        if op == "2pc":
            for m in msg.get("ms", ()):
                if isinstance(m, dict) and m.get("dst") == self.name:
                    self._add(self.node.step(m))
            return
        token: Token = (writer, msg.get("id"))
        if op == "status":
            self.answer(token, {"ok": True, "ready": True, **self.node.status()})
        elif op == "txn":
            self._add(self.node.submit(token, msg))
        else:
            self.answer(token, {"ok": False, "error": f"unknown op {op!r}"})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return parse_node_args("systems.twopc.server", (__doc__ or "").split("\n")[0], BUGS, argv)


def main(argv: list[str] | None = None) -> None:
    run_server(Server, parse_args(argv))


if __name__ == "__main__":
    main()
