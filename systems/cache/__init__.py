"""cache: a memcached-style look-aside cache routed by a consistent-hash ring.

``ring`` (ketama-style virtual nodes; bounded loads as an option) and
``node`` (the cache node's pure core: versions, TTL, LRU, leases, the
moved-range rule, bug switches), ``store`` (the source-of-truth KV and the
registry of cache nodes, one state machine on the shared Raft library) and
``sim`` (its simulated cluster). The rest of the system is described in
README.md.
"""

from __future__ import annotations

from .node import BUGS, CacheCore, Hit, Miss, NotStored, Stored, owner_since
from .ring import (
    DEFAULT_BALANCE,
    DEFAULT_VNODES,
    BoundedLoad,
    Ring,
    bounded_assign,
    capacity,
    key_hash,
)

__all__ = [
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
]
