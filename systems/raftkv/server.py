"""raftkv server: the library's asyncio Raft shell with the KV node and its client ops.

    python3 -m systems.raftkv.server --node n1 --listen HOST:PORT \\
        --peers n1=HOST:PORT,n2=...,n3=... --data DIR [--bug NAME]... [--seed N]

Client requests are ``{"op": get|put|cas|delete|append|transfer|status, "id": n, ...}``
and each gets one answer echoing ``id``. Timing, group commit and the Ready
contract are the library's (``systems.raft.server``).
"""

from __future__ import annotations

import argparse
from typing import Any

from systems.raft.node import NodeConfig
from systems.raft.server import TICK_S, RaftServer, Token, run
from systems.raft.server import parse_args as _parse_args
from systems.raft.types import Rng

from .node import BUGS, RaftNode

__all__ = ["main", "Server", "parse_args", "TICK_S"]

WRITE_OPS = ("put", "cas", "delete", "append")
CMD_FIELDS = ("k", "v", "old", "new", "c", "s")


class Server(RaftServer):
    node: RaftNode

    def make_node(self, rng: Rng, config: NodeConfig, ctx_prefix: str) -> RaftNode:
        return RaftNode(self.name, list(self.peers), self.storage, rng, self.args.bug, config, ctx_prefix)

    def dispatch(self, op: Any, msg: dict[str, Any], token: Token) -> None:
        if op == "get":
            self.node.read(token, str(msg.get("k")))
        elif op in WRITE_OPS:
            cmd: dict[str, Any] = {"op": op}
            for k in CMD_FIELDS:
                if k in msg:
                    cmd[k] = msg[k]
            self.node.write(token, cmd)
        else:
            super().dispatch(op, msg, token)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return _parse_args("systems.raftkv.server", BUGS, argv)


def main(argv: list[str] | None = None) -> None:
    run(Server, parse_args(argv))


if __name__ == "__main__":
    main()
