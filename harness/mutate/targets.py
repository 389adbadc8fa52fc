"""What ``faultbox mutate`` mutates and runs for each system (one :class:`Target` a system).

A target names the files of ``systems/`` whose operators are mutated (the pure
core and state machine the simulation runs), its curated mutations file, the
fast unit tests that may kill a mutant first, and the workloads and faults of
its simulation and Docker runs. Adding a system is one entry here plus a
``mutations/<name>.toml`` (docs/mutation.md).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Target", "TARGETS", "RAFT_FILES"]

# The shared Raft library's pure modules: every Raft-based system carries their mutants.
RAFT_FILES = ("raft/core.py", "raft/log.py", "raft/progress.py", "raft/node.py")
# Status reports and debug text: no behaviour for a client to observe.
_SKIP_FUNCTIONS = frozenset({"status", "describe", "__repr__", "not_leader"})
# Blocks that run only under a bug switch (mutating them changes nothing in a correct build).
_SKIP_GUARDS = ("self.cfg.commit_old_term", "'stale-read' in self.bugs")
_RAFT_UNIT = ("tests/raft",)


@dataclass(frozen=True, slots=True)
class Target:
    system: str
    files: tuple[str, ...]  # relative to systems/
    curated: tuple[str, ...]  # mutation files relative to the repo root
    unit_tests: tuple[str, ...]  # pytest arguments (paths and -k/--ignore options)
    sim_workloads: tuple[str, ...]
    docker_workloads: tuple[str, ...]
    nodes: int = 5
    # The faults each sim run draws a subset of (harness.sim.swarm.draw).
    sim_nemesis: tuple[str, ...] = ("partition", "kill", "pause", "clock", "packet")
    skip_functions: frozenset[str] = _SKIP_FUNCTIONS
    skip_guards: tuple[str, ...] = _SKIP_GUARDS


TARGETS: dict[str, Target] = {
    "raftkv": Target(
        system="raftkv",
        files=(*RAFT_FILES, "raftkv/kv.py", "raftkv/node.py"),
        curated=("mutations/raft.toml", "mutations/raftkv.toml"),
        unit_tests=(*_RAFT_UNIT, "tests/raftkv", "--ignore=tests/raftkv/test_property.py",
                    "--ignore=tests/raftkv/test_server.py"),
        sim_workloads=("register", "kv", "set"),
        docker_workloads=("register", "kv", "set"),
        # figure8 in the pool killed append-skips-consistency-check (run 3) that 30 runs
        # without it missed; the unmutated build stayed valid in 40 runs with it.
        # deposed-leader (isolated leader, slow clock) killed read-index-no-quorum at run 1
        # and read-before-own-commit at run 4, which 30 runs without it missed; voter-crash
        # killed vote-not-persisted (two leaders of one term), which nothing else reached.
        sim_nemesis=("partition", "kill", "pause", "clock", "packet", "figure8",
                     "deposed-leader", "voter-crash"),
    ),
    "lock": Target(
        system="lock",
        files=(*RAFT_FILES, "lock/machine.py", "lock/node.py"),
        curated=("mutations/raft.toml", "mutations/lock.toml"),
        unit_tests=(*_RAFT_UNIT, "tests/lock", "--ignore=tests/lock/test_server.py",
                    "--ignore=tests/lock/test_redlock.py"),
        sim_workloads=("lock",),
        docker_workloads=("lock",),
    ),
}
