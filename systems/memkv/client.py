"""memkv client: one connection, per-op timeout, definite vs indefinite errors.

Error table: a refused connection means the op was never sent (``fail``);
a timeout or a connection lost after sending is ``info`` for writes and cas
(they may have happened) and ``fail`` for reads (no side effect).
"""

from __future__ import annotations

import asyncio
from typing import Any

from systems.common import wire
from systems.common.spec import Cluster

__all__ = [
    "MemKVClient",
    "MemKVSetClient",
    "make_register_client",
    "make_kv_client",
    "make_set_client",
]

REGISTER_KEY = "r"
SET_KEY = "s"


class MemKVClient:
    def __init__(self, cluster: Cluster, node: str, timeout_s: float, independent: bool) -> None:
        self.addr = cluster[node]
        self.timeout_s = timeout_s
        self.independent = independent
        self._conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._conn is None:
            self._conn = await asyncio.wait_for(
                asyncio.open_connection(*self.addr), self.timeout_s
            )
        return self._conn

    def _request(self, f: str, value: Any) -> tuple[dict[str, Any], Any]:
        key, v = (value[0], value[1]) if self.independent else (REGISTER_KEY, value)
        if f == "read":
            return {"op": "read", "key": key}, key
        if f == "write":
            return {"op": "write", "key": key, "value": v}, key
        if f == "cas":
            return {"op": "cas", "key": key, "old": v[0], "new": v[1]}, key
        raise ValueError(f"memkv: unknown f {f!r}")

    async def invoke(self, f: str, value: Any) -> tuple[str, Any, Any]:
        req, key = self._request(f, value)
        try:
            reader, writer = await self._connect()
        except (TimeoutError, OSError) as e:
            await self.close()
            return "fail", value, f"connect: {type(e).__name__}"
        try:
            wire.write_frame(writer, req)
            await writer.drain()
            reply = await asyncio.wait_for(wire.read_frame(reader), self.timeout_s)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, wire.WireError) as e:
            await self.close()
            kind = "fail" if f == "read" else "info"
            return kind, value, f"{type(e).__name__}"
        if not reply.get("ok"):
            return "fail", value, reply.get("error", "error")
        if f == "read":
            got = reply.get("value")
            return "ok", ([key, got] if self.independent else got), None
        return "ok", value, None

    async def close(self) -> None:
        if self._conn is not None:
            _, writer = self._conn
            self._conn = None
            writer.close()


def make_register_client(cluster: Cluster, node: str, timeout_s: float) -> MemKVClient:
    return MemKVClient(cluster, node, timeout_s, independent=False)


def make_kv_client(cluster: Cluster, node: str, timeout_s: float) -> MemKVClient:
    return MemKVClient(cluster, node, timeout_s, independent=True)


class MemKVSetClient:
    """The ``set`` workload on memkv, which has no append: add = read, then cas old -> old + [e].

    A cas-mismatch means another add won the race and nothing was written, so
    the loop retries until the op's timeout (then ``fail``: nothing happened).
    An indefinite cas makes the add ``info``; a refused or failed read before
    any cas was sent makes it ``fail``.
    """

    def __init__(self, cluster: Cluster, node: str, timeout_s: float) -> None:
        self.kv = MemKVClient(cluster, node, timeout_s, independent=True)
        self.timeout_s = timeout_s

    async def invoke(self, f: str, value: Any) -> tuple[str, Any, Any]:
        if f == "read":
            typ, got, error = await self.kv.invoke("read", [SET_KEY, None])
            return (typ, list(got[1] or []), None) if typ == "ok" else ("fail", None, error)
        if f != "add":
            return "fail", value, f"unknown-f:{f}"
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        while asyncio.get_running_loop().time() < deadline:
            typ, got, error = await self.kv.invoke("read", [SET_KEY, None])
            if typ != "ok":
                return "fail", value, error
            old = got[1]
            new = list(old or []) + [value]
            typ, _, error = await self.kv.invoke("cas", [SET_KEY, [old, new]])
            if typ == "ok" or typ == "info" or error != "cas-mismatch":
                return typ, value, error
        return "fail", value, "cas-contention"

    async def close(self) -> None:
        await self.kv.close()


def make_set_client(cluster: Cluster, node: str, timeout_s: float) -> MemKVSetClient:
    return MemKVSetClient(cluster, node, timeout_s)
