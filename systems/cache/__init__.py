"""cache: a memcached-style look-aside cache routed by a consistent-hash ring.

``ring`` (ketama-style virtual nodes; bounded loads as an option) and
``node`` (the cache node's pure core: versions, TTL, LRU, leases, the
moved-range rule, bug switches), ``store`` (the source-of-truth KV and the
registry of cache nodes, one state machine on the shared Raft library) and
``sim`` (its simulated cluster), ``server`` (one process per node: a store
replica and a cache node on one port) and ``client`` (the ``cache``
workload's look-aside client). The rest of the system is described in
README.md.
"""

from __future__ import annotations

from systems.common.spec import Membership, SystemOption, SystemSpec

from .client import CacheClient, make_cache_client
from .node import BUGS, CacheCore, Hit, Miss, NotStored, Stored, owner_since
from .ring import (
    DEFAULT_BALANCE,
    DEFAULT_VNODES,
    BoundedLoad,
    Ring,
    bounded_assign,
    capacity,
    key_hash,
    moved_share,
    ring_change,
)

__all__ = [
    "SYSTEM",
    "CacheClient",
    "make_cache_client",
    "BUGS",
    "CacheCore",
    "Hit",
    "Miss",
    "NotStored",
    "Stored",
    "owner_since",
    "DEFAULT_BALANCE",
    "DEFAULT_VNODES",
    "BoundedLoad",
    "Ring",
    "bounded_assign",
    "capacity",
    "key_hash",
    "moved_share",
    "ring_change",
]

SYSTEM = SystemSpec(
    name="cache",
    description="memcached-style look-aside cache with leases, routed by a consistent-hash "
    "ring over the cache nodes registered (TTL heartbeats) in a Raft-replicated store that is "
    "also the source of truth; every node is a store replica and a cache node.",
    server_module="systems.cache.server",
    clients={"cache": make_cache_client},
    # the cache's own switches; Raft's (stale-read, no-fsync, commit-old-term) are accepted by
    # the server but proven caught on raftkv, not offered here.
    bugs=dict(BUGS),
    leader_based=True,
    options={
        "bounded_load": SystemOption(
            "route reads by bounded loads with this c (>= 1; in-flight reads per node at most "
            "ceil(c * mean)); off when not given (clients)", 0.0, minimum=1.0, server=False),
        "fill_delay_ms": SystemOption(
            "slow readers: every fill waits this long after its store read, widening the "
            "stale-set window leases guard (clients)", 0, minimum=0, maximum=2000, server=False),
    },
    # nodes added mid-run are cache nodes only (``--join``); see server.py
    membership=Membership(join_args=("--join",), ring_change=ring_change),
)
