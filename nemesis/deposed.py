"""deposed-leader: the leader cut off from its peers while its clock runs slow.

A Raft leader that loses its peers keeps believing it leads until CheckQuorum
notices — one to two election timeouts *of its own clock*. Meanwhile the
majority elects a new leader and commits writes, and the harness's clients can
still reach the old one (a partition cuts peers, not clients, as in Docker).
Anything the old leader answers on its own authority in that window (a read
served without confirming leadership with a quorum, a lease it trusts too long)
is stale. Random faults open that window only briefly (a few hundred ms, and
only when a partition happens to isolate the leader); this fault holds it open:
it isolates the leader *and* slows its clock (rate ``deposed_rate``, so its
timers — election timeout, CheckQuorum, read timeouts — run that many times
slower), the way a CPU-starved or GC-stalled process that lost its network
behaves.

``start-deposed-leader`` → ``{"leader", "rate", "grudge"}`` (a random node when
no leader is known); ``stop-deposed-leader`` heals the partition and sets the
clock back to real time. Needs the ``partition`` and ``clock`` capabilities. In
the simulation a node's timer follows its clock's rate; in Docker libfaketime slows
the wall clock and the Raft shells' timers follow its rate
(:mod:`systems.common.tickclock`), so there too CheckQuorum runs slow.
"""

from __future__ import annotations

import contextlib
from typing import Any

from nemesis import grudge as gr
from nemesis.core import NemesisBase, NemesisError
from nemesis.faults import undo_all, undo_quietly

__all__ = ["DeposedLeaderNemesis"]


class DeposedLeaderNemesis(NemesisBase):
    faults = frozenset({"deposed-leader"})

    def __init__(self, opts: Any) -> None:
        super().__init__(opts)
        self.slowed: set[str] = set()

    def invoke(self, f: str, value: Any) -> Any:
        backend = self._need_backend()
        if f == "start-deposed-leader":
            nodes = sorted(self.nodes)
            leader = self.leader()
            if leader not in nodes:
                leader = self.rng.choice(nodes)
            grudge = gr.isolate(nodes, leader)
            backend.partition(grudge)
            rate = float(self.opts.deposed_rate)
            self.slowed.add(leader)  # first: a half-applied fault is still undone
            backend.clock(leader, 0.0, rate)
            return {"leader": leader, "rate": rate, "grudge": gr.grudge_to_json(grudge)}
        if f == "stop-deposed-leader":
            nodes = sorted(self.slowed)
            try:  # clocks go back to rate 1 on every node even if the heal fails
                backend.heal()
            finally:
                undo_all(self.slowed, lambda n: backend.clock(n, 0.0, 1.0))
            return nodes
        raise NemesisError(f"deposed-leader nemesis cannot do {f!r}")

    def teardown(self) -> None:
        if self.backend is None:
            return
        with contextlib.suppress(Exception):
            self.backend.heal()
        backend = self.backend
        undo_quietly(self.slowed, lambda n: backend.clock(n, 0.0, 1.0))
