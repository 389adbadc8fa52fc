"""raftkv: a replicated key-value store on our own Raft (the etcd pattern).

Layout (DESIGN §4): ``core`` (pure Raft), ``kv`` (state machine with client
sessions), ``node`` (core + state machine + pending requests, no I/O),
``storage`` (write-ahead log with group-commit fsync), ``server`` (asyncio
shell), ``client`` (harness clients), ``sim`` (deterministic in-memory cluster).
"""

from __future__ import annotations

from .core import Config, RaftCore
from .node import BUGS, NodeConfig, RaftNode

__all__ = ["BUGS", "Config", "NodeConfig", "RaftCore", "RaftNode"]
