"""Swarm runs: many seeds, each with its own randomly drawn fault mix and intensity.

Swarm testing (Groce et al.): instead of every run using every fault at one
intensity, run ``seed`` draws a subset of the requested faults (all five the
simulation has when none is named, and membership changes for a system that
can have them), a nemesis interval, network delay, loss
and duplication, and torn writes — so some runs are calm but hit one fault
hard and others pile faults on. The draw is a pure function of the seed, and
every drawn option is an ordinary option, so each run's reproduce line is a
plain ``faultbox run --backend sim`` command.

Runs are judged in memory (no store folder); the caller replays an invalid
seed with a store folder (replay is exact). ``jobs`` > 1 runs seeds in worker
processes but reports them in seed order, so "runs to the first failure" does
not depend on scheduling.
"""

from __future__ import annotations

import multiprocessing
import random
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, replace
from typing import Any

from harness.options import Options
from harness.sim.run import judge, make_workload, sim_command, simulate
from harness.sim.world import SimOptions

__all__ = ["SWARM_FAULTS", "RunSummary", "draw", "swarm_faults", "run_one", "swarm", "pool_map"]

SWARM_FAULTS = ("partition", "kill", "pause", "clock", "packet")
_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class RunSummary:
    seed: int
    nemesis: tuple[str, ...]
    interval_s: float
    sim: str
    valid: Any
    anomaly: str  # the first anomaly, in one line ("" when valid)
    aborted: str | None
    wall_s: float
    sim_s: float
    ops: int
    faults: int
    command: str


def swarm_faults(system: str) -> tuple[str, ...]:
    """The faults a swarm draws from when none is named: the five, plus ``membership`` for a
    system whose membership can change and whose adapter can add nodes (``join_node``)."""
    from harness.sim.adapter import load_adapter
    from systems import get_system

    spec = get_system(system)
    if spec.membership is not None and hasattr(load_adapter(system), "join_node"):
        return (*SWARM_FAULTS, "membership")
    return SWARM_FAULTS


def draw(base: Options, seed: int, base_sim: SimOptions | None = None) -> tuple[Options, SimOptions]:
    """The options of swarm run ``seed``: a fault subset and intensities drawn from the seed."""
    rng = random.Random(f"swarm:{seed}")
    pool = tuple(base.nemesis) or swarm_faults(base.system)
    picked = set(rng.sample(pool, rng.randint(1, len(pool))))
    mix = tuple(f for f in pool if f in picked)
    interval = round(rng.choice((0.3, 0.6, 1.0, 2.0, 4.0)) * rng.uniform(0.7, 1.3), 2)
    sim = SimOptions(
        delay_ms=(0.1, rng.choice((0.5, 1.0, 2.0, 5.0, 20.0))),
        loss=rng.choice((0.0, 0.0, 0.0, 0.01, 0.05)),
        dup=rng.choice((0.0, 0.0, 0.0, 0.01, 0.05)),
        torn=rng.random() < 0.5,
    )
    if base_sim is not None and base_sim != SimOptions():
        sim = base_sim  # the user fixed the network: draw only the faults
    return replace(base, seed=seed, nemesis=mix, nemesis_interval_s=interval), sim


def run_one(args: tuple[Options, SimOptions | None, int, bool]) -> RunSummary:
    """One swarm run (or a plain run when ``swarm`` is False), judged in memory."""
    base, base_sim, seed, swarm_draw = args
    if swarm_draw:
        opts, sim = draw(base, seed, base_sim)
    else:
        opts, sim = replace(base, seed=seed), base_sim or SimOptions()
    workload = make_workload(opts)
    t0 = time.monotonic()
    try:
        run = simulate(opts, sim, workload)
    except Exception as e:  # noqa: BLE001 - one broken run must not end the swarm
        return RunSummary(
            seed=seed, nemesis=opts.nemesis, interval_s=opts.nemesis_interval_s, sim=sim.spec(),
            valid="unknown", anomaly=f"error: {type(e).__name__}: {e}", aborted=None,
            wall_s=round(time.monotonic() - t0, 3), sim_s=0.0, ops=0, faults=0,
            command=sim_command(opts, sim))
    valid, anomalies = judge(opts, sim, workload, run.ops, run.statuses)
    first = ""
    if anomalies:
        a = anomalies[0]
        first = f"{a.get('kind')}: {a.get('explanation')}"
    return RunSummary(
        seed=seed, nemesis=opts.nemesis, interval_s=opts.nemesis_interval_s, sim=sim.spec(),
        valid=valid, anomaly=first, wall_s=round(time.monotonic() - t0, 3),
        sim_s=round(run.sim_ns / _NS, 3), ops=run.client_ops, faults=len(run.schedule),
        aborted=run.aborted,
        command=sim_command(opts, sim),
    )


def pool_map(fn: Callable[[Any], Any], items: list[Any], jobs: int) -> Generator[Any, None, None]:
    """``fn`` over ``items`` in order, in ``jobs`` worker processes (forked) when > 1."""
    if jobs <= 1 or len(items) <= 1:
        for it in items:
            yield fn(it)
        return
    ctx = multiprocessing.get_context("fork")
    pool = ctx.Pool(min(jobs, len(items)))
    try:
        yield from pool.imap(fn, items, chunksize=1)
    finally:
        pool.terminate()
        pool.join()


def swarm(
    base: Options, runs: int, jobs: int = 1, keep_going: bool = False,
    base_sim: SimOptions | None = None, on_result: Callable[[RunSummary], None] | None = None,
) -> list[RunSummary]:
    """Run seeds ``base.seed .. base.seed + runs - 1``; stop after the first invalid one
    unless ``keep_going``. Results in seed order."""
    items = [(base, base_sim, base.seed + i, True) for i in range(runs)]
    out: list[RunSummary] = []
    results = pool_map(run_one, items, jobs)
    try:
        for summary in results:
            out.append(summary)
            if on_result is not None:
                on_result(summary)
            if summary.valid is False and not keep_going:
                break
    finally:
        results.close()  # stops the workers at once
    return out
