"""cache: a memcached-style look-aside cache routed by a consistent-hash ring.

``ring`` (ketama-style virtual nodes; bounded loads as an option). The rest
of the system is described in README.md.
"""

from __future__ import annotations

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
    "DEFAULT_BALANCE",
    "DEFAULT_VNODES",
    "BoundedLoad",
    "Ring",
    "bounded_assign",
    "capacity",
    "key_hash",
]
