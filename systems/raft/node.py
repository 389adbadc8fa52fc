"""One Raft node without I/O: core + a pluggable state machine + pending client requests.

The server shell and the deterministic simulation both drive this class:
``tick()``, ``step(msg)``, ``propose(token, data)``, ``read(token, query)``,
then ``process()``, which runs one Ready cycle in contract order — persist
(and sync) through the injected ``Storage``, then hand out messages, then
apply committed entries to the state machine and answer clients — and
returns what the shell must send. Tokens are opaque to this class; replies
are ``(token, reply dict)``.

A system plugs in a :class:`StateMachine` and, where its commands carry a
client session, overrides :meth:`RaftNode.waiter_key` so that every copy of a
retried command answers every waiter of that command (see raftkv).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Protocol

from .core import Config, RaftCore
from .digest import STATE_EVERY, Digests
from .types import LEADER, Entry, HardState, Message, Rng, Snapshot

__all__ = ["Storage", "StateMachine", "NodeConfig", "Output", "RaftNode", "RAFT_BUGS"]

Reply = dict[str, Any]

# Bug switches that belong to Raft itself (any state machine on the library has them).
RAFT_BUGS: Mapping[str, str] = {
    "stale-read": "Every node answers reads at once from its local state machine, "
    "skipping ReadIndex, so a follower, a partitioned or a paused old leader serves stale values.",
    "no-fsync": "Log records are acknowledged while still in a process buffer that is "
    "written out lazily and never fsynced, so a crash loses acknowledged entries and votes.",
    "commit-old-term": "A new leader appends no no-op and commits an entry from an earlier "
    "term as soon as a majority holds it (ignoring §5.4.2), so the Figure-8 scenario "
    "overwrites a committed entry.",
}


class Storage(Protocol):
    def load(self) -> tuple[HardState, Snapshot | None, list[Entry]]:
        """Everything durable, for recovery."""

    def save(
        self,
        hard_state: HardState | None,
        entries: Sequence[Entry],
        snapshot: Snapshot | None,
        sync: bool,
    ) -> None:
        """Persist a received snapshot (replacing the log), then entries (the first
        one's index truncates the log), then the hard state; durable on return iff sync."""

    def compact(self, snapshot: Snapshot) -> None:
        """Persist a local snapshot and drop the entries it covers."""


class StateMachine(Protocol):
    """The replicated state: deterministic, pure, JSON-able images."""

    def apply(self, entry: Entry) -> Reply | None:
        """Apply a committed entry; the answer for its waiters (None: nobody waits)."""

    def query(self, query: Any) -> Reply:
        """Answer a read from the applied state (no side effects)."""

    def snapshot(self) -> Any:
        """A JSON-able image of the whole state."""

    def restore(self, data: Any) -> None:
        """Replace the state with a snapshot image."""


@dataclass(frozen=True, slots=True)
class NodeConfig:
    raft: Config = field(default_factory=Config)
    snapshot_every: int = 1000  # compact once this many applied entries are past the snapshot
    read_timeout_ticks: int = 40
    write_timeout_ticks: int = 100


@dataclass(frozen=True, slots=True)
class Output:
    messages: tuple[Message, ...]
    replies: tuple[tuple[Any, Reply], ...]
    applied: tuple[Entry, ...]


class RaftNode:
    BUGS: ClassVar[Mapping[str, str]] = RAFT_BUGS  # subclasses add their state machine's

    def __init__(
        self,
        node_id: str,
        peers: Iterable[str],
        storage: Storage,
        rng: Rng,
        machine: StateMachine,
        bugs: Iterable[str] = (),
        config: NodeConfig | None = None,
        ctx_prefix: str = "",
    ) -> None:
        self.id = node_id
        self.bugs = frozenset(bugs)
        unknown = self.bugs - set(self.BUGS)
        assert not unknown, f"unknown bug switches {sorted(unknown)}"
        self.cfg = config or NodeConfig()
        raft_cfg = replace(self.cfg.raft, commit_old_term="commit-old-term" in self.bugs)
        self.storage = storage
        hs, snap, entries = storage.load()
        self.core = RaftCore(node_id, list(peers), rng, raft_cfg, hs, snap, entries)
        self.machine = machine
        # What this node applied, as a digest chain others can compare (digest.py).
        self.digests = Digests()
        if snap is not None:
            self.machine.restore(snap.data)
            self.digests.restore(snap.index, snap.term, snap.digest)
            self.digests.state(snap.index, self.machine.snapshot())
        self.now_ticks = 0
        self.ctx_prefix = ctx_prefix or f"{node_id}:"
        self._ctx_seq = 0
        self._replies: list[tuple[Any, Reply]] = []
        self._writes: dict[Hashable, list[tuple[Any, int]]] = {}
        self._reads: dict[str, tuple[Any, Any, int]] = {}
        self._confirmed: list[tuple[int, Any, Any, int]] = []
        self._seen = (self.core.role, self.core.term)

    # -- inputs ------------------------------------------------------------------
    def tick(self) -> None:
        self.core.tick()
        self.now_ticks += 1
        self._expire()
        self._serve_confirmed_reads()

    def step(self, m: Message) -> None:
        self.core.step(m)

    def transfer(self, target: str) -> None:
        self.core.transfer_leadership(target)

    def waiter_key(self, data: Any, index: int, term: int) -> Hashable:
        """Which waiters an applied entry answers. By default the proposal itself
        (index and term); a session system answers every copy of a retried command."""
        return (index, term)

    def propose(self, token: Any, data: Any) -> None:
        """Propose a command; the answer comes once it is applied (or times out)."""
        index = self.core.propose(data) if self.core.role == LEADER else None
        if index is None:
            return self._reply(token, self.not_leader())
        key = self.waiter_key(data, index, self.core.term)
        deadline = self.now_ticks + self.cfg.write_timeout_ticks
        self._writes.setdefault(key, []).append((token, deadline))

    def read(self, token: Any, query: Any) -> None:
        """A linearizable read via ReadIndex (served locally with the stale-read bug)."""
        if "stale-read" in self.bugs:
            return self._reply(token, self.machine.query(query))
        self._ctx_seq += 1
        ctx = f"{self.ctx_prefix}{self._ctx_seq}"
        if not self.core.read_index(ctx):
            return self._reply(token, {"ok": False, "error": "no-leader", "leader": None})
        self._reads[ctx] = (token, query, self.now_ticks + self.cfg.read_timeout_ticks)

    def status(self) -> dict[str, Any]:
        """The core's status plus what the divergence monitor compares: the commit
        index known durable, ``[index, term, digest]`` rows of applied entries and
        ``[index, digest]`` state checkpoints."""
        return {
            "node": self.id,
            **self.core.status(),
            "durable_commit": self.core.prev_hard_state.commit,
            "digests": self.digests.rows(),
            "states": self.digests.state_rows(),
        }

    def not_leader(self) -> Reply:
        return {"ok": False, "error": "not-leader", "leader": self.core.lead}

    # -- the Ready cycle ---------------------------------------------------------
    def process(self) -> Output:
        rd = self.core.ready()
        if rd.hard_state is not None or rd.entries or rd.snapshot is not None:
            sync = "no-fsync" not in self.bugs
            self.storage.save(rd.hard_state, rd.entries, rd.snapshot, sync)
        # Persisted: messages may leave now. Then apply.
        if rd.snapshot is not None:
            self.machine.restore(rd.snapshot.data)
            self.digests.restore(rd.snapshot.index, rd.snapshot.term, rd.snapshot.digest)
            self.digests.state(rd.snapshot.index, self.machine.snapshot())
        for e in rd.committed_entries:
            self.digests.apply(e)
            result = self.machine.apply(e)
            if e.index % STATE_EVERY == 0:
                self.digests.state(e.index, self.machine.snapshot())
            if result is not None:
                for token, _ in self._writes.pop(self.waiter_key(e.data, e.index, e.term), []):
                    self._reply(token, result)
        for rs in rd.read_states:
            pending = self._reads.pop(str(rs.context), None)
            if pending is not None:
                self._confirmed.append((rs.index, pending[0], pending[1], pending[2]))
        self.core.advance(rd)
        self._serve_confirmed_reads()
        self._on_role_change()
        self._maybe_compact()
        replies, self._replies = tuple(self._replies), []
        return Output(rd.messages, replies, rd.committed_entries)

    # -- internals ---------------------------------------------------------------
    def _reply(self, token: Any, reply: Reply) -> None:
        self._replies.append((token, reply))

    def _serve_confirmed_reads(self) -> None:
        applied = self.core.log.applied
        keep = []
        for index, token, query, deadline in self._confirmed:
            if index <= applied:
                self._reply(token, self.machine.query(query))
            elif deadline <= self.now_ticks:
                self._reply(token, {"ok": False, "error": "read-timeout"})
            else:
                keep.append((index, token, query, deadline))
        self._confirmed = keep

    def _on_role_change(self) -> None:
        now = (self.core.role, self.core.term)
        if now == self._seen:
            return
        was_leader = self._seen[0] == LEADER
        self._seen = now
        if was_leader:
            # Our proposals may still commit under the next leader: ambiguous.
            for waiters in self._writes.values():
                for token, _ in waiters:
                    self._reply(
                        token, {"ok": False, "error": "leadership-lost", "ambiguous": True}
                    )
            self._writes = {}
        # Unconfirmed reads died with the old term; confirmed ones stay valid.
        for token, _, _ in self._reads.values():
            self._reply(token, {"ok": False, "error": "leadership-changed"})
        self._reads = {}

    def _expire(self) -> None:
        now = self.now_ticks
        for ctx, (token, _, deadline) in list(self._reads.items()):
            if deadline <= now:
                del self._reads[ctx]
                self._reply(token, {"ok": False, "error": "read-timeout"})
        for key, waiters in list(self._writes.items()):
            live = [(t, d) for t, d in waiters if d > now]
            for token, d in waiters:
                if d <= now:
                    self._reply(token, {"ok": False, "error": "timeout", "ambiguous": True})
            if live:
                self._writes[key] = live
            else:
                del self._writes[key]

    def _maybe_compact(self) -> None:
        log = self.core.log
        if log.applied - log.snapshot.index >= self.cfg.snapshot_every:
            snap = self.core.compact(
                log.applied, self.machine.snapshot(), self.digests.at(log.applied)
            )
            self.storage.compact(snap)
