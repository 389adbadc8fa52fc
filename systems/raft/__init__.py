"""A reusable Raft library (stdlib only): one Raft shared by every replicated system.

Layout (DESIGN §4, §8): ``types`` (Entry, Message, Ready, ...), ``log`` and
``progress`` (in-memory log, leader's per-follower state), ``core`` (pure Raft:
``tick``, ``step``, ``propose``, ``read_index``, ``ready``, ``advance``),
``storage`` (write-ahead log with group-commit fsync), ``node`` (core + a
pluggable ``StateMachine`` + pending client requests, no I/O; the Ready
cycle; Raft's own bug switches), ``server`` (asyncio shell), ``sim``
(deterministic in-memory cluster with cluster-wide safety checks).

A system plugs in a state machine with ``apply(entry) -> reply``,
``query(q) -> reply``, ``snapshot()`` and ``restore(data)``, subclasses
``RaftNode`` for its commands, ``RaftServer`` for its wire ops and
``SimCluster`` for its simulation. raftkv and the lock service are its users.
"""

from __future__ import annotations

from .core import Config, RaftCore
from .node import RAFT_BUGS, NodeConfig, Output, RaftNode, StateMachine, Storage
from .storage import FileStorage
from .types import Entry, HardState, Message, Ready, Snapshot

__all__ = [
    "Config",
    "RaftCore",
    "RAFT_BUGS",
    "NodeConfig",
    "Output",
    "RaftNode",
    "StateMachine",
    "Storage",
    "FileStorage",
    "Entry",
    "HardState",
    "Message",
    "Ready",
    "Snapshot",
]
