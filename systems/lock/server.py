"""Lock-service server: the library's asyncio Raft shell with the lock node and its ops.

    python3 -m systems.lock.server --node n1 --listen HOST:PORT \\
        --peers n1=HOST:PORT,n2=...,n3=... --data DIR [--bug NAME]... [--seed N]

Client requests (each answered once, echoing ``id``):

- session commands, through the log: ``acquire {lock, holder, ttl}``,
  ``renew {lock, token}``, ``release {lock, token}``, ``read {key, token}``,
  ``write {key, value, token}`` (each with ``c``/``s``);
- linearizable reads (ReadIndex): ``peek {key}`` (the resource's value and
  highest token, unfenced: final reads) and ``lease {lock}``;
- ``status`` and ``transfer``, as every library server.

Before every tick the shell hands the node its clocks: ``time.monotonic`` for
leases, ``time.time`` only for the ``wall-clock-lease`` bug (the clock
nemesis skews the wall clock; the monotonic one stays real).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from systems.raft.node import NodeConfig
from systems.raft.server import RaftServer, Token, run
from systems.raft.server import parse_args as _parse_args
from systems.raft.types import Rng

from .node import BUGS, LockNode

__all__ = ["main", "Server", "parse_args"]

class Server(RaftServer):
    node: LockNode

    def make_node(self, rng: Rng, config: NodeConfig, ctx_prefix: str) -> LockNode:
        node = LockNode(self.name, list(self.peers), self.storage, rng, self.args.bug, config,
                        ctx_prefix)
        node.set_clock(*self._clocks())
        return node

    @staticmethod
    def _clocks() -> tuple[int, int]:
        return int(time.monotonic() * 1000), int(time.time() * 1000)

    def on_tick(self) -> None:
        self.node.set_clock(*self._clocks())

    def dispatch(self, op: Any, msg: dict[str, Any], token: Token) -> None:
        if not self.node.request(token, msg):
            super().dispatch(op, msg, token)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return _parse_args("systems.lock.server", BUGS, argv)


def main(argv: list[str] | None = None) -> None:
    run(Server, parse_args(argv))


if __name__ == "__main__":
    main()
