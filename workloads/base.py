"""The Workload value shared by every workload module."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from checkers.core import Checker

__all__ = ["Workload", "WorkloadOptions"]


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
