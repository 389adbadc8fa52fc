"""Faults and their schedules: grudges, nemeses, packages (DESIGN §3, §5).

``PACKAGES[name](NemesisOptions(...))`` builds a :class:`Package` (nemesis +
generator + final heal + needed capabilities + plot bands);
:func:`compose` mixes several. Fault ops are named ``start-<fault>`` /
``stop-<fault>`` for fault in partition, kill, pause, clock, packet, membership.
"""

from nemesis.core import (
    FAULTS,
    Band,
    ComposedNemesis,
    Nemesis,
    NemesisError,
    NemesisOptions,
    Package,
    compose,
    fault_of,
)
from nemesis.faults import (
    PARTITION_KINDS,
    ClockNemesis,
    KillNemesis,
    PacketNemesis,
    PartitionNemesis,
    PauseNemesis,
)
from nemesis.grudge import (
    bisect,
    bridge,
    complete_grudge,
    isolate,
    isolate_one,
    majorities_ring,
    one_way,
)
from nemesis.leader import HasLeader, StatusLeader, find_leader
from nemesis.membership import MembershipNemesis
from nemesis.schedule import (
    DEFAULT_INTERVAL_S,
    DEFAULT_MIX,
    PACKAGES,
    expand_mix,
    schedule_interval,
)
from nemesis.targets import TARGETS, select

__all__ = [
    "PACKAGES",
    "DEFAULT_MIX",
    "DEFAULT_INTERVAL_S",
    "expand_mix",
    "schedule_interval",
    "FAULTS",
    "TARGETS",
    "PARTITION_KINDS",
    "Band",
    "Package",
    "Nemesis",
    "NemesisOptions",
    "NemesisError",
    "ComposedNemesis",
    "compose",
    "fault_of",
    "PartitionNemesis",
    "KillNemesis",
    "PauseNemesis",
    "ClockNemesis",
    "PacketNemesis",
    "MembershipNemesis",
    "HasLeader",
    "StatusLeader",
    "find_leader",
    "select",
    "complete_grudge",
    "bisect",
    "isolate",
    "isolate_one",
    "majorities_ring",
    "bridge",
    "one_way",
]
