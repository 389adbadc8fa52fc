"""Fault schedules (generators of nemesis ops) and the package factories.

Each package's untimed op cycle is ``start-X`` (a value drawn with ctx.rng)
then ``stop-X``, forever; its generator staggers that cycle at the
interval (gaps uniform in [0, 2·interval)); its final generator is one
``stop-X``. :func:`nemesis.core.compose` mixes several packages' cycles.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from harness import generator as g
from nemesis.commit_cut import CommitCutNemesis
from nemesis.coordinator_crash import CoordinatorCrashNemesis
from nemesis.core import Band, NemesisOptions, Package
from nemesis.deposed import DeposedLeaderNemesis
from nemesis.faults import (
    CLOCK_MODES,
    PARTITION_KINDS,
    ClockNemesis,
    KillNemesis,
    LeaderChaseNemesis,
    PacketNemesis,
    PartitionNemesis,
    PauseNemesis,
)
from nemesis.figure8 import Figure8Nemesis
from nemesis.membership import ACTIONS as MEMBERSHIP_ACTIONS
from nemesis.membership import MembershipNemesis
from nemesis.targets import TARGETS
from nemesis.voter_crash import VoterCrashNemesis

__all__ = [
    "BAND_COLORS",
    "DEFAULT_INTERVAL_S",
    "DEFAULT_MIX",
    "MIN_NODES",
    "PACKAGES",
    "clock_package",
    "commit_cut_package",
    "coordinator_crash_package",
    "default_mix",
    "deposed_leader_package",
    "expand_mix",
    "figure8_package",
    "kill_package",
    "leader_chase_package",
    "membership_package",
    "packet_package",
    "partition_package",
    "pause_package",
    "schedule_interval",
    "start_stop_cycle",
    "voter_crash_package",
]

BAND_COLORS = {
    "partition": "#e4572e",
    "kill": "#6c757d",
    "pause": "#f3a712",
    "clock": "#29335c",
    "packet": "#7d5ba6",
    "figure8": "#1b998b",
    "coordinator-crash": "#a4243b",
    "membership": "#2e86ab",
    "commit-cut": "#5f0f40",
    "leader-chase": "#495057",
    "deposed-leader": "#8d6a9f",
    "voter-crash": "#bc4b51",
}


def start_stop_cycle(fault: str, draw: Callable[[Any, Any], Any]) -> Any:
    """Forever: ``start-<fault>`` with value ``draw(test, ctx)``, then ``stop-<fault>``."""

    def start(test: Any, ctx: Any) -> dict[str, Any]:
        return {"f": f"start-{fault}", "value": draw(test, ctx)}

    return g.cycle([g.once(start), {"f": f"stop-{fault}"}])


def _choice(options: Sequence[Any]) -> Callable[[Any, Any], Any]:
    opts = tuple(options)
    return lambda test, ctx: opts[int(ctx.rng.random() * len(opts))]


def _package(
    fault: str, nemesis: Any, draw: Callable[[Any, Any], Any], opts: NemesisOptions
) -> Package:
    ops = start_stop_cycle(fault, draw)
    return Package(
        name=fault,
        nemesis=nemesis,
        generator=g.stagger(opts.interval_s, ops),
        final_generator=[{"f": f"stop-{fault}"}],
        needs=frozenset({fault}),
        bands=(Band(fault, f"start-{fault}", f"stop-{fault}", BAND_COLORS[fault]),),
        ops=ops,
        interval_s=opts.interval_s,
    )


def _targets(opts: NemesisOptions, allowed: Sequence[str]) -> tuple[str, ...]:
    return tuple(t for t in opts.targets if t in allowed) or tuple(allowed)


def partition_package(opts: NemesisOptions) -> Package:
    return _package("partition", PartitionNemesis(opts), _choice(PARTITION_KINDS), opts)


def kill_package(opts: NemesisOptions) -> Package:
    return _package("kill", KillNemesis(opts), _choice(opts.targets), opts)


def leader_chase_package(opts: NemesisOptions) -> Package:
    """Kill or pause the leader and then its successor the moment it is elected."""
    nem = LeaderChaseNemesis(opts)
    pkg = _package("leader-chase", nem, _choice([{"mode": m} for m in nem.MODES]), opts)
    return replace(pkg, needs=frozenset({"kill", "pause"}))


def deposed_leader_package(opts: NemesisOptions) -> Package:
    """Isolate the leader from its peers and slow its clock (see :mod:`nemesis.deposed`)."""
    pkg = _package("deposed-leader", DeposedLeaderNemesis(opts), lambda test, ctx: None, opts)
    return replace(pkg, needs=frozenset({"partition", "clock"}))


def voter_crash_package(opts: NemesisOptions) -> Package:
    """Crash a voter right after its vote, then offer it a second candidate of that term
    (see :mod:`nemesis.voter_crash`)."""
    pkg = _package("voter-crash", VoterCrashNemesis(opts), lambda test, ctx: None, opts)
    return replace(pkg, needs=frozenset({"partition", "kill", "packet"}))


def pause_package(opts: NemesisOptions) -> Package:
    return _package("pause", PauseNemesis(opts), _choice(opts.targets), opts)


def clock_package(opts: NemesisOptions) -> Package:
    targets = _targets(opts, TARGETS)
    modes = _choice(CLOCK_MODES)
    pick = _choice(targets)
    return _package(
        "clock",
        ClockNemesis(opts),
        lambda test, ctx: {"mode": modes(test, ctx), "targets": pick(test, ctx)},
        opts,
    )


def packet_package(opts: NemesisOptions) -> Package:
    nem = PacketNemesis(opts)
    pick = _choice(_targets(opts, TARGETS))

    def draw(test: Any, ctx: Any) -> dict[str, Any]:
        modes = nem.modes or ("loss",)  # known once the nemesis is set up
        return {"mode": modes[int(ctx.rng.random() * len(modes))], "targets": pick(test, ctx)}

    return _package("packet", nem, draw, opts)


def figure8_package(opts: NemesisOptions) -> Package:
    """Raft's Figure 8, steered phase by phase (see :mod:`nemesis.figure8`); partitions only."""
    pkg = _package("figure8", Figure8Nemesis(opts), lambda test, ctx: None, opts)
    return replace(pkg, needs=frozenset({"partition"}))


def coordinator_crash_package(opts: NemesisOptions) -> Package:
    """Kill a 2PC node holding decided, unacknowledged txns (see :mod:`nemesis.coordinator_crash`)."""
    pkg = _package("coordinator-crash", CoordinatorCrashNemesis(opts), lambda test, ctx: None, opts)
    return replace(pkg, needs=frozenset({"kill"}))


def membership_package(opts: NemesisOptions) -> Package:
    """A join, then bands of: an added node's registration lapses and a replacement
    joins (``replace``), two more changes (join, leave, crash, flap or replace), then
    every flapped node comes back — so the ring flips back to an old owner across
    other changes (see :mod:`nemesis.membership`). The final heal brings flapped
    nodes back."""
    draw = _choice(MEMBERSHIP_ACTIONS)

    def change(test: Any, ctx: Any) -> dict[str, Any]:
        return {"f": "start-membership", "value": {"action": draw(test, ctx)}}

    def start(action: str) -> dict[str, Any]:
        return {"f": "start-membership", "value": {"action": action}}

    band = [start("replace"), g.once(change), g.once(change), {"f": "stop-membership"}]
    ops = [start("join"), g.cycle(band)]
    pkg = _package("membership", MembershipNemesis(opts), lambda test, ctx: None, opts)
    return replace(pkg, generator=g.stagger(opts.interval_s, ops), ops=ops)


def commit_cut_package(opts: NemesisOptions) -> Package:
    """Delay a 2PC coordinator, cut one participant off it, kill it with commits lost in
    flight, heal and restart it (see :mod:`nemesis.commit_cut`)."""
    pkg = _package("commit-cut", CommitCutNemesis(opts), lambda test, ctx: None, opts)
    return replace(pkg, needs=frozenset({"partition", "kill"}))


PACKAGES: dict[str, Callable[[NemesisOptions], Package]] = {
    "partition": partition_package,
    "kill": kill_package,
    "pause": pause_package,
    "clock": clock_package,
    "packet": packet_package,
    "figure8": figure8_package,
    "coordinator-crash": coordinator_crash_package,
    "membership": membership_package,
    "commit-cut": commit_cut_package,
    "leader-chase": leader_chase_package,
    "deposed-leader": deposed_leader_package,
    "voter-crash": voter_crash_package,
}

# The default fault schedule: what `--nemesis default` names (faultbox run, campaigns,
# `faultbox mutate`'s Docker runs, the nightly), and its seconds between faults (taken
# when such a run gives none). Chosen by the raftkv
# mutation score in Docker (issue 20; the measured table is in docs/mutation.md).
# Leader-targeted faults in it (leader-chase: kill or pause the leader, then its successor
# once elected; deposed-leader: the leader cut off from its peers, its clock slowed) make
# an election or a stale leader of most faults (the Raft shells' timers follow the node's
# clock rate, systems/common/tickclock.py, so deposed-leader's slow clock holds the stale
# leader in Docker too). A system adds its own targeted faults (SystemSpec.default_faults:
# raftkv's voter-crash). clock is not in it (the score was measured without it); add it
# for systems that read the wall clock (leases: "default,clock").
DEFAULT_MIX: tuple[str, ...] = ("partition", "kill", "pause", "leader-chase", "deposed-leader")
DEFAULT_INTERVAL_S = 2.0


# The fewest nodes a steered fault can run on (it refuses fewer at setup).
MIN_NODES: dict[str, int] = {"figure8": 5, "voter-crash": 5}


def default_mix(system_faults: Sequence[str] = (), nodes: int | None = None) -> tuple[str, ...]:
    """What ``default`` names for a system: :data:`DEFAULT_MIX` plus the system's own
    targeted faults (``SystemSpec.default_faults``) that ``nodes`` is enough for."""
    extra = [f for f in system_faults if nodes is None or nodes >= MIN_NODES.get(f, 1)]
    return tuple(dict.fromkeys([*DEFAULT_MIX, *extra]))


def expand_mix(names: Sequence[str], system_faults: Sequence[str] = (),
               nodes: int | None = None) -> tuple[str, ...]:
    """Fault names with ``default`` replaced by :func:`default_mix` (each name once)."""
    out: list[str] = []
    for n in names:
        for f in default_mix(system_faults, nodes) if n == "default" else (n,):
            if f not in out:
                out.append(f)
    return tuple(out)


def schedule_interval(names: Sequence[str], given: float | None, otherwise: float) -> float:
    """Seconds between faults: ``given`` when set, else :data:`DEFAULT_INTERVAL_S` when
    the fault names (as given, before :func:`expand_mix`) ask for ``default``, else
    ``otherwise``."""
    if given is not None:
        return given
    return DEFAULT_INTERVAL_S if "default" in names else otherwise
