"""One Redlock node: a single, unreplicated lock server in the shape of a Redis master.

    python3 -m systems.redlock.server --node n1 --listen HOST:PORT --peers ... --data DIR

It ignores its peers (Redlock's masters are independent). Requests
(length-prefixed JSON): ``status``, ``get {key}``, ``set {key, value, nx?, px?}``
and ``del-if {key, value}`` (the compare-and-delete Lua script of the Redis
lock). Keys expire on the process's wall clock (``time.time``), as Redis's
do, so the clock nemesis moves expiries. Every change is appended to
``DIR/aof`` (Redis's ``appendfsync no``: written, never fsynced) and replayed
on start, dropping keys that expired meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from typing import Any

from systems.common import wire

from .store import KeySpace

__all__ = ["main", "Node"]


def _now_ms() -> int:
    return int(time.time() * 1000)


class Node:
    def __init__(self, name: str, data_dir: str) -> None:
        self.name = name
        self.space = KeySpace()
        self.aof_path = os.path.join(data_dir, "aof") if data_dir else ""
        self._aof: Any = None
        if self.aof_path:
            os.makedirs(data_dir, exist_ok=True)
            self._replay()
            self._aof = open(self.aof_path, "a", encoding="utf-8")  # noqa: SIM115 - lives with the node

    def _replay(self) -> None:
        if not os.path.exists(self.aof_path):
            return
        now = _now_ms()
        with open(self.aof_path, encoding="utf-8") as f:
            for line in f:
                try:
                    self.space.replay(json.loads(line), now)
                except ValueError:
                    break  # a torn last line

    def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        if req.get("op") == "status":
            return {"ok": True, "node": self.name, "ready": True, "keys": len(self.space.keys)}
        reply, record = self.space.execute(req, _now_ms())
        if record is not None and self._aof is not None:
            self._aof.write(json.dumps(record, separators=(",", ":")) + "\n")
            self._aof.flush()
        return reply


async def serve(node: Node, host: str, port: int) -> None:
    async def conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                req = await wire.read_frame(reader)
                reply = node.handle(req if isinstance(req, dict) else {})
                if isinstance(req, dict) and "id" in req:
                    reply = {**reply, "id": req["id"]}
                wire.write_frame(writer, reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, wire.WireError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(conn, host, port, reuse_address=True)
    print(f"redlock {node.name} listening on {host}:{port}", file=sys.stderr, flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="systems.redlock.server")
    p.add_argument("--node", required=True)
    p.add_argument("--listen", required=True, help="HOST:PORT")
    p.add_argument("--peers", default="")
    p.add_argument("--data", default="")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bug", action="append", default=[], choices=[])
    a = p.parse_args(argv)
    host, _, port = a.listen.rpartition(":")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(Node(a.node, a.data), host, int(port)))


if __name__ == "__main__":
    main()
