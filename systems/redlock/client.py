"""The client-side Redlock algorithm (as Redis documents it), for the ``lock`` workload.

acquire(lock, ttl): a random value is SET with NX PX ttl on every node in
turn, each with a short timeout; the lock is held if a majority said yes
and the *validity time* ``ttl - elapsed - drift`` (drift = 1 % of the TTL +
2 ms) is still positive; otherwise it is released everywhere and the acquire
fails. The random value is the "token" the workload carries: it is **not** a
fencing token (nothing orders it), only what release compares against.
release: compare-and-delete on every node; ok if any node deleted it.

The protected counter lives on the first node as a plain key (``GET`` /
``SET``) and checks nothing: most Redlock deployments guard a resource that
knows nothing of the lock. ``peek`` reads it. ``renew`` is not offered.

Error table: acquire without a majority in time → fail (it released what it
got); read that fails → fail; write that is sent but not answered → info;
release that deletes nothing → fail ``not-holder``; ``stall`` only sleeps.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from systems.common.spec import Cluster, SystemClient
from systems.common.wire import encode, read_frame

__all__ = ["RedlockClient", "Lost", "make_lock_client", "NODE_TIMEOUT_S"]

NODE_TIMEOUT_S = 0.1  # per node and request: small against the TTL, as Redlock advises
DRIFT_SHARE = 0.01
DRIFT_MS = 2


class Lost(Exception):
    """The request may have been received; no answer came."""


class RedlockClient:
    """The algorithm over TCP; the transport is ``_call``, ``now`` and ``sleep`` (the
    simulation swaps them, see ``simadapter``)."""

    def __init__(self, cluster: Cluster, node: str, timeout_s: float) -> None:
        self.cluster = dict(cluster)
        self.names = sorted(self.cluster)
        self.timeout_s = timeout_s * 0.85
        self._conns: dict[str, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}
        self._req = 0

    async def close(self) -> None:
        for n in list(self._conns):
            self._drop(n)

    def _drop(self, node: str) -> None:
        conn = self._conns.pop(node, None)
        if conn is not None:
            conn[1].close()

    async def _call(self, node: str, msg: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """One request; raises ConnectionError when not sent, Lost when sent but unanswered."""
        conn = self._conns.get(node)
        if conn is not None and (conn[0].at_eof() or conn[1].is_closing()):
            self._drop(node)
            conn = None
        if conn is None:
            try:
                conn = await asyncio.wait_for(asyncio.open_connection(*self.cluster[node]),
                                              timeout_s)
            except (TimeoutError, OSError) as e:
                raise ConnectionError(str(e)) from None
            self._conns[node] = conn
        self._req += 1
        req_id = self._req
        reader, writer = conn
        try:
            writer.write(encode({**msg, "id": req_id}))
            async with asyncio.timeout(timeout_s):
                await writer.drain()
                while True:
                    reply = await read_frame(reader)
                    if isinstance(reply, dict) and reply.get("id") == req_id:
                        return reply
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            self._drop(node)
            raise Lost(node) from None

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def _all(self, msg: dict[str, Any]) -> list[dict[str, Any] | None]:
        """``msg`` to every node in turn (Redlock's "sequentially"), each with a short
        timeout; None where a node did not answer."""
        out: list[dict[str, Any] | None] = []
        for n in self.names:
            try:
                out.append(await self._call(n, msg, NODE_TIMEOUT_S))
            except (ConnectionError, Lost):
                out.append(None)
        return out

    async def invoke(self, f: str, value: Any) -> tuple[str, Any, Any]:
        v: dict[str, Any] = dict(value) if isinstance(value, dict) else {}
        if f == "stall":
            await self.sleep(max(0.0, float(v.get("seconds", 0.0))))
            return "ok", v, None
        if f == "acquire":
            return await self._acquire(v)
        if f == "release":
            replies = await self._all({"op": "del-if", "key": v.get("lock"), "value": v.get("token")})
            if any(r is not None and r.get("deleted") for r in replies):
                return "ok", v, None
            return "fail", v, "not-holder"
        if f in ("read", "peek", "write"):
            return await self._resource(f, v)
        return "fail", v, f"unsupported:{f}"

    def new_token(self) -> str:
        return os.urandom(10).hex()

    async def _acquire(self, v: dict[str, Any]) -> tuple[str, Any, Any]:
        ttl = int(v.get("ttl_ms", 1000))
        token = self.new_token()
        start = self.now()
        replies = await self._all({"op": "set", "key": v.get("lock"), "value": token,
                                   "nx": True, "px": ttl})
        got = sum(1 for r in replies if r is not None and r.get("set"))
        elapsed_ms = (self.now() - start) * 1000
        validity_ms = ttl - elapsed_ms - (ttl * DRIFT_SHARE + DRIFT_MS)
        if got >= len(self.names) // 2 + 1 and validity_ms > 0:
            return "ok", {**v, "token": token, "validity_ms": round(validity_ms, 1)}, None
        await self._all({"op": "del-if", "key": v.get("lock"), "value": token})
        return "fail", v, "held"

    async def _resource(self, f: str, v: dict[str, Any]) -> tuple[str, Any, Any]:
        home = self.names[0]
        msg: dict[str, Any] = {"op": "get", "key": v.get("key")}
        if f == "write":
            msg = {"op": "set", "key": v.get("key"), "value": v.get("value")}
        try:
            reply = await self._call(home, msg, self.timeout_s)
        except ConnectionError:
            return "fail", v, "unreachable"
        except Lost:
            return ("info" if f == "write" else "fail"), v, "timeout"
        if not reply.get("ok"):
            return "fail", v, reply.get("error")
        if f == "write":
            return "ok", v, None
        return "ok", {**v, "value": reply.get("value")}, None


def make_lock_client(cluster: Cluster, node: str, timeout_s: float) -> SystemClient:
    return RedlockClient(cluster, node, timeout_s)
