"""twopc: a sharded transactional store with strict 2PL and two-phase commit.

Layout (DESIGN §4): ``proto`` (sharding, step output, bug switches),
``participant`` and ``coordinator`` (pure cores), ``node`` (both cores of one
node), ``sim`` (deterministic in-memory cluster), ``server`` (asyncio shell
with a WAL, :mod:`systems.common.wal`), ``client`` (harness clients).
"""

from __future__ import annotations

from systems.common.spec import SystemSpec

from .client import AppendClient, BankClient, make_append_client, make_bank_client
from .coordinator import Coordinator
from .node import TwoPCNode
from .participant import Participant
from .proto import BUGS, Out, Timing, owner

__all__ = [
    "SYSTEM",
    "BUGS",
    "AppendClient",
    "BankClient",
    "Coordinator",
    "Out",
    "Participant",
    "Timing",
    "TwoPCNode",
    "make_append_client",
    "make_bank_client",
    "owner",
]

SYSTEM = SystemSpec(
    name="twopc",
    description="Sharded transactional store: strict 2PL (wait-die) at every shard, two-phase "
    "commit with a durable decision log and presumed abort; list-append and bank txns.",
    server_module="systems.twopc.server",
    clients={"append": make_append_client, "bank": make_bank_client},
    bugs=dict(BUGS),
)
