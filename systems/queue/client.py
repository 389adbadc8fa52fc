"""The queue's client for the ``queue`` workload (on the library's engine, one per partition).

Ops and values, in the shapes ``checkers/queue.py`` judges:

| f      | value                          | ok value                          | fail (definite)                  |
|--------|--------------------------------|-----------------------------------|----------------------------------|
| send   | [key, value]                   | [partition, offset]               | refused, never proposed          |
| join   | {group}                        | this member's partitions          | refused                          |
| poll   | {group, drain: false}          | {partition: [[offset, value]...]} | ``rebalance``, ``not-joined``    |
| poll   | {group: null, drain: true}     | every partition from offset 0     | any fetch failed                 |
| commit | {group}                        | {group, offsets}                  | ``rebalance``                    |

The partition of a send is ``crc32(key) % P``. Sends are idempotent-producer
writes: the client's id is the producer id, each partition has its own seq,
and the engine retries an ambiguous attempt with the same seq (the partition
answers the first offset again), so a send is ``info`` only when no attempt
was confirmed before the deadline.

A consumer ``join``\\s its group (the answer carries the group's committed
offsets: its positions), then ``poll``\\s: a heartbeat to the group's
coordinator first — a new generation (someone joined, left or timed out)
fails the poll ``rebalance`` and forgets the membership, so the workload's
next ``join`` starts from the committed offsets again (the history's ``join``
ops are where the checker lets a consumer's positions jump back) — then one
fetch per assigned partition from its position. ``commit`` stores the
positions with the generation. Fetches are reads: a poll is ok with the
partitions whose fetch succeeded.

Every op must end within the harness's per-op timeout. Each engine's
deadline is the whole op's (``timeout_s``); an op of one request (send, join,
commit) uses all of it, so an attempt whose answer was lost (a paused or
partitioned leader, a leader that stepped down) is retried at the next leader
with the same seq within the op — a lost ack becomes a real retry, which the
idempotent producer answers with the first offset (``no-idempotence``:
appends again, a duplicate). An op of several requests (a poll: heartbeat +
one fetch per assigned partition; a drain: the fetches of every partition)
gives each request an equal share of what is left of the op's deadline.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

from systems.common.spec import Cluster, SystemClient
from systems.raft.client import RaftClient

from .machine import coordinator
from .server import DEFAULT_PARTITIONS

__all__ = ["QueueClient", "make_queue_client", "partition_of", "PAGE"]

PAGE = 1000  # messages per drain fetch


def partition_of(key: Any, partitions: int) -> int:
    return zlib.crc32(str(key).encode()) % partitions


class QueueClient:
    def __init__(self, engines: Sequence[RaftClient]) -> None:
        self.engines = list(engines)
        self.parts = len(engines)
        self.me = engines[0].client_id  # producer id and group member id
        self.seqs = [0] * self.parts
        self.gen: int | None = None
        self.group = ""
        self.mine: list[int] = []
        self.pos: dict[int, int] = {}
        self.budget_s = engines[0].timeout_s  # one op's deadline (engines share it)

    def _share(self, deadline: float, calls_left: int) -> float:
        """An equal share of what is left of an op's deadline for each remaining request."""
        return max(0.0, deadline - self.engines[0].now()) / max(1, calls_left)

    async def invoke(self, f: str, value: Any) -> tuple[str, Any, Any]:
        v: dict[str, Any] = dict(value) if isinstance(value, dict) else {}
        if f == "send":
            return await self._send(value)
        if f == "join":
            return await self._join(str(v.get("group")))
        if f == "poll":
            if v.get("drain"):
                return await self._drain()
            return await self._poll(int(v.get("max", 100)))
        if f == "commit":
            return await self._commit()
        return "fail", value, f"unknown-f:{f}"

    async def _send(self, value: Any) -> tuple[str, Any, Any]:
        if not isinstance(value, list) or len(value) != 2:
            return "fail", None, "bad-value"
        key, val = value
        p = partition_of(key, self.parts)
        self.seqs[p] += 1
        msg = {"op": "send", "partition": p, "pid": self.me, "seq": self.seqs[p], "key": key,
               "value": val}
        reply, maybe, error = await self.engines[p].request(msg, True)
        if reply is not None and reply.get("ok"):
            return "ok", [p, reply["offset"]], None
        return ("info" if maybe else "fail"), None, error

    async def _group_call(self, msg: dict[str, Any], write: bool, timeout_s: float | None = None
                          ) -> tuple[dict[str, Any] | None, bool, str]:
        c = coordinator(self.group, self.parts)
        return await self.engines[c].request({**msg, "partition": c, "group": self.group,
                                              "member": self.me}, write, timeout_s)

    async def _join(self, group: str) -> tuple[str, Any, Any]:
        self.group, self.gen = group, None
        reply, maybe, error = await self._group_call({"op": "join"}, True)
        if reply is None or not reply.get("ok"):
            return ("info" if maybe else "fail"), None, error
        self.gen, self.mine = int(reply["generation"]), [int(p) for p in reply["mine"]]
        offsets = reply.get("offsets", {})
        self.pos = {p: int(offsets.get(str(p), 0)) for p in self.mine}
        return "ok", self.mine, None

    async def _poll(self, max_n: int) -> tuple[str, Any, Any]:
        if self.gen is None:
            return "fail", None, "not-joined"
        deadline = self.engines[0].now() + self.budget_s
        hb, _, error = await self._group_call({"op": "heartbeat"}, False,
                                              self._share(deadline, 1 + len(self.mine)))
        if hb is None or not hb.get("ok"):
            if hb is not None and hb.get("error") == "unknown-member":
                self.gen = None
                return "fail", None, "rebalance"
            return "fail", None, error
        if int(hb["generation"]) != self.gen:
            self.gen = None
            return "fail", None, "rebalance"
        out: dict[str, list[list[Any]]] = {}
        for i, p in enumerate(self.mine):
            r, _, error = await self.engines[p].request(
                {"op": "fetch", "partition": p, "offset": self.pos[p], "max": max_n}, False,
                self._share(deadline, len(self.mine) - i))
            if r is None or not r.get("ok"):
                continue
            out[str(p)] = [[o, val] for o, _, val in r["messages"]]
            if out[str(p)]:
                self.pos[p] = out[str(p)][-1][0] + 1
        if self.mine and not out:
            return "fail", None, error
        return "ok", out, None

    async def _commit(self) -> tuple[str, Any, Any]:
        if self.gen is None:
            return "fail", None, "not-joined"
        offsets = {str(p): o for p, o in self.pos.items()}
        reply, maybe, error = await self._group_call(
            {"op": "commit", "generation": self.gen, "offsets": offsets}, True)
        if reply is not None and reply.get("ok"):
            return "ok", {"group": self.group, "offsets": offsets}, None
        if reply is not None and reply.get("error") == "rebalance":
            self.gen = None
            return "fail", None, "rebalance"
        return ("info" if maybe else "fail"), None, error

    async def _drain(self) -> tuple[str, Any, Any]:
        out: dict[str, list[list[Any]]] = {}
        deadline = self.engines[0].now() + self.budget_s
        for p in range(self.parts):
            got: list[list[Any]] = []
            share = self._share(deadline, self.parts - p)
            end = self.engines[0].now() + share
            while True:
                r, _, error = await self.engines[p].request(
                    {"op": "fetch", "partition": p, "offset": len(got), "max": PAGE}, False,
                    max(0.0, end - self.engines[0].now()))
                if r is None or not r.get("ok"):
                    return "fail", None, error
                got += [[o, val] for o, _, val in r["messages"]]
                if len(r["messages"]) < PAGE:
                    break
            out[str(p)] = got
        return "ok", out, None

    async def close(self) -> None:
        for e in self.engines:
            await e.close()


def make_queue_client(cluster: Cluster, node: str, timeout_s: float,
                      partitions: int = DEFAULT_PARTITIONS) -> SystemClient:
    return QueueClient([RaftClient(cluster, node, timeout_s) for _ in range(partitions)])
