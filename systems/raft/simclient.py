"""The library's client engine over the deterministic simulation's network.

``SimRaftClient`` is :class:`systems.raft.client.RaftClient` — the same
routing, redirects, session retries and deadlines, rule for rule — with the
transport swapped: ``io.call`` instead of a TCP stream, ``io.now`` and
``io.sleep`` instead of the event loop's clock (the ``io`` object of
``harness/sim/adapter.py``'s ``SimIO``, duck-typed: systems never import the
harness). So a simulated run is never kinder than a real one.
"""

from __future__ import annotations

from typing import Any

from .client import Lost, NotSent, RaftClient

__all__ = ["SimRaftClient"]


class SimRaftClient(RaftClient):
    def __init__(self, io: Any, nodes: list[str], home: str, timeout_s: float,
                 client_id: str) -> None:
        super().__init__({n: ("sim", 0) for n in nodes}, home, timeout_s)
        self.io = io
        self.client_id = client_id  # deterministic (a counter), not os.urandom

    async def _call(self, node: str, msg: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        kind, what = await self.io.call(node, msg, timeout_s)
        if kind == "ok":
            return dict(what) if isinstance(what, dict) else {"ok": False, "error": "bad-reply"}
        if kind == "unsent":
            raise NotSent(str(what))
        raise Lost("timeout" if what == "timeout" else "connection-lost")

    def now(self) -> float:
        return float(self.io.now())

    async def sleep(self, seconds: float) -> None:
        await self.io.sleep(seconds)

    async def close(self) -> None:
        return None
