"""raftkv clients for the harness workloads ``register``, ``kv`` and ``set``.

Routing: writes start at the client's preferred node and follow ``not-leader``
redirects to the leader (bounded by the op's timeout). Reads are spread
round-robin over all nodes, starting at the preferred one, and move on when a
node fails; followers serve them linearizably through a ReadIndex round with
the leader. Balancing reads over replicas is what etcd's clients do, and it is
also what lets a campaign see the stale-read bug: a lagging, resumed or
just-restarted follower answers from its own state.
Every op finishes within ``DEADLINE_SHARE`` of the per-op timeout so that the
client's own verdict, not the harness's timeout, decides the op's type.

Error table (what the harness records):

| outcome                                             | read   | write / cas |
|-----------------------------------------------------|--------|-------------|
| ``ok`` reply                                        | ok     | ok          |
| ``cas-mismatch`` reply (the command was applied)    | —      | fail        |
| connect refused, ``not-leader``, ``no-leader`` only | fail   | fail        |
| timeout or lost connection after sending, or the    | fail   | info        |
| server said ``ambiguous`` (leadership lost, ...)    |        |             |

Retries: every write carries a session ``(client id, seq)``; the state
machine applies a given seq at most once and remembers its answer. So after an
ambiguous attempt the client retries *the same seq* (at the leader it finds
next) until the op's timeout — a retry can only return the first application's
answer, never apply twice. If no attempt is confirmed in time the op is
``info``. Attempts that were definitely refused (nothing proposed) are retried
freely. Reads have no side effects; a read that does not succeed in time is
``fail``.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from systems.common.spec import Cluster, SystemClient
from systems.common.wire import encode, read_frame

__all__ = [
    "RaftKVClient",
    "RegisterClient",
    "KVClient",
    "SetClient",
    "make_register_client",
    "make_kv_client",
    "make_set_client",
    "parse_set",
]

ATTEMPT_TIMEOUT_S = 1.0
DEADLINE_SHARE = 0.85
RETRY_PAUSE_S = 0.05
REGISTER_KEY = "r"
SET_KEY = "s"


class _NotSent(Exception):
    """The request never left this process (connect failed)."""


class _Lost(Exception):
    """The request was sent; no answer came (timeout or connection lost)."""


class RaftKVClient:
    """Low-level request/redirect/retry engine shared by the workload clients."""

    def __init__(self, cluster: Cluster, node: str, timeout_s: float) -> None:
        self.cluster = dict(cluster)
        self.names = list(self.cluster)
        home = node if node in self.cluster else self.names[0]
        self.target = home
        self._read_turn = self.names.index(home)
        self.timeout_s = timeout_s * DEADLINE_SHARE
        self.client_id = os.urandom(8).hex()
        self.seq = 0
        self._req = 0
        self._conns: dict[str, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}

    async def close(self) -> None:
        for node in list(self._conns):
            self._drop(node)

    def _drop(self, node: str) -> None:
        conn = self._conns.pop(node, None)
        if conn is not None:
            conn[1].close()

    def _next_target(self) -> None:
        i = self.names.index(self.target)
        self.target = self.names[(i + 1) % len(self.names)]

    async def _call(self, node: str, msg: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        conn = self._conns.get(node)
        if conn is not None and (conn[0].at_eof() or conn[1].is_closing()):
            self._drop(node)
            conn = None
        if conn is None:
            try:
                conn = await asyncio.wait_for(asyncio.open_connection(*self.cluster[node]), timeout_s)
            except (TimeoutError, OSError) as e:
                raise _NotSent(f"cannot connect to {node}: {e!r}") from None
            self._conns[node] = conn
        reader, writer = conn
        self._req += 1
        req_id = self._req
        try:
            writer.write(encode({**msg, "id": req_id}))
            async with asyncio.timeout(timeout_s):
                await writer.drain()
                while True:
                    reply = await read_frame(reader)
                    if isinstance(reply, dict) and reply.get("id") == req_id:
                        return reply
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ConnectionError) as e:
            self._drop(node)
            raise _Lost(f"{type(e).__name__} at {node}") from None

    async def request(self, msg: dict[str, Any], write: bool) -> tuple[dict[str, Any] | None, bool, str]:
        """(final reply or None, whether a write may have been applied, last error)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        leader_guess = self.target
        if not write:
            self.target = self.names[self._read_turn % len(self.names)]
            self._read_turn += 1
        try:
            return await self._attempts(msg, write, deadline)
        finally:
            if not write:
                self.target = leader_guess

    async def _attempts(
        self, msg: dict[str, Any], write: bool, deadline: float
    ) -> tuple[dict[str, Any] | None, bool, str]:
        loop = asyncio.get_running_loop()
        maybe_applied = False
        last_error = "timeout"
        hops = 0
        while (remaining := deadline - loop.time()) > 0:
            node = self.target
            try:
                reply = await self._call(node, msg, min(remaining, ATTEMPT_TIMEOUT_S))
            except _NotSent:
                last_error = "unreachable"
                self._next_target()
                await asyncio.sleep(min(RETRY_PAUSE_S, max(0.0, deadline - loop.time())))
                continue
            except _Lost as e:
                last_error = "timeout" if "Timeout" in str(e) else "connection-lost"
                maybe_applied = maybe_applied or write
                self._next_target()
                continue
            if reply.get("ok"):
                return reply, maybe_applied, ""
            error = str(reply.get("error"))
            last_error = error
            if reply.get("ambiguous"):
                maybe_applied = maybe_applied or write
            elif error not in ("not-leader", "no-leader", "leadership-changed", "read-timeout"):
                return reply, maybe_applied, error  # a definite answer (cas-mismatch, ...)
            leader = reply.get("leader")
            hops += 1
            if isinstance(leader, str) and leader in self.cluster and leader != node:
                self.target = leader
                if hops % len(self.names) == 0:
                    await asyncio.sleep(0.01)
            else:
                if error in ("not-leader", "no-leader"):
                    self._next_target()
                await asyncio.sleep(min(RETRY_PAUSE_S, max(0.0, deadline - loop.time())))
        return None, maybe_applied, last_error

    # -- operations ----------------------------------------------------------------
    async def get(self, key: str) -> tuple[str, Any, Any]:
        reply, _, error = await self.request({"op": "get", "k": key}, write=False)
        if reply is not None and reply.get("ok"):
            return "ok", reply.get("value"), None
        return "fail", None, error

    async def write(self, cmd: dict[str, Any]) -> tuple[str, Any]:
        """(type, error) for a session write; the caller fills in the value."""
        self.seq += 1
        reply, maybe, error = await self.request({**cmd, "c": self.client_id, "s": self.seq}, True)
        if reply is not None and reply.get("ok"):
            return "ok", None
        if reply is not None and reply.get("error") == "cas-mismatch":
            return "fail", "cas-mismatch"
        if reply is not None and reply.get("error") == "stale-seq":
            return "info", "stale-seq"
        return ("info" if maybe else "fail"), error


class RegisterClient:
    """Single-key register: read / write v / cas [old, new] on key ``r``."""

    def __init__(self, cluster: Cluster, node: str, timeout_s: float) -> None:
        self.raw = RaftKVClient(cluster, node, timeout_s)

    async def invoke(self, f: str, value: Any) -> tuple[str, Any, Any]:
        return await _invoke(self.raw, f, REGISTER_KEY, value, lambda v: v)

    async def close(self) -> None:
        await self.raw.close()


class KVClient:
    """Independent keys: value is [key, v]; read [k, None] -> ok [k, v]."""

    def __init__(self, cluster: Cluster, node: str, timeout_s: float) -> None:
        self.raw = RaftKVClient(cluster, node, timeout_s)

    async def invoke(self, f: str, value: Any) -> tuple[str, Any, Any]:
        key, v = value
        return await _invoke(self.raw, f, str(key), v, lambda x: [key, x])

    async def close(self) -> None:
        await self.raw.close()


def parse_set(text: Any) -> list[Any]:
    """The set key's value (``"3,1,4,"``) as its elements, in order, duplicates kept.

    A token that is not an int is passed through as a string: the set checker
    then reports it as unexpected instead of the client hiding it.
    """
    if not isinstance(text, str):
        return []
    out: list[Any] = []
    for tok in text.split(","):
        if tok:
            try:
                out.append(int(tok))
            except ValueError:
                out.append(tok)
    return out


class SetClient:
    """The ``set`` workload on key ``s``: add e appends ``"e,"``; read parses the whole value.

    ``add`` is a session write like ``put`` (same retries and error table), so
    only the state machine's dedup stands between a retried add and a
    duplicated element, which is what this workload makes visible.
    """

    def __init__(self, cluster: Cluster, node: str, timeout_s: float) -> None:
        self.raw = RaftKVClient(cluster, node, timeout_s)

    async def invoke(self, f: str, value: Any) -> tuple[str, Any, Any]:
        if f == "read":
            typ, got, error = await self.raw.get(SET_KEY)
            return typ, (parse_set(got) if typ == "ok" else None), error
        if f == "add":
            typ, error = await self.raw.write({"op": "append", "k": SET_KEY, "v": f"{value},"})
            return typ, value, error
        return "fail", value, f"unknown-f:{f}"

    async def close(self) -> None:
        await self.raw.close()


async def _invoke(raw: RaftKVClient, f: str, key: str, v: Any, wrap: Any) -> tuple[str, Any, Any]:
    if f == "read":
        typ, got, error = await raw.get(key)
        return typ, wrap(got if typ == "ok" else v), error
    if f == "write":
        typ, error = await raw.write({"op": "put", "k": key, "v": v})
    elif f == "cas":
        old, new = v
        typ, error = await raw.write({"op": "cas", "k": key, "old": old, "new": new})
    else:
        return "fail", wrap(v), f"unknown-f:{f}"
    return typ, wrap(v), error


def make_register_client(cluster: Cluster, node: str, timeout_s: float) -> SystemClient:
    return RegisterClient(cluster, node, timeout_s)


def make_kv_client(cluster: Cluster, node: str, timeout_s: float) -> SystemClient:
    return KVClient(cluster, node, timeout_s)


def make_set_client(cluster: Cluster, node: str, timeout_s: float) -> SystemClient:
    return SetClient(cluster, node, timeout_s)
