"""Values exchanged by the Raft core, its shell and the wire (pure, stdlib only).

Message types (``Message.type``):

- ``prevote`` / ``prevote_resp`` — PreVote round (§9.6 of Ongaro's thesis); a
  prevote carries the term the sender *would* campaign in and changes nobody's term.
- ``vote`` / ``vote_resp`` — RequestVote. ``context == "transfer"`` marks a
  campaign started by a leadership transfer, which ignores leader leases.
- ``app`` / ``app_resp`` — AppendEntries and its answer. A rejection carries a
  hint (``hint_index``, ``hint_term``) for fast conflict backtracking.
- ``heartbeat`` / ``heartbeat_resp`` — leader liveness; ``context`` carries a
  ReadIndex request id that the answer echoes.
- ``snap`` — InstallSnapshot (answered with ``app_resp``).
- ``timeout_now`` — leadership transfer: campaign now.
- ``read_index`` / ``read_index_resp`` — a follower asks the leader for a
  confirmed read index on behalf of a local linearizable read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "Entry",
    "Snapshot",
    "HardState",
    "Message",
    "ReadState",
    "Ready",
    "Rng",
    "FOLLOWER",
    "PRE_CANDIDATE",
    "CANDIDATE",
    "LEADER",
    "PREVOTE",
    "PREVOTE_RESP",
    "VOTE",
    "VOTE_RESP",
    "APP",
    "APP_RESP",
    "HEARTBEAT",
    "HEARTBEAT_RESP",
    "SNAP",
    "TIMEOUT_NOW",
    "READ_INDEX",
    "READ_INDEX_RESP",
]

FOLLOWER = "follower"
PRE_CANDIDATE = "pre-candidate"
CANDIDATE = "candidate"
LEADER = "leader"

PREVOTE = "prevote"
PREVOTE_RESP = "prevote_resp"
VOTE = "vote"
VOTE_RESP = "vote_resp"
APP = "app"
APP_RESP = "app_resp"
HEARTBEAT = "heartbeat"
HEARTBEAT_RESP = "heartbeat_resp"
SNAP = "snap"
TIMEOUT_NOW = "timeout_now"
READ_INDEX = "read_index"
READ_INDEX_RESP = "read_index_resp"


class Rng(Protocol):
    """The slice of ``random.Random`` the core uses (randomness is injected)."""

    def randrange(self, start: int, stop: int) -> int: ...


@dataclass(frozen=True, slots=True)
class Entry:
    term: int
    index: int
    data: Any = None  # a JSON-able command; None is the leader's no-op

    def to_wire(self) -> list[Any]:
        return [self.term, self.index, self.data]

    @staticmethod
    def from_wire(raw: list[Any]) -> Entry:
        return Entry(int(raw[0]), int(raw[1]), raw[2])


@dataclass(frozen=True, slots=True)
class Snapshot:
    index: int
    term: int
    data: Any = None  # JSON-able image of the state machine at ``index``
    digest: str = ""  # the applied-entries digest at ``index`` (digest.py); "" unknown

    def to_wire(self) -> dict[str, Any]:
        d: dict[str, Any] = {"index": self.index, "term": self.term, "data": self.data}
        if self.digest:
            d["digest"] = self.digest
        return d

    @staticmethod
    def from_wire(raw: dict[str, Any]) -> Snapshot:
        return Snapshot(
            int(raw["index"]), int(raw["term"]), raw.get("data"), str(raw.get("digest") or "")
        )


@dataclass(frozen=True, slots=True)
class HardState:
    """What must be durable before any message that depends on it leaves the node."""

    term: int = 0
    vote: str | None = None
    commit: int = 0


@dataclass(frozen=True, slots=True)
class Message:
    type: str
    src: str
    dst: str
    term: int
    log_term: int = 0
    index: int = 0
    entries: tuple[Entry, ...] = ()
    commit: int = 0
    reject: bool = False
    hint_index: int = 0
    hint_term: int = 0
    snapshot: Snapshot | None = None
    context: Any = None

    def to_wire(self) -> dict[str, Any]:
        d: dict[str, Any] = {"t": self.type, "s": self.src, "d": self.dst, "term": self.term}
        if self.log_term:
            d["lt"] = self.log_term
        if self.index:
            d["i"] = self.index
        if self.entries:
            d["e"] = [e.to_wire() for e in self.entries]
        if self.commit:
            d["c"] = self.commit
        if self.reject:
            d["r"] = True
        if self.hint_index or self.hint_term:
            d["hi"] = self.hint_index
            d["ht"] = self.hint_term
        if self.snapshot is not None:
            d["snap"] = self.snapshot.to_wire()
        if self.context is not None:
            d["ctx"] = self.context
        return d

    @staticmethod
    def from_wire(d: dict[str, Any]) -> Message:
        snap = d.get("snap")
        return Message(
            type=str(d["t"]),
            src=str(d["s"]),
            dst=str(d["d"]),
            term=int(d["term"]),
            log_term=int(d.get("lt", 0)),
            index=int(d.get("i", 0)),
            entries=tuple(Entry.from_wire(e) for e in d.get("e", ())),
            commit=int(d.get("c", 0)),
            reject=bool(d.get("r", False)),
            hint_index=int(d.get("hi", 0)),
            hint_term=int(d.get("ht", 0)),
            snapshot=Snapshot.from_wire(snap) if snap is not None else None,
            context=d.get("ctx"),
        )


@dataclass(frozen=True, slots=True)
class ReadState:
    """A linearizable read may be served once the local applied index reaches ``index``."""

    index: int
    context: Any


@dataclass(frozen=True, slots=True)
class Ready:
    """One batch of work for the shell, in contract order:

    1. persist ``snapshot`` (if any), ``entries`` (the first one's index truncates
       the durable log) and ``hard_state`` (if changed) — and fsync;
    2. only then send ``messages``;
    3. apply ``committed_entries`` (after restoring ``snapshot``) and serve
       ``read_states`` whose index is applied;
    4. call ``advance(ready)`` before stepping the core again.
    """

    hard_state: HardState | None = None
    entries: tuple[Entry, ...] = ()
    snapshot: Snapshot | None = None
    messages: tuple[Message, ...] = ()
    committed_entries: tuple[Entry, ...] = ()
    read_states: tuple[ReadState, ...] = field(default_factory=tuple)

    def empty(self) -> bool:
        return (
            self.hard_state is None
            and not self.entries
            and self.snapshot is None
            and not self.messages
            and not self.committed_entries
            and not self.read_states
        )
