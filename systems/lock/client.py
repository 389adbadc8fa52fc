"""The lock service's client for the ``lock`` workload (on the library's engine).

Ops and values (``value`` is a dict; the ok completion adds what was learnt):

| f         | value                                | ok adds          | definite failure (fail)        |
|-----------|--------------------------------------|------------------|--------------------------------|
| acquire   | {lock, ttl_ms}                       | token            | ``held``                       |
| renew     | {lock, token}                        | —                | ``not-holder``                 |
| release   | {lock, token}                        | —                | ``not-holder``                 |
| read      | {lock, key, token}                   | value            | ``fenced`` (a stale token)     |
| write     | {lock, key, token, value}            | —                | ``fenced``                     |
| stall     | {lock, token, seconds}               | —                | never                          |
| peek      | {key}                                | value            | unreachable / no leader        |

Every command but ``peek`` is a session write: after an ambiguous attempt it
is retried with the same seq (so an acquire is never granted twice); a
command that may have been applied but was not confirmed in time is
``info``. A refusal the state machine gave (``held``, ``not-holder``,
``fenced``) is ``fail``: it was applied as a refusal and changed nothing the
checker reads. ``stall`` is the client pausing inside its critical section
(the GC pause of the classic lease failure): it only sleeps, and it is
recorded in the history like any op. ``peek`` is a linearizable unfenced read
(ReadIndex), used for the final value of the protected counter.
"""

from __future__ import annotations

from typing import Any

from systems.common.spec import Cluster, SystemClient
from systems.raft.client import RaftClient

__all__ = ["LockClient", "make_lock_client", "REFUSALS"]

REFUSALS = ("held", "not-holder", "fenced")


class LockClient:
    """The workload's ops on a library engine (a TCP one, or the simulation's)."""

    def __init__(self, raw: RaftClient) -> None:
        self.raw = raw

    async def invoke(self, f: str, value: Any) -> tuple[str, Any, Any]:
        v: dict[str, Any] = dict(value) if isinstance(value, dict) else {}
        if f == "stall":
            await self.raw.sleep(max(0.0, float(v.get("seconds", 0.0))))
            return "ok", v, None
        if f == "peek":
            reply, _, error = await self.raw.request({"op": "peek", "key": v.get("key")}, False)
            if reply is not None and reply.get("ok"):
                return "ok", {**v, "value": reply.get("value")}, None
            return "fail", v, error
        cmd = self._command(f, v)
        if cmd is None:
            return "fail", v, f"unknown-f:{f}"
        reply, maybe, error = await self.raw.session(cmd)
        if reply is not None and reply.get("ok"):
            if f == "acquire":
                return "ok", {**v, "token": reply.get("token")}, None
            if f == "read":
                return "ok", {**v, "value": reply.get("value")}, None
            return "ok", v, None
        if reply is not None and reply.get("error") in REFUSALS:
            return "fail", v, reply.get("error")
        return ("info" if maybe else "fail"), v, error

    def _command(self, f: str, v: dict[str, Any]) -> dict[str, Any] | None:
        if f == "acquire":
            return {"op": f, "lock": v.get("lock"), "holder": self.raw.client_id,
                    "ttl": v.get("ttl_ms")}
        if f in ("renew", "release"):
            return {"op": f, "lock": v.get("lock"), "token": v.get("token")}
        if f == "read":
            return {"op": f, "key": v.get("key"), "token": v.get("token")}
        if f == "write":
            return {"op": f, "key": v.get("key"), "token": v.get("token"), "value": v.get("value")}
        return None

    async def close(self) -> None:
        await self.raw.close()


def make_lock_client(cluster: Cluster, node: str, timeout_s: float) -> SystemClient:
    return LockClient(RaftClient(cluster, node, timeout_s))
