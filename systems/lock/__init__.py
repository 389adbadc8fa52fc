"""lock: a fenced lease-lock service replicated on the shared Raft library.

``machine`` (the pure state machine: leases, fencing tokens = Raft index of
the grant, the protected resource), ``node`` (the library node with the
machine and lease timing on the leader's monotonic clock; bug switches),
``server`` (asyncio shell), ``client`` (the ``lock`` workload's client),
``sim`` (deterministic in-memory cluster). The safety argument is in README.md.
"""

from __future__ import annotations

from systems.common.spec import SystemSpec

from .client import LockClient, make_lock_client
from .machine import Lease, LockMachine
from .node import BUGS, LockNode

__all__ = ["SYSTEM", "BUGS", "Lease", "LockMachine", "LockNode", "LockClient", "make_lock_client"]

SYSTEM = SystemSpec(
    name="lock",
    description="Fenced lease-lock service on our Raft: acquire/renew/release with fencing "
    "tokens (the Raft index of the grant), leases timed by the leader's monotonic clock and "
    "ended by a committed entry, and a token-checked protected resource.",
    server_module="systems.lock.server",
    clients={"lock": make_lock_client},
    # The service's own switches. Raft's (stale-read, no-fsync, commit-old-term) are in the
    # library and accepted by the server, but are proven caught on raftkv, not offered here.
    bugs={name: BUGS[name] for name in ("no-fencing", "release-any", "wall-clock-lease")},
    leader_based=True,
)
