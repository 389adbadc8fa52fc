"""A deterministic in-memory cluster of Raft nodes: network, disks and clock in one seed.

Used by the tests (unit, golden scenarios, hypothesis state machine); pure
Python with no I/O. The network holds in-flight messages in order; tests
``deliver``, ``drop``, ``cut``/``isolate``/``heal`` links, ``tick`` nodes,
``crash``/``restart`` them (a crash loses what the node's disk had not synced)
and ``stabilize`` (deliver until quiet). After every step the safety
properties of Raft are checked across the cluster (``check=True``):
election safety, log matching, leader completeness, state machine safety.

A system on the library subclasses :class:`SimCluster` and overrides
:meth:`SimCluster.make_node` to build its own node (raftkv, lock).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import Any, Generic, TypeVar

from .core import Config
from .node import NodeConfig, RaftNode
from .types import LEADER, Entry, HardState, Message, Rng, Snapshot

__all__ = ["SimStorage", "SimCluster", "InvariantViolation", "describe"]

N = TypeVar("N", bound=RaftNode)


class InvariantViolation(AssertionError):
    """A cluster-wide Raft safety property failed in the simulation."""


class SimStorage:
    """A disk whose unsynced writes vanish on crash (the storage's own crash simulation)."""

    def __init__(self) -> None:
        self.hard_state = HardState()
        self.snapshot: Snapshot | None = None
        self.entries: list[Entry] = []
        self.unsynced: list[tuple[HardState | None, tuple[Entry, ...], Snapshot | None]] = []

    def load(self) -> tuple[HardState, Snapshot | None, list[Entry]]:
        return self.hard_state, self.snapshot, list(self.entries)

    def save(
        self,
        hard_state: HardState | None,
        entries: Sequence[Entry],
        snapshot: Snapshot | None,
        sync: bool,
    ) -> None:
        self.unsynced.append((hard_state, tuple(entries), snapshot))
        if sync:
            self.flush()

    def compact(self, snapshot: Snapshot) -> None:
        self.flush()
        self.snapshot = snapshot
        self.entries = [e for e in self.entries if e.index > snapshot.index]

    def flush(self) -> None:
        for hs, entries, snap in self.unsynced:
            if snap is not None:
                self.snapshot = snap
                self.entries = []
            if entries:
                first = entries[0].index
                self.entries = [e for e in self.entries if e.index < first] + list(entries)
            if hs is not None:
                self.hard_state = hs
        self.unsynced = []

    def pending(self) -> int:
        """How many writes are not yet synced (what a crash may lose)."""
        return len(self.unsynced)

    def crash(self, keep: int = 0) -> None:
        """Lose the unsynced writes except the first ``keep`` (a torn tail reached the disk)."""
        kept, self.unsynced = self.unsynced[:keep], []
        if kept:
            self.unsynced = kept
            self.flush()


def describe(m: Message) -> str:
    """One line per message for traces and golden files."""
    parts = [f"{m.src}->{m.dst} {m.type} term={m.term}"]
    if m.type in ("app", "prevote", "vote"):
        parts.append(f"index={m.index} log_term={m.log_term}")
    if m.entries:
        parts.append("entries=[" + " ".join(f"{e.index}/{e.term}" for e in m.entries) + "]")
    if m.type in ("app", "heartbeat") and m.commit:
        parts.append(f"commit={m.commit}")
    if m.type in ("app_resp", "read_index_resp"):
        parts.append(f"index={m.index}")
    if m.reject:
        parts.append(f"REJECT hint={m.hint_index}/{m.hint_term}")
    if m.snapshot is not None:
        parts.append(f"snapshot={m.snapshot.index}/{m.snapshot.term}")
    if m.context is not None:
        parts.append(f"ctx={m.context}")
    return " ".join(parts)


class SimCluster(Generic[N]):
    def __init__(
        self,
        size: int = 3,
        seed: int = 0,
        bugs: Iterable[str] = (),
        config: NodeConfig | None = None,
        check: bool = True,
        trace: bool = False,
    ) -> None:
        self.names = [f"n{i}" for i in range(1, size + 1)]
        self.seed = seed
        self.bugs = tuple(bugs)
        self.config = config or NodeConfig(raft=Config())
        self.check = check
        self.trace: list[str] | None = [] if trace else None
        self.storages = {n: SimStorage() for n in self.names}
        self.nodes: dict[str, N] = {}
        self.boots = dict.fromkeys(self.names, 0)
        self.inflight: list[Message] = []
        self.cuts: set[tuple[str, str]] = set()
        self.replies: dict[int, dict[str, Any]] = {}
        self._next_token = 0
        # safety bookkeeping
        self.leaders: dict[int, str] = {}
        self.applied: dict[int, Entry] = {}
        self.commit_term: dict[int, int] = {}
        self._seen_commit = dict.fromkeys(self.names, 0)
        self._seen_role: dict[str, tuple[str, int]] = {}
        for n in self.names:
            self._boot(n)

    # -- lifecycle -------------------------------------------------------------
    def make_node(self, name: str, storage: SimStorage, rng: Rng, ctx_prefix: str) -> N:
        """Build one node of this cluster (a system overrides this with its own node)."""
        raise NotImplementedError("a SimCluster subclass builds its system's nodes")

    def _boot(self, n: str) -> None:
        self.boots[n] += 1
        rng = random.Random(f"{self.seed}:{n}:{self.boots[n]}")
        self.nodes[n] = self.make_node(n, self.storages[n], rng, f"{n}.{self.boots[n]}:")
        core = self.nodes[n].core
        self._seen_commit[n] = core.log.committed
        self._seen_role[n] = (core.role, core.term)
        self._note(f"{n} boots term={core.term} last={core.log.last_index()}")
        self.process(n)

    def crash(self, n: str) -> None:
        """Kill ``n``: in-memory state and unsynced writes are gone, its in-flight input too."""
        if n not in self.nodes:
            return
        del self.nodes[n]
        self.storages[n].crash()
        self.inflight = [m for m in self.inflight if m.dst != n]
        self._note(f"{n} crashes")

    def restart(self, n: str) -> None:
        if n not in self.nodes:
            self._boot(n)

    def up(self) -> list[str]:
        return [n for n in self.names if n in self.nodes]

    # -- network ---------------------------------------------------------------
    def cut(self, a: str, b: str) -> None:
        self.cuts |= {(a, b), (b, a)}

    def isolate(self, n: str) -> None:
        for o in self.names:
            if o != n:
                self.cut(n, o)
        self._note(f"{n} isolated")

    def heal(self) -> None:
        self.cuts = set()
        self._note("healed")

    def deliver(self, k: int = 0) -> Message | None:
        """Deliver the k-th in-flight message (dropped if its link is cut or dst is down)."""
        if not self.inflight:
            return None
        m = self.inflight.pop(k % len(self.inflight))
        if (m.src, m.dst) in self.cuts or m.dst not in self.nodes:
            self._note(f"drop {describe(m)}")
            return m
        self._note(describe(m))
        self.nodes[m.dst].step(m)
        self.process(m.dst)
        return m

    def drop(self, k: int = 0) -> None:
        if self.inflight:
            m = self.inflight.pop(k % len(self.inflight))
            self._note(f"drop {describe(m)}")

    def stabilize(self, max_steps: int = 100_000) -> None:
        steps = 0
        while self.inflight:
            self.deliver(0)
            steps += 1
            assert steps < max_steps, "network did not quiesce"

    # -- time ------------------------------------------------------------------
    def tick(self, n: str | None = None, times: int = 1) -> None:
        for _ in range(times):
            for name in [n] if n is not None else self.up():
                if name in self.nodes:
                    self.nodes[name].tick()
                    self.process(name)

    def run(self, ticks: int) -> None:
        """Tick every live node and let the network settle, ``ticks`` times."""
        for _ in range(ticks):
            self.tick()
            self.stabilize()

    def campaign(self, n: str) -> None:
        self.nodes[n].core.campaign()
        self.process(n)

    def elect(self, n: str) -> None:
        """Make ``n`` leader now (it campaigns; the network settles)."""
        self.campaign(n)
        self.stabilize()
        assert self.nodes[n].core.role == LEADER, f"{n} did not win: {self.nodes[n].status()}"

    def leader(self) -> str | None:
        best: tuple[int, str] | None = None
        for n, node in self.nodes.items():
            if node.core.role == LEADER and (best is None or node.core.term > best[0]):
                best = (node.core.term, n)
        return best[1] if best else None

    # -- clients ---------------------------------------------------------------
    def _token(self) -> int:
        self._next_token += 1
        return self._next_token

    def write(self, n: str, cmd: Any) -> int:
        """Propose ``cmd`` at ``n``; the answer lands in ``replies`` under the returned token."""
        t = self._token()
        self.nodes[n].propose(t, cmd)
        self.process(n)
        return t

    def read(self, n: str, query: Any) -> int:
        t = self._token()
        self.nodes[n].read(t, query)
        self.process(n)
        return t

    # -- the shell's part of the Ready contract -------------------------------
    def process(self, n: str) -> None:
        node = self.nodes[n]
        out = node.process()
        for m in out.messages:
            self.inflight.append(m)
        for token, reply in out.replies:
            self.replies[int(token)] = reply
        role = (node.core.role, node.core.term)
        if role != self._seen_role.get(n):
            self._seen_role[n] = role
            self._note(f"{n} is {role[0]} term={role[1]}")
        for e in out.applied:
            self._note(f"{n} applies {e.index}/{e.term} {e.data}")
        if self.check:
            self._record(n, out.applied)
            self.check_invariants()

    def _note(self, line: str) -> None:
        if self.trace is not None:
            self.trace.append(line)

    # -- safety properties -----------------------------------------------------
    def _fail(self, what: str) -> None:
        raise InvariantViolation(what)

    def _record(self, n: str, applied: tuple[Entry, ...]) -> None:
        core = self.nodes[n].core
        if core.role == LEADER:
            prev = self.leaders.setdefault(core.term, n)
            if prev != n:
                self._fail(f"election safety: {prev} and {n} both lead term {core.term}")
            for idx in range(self._seen_commit.get(n, 0) + 1, core.log.committed + 1):
                self.commit_term.setdefault(idx, core.term)
        self._seen_commit[n] = core.log.committed
        for e in applied:
            first = self.applied.setdefault(e.index, e)
            if first != e:
                self._fail(f"state machine safety: {n} applied {e} where {first} was applied")

    def check_invariants(self) -> None:
        live = [self.nodes[n] for n in self.up()]
        for i, a in enumerate(live):
            for b in live[i + 1 :]:
                self._check_log_matching(a, b)
        for node in live:
            core = node.core
            if core.role != LEADER:
                continue
            for idx, term in self.commit_term.items():
                if term >= core.term or idx <= core.log.snapshot.index:
                    continue
                mine = core.log.entry(idx)
                want = self.applied.get(idx)
                if mine is None or (want is not None and mine != want):
                    self._fail(
                        f"leader completeness: leader {node.id} of term {core.term} lacks "
                        f"entry {idx} committed in term {term}"
                    )

    def _check_log_matching(self, a: RaftNode, b: RaftNode) -> None:
        la, lb = a.core.log, b.core.log
        lo = max(la.snapshot.index, lb.snapshot.index) + 1
        hi = min(la.last_index(), lb.last_index())
        match = 0
        for idx in range(hi, lo - 1, -1):
            if la.term(idx) == lb.term(idx):
                match = idx
                break
        for idx in range(lo, match + 1):
            if la.entry(idx) != lb.entry(idx):
                self._fail(
                    f"log matching: {a.id} and {b.id} agree on {match}/{la.term(match)} "
                    f"but differ at {idx}: {la.entry(idx)} vs {lb.entry(idx)}"
                )
