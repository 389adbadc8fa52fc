"""queue: a partitioned, replicated message queue (the Kafka pattern) on the shared Raft library.

``machine`` (one partition's pure state machine: the message log, the
idempotent producer, consumer-group membership, range assignment and
committed offsets for the groups it coordinates), ``node`` (the library node
with the machine, session timing in ticks on the coordinator's leader, and
the ``acks-leader`` / ``stale-fetch`` switches), ``sim`` (one simulated Raft
group per partition). Why one Raft group per partition: README.md.
"""

from __future__ import annotations

from .machine import COMMIT_AHEAD, MACHINE_BUGS, QueueMachine, coordinator, range_assign
from .node import BUGS, QueueNode

__all__ = ["BUGS", "COMMIT_AHEAD", "MACHINE_BUGS", "QueueMachine", "QueueNode", "coordinator",
           "range_assign"]
