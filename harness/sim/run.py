"""One simulated test: the runner's schedule on the world, judged by the workload's checkers.

:func:`simulate` runs a test in memory and returns its ops and fault schedule;
:func:`judge` checks them; :func:`run_sim_test` does both and writes the usual
store folder (test.json, history.jsonl, results.json, report.html, plus
schedule.json) with the sim command as the reproduce line.

The schedule is the runner's (:func:`harness.runner._schedule` shape: main
phase under the time limit with the first fault one interval in, heal,
recovery wait, final reads); it is spelled out here because a scripted replay
carries its own fault timing and shrinking may cap the client op count.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from checkers.core import safe_check
from checkers.divergence import STATUS_FILE, status_row, with_divergence
from harness import generator as g
from harness.errors import SetupError, UsageError
from harness.history import History, HistoryWriter, Op
from harness.options import Options
from harness.runner import RunOutcome, check_run
from harness.sim.adapter import SimAdapter, configured_adapter, load_adapter
from harness.sim.faults import Fault, Script, script_package, sim_package
from harness.sim.interp import SimInterpreter, SimStuck
from harness.sim.world import SimAborted, SimOptions, World, storm_events
from harness.store import git_commit, new_run_dir, write_json

__all__ = ["SimRun", "simulate", "judge", "run_sim_test", "sim_command", "make_workload"]

_NS = 1_000_000_000


@dataclass(frozen=True)
class SimRun:
    ops: list[Op]
    schedule: Script  # every fault call the world carried out in the main phase, in order
    sim_ns: int  # simulated time the run took
    client_ops: int  # client invocations in the main phase
    stats: dict[str, int] = field(default_factory=dict)
    aborted: str | None = None  # why the world cut the run short (its history is still judged)
    statuses: list[dict[str, Any]] = field(default_factory=list)  # the status monitor's rows


def make_workload(opts: Options) -> Any:
    from workloads import get_workload

    return get_workload(opts.workload, opts.workload_options())


def _test_map(opts: Options, sim: SimOptions) -> dict[str, Any]:
    return {"name": opts.name, **opts.to_json(), "nodes": opts.node_names(), "sim": sim.spec()}


def simulate(
    opts: Options,
    sim: SimOptions,
    workload: Any,
    script: Script | None = None,
    max_ops: int | None = None,
    sink: Callable[[Op], None] | None = None,
    adapter: SimAdapter | None = None,
) -> SimRun:
    """Run one test on simulated time. ``script`` replaces the nemesis with an exact fault
    schedule; ``max_ops`` caps the main phase's client ops."""
    adapter = configured_adapter(adapter or load_adapter(opts.system), opts.system_settings())
    if opts.workload not in adapter.workloads:
        raise UsageError(
            f"the {opts.system} simulation adapter has no sim client for workload {opts.workload!r}")
    nodes = opts.node_names()
    world = World(adapter, nodes, opts.seed, opts.bugs, sim,
                  storm=storm_events(len(nodes), opts.rate))
    ops: list[Op] = []
    main_invokes = [0]
    in_main = [True]

    def record(op: Op) -> None:
        ops.append(op)
        if in_main[0] and op.type == "invoke" and op.process != "nemesis":
            main_invokes[0] += 1
        if sink is not None:
            sink(op)

    test = _test_map(opts, sim)
    if script is not None:
        pkg = script_package(world, script, opts.nemesis) if script or opts.nemesis else None
    elif opts.nemesis:
        pkg = sim_package(world, opts.nemesis, opts.nemesis_interval_s, opts.seed)
    else:
        pkg = None

    def open_client(thread: int, io: Any, client_id: str) -> Any:
        return adapter.client(opts.workload, io, nodes, nodes[thread % len(nodes)],
                              opts.op_timeout_s, client_id)

    interp = SimInterpreter(
        test, world, opts.concurrency, open_client, record,
        nemesis=pkg.nemesis if pkg is not None else None, op_timeout_s=opts.op_timeout_s,
        seed=opts.seed, node_of=lambda t: nodes[t % len(nodes)],
    )
    world.up()
    if pkg is not None:
        pkg.nemesis.setup(world, test)
    statuses = _monitor(world, nodes, opts.monitor_hz)

    main_faults = [-1]

    def end_main(test: Any, ctx: Any) -> None:
        in_main[0] = False
        main_faults[0] = len(world.fault_log)

    aborted = None
    try:
        interp.run(_schedule(opts, workload, pkg, max_ops, end_main))
    except SimAborted as e:  # in-flight invocations stay unpaired: indeterminate, as after Ctrl-C
        aborted = str(e)
    # The schedule is the main phase's faults: the final heal is implied (a replay heals too).
    log = world.fault_log if main_faults[0] < 0 else world.fault_log[: main_faults[0]]
    schedule = tuple(Fault(t, c, a, u) for t, c, a, u in log)
    return SimRun(ops, schedule, world.now_ns, main_invokes[0], dict(world.stats), aborted,
                  statuses)


def _monitor(world: World, nodes: list[str], hz: float) -> list[dict[str, Any]]:
    """harness/monitor.py on simulated time: every node's status ``hz`` times a second,
    None for a node that is down or paused (it would not answer)."""
    rows: list[dict[str, Any]] = []
    if hz <= 0:
        return rows
    step_ns = max(1, int(_NS / hz))

    def poll() -> None:
        rows.extend(status_row(n, world.now_ns, world.status_of(n)) for n in nodes)
        world.at(world.now_ns + step_ns, poll)

    world.at(step_ns, poll)
    return rows


def _schedule(opts: Options, workload: Any, pkg: Any, max_ops: int | None,
              end_main: Callable[[Any, Any], None]) -> Any:
    client_gen = workload.generator if max_ops is None else g.limit(max_ops, workload.generator)
    clients = g.clients(client_gen)
    if pkg is None:
        main = clients
    else:  # a script has the same shape: its faults come at their recorded times
        main = g.any(g.nemesis([g.sleep(opts.nemesis_interval_s), pkg.generator]), clients)
    phases: list[Any] = [g.log("main phase"), g.time_limit(opts.time_limit_s, main),
                         _call(end_main)]
    if pkg is not None and pkg.final_generator is not None:
        phases += [g.log("healing"), g.nemesis(pkg.final_generator)]
    if opts.recovery_s > 0:
        phases += [g.log("recovery wait"), g.sleep(opts.recovery_s)]
    if workload.final_generator is not None:
        phases += [g.log("final reads"), g.time_limit(
            max(10.0, 4 * opts.op_timeout_s), g.clients(workload.final_generator))]
    return g.phases(*phases)


def _call(fn: Callable[[Any, Any], None]) -> Any:
    """A generator that calls ``fn`` once when asked and emits nothing."""

    def once(test: Any, ctx: Any) -> None:
        fn(test, ctx)
        return None

    return once


def judge(opts: Options, sim: SimOptions, workload: Any, ops: list[Op],
          statuses: list[dict[str, Any]] | None = None) -> tuple[Any, list[Any]]:
    """(valid, anomalies as dicts) of an in-memory history under the workload's checkers,
    plus the divergence checker over the status monitor's rows when there are any."""
    checker = with_divergence(workload.checker, statuses) if statuses else workload.checker
    result = safe_check(checker, _test_map(opts, sim), History(ops), None)
    return result.valid, [a.to_dict() for a in result.anomalies]


def sim_command(opts: Options, sim: SimOptions, extra: tuple[str, ...] = ()) -> str:
    """The command line that replays this run exactly."""
    cmd = opts.command()
    if sim != SimOptions():
        cmd += " " + shlex.join(["--sim", sim.spec()])
    if extra:
        cmd += " " + shlex.join(extra)
    return cmd


def run_sim_test(
    opts: Options, sim: SimOptions, workload: Any, *, argv: str | None = None,
    on_op: Callable[[Op], None] | None = None, script: Script | None = None,
    max_ops: int | None = None, extra: dict[str, Any] | None = None,
) -> tuple[RunOutcome, SimRun]:
    """Run one simulated test and write its store folder; the outcome as the runner's."""
    run_dir = new_run_dir(opts.store, opts.name)
    test: dict[str, Any] = {
        "name": opts.name, **opts.to_json(), "nodes": opts.node_names(), "sim": sim.spec(),
        "git_commit": git_commit(), "command": sim_command(opts, sim), "argv": argv,
        "start_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "faultbox_version": "0.1.0", "run_dir": str(run_dir), **(extra or {}),
    }
    write_json(run_dir / "test.json", test)
    writer = HistoryWriter(run_dir / "history.jsonl")

    def sink(op: Op) -> None:
        writer.write(op)
        if on_op is not None:
            on_op(op)

    t0 = time.monotonic()
    try:
        run = simulate(opts, sim, workload, script=script, max_ops=max_ops, sink=sink)
    except SimStuck as e:
        raise SetupError(f"the simulation is stuck: {e} (run folder: {run_dir})") from None
    finally:
        writer.close()
    test.update(end_time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), interrupted=False,
                sim_seconds=round(run.sim_ns / _NS, 3), wall_seconds=round(time.monotonic() - t0, 3),
                sim_stats=run.stats, **({"sim_aborted": run.aborted} if run.aborted else {}))
    write_json(run_dir / "test.json", test)
    write_json(run_dir / "schedule.json", [f.to_json() for f in run.schedule])
    if run.statuses:
        with open(run_dir / STATUS_FILE, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, separators=(",", ":")) + "\n" for r in run.statuses)
    outcome = check_run(run_dir, workload.checker, test, render=opts.report)
    return outcome, run
