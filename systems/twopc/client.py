"""twopc clients for the harness workloads ``append`` (Elle list-append) and ``bank``.

A client sends each txn to its home node (the txn's coordinator). Error table:

| outcome                                                  | recorded |
|----------------------------------------------------------|----------|
| ``ok`` reply (the decision to commit is durable)         | ok       |
| a refusal (``conflict``, ``lock-timeout``, ``vote-no``,  | fail     |
| ``timeout``, ``insufficient``, ``bad-request``): the     |          |
| coordinator aborted it and will never commit it          |          |
| cannot connect (nothing was sent)                        | fail     |
| timeout or lost connection after sending                 | info     |

There is no retry of a sent txn: it is not idempotent and the coordinator
keeps no session table, so an ambiguous attempt stays ``info``. A connect
failure moves the client's home to the next node, then the op fails (the
harness's next op goes there).

Bank convention: an account never written holds ``initial`` (carried in each
op's value, so the system needs no setup step).
"""

from __future__ import annotations

import asyncio
from typing import Any

from systems.common.spec import Cluster, SystemClient
from systems.common.wire import encode, read_frame

__all__ = ["TxnClient", "AppendClient", "BankClient", "make_append_client", "make_bank_client"]

DEADLINE_SHARE = 0.9


class TxnClient:
    def __init__(self, cluster: Cluster, node: str, timeout_s: float) -> None:
        self.cluster = dict(cluster)
        self.names = list(self.cluster)
        self.home = node if node in self.cluster else self.names[0]
        self.timeout_s = timeout_s * DEADLINE_SHARE
        self._req = 0
        self._conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def close(self) -> None:
        self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn[1].close()
            self._conn = None

    async def txn(self, body: dict[str, Any]) -> tuple[str, dict[str, Any] | None, str | None]:
        """(type, reply, error) for one request to the home node."""
        if self._conn is not None and (self._conn[0].at_eof() or self._conn[1].is_closing()):
            self._drop()
        if self._conn is None:
            try:
                self._conn = await asyncio.wait_for(
                    asyncio.open_connection(*self.cluster[self.home]), self.timeout_s
                )
            except (TimeoutError, OSError):
                i = self.names.index(self.home)
                self.home = self.names[(i + 1) % len(self.names)]
                return "fail", None, "unreachable"
        reader, writer = self._conn
        self._req += 1
        req_id = self._req
        try:
            writer.write(encode({**body, "op": "txn", "id": req_id}))
            async with asyncio.timeout(self.timeout_s):
                await writer.drain()
                while True:
                    reply = await read_frame(reader)
                    if isinstance(reply, dict) and reply.get("id") == req_id:
                        break
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ConnectionError) as e:
            self._drop()
            return "info", None, "timeout" if isinstance(e, TimeoutError) else "connection-lost"
        if reply.get("ok"):
            return "ok", reply, None
        return "fail", reply, str(reply.get("error"))


class AppendClient:
    """``txn`` ops of ``["r", k, None]`` / ``["append", k, v]``; reads come back as lists."""

    def __init__(self, cluster: Cluster, node: str, timeout_s: float) -> None:
        self.raw = TxnClient(cluster, node, timeout_s)

    async def invoke(self, f: str, value: Any) -> tuple[str, Any, Any]:
        if f != "txn":
            return "fail", value, f"unknown-f:{f}"
        typ, reply, error = await self.raw.txn({"mops": value})
        if typ != "ok" or reply is None:
            return typ, value, error
        done = [[mf, k, (v if v is not None else []) if mf == "r" else v]
                for mf, k, v in reply["txn"]]
        return "ok", done, None

    async def close(self) -> None:
        await self.raw.close()


class BankClient:
    """``transfer {"from", "to", "amount", "initial"}`` and ``read {"accounts", "initial"}``.

    A read completes with ``{account: balance}``.
    """

    def __init__(self, cluster: Cluster, node: str, timeout_s: float) -> None:
        self.raw = TxnClient(cluster, node, timeout_s)

    async def invoke(self, f: str, value: Any) -> tuple[str, Any, Any]:
        if f == "transfer":
            body = {"transfer": [value["from"], value["to"], value["amount"]],
                    "initial": value["initial"]}
            typ, _, error = await self.raw.txn(body)
            return typ, value, error
        if f == "read":
            accounts, initial = value["accounts"], value["initial"]
            typ, reply, error = await self.raw.txn({"mops": [["r", a, None] for a in accounts]})
            if typ != "ok" or reply is None:
                return typ, value, error
            return "ok", {k: (initial if v is None else v) for _, k, v in reply["txn"]}, None
        return "fail", value, f"unknown-f:{f}"

    async def close(self) -> None:
        await self.raw.close()


def make_append_client(cluster: Cluster, node: str, timeout_s: float) -> SystemClient:
    return AppendClient(cluster, node, timeout_s)


def make_bank_client(cluster: Cluster, node: str, timeout_s: float) -> SystemClient:
    return BankClient(cluster, node, timeout_s)
