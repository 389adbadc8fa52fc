"""Deterministic simulation backend: pure cores on simulated time, network, disks and clocks.

See docs/sim.md. ``simulate`` runs a test in memory, ``run_sim_test`` writes a
store folder, ``swarm`` runs many seeds with drawn fault mixes, ``shrink``
cuts an invalid run's fault schedule down to a minimal failing one.
"""

from harness.sim.adapter import SimAdapter, SimDisk, SimIO, SimNode, load_adapter
from harness.sim.faults import Fault, Script, describe
from harness.sim.run import SimRun, judge, run_sim_test, sim_command, simulate
from harness.sim.world import SimOptions, World

__all__ = [
    "Fault",
    "Script",
    "SimAdapter",
    "SimDisk",
    "SimIO",
    "SimNode",
    "SimOptions",
    "SimRun",
    "World",
    "describe",
    "judge",
    "load_adapter",
    "run_sim_test",
    "sim_command",
    "simulate",
]
