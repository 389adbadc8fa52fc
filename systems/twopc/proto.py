"""What the 2PC cores share: shard ownership, the output of a step, timing, bug switches.

Messages between nodes are plain dicts ``{"t": kind, "src": node, "dst": node,
"tx": txid, ...}`` (JSON on the wire). Kinds, coordinator -> participant:
``exec`` (micro-ops to run under locks), ``prepare`` (extra writes, then
persist and vote), ``commit``, ``abort``, ``outcome`` (answer to a query);
participant -> coordinator: ``exec-ok`` / ``exec-no``, ``vote`` (yes/no),
``ack`` (commit applied), ``query`` (what became of a prepared txn?).

Transaction age for wait-die is ``(ts, txid)``: ``ts`` is a Lamport clock the
coordinator stamps when the txn starts (every message carries the sender's
clock), ``txid`` breaks ties, so the order is total and never changes.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BUGS",
    "Out",
    "Timing",
    "Age",
    "DEFAULT_TIMING",
    "owner",
]

BUGS: dict[str, str] = {
    "early-unlock": "participants release their shared (read) locks as soon as they vote yes "
    "instead of at commit/abort: non-serializable interleavings (G2-item, G-single)",
    "no-decision-log": "the coordinator sends commit before its decision is durable and, "
    "after a restart, presumes abort for it: some participants commit, others abort",
    "no-prepare-fsync": "participants vote yes without persisting their intents: a crash "
    "after voting loses prepared writes that the other participants commit",
}

Age = tuple[int, str]  # (Lamport ts, txid): smaller is older


def owner(key: Any, nodes: Sequence[str]) -> str:
    """The node whose shard holds ``key``: a stable hash of the key over the sorted names."""
    names = sorted(nodes)
    return names[zlib.crc32(str(key).encode()) % len(names)]


@dataclass(frozen=True, slots=True)
class Timing:
    """Protocol timeouts in ticks (the shell ticks every 20 ms)."""

    exec_wait_ticks: int = 50  # a lock wait (wait-die: the older txn waits) gives up: vote no
    active_ticks: int = 150  # executed but never prepared (coordinator gone): abort locally
    txn_ticks: int = 100  # coordinator: no decision by then -> abort (presumed abort)
    query_ticks: int = 25  # participant: prepared this long -> ask the coordinator, and again
    resend_ticks: int = 25  # coordinator: re-send commit to participants that did not ack
    conflict_retries: int = 8  # coordinator: restarts of a txn that died under wait-die
    retry_ticks: int = 1  # coordinator: pause before such a restart


@dataclass(slots=True)
class Out:
    """What one step produced, in the order the shell must honour.

    ``persist`` records are written and fsynced BEFORE any message or reply
    leaves; ``buffered`` records stay in the process and go to disk ahead of
    the next ``persist`` (a crash loses them: the GC of decisions, and the
    prepare records under the ``no-prepare-fsync`` bug); ``messages`` go to
    peers (or to this node itself); ``replies`` answer clients by token.
    """

    persist: list[dict[str, Any]] = field(default_factory=list)
    buffered: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    replies: list[tuple[Any, dict[str, Any]]] = field(default_factory=list)

    def extend(self, other: Out) -> None:
        self.persist += other.persist
        self.buffered += other.buffered
        self.messages += other.messages
        self.replies += other.replies

    def empty(self) -> bool:
        return not (self.persist or self.buffered or self.messages or self.replies)


DEFAULT_TIMING = Timing()
