"""One 2PC node: a participant (its shard) and a coordinator (txns submitted to it), pure.

The shell (server or simulation) calls ``submit`` / ``step`` / ``tick`` and
honours each returned :class:`Out` in order: persist (fsync), then messages
and replies. ``recover(records)`` rebuilds a node from its log (both cores
read the same record stream; each ignores the other's kinds).

Every outgoing message carries the node's Lamport clock ``clk``; every
incoming one advances it. The coordinator stamps a txn's age with it, which
orders txns for wait-die across the whole cluster.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .coordinator import Coordinator
from .participant import Participant
from .proto import BUGS, DEFAULT_TIMING, Out, Timing

__all__ = ["TwoPCNode", "PARTICIPANT_KINDS", "COORDINATOR_KINDS"]

PARTICIPANT_KINDS = frozenset({"exec", "prepare", "commit", "abort", "outcome"})
COORDINATOR_KINDS = frozenset({"exec-ok", "exec-no", "vote", "ack", "query"})


class TwoPCNode:
    def __init__(
        self,
        name: str,
        nodes: Sequence[str],
        boot: str,
        bugs: Iterable[str] = (),
        timing: Timing = DEFAULT_TIMING,
        records: Iterable[dict[str, Any]] = (),
    ) -> None:
        self.bugs = frozenset(bugs)
        unknown = self.bugs - set(BUGS)
        if unknown:
            raise ValueError(f"unknown bug switch(es): {', '.join(sorted(unknown))}")
        assert name in nodes, f"{name} is not one of {list(nodes)}"
        self.name = name
        self.nodes = sorted(nodes)
        self.now = 0
        self.clock = 0
        self.part = Participant(name, timing, self.bugs)
        self.coord = Coordinator(name, self.nodes, boot, timing, self.bugs)
        self.records = 0  # records in the log since it was last rewritten
        for rec in records:
            self.part.replay(rec)
            self.coord.replay(rec)
            self.records += 1

    def submit(self, token: Any, req: dict[str, Any]) -> Out:
        self.clock += 1
        return self._stamp(self.coord.submit(token, req, self.clock, self.now))

    def step(self, m: dict[str, Any]) -> Out:
        self.clock = max(self.clock, int(m.get("clk", 0))) + 1
        kind = m.get("t")
        if kind in PARTICIPANT_KINDS:
            return self._stamp(self.part.step(m, self.now))
        if kind in COORDINATOR_KINDS:
            return self._stamp(self.coord.step(m, self.now))
        return Out()

    def tick(self) -> Out:
        self.now += 1
        out = self.part.tick(self.now)
        out.extend(self.coord.tick(self.now))
        return self._stamp(out)

    def snapshot(self) -> list[dict[str, Any]]:
        """Records equivalent to the whole log (the shell rewrites the log with them)."""
        return self.part.snapshot() + self.coord.snapshot()

    def status(self) -> dict[str, Any]:
        return {"node": self.name, **self.part.counts(), **self.coord.counts(),
                "awaiting_ack": self.coord.awaiting(),
                "awaiting_write_ack": self.coord.awaiting(writes_only=True),
                "bugs": sorted(self.bugs)}

    def _stamp(self, out: Out) -> Out:
        for m in out.messages:
            m["clk"] = self.clock
        self.records += len(out.persist) + len(out.buffered)
        return out
