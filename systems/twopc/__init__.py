"""twopc: a sharded transactional store with strict 2PL and two-phase commit.

Layout (DESIGN §4): ``proto`` (sharding, step output, bug switches),
``participant`` and ``coordinator`` (pure cores), ``node`` (both cores of one
node), ``sim`` (deterministic in-memory cluster).
"""

from __future__ import annotations

from .coordinator import Coordinator
from .node import TwoPCNode
from .participant import Participant
from .proto import BUGS, Out, Timing, owner

__all__ = ["BUGS", "Coordinator", "Out", "Participant", "Timing", "TwoPCNode", "owner"]
