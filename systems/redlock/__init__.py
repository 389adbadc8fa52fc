"""redlock: the Redis distributed-lock pattern as it is — N independent, unreplicated lock
servers (``SET NX PX`` with wall-clock expiry, compare-and-delete release, an append-only
file) and the client-side Redlock algorithm; the resource it guards has no fencing.

A **known-unsafe design kept for comparison** with ``systems.lock``: client pauses
longer than the TTL and clock jumps break mutual exclusion, and the ``lock``
checker must say so (see README.md).
"""

from __future__ import annotations

from systems.common.spec import SystemSpec

from .client import RedlockClient, make_lock_client
from .store import KeySpace

__all__ = ["SYSTEM", "KeySpace", "RedlockClient", "make_lock_client"]

SYSTEM = SystemSpec(
    name="redlock",
    description="Known-unsafe comparison: Redis-style single-node lock servers (SET NX PX on "
    "the wall clock) with the client-side Redlock algorithm over a majority; no fencing.",
    server_module="systems.redlock.server",
    clients={"lock": make_lock_client},
    bugs={},
    leader_based=False,
)
