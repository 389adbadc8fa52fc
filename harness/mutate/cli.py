"""``faultbox mutate``: the click command (registered by ``harness.cli``)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import click

from harness.errors import UsageError

__all__ = ["mutate"]


def _positive(name: str, v: int | float, zero_ok: bool = False) -> None:
    if v < 0 or (v == 0 and not zero_ok):
        raise UsageError(f"--{name} must be {'>= 0' if zero_ok else '> 0'}, got {v}")


@click.command()
@click.option("--system", default="raftkv", show_default=True, help="System whose core is mutated.")
@click.option("--operators", default="40", show_default=True,
              help="How many operator mutants to sample (deterministic), or 'all'.")
@click.option("--only", default="", help="Comma-separated mutant ids: run just these.")
@click.option("--sim-runs", default=100, show_default=True, type=int,
              help="Simulation swarm runs per surviving mutant (0: no sim stage).")
@click.option("--sim-time-limit", default=10.0, show_default=True, type=float,
              help="Main phase of each simulated run, simulated seconds.")
@click.option("--sim-nemesis", default="", show_default=True,
              help="Sim: the faults each swarm run draws a subset of (default: the target's, "
                   "for raftkv partition,kill,pause,clock,packet,figure8,deposed-leader,voter-crash).")
@click.option("--snapshot-every", default=50, show_default=True, type=int,
              help="Nodes compact every N applied entries, so short runs install snapshots: the "
                   "sim stage, and Docker runs of systems taking --opt snapshot_every "
                   "(0: the node's default of 1000).")
@click.option("--no-divergence", is_flag=True,
              help="Sim: no status monitor and no divergence checker (to measure without it).")
@click.option("--docker-sample", default=4, show_default=True, type=int,
              help="How many unit-test survivors also run in Docker (0: none).")
@click.option("--docker-runs", default=2, show_default=True, type=int, help="Docker runs per sampled mutant.")
@click.option("--docker-time-limit", default=60.0, show_default=True, type=float,
              help="Main phase of each Docker run, seconds.")
@click.option("--docker-nemesis", default="default", show_default=True,
              help="Faults of the Docker runs ('default': faultbox run's tuned mix, "
                   "--nemesis default).")
@click.option("--nemesis-interval", default=None, type=float,
              help="Seconds between faults in Docker runs and the sim (default: faultbox "
                   "run's, the default schedule's for --docker-nemesis default; each sim "
                   "run draws its own).")
@click.option("--jobs", default=2, show_default=True, type=int, help="Child processes at a time.")
@click.option("--unit-timeout", default=120.0, show_default=True, type=float,
              help="Per-mutant unit-test timeout, seconds (a hang is a kill).")
@click.option("--skip-unit-tests", is_flag=True,
              help="Do not filter by the unit tests: every mutant that imports is judged by the harness.")
@click.option("--seed", default=0, show_default=True, type=int, help="First seed of every stage.")
@click.option("--out", default=Path("store/mutate"), show_default=True, type=click.Path(path_type=Path),
              help="Folder for mutate.json, mutate.html and Docker run folders.")
def mutate(**kw: Any) -> None:
    """Mutation score: plant bugs in a system's core and count how many faultbox finds."""
    from rich.console import Console

    from harness.mutate.report import print_table, write_outputs
    from harness.mutate.runner import MutateConfig, run_mutate

    ops = str(kw["operators"]).strip()
    if ops != "all" and not ops.isdigit():
        raise UsageError(f"--operators must be a number or 'all', got {ops!r}")
    for name in ("sim_runs", "docker_sample", "snapshot_every"):
        _positive(name.replace("_", "-"), kw[name], zero_ok=True)
    if kw["nemesis_interval"] is not None:
        _positive("nemesis-interval", kw["nemesis_interval"])
    for name in ("docker_runs", "jobs", "sim_time_limit", "docker_time_limit", "unit_timeout"):
        _positive(name.replace("_", "-"), kw[name])
    from nemesis import PACKAGES

    nemesis = tuple(x.strip() for x in kw["docker_nemesis"].split(",") if x.strip())
    sim_nemesis = tuple(x.strip() for x in kw["sim_nemesis"].split(",") if x.strip())
    for flag, names in (("--docker-nemesis", nemesis), ("--sim-nemesis", sim_nemesis)):
        unknown = [n for n in names if n not in PACKAGES
                   and not (n == "default" and flag == "--docker-nemesis")]
        if unknown:
            raise UsageError(f"unknown fault {unknown[0]!r} in {flag}")
    cfg = MutateConfig(
        system=kw["system"], operators=None if ops == "all" else int(ops),
        only=tuple(x.strip() for x in kw["only"].split(",") if x.strip()),
        sim_runs=kw["sim_runs"], sim_time_limit_s=kw["sim_time_limit"], sim_nemesis=sim_nemesis,
        snapshot_every=kw["snapshot_every"] or None, interval_s=kw["nemesis_interval"], divergence=not kw["no_divergence"],
        docker_sample=kw["docker_sample"], docker_runs=kw["docker_runs"],
        docker_time_limit_s=kw["docker_time_limit"], docker_nemesis=nemesis, jobs=kw["jobs"],
        unit_timeout_s=kw["unit_timeout"], skip_unit_tests=kw["skip_unit_tests"], seed=kw["seed"], out=kw["out"],
    )
    err = Console(stderr=True, highlight=False)

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        doc = run_mutate(cfg, say=lambda m: err.print(f"faultbox mutate: {m}", markup=False))
    except KeyboardInterrupt:
        raise UsageError("interrupted; every child process was stopped") from None
    jpath, hpath = write_outputs(doc, cfg.out)
    out = Console(highlight=False, soft_wrap=True)
    print_table(doc, out)
    out.print(f"results: {jpath}  page: {hpath}", markup=False)
    sys.exit(0)
