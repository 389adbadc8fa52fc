"""``faultbox run --backend sim``: one run, a swarm (``--runs``), shrinking and regressions.

The CLI builds the options as for any backend and hands them here. Output:
one line per invalid swarm run and a summary; the failing run is replayed
with a store folder (report, index) like any other run; with ``--shrink`` its
schedule is shrunk, printed, stored as ``shrunk.json`` in that folder, and
with ``--emit-regression`` written as a pytest file.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import UsageError
from harness.options import Options
from harness.runner import RunOutcome, exit_code
from harness.sim.adapter import load_adapter
from harness.sim.regression import emit
from harness.sim.run import make_workload, run_sim_test, sim_command
from harness.sim.shrink import shrink
from harness.sim.swarm import RunSummary, draw, swarm
from harness.sim.world import SimOptions
from harness.store import write_json

__all__ = ["SimRequest", "run_sim", "sim_options", "validate", "REGRESSION_DIR"]

REGRESSION_DIR = Path("tests/regressions")


@dataclass(frozen=True)
class SimRequest:
    sim: SimOptions
    runs: int = 1
    jobs: int = 1
    keep_going: bool = False
    shrink: bool = False
    shrink_budget: int = 200
    emit_regression: Path | None = None


def validate(opts: Options, req: SimRequest) -> None:
    """Raise a one-line UsageError for anything wrong with a sim request."""
    if req.runs < 1:
        raise UsageError(f"--runs must be ≥ 1, got {req.runs}")
    if req.jobs < 1:
        raise UsageError(f"--jobs must be ≥ 1, got {req.jobs}")
    if req.shrink_budget < 1:
        raise UsageError(f"--shrink-budget must be ≥ 1, got {req.shrink_budget}")
    if req.emit_regression is not None and not req.shrink:
        raise UsageError("--emit-regression needs --shrink (it writes the shrunk schedule)")
    adapter = load_adapter(opts.system)
    if opts.workload not in adapter.workloads:
        raise UsageError(f"the {opts.system} simulation adapter has no sim client for "
                         f"workload {opts.workload!r} (it has: {', '.join(sorted(adapter.workloads))})")
    if "figure8" in opts.nemesis and opts.nodes < 5:
        raise UsageError(f"--nemesis figure8 needs at least 5 nodes, not {opts.nodes}")


def run_sim(
    opts: Options, req: SimRequest, say: Callable[[str], None],
    show_outcome: Callable[[RunOutcome], None], argv: str | None = None,
) -> int:
    """Run what was asked; returns the exit code (0 valid, 1 invalid, 2 unknown)."""
    validate(opts, req)
    if req.runs == 1:
        return _single(opts, req.sim, req, say, show_outcome, argv)
    say(f"swarm: {req.runs} runs from seed {opts.seed} on {req.jobs} worker(s)"
        f"{'' if req.keep_going else ', stopping at the first invalid run'}")

    def line(s: RunSummary) -> None:
        if s.aborted:
            say(f"  seed {s.seed}: cut short: {s.aborted}")
        if s.valid is not True:
            say(f"  seed {s.seed}: {'INVALID' if s.valid is False else 'UNKNOWN'} "
                f"[{','.join(s.nemesis)} every {s.interval_s:g}s, {s.sim}] {s.anomaly}")

    t0 = time.monotonic()
    results = swarm(opts, req.runs, req.jobs, req.keep_going, req.sim, on_result=line)
    _summary(results, time.monotonic() - t0, say)
    bad = next((s for s in results if s.valid is False), None)
    if bad is None:
        return max((exit_code(s.valid) for s in results), default=0)
    say(f"replaying seed {bad.seed} with a store folder: {bad.command}")
    o, sim = draw(opts, bad.seed, req.sim)
    _single(o, sim, req, say, show_outcome, argv)
    return 1


def _summary(results: list[RunSummary], wall_s: float, say: Callable[[str], None]) -> None:
    n = len(results)
    invalid = [s for s in results if s.valid is False]
    unknown = [s for s in results if s.valid not in (True, False)]
    wall = sum(s.wall_s for s in results)
    simt = sum(s.sim_s for s in results)
    first = next((i + 1 for i, s in enumerate(results) if s.valid is False), None)
    say(f"swarm: {n} run(s), {len(invalid)} invalid, {len(unknown)} unknown in {wall_s:.1f} s wall; "
        f"{simt:.1f} simulated s in {wall:.1f} s of run time"
        + (f"; first invalid at run {first} (seed {invalid[0].seed})" if first else ""))


def _single(
    opts: Options, sim: SimOptions, req: SimRequest, say: Callable[[str], None],
    show_outcome: Callable[[RunOutcome], None], argv: str | None,
) -> int:
    workload = make_workload(opts)
    outcome, run = run_sim_test(opts, sim, workload, argv=argv)
    show_outcome(outcome)
    if run.aborted:
        say(f"the simulation cut the run short: {run.aborted}")
    say(f"simulated {run.sim_ns / 1e9:.1f} s; {len(run.schedule)} fault call(s); "
        f"reproduce: {sim_command(opts, sim)}")
    if outcome.valid is not False or not req.shrink:
        return outcome.exit_code
    say(f"shrinking the fault schedule ({len(run.schedule)} faults, {run.client_ops} client ops)…")
    shrunk = shrink(opts, sim, run.schedule, run.client_ops, jobs=req.jobs,
                    budget=req.shrink_budget, on_progress=lambda m: say(f"  {m}"))
    if shrunk is None:
        say("the recorded schedule does not fail when replayed as a script: not shrunk")
        return outcome.exit_code
    write_json(outcome.run_dir / "shrunk.json", shrunk.to_json())
    say(f"minimal failing schedule ({len(shrunk.script)} of {shrunk.original_faults} faults, "
        f"{shrunk.max_ops or run.client_ops} client ops, {shrunk.replays} replays, "
        f"{shrunk.wall_s:.1f} s):")
    for x in shrunk.lines() or ["(none: the run fails without faults)"]:
        say(f"  {x}")
    say(f"shrunk schedule: {outcome.run_dir / 'shrunk.json'}")
    if req.emit_regression is not None:
        path = emit(req.emit_regression, opts, sim, shrunk, sim_command(opts, sim))
        say(f"regression test: {path}")
    return outcome.exit_code


def sim_options(spec: str | None) -> SimOptions:
    return SimOptions.parse(spec) if spec else SimOptions()
