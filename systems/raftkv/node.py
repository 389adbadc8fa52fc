"""One raftkv node without I/O: the library's Raft node with the KV state machine plugged in.

The server shell and the deterministic simulation both drive this class:
``tick()``, ``step(msg)``, ``write(token, cmd)``, ``read(token, key)``, then
``process()`` (the library's Ready cycle). Every write carries a client
session ``(c, s)``; all copies of one session command answer all its waiters.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any, ClassVar

from systems.raft.node import RAFT_BUGS, NodeConfig, Output, Storage
from systems.raft.node import RaftNode as _LibNode
from systems.raft.types import Entry, Rng

from .kv import KVStore

__all__ = ["Storage", "NodeConfig", "Output", "RaftNode", "KVMachine", "BUGS"]

BUGS: dict[str, str] = {
    **RAFT_BUGS,
    "no-dedup": "Client sessions are ignored, so a write retried with the same (client, seq) "
    "is applied once per copy that reaches the log.",
}


class KVMachine:
    """The library's StateMachine over a ``KVStore``; reads are keys."""

    def __init__(self, kv: KVStore) -> None:
        self.kv = kv

    def apply(self, entry: Entry) -> dict[str, Any] | None:
        return self.kv.apply(entry.data)

    def query(self, query: Any) -> dict[str, Any]:
        return {"ok": True, "value": self.kv.get(str(query))}

    def snapshot(self) -> Any:
        return self.kv.snapshot()

    def restore(self, data: Any) -> None:
        self.kv.restore(data)


class RaftNode(_LibNode):
    BUGS: ClassVar[dict[str, str]] = BUGS

    def __init__(
        self,
        node_id: str,
        peers: Iterable[str],
        storage: Storage,
        rng: Rng,
        bugs: Iterable[str] = (),
        config: NodeConfig | None = None,
        ctx_prefix: str = "",
    ) -> None:
        bugs = frozenset(bugs)
        self.kv = KVStore(dedup="no-dedup" not in bugs)
        super().__init__(node_id, peers, storage, rng, KVMachine(self.kv), bugs, config, ctx_prefix)

    def waiter_key(self, data: Any, index: int, term: int) -> Hashable:
        if isinstance(data, dict):
            return (str(data.get("c")), int(data.get("s", -1)))
        return (index, term)

    def write(self, token: Any, cmd: dict[str, Any]) -> None:
        """Propose a session command; the answer comes once it is applied."""
        if "c" not in cmd or "s" not in cmd:
            return self._reply(token, {"ok": False, "error": "bad-request"})
        self.propose(token, cmd)
