"""memkv: a single-node in-memory key-value server — the harness's own test subject.

Not one of the five systems: it exists to exercise the whole test loop. It
keeps everything in memory, so a kill (SIGKILL) followed by a restart loses
every acknowledged write, and the linearizability checker must say so.
Pausing it (SIGSTOP) only delays operations, which stays linearizable.

Requests (length-prefixed JSON, systems/common/wire.py):
``{"op": "status"}``, ``{"op": "read", "key": k}``,
``{"op": "write", "key": k, "value": v}``,
``{"op": "cas", "key": k, "old": a, "new": b}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from typing import Any

from systems.common import wire

__all__ = ["MemKV", "main"]


class MemKV:
    def __init__(self, node: str) -> None:
        self.node = node
        self.data: dict[str, Any] = {}

    def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req.get("op")
        key = str(req.get("key", ""))
        if op == "status":
            return {"ok": True, "node": self.node, "ready": True, "role": "leader",
                    "leader": self.node, "keys": len(self.data)}
        if op == "read":
            return {"ok": True, "value": self.data.get(key)}
        if op == "write":
            self.data[key] = req.get("value")
            return {"ok": True}
        if op == "cas":
            if self.data.get(key) != req.get("old"):
                return {"ok": False, "error": "cas-mismatch"}
            self.data[key] = req.get("new")
            return {"ok": True}
        return {"ok": False, "error": f"unknown op {op!r}"}


async def serve(node: str, host: str, port: int) -> None:
    kv = MemKV(node)

    async def conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                req = await wire.read_frame(reader)
                wire.write_frame(writer, kv.handle(req if isinstance(req, dict) else {}))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(conn, host, port, reuse_address=True)
    print(f"memkv {node} listening on {host}:{port}", file=sys.stderr, flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="memkv")
    p.add_argument("--node", required=True)
    p.add_argument("--listen", required=True, help="HOST:PORT")
    p.add_argument("--peers", default="")
    p.add_argument("--data", default="")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bug", action="append", default=[])
    a = p.parse_args(argv)
    host, _, port = a.listen.rpartition(":")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(a.node, host, int(port)))


if __name__ == "__main__":
    main()
