"""The client engine for systems on the Raft library: routing, redirects, sessions, retries.

Routing: writes start at the client's preferred node and follow ``not-leader``
redirects to the leader (bounded by the op's timeout). Reads are spread
round-robin over all nodes, starting at the preferred one, and move on when a
node fails; followers serve them linearizably through a ReadIndex round with
the leader. Every op finishes within ``DEADLINE_SHARE`` of the per-op timeout
so that the client's own verdict, not the harness's timeout, decides the
op's type.

Retries: every write carries a session ``(client id, seq)``; a state machine
on the library applies a given seq at most once and remembers its answer. So
after an ambiguous attempt (timeout, lost connection, a reply marked
``ambiguous``) the engine retries *the same seq* until the op's timeout — a
retry can only return the first application's answer, never apply twice.
Attempts that were definitely refused (nothing proposed: ``not-leader``,
``no-leader``, connect refused) are retried freely. ``request`` returns the
final reply and whether a write *may* have been applied; each system's
client maps that to ok / fail / info with its own error table.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from systems.common.spec import Cluster
from systems.common.wire import encode, read_frame

__all__ = ["RaftClient", "NotSent", "Lost", "ATTEMPT_TIMEOUT_S", "DEADLINE_SHARE", "RETRY_PAUSE_S"]

ATTEMPT_TIMEOUT_S = 1.0
DEADLINE_SHARE = 0.85
RETRY_PAUSE_S = 0.05


class NotSent(Exception):
    """The request never left this process (connect failed)."""


class Lost(Exception):
    """The request was sent; no answer came (``timeout`` or ``connection-lost``)."""


class RaftClient:
    """Request/redirect/retry engine for clients of any system on the library.

    The transport is three methods — ``_call`` (one request to one node),
    ``now`` and ``sleep`` — so the deterministic simulation runs this very
    engine over its simulated network (``systems.raft.simclient``).
    """

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
                raise NotSent(f"cannot connect to {node}: {e!r}") from None
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
        except TimeoutError:
            self._drop(node)
            raise Lost("timeout") from None
        except (OSError, asyncio.IncompleteReadError, ConnectionError):
            self._drop(node)
            raise Lost("connection-lost") from None

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def request(
        self, msg: dict[str, Any], write: bool, timeout_s: float | None = None
    ) -> tuple[dict[str, Any] | None, bool, str]:
        """(final reply or None, whether a write may have been applied, last error).

        ``timeout_s``: this request's share of a client op that makes several requests
        (default: the engine's whole deadline).
        """
        deadline = self.now() + (self.timeout_s if timeout_s is None else timeout_s)
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
        maybe_applied = False
        last_error = "timeout"
        hops = 0
        while (remaining := deadline - self.now()) > 0:
            node = self.target
            try:
                reply = await self._call(node, msg, min(remaining, ATTEMPT_TIMEOUT_S))
            except NotSent:
                last_error = "unreachable"
                self._next_target()
                await self.sleep(min(RETRY_PAUSE_S, max(0.0, deadline - self.now())))
                continue
            except Lost as e:
                last_error = str(e)
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
                    await self.sleep(0.01)
            else:
                if error in ("not-leader", "no-leader"):
                    self._next_target()
                await self.sleep(min(RETRY_PAUSE_S, max(0.0, deadline - self.now())))
        return None, maybe_applied, last_error

    # -- operations ----------------------------------------------------------------
    async def session(self, cmd: dict[str, Any]) -> tuple[dict[str, Any] | None, bool, str]:
        """A session write: the next seq, retried with that seq until the op's deadline.

        (final reply or None, whether it may have been applied, last error).
        """
        self.seq += 1
        return await self.request({**cmd, "c": self.client_id, "s": self.seq}, True)
