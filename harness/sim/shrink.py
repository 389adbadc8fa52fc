"""Shrinking an invalid simulated run to a minimal failing fault schedule.

An invalid run's fault schedule (every backend call the world made: partition,
heal, kill, start, pause, resume, clock, strobe, shape — with its simulated
time) is replayed as a script and cut down with delta debugging (Zeller's
ddmin): try halves, then complements, at finer and finer granularity, keeping
any smaller schedule whose replay is still invalid. Then the main phase's
client op count is cut the same way (halving, then bisecting), and the
schedule gets one more ddmin pass under the smaller op count.

Replays are deterministic, so "still invalid" is a pure predicate; candidates
of one round can be judged in worker processes (``jobs``) while the result
stays the one a sequential search finds: the first failing candidate in order.
The search stops after ``budget`` replays and keeps the smallest schedule found.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.options import Options
from harness.sim.faults import Fault, Script, describe
from harness.sim.run import judge, make_workload, simulate
from harness.sim.swarm import pool_map
from harness.sim.world import SimOptions

__all__ = ["Shrunk", "shrink", "replay", "ddmin"]


@dataclass(frozen=True)
class Shrunk:
    script: Script
    max_ops: int | None
    original_faults: int
    original_ops: int
    replays: int
    wall_s: float
    anomaly: str

    def lines(self) -> list[str]:
        return [describe(f) for f in self.script]

    def to_json(self) -> dict[str, Any]:
        return {"schedule": [f.to_json() for f in self.script], "max_ops": self.max_ops,
                "original_faults": self.original_faults, "original_ops": self.original_ops,
                "replays": self.replays, "wall_s": self.wall_s, "anomaly": self.anomaly,
                "lines": self.lines()}


def replay(opts: Options, sim: SimOptions, script: Script, max_ops: int | None) -> tuple[Any, str]:
    """(valid, first anomaly in one line) of ``opts`` run with exactly this fault schedule."""
    workload = make_workload(opts)
    run = simulate(opts, sim, workload, script=script, max_ops=max_ops)
    valid, anomalies = judge(opts, sim, workload, run.ops, run.statuses)
    first = f"{anomalies[0].get('kind')}: {anomalies[0].get('explanation')}" if anomalies else ""
    return valid, first


def _fails(args: tuple[Options, SimOptions, Script, int | None]) -> tuple[bool, str]:
    valid, first = replay(*args)
    return valid is False, first


class _Search:
    def __init__(self, opts: Options, sim: SimOptions, jobs: int, budget: int) -> None:
        self.opts = opts
        self.sim = sim
        self.jobs = jobs
        self.budget = budget
        self.replays = 0
        self.anomaly = ""

    def first_failing(self, candidates: Sequence[tuple[Script, int | None]]) -> int | None:
        """Index of the first candidate whose replay is invalid (None if none / out of budget)."""
        i = 0
        while i < len(candidates) and self.replays < self.budget:
            batch = candidates[i: i + max(1, min(self.jobs, self.budget - self.replays))]
            items = [(self.opts, self.sim, s, m) for s, m in batch]
            self.replays += len(batch)
            for k, (failed, first) in enumerate(pool_map(_fails, items, self.jobs)):
                if failed:
                    self.anomaly = first
                    return i + k
            i += len(batch)
        return None


def ddmin(items: list[Fault], fails: Callable[[list[list[Fault]]], int | None]) -> list[Fault]:
    """Zeller's ddmin; ``fails(candidates)`` gives the index of the first failing candidate."""
    if fails([[]]) == 0:
        return []
    n = 2
    while len(items) >= 2:
        size = max(1, len(items) // n)
        chunks = [items[i: i + size] for i in range(0, len(items), size)]
        complements = [[x for j, c in enumerate(chunks) if j != i for x in c]
                       for i in range(len(chunks))]
        k = fails(chunks)
        if k is not None:
            items, n = chunks[k], 2
            continue
        k = fails(complements) if len(chunks) > 2 else None
        if k is not None:
            items, n = complements[k], max(n - 1, 2)
            continue
        if n >= len(items):
            break
        n = min(len(items), 2 * n)
    if len(items) == 1 and fails([[]]) == 0:
        return []
    return items


def shrink(
    opts: Options, sim: SimOptions, schedule: Script, client_ops: int, jobs: int = 1,
    budget: int = 200, on_progress: Callable[[str], None] | None = None,
) -> Shrunk | None:
    """The smallest failing schedule (and op cap) found, or None if the full script passes."""
    t0 = time.monotonic()
    search = _Search(opts, sim, jobs, budget)
    say = on_progress or (lambda msg: None)
    if search.first_failing([(schedule, None)]) is None:
        return None
    max_ops: int | None = None

    def with_ops(m: int | None) -> Callable[[list[list[Fault]]], int | None]:
        return lambda cands: search.first_failing([(tuple(c), m) for c in cands])

    items = ddmin(list(schedule), with_ops(max_ops))
    say(f"schedule: {len(schedule)} -> {len(items)} faults ({search.replays} replays)")
    max_ops = _shrink_ops(search, tuple(items), client_ops)
    if max_ops is not None:
        say(f"client ops: {client_ops} -> {max_ops} ({search.replays} replays)")
        items = ddmin(items, with_ops(max_ops))
    return Shrunk(tuple(items), max_ops, len(schedule), client_ops, search.replays,
                  round(time.monotonic() - t0, 2), search.anomaly)


def _shrink_ops(search: _Search, script: Script, client_ops: int) -> int | None:
    """The smallest op cap found that still fails: halve while it fails, then bisect."""
    best: int | None = None
    hi = client_ops
    n = client_ops // 2
    while n >= 1 and search.first_failing([(script, n)]) == 0:
        best, hi, n = n, n, n // 2
    lo = max(n, 0)
    while best is not None and hi - lo > max(1, hi // 16):
        mid = (lo + hi) // 2
        if search.first_failing([(script, mid)]) == 0:
            best = hi = mid
        else:
            lo = mid
    return best
