"""raftkv clients for the harness workloads ``register``, ``kv`` and ``set``.

Routing (the library's engine, ``systems.raft.client``): writes start at the
client's preferred node and follow ``not-leader``
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

Every client takes its engine: a TCP ``RaftClient`` here, the library's
``SimRaftClient`` under the deterministic simulation (``simadapter.py``), so
both run the same ops and error table.
"""

from __future__ import annotations

from typing import Any

from systems.common.spec import Cluster, SystemClient
from systems.raft.client import ATTEMPT_TIMEOUT_S, DEADLINE_SHARE, RETRY_PAUSE_S, RaftClient

__all__ = [
    "ATTEMPT_TIMEOUT_S",
    "DEADLINE_SHARE",
    "RETRY_PAUSE_S",
    "REGISTER_KEY",
    "SET_KEY",
    "RaftKVClient",
    "RegisterClient",
    "KVClient",
    "SetClient",
    "make_register_client",
    "make_kv_client",
    "make_set_client",
    "client_for",
    "parse_set",
]

REGISTER_KEY = "r"
SET_KEY = "s"


class RaftKVClient:
    """raftkv's ops (``get`` by key, session writes) on an engine of the library."""

    def __init__(self, engine: RaftClient) -> None:
        self.engine = engine

    @classmethod
    def over_tcp(cls, cluster: Cluster, node: str, timeout_s: float) -> RaftKVClient:
        return cls(RaftClient(cluster, node, timeout_s))

    # -- operations ----------------------------------------------------------------
    async def get(self, key: str) -> tuple[str, Any, Any]:
        reply, _, error = await self.engine.request({"op": "get", "k": key}, write=False)
        if reply is not None and reply.get("ok"):
            return "ok", reply.get("value"), None
        return "fail", None, error

    async def write(self, cmd: dict[str, Any]) -> tuple[str, Any]:
        """(type, error) for a session write; the caller fills in the value."""
        reply, maybe, error = await self.engine.session(cmd)
        if reply is not None and reply.get("ok"):
            return "ok", None
        if reply is not None and reply.get("error") == "cas-mismatch":
            return "fail", "cas-mismatch"
        if reply is not None and reply.get("error") == "stale-seq":
            return "info", "stale-seq"
        return ("info" if maybe else "fail"), error

    async def close(self) -> None:
        await self.engine.close()


class RegisterClient:
    """Single-key register: read / write v / cas [old, new] on key ``r``."""

    def __init__(self, raw: RaftKVClient) -> None:
        self.raw = raw

    async def invoke(self, f: str, value: Any) -> tuple[str, Any, Any]:
        return await _invoke(self.raw, f, REGISTER_KEY, value, lambda v: v)

    async def close(self) -> None:
        await self.raw.close()


class KVClient:
    """Independent keys: value is [key, v]; read [k, None] -> ok [k, v]."""

    def __init__(self, raw: RaftKVClient) -> None:
        self.raw = raw

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

    def __init__(self, raw: RaftKVClient) -> None:
        self.raw = raw

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
    return RegisterClient(RaftKVClient.over_tcp(cluster, node, timeout_s))


def make_kv_client(cluster: Cluster, node: str, timeout_s: float) -> SystemClient:
    return KVClient(RaftKVClient.over_tcp(cluster, node, timeout_s))


def make_set_client(cluster: Cluster, node: str, timeout_s: float) -> SystemClient:
    return SetClient(RaftKVClient.over_tcp(cluster, node, timeout_s))


def client_for(workload: str, raw: RaftKVClient) -> SystemClient:
    """The workload's client over ``raw`` (any engine)."""
    if workload == "set":
        return SetClient(raw)
    return KVClient(raw) if workload == "kv" else RegisterClient(raw)
