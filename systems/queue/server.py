"""Queue server: P partition Raft groups in one process, on one port (the library's shell).

    python3 -m systems.queue.server --node n1 --listen HOST:PORT \\
        --peers n1=HOST:PORT,n2=...,n3=... --data DIR [--bug NAME]... [--seed N] \\
        [--partitions P]

Every partition is its own Raft group (README.md): this node hosts one
``QueueNode`` per partition, each with its own write-ahead log in
``DIR/p<partition>`` (the library's ``FileStorage``: CRC-framed records,
group-commit fsync, torn-tail recovery). All groups share the port and the
peer links: each peer frame carries its group as ``"g"``. Client requests
name their partition as ``"partition"`` (group ops: the group's coordinator
partition, ``machine.coordinator``); ``status`` answers partition 0's role
and leader (what the harness's leader targeting uses) and every partition's.

One Ready cycle per burst processes every group (each persists and fsyncs
before its messages leave, as the library's contract says).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
from typing import Any

from systems.raft.node import NodeConfig
from systems.raft.server import RaftServer, Token, run, ticks
from systems.raft.server import parse_args as _parse_args
from systems.raft.storage import FileStorage
from systems.raft.types import Message, Rng

from .node import BUGS, QueueNode

__all__ = ["main", "Server", "parse_args", "DEFAULT_PARTITIONS", "MAX_PARTITIONS"]

DEFAULT_PARTITIONS = 3
MAX_PARTITIONS = 64  # each is a Raft group with its own WAL and timers on every node
LAZY_FLUSH_TICKS = 133  # no-fsync bug: ~2 s, as the library's shell

log = logging.getLogger("queue")


class Server(RaftServer):
    node: QueueNode

    def __init__(self, args: argparse.Namespace) -> None:
        self.parts = int(args.partitions)
        self.groups: list[QueueNode] = []
        self.stores: list[FileStorage] = []
        super().__init__(args)  # builds partition 0 through make_node, then the links
        for p in range(1, self.parts):
            self.groups.append(self._build(p))

    def _build(self, p: int) -> QueueNode:
        store = FileStorage(os.path.join(self.args.data, f"p{p}"))
        self.stores.append(store)
        boot = os.urandom(4).hex()
        rng = random.Random(f"{self.args.seed}:{self.name}:{p}:{boot}")
        config = NodeConfig(snapshot_every=self.args.snapshot_every)
        node = QueueNode(self.name, list(self.peers), store, rng, self.parts, self.args.bug,
                         config, f"{self.name}.{p}.{boot}:")
        if store.torn_bytes:
            log.warning("partition %d: recovery cut a torn WAL tail of %d bytes", p,
                        store.torn_bytes)
        return node

    def make_node(self, rng: Rng, config: NodeConfig, ctx_prefix: str) -> QueueNode:
        # The library's shell opened FileStorage(DIR) for us; partition 0 lives in DIR/p0.
        self.storage.close()
        node = self._build(0)
        self.storage = self.stores[0]
        self.groups.append(node)
        return node

    async def serve(self) -> None:
        try:
            await super().serve()
        finally:
            for s in self.stores[1:]:
                s.close()

    async def _ticker(self) -> None:
        n = 0
        async for _ in ticks():
            n += 1
            for g in self.groups:
                g.tick()
            if "no-fsync" in self.node.bugs and n % LAZY_FLUSH_TICKS == 0:
                for s in self.stores:
                    s.flush_lazy()
            self.schedule()

    def _process(self) -> None:
        self._scheduled = False
        by_peer: dict[str, list[dict[str, Any]]] = {}
        for p, g in enumerate(self.groups):
            out = g.process()  # persists (and fsyncs) before returning messages
            for m in out.messages:
                by_peer.setdefault(m.dst, []).append({**m.to_wire(), "g": p})
            for token, reply in out.replies:
                self.answer(token, reply)
        for peer, frames in by_peer.items():
            link = self.links.get(peer)
            if link is not None:
                link.send(frames)
        st = self.node.core
        seen = (st.role, st.term, st.lead)
        if seen != self._seen:
            self._seen = seen
            log.info("p0 role=%s term=%d leader=%s commit=%d", *seen, st.log.committed)

    def _dispatch(self, msg: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        op = msg.get("op")
        if op == "raft":
            for raw in msg.get("ms", ()):
                p = raw.get("g", 0)
                if isinstance(p, int) and 0 <= p < len(self.groups):
                    self.groups[p].step(Message.from_wire(raw))
            return
        token: Token = (writer, msg.get("id"))
        if op == "status":
            self.answer(token, {"ok": True, "ready": True, **self.node.status(),
                                "partitions": [g.status() for g in self.groups]})
            return
        p = msg.get("partition", 0)
        if not isinstance(p, int) or not 0 <= p < len(self.groups):
            self.answer(token, {"ok": False, "error": "bad-partition"})
        elif op == "transfer":
            self.groups[p].transfer(str(msg.get("to")))
            self.answer(token, {"ok": True})
        elif not self.groups[p].request(token, msg):
            self.answer(token, {"ok": False, "error": f"unknown op {op!r}"})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--partitions", type=int, default=DEFAULT_PARTITIONS)
    known, rest = pre.parse_known_args(argv)
    if not 1 <= known.partitions <= MAX_PARTITIONS:
        pre.error(f"--partitions must be between 1 and {MAX_PARTITIONS}")
    args = _parse_args("systems.queue.server", BUGS, rest)
    args.partitions = known.partitions
    return args


def main(argv: list[str] | None = None) -> None:
    run(Server, parse_args(argv))


if __name__ == "__main__":
    main()
