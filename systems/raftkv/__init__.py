"""raftkv: a replicated key-value store on our own Raft (the etcd pattern).

Layout (DESIGN §4): ``core`` (pure Raft), ``kv`` (state machine with client
sessions), ``node`` (core + state machine + pending requests, no I/O),
``storage`` (write-ahead log with group-commit fsync), ``server`` (asyncio
shell), ``client`` (harness clients), ``sim`` (deterministic in-memory cluster).
"""

from __future__ import annotations

from systems.common.spec import SystemSpec

from .client import (
    KVClient,
    RegisterClient,
    SetClient,
    make_kv_client,
    make_register_client,
    make_set_client,
)
from .core import Config, RaftCore
from .node import BUGS, NodeConfig, RaftNode

__all__ = [
    "SYSTEM",
    "BUGS",
    "Config",
    "NodeConfig",
    "RaftCore",
    "RaftNode",
    "RegisterClient",
    "KVClient",
    "SetClient",
    "make_register_client",
    "make_kv_client",
    "make_set_client",
]

SYSTEM = SystemSpec(
    name="raftkv",
    description="Replicated key-value store on our own Raft (PreVote, CheckQuorum, "
    "ReadIndex reads, snapshots, client sessions); linearizable get/put/cas per key.",
    server_module="systems.raftkv.server",
    clients={"register": make_register_client, "kv": make_kv_client, "set": make_set_client},
    bugs=dict(BUGS),
    leader_based=True,
)
