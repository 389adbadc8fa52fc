"""One raftkv node without I/O: Raft core + KV state machine + pending client requests.

The server shell and the deterministic simulation both drive this class:
``tick()``, ``step(msg)``, ``write(token, cmd)``, ``read(token, key)``, then
``process()``, which runs one Ready cycle in contract order — persist (and
sync) through the injected ``Storage``, then hand out messages, then apply
committed entries and answer clients — and returns what the shell must send.
Tokens are opaque to this class; replies are ``(token, reply dict)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from .core import Config, RaftCore
from .kv import KVStore
from .types import LEADER, Entry, HardState, Message, Rng, Snapshot

__all__ = ["Storage", "NodeConfig", "Output", "RaftNode", "BUGS"]

BUGS = {
    "stale-read": "Every node answers reads at once from its local state machine, "
    "skipping ReadIndex, so a follower, a partitioned or a paused old leader serves stale values.",
    "no-fsync": "Log records are acknowledged while still in a process buffer that is "
    "written out lazily and never fsynced, so a crash loses acknowledged entries and votes.",
    "commit-old-term": "A new leader appends no no-op and commits an entry from an earlier "
    "term as soon as a majority holds it (ignoring §5.4.2), so the Figure-8 scenario "
    "overwrites a committed entry.",
    "no-dedup": "Client sessions are ignored, so a write retried with the same (client, seq) "
    "is applied once per copy that reaches the log.",
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


@dataclass(frozen=True, slots=True)
class NodeConfig:
    raft: Config = field(default_factory=Config)
    snapshot_every: int = 1000  # compact once this many applied entries are past the snapshot
    read_timeout_ticks: int = 40
    write_timeout_ticks: int = 100


@dataclass(frozen=True, slots=True)
class Output:
    messages: tuple[Message, ...]
    replies: tuple[tuple[Any, dict[str, Any]], ...]
    applied: tuple[Entry, ...]


class RaftNode:
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
        self.id = node_id
        self.bugs = frozenset(bugs)
        unknown = self.bugs - set(BUGS)
        assert not unknown, f"unknown bug switches {sorted(unknown)}"
        self.cfg = config or NodeConfig()
        raft_cfg = replace(self.cfg.raft, commit_old_term="commit-old-term" in self.bugs)
        self.storage = storage
        hs, snap, entries = storage.load()
        self.core = RaftCore(node_id, list(peers), rng, raft_cfg, hs, snap, entries)
        self.kv = KVStore(dedup="no-dedup" not in self.bugs)
        if snap is not None:
            self.kv.restore(snap.data)
        self.now_ticks = 0
        self.ctx_prefix = ctx_prefix or f"{node_id}:"
        self._ctx_seq = 0
        self._replies: list[tuple[Any, dict[str, Any]]] = []
        self._writes: dict[tuple[str, int], list[tuple[Any, int]]] = {}
        self._reads: dict[str, tuple[Any, str, int]] = {}
        self._confirmed: list[tuple[int, Any, str, int]] = []
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

    def write(self, token: Any, cmd: dict[str, Any]) -> None:
        """Propose a session command; the answer comes once it is applied."""
        if "c" not in cmd or "s" not in cmd:
            return self._reply(token, {"ok": False, "error": "bad-request"})
        if self.core.role != LEADER or self.core.propose(cmd) is None:
            return self._reply(token, self._not_leader())
        key = (str(cmd["c"]), int(cmd["s"]))
        deadline = self.now_ticks + self.cfg.write_timeout_ticks
        self._writes.setdefault(key, []).append((token, deadline))

    def read(self, token: Any, key: str) -> None:
        """A linearizable read via ReadIndex (served locally with the stale-read bug)."""
        if "stale-read" in self.bugs:
            return self._reply(token, {"ok": True, "value": self.kv.get(key)})
        self._ctx_seq += 1
        ctx = f"{self.ctx_prefix}{self._ctx_seq}"
        if not self.core.read_index(ctx):
            return self._reply(token, {"ok": False, "error": "no-leader", "leader": None})
        self._reads[ctx] = (token, key, self.now_ticks + self.cfg.read_timeout_ticks)

    def status(self) -> dict[str, Any]:
        return {"node": self.id, **self.core.status()}

    # -- the Ready cycle ---------------------------------------------------------
    def process(self) -> Output:
        rd = self.core.ready()
        if rd.hard_state is not None or rd.entries or rd.snapshot is not None:
            sync = "no-fsync" not in self.bugs
            self.storage.save(rd.hard_state, rd.entries, rd.snapshot, sync)
        # Persisted: messages may leave now. Then apply.
        if rd.snapshot is not None:
            self.kv.restore(rd.snapshot.data)
        for e in rd.committed_entries:
            result = self.kv.apply(e.data)
            if result is not None and isinstance(e.data, dict):
                key = (str(e.data.get("c")), int(e.data.get("s", -1)))
                for token, _ in self._writes.pop(key, []):
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
    def _reply(self, token: Any, reply: dict[str, Any]) -> None:
        self._replies.append((token, reply))

    def _not_leader(self) -> dict[str, Any]:
        return {"ok": False, "error": "not-leader", "leader": self.core.lead}

    def _serve_confirmed_reads(self) -> None:
        applied = self.core.log.applied
        keep = []
        for index, token, key, deadline in self._confirmed:
            if index <= applied:
                self._reply(token, {"ok": True, "value": self.kv.get(key)})
            elif deadline <= self.now_ticks:
                self._reply(token, {"ok": False, "error": "read-timeout"})
            else:
                keep.append((index, token, key, deadline))
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
            snap = self.core.compact(log.applied, self.kv.snapshot())
            self.storage.compact(snap)
