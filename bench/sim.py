"""Simulation throughput: swarm runs per minute and simulated-to-wall time ratio.

    .venv/bin/python bench/sim.py [--runs 20] [--jobs 2] [--nodes 3,5] [--rates 100,20]

Each run is one swarm run of raftkv (register workload, 10 s main phase, the
runner's heal + 3 s recovery + final reads after it; a fault mix and intensity
drawn from its seed), judged by the real checkers in memory — exactly what
``faultbox run --backend sim --runs N --jobs J`` does per seed. Runs go to J
worker processes; runs/min counts whole runs (simulation + check) over the
wall time of the batch. The ratio is simulated seconds over wall seconds for
the whole batch (all workers together) and per worker.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

from harness.options import Options
from harness.sim.swarm import pool_map, run_one


def bench(nodes: int, rate: float, runs: int, jobs: int, seed: int) -> dict[str, float]:
    base = Options(system="raftkv", workload="register", nodes=nodes, rate=rate, time_limit_s=10,
                   backend="sim", report=False)
    items = [(replace(base, seed=seed + i), None, seed + i, True) for i in range(runs)]
    t0 = time.monotonic()
    results = list(pool_map(run_one, items, jobs))
    wall = time.monotonic() - t0
    sim_s = sum(r.sim_s for r in results)
    return {
        "nodes": nodes, "rate": rate, "runs": runs, "wall_s": wall,
        "runs_per_min": runs / wall * 60, "sim_s": sim_s, "ratio": sim_s / wall,
        "ratio_per_worker": sim_s / sum(r.wall_s for r in results),
        "median_run_s": statistics.median(r.wall_s for r in results),
        "invalid": sum(1 for r in results if r.valid is False),
        "ops": statistics.median(r.ops for r in results),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--nodes", default="3,5")
    p.add_argument("--rates", default="100,20")
    p.add_argument("--seed", type=int, default=1000)
    a = p.parse_args()
    print(f"raftkv register, 10 s main phase per run, swarm fault mixes, {a.jobs} worker(s)")
    print(f"{'nodes':>5} {'ops/s':>6} {'runs':>5} {'wall s':>7} {'runs/min':>9} "
          f"{'sim s':>7} {'sim/wall':>9} {'per worker':>10} {'median run s':>12} {'ops/run':>8}")
    for nodes in (int(x) for x in a.nodes.split(",")):
        for rate in (float(x) for x in a.rates.split(",")):
            r = bench(nodes, rate, a.runs, a.jobs, a.seed)
            print(f"{nodes:>5} {rate:>6g} {a.runs:>5} {r['wall_s']:>7.1f} {r['runs_per_min']:>9.1f} "
                  f"{r['sim_s']:>7.0f} {r['ratio']:>8.1f}x {r['ratio_per_worker']:>9.1f}x "
                  f"{r['median_run_s']:>12.2f} {r['ops']:>8.0f}", flush=True)


if __name__ == "__main__":
    main()
