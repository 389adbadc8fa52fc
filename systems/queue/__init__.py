"""queue: a partitioned, replicated message queue (the Kafka pattern) on the shared Raft library.

``machine`` (one partition's pure state machine: the message log, the
idempotent producer, consumer-group membership, range assignment and
committed offsets for the groups it coordinates), ``node`` (the library node
with the machine, session timing in ticks on the coordinator's leader, and
the ``acks-leader`` / ``stale-fetch`` switches), ``sim`` (one simulated Raft
group per partition), ``server`` (P groups on one port), ``client``. Why one Raft group per partition: README.md.
"""

from __future__ import annotations

from systems.common.spec import SystemOption, SystemSpec

from .client import QueueClient, make_queue_client
from .machine import COMMIT_AHEAD, MACHINE_BUGS, QueueMachine, coordinator, range_assign
from .node import BUGS, QueueNode
from .server import DEFAULT_PARTITIONS, MAX_PARTITIONS

__all__ = ["SYSTEM", "BUGS", "COMMIT_AHEAD", "MACHINE_BUGS", "QueueClient", "QueueMachine",
           "QueueNode", "coordinator", "make_queue_client", "range_assign"]

SYSTEM = SystemSpec(
    name="queue",
    description="Partitioned, replicated message queue (the Kafka pattern) on our Raft: one "
    "Raft group per partition, idempotent producer, consumer groups with range assignment, "
    "session timeouts and committed offsets in the coordinator partition's log.",
    server_module="systems.queue.server",
    clients={"queue": make_queue_client},
    # The queue's own switches; Raft's (stale-read, no-fsync, commit-old-term) are accepted
    # by the server but proven caught on raftkv.
    bugs={name: BUGS[name] for name in ("acks-leader", "no-idempotence", "commit-ahead",
                                        "stale-fetch")},
    leader_based=True,
    options={"partitions": SystemOption(
        "partitions per topic: one Raft group each on every node (servers and clients)",
        DEFAULT_PARTITIONS, minimum=1, maximum=MAX_PARTITIONS)},
)
