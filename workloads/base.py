"""The Workload value shared by every workload module."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from checkers.core import Checker, Compose
from checkers.crash import Crashes
from checkers.stats import Perf, Stats

__all__ = ["Workload", "WorkloadOptions", "judged_by"]


@dataclass(frozen=True, slots=True)
class WorkloadOptions:
    rate: float = 100.0  # total client ops per second across all threads
    concurrency: int = 5
    keys: int = 8
    check_time_budget_s: float = 120.0


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    generator: Any  # harness.generator generator of client ops, unbounded (the runner limits it)
    final_generator: Any  # run after healing, or None
    checker: Checker
    description: str = ""


def judged_by(name: str, checker: Checker) -> Compose:
    """The workload's own checker, composed with the ones every workload runs:
    ``stats``, ``perf`` and ``crash`` (a node that died on its own is a finding,
    DESIGN §4), so no workload can forget them."""
    return Compose({name: checker, "stats": Stats(), "perf": Perf(), "crash": Crashes()})
